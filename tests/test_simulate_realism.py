"""Realism of the simulator against the mocap-derived reference signals (../shared/data).

Loose sanity bounds on the robust channels (docs/simulator.md has the full comparison and
figures): signs, magnitudes and stride shapes must look alike. Not a fit to the reference.
"""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data_dir
from gaitimu.simulate import SimConfig, simulate

TRIALS = {"walk": "gait2354_subject01_walk", "run": "rajagopal_run"}
GRID = np.linspace(0, 1, 101)


def _mean_stride(t, x, ic_left):
    rows = [np.interp(a + GRID * (b - a), t, x) for a, b in pairwise(ic_left) if b - a < 2.0]
    return np.mean(rows, axis=0)


def _nominal(acc, gyr, r):
    return acc @ r.T, gyr @ r.T


@pytest.mark.parametrize("activity", ["walk", "run"])
def test_simulated_strides_resemble_the_reference(activity):
    base = shared_data_dir("virtual_imu_dev", TRIALS[activity])
    tj = json.loads((base / "truth.json").read_text())
    d = pd.read_csv(base / "imu.csv")
    r = np.array(tj["mounting_misalignment"]["R_sensor_to_nominal"])
    acc, gyr = _nominal(d[["acc_x", "acc_y", "acc_z"]].to_numpy(),
                        d[["gyr_x", "gyr_y", "gyr_z"]].to_numpy(), r)
    t = d["t_s"].to_numpy()
    ic = np.array(tj["events"]["IC"]["left"])
    s = tj["summary"]
    sim = simulate(SimConfig(
        activity=activity, duration_s=40, seed=0, standing_s=3.0,
        cadence_spm=s["cadence_steps_per_min"], speed_mps=tj["speed_mps"]["estimated_from_markers"],
        cpd_left_deg=s["cpd_vs_standing_mean_deg"]["left"],
        cpd_right_deg=s["cpd_vs_standing_mean_deg"]["right"],
        standing_obliquity_deg=tj["obliquity"]["standing_obliquity_deg"],
        standing_tilt_deg=tj["checks"]["standing_accelerometer"]["pelvis_up_axis_to_vertical_standing_deg"],
    ))
    r_sim = np.array(sim.truth["misalignment"]["R_sensor_to_nominal"])
    acc_s, gyr_s = _nominal(sim.acc, sim.gyr, r_sim)
    ic_s = np.array([e["ic_s"] for e in sim.truth["events"] if e["side"] == "L"])[2:]
    for x_ref, x_sim, min_r in ((acc[:, 0], acc_s[:, 0], 0.85), (gyr[:, 0], gyr_s[:, 0], 0.5),
                                (gyr[:, 1], gyr_s[:, 1], 0.5), (acc[:, 2], acc_s[:, 2], 0.5)):
        a, b = _mean_stride(t, x_ref, ic), _mean_stride(sim.t_s, x_sim, ic_s)
        assert np.corrcoef(a, b)[0, 1] > min_r
        assert 0.5 < np.ptp(b) / np.ptp(a) < 2.0
    # Same standing reading and the same overall vertical level (mean specific force ~ g).
    assert acc_s[:, 0].mean() == pytest.approx(acc[:, 0].mean(), abs=0.4)
