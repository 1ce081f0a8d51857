"""Validate gait events (IC, FC, side) against independent reference events.

Data sets (read from ../shared/data relative to the repository root):

* ``ipol_lowerback`` -- real L5 IMU, 110 walking trials with U-turns; reference foot events
  from foot-mounted sensors (``[start, end]`` per footstep = [toe-off (FC), heel strike (IC)]).
  The sensor axes are not documented; from the signals we found ``x=up,y=left,z=backward``
  (tilted ~20-35 deg about the lateral axis, corrected by `align_to_pelvis`).
* ``virtual_imu_dev`` -- virtual sacral IMU from motion capture with force-plate events
  (one walk, one run trial).
* simulated sessions from `gaitimu.simulate`, when that module is available.

Metrics: an IC is a true positive when a reference IC lies within +-100 ms (one-to-one
matching); F1 over reference ICs inside the trial boundaries; median |IC error| over the
matches; FC error per matched stance (the detected FC of that stance against the reference
toe-off of the same foot that follows the matched heel strike); side accuracy over matched
ICs. Results are given for all subjects, for odd subjects (used while developing the
method) and for even subjects (held out).

Run from the repository root::

    .venv/bin/python benchmarks/validate_events.py            # all data sets
    .venv/bin/python benchmarks/validate_events.py --ipol-only --jobs 2
    .venv/bin/python benchmarks/validate_events.py --json out.json
    .venv/bin/python benchmarks/validate_events.py --plot 2-3 --plot-window 19 27  # matplotlib
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
IPOL = DATA / "ipol_lowerback" / "GaitData"
VIRT = DATA / "virtual_imu_dev"
IPOL_AXES = "x=up,y=left,z=backward"
IPOL_FS = 100.0
TOL_S = 0.1
RESAMPLE_HZ: float | None = None  # --rate: the IPOL trials as a sensor at another rate
MAX_STANCE_S = 1.5  # longer "stances" in the reference are standing, not gait


def load_ipol(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Return ``t_s, acc (m/s^2), gyr (deg/s), meta`` for one IPOL trial (sensor frame).

    Read with the product's importer (`read_imu_table`), so the clock is the PacketCounter:
    lost packets are holes in ``t_s``, and a reference index ``i`` is the time ``i / 100``.
    """
    from gaitimu.sessions.importer import read_imu_table

    t_s, acc, gyr, _ = read_imu_table(IPOL / f"{name}_lb.txt", rate_hz=IPOL_FS, gyr_unit="rad/s")
    meta = json.loads((IPOL / f"{name}.json").read_text())
    return t_s, acc, gyr, meta


def to_body(
    t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray, fs: float, axes: str
) -> pd.DataFrame:
    """Raw samples -> the pelvis signals the pipeline's event detector sees
    (`pelvis_signals`, then `detection_body`: holes up to 0.2 s do not split bouts)."""
    from gaitimu.pipeline import pelvis_signals
    from gaitimu.stages import detection_body

    body, cond, _ = pelvis_signals(t_s, acc, gyr, sampling_rate_hz=fs, axes=axes)
    return detection_body(body, cond.bridged)


def match(ref: np.ndarray, det: np.ndarray, tol: float = TOL_S) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of event times within ``tol``; returns index pairs (ref, det)."""
    if ref.size == 0 or det.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    d = np.abs(ref[:, None] - det[None, :])
    cost = np.where(d <= tol, d, 1e6)
    r, c = linear_sum_assignment(cost)
    ok = cost[r, c] < 1e6
    return r[ok], c[ok]


def score_trial(
    ref_ic: np.ndarray,
    ref_side: np.ndarray,
    ref_fc_after: np.ndarray,
    ev: pd.DataFrame,
    window: tuple[float, float],
) -> dict:
    """Counts and errors for one trial. ``ref_fc_after``: reference FC of the stance that the
    reference IC starts (NaN when unknown)."""
    lo, hi = window
    det = ev[(ev["ic_s"] >= lo - TOL_S) & (ev["ic_s"] <= hi + TOL_S)].reset_index(drop=True)
    r, c = match(ref_ic, det["ic_s"].to_numpy())
    # detections matched outside the window edges are fine; unmatched ones inside count as FP
    det_in = (det["ic_s"] >= lo) & (det["ic_s"] <= hi)
    fp = int((det_in & ~det.index.isin(c)).sum())
    ic_err = det["ic_s"].to_numpy()[c] - ref_ic[r]
    fc_det = det["fc_s"].to_numpy()[c]
    fc_ref = ref_fc_after[r]
    fc_ok = np.isfinite(fc_det) & np.isfinite(fc_ref)
    det_side = det["side"].fillna("").astype(str).to_numpy()[c]
    sided = det_side != ""  # "" = no side given (left/right withheld)
    side_ok = det_side[sided] == ref_side[r][sided]
    return {
        "n_no_side": int((~sided).sum()),
        "tp": len(r),
        "fn": int(ref_ic.size - len(r)),
        "fp": fp,
        "ic_err": ic_err.tolist(),
        "fc_err": (fc_det[fc_ok] - fc_ref[fc_ok]).tolist(),
        "side_ok": side_ok.tolist(),
    }


def ipol_reference(meta: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference ICs (s), their side and the FC (s) ending each such stance."""
    ics, sides, fcs = [], [], []
    for side, key in (("L", "LeftFootEvents"), ("R", "RightFootEvents")):
        steps = np.asarray(meta[key], dtype=float).reshape(-1, 2)
        for k, (_, ic) in enumerate(steps):
            ics.append(ic / IPOL_FS)
            sides.append(side)
            # the stance ends at this foot's next toe-off; none when the walk stops here (a
            # toe-off seconds later belongs to the next walk, not to this stance)
            fc = steps[k + 1, 0] / IPOL_FS if k + 1 < len(steps) else np.nan
            fcs.append(fc if fc - ic / IPOL_FS <= MAX_STANCE_S else np.nan)
    o = np.argsort(ics)
    return np.asarray(ics)[o], np.asarray(sides)[o], np.asarray(fcs)[o]


def resample_ipol(
    t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray, rate_hz: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trial as a sensor at ``rate_hz`` would have delivered it: linear interpolation
    of the received samples onto the new clock (after an anti-alias low-pass when going
    down), keeping the lost-packet holes (no new sample inside a hole longer than 1.5
    original periods)."""
    from gaitimu.analysis.filters import lowpass

    if rate_hz < IPOL_FS:
        acc, gyr = (lowpass(x, 0.4 * rate_hz, sampling_rate_hz=IPOL_FS) for x in (acc, gyr))
    t_new = np.arange(t_s[0], t_s[-1], 1.0 / rate_hz)
    right = np.clip(np.searchsorted(t_s, t_new), 1, t_s.size - 1)
    ok = (t_s[right] - t_s[right - 1]) <= 1.5 / IPOL_FS
    t_new = t_new[ok]
    return (
        t_new,
        np.column_stack([np.interp(t_new, t_s, acc[:, k]) for k in range(3)]),
        np.column_stack([np.interp(t_new, t_s, gyr[:, k]) for k in range(3)]),
    )


def run_ipol_trial(name: str) -> dict:
    from gaitimu.analysis.events import detect_events

    t_s, acc, gyr, meta = load_ipol(name)
    fs = RESAMPLE_HZ or IPOL_FS
    if RESAMPLE_HZ:
        t_s, acc, gyr = resample_ipol(t_s, acc, gyr, RESAMPLE_HZ)
    body = to_body(t_s, acc, gyr, fs, IPOL_AXES)
    t0 = time.perf_counter()
    res = detect_events(body, sampling_rate_hz=fs)
    dt = time.perf_counter() - t0
    ic, side, fc_after = ipol_reference(meta)
    lo, hi = (b / IPOL_FS for b in meta["TrialBoundaries"])
    inside = (ic >= lo) & (ic <= hi)
    out = score_trial(ic[inside], side[inside], fc_after[inside], res.events, (lo, hi))
    # the same without the U-turn (reference and detections inside it removed)
    u0, u1 = (b / IPOL_FS for b in meta["UTurnBoundaries"])
    ev = res.events[(res.events["ic_s"] < u0) | (res.events["ic_s"] > u1)]
    keep = inside & ((ic < u0) | (ic > u1))
    out_nt = score_trial(ic[keep], side[keep], fc_after[keep], ev, (lo, hi))
    # the two straight walking passes separately (before / after the U-turn)
    passes = {}
    for key, (p0, p1) in (
        ("first_pass", (lo, u0)),
        ("second_pass", (u1, hi)),
        ("uturn", (u0, u1)),
    ):
        m = inside & (ic >= p0) & (ic <= p1)
        ev_p = res.events[(res.events["ic_s"] >= p0) & (res.events["ic_s"] <= p1)]
        passes[key] = score_trial(ic[m], side[m], fc_after[m], ev_p, (p0, p1))
    out.update(
        {"name": name, "subject": int(meta["Subject"]), "time_s": dt, "no_turn": out_nt, **passes}
    )
    out["n_bouts"] = len(res.bouts)
    out["activity"] = sorted(set(res.bouts["activity"]))
    return out


def summarize(rows: list[dict]) -> dict:
    tp = sum(r["tp"] for r in rows)
    fn = sum(r["fn"] for r in rows)
    fp = sum(r["fp"] for r in rows)
    ic_err = np.abs(np.concatenate([r["ic_err"] for r in rows] or [[]]))
    ic_signed = np.concatenate([r["ic_err"] for r in rows] or [[]])
    fc_err = np.abs(np.concatenate([r["fc_err"] for r in rows] or [[]]))
    fc_signed = np.concatenate([r["fc_err"] for r in rows] or [[]])
    side_ok = np.concatenate([r["side_ok"] for r in rows] or [[]])
    no_side = sum(r.get("n_no_side", 0) for r in rows)
    prec = tp / max(tp + fp, 1)
    rec = tp / max(tp + fn, 1)
    return {
        "n_trials": len(rows),
        "n_ref_ic": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": prec,
        "recall": rec,
        "ic_f1": 2 * prec * rec / max(prec + rec, 1e-12),
        "ic_median_abs_err_ms": 1000 * float(np.median(ic_err)) if ic_err.size else float("nan"),
        "ic_mean_err_ms": 1000 * float(np.mean(ic_signed)) if ic_signed.size else float("nan"),
        "ic_mean_abs_err_ms": 1000 * float(np.mean(ic_err)) if ic_err.size else float("nan"),
        "ic_p90_abs_err_ms": 1000 * float(np.percentile(ic_err, 90))
        if ic_err.size
        else float("nan"),
        "fc_p90_abs_err_ms": 1000 * float(np.percentile(fc_err, 90))
        if fc_err.size
        else float("nan"),
        "fc_median_abs_err_ms": 1000 * float(np.median(fc_err)) if fc_err.size else float("nan"),
        "fc_mean_err_ms": 1000 * float(np.mean(fc_signed)) if fc_signed.size else float("nan"),
        "n_fc": int(fc_err.size),
        "side_accuracy": float(np.mean(side_ok)) if side_ok.size else float("nan"),
        "no_side_fraction": no_side / max(tp, 1),
    }


def fmt(label: str, s: dict) -> str:
    return (
        f"{label:28s} trials {s['n_trials']:3d}  refIC {s['n_ref_ic']:5d}  F1 {s['ic_f1']:.3f} "
        f"(P {s['precision']:.3f} R {s['recall']:.3f})  |IC| {s['ic_median_abs_err_ms']:5.1f} ms "
        f"(mean {s['ic_mean_abs_err_ms']:4.1f}, p90 {s['ic_p90_abs_err_ms']:4.1f}, "
        f"bias {s['ic_mean_err_ms']:+5.1f})  |FC| {s['fc_median_abs_err_ms']:5.1f} ms "
        f"(bias {s['fc_mean_err_ms']:+5.1f})  side {100 * s['side_accuracy']:.1f} % "
        f"(none {100 * s['no_side_fraction']:.1f} %)"
    )


def ipol_names(subjects: str | None = None) -> list[str]:
    names = sorted(
        (p.name[:-5] for p in IPOL.glob("*.json")),
        key=lambda s: tuple(int(x) for x in s.split("-")),
    )
    if subjects == "odd":
        names = [n for n in names if int(n.split("-")[0]) % 2 == 1]
    elif subjects == "even":
        names = [n for n in names if int(n.split("-")[0]) % 2 == 0]
    return names


def validate_ipol(jobs: int = 2, names: list[str] | None = None) -> tuple[dict, list[dict]]:
    names = names or ipol_names()
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            rows = list(ex.map(run_ipol_trial, names))
    else:
        rows = [run_ipol_trial(n) for n in names]
    out = {
        "all": summarize(rows),
        "odd_subjects": summarize([r for r in rows if r["subject"] % 2 == 1]),
        "even_subjects": summarize([r for r in rows if r["subject"] % 2 == 0]),
        "all_without_uturn": summarize([r["no_turn"] for r in rows]),
        "first_pass": summarize([r["first_pass"] for r in rows]),
        "second_pass": summarize([r["second_pass"] for r in rows]),
        "uturn": summarize([r["uturn"] for r in rows]),
        "detect_time_s_mean": float(np.mean([r["time_s"] for r in rows])),
    }
    return out, rows


def virtual_reference(
    truth: dict,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    ics, sides, fcs = [], [], []
    ev = truth["events"]
    for side, key in (("L", "left"), ("R", "right")):
        fc_side = np.asarray(ev["FC"][key], float)
        for ic in ev["IC"][key]:
            later = fc_side[fc_side > ic]
            ics.append(ic)
            sides.append(side)
            fcs.append(later[0] if later.size else np.nan)
    o = np.argsort(ics)
    cov = ev.get("coverage_s", {}).get("left", [0, np.inf])
    return np.asarray(ics)[o], np.asarray(sides)[o], np.asarray(fcs)[o], (cov[0], cov[1])


def validate_virtual() -> dict:
    from gaitimu.analysis.events import detect_events

    out = {}
    for trial in sorted(p for p in VIRT.iterdir() if p.is_dir()):
        truth = json.loads((trial / "truth.json").read_text())
        df = pd.read_csv(trial / "imu.csv")
        fs = float(truth["sampling_rate_hz"])
        body = to_body(
            df["t_s"].to_numpy(),
            df[["acc_x", "acc_y", "acc_z"]].to_numpy(),
            df[["gyr_x", "gyr_y", "gyr_z"]].to_numpy(),
            fs,
            "x=up,y=right,z=forward",
        )
        res = detect_events(body, sampling_rate_hz=fs)
        ic, side, fc_after, window = virtual_reference(truth)
        row = score_trial(ic, side, fc_after, res.events, window)
        row["name"] = trial.name
        s = summarize([row])
        s["activity_true"] = truth["activity"]
        s["activity_detected"] = sorted(set(res.bouts["activity"]))
        out[trial.name] = s
    return out


def sim_body(sim) -> pd.DataFrame:
    """Simulated sensor samples -> uniform grid -> pelvis frame (as the pipeline does)."""
    return to_body(sim.t_s, sim.acc, sim.gyr, float(sim.sample_rate_hz), "x=up,y=right,z=forward")


def validate_simulated(seeds: tuple[int, ...] = (0, 1, 2)) -> dict | None:
    try:
        from gaitimu.simulate import SimConfig, simulate
    except Exception as exc:  # the simulator is being written in parallel
        print(f"(simulated sessions skipped: {exc})", file=sys.stderr)
        return None
    from gaitimu.analysis.events import detect_events

    out = {}
    for activity in ("walk", "run"):
        rows = []
        for seed in seeds:
            sim = simulate(SimConfig(activity=activity, duration_s=60, seed=seed))
            body = sim_body(sim)
            fs = float(sim.sample_rate_hz)
            res = detect_events(body, sampling_rate_hz=fs)
            tev = pd.DataFrame(sim.truth["events"]).sort_values("ic_s")
            ic = tev["ic_s"].to_numpy(float)
            side = tev["side"].astype(str).str.upper().str[0].to_numpy()
            fc = tev["fc_s"].to_numpy(float) if "fc_s" in tev else np.full(ic.size, np.nan)
            rows.append(score_trial(ic, side, fc, res.events, (ic.min(), ic.max())))
        out[activity] = summarize(rows)
    return out


def plot_ipol(name: str, out: Path, window_s: tuple[float, float] | None = None) -> None:
    """Save a figure of one IPOL trial: pelvis signals, reference events, our events.

    Needs matplotlib (not a gaitimu dependency: ``pip install matplotlib``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit(f"--plot needs matplotlib ({exc}); pip install matplotlib") from exc
    from gaitimu.analysis.events import detect_events
    from gaitimu.analysis.filters import lowpass

    t_s, acc, gyr, meta = load_ipol(name)
    body = to_body(t_s, acc, gyr, IPOL_FS, IPOL_AXES)
    ev = detect_events(body, sampling_rate_hz=IPOL_FS).events
    ic, side, _fc_after = ipol_reference(meta)
    lo, hi = window_s or (
        meta["TrialBoundaries"][0] / IPOL_FS,
        meta["TrialBoundaries"][1] / IPOL_FS,
    )
    t_s = body["t_s"].to_numpy()  # the uniform grid (lost packets make the raw clock sparse)
    sel = (t_s >= lo) & (t_s <= hi)
    cols = ("acc_is", "acc_pa", "acc_ml", "gyr_pa", "gyr_is")
    fig, axes = plt.subplots(len(cols), 1, figsize=(16, 2.4 * len(cols)), sharex=True)
    colour = {"L": "tab:blue", "R": "tab:red"}
    for ax, col in zip(axes, cols, strict=True):
        ax.plot(t_s[sel], lowpass(body[col].to_numpy(), 10.0, sampling_rate_hz=IPOL_FS, order=2)[sel], "k", lw=1)
        ax.set_ylabel(col)
        ax.grid(alpha=0.3)
        for t, sd in zip(ic, side, strict=True):
            if lo <= t <= hi:
                ax.axvline(t, color=colour[sd], lw=2.5, alpha=0.45)
        for _, r in ev[(ev["ic_s"] >= lo) & (ev["ic_s"] <= hi)].iterrows():
            ax.axvline(r["ic_s"], color=colour[r["side"]], ls=":", lw=2)
    u0, u1 = (b / IPOL_FS for b in meta["UTurnBoundaries"])
    for ax in axes:
        ax.axvspan(u0, u1, color="0.9", zorder=-1)
    axes[0].set_title(
        f"IPOL {name}: reference IC (thick, blue L / red R) vs gaitimu IC (dotted); "
        "grey = U-turn; signals 10 Hz low-pass, pelvis frame"
    )
    axes[-1].set_xlabel("t (s)")
    fig.tight_layout()
    fig.savefig(out, dpi=70)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ipol-only", action="store_true")
    ap.add_argument("--subjects", choices=["all", "odd", "even"], default="all")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write all metrics to this JSON file")
    ap.add_argument("--worst", type=int, default=0, help="list the N worst IPOL trials")
    ap.add_argument("--plot", metavar="TRIAL", help="plot one IPOL trial (e.g. 2-3) and exit")
    ap.add_argument("--plot-out", type=Path, default=Path("events_plot.png"))
    ap.add_argument("--plot-window", type=float, nargs=2, metavar=("T0", "T1"))
    ap.add_argument(
        "--rate", type=float, help="resample the IPOL trials to this rate (Hz) first, e.g. 50"
    )
    args = ap.parse_args(argv)
    global RESAMPLE_HZ
    RESAMPLE_HZ = args.rate
    if args.plot:
        plot_ipol(args.plot, args.plot_out, tuple(args.plot_window) if args.plot_window else None)
        return 0
    if not IPOL.exists():
        print(f"reference data not found at {IPOL}", file=sys.stderr)
        return 2
    results: dict = {}
    names = ipol_names(None if args.subjects == "all" else args.subjects)
    t0 = time.perf_counter()
    ipol, rows = validate_ipol(args.jobs, names)
    results["ipol"] = ipol
    print(f"IPOL lower back (axes {IPOL_AXES}), {time.perf_counter() - t0:.1f} s wall")
    for key in (
        "all",
        "odd_subjects",
        "even_subjects",
        "all_without_uturn",
        "first_pass",
        "second_pass",
        "uturn",
    ):
        if ipol[key]["n_trials"]:
            print("  " + fmt(key, ipol[key]))
    print(f"  mean detect_events time per trial {1000 * ipol['detect_time_s_mean']:.1f} ms")
    if args.worst:
        rows.sort(
            key=lambda r: r["fn"] + r["fp"] + (len(r["side_ok"]) - sum(r["side_ok"])), reverse=True
        )
        for r in rows[: args.worst]:
            print(
                f"    {r['name']:6s} tp {r['tp']} fn {r['fn']} fp {r['fp']} side_wrong {len(r['side_ok']) - sum(r['side_ok'])}"
            )
    if not args.ipol_only:
        virt = validate_virtual()
        results["virtual_imu_dev"] = virt
        print("virtual_imu_dev (force-plate events)")
        for k, s in virt.items():
            print(
                "  "
                + fmt(k, s)
                + f"  activity {s['activity_detected']} (true {s['activity_true']})"
            )
        sim = validate_simulated()
        if sim is not None:
            results["simulated"] = sim
            print("simulated sessions (gaitimu.simulate, seeds 0-2, 60 s)")
            for k, s in sim.items():
                print("  " + fmt(k, s))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
