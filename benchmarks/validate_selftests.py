"""Self-tests against simulator ground truth: simulate -> analyze over a grid of drops, sway,
mounting misalignment, packet loss and seeds; prints per condition how many holds or reps
were found and how far their numbers are from the truth (docs/VALIDATION.md, "Self-tests").

    .venv/bin/python benchmarks/validate_selftests.py [--seeds 3] [--quick]

Single-leg stance (``--touchdown-at 10``: an early touch-down in the first hold, on the left
leg): drop of each hold (``drop_mean_deg`` - truth), hold time, early touch-downs found /
missed / invented. Single-leg squat: drop at the bottom and depth of each rep. The truth is
the simulator's (``truth.json`` ``self_test``: drops realised in the true obliquity, the
sacrum's true height); the limits of docs/self_tests.md are 0.5 deg / 0.2 s (stance) and
1 deg / 10 % (squats).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from gaitimu.pipeline import analyze
from gaitimu.simulate import SimConfig, simulate

#: (cpd_left_deg, cpd_right_deg): the drop while standing on each leg
DROPS = ((0.0, 0.0), (1.0, 6.0), (3.0, 3.0), (8.0, 2.0))
SWAY_DEG = (0.15, 0.3, 0.6)
MISALIGN_DEG = (0.0, 10.0, 20.0, 30.0)


def _run(activity: str, seed: int, left: float, right: float, sway: float, mis: float,
         loss: float) -> list[dict]:
    kw = {"touchdown_at_s": 10.0} if activity == "single-leg-stance" else {}
    sim = simulate(SimConfig(activity=activity, cpd_left_deg=left, cpd_right_deg=right,
                             sway_deg=sway, misalignment_random_deg=mis, packet_loss=loss,
                             seed=seed, **kw))
    st = sim.truth["self_test"]
    res = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=sim.sample_rate_hz,
                  activity=activity, protocol=st["protocol"])
    tests = res.tests
    base = {"seed": seed, "left": left, "right": right, "sway": sway, "mis": mis,
            "loss": loss, "heading_deg": res.info["self_tests"]["heading"]["applied_deg"]}
    rows = []
    if activity == "single-leg-stance":
        for h in st["holds"]:
            got = tests[tests["stance_side"] == h["stance_side"]]
            row = {**base, "side": h["stance_side"], "found": len(got) == 1}
            if len(got) == 1:
                g = got.iloc[0]
                row.update(valid=bool(g["valid"]),
                           drop_err=g["drop_mean_deg"] - h["drop_mean_deg"],
                           worst_err=g["drop_worst_deg"] - h["drop_worst_deg"],
                           hold_err=g["hold_s"] - h["hold_s"],
                           td_true=len(h["touchdowns"]), td_found=int(g["touchdowns"]))
            rows.append(row)
    else:
        for r in st["reps"]:
            got = tests[(tests["stance_side"] == r["stance_side"])
                        & ((tests["bottom_s"] - r["bottom_s"]).abs() < 0.5)]
            row = {**base, "side": r["stance_side"], "found": len(got) == 1}
            if len(got) == 1:
                g = got.iloc[0]
                row.update(valid=bool(g["valid"]),
                           drop_err=g["drop_bottom_deg"] - r["drop_bottom_deg"],
                           depth_rel_err=g["depth_m"] / r["depth_m"] - 1.0,
                           start_err=g["start_s"] - r["start_s"],
                           end_err=g["end_s"] - r["end_s"])
            rows.append(row)
        rows.append({**base, "side": "extra", "found": False,
                     "extra": len(tests) - len(st["reps"])})
    return rows


def _table(df: pd.DataFrame, by: str, activity: str) -> pd.DataFrame:
    real = df[df["side"] != "extra"]
    g = real.groupby(by)
    out = pd.DataFrame({
        "n": g.size(),
        "found %": 100 * g["found"].mean(),
        "valid %": 100 * g["valid"].mean(),
        "drop err median |.|": g["drop_err"].apply(lambda x: x.abs().median()),
        "drop err max |.|": g["drop_err"].apply(lambda x: x.abs().max()),
        "drop bias": g["drop_err"].mean(),
    })
    if activity == "single-leg-stance":
        out["hold err max |.| s"] = g["hold_err"].apply(lambda x: x.abs().max())
        tdf = real[real["td_true"] > 0].groupby(by)
        out["touch-downs found"] = (tdf["td_found"].apply(lambda x: (x > 0).sum()).astype(str)
                                    + "/" + tdf.size().astype(str))
        out["invented"] = g.apply(lambda x: int(((x["td_found"] > x["td_true"])).sum()),
                                  include_groups=False)
    else:
        out["depth err max |.| %"] = 100 * g["depth_rel_err"].apply(lambda x: x.abs().max())
        out["depth bias %"] = 100 * g["depth_rel_err"].mean()
        out["start/end err max |.| s"] = g.apply(
            lambda x: max(x["start_err"].abs().max(), x["end_err"].abs().max()),
            include_groups=False)
        extra = df[df["side"] == "extra"].groupby(by)["extra"].sum()
        out["extra rows"] = extra.reindex(out.index).fillna(0).astype(int)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one seed, fewer conditions")
    args = ap.parse_args()
    seeds = range(1 if args.quick else args.seeds)
    pd.set_option("display.width", 200)
    t0 = time.perf_counter()
    for activity in ("single-leg-stance", "single-leg-squat"):
        rows: list[dict] = []
        for seed in seeds:
            for left, right in DROPS:  # typical sway, no misalignment
                rows += _run(activity, seed, left, right, 0.3, 0.0, 0.0)
            for sway in SWAY_DEG:
                if sway != 0.3:  # (0.3: in the drops above)
                    rows += _run(activity, seed, 1.0, 6.0, sway, 0.0, 0.0)
            for mis in MISALIGN_DEG:
                rows += _run(activity, seed, 1.0, 6.0, 0.3, mis, 0.02)
        df = pd.DataFrame(rows)
        typical = df[(df["sway"] == 0.3) & (df["mis"] == 0.0) & (df["loss"] == 0.0)]
        print(f"\n## {activity}: {len(seeds)} seed(s)\n")
        print("By drop (left, right), sway 0.3 deg, aligned:")
        print(_table(typical.assign(drops=typical["left"].astype(str) + "/"
                                    + typical["right"].astype(str)), "drops", activity)
              .round(3).to_string())
        sway = df[(df["left"] == 1.0) & (df["right"] == 6.0) & (df["mis"] == 0.0)
                  & (df["loss"] == 0.0)]
        print("\nBy sway SD (deg), drops 1/6:")
        print(_table(sway, "sway", activity).round(3).to_string())
        mis = df[df["loss"] > 0]
        print("\nBy misalignment (deg, random axis) with 2 % packet loss, drops 1/6:")
        print(_table(mis, "mis", activity).round(3).to_string())
        print("heading applied (deg, |.| median by misalignment):",
              mis.groupby("mis")["heading_deg"].apply(lambda x: x.abs().median()).round(1)
              .to_dict())
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
