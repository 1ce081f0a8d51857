"""Gait bouts: standing excluded, non-gait movement excluded, walk/run, separate bouts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gaitimu.analysis.bouts import BOUT_COLUMNS, StepSettings, empty_bouts, find_steps
from gaitimu.analysis.events import EventSettings, detect_events
from gaitimu.consts import G
from test_events import BODY, synthetic_walk


def test_empty_bouts_columns_and_dtypes():
    b = empty_bouts()
    assert list(b.columns) == list(BOUT_COLUMNS)
    assert b["start_s"].dtype == np.float64 and b["n_steps"].dtype == np.int64


def test_two_walks_separated_by_standing_are_two_bouts():
    a, ic_a, _ = synthetic_walk(n_steps=16, trailing_s=4.0, seed=1)
    b, ic_b, _ = synthetic_walk(n_steps=16, standing_s=0.5, seed=2)
    dt = 1 / 100.0
    b["t_s"] += a["t_s"].iloc[-1] + dt
    both = pd.concat([a, b], ignore_index=True)
    res = detect_events(both, sampling_rate_hz=100.0)
    assert len(res.bouts) == 2
    assert (res.bouts["activity"] == "walk").all()
    assert res.bouts["n_steps"].between(14, 16).all()
    # the standing between the bouts holds no events
    gap = (res.events["ic_s"] > ic_a[-1] + 0.3) & (
        res.events["ic_s"] < b["t_s"].iloc[0] + ic_b[0] - 0.3
    )
    assert not gap.any()


def test_non_gait_movement_is_not_gait():
    """Discrete movements (sit-to-stand, reaching, shifting weight): large, but no rhythm."""
    rng = np.random.default_rng(42)
    fs, n = 100.0, 9000
    t = np.arange(n) / fs
    body = pd.DataFrame({c: rng.normal(0, 0.03, n) for c in BODY})
    body["acc_is"] += G
    onset = 2.0
    while onset < t[-1] - 3:
        dur = rng.uniform(0.8, 2.5)
        m = (t >= onset) & (t < onset + dur)
        u = (t[m] - onset) / dur
        shape = np.sin(np.pi * u) ** 2 * np.sin(2 * np.pi * u * rng.uniform(1, 3))
        for c, amp in (("acc_is", 4.0), ("acc_pa", 3.0), ("acc_ml", 2.0), ("gyr_pa", 40.0)):
            body.loc[m, c] += amp * rng.uniform(0.5, 1.0) * shape
        onset += dur + rng.uniform(0.5, 4.0)
    assert body["acc_is"].std() > 0.5  # as lively as walking
    res = detect_events(body, sampling_rate_hz=fs)
    assert res.bouts.empty and res.events.empty


@pytest.mark.parametrize("activity", ["walk", "run"])
def test_walk_run_classification_on_simulated_sessions(activity):
    simulate_mod = pytest.importorskip("gaitimu.simulate")
    from gaitimu.analysis.conditioning import resample_uniform
    from gaitimu.analysis.orientation import align_to_pelvis

    sim = simulate_mod.simulate(simulate_mod.SimConfig(activity=activity, duration_s=30, seed=3))
    fs = float(sim.sample_rate_hz)
    u = resample_uniform(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=fs)
    body = align_to_pelvis(u.t_s, u.acc, u.gyr, sampling_rate_hz=fs).body
    res = detect_events(body, sampling_rate_hz=fs)
    assert len(res.bouts) == 1
    assert res.bouts["activity"].iloc[0] == activity
    expected_cadence = 105.0 if activity == "walk" else 165.0  # simulator defaults
    assert res.bouts["cadence_spm"].iloc[0] == pytest.approx(expected_cadence, rel=0.08)


def test_turn_steps_are_flagged():
    simulate_mod = pytest.importorskip("gaitimu.simulate")
    from gaitimu.analysis.conditioning import resample_uniform
    from gaitimu.analysis.orientation import align_to_pelvis

    sim = simulate_mod.simulate(
        simulate_mod.SimConfig(activity="walk", duration_s=45, seed=5, turn_every_s=12.0)
    )
    fs = float(sim.sample_rate_hz)
    u = resample_uniform(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=fs)
    body = align_to_pelvis(u.t_s, u.acc, u.gyr, sampling_rate_hz=fs).body
    ev = detect_events(body, sampling_rate_hz=fs).events
    assert ev["turn"].any()
    assert not ev["turn"].all()
    # steps in turns are less certain
    assert ev.loc[ev["turn"], "confidence"].mean() < ev.loc[~ev["turn"], "confidence"].mean()


def test_activity_change_inside_a_bout_splits_it():
    """Treadmill speeding up: 10 walking steps, then 12 running steps with flight, no stop."""
    from gaitimu.analysis.bouts import _split_by_activity

    fs = 100.0
    walk = np.arange(10) * 55
    run = walk[-1] + 40 + np.arange(12) * 36
    anchors = np.concatenate([walk, run]) + 100
    acc = np.full(anchors[-1] + 200, G)
    acc[anchors] = 1.6 * G  # loading peaks
    acc[(run[:-1] + 100 + 18)] = 0.05 * G  # flight between running steps
    bout, activity = _split_by_activity(anchors, np.zeros(anchors.size, int), acc, fs, StepSettings())
    assert activity == ["walk", "run"]
    assert list(bout[:10]) == [0] * 10 and list(bout[11:]) == [1] * 11


def test_walking_then_running_without_stop():
    simulate_mod = pytest.importorskip("gaitimu.simulate")
    from gaitimu.analysis.conditioning import resample_uniform
    from gaitimu.analysis.orientation import align_to_pelvis

    parts = []
    for activity, seed, standing in (("walk", 1, 5.0), ("run", 2, 0.0)):
        sim = simulate_mod.simulate(
            simulate_mod.SimConfig(activity=activity, duration_s=25, seed=seed, standing_s=standing)
        )
        u = resample_uniform(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=200.0)
        parts.append((u, sim))
    (uw, sw), (ur, sr) = parts
    t = np.concatenate([uw.t_s, ur.t_s + uw.t_s[-1] + 0.005])
    acc = np.concatenate([uw.acc, ur.acc])
    gyr = np.concatenate([uw.gyr, ur.gyr])
    body = align_to_pelvis(t, acc, gyr, sampling_rate_hz=200.0).body
    res = detect_events(body, sampling_rate_hz=200.0)
    assert list(res.bouts["activity"]) == ["walk", "run"]
    n_walk = len(sw.truth["events"])
    n_run = len(sr.truth["events"])
    got = res.bouts.set_index("activity")["n_steps"]
    # a few steps at the abrupt junction may be lost, none invented
    assert n_walk - 4 <= got["walk"] <= n_walk + 1
    assert n_run - 4 <= got["run"] <= n_run + 1


@pytest.mark.parametrize("seed", range(5))
def test_own_find_peaks_agrees_with_scipy(seed):
    """Our scipy-free peak finder finds the same dominant peaks as scipy.signal.find_peaks."""
    signal = pytest.importorskip("scipy.signal")
    from gaitimu.analysis.filters import find_peaks, lowpass

    rng = np.random.default_rng(seed)
    fs = 50.0
    t = np.arange(int(60 * fs)) / fs
    step_s = rng.uniform(0.35, 0.8)
    x = np.sin(2 * np.pi * t / step_s) + 0.4 * np.sin(4 * np.pi * t / step_s + 1.0)
    x = lowpass(x + rng.normal(0, 0.3, t.size), 4.0, sampling_rate_hz=fs, order=2)
    dist, wlen = int(0.6 * step_s * fs), int(2 * step_s * fs)
    ours, prom = find_peaks(x, distance=dist, wlen=wlen)
    ref, props = signal.find_peaks(x, distance=dist, prominence=0.0, wlen=wlen)
    big_ours = set(ours[prom >= 0.3 * np.percentile(prom, 75)])
    big_ref = set(ref[props["prominences"] >= 0.3 * np.percentile(props["prominences"], 75)])
    assert len(big_ours ^ big_ref) <= max(1, 0.02 * len(big_ref))
    common = np.array(sorted(big_ours & big_ref))
    np.testing.assert_allclose(
        prom[np.searchsorted(ours, common)],
        props["prominences"][np.searchsorted(ref, common)],
        atol=1e-9,
    )


@pytest.mark.parametrize("amp", [0.9, 0.35])  # 0.35: below the bout-extension threshold
def test_closing_step_of_a_stop_is_found(amp):
    """Gait termination: the trailing foot lands next to the other with a soft contact (a
    vertical bump a fraction of a normal step's), then the walker stands. That contact is a
    step (opposite side), and the stance before it has no final contact (the foot stays)."""
    body, ic, sides = synthetic_walk(n_steps=16, trailing_s=4.0, seed=3)
    t = body["t_s"].to_numpy()
    t_close = ic[-1] + 0.55
    close = amp * np.exp(-0.5 * ((t - t_close - 0.03) / 0.04) ** 2)
    close -= 0.4 * amp * np.exp(-0.5 * ((t - t_close - 0.15) / 0.05) ** 2)
    plain = detect_events(body, sampling_rate_hz=100.0).events
    body["acc_is"] += close
    ev = detect_events(body, sampling_rate_hz=100.0).events
    assert len(ev) == len(plain) + 1
    last = ev.iloc[-1]
    assert abs(last["ic_s"] - t_close) < 0.1
    assert last["side"] != sides[-1]
    assert np.isnan(ev.iloc[-2]["fc_s"])
    # a walk that runs into the end of the recording has no closing step: every stance but
    # the last has its final contact
    body2, _, _ = synthetic_walk(n_steps=16, trailing_s=0.3, seed=3)
    ev2 = detect_events(body2, sampling_rate_hz=100.0).events
    assert np.isfinite(ev2["fc_s"].iloc[:-1]).all()


@pytest.mark.parametrize("n_steps", [2, 3])
def test_short_walk_from_rest_is_gait(n_steps):
    """Walks of 2-3 steps that alternate like two legs and start from rest are found
    (issue 11); the same vertical rhythm with the medio-lateral axis moving in phase (no
    left/right alternation: a discrete movement) is not."""
    from test_events import synthetic_walk

    body, ic, _ = synthetic_walk(n_steps=n_steps, seed=4, standing_s=3.0, trailing_s=2.0)
    res = detect_events(body, sampling_rate_hz=100.0)
    found = [np.min(np.abs(res.events["ic_s"].to_numpy() - x)) <= 0.1 for x in ic]
    assert sum(found) >= n_steps - 1
    # no alternation: the medio-lateral acceleration and the roll follow the vertical
    # acceleration, step after step
    same = body.copy()
    same["acc_ml"] = (same["acc_is"] - G) * 0.5
    same["gyr_pa"] = (same["acc_is"] - G) * 8.0
    assert detect_events(same, sampling_rate_hz=100.0).events.empty



def test_step_settings_defaults_are_the_module_constants_and_frozen():
    import dataclasses

    from gaitimu.analysis import bouts

    cfg = StepSettings()
    for f in dataclasses.fields(cfg):
        assert getattr(cfg, f.name) == getattr(bouts, f.name.upper()), f.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.min_bout_steps = 2  # type: ignore[misc]
    assert hash(cfg) == hash(StepSettings()) and cfg == StepSettings()
    assert StepSettings(min_bout_steps=6) != cfg


def test_caller_step_settings_take_effect():
    """A stricter bout length drops a walk the defaults keep: 3 steps need the short-walk
    test (`min_short_bout_steps`), 8 steps the bout length (`min_bout_steps`)."""
    for n_steps, stricter in ((3, StepSettings(min_short_bout_steps=4)),
                              (8, StepSettings(min_bout_steps=10, min_short_bout_steps=10))):
        body, _, _ = synthetic_walk(n_steps=n_steps, seed=4, standing_s=3.0, trailing_s=2.0)
        default = find_steps(body, sampling_rate_hz=100.0)
        assert default.anchors.size >= n_steps - 1
        assert find_steps(body, sampling_rate_hz=100.0, settings=stricter).anchors.size == 0
        # through the event detector too
        res = detect_events(body, sampling_rate_hz=100.0, settings=EventSettings(steps=stricter))
        assert res.events.empty
