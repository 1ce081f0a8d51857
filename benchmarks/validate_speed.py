"""Validate the walking distance and speed (`gaitimu.analysis.speed`) on the IPOL walks.

IPOL protocol (../shared/data/ipol_lowerback, Voisard et al. 2023): stand, walk 10 m, U-turn,
walk 10 m back, stop: 20 m per trial. Each trial is analysed by the product's pipeline
(`gaitimu.pipeline.analyze`, detected events, the subject's height from the trial metadata,
leg length = 0.53 x height) and the walked distance is the sum of the distances of the
walking bouts that overlap the trial (`TrialBoundaries`). A bout's distance counts every step
(turn steps with their pendulum length, steps without one bridged with the bout's median
step) plus one median step for the half steps from and back to standing; a U-turn that
splits the walk into two bouts is bridged by those half steps (two median steps).

Error = distance / 20 m - 1. ``K`` (the pendulum correction factor) is fitted on the
odd-numbered subjects only (median of 20 m / distance at K = 1) and reported on the
even-numbered ones; the product's `DEFAULT_K` is that fit, rounded. Trials are left out when
the metadata has no height (subjects 10 and 14) or when a walking bout in the trial has no
estimated step (data gaps), and counted.

Speed: the walking bouts' distance over their time (first to last contact plus a step),
against 20 m over the reference trial time (first toe-off to last heel strike of the
reference events): a rough reference (the trial time includes the turn, the first and last
steps are partial), reported for information.

Run from the repository root::

    .venv/bin/python benchmarks/validate_speed.py            # table (odd / even / all)
    .venv/bin/python benchmarks/validate_speed.py --jobs 4 --csv per_trial.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_events import IPOL, IPOL_AXES, IPOL_FS, ipol_names, load_ipol

PROTOCOL_M = 20.0


def run_trial(name: str) -> dict:
    from gaitimu.analysis.speed import DEFAULT_K
    from gaitimu.pipeline import analyze

    t_s, acc, gyr, meta = load_ipol(name)
    row = {"name": name, "subject": int(meta["Subject"])}
    height = meta.get("Height")
    if height is None or not np.isfinite(height):
        return {**row, "status": "no height"}
    res = analyze(t_s, acc, gyr, sampling_rate_hz=IPOL_FS, axes=IPOL_AXES,
                  height_m=float(height) / 100.0)
    sp = res.info["speed"]
    lo, hi = (b / IPOL_FS for b in meta["TrialBoundaries"])
    u0, u1 = (b / IPOL_FS for b in meta["UTurnBoundaries"])
    bouts = [b for b in sp["bouts"] if b["end_s"] > lo and b["start_s"] < hi]
    dist = [b["distance_m"] for b in bouts]
    if not bouts or not all(d is not None and np.isfinite(d) for d in dist):
        return {**row, "status": "bout without estimate (data gap)"}
    d = float(sum(dist))
    dur = float(sum(b["duration_s"] for b in bouts))
    turn_in_bout = any(b["start_s"] < u0 and b["end_s"] > u1 for b in bouts)
    return {**row, "status": "ok", "height_m": float(height) / 100.0,
            "distance_m": d, "distance_k1_m": d / DEFAULT_K, "n_bouts": len(bouts),
            "turn_in_bout": turn_in_bout, "speed_mps": d / dur,
            "ref_speed_mps": PROTOCOL_M / (hi - lo),
            "step_length_m": sp["step_length_m"], "n_steps": sp["n_steps"]}


def stats(err: np.ndarray) -> str:
    a = np.abs(err)
    return (f"{a.size:>3}  {100 * np.median(a):5.1f}  {100 * np.percentile(a, 90):5.1f}  "
            f"{100 * np.median(err):+6.1f}  {100 * np.mean(a <= 0.05):5.0f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--csv", default=None, help="write the per-trial table")
    args = p.parse_args(argv)
    if not IPOL.exists():
        print(f"skipped: {IPOL} is absent")
        return 0
    from gaitimu.analysis.speed import DEFAULT_K

    t0 = time.perf_counter()
    names = ipol_names()
    with ProcessPoolExecutor(args.jobs) as ex:
        rows = list(ex.map(run_trial, names))
    df = pd.DataFrame(rows)
    if args.csv:
        df.to_csv(args.csv, index=False)
    ok = df[df["status"] == "ok"].copy()
    ok["turn_in_bout"] = ok["turn_in_bout"].astype(bool)
    odd = ok["subject"] % 2 == 1
    k_fit = float(np.median(PROTOCOL_M / ok.loc[odd, "distance_k1_m"]))
    print(f"IPOL walks: {len(df)} trials; left out: "
          + ", ".join(f"{s} {n}" for s, n in df.loc[df['status'] != 'ok', 'status']
                      .value_counts().items()))
    print(f"K fitted on odd subjects: {k_fit:.3f}; product DEFAULT_K = {DEFAULT_K:g}")
    print("\nwalked distance vs 20 m, K = DEFAULT_K")
    print("subjects        n  med|e|%  p90|e|%  median e%  within 5 %")
    groups = {"odd (fit)": odd, "even (held out)": ~odd, "all": odd | ~odd}
    err = ok["distance_m"] / PROTOCOL_M - 1
    for label, m in groups.items():
        print(f"{label:<15} {stats(err[m].to_numpy())}")
    print("\nby how the U-turn was counted (all subjects)")
    for label, m in (("U-turn inside one bout (turn steps counted)", ok["turn_in_bout"]),
                     ("U-turn splits the walk (bridged)", ~ok["turn_in_bout"])):
        print(f"{label:<45} {stats(err[m].to_numpy())}")
    print("\nspeed vs 20 m / reference trial time (rough reference)")
    serr = ok["speed_mps"] / ok["ref_speed_mps"] - 1
    for label, m in groups.items():
        print(f"{label:<15} {stats(serr[m].to_numpy())}")
    print(f"\n{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
