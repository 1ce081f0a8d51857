"""Flag behaviour of the report against simulator ground truth: simulate -> analyze ->
summarize over a grid of left/right CPD and seeds; prints how often each side was flagged,
not flagged or inconclusive, and the CPD error of the summary.

    .venv/bin/python benchmarks/validate_report_flags.py [--seeds 6] [--duration 90]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path

import numpy as np

from gaitimu.pipeline import analyze_session
from gaitimu.report import summarize
from gaitimu.report.html import session_meta
from gaitimu.sessions import open_session
from gaitimu.simulate import SimConfig, simulate, write_session

GRID = ((5, 5), (4, 6), (4, 7), (4, 8), (7, 4))  # (cpd_left_deg, cpd_right_deg)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--duration", type=float, default=90.0)
    a = p.parse_args(argv)
    counts: collections.Counter = collections.Counter()
    err = []
    with tempfile.TemporaryDirectory() as d:
        for act in ("walk", "run"):
            for left, right in GRID:
                for seed in range(a.seeds):
                    sim = simulate(SimConfig(activity=act, duration_s=a.duration,
                                             cpd_left_deg=left, cpd_right_deg=right,
                                             seed=100 + seed))
                    path = Path(d) / f"{act}_{left}_{right}_{seed}"
                    write_session(sim, path)
                    s = open_session(path)
                    r = analyze_session(s)
                    sm = summarize(r.strides, session_meta(s), r.info)
                    flags = ",".join(sorted(f"{f['side']}:{f['kind']}" for f in sm["flags"]))
                    counts[(act, left, right, sm["verdict"]["L"]["status"],
                            sm["verdict"]["R"]["status"], flags or "-")] += 1
                    err.append([sm["cpd_deg"]["L"]["mean"] - left,
                                sm["cpd_deg"]["R"]["mean"] - right])
    print("activity  L  R  | verdict L      verdict R      | flags | sessions")
    for k, v in sorted(counts.items()):
        print(f"{k[0]:8s} {k[1]:2g} {k[2]:2g}  | {k[3]:14s} {k[4]:14s} | {k[5]} | {v}")
    e = np.asarray(err)
    print(f"CPD (standing) error, summary mean - simulated: bias L {e[:, 0].mean():+.2f}, "
          f"R {e[:, 1].mean():+.2f} deg; SD L {e[:, 0].std():.2f}, R {e[:, 1].std():.2f} deg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
