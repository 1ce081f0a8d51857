"""Heading, forward direction and left/right per bout on real walking (issue 10).

For every IPOL trial (real L5 IMU, 19 subjects, axes ``x=up,y=left,z=backward``), whole and
cut into walks of 4-8 reference steps (from 0.6 s before the first to 0.6 s after the last
IC: no standing, no U-turn context), runs the product's conditioning, alignment and event
detection and reports, per half of the subjects (odd: where the side thresholds were chosen;
even: held out):

* the forward-direction decision and both forward cues (t statistics) of the alignment;
* per bout: whether a side was given, the accuracy of the sides given, the share of matched
  steps without a side, and bouts whose sides are swapped (majority wrong);
* the reliability of the per-bout side confidence (Phi(margin)) against the accuracy.

Trials 4-1 and 4-2 are shown with and without: there every cue (pelvic roll, horizontal
lateral acceleration, pelvic yaw) contradicts the reference on every step while trials 4-3
to 4-6 of the same person agree; see docs/VALIDATION.md.

Run from the repository root::

    .venv/bin/python benchmarks/validate_sides.py --jobs 2
    .venv/bin/python benchmarks/validate_sides.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_events import (
    IPOL,
    IPOL_AXES,
    IPOL_FS,
    ipol_names,
    ipol_reference,
    load_ipol,
    match,
)

SUSPECT = ("4-1", "4-2")  # reference sides contradicted by every cue, see the module doc


def _bouts(name: str, tag: str, t, acc, gyr, ref_ic, ref_side) -> tuple[list[dict], dict]:
    from gaitimu.analysis.events import detect_events
    from gaitimu.pipeline import pelvis_signals
    from gaitimu.stages import detection_body

    body, cond, info = pelvis_signals(t, acc, gyr, sampling_rate_hz=IPOL_FS, axes=IPOL_AXES)
    res = detect_events(
        detection_body(body, cond.bridged),
        sampling_rate_hz=cond.sampling_rate_hz,
        forward_trusted=info["side_trust"] != "uncertain",
    )
    ev = res.events
    r, c = match(ref_ic, ev["ic_s"].to_numpy())
    sides = ev["side"].to_numpy()[c]
    bout = ev["bout_id"].to_numpy()[c]
    rows = []
    for b in res.info.get("sides", []):
        sel = bout == b["bout_id"]
        rows.append(
            {
                "trial": name,
                "tag": tag,
                "subject": int(name.split("-")[0]),
                "bout": b["bout_id"],
                "n_steps": b["n_steps"],
                "decided": b["decided"],
                "margin": b["margin"],
                "confidence": b["confidence"],
                "reason": b["reason"],
                "n_match": int(sel.sum()),
                "n_ok": int((sides[sel] == ref_side[r][sel]).sum()),
            }
        )
    fwd = info["forward"]
    align = {
        "trial": name,
        "tag": tag,
        "decision": fwd["decision"],
        "side_trust": info["side_trust"],
        **{f"t_{k}": v["t"] for k, v in fwd["cues"].items()},
        "heading_estimate_deg": info["heading"]["estimate_deg"],
        "heading_se_deg": info["heading"]["se_deg"],
    }
    return rows, align


def run_trial(name: str) -> tuple[list[dict], list[dict]]:
    """Whole trial and its cut 4-8 step walks."""
    t, acc, gyr, meta = load_ipol(name)
    ic, side, _ = ipol_reference(meta)
    ic, side = np.asarray(ic), np.asarray(side)
    rows, align = _bouts(name, "whole", t, acc, gyr, ic, side)
    aligns = [align]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    k = 0
    while k + 4 <= ic.size:
        j = min(k + int(rng.integers(4, 9)) - 1, ic.size - 1)
        lo, hi = ic[k] - 0.6, ic[j] + 0.6
        s = (t >= lo) & (t < hi)
        if s.sum() > 1.5 * IPOL_FS:
            sel = (ic >= lo) & (ic < hi)
            r_, a_ = _bouts(name, "cut", t[s], acc[s], gyr[s], ic[sel], side[sel])
            rows += r_
            aligns.append(a_)
        k = j + 1
    return rows, aligns


def summarize(df: pd.DataFrame) -> list[dict]:
    out = []
    for excl in (False, True):
        d0 = df[~df["trial"].isin(SUSPECT)] if excl else df
        for (tag, half), g in d0.groupby(["tag", "half"]):
            d = g[g["decided"]]
            out.append(
                {
                    "walks": "whole trials" if tag == "whole" else "4-8 step walks",
                    "subjects": half,
                    "without_4-1_4-2": excl,
                    "bouts": len(g),
                    "matched_steps": int(g["n_match"].sum()),
                    "side_accuracy": float(d["n_ok"].sum() / max(d["n_match"].sum(), 1)),
                    "no_side": float(g.loc[~g["decided"], "n_match"].sum() / max(g["n_match"].sum(), 1)),
                    "swapped_bouts": int(((d["n_ok"] < d["n_match"] / 2) & (d["n_match"] > 0)).sum()),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not IPOL.exists():
        print(f"IPOL data not found at {IPOL}", file=sys.stderr)
        return 1
    with ProcessPoolExecutor(args.jobs) as ex:
        res = list(ex.map(run_trial, ipol_names()))
    df = pd.DataFrame([r for rows, _ in res for r in rows])
    df["half"] = np.where(df["subject"] % 2 == 1, "odd", "even")
    al = pd.DataFrame([a for _, aligns in res for a in aligns])

    print("Forward direction (declared axes x=up,y=left,z=backward):")
    for tag, g in al.groupby("tag"):
        dec = Counter(zip(g["decision"], g["side_trust"], strict=True))
        print(f"  {tag:5s} {len(g):4d} recordings: {dict(dec)}")
        for c in [k for k in g.columns if k.startswith("t_")]:
            v = g[c].to_numpy(dtype=float)
            print(
                f"        {c[2:]:17s} t min {v.min():6.1f}  5 % {np.quantile(v, 0.05):6.1f}  "
                f"median {np.median(v):6.1f}  negative in {np.mean(v < 0):.1%}"
            )
    print("\nSides per bout (accuracy among the steps given a side):")
    summ = summarize(df)
    print("| walks | subjects | 4-1, 4-2 | bouts | steps | sides right | no side | swapped bouts |")
    print("|---|---|---|---|---|---|---|---|")
    for s in summ:
        print(
            f"| {s['walks']} | {s['subjects']} | {'left out' if s['without_4-1_4-2'] else 'in'} "
            f"| {s['bouts']} | {s['matched_steps']} | {100 * s['side_accuracy']:.2f} % "
            f"| {100 * s['no_side']:.1f} % | {s['swapped_bouts']} |"
        )
    d = df[df["decided"] & ~df["trial"].isin(SUSPECT)].copy()
    d["bin"] = pd.cut(d["confidence"], [0.5, 0.9, 0.95, 0.99, 0.999, 1.0])
    print("\nReliability of the side confidence (bouts given a side, 4-1/4-2 left out):")
    print("| confidence | bouts | mean confidence | steps right |")
    print("|---|---|---|---|")
    for b, g in d.groupby("bin", observed=True):
        acc = g["n_ok"].sum() / max(g["n_match"].sum(), 1)
        print(f"| {b} | {len(g)} | {g['confidence'].mean():.3f} | {100 * acc:.2f} % |")
    reasons = Counter(str(r).split(" (")[0] for r in df.loc[~df["decided"], "reason"])
    print(f"\nwhy no side: {dict(reasons)}")
    if args.json:
        payload = {"summary": summ, "align": al.to_dict("records")}
        args.json.write_text(json.dumps(payload, indent=1, default=lambda o: None
                                        if isinstance(o, float) and math.isnan(o) else str(o)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
