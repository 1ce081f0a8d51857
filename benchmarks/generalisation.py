"""Generalisation of heading and sides: every shared trial under a grid of sensor mountings,
through the real command line (`gaitimu import`, `gaitimu analyze`, `gaitimu report`).

Why (issue 10, "Never the wrong hip"): on recordings the project had never seen, the sensor
heading got turned around (every left/right swapped) and whole walks got coin-flip sides.
This harness rotates the raw samples of every reference trial as if the sensor had been worn
turned by a mounting rotation, writes them as a CSV, imports it with a declared axis map
(the correct one, a wrong one, or ``--axes auto``), analyses it and scores the output against
the reference:

* IC matching (+-100 ms, one-to-one, as ``validate_events.score_trial``) -> F1;
* side accuracy among matched steps that were GIVEN a side (an empty ``side`` in strides.csv
  is an abstention), abstention rate among matched steps, side-swapped bouts (``bout_id``
  whose sided matched steps are mostly wrong);
* obliquity dynamic RMSE (``signals.csv`` ``obliquity_deg`` vs the truth, mean offset
  removed, gait part only) on the virtual and simulated trials;
* reversal: the heading the tool settled on (its ``R_body_sensor``, from the "mounting
  correction" line of ``analyze`` or from ``summary.json``) more than 90 deg from the true
  forward direction, i.e. a wrong hip on every step it labels;
* simulated sessions: the report's flags against the truth (weak side flagged, the other
  not; symmetric: neither).

Data: ``../shared/data/ipol_lowerback`` (110 real walking trials; whole trials and one short
walk of 4-8 steps cut from each), ``../shared/data/virtual_imu_dev/*`` (5 trials from motion
capture), simulated sessions (``gaitimu simulate``: walk and run, symmetric and with one weak
side). IPOL results are also given for odd and even subjects separately (the odd ones were
used while developing the event detector).

Mountings (rotations about the BODY axes up, right, forward, conjugated with the trial's
axis map; a sensor turned by M reads ``v_new = M_s^T v_old``): yaw 0, +-20, +-45 deg, roll
+-30, pitch +-30, back to front (180 about up) declared correctly, back to front imported
with ``--axes auto``, back to front with the original (now wrong) map declared. A case
whose import is refused (e.g. ``--axes auto`` not supported yet) is counted "unsupported".

Run from the repository root::

    .venv/bin/python benchmarks/generalisation.py --quick              # < 2 min
    .venv/bin/python benchmarks/generalisation.py --jobs 2 --json gen.json --markdown
    .venv/bin/python benchmarks/generalisation.py --datasets virtual --mountings yaw+45,b2f-auto
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
import validate_events as ve  # noqa: E402  (the reference loaders and the IC matching)

REPO = ve.REPO
DATA = ve.DATA
IPOL = ve.IPOL
VIRT = ve.VIRT
TOL_S = ve.TOL_S
VIRT_AXES = "x=up,y=right,z=forward"
SIM_AXES = "x=up,y=right,z=forward"
GAIT_FROM_S = 3.5  # virtual trials: quiet standing for the first 3 s, gait from 3.5 s
# IPOL trials whose reference left/right labels look swapped (every cue disagrees on every
# step while the same subject's other trials agree; docs/VALIDATION.md "Sides")
SUSPECT_IPOL = ("4-1", "4-2")
REVERSED_DEG = 90.0  # heading this far from the true forward = every side swapped
CMD_TIMEOUT_S = 300

# ----------------------------------------------------------------------------- axis maps
_DIRS = {
    "up": (0, 1.0), "down": (0, -1.0),
    "right": (1, 1.0), "left": (1, -1.0),
    "forward": (2, 1.0), "backward": (2, -1.0),
}
_NAMES = {(0, 1): "up", (0, -1): "down", (1, 1): "right", (1, -1): "left",
          (2, 1): "forward", (2, -1): "backward"}


def axes_matrix(spec: str) -> np.ndarray:
    """``"x=up,y=left,z=backward"`` -> R (3x3) with ``v_body = R @ v_sensor``; body axes
    (up, right, forward). Row k is body axis k in sensor coordinates."""
    r = np.zeros((3, 3))
    for part in spec.split(","):
        ax, _, name = part.strip().partition("=")
        k, s = _DIRS[name.strip().lower()]
        r[k, "xyz".index(ax.strip().lower())] = s
    if not np.isclose(np.linalg.det(r), 1.0):
        raise ValueError(f"axis map {spec!r} is not a right-handed rotation")
    return r


def axes_spec(r: np.ndarray) -> str | None:
    """Inverse of `axes_matrix` for signed permutations (None otherwise)."""
    r = np.round(r, 6)
    if not np.allclose(np.abs(r).sum(axis=0), 1.0) or not np.allclose(np.abs(r), np.abs(r).round()):
        return None
    parts = []
    for j, ax in enumerate("xyz"):
        k = int(np.argmax(np.abs(r[:, j])))
        parts.append(f"{ax}={_NAMES[(k, int(np.sign(r[k, j])))]}")
    return ",".join(parts)


# ----------------------------------------------------------------------------- mountings
@dataclass(frozen=True)
class Mounting:
    name: str
    label: str
    rotvec_deg: tuple[float, float, float]  # about body (up, right, forward)
    declare: str = "rotated"  # "rotated": the map of the turned sensor; "original"; "auto"


MOUNTINGS: tuple[Mounting, ...] = (
    Mounting("yaw0", "as declared (yaw 0)", (0, 0, 0)),
    Mounting("yaw+20", "yaw +20 deg", (20, 0, 0)),
    Mounting("yaw-20", "yaw -20 deg", (-20, 0, 0)),
    Mounting("yaw+45", "yaw +45 deg", (45, 0, 0)),
    Mounting("yaw-45", "yaw -45 deg", (-45, 0, 0)),
    Mounting("roll+30", "roll +30 deg (about forward)", (0, 0, 30)),
    Mounting("roll-30", "roll -30 deg", (0, 0, -30)),
    Mounting("pitch+30", "pitch +30 deg (about right)", (0, 30, 0)),
    Mounting("pitch-30", "pitch -30 deg", (0, -30, 0)),
    Mounting("b2f-declared", "back to front, declared correctly", (180, 0, 0)),
    Mounting("b2f-auto", "back to front, --axes auto", (180, 0, 0), "auto"),
    Mounting("b2f-wrong", "back to front, declared wrongly", (180, 0, 0), "original"),
)
MOUNTING_BY_NAME = {m.name: m for m in MOUNTINGS}
QUICK_MOUNTINGS = ("yaw0", "yaw+45", "b2f-declared", "b2f-auto", "b2f-wrong")


def mount(
    acc: np.ndarray, gyr: np.ndarray, axes: str, m: Mounting
) -> tuple[np.ndarray, np.ndarray, str, np.ndarray]:
    """The samples of a sensor worn turned by ``m`` (body-axis rotation ``M_b``), the axis
    map to declare, and the true body <- new-sensor matrix.

    The old sensor has ``v_body = R v_old``. Turned, its axes are ``M_b R e_j`` in the body,
    so ``v_new = (M_b R)^T v_body = M_s^T v_old`` with ``M_s = R^T M_b R``."""
    r = axes_matrix(axes)
    m_b = Rotation.from_rotvec(np.asarray(m.rotvec_deg, float), degrees=True).as_matrix()
    m_b = np.round(m_b, 12)
    m_s = r.T @ m_b @ r
    r_true = m_b @ r
    # v_new = M_s^T v_old for every row: rows @ M_s
    acc2 = acc @ m_s
    gyr2 = gyr @ m_s
    if m.declare == "auto":
        declared = "auto"
    elif m.declare == "original":
        declared = axes
    else:
        declared = axes_spec(r_true) or axes  # non-permutation turns: declare the nominal map
    return acc2, gyr2, declared, r_true


# ----------------------------------------------------------------------------- trials
def ipol_short_walk(name: str, meta: dict) -> tuple[float, float, tuple[float, float], str]:
    """The cut of one short walk (4-8 reference steps) from an IPOL trial: ``t0, t1`` of the
    samples kept, the scoring window and a label. Trials alternate between a walk that starts
    from quiet standing (1.5 s before the first step of the first pass) and one cut from the
    middle of the second pass (no standing at all); the kind and the number of steps are
    drawn from a hash of the trial name (independent of subject parity)."""
    ic, _side, _fc = ve.ipol_reference(meta)
    lo, hi = (b / ve.IPOL_FS for b in meta["TrialBoundaries"])
    u0, u1 = (b / ve.IPOL_FS for b in meta["UTurnBoundaries"])
    h = zlib.crc32(name.encode())
    n_steps = 4 + (h >> 1) % 5
    if h % 2 == 0:
        steps = ic[(ic >= lo) & (ic <= u0)]
        kind = "from standing"
        first = steps[:n_steps]
        t0 = lo - 1.5
    else:
        steps = ic[(ic >= u1) & (ic <= hi)]
        kind = "mid-walk"
        k0 = min(2, max(len(steps) - n_steps, 0))
        first = steps[k0 : k0 + n_steps]
        t0 = first[0] - 0.4 if first.size else u1
    if first.size == 0:
        return lo, hi, (lo, hi), "whole (no steps)"
    return max(t0, 0.0), first[-1] + 0.7, (first[0], first[-1]), f"{len(first)} steps, {kind}"


def load_trial(spec: dict) -> dict:
    """Raw samples (t from 0, acc m/s^2, gyr deg/s), axis map, rate and reference of one
    trial."""
    ds, trial = spec["dataset"], spec["trial"]
    out: dict = {"obliquity": None, "flags_truth": None}
    if ds in ("ipol", "ipol_short"):
        t_s, acc, gyr, meta = ve.load_ipol(trial)
        ic, side, fc = ve.ipol_reference(meta)
        lo, hi = (b / ve.IPOL_FS for b in meta["TrialBoundaries"])
        if ds == "ipol_short":
            t0, t1, (lo, hi), out["cut"] = ipol_short_walk(trial, meta)
            keep = (t_s >= t0) & (t_s <= t1)
            t_s, acc, gyr = t_s[keep], acc[keep], gyr[keep]
        inside = (ic >= lo) & (ic <= hi)
        out.update(
            t_s=t_s, acc=acc, gyr=gyr, axes=ve.IPOL_AXES, rate=ve.IPOL_FS, activity="walk",
            ic=ic[inside], side=side[inside], fc=fc[inside], window=(lo, hi),
            subject=int(meta["Subject"]),
        )
    elif ds == "virtual":
        d = VIRT / trial
        truth = json.loads((d / "truth.json").read_text())
        df = pd.read_csv(d / "imu.csv")
        ic, side, fc, window = ve.virtual_reference(truth)
        obl = pd.read_csv(d / "obliquity.csv")
        out.update(
            t_s=df["t_s"].to_numpy(float), acc=df[["acc_x", "acc_y", "acc_z"]].to_numpy(float),
            gyr=df[["gyr_x", "gyr_y", "gyr_z"]].to_numpy(float), axes=VIRT_AXES,
            rate=float(truth["sampling_rate_hz"]), activity=truth["activity"],
            ic=ic, side=side, fc=fc, window=window, subject=None,
            obliquity=(obl["t_s"].to_numpy(float), obl["obliquity_deg"].to_numpy(float),
                       GAIT_FROM_S),
        )
    elif ds == "sim":
        session = Path(spec["session"])
        truth = json.loads((session / "truth.json").read_text())
        df = pd.read_csv(spec["csv"])
        tev = pd.DataFrame(truth["events"]).sort_values("ic_s")
        ic = tev["ic_s"].to_numpy(float)
        side = tev["side"].astype(str).str.upper().str[0].to_numpy()
        fc = tev["fc_s"].to_numpy(float)
        standing = truth.get("standing_s") or 0.0  # [start, end] of standing, or its length
        standing = float(standing[-1] if isinstance(standing, list) else standing)
        with np.load(session / "truth.npz") as z:
            obl = (z["t_s"].astype(float), z["obliquity_deg"].astype(float), standing + 0.5)
        cpd = truth.get("cpd_mean_deg") or {}
        out.update(
            t_s=df["t_s"].to_numpy(float), acc=df[["acc_x", "acc_y", "acc_z"]].to_numpy(float),
            gyr=df[["gyr_x", "gyr_y", "gyr_z"]].to_numpy(float), axes=SIM_AXES,
            rate=float(spec["rate"]), activity=truth.get("activity", spec.get("activity")),
            ic=ic, side=side, fc=fc, window=(float(ic.min()), float(ic.max())), subject=None,
            obliquity=obl, flags_truth={k: float(v) for k, v in cpd.items()},
        )
    else:
        raise ValueError(f"unknown data set {ds!r}")
    t00 = float(out["t_s"][0])  # the importer starts every session at t = 0
    if t00:
        out["t_s"] = out["t_s"] - t00
        out["ic"] = out["ic"] - t00
        out["fc"] = out["fc"] - t00
        out["window"] = (out["window"][0] - t00, out["window"][1] - t00)
        if out["obliquity"] is not None:
            t, o, g = out["obliquity"]
            out["obliquity"] = (t - t00, o, g - t00)
    return out


def group_of(spec: dict, activity: str | None = None) -> str:
    ds = spec["dataset"]
    if ds == "virtual":
        return f"virtual {activity or spec.get('activity', '?')}"
    return {"ipol": "IPOL whole trials", "ipol_short": "IPOL short walks",
            "sim": "simulated"}[ds]


# ----------------------------------------------------------------------------- CLI
def gaitimu_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "gaitimu"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("gaitimu")
    return [found] if found else [sys.executable, "-m", "gaitimu"]


def run(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``gaitimu ARGS``; the package is the installed one, or ``$GAITIMU_SRC`` (--src)."""
    env = dict(os.environ)
    src = env.get("GAITIMU_SRC")
    if src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(k, "1")
    try:
        return subprocess.run(
            gaitimu_cmd() + args, capture_output=True, text=True, timeout=CMD_TIMEOUT_S, env=env
        )
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(args, 124, exc.stdout or "", f"timeout: {exc}")


_CORR = re.compile(
    r"mounting correction:\s*([-+\d.]+) deg \(about up ([-+\d.]+), right ([-+\d.]+), "
    r"forward ([-+\d.]+)\)"
)


def tool_frame_from_stdout(stdout: str, declared: str) -> np.ndarray | None:
    """The tool's body <- sensor matrix from the analyze summary line (None when absent)."""
    m = _CORR.search(stdout)
    if not m or declared == "auto":
        return None
    try:
        rv = np.array([float(m.group(k)) for k in (2, 3, 4)])
        return Rotation.from_rotvec(rv, degrees=True).as_matrix() @ axes_matrix(declared)
    except (ValueError, KeyError):
        return None


def tool_frame_from_summary(summary: dict | None) -> np.ndarray | None:
    al = ((summary or {}).get("data_quality") or {}).get("alignment") or {}
    r = al.get("R_body_sensor")
    try:
        r = np.asarray(r, float)
        return r if r.shape == (3, 3) and np.all(np.isfinite(r)) else None
    except (TypeError, ValueError):
        return None


def heading_error_deg(r_tool: np.ndarray, r_true: np.ndarray) -> float:
    """Signed angle (deg, about the tool's up) from the true forward direction to the
    tool's, both in sensor coordinates, projected on the tool's horizontal plane."""
    up = r_tool[0] / np.linalg.norm(r_tool[0])
    f_tool = r_tool[2] - up * (up @ r_tool[2])
    f_true = r_true[2] - up * (up @ r_true[2])
    if np.linalg.norm(f_true) < 1e-6 or np.linalg.norm(f_tool) < 1e-6:
        return float("nan")
    return float(np.degrees(np.arctan2(up @ np.cross(f_true, f_tool), f_true @ f_tool)))


# ----------------------------------------------------------------------------- scoring
def is_sided(side: pd.Series) -> np.ndarray:
    return side.isin(["L", "R"]).to_numpy()


def score_sides(ref: dict, strides: pd.DataFrame) -> dict:
    """IC matching as `validate_events.score_trial`, plus sides with abstention and bouts."""
    ev = strides.copy()
    base = ve.score_trial(ref["ic"], ref["side"], ref["fc"], ev, ref["window"])
    lo, hi = ref["window"]
    det = ev[(ev["ic_s"] >= lo - TOL_S) & (ev["ic_s"] <= hi + TOL_S)].reset_index(drop=True)
    r, c = ve.match(ref["ic"], det["ic_s"].to_numpy())
    sides = det["side"].iloc[c].reset_index(drop=True)
    sided = is_sided(sides)
    correct = sides.to_numpy() == ref["side"][r]
    bouts = det["bout_id"].iloc[c].to_numpy() if "bout_id" in det else np.zeros(len(c))
    swapped, n_bouts = 0, 0
    for b in pd.unique(bouts[sided]):
        sel = sided & (bouts == b)
        n_bouts += 1
        if (~correct[sel]).sum() * 2 > sel.sum():
            swapped += 1
    return {
        "tp": base["tp"], "fn": base["fn"], "fp": base["fp"],
        "sided": int(sided.sum()), "side_correct": int((correct & sided).sum()),
        "abstained": int((~sided).sum()), "bouts": n_bouts, "swapped_bouts": swapped,
    }


def obliquity_dyn_rmse(signals: pd.DataFrame, truth: tuple) -> float:
    t_ref, o_ref, t_from = truth
    t = signals["t_s"].to_numpy(float)
    o = signals["obliquity_deg"].to_numpy(float)
    if "valid" in signals:
        v = signals["valid"].astype(str).str.lower().isin(["true", "1", "1.0"]).to_numpy()
        o = np.where(v, o, np.nan)
    sel = (t_ref >= t_from) & (t_ref >= t[0]) & (t_ref <= t[-1])
    if sel.sum() < 10:
        return float("nan")
    err = np.interp(t_ref[sel], t, o) - o_ref[sel]
    err = err[np.isfinite(err)]
    return float(np.std(err)) if err.size >= 10 else float("nan")


def flags_check(summary: dict | None, cpd_truth: dict | None) -> dict:
    """Weak side flagged and the other not; symmetric: neither flagged."""
    if not summary or not cpd_truth:
        return {"flags_ok": None}
    verdict = summary.get("verdict") or {}
    status = {s: (verdict.get(s) or {}).get("status") for s in ("L", "R")}
    left, right = cpd_truth.get("L", np.nan), cpd_truth.get("R", np.nan)
    if abs(left - right) < 1.0:
        expect = {"L": False, "R": False}
    else:
        weak = "L" if left > right else "R"
        expect = {"L": weak == "L", "R": weak == "R"}
    ok = all((status[s] == "flagged") == expect[s] for s in ("L", "R"))
    return {"flags_ok": bool(ok), "verdict": status, "expect_flagged": expect}


def run_case(spec: dict) -> dict:
    """One trial under one mounting: CSV -> import -> analyze (-> report) -> scores. A
    failure of the harness itself is returned as status "harness error" (the run goes on)."""
    try:
        return _run_case(spec)
    except Exception as exc:
        return {"dataset": spec["dataset"], "trial": spec["trial"],
                "mounting": spec["mounting"], "group": group_of(spec), "subject": None,
                "status": "harness error", "error": f"{type(exc).__name__}: {exc}"}


def _run_case(spec: dict) -> dict:
    m = MOUNTING_BY_NAME[spec["mounting"]]
    t_start = time.perf_counter()
    tr = load_trial(spec)
    res: dict = {
        "dataset": spec["dataset"], "trial": spec["trial"], "mounting": m.name,
        "group": group_of(spec, tr.get("activity")), "subject": tr.get("subject"),
        "cut": tr.get("cut"), "status": "ok",
    }
    acc, gyr, declared, r_true = mount(tr["acc"], tr["gyr"], tr["axes"], m)
    res["declared_axes"] = declared
    root = Path(spec.get("workdir") or tempfile.gettempdir())
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{spec['dataset']}_{spec['trial']}_{m.name}_", dir=root))
    try:
        csv = work / "samples.csv"
        table = np.column_stack([tr["t_s"], acc, gyr])
        np.savetxt(csv, table, delimiter=",", fmt="%.7g", comments="",
                   header="t_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z")
        session = work / "s.gaitimu"
        def do_import(axes: str) -> subprocess.CompletedProcess:
            return run(["import", str(csv), "--rate", f"{tr['rate']:g}", "--axes", axes,
                        "--acc-unit", "m/s2", "--gyr-unit", "deg/s", "--activity",
                        tr["activity"], "--subject", "gen", "--out", str(session)])

        # --axes auto: on import when it takes it, else the nominal (original, here wrong)
        # map imported and `analyze/report --axes auto` overriding it
        axes_opt: list[str] = []
        imp = do_import(declared)
        if imp.returncode != 0 and declared == "auto":
            shutil.rmtree(session, ignore_errors=True)
            imp = do_import(tr["axes"])
            axes_opt = ["--axes", "auto"]
            res["auto_via"] = "analyze"
        elif declared == "auto":
            res["auto_via"] = "import"
        if imp.returncode != 0:
            msg = (imp.stderr or imp.stdout).strip().splitlines()
            res["status"] = "import failed"
            res["error"] = msg[-1] if msg else f"exit {imp.returncode}"
            return res
        strides_csv, signals_csv = work / "strides.csv", work / "signals.csv"
        ana = run(["analyze", str(session), "--strides", str(strides_csv),
                   "--signals", str(signals_csv), *axes_opt])
        res["analyze_rc"] = ana.returncode
        if axes_opt and ana.returncode == 2:  # `analyze --axes` not known (yet)
            msg = (ana.stderr or ana.stdout).strip().splitlines()
            res["status"] = "unsupported"
            res["error"] = msg[-1] if msg else "exit 2"
            return res
        res["analyze_lines"] = [ln for ln in ana.stdout.splitlines()
                                if ln.split(":")[0] in ("mounting correction", "heading",
                                                        "forward", "sides")]
        res["warnings"] = [ln[len("warning: "):] for ln in ana.stdout.splitlines()
                           if ln.startswith("warning: ")]
        if ana.returncode != 0 or not strides_csv.exists():
            msg = (ana.stderr or ana.stdout).strip().splitlines()
            res["status"] = "no gait" if ana.returncode == 1 else "analyze failed"
            res["error"] = msg[-1] if msg else f"exit {ana.returncode}"
            strides = pd.DataFrame({"side": pd.Series([], dtype=str),
                                    "bout_id": pd.Series([], dtype=float),
                                    "ic_s": pd.Series([], dtype=float),
                                    "fc_s": pd.Series([], dtype=float)})
        else:
            strides = pd.read_csv(strides_csv, dtype={"side": str})
            strides["side"] = strides["side"].fillna("").astype(str).str.strip().str.upper()
            for col in ("ic_s", "fc_s"):
                strides[col] = pd.to_numeric(strides[col], errors="coerce")
        res.update(score_sides(tr, strides))
        r_tool = tool_frame_from_stdout(ana.stdout, declared)
        summary = None
        need_summary = (
            spec.get("summary") or tr["flags_truth"] is not None or r_tool is None
        ) and ana.returncode == 0
        if need_summary:
            rep = run(["report", str(session), "--json", str(work / "summary.json"),
                       "--out", str(work / "report.html"), *axes_opt])
            if rep.returncode == 0 and (work / "summary.json").exists():
                summary = json.loads((work / "summary.json").read_text())
                al = (summary.get("data_quality") or {}).get("alignment") or {}
                res["side_trust"] = al.get("side_trust")
                res["forward_reversed_by_tool"] = (al.get("forward") or {}).get("reversed")
                res["bouts_withheld"] = (summary.get("sides") or {}).get("bouts_withheld")
                r_tool = tool_frame_from_summary(summary) if r_tool is None else r_tool
                res["warnings"] = sorted(set(res["warnings"]) | set(
                    ((summary.get("data_quality") or {}).get("alignment") or {}).get(
                        "warnings") or []))
            else:
                res["report_error"] = (rep.stderr or "").strip()[-300:]
        if r_tool is not None:
            err = heading_error_deg(r_tool, r_true)
            res["heading_error_deg"] = err
            res["reversed"] = bool(abs(err) > REVERSED_DEG)
            if declared != "auto":
                res["reversed_declared"] = bool(
                    abs(heading_error_deg(r_tool, axes_matrix(declared))) > REVERSED_DEG)
        else:
            res["heading_error_deg"], res["reversed"] = None, None
        if tr["obliquity"] is not None and signals_csv.exists():
            res["obliquity_dyn_rmse_deg"] = obliquity_dyn_rmse(
                pd.read_csv(signals_csv, usecols=lambda c: c in ("t_s", "obliquity_deg",
                                                                 "valid")),
                tr["obliquity"])
        if tr["flags_truth"] is not None:
            res.update(flags_check(summary, tr["flags_truth"]))
    finally:
        if not spec.get("keep"):
            shutil.rmtree(work, ignore_errors=True)
        res["time_s"] = time.perf_counter() - t_start
    return res


# ----------------------------------------------------------------------------- simulated
SIM_SESSIONS = (  # name, activity, cpd_left, cpd_right, seed
    ("walk_sym", "walk", 4.0, 4.0, 11),
    ("walk_weakR", "walk", 3.0, 6.0, 12),
    ("run_sym", "run", 5.0, 5.0, 13),
    ("run_weakL", "run", 7.0, 4.0, 14),
)
SIM_DURATION_S = 60.0
SIM_RATE_HZ = 200.0


def make_sim(args: tuple) -> dict:
    """`gaitimu simulate` one session and `gaitimu export` its samples as CSV."""
    (name, activity, left, right, seed), root = args
    session = Path(root) / f"sim_{name}.gaitimu"
    out = Path(root) / f"sim_{name}_csv"
    if not session.exists():
        p = run(["simulate", "--activity", activity, "--duration", f"{SIM_DURATION_S:g}",
                 "--cpd-left", f"{left:g}", "--cpd-right", f"{right:g}", "--seed", str(seed),
                 "--rate", f"{SIM_RATE_HZ:g}", "--out", str(session)])
        if p.returncode:
            raise RuntimeError(f"gaitimu simulate failed: {p.stderr.strip()}")
    csvs = sorted(out.glob("*samples*.csv")) if out.exists() else []
    if not csvs:
        p = run(["export", str(session), "--format", "csv", "--out", str(out)])
        csvs = sorted(out.glob("*samples*.csv"))
        if p.returncode or not csvs:
            raise RuntimeError(f"gaitimu export failed: {p.stderr.strip()}")
    return {"dataset": "sim", "trial": name, "session": str(session), "csv": str(csvs[0]),
            "rate": SIM_RATE_HZ, "activity": activity}


# ----------------------------------------------------------------------------- aggregation
def aggregate(rows: list[dict]) -> dict:
    done = [r for r in rows if r["status"] in ("ok", "no gait")]
    s = {k: sum(r.get(k, 0) for r in done) for k in
         ("tp", "fn", "fp", "sided", "side_correct", "abstained", "bouts", "swapped_bouts")}
    prec = s["tp"] / max(s["tp"] + s["fp"], 1)
    rec = s["tp"] / max(s["tp"] + s["fn"], 1)
    obl = [r["obliquity_dyn_rmse_deg"] for r in done
           if r.get("obliquity_dyn_rmse_deg") is not None
           and np.isfinite(r["obliquity_dyn_rmse_deg"])]
    flags = [r["flags_ok"] for r in done if r.get("flags_ok") is not None]
    rev = [r["reversed"] for r in done if r.get("reversed") is not None]
    rev_sided = [r for r in done if r.get("reversed") and r.get("sided", 0) > 0]
    s.update({
        "cases": len(rows),
        "scored": len(done),
        "unsupported": sum(r["status"] == "unsupported" for r in rows),
        "failed": sum(r["status"] not in ("ok", "no gait", "unsupported") for r in rows),
        "no_gait": sum(r["status"] == "no gait" for r in rows),
        "f1": 2 * prec * rec / max(prec + rec, 1e-12) if s["tp"] + s["fn"] else float("nan"),
        "side_accuracy": s["side_correct"] / s["sided"] if s["sided"] else float("nan"),
        "abstention": s["abstained"] / s["tp"] if s["tp"] else float("nan"),
        "obliquity_dyn_rmse_max_deg": max(obl) if obl else float("nan"),
        "reversals": int(sum(rev)),
        "reversals_with_sides": len(rev_sided),
        "reversal_known": len(rev),
        "flags_ok": int(sum(flags)),
        "flags_n": len(flags),
    })
    return s


GROUPS = ("IPOL whole trials", "IPOL short walks", "virtual walk", "virtual run", "simulated")


def summarize_all(rows: list[dict]) -> dict:
    out: dict = {"by_mounting": {}, "by_group": {}, "ipol_subjects": {}}
    for m in MOUNTINGS:
        rm = [r for r in rows if r["mounting"] == m.name]
        if not rm:
            continue
        out["by_mounting"][m.name] = aggregate(rm)
        out["by_group"][m.name] = {
            g: aggregate([r for r in rm if r["group"] == g])
            for g in GROUPS if any(r["group"] == g for r in rm)
        }
        for g in ("IPOL whole trials", "IPOL short walks"):
            rg = [r for r in rm if r["group"] == g]
            if rg:
                out["ipol_subjects"].setdefault(g, {})[m.name] = {
                    "odd": aggregate([r for r in rg if r["subject"] % 2 == 1]),
                    "even": aggregate([r for r in rg if r["subject"] % 2 == 0]),
                    "all": aggregate(rg),
                    "all_clean": aggregate([r for r in rg if r["trial"] not in SUSPECT_IPOL]),
                }
    return out


def _pct(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{100 * x:.1f}"


def _cells(s: dict) -> list[str]:
    if s["cases"] and s["unsupported"] == s["cases"]:
        return [str(s["cases"]), "unsupported", "-", "-", "-", "-", "-", "-"]
    trials = str(s["cases"])
    extra = []
    if s["unsupported"]:
        extra.append(f"{s['unsupported']} unsupported")
    if s["failed"]:
        extra.append(f"{s['failed']} failed")
    if s["no_gait"]:
        extra.append(f"{s['no_gait']} no gait")
    if extra:
        trials += f" ({', '.join(extra)})"
    obl = s["obliquity_dyn_rmse_max_deg"]
    rev = f"{s['reversals']}/{s['reversal_known']}" if s["reversal_known"] else "?"
    if s["reversals"]:
        rev += f" ({s['reversals_with_sides']} gave sides)"
    flags = f"{s['flags_ok']}/{s['flags_n']}" if s["flags_n"] else "-"
    return [
        trials,
        _pct(s["side_accuracy"]),
        _pct(s["abstention"]),
        f"{s['swapped_bouts']}/{s['bouts']}",
        "-" if not np.isfinite(obl) else f"{obl:.2f}",
        rev,
        "-" if not np.isfinite(s["f1"]) else f"{s['f1']:.3f}",
        flags,
    ]


HEAD = ["case", "trials", "side accuracy %", "abstained %", "swapped bouts",
        "obliquity dyn RMSE max (deg)", "reversals", "F1", "sim flags ok"]


def render(header: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    w = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    fmt_row = lambda r: "  ".join(str(x).ljust(k) for x, k in zip(r, w, strict=True))  # noqa: E731
    return "\n".join([fmt_row(header), fmt_row(["-" * k for k in w])] + [fmt_row(r) for r in body])


def tables(summary: dict, markdown: bool) -> str:
    label = {m.name: m.label for m in MOUNTINGS}
    parts = ["All data sets pooled. Steps pooled over cases; side accuracy among matched steps "
             "given a side; abstained = matched steps without a side; swapped bouts = bouts "
             "whose sided matched steps are mostly wrong / bouts with sided matched steps; "
             "reversals = final heading > 90 deg from the true forward / cases where the "
             "heading was known (and how many of those still gave sides); sim flags ok = "
             "weak side flagged and the other not, symmetric: neither.", ""]
    body = [[label[k], *_cells(s)] for k, s in summary["by_mounting"].items()]
    parts += [render(HEAD, body, markdown), ""]
    for g in GROUPS:
        body = [[label[k], *_cells(gs[g])] for k, gs in summary["by_group"].items() if g in gs]
        if body:
            parts += [f"{g}:", "", render(HEAD, body, markdown), ""]
    for g, by_m in summary["ipol_subjects"].items():
        sus = ", ".join(SUSPECT_IPOL)
        head = ["case", "trials odd/even", f"side accuracy % odd / even / all / all w/o {sus}",
                "abstained % odd / even / all",
                f"swapped bouts odd / even / all / all w/o {sus}",
                "reversals odd / even / all", "F1 odd / even / all"]
        body = []
        for k, d in by_m.items():
            o, e, a = d["odd"], d["even"], d["all"]
            c = d.get("all_clean", a)
            body.append([
                label[k], f"{o['cases']}/{e['cases']}",
                " / ".join(_pct(x["side_accuracy"]) for x in (o, e, a, c)),
                " / ".join(_pct(x["abstention"]) for x in (o, e, a)),
                " / ".join(str(x["swapped_bouts"]) for x in (o, e, a, c)),
                " / ".join(str(x["reversals"]) for x in (o, e, a)),
                " / ".join("-" if not np.isfinite(x["f1"]) else f"{x['f1']:.3f}"
                           for x in (o, e, a)),
            ])
        parts += [f"{g}, leave-subject-out (odd subjects were used to develop the detector; "
                  f"{sus}: reference labels look swapped):", "", render(head, body, markdown),
                  ""]
    return "\n".join(parts)


def problem_cases(rows: list[dict], limit: int = 12) -> str:
    """Per mounting, the cases with a side-swapped bout or a reversal that still gave sides."""
    lines = []
    for m in MOUNTINGS:
        bad = [f"{r['dataset']}:{r['trial']}" for r in rows if r["mounting"] == m.name
               and (r.get("swapped_bouts") or (r.get("reversed") and r.get("sided")))]
        if bad:
            more = f" (+{len(bad) - limit} more)" if len(bad) > limit else ""
            lines.append(f"- {m.label}: {', '.join(bad[:limit])}{more}")
    return "\n".join(["Cases with a side-swapped bout or a reversed heading that gave sides:",
                       "", *lines] if lines else [])


# ----------------------------------------------------------------------------- main
def virtual_trials() -> list[str]:
    return sorted(p.name for p in VIRT.iterdir() if (p / "imu.csv").exists()) if VIRT.exists() \
        else []


def build_specs(args: argparse.Namespace, sims: list[dict]) -> list[dict]:
    datasets = set(args.datasets.split(","))
    if args.quick:
        ipol = [n for n in ("1-1", "2-1") if (IPOL / f"{n}.json").exists()]
        short = [n for n in ("1-1", "4-1") if (IPOL / f"{n}.json").exists()]
        virt = [v for v in ("gait2354_subject01_walk", "rajagopal_run") if v in virtual_trials()]
        sims = [s for s in sims if s["trial"] in ("walk_weakR", "run_sym")]
    else:
        ipol = ve.ipol_names(None if args.subjects == "all" else args.subjects) \
            if IPOL.exists() else []
        if args.ipol_trials:
            ipol = [n for n in args.ipol_trials.split(",") if n]
        short = ipol[:: max(args.short_every, 1)] if args.short_every else []
        virt = virtual_trials()
    mountings = (args.mountings.split(",") if args.mountings
                 else list(QUICK_MOUNTINGS if args.quick else MOUNTING_BY_NAME))
    base: list[dict] = []
    if "ipol" in datasets:
        base += [{"dataset": "ipol", "trial": n} for n in ipol]
    if "ipol_short" in datasets:
        base += [{"dataset": "ipol_short", "trial": n} for n in short]
    if "virtual" in datasets:
        base += [{"dataset": "virtual", "trial": v} for v in virt]
    if "sim" in datasets:
        base += sims
    extra = {"workdir": str(args.workdir) if args.workdir else None, "keep": args.keep,
             "summary": args.summary}
    return [{**b, **extra, "mounting": mn} for mn in mountings for b in base]


def run_cases(specs: list[dict], jobs: int = 2, progress: bool = True) -> list[dict]:
    """Run the cases (a process pool when ``jobs > 1``); results in the order of ``specs``."""
    rows: list[dict] = []
    t0 = time.perf_counter()
    ex = ProcessPoolExecutor(jobs) if jobs > 1 else None
    try:
        it = ex.map(run_case, specs, chunksize=1) if ex else map(run_case, specs)
        for k, r in enumerate(it, 1):
            rows.append(r)
            if progress and (k % 25 == 0 or k == len(specs)):
                print(f"  {k}/{len(specs)} cases, {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr)
    finally:
        if ex:
            ex.shutdown(cancel_futures=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2, help="parallel cases (default 2)")
    ap.add_argument("--quick", action="store_true",
                    help="a few trials and mountings (< 2 min on 2 cores)")
    ap.add_argument("--json", type=Path, help="write every case and the summaries here")
    ap.add_argument("--markdown", action="store_true", help="print markdown tables")
    ap.add_argument("--datasets", default="ipol,ipol_short,virtual,sim",
                    help="comma list of ipol, ipol_short, virtual, sim")
    ap.add_argument("--mountings", help="comma list of " + ",".join(MOUNTING_BY_NAME))
    ap.add_argument("--subjects", choices=["all", "odd", "even"], default="all")
    ap.add_argument("--ipol-trials", help="comma list of IPOL trials (e.g. 1-1,2-3)")
    ap.add_argument("--short-every", type=int, default=2,
                    help="one short walk from every Nth IPOL trial (0: none; default 2)")
    ap.add_argument("--summary", action="store_true",
                    help="always run `gaitimu report --json` (slower; heading from summary.json)")
    ap.add_argument("--workdir", type=Path, help="where the per-case files go (default: tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the per-case files")
    ap.add_argument("--from-json", type=Path,
                    help="print the tables of a saved --json run instead of running")
    ap.add_argument("--src", type=Path,
                    help="run the CLI on the gaitimu package in this src/ folder instead of the "
                    "installed one (e.g. a baseline: git archive HEAD src | tar -x -C DIR)")
    args = ap.parse_args(argv)
    if args.src:
        if not (args.src / "gaitimu" / "__init__.py").exists():
            ap.error(f"--src {args.src}: no gaitimu package there")
        os.environ["GAITIMU_SRC"] = str(args.src.resolve())
        sys.path.insert(0, str(args.src.resolve()))  # the in-process loaders use it too
    bad = [m for m in (args.mountings or "").split(",") if m and m not in MOUNTING_BY_NAME]
    if bad:
        ap.error(f"unknown mounting(s) {bad}; choose from {', '.join(MOUNTING_BY_NAME)}")
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        rows = saved["cases"]
        print(("### " if args.markdown else "") + saved.get("meta", "") + "\n")
        print(tables(summarize_all(rows), args.markdown))
        print(problem_cases(rows))
        return 0
    if not DATA.exists():
        print(f"reference data not found at {DATA}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    sims: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gaitimu_gen_") as tmp:
        if "sim" in args.datasets.split(","):
            sim_root = (args.workdir or Path(tmp)) / "sim"
            sim_root.mkdir(parents=True, exist_ok=True)
            todo = [s for s in SIM_SESSIONS
                    if not args.quick or s[0] in ("walk_weakR", "run_sym")]
            with ProcessPoolExecutor(max(args.jobs, 1)) as ex:
                sims = list(ex.map(make_sim, [(s, str(sim_root)) for s in todo]))
        specs = build_specs(args, sims)
        if not args.workdir:
            for s in specs:
                s["workdir"] = tmp
        print(f"{len(specs)} cases on {args.jobs} job(s) ...", file=sys.stderr)
        rows = run_cases(specs, args.jobs)
    wall = time.perf_counter() - t0
    summary = summarize_all(rows)
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"],
                           capture_output=True, text=True).stdout.strip()
    code = (f"gaitimu from {args.src}" if args.src
            else f"commit {commit or '?'}" + (" + uncommitted src changes" if dirty else ""))
    head = (f"gaitimu generalisation harness: {len(rows)} cases, {wall:.0f} s wall on "
            f"{args.jobs} job(s), {code}, {time.strftime('%Y-%m-%d')}"
            + (" (--quick)" if args.quick else ""))
    print(("### " if args.markdown else "") + head + "\n")
    print(tables(summary, args.markdown))
    print(problem_cases(rows))
    errors = sorted({(r["status"], r.get("error", "")) for r in rows if r["status"] != "ok"})
    for st, err in errors[:10]:
        print(f"{st}: {err}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"meta": head, "summary": summary, "cases": rows},
                                        indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
