"""gaitimu vs mobgap (Mobilise-D) on the IPOL lower-back trials: IC accuracy, sides, speed.

Both algorithms get exactly the same input: the trial's sensor signals turned into the
pelvis (body) frame by gaitimu's `align_to_pelvis` (axes ``x=up,y=left,z=backward``), with
mobgap's column names (``acc_is, acc_ml, acc_pa`` m/s^2, ``gyr_is, gyr_ml, gyr_pa`` deg/s).
mobgap runs as its Mobilise-D "regular walking" configuration does: gait sequences with
``GsdIluz``, initial contacts with ``IcdIonescu`` inside each sequence, left/right with
``LrcUllrich`` (pretrained ``msproject_all``); ``LrcMcCamley`` is reported as well. Scoring is
the one of ``validate_events.py`` (+-100 ms one-to-one matching inside the trial boundaries).

mobgap is optional (``pip install mobgap`` or the ``compare`` extra); without it only our
numbers are printed. Run from the repository root::

    .venv/bin/python benchmarks/compare_mobgap.py --jobs 2
    .venv/bin/python benchmarks/compare_mobgap.py --subjects even --json cmp.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_events import (
    IPOL,
    IPOL_AXES,
    IPOL_FS,
    fmt,
    ipol_names,
    ipol_reference,
    load_ipol,
    score_trial,
    summarize,
    to_body,
)

BODY_COLS = ["acc_is", "acc_ml", "acc_pa", "gyr_is", "gyr_ml", "gyr_pa"]


def have_mobgap() -> bool:
    try:
        import mobgap  # noqa: F401
    except Exception:
        return False
    return True


def mobgap_events(body: pd.DataFrame, fs: float, lrc: str = "ullrich") -> pd.DataFrame:
    """ICs (s) and sides from mobgap's GSD -> ICD -> LRC chain, as an events-like table."""
    from mobgap.gait_sequences import GsdIluz
    from mobgap.initial_contacts import IcdIonescu
    from mobgap.laterality import LrcMcCamley, LrcUllrich

    data = body[BODY_COLS].reset_index(drop=True)
    gs = GsdIluz().detect(data, sampling_rate_hz=fs).gs_list_
    rows = []
    for _, g in gs.iterrows():
        start, end = int(g["start"]), int(g["end"])
        seg = data.iloc[start:end].reset_index(drop=True)
        ics = IcdIonescu().detect(seg, sampling_rate_hz=fs).ic_list_
        if ics.empty:
            continue
        if lrc == "ullrich":
            clf = LrcUllrich(**LrcUllrich.PredefinedParameters.msproject_all)
        else:
            clf = LrcMcCamley()
        lr = clf.predict(seg, ics, sampling_rate_hz=fs).ic_lr_list_
        for _, r in lr.iterrows():
            side = "L" if str(r["lr_label"]).lower().startswith("l") else "R"
            rows.append({"ic_s": (start + float(r["ic"])) / fs, "side": side})
    ev = pd.DataFrame(rows, columns=["ic_s", "side"])
    ev["fc_s"] = np.nan  # mobgap has no final-contact detector
    return ev.sort_values("ic_s").reset_index(drop=True)


def run_trial(name: str) -> dict:
    from gaitimu.analysis.events import detect_events

    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    t_s, acc, gyr, meta = load_ipol(name)
    body = to_body(t_s, acc, gyr, IPOL_FS, IPOL_AXES)
    ic, side, fc_after = ipol_reference(meta)
    lo, hi = (b / IPOL_FS for b in meta["TrialBoundaries"])
    inside = (ic >= lo) & (ic <= hi)
    ref = (ic[inside], side[inside], fc_after[inside])
    out = {"name": name, "subject": int(meta["Subject"])}
    u0, u1 = (b / IPOL_FS for b in meta["UTurnBoundaries"])

    def score_all(key: str, ev: pd.DataFrame) -> None:
        out[key] = score_trial(*ref, ev, (lo, hi))
        for name_p, (p0, p1) in (("first_pass", (lo, u0)), ("second_pass", (u1, hi))):
            m = inside & (ic >= p0) & (ic <= p1)
            ev_p = ev[(ev["ic_s"] >= p0) & (ev["ic_s"] <= p1)]
            out[f"{key}_{name_p}"] = score_trial(ic[m], side[m], fc_after[m], ev_p, (p0, p1))

    t0 = time.perf_counter()
    ours = detect_events(body, sampling_rate_hz=IPOL_FS).events
    out["gaitimu_time_s"] = time.perf_counter() - t0
    score_all("gaitimu", ours)
    if have_mobgap():
        for lrc in ("ullrich", "mccamley"):
            t0 = time.perf_counter()
            try:
                mg = mobgap_events(body, IPOL_FS, lrc)
            except Exception as exc:  # report, never hide
                out[f"mobgap_{lrc}_error"] = f"{type(exc).__name__}: {exc}"
                mg = pd.DataFrame(columns=["ic_s", "side", "fc_s"])
            out[f"mobgap_{lrc}_time_s"] = time.perf_counter() - t0
            score_all(f"mobgap_{lrc}", mg)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", choices=["all", "odd", "even"], default="all")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="only the first N trials (quick look)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not IPOL.exists():
        print(f"reference data not found at {IPOL}", file=sys.stderr)
        return 2
    names = ipol_names(None if args.subjects == "all" else args.subjects)
    if args.limit:
        names = names[: args.limit]
    if not have_mobgap():
        print("mobgap is not installed (pip install mobgap): showing gaitimu only", file=sys.stderr)
    t0 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as ex:
            rows = list(ex.map(run_trial, names))
    else:
        rows = [run_trial(n) for n in names]
    print(
        f"IPOL lower back, {len(rows)} trials ({args.subjects} subjects), {time.perf_counter() - t0:.1f} s wall"
    )
    results = {}
    for key in ("gaitimu", "mobgap_ullrich", "mobgap_mccamley"):
        if key not in rows[0]:
            continue
        s = summarize([r[key] for r in rows])
        s["time_s_per_trial"] = float(np.mean([r[f"{key}_time_s"] for r in rows]))
        errors = [r[f"{key}_error"] for r in rows if f"{key}_error" in r]
        s["n_errors"] = len(errors)
        results[key] = s
        print("  " + fmt(key, s) + f"  {1000 * s['time_s_per_trial']:.0f} ms/trial")
        for e in errors[:3]:
            print(f"    error: {e}")
        for name_p in ("first_pass", "second_pass"):
            sp = summarize([r[f"{key}_{name_p}"] for r in rows])
            results[f"{key}_{name_p}"] = sp
            print("    " + fmt(name_p, sp))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
