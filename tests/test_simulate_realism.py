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


# ---------------------------------------------------------------- IC-locked timing (walking)
# Physics: at the sacrum the forward acceleration is propulsive through late single support
# and double support and turns to braking as soon as the leading heel strikes, so its peak
# lies just before IC; the vertical one rises steeply with the loading response right after
# IC. Real data put the forward peak ~10 ms before IC (IPOL, 19 subjects, foot-sensor events;
# the test below measures it) and the vertical peak 10-40 ms after.
LAGS_S = np.arange(-0.3, 0.3 + 1e-9, 0.001)


def _ic_locked_mean(t, x, ic_s):
    ic_s = ic_s[(ic_s + LAGS_S[0] >= t[0]) & (ic_s + LAGS_S[-1] <= t[-1])]
    return np.mean([np.interp(ic + LAGS_S, t, x) for ic in ic_s], axis=0)


def _sim_ic_locked(cadence_spm, seed):
    sim = simulate(SimConfig(activity="walk", duration_s=60, seed=seed, cadence_spm=cadence_spm,
                             speed_mps=1.3 * cadence_spm / 105, misalignment_random_deg=20))
    r = np.array(sim.truth["misalignment"]["R_sensor_to_nominal"])
    acc = sim.ideal["acc"] @ r.T  # nominal frame (up, right, forward)
    ic = np.array([e["ic_s"] for e in sim.truth["events"]])[2:]
    t = sim.ideal["t_s"]
    return _ic_locked_mean(t, acc[:, 2], ic), _ic_locked_mean(t, acc[:, 0], ic)


@pytest.mark.parametrize(("cadence_spm", "seed"), [(80, 0), (105, 1), (125, 2)])
def test_walking_acceleration_is_time_locked_to_initial_contact(cadence_spm, seed):
    fwd, up = _sim_ic_locked(cadence_spm, seed)
    t_fwd_peak = LAGS_S[np.argmax(fwd)]
    assert -0.060 <= t_fwd_peak <= 0.0, t_fwd_peak
    # Braking follows: the forward minimum within 50-200 ms after IC.
    assert 0.05 <= LAGS_S[np.argmin(fwd)] <= 0.20
    # Loading response: the vertical peak within 0-80 ms after IC, reached by a steep rise.
    t_up_peak = LAGS_S[np.argmax(up)]
    assert 0.0 <= t_up_peak <= 0.08, t_up_peak
    i0 = np.searchsorted(LAGS_S, -0.05)
    assert up.max() - up[i0] > 0.5 * np.ptp(up)


def _ipol_ic_locked(trials):
    """IC-locked mean forward and vertical acceleration of real IPOL walking (first pass)."""
    base = shared_data_dir("ipol_lowerback", "GaitData")
    lag_rows = np.rint(LAGS_S * 100).astype(int)[::10]  # 100 Hz rows, -30..+30
    fwd_rows, up_rows = [], []
    for name in trials:
        meta = json.loads((base / f"{name}.json").read_text())
        d = pd.read_csv(base / f"{name}_lb.txt", sep="\t", skiprows=1)
        # Axis map x=up, y=left, z=backward -> (up, right, forward); rows are 100 Hz.
        acc = d[["Acc_X", "Acc_Y", "Acc_Z"]].to_numpy() * np.array([1.0, -1.0, -1.0])
        start, _ = meta["TrialBoundaries"]
        u_turn = meta["UTurnBoundaries"][0]
        up = acc[start:u_turn].mean(axis=0)  # mean specific force over walking = vertical
        up /= np.linalg.norm(up)
        fwd = np.array([0.0, 0.0, 1.0]) - up[2] * up
        fwd /= np.linalg.norm(fwd)
        for steps in (meta["LeftFootEvents"], meta["RightFootEvents"]):
            ic = np.array(steps)[:, 1]  # [toe-off, heel strike] per footstep
            ic = ic[(ic > start + 100) & (ic < u_turn - 60)]  # skip gait initiation
            for i in ic.tolist():
                fwd_rows.append(acc[i + lag_rows] @ fwd)
                up_rows.append(acc[i + lag_rows] @ up)
    return lag_rows / 100.0, np.mean(fwd_rows, axis=0), np.mean(up_rows, axis=0), len(fwd_rows)


def test_walking_ic_timing_matches_real_lower_back_data():
    trials = [f"{s}-1" for s in range(1, 20)]
    lags, fwd_real, up_real, n = _ipol_ic_locked(trials)
    assert n > 150
    # The real forward peak lies just before IC (this is where the 0..60 ms bound comes from).
    t_real = lags[np.argmax(fwd_real)]
    assert -0.060 <= t_real <= 0.0
    fwd_sim, up_sim = _sim_ic_locked(105, 3)
    sub = np.rint(lags * 1000).astype(int) + 300  # the 10 ms lags on the 1 ms grid
    assert abs(LAGS_S[np.argmax(fwd_sim)] - t_real) <= 0.025
    assert abs(LAGS_S[np.argmax(up_sim)] - lags[np.argmax(up_real)]) <= 0.030
    # Same shape around IC (means removed: the real one carries some gravity from trunk lean).
    assert np.corrcoef(fwd_sim[sub], fwd_real)[0, 1] > 0.8
    assert np.corrcoef(up_sim[sub], up_real)[0, 1] > 0.8
