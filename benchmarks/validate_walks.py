"""Every step of a real walk (issue 11): IC detection per category on IPOL, and on short
walks cut from it, gaitimu beside mobgap.

    .venv/bin/python benchmarks/validate_walks.py [--subjects all|odd|even] [--jobs 2]

Categories of the reference ICs of the whole trials (+-100 ms one-to-one matching, as
validate_events.py): the first 2 steps after standing, the straight steps, the 2 steps before
and after the U-turn, the U-turn steps, and the last 3 steps of the trial (the subject slows
down, stops and often turns in place). Short walks: from the standing at the start of each
trial, the first 2-3 (and 4-8) reference steps, cut 0.7 s after the last one (a walk that
starts from rest; its end is cut, not a real stop). mobgap (if installed: the ``compare``
extra) gets the same pelvis-frame signals, as in benchmarks/compare_mobgap.py.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_events import IPOL_AXES, IPOL_FS, ipol_names, ipol_reference, load_ipol, to_body

TOL_S = 0.1
CATEGORIES = ("first 2", "straight", "around the U-turn", "U-turn", "last 3")


def _detectors():
    from gaitimu.analysis.events import detect_events

    out = {"gaitimu": lambda body, fs: detect_events(body, sampling_rate_hz=fs).events["ic_s"]
           .to_numpy()}
    try:
        from compare_mobgap import have_mobgap, mobgap_events

        if have_mobgap():
            # (mobgap's times count from the first sample)
            out["mobgap"] = lambda body, fs: (mobgap_events(body, fs)["ic_s"].to_numpy()
                                              + float(body["t_s"].iloc[0]))
    except ImportError:
        pass
    return out


def _hits(ref: np.ndarray, det: np.ndarray) -> tuple[np.ndarray, int]:
    """One-to-one matching within TOL_S: hit mask of `ref` and the number of unmatched
    detections."""
    used = np.zeros(det.size, dtype=bool)
    hit = np.zeros(ref.size, dtype=bool)
    for i, x in enumerate(ref):
        d = np.abs(det - x)
        d[used] = np.inf
        if d.size and d.min() <= TOL_S:
            j = int(np.argmin(d))
            used[j] = hit[i] = True
    return hit, int((~used).sum())


def _category(k: int, x: float, ic: np.ndarray, u0: float, u1: float) -> str:
    if u0 <= x <= u1:
        return "U-turn"
    if k < 2:
        return "first 2"
    if k >= ic.size - 3:
        return "last 3"
    if (x < u0 and np.sum((ic > x) & (ic < u0)) < 2) or (x > u1 and np.sum((ic > u1) & (ic < x)) < 2):
        return "around the U-turn"
    return "straight"


def run_trial(name: str) -> dict:
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    t, acc, gyr, meta = load_ipol(name)
    ic, _side, _fc = ipol_reference(meta)
    lo, hi = (b / IPOL_FS for b in meta["TrialBoundaries"])
    u0, u1 = (b / IPOL_FS for b in meta["UTurnBoundaries"])
    ic = ic[(ic >= lo) & (ic <= hi)]
    out: dict = collections.defaultdict(lambda: [0, 0, 0])  # (detector, category): tp fn fp
    body = to_body(t, acc, gyr, IPOL_FS, IPOL_AXES)
    # gait initiation / termination marks (gaitimu's strides.csv gait_phase)
    from gaitimu.analysis.events import detect_events

    ev = detect_events(body, sampling_rate_hz=IPOL_FS).events
    ini = ev.loc[ev["gait_phase"] == "initiation", "ic_s"].to_numpy()
    ter = ev.loc[ev["gait_phase"] == "termination", "ic_s"].to_numpy()
    out[("phase", "trials")] = [1, 0, 0]
    out[("phase", "initiation on the first reference step")] = [
        int(np.any(np.abs(ini - ic[0]) <= TOL_S)), 0, 0]
    out[("phase", "initiation marks more than a step from it")] = [
        int(np.sum(np.abs(ini - ic[0]) > 0.7)), 0, 0]
    out[("phase", "termination marked")] = [int(ter.size > 0), 0, 0]
    out[("phase", "termination on one of the last 3 reference steps")] = [
        int(sum(np.min(np.abs(ic[-3:] - x)) <= TOL_S for x in ter)), 0, 0]
    for dname, det_fn in _detectors().items():
        det = det_fn(body, IPOL_FS)
        det = det[(det >= lo - TOL_S) & (det <= hi + TOL_S)]
        hit, n_fp = _hits(ic, det)
        for k, x in enumerate(ic):
            c = out[(dname, _category(k, x, ic, u0, u1))]
            c[0 if hit[k] else 1] += 1
        out[(dname, "whole trials")] = [int(hit.sum()), int((~hit).sum()), n_fp]
        # short walks from standing: the first n steps, cut 0.7 s after the last
        first = ic[ic < u0]
        n = 2 + zlib.crc32(name.encode()) % 2  # 2 or 3
        for label, n_steps in (("walks of 2-3 steps", n),
                               ("walks of 4-8 steps", 4 + zlib.crc32(name.encode()) % 5)):
            if first.size < n_steps + 1:
                continue
            t0, t1 = max(lo - 1.5, 0.0), first[n_steps - 1] + 0.7
            ref = ic[(ic >= t0) & (ic <= t1 - 0.15)]
            sel = (t >= t0) & (t <= t1)
            try:
                d = det_fn(to_body(t[sel], acc[sel], gyr[sel], IPOL_FS, IPOL_AXES), IPOL_FS)
            except Exception:  # a detector that fails on a short cut finds nothing
                d = np.zeros(0)
            h, fp = _hits(ref, d[d <= t1 - 0.15])
            c = out[(dname, label)]
            c[0] += int(h.sum())
            c[1] += int((~h).sum())
            c[2] += fp
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", choices=["all", "odd", "even"], default="all")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    names = ipol_names(None if args.subjects == "all" else args.subjects)
    tot: dict = collections.defaultdict(lambda: [0, 0, 0])
    with ProcessPoolExecutor(args.jobs) as ex:
        for res in ex.map(run_trial, names):
            for key, v in res.items():
                for i in range(3):
                    tot[key][i] += v[i]
    print(f"IPOL, {len(names)} trials ({args.subjects} subjects); IC +-{TOL_S * 1e3:.0f} ms")
    print("| category | detector | reference ICs | found (recall) | extra detections | F1 |")
    print("|---|---|---|---|---|---|")
    order = ("whole trials", *CATEGORIES, "walks of 2-3 steps", "walks of 4-8 steps")
    for cat in order:
        for dname in ("gaitimu", "mobgap"):
            if (dname, cat) not in tot:
                continue
            tp, fn, fp = tot[(dname, cat)]
            r = tp / max(tp + fn, 1)
            f1 = f"{2 * tp / max(2 * tp + fn + fp, 1):.3f}" if cat not in CATEGORIES else "-"
            extra = str(fp) if cat not in CATEGORIES else "-"
            print(f"| {cat} | {dname} | {tp + fn} | {tp} ({100 * r:.1f} %) | {extra} | {f1} |")
    print("\nGait initiation and termination marks (trials):")
    for key in sorted(k for k in tot if k[0] == "phase"):
        print(f"  {key[1]}: {tot[key][0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
