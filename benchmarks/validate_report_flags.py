"""Flag behaviour of the report against simulator ground truth: simulate -> analyze ->
summarize over a grid of left/right CPD and seeds, with and without the leading quiet
standing, and short sessions; prints each verdict (status and reason) per case, how often the
expected outcome came out, and the CPD error of the summary.

    .venv/bin/python benchmarks/validate_report_flags.py [--seeds 6] [--duration 90]

Expected outcomes (docs/verdicts.md): with standing, the side given 3-4 deg more CPD is
flagged and the other not; equal sides are not flagged; a 2 deg difference (= the threshold)
is inconclusive. Without standing nothing is judged (both "no_standing"), whatever the
difference. Sessions too short for 20 strides per side are "few_strides".
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gaitimu.pipeline import analyze_session
from gaitimu.report import summarize
from gaitimu.report.html import session_meta
from gaitimu.sessions import open_session
from gaitimu.simulate import SimConfig, simulate, write_session

GRID = ((5, 5), (4, 6), (4, 7), (4, 8), (7, 4))  # (cpd_left_deg, cpd_right_deg)
NO_STANDING_GRID = ((5, 5), (4, 7), (7, 4))
SHORT_S = 12.0  # 7 s of gait after the 5 s standing: about 10 strides per side


def expected(left: float, right: float, standing: bool, short: bool) -> tuple[str, str] | None:
    """(status L, status R) the decision rules should give; None: no single right answer
    (a true difference equal to the threshold)."""
    if short or not standing:
        return ("inconclusive", "inconclusive")
    d = right - left
    if abs(abs(d) - 2.0) < 0.5:
        return None
    if abs(d) < 2.0:
        return ("not_flagged", "not_flagged")
    return ("not_flagged", "flagged") if d > 0 else ("flagged", "not_flagged")


def cases(seeds: int, duration_s: float):
    """(activity, left, right, standing, short, seed, duration) of every simulated session."""
    for act in ("walk", "run"):
        for left, right in GRID:
            for seed in range(seeds):
                yield act, left, right, True, False, seed, duration_s
        for left, right in NO_STANDING_GRID:
            for seed in range(seeds):
                yield act, left, right, False, False, seed, duration_s
            yield act, left, right, True, True, 0, SHORT_S


def run(seeds: int, duration_s: float, summarize_fn: Callable = summarize) -> None:
    counts: collections.Counter = collections.Counter()
    hits: collections.Counter = collections.Counter()
    totals: collections.Counter = collections.Counter()
    confident_without_standing = 0
    err = []
    with tempfile.TemporaryDirectory() as d:
        for act, left, right, standing, short, seed, dur in cases(seeds, duration_s):
            sim = simulate(SimConfig(activity=act, duration_s=dur, cpd_left_deg=left,
                                     cpd_right_deg=right, seed=100 + seed,
                                     standing_s=5.0 if standing else 0.0))
            path = Path(d) / f"{act}_{left}_{right}_{standing}_{short}_{seed}"
            write_session(sim, path)
            s = open_session(path)
            r = analyze_session(s)
            sm = summarize_fn(r.strides, session_meta(s), r.info)
            v = sm["verdict"]
            status = (v["L"]["status"], v["R"]["status"])
            reasons = "/".join(sorted({x.get("reason", "-") for x in v.values()}))
            flags = ",".join(sorted(f"{f['side']}:{f['kind']}" for f in sm["flags"]))
            kind = "short" if short else ("standing" if standing else "no standing")
            counts[(act, kind, left, right, *status, reasons, flags or "-")] += 1
            want = expected(left, right, standing, short)
            if want is not None:
                totals[kind] += 1
                hits[kind] += status == want
            if not standing and "inconclusive" not in status:
                confident_without_standing += 1
            if standing and not short:
                err.append([sm["cpd_deg"]["L"]["mean"] - left,
                            sm["cpd_deg"]["R"]["mean"] - right])
    print("activity kind         L  R  | verdict L      verdict R      | reason | flags "
          "| sessions")
    for k, n in sorted(counts.items()):
        print(f"{k[0]:8s} {k[1]:12s} {k[2]:2g} {k[3]:2g}  | {k[4]:14s} {k[5]:14s} | {k[6]} "
              f"| {k[7]} | {n}")
    for kind in sorted(totals):
        print(f"expected outcome ({kind}): {hits[kind]}/{totals[kind]} sessions")
    print(f"confident verdict (flagged/not flagged) without standing: "
          f"{confident_without_standing} sessions")
    e = np.asarray(err)
    print(f"CPD (standing) error, summary mean - simulated: bias L {e[:, 0].mean():+.2f}, "
          f"R {e[:, 1].mean():+.2f} deg; SD L {e[:, 0].std():.2f}, R {e[:, 1].std():.2f} deg")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--duration", type=float, default=90.0)
    a = p.parse_args(argv)
    run(a.seeds, a.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
