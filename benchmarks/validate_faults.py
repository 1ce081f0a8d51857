"""Faults that change numbers: data gaps, noise and clipping (issue 17; docs/reliability.md).

    python benchmarks/validate_faults.py            # ~1 min on 2 cores

1. **Gaps.** Simulated 120 s walks and runs with 5 s of standing (online filter) and without
   (offline filter), symmetric CPD 3/3 deg; holes of 0.15, 0.5, 2 and 5 s cut out at 30 s.
   Per stance matched to the undamaged session (nearest IC, <= 30 ms): the largest CPD
   difference of the stances valid in both, in the 10 s after the hole and later, and how
   many stances were made invalid (with their reasons).
2. **Noise.** 300 recordings of Gaussian noise (with gravity) of several amplitudes: what
   `analyze` says.
3. **Clipping.** A simulated walk and run clipped at +-2 g and at +-20 deg/s.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from gaitimu.errors import GaitimuError
from gaitimu.pipeline import analyze
from gaitimu.simulate import SimConfig, simulate

FS = 200.0


def _analyze(t, acc, gyr, activity):
    return analyze(t, acc, gyr, sampling_rate_hz=FS, activity=activity)


def gaps(seeds=(1, 2)) -> pd.DataFrame:
    rows = []
    for activity in ("walk", "run"):
        for standing in (5.0, 0.0):
            for seed in seeds:
                sim = simulate(SimConfig(activity=activity, duration_s=120.0, seed=seed,
                                         cpd_left_deg=3.0, cpd_right_deg=3.0,
                                         standing_s=standing))
                ref = _analyze(sim.t_s, sim.acc, sim.gyr, activity).strides
                col = "cpd_standing_deg" if standing else "cpd_ic_deg"
                for length in (0.15, 0.5, 2.0, 5.0):
                    keep = ~((sim.t_s >= 30.0) & (sim.t_s < 30.0 + length))
                    dam = _analyze(sim.t_s[keep], sim.acc[keep], sim.gyr[keep], activity)
                    m = pd.merge_asof(ref.sort_values("ic_s"), dam.strides.sort_values("ic_s"),
                                      on="ic_s", direction="nearest", tolerance=0.03,
                                      suffixes=("", "_d"))
                    end = 30.0 + length
                    both = m[m["valid"] & m["valid_d"].eq(True)]
                    d = (both[col] - both[col + "_d"]).abs()
                    near = d[(both.ic_s > end) & (both.ic_s <= end + 10)]
                    far = d[both.ic_s > end + 10]
                    lost = m[m["valid"] & ~m["valid_d"].eq(True)]
                    rows.append({
                        "activity": activity, "filter": "online" if standing else "offline",
                        "seed": seed, "hole_s": length,
                        "next_10s_max_deg": round(float(near.max()), 3) if len(near) else None,
                        "later_max_deg": round(float(far.max()), 3),
                        "valid_ref": int(m["valid"].sum()),
                        "made_invalid": len(lost),
                        "settling": int((lost["invalid_reason_d"] ==
                                         "orientation settling after a data gap").sum()),
                    })
    return pd.DataFrame(rows)


def noise(n: int = 300) -> pd.DataFrame:
    """`n` 120 s recordings of Gaussian noise (with gravity), amplitudes cycling through
    acc SD 0.5-5 m/s^2 and gyro SD 5-100 deg/s: what `analyze` says."""
    rows = []
    for seed in range(n):
        rng = np.random.default_rng(seed + 1000)
        sd_acc, sd_gyr = (0.5, 1.0, 2.0, 3.0, 5.0)[seed % 5], (5.0, 30.0, 100.0)[seed % 3]
        m = 120 * 100
        acc = np.array([9.81, 0, 0]) + rng.normal(0, sd_acc, (m, 3))
        gyr = rng.normal(0, sd_gyr, (m, 3))
        try:
            r = analyze(np.arange(m) / 100.0, acc, gyr, sampling_rate_hz=100.0)
            sided = sum(r.info["n_strides"].values())
            out = "gait, stances with a side" if sided else "gait, but no stance has a side"
        except GaitimuError as e:
            out = f"exit {e.exit_code}: " + ("no gait rhythm" if "rhythm" in str(e) else
                                            str(e)[:40])
        rows.append({"acc_sd": sd_acc, "gyr_sd": sd_gyr, "result": out})
    return pd.DataFrame(rows).value_counts(["result"]).rename("recordings").reset_index()


def clipping() -> pd.DataFrame:
    rows = []
    for activity in ("walk", "run"):
        sim = simulate(SimConfig(activity=activity, duration_s=60.0, seed=4,
                                 cpd_left_deg=3.0, cpd_right_deg=3.0))
        for acc_g, gyr_dps in ((None, None), (2.0, None), (None, 20.0), (None, 250.0)):
            acc = sim.acc if acc_g is None else np.clip(sim.acc, -acc_g * 9.80665,
                                                         acc_g * 9.80665)
            gyr = sim.gyr if gyr_dps is None else np.clip(sim.gyr, -gyr_dps, gyr_dps)
            try:
                r = _analyze(sim.t_s, acc, gyr, activity)
                g = r.strides[r.strides.valid]
                cpd = g.groupby("side")["cpd_standing_deg"].mean().round(2).to_dict()
                sat = ", ".join(sorted(r.info["alignment"].get("saturation", {})))
                out = f"CPD {cpd}; saturated: {sat or '-'}"
            except GaitimuError as e:
                out = f"exit {e.exit_code}: {str(e)[:100]}"
            rows.append({"activity": activity, "acc_range_g": acc_g, "gyr_range_dps": gyr_dps,
                         "result": out})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args()
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 120)
    print(gaps().to_string(index=False), end="\n\n")
    print(noise().to_string(index=False), end="\n\n")
    print(clipping().to_string(index=False))


if __name__ == "__main__":
    main()
