"""Gait events (IC, FC, side): known answers, invariances, robustness, reference data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data_dir
from gaitimu.analysis.bouts import StepSettings
from gaitimu.analysis.events import (
    EVENT_COLUMNS,
    EventDetector,
    EventSettings,
    GaitEvents,
    _viterbi_sides,
    detect_events,
)
from gaitimu.consts import G
from gaitimu.errors import BadInputError

BODY = ("acc_is", "acc_ml", "acc_pa", "gyr_is", "gyr_ml", "gyr_pa")


def _bump(t: np.ndarray, centre: np.ndarray, width_s: float) -> np.ndarray:
    """Sum of Gaussian bumps (one per centre), shape (n,)."""
    return (
        np.exp(-(((t[:, None] - centre[None, :]) / width_s) ** 2)).sum(axis=1)
        if centre.size
        else 0 * t
    )


def synthetic_walk(
    fs: float = 100.0,
    *,
    standing_s: float = 3.0,
    n_steps: int = 30,
    step_s: float = 0.55,
    first_side: str = "L",
    seed: int = 0,
    trailing_s: float = 2.0,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Body-frame walking with known ICs and sides, built from the documented relations.

    Vertical acceleration peaks 50 ms after each IC (loading response), forward acceleration
    peaks 20 ms before IC and drops (braking), the swing-side hemipelvis drops in early stance
    (roll rate > 0 after a LEFT IC), the pelvis is pushed towards the other side in stance.
    """
    rng = np.random.default_rng(seed)
    dur = standing_s + n_steps * step_s + trailing_s
    t = np.arange(int(dur * fs)) / fs
    jitter = rng.normal(0, 0.01, n_steps)
    ic = standing_s + np.arange(n_steps) * step_s + jitter
    sign = np.where((np.arange(n_steps) % 2 == 0) == (first_side == "L"), 1.0, -1.0)
    left, right = ic[sign > 0], ic[sign < 0]
    acc_is = G + 3.0 * _bump(t, ic + 0.05, 0.035) - 1.5 * _bump(t, ic + 0.28, 0.09)
    acc_pa = 2.0 * _bump(t, ic - 0.02, 0.05) - 3.0 * _bump(t, ic + 0.07, 0.04)
    gyr_pa = 25 * (_bump(t, left + 0.08, 0.05) - _bump(t, right + 0.08, 0.05))
    gyr_pa -= 12 * (_bump(t, left + 0.33, 0.09) - _bump(t, right + 0.33, 0.09))
    acc_ml = 1.0 * (_bump(t, left + 0.25, 0.12) - _bump(t, right + 0.25, 0.12))
    gyr_is = 15 * (_bump(t, left + 0.3, 0.15) - _bump(t, right + 0.3, 0.15))
    gyr_ml = 10 * (_bump(t, ic + 0.1, 0.06) - _bump(t, ic + 0.3, 0.08))
    sig = {
        "acc_is": acc_is,
        "acc_ml": acc_ml,
        "acc_pa": acc_pa,
        "gyr_is": gyr_is,
        "gyr_ml": gyr_ml,
        "gyr_pa": gyr_pa,
    }
    body = pd.DataFrame({"t_s": t})
    for k, v in sig.items():
        noise = 0.05 if k.startswith("acc") else 0.5
        body[k] = v + rng.normal(0, noise, t.size)
    sides = np.where(sign > 0, "L", "R")
    return body, ic, sides


def _match(ref: np.ndarray, det: np.ndarray, tol: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    d = np.abs(ref[:, None] - det[None, :])
    j = np.argmin(d, axis=1)
    ok = d[np.arange(ref.size), j] <= tol
    return np.flatnonzero(ok), j[ok]


# --------------------------------------------------------------------------- known answers
def test_synthetic_walk_known_ics_and_sides():
    body, ic, sides = synthetic_walk()
    res = detect_events(body, sampling_rate_hz=100.0)
    ev = res.events
    assert list(ev.columns) == list(EVENT_COLUMNS)
    r, c = _match(ic, ev["ic_s"].to_numpy())
    assert r.size >= ic.size - 2  # first/last step may be lost at bout edges
    assert len(ev) <= ic.size
    err = ev["ic_s"].to_numpy()[c] - ic[r]
    assert np.median(np.abs(err)) < 0.02
    assert np.mean(ev["side"].to_numpy()[c] == sides[r]) == 1.0
    assert set(ev["activity"]) == {"walk"}
    assert len(res.bouts) == 1
    cad = res.bouts["cadence_spm"].iloc[0]
    assert cad == pytest.approx(60 / 0.55, rel=0.05)
    # next_ic_s = next IC of any foot; fc after the next IC; last contact has no next IC
    nxt = ev["next_ic_s"].to_numpy()
    np.testing.assert_allclose(nxt[:-1], ev["ic_s"].to_numpy()[1:])
    assert np.isnan(nxt[-1])
    ok = np.isfinite(ev["fc_s"])
    assert np.all(ev["fc_s"][ok] > ev["next_ic_s"][ok])
    assert ev["confidence"].between(0, 1).all()


def test_first_side_right_is_found():
    body, ic, sides = synthetic_walk(first_side="R", seed=3)
    ev = detect_events(body, sampling_rate_hz=100.0).events
    r, c = _match(ic, ev["ic_s"].to_numpy())
    assert np.mean(ev["side"].to_numpy()[c] == sides[r]) == 1.0


def test_mirroring_ml_swaps_left_and_right():
    """Reflection across the sagittal plane: acc_ml, gyr_is, gyr_pa change sign."""
    body, _ic, _ = synthetic_walk(seed=1)
    mirrored = body.copy()
    for col in ("acc_ml", "gyr_is", "gyr_pa"):
        mirrored[col] = -mirrored[col]
    a = detect_events(body, sampling_rate_hz=100.0).events
    b = detect_events(mirrored, sampling_rate_hz=100.0).events
    np.testing.assert_allclose(a["ic_s"], b["ic_s"])
    swap = {"L": "R", "R": "L"}
    assert list(b["side"]) == [swap[s] for s in a["side"]]


@pytest.mark.parametrize("fs", [50.0, 400.0])
def test_sampling_rates(fs):
    body, ic, sides = synthetic_walk(fs=fs, seed=2)
    ev = detect_events(body, sampling_rate_hz=fs).events
    r, c = _match(ic, ev["ic_s"].to_numpy())
    assert r.size >= ic.size - 2
    assert np.median(np.abs(ev["ic_s"].to_numpy()[c] - ic[r])) < 0.025
    assert np.mean(ev["side"].to_numpy()[c] == sides[r]) == 1.0


# --------------------------------------------------------------------------- robustness
def test_standing_only_gives_empty_typed_tables():
    rng = np.random.default_rng(0)
    n = 3000
    body = pd.DataFrame({c: rng.normal(0, 0.03, n) for c in BODY})
    body["acc_is"] += G
    res = detect_events(body, sampling_rate_hz=100.0)
    assert isinstance(res, GaitEvents)
    assert res.events.empty and res.bouts.empty
    assert list(res.events.columns) == list(EVENT_COLUMNS)
    assert res.events["ic_s"].dtype == np.float64
    assert res.events["bout_id"].dtype == np.int64
    assert res.events["turn"].dtype == bool
    assert res.bouts["n_steps"].dtype == np.int64


def test_turn_on_the_spot_makes_no_steps():
    """A 180-degree turn without stepping rhythm (yaw 90 deg/s for 2 s) adds no steps."""
    body, ic, _ = synthetic_walk(n_steps=20, trailing_s=6.0, seed=4)
    fs = 100.0
    t = body["t_s"].to_numpy()
    t_turn = ic[-1] + 1.5
    in_turn = (t > t_turn) & (t < t_turn + 2.0)
    body.loc[in_turn, "gyr_is"] += 90.0
    body.loc[in_turn, "acc_ml"] += 0.5 * np.sin(2 * np.pi * 0.5 * (t[in_turn] - t_turn))
    ev = detect_events(body, sampling_rate_hz=fs).events
    assert not (ev["ic_s"] > ic[-1] + 0.3).any()


def test_missing_columns_is_bad_input():
    with pytest.raises(BadInputError, match="acc_pa"):
        detect_events(pd.DataFrame({"acc_is": np.zeros(10)}), sampling_rate_hz=100.0)
    with pytest.raises(BadInputError):
        detect_events("not a frame", sampling_rate_hz=100.0)  # type: ignore[arg-type]


def test_short_input_is_empty_not_error():
    body = pd.DataFrame({c: np.zeros(20) for c in BODY})
    res = detect_events(body, sampling_rate_hz=100.0)
    assert res.events.empty


def test_class_wrapper_returns_self_and_uses_its_parameters():
    body, _, _ = synthetic_walk(seed=5)
    det = EventDetector()
    assert det.detect(body, sampling_rate_hz=100.0) is det
    assert len(det.events_) > 0 and len(det.bouts_) == 1
    later = EventDetector(settings=EventSettings(ic_ap_lag_s=0.05)).detect(
        body, sampling_rate_hz=100.0)
    np.testing.assert_allclose(later.events_["ic_s"] - det.events_["ic_s"], 0.03, atol=1e-9)


def test_event_settings_defaults_are_the_module_constants_and_frozen():
    import dataclasses
    import pickle

    from gaitimu.analysis import events as ev_mod

    cfg = EventSettings()
    for f in dataclasses.fields(cfg):
        if f.name != "steps":
            assert getattr(cfg, f.name) == getattr(ev_mod, f.name.upper()), f.name
    assert cfg.steps == StepSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.double_support_fraction = 0.3  # type: ignore[misc]
    assert hash(cfg) == hash(EventSettings()) and cfg == EventSettings()
    assert len({cfg, EventSettings(), EventSettings(side_min_margin=2.0)}) == 2
    assert pickle.loads(pickle.dumps(cfg)) == cfg  # e.g. to worker processes


def test_caller_event_settings_take_effect():
    """A caller's settings reach the detector, its step finder and the stage chain."""
    from gaitimu.stages import gait_events

    body, _, _ = synthetic_walk(seed=5)
    plain = detect_events(body, sampling_rate_hz=100.0)
    # a longer double support: every walking FC later by 0.1 step time
    longer = detect_events(body, sampling_rate_hz=100.0,
                           settings=EventSettings(double_support_fraction=0.325))
    d = (longer.events["fc_s"] - plain.events["fc_s"]).dropna()
    assert len(d) == plain.events["fc_s"].notna().sum() > 20
    np.testing.assert_allclose(d, 0.1 * plain.info["median_step_s"], atol=0.011)
    # an unreachable margin: the bout keeps no sides
    strict = detect_events(body, sampling_rate_hz=100.0,
                           settings=EventSettings(side_min_margin=1e6))
    assert (plain.events["side"] != "").all() and (strict.events["side"] == "").all()
    # the step finder's settings: bouts (and short walks) of at least 40 steps leave this
    # walk of 30 out
    long_bouts = EventSettings(steps=StepSettings(min_bout_steps=40, min_short_bout_steps=40))
    assert detect_events(body, sampling_rate_hz=100.0, settings=long_bouts).events.empty
    # ... also through the stage chain (`stages.gait_events`)
    bridged = np.ones(len(body), dtype=bool)
    assert len(gait_events(body, bridged, sampling_rate_hz=100.0, alignment={}).events) == len(
        plain.events)
    assert gait_events(body, bridged, sampling_rate_hz=100.0, alignment={},
                       settings=long_bouts).events.empty


def test_viterbi_tolerates_one_contrary_step_and_allows_missed_step():
    alt = np.array([1, -1, 1, -1, 1, -1, 1, -1], float)
    noisy = alt.copy()
    noisy[3] = 0.5  # one ambiguous step with the wrong sign
    assert list(_viterbi_sides(noisy, 3.0)) == [0, 1, 0, 1, 0, 1, 0, 1]
    # a genuinely missed step: the strong evidence repeats a side
    missed = np.array([2, -2, 2, -2, -2, 2, -2, 2], float)
    st = _viterbi_sides(missed, 3.0)
    assert list(st) == [0, 1, 0, 1, 1, 0, 1, 0]


# --------------------------------------------------------------------------- simulator
def _sim_body(sim):
    from gaitimu.pipeline import pelvis_signals

    fs = float(sim.sample_rate_hz)
    return pelvis_signals(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=fs)[0], fs


@pytest.mark.parametrize("activity", ["walk", "run"])
def test_simulated_sessions(activity):
    simulate_mod = pytest.importorskip("gaitimu.simulate")
    sim = simulate_mod.simulate(simulate_mod.SimConfig(activity=activity, duration_s=40, seed=11))
    body, fs = _sim_body(sim)
    res = detect_events(body, sampling_rate_hz=fs)
    truth = pd.DataFrame(sim.truth["events"])
    ic = truth["ic_s"].to_numpy(float)
    r, c = _match(ic, res.events["ic_s"].to_numpy())
    assert r.size >= 0.97 * ic.size
    assert set(res.bouts["activity"]) == {activity}
    side_ok = res.events["side"].to_numpy()[c] == truth["side"].to_numpy()[r]
    assert side_ok.mean() >= 0.99
    err = np.abs(res.events["ic_s"].to_numpy()[c] - ic[r])
    # running: tight; walking: the simulator's forward-acceleration phase differs from real
    # data by ~60 ms (reported), so only the +-100 ms match is asserted there
    if activity == "run":
        assert np.median(err) <= 0.02


def test_simulated_turns_make_no_false_steps():
    simulate_mod = pytest.importorskip("gaitimu.simulate")
    sim = simulate_mod.simulate(
        simulate_mod.SimConfig(activity="walk", duration_s=60, seed=7, turn_every_s=15.0)
    )
    body, fs = _sim_body(sim)
    ev = detect_events(body, sampling_rate_hz=fs).events
    truth = pd.DataFrame(sim.truth["events"])
    ic = truth["ic_s"].to_numpy(float)
    lo, hi = ic.min() - 0.2, ic.max() + 0.2
    det = ev["ic_s"].to_numpy()
    det = det[(det >= lo) & (det <= hi)]
    r, _c = _match(det, ic, tol=0.15)  # every detection must be a true step
    assert r.size >= det.size - 1
    assert det.size >= 0.95 * ic.size


# --------------------------------------------------------------------------- real data
IPOL_TRIALS = ("5-2", "9-2", "10-1", "18-4")  # four subjects, odd and even


def _ipol(name: str):
    from gaitimu.pipeline import pelvis_signals
    from gaitimu.sessions.importer import read_imu_table
    from gaitimu.stages import detection_body

    d = shared_data_dir("ipol_lowerback", "GaitData")
    meta = json.loads((d / f"{name}.json").read_text())
    # the importer's clock is the PacketCounter (lost packets are gaps), as the reference's
    t, acc, gyr, _ = read_imu_table(d / f"{name}_lb.txt", rate_hz=100.0, gyr_unit="rad/s")
    strict, cond, _ = pelvis_signals(
        t, acc, gyr, sampling_rate_hz=100.0, axes="x=up,y=left,z=backward"
    )
    body = detection_body(strict, cond.bridged)  # as `analyze` gives it to the detector
    ics, sides, fcs = [], [], []
    for side, key in (("L", "LeftFootEvents"), ("R", "RightFootEvents")):
        steps = meta[key]  # [toe-off, heel strike] per footstep
        for k, (_, end) in enumerate(steps):
            ics.append(end / 100.0)
            sides.append(side)
            # the stance this heel strike starts ends at the next toe-off of the same foot
            fcs.append(steps[k + 1][0] / 100.0 if k + 1 < len(steps) else np.nan)
    o = np.argsort(ics)
    lo, hi = (b / 100.0 for b in meta["TrialBoundaries"])
    ic, side, fc = np.asarray(ics)[o], np.asarray(sides)[o], np.asarray(fcs)[o]
    keep = (ic >= lo) & (ic <= hi)
    return body, ic[keep], side[keep], fc[keep], (lo, hi)


def test_ipol_regression_snapshot():
    """Real L5 IMU with foot-sensor reference: accuracy must stay near what we measured
    (benchmarks/validate_events.py); margins, not exact numbers."""
    tp = fn = fp = 0
    errs, fc_errs, sides_ok = [], [], []
    for name in IPOL_TRIALS:
        body, ic, side, fc, (lo, hi) = _ipol(name)
        ev = detect_events(body, sampling_rate_hz=100.0).events
        det = ev[(ev["ic_s"] >= lo - 0.1) & (ev["ic_s"] <= hi + 0.1)]
        r, c = _match(ic, det["ic_s"].to_numpy())
        tp += r.size
        fn += ic.size - r.size
        fp += len(det) - np.unique(c).size
        errs.append(np.abs(det["ic_s"].to_numpy()[c] - ic[r]))
        sides_ok.append(det["side"].to_numpy()[c] == side[r])
        d_fc = det["fc_s"].to_numpy()[c] - fc[r]
        fc_errs.append(np.abs(d_fc[np.isfinite(d_fc)]))
    f1 = 2 * tp / (2 * tp + fn + fp)
    print(f"IPOL snapshot: F1 {f1:.3f}, sides {np.mean(np.concatenate(sides_ok)):.3f}")
    assert f1 >= 0.9
    assert np.mean(np.concatenate(sides_ok)) >= 0.95
    assert np.median(np.concatenate(errs)) <= 0.03
    assert np.median(np.concatenate(fc_errs)) <= 0.05
    assert np.mean(np.concatenate(sides_ok)) >= 0.95


def test_virtual_imu_run_timing():
    from gaitimu.analysis.orientation import align_to_pelvis

    d = shared_data_dir("virtual_imu_dev", "rajagopal_run")
    truth = json.loads((d / "truth.json").read_text())
    df = pd.read_csv(d / "imu.csv")
    fs = float(truth["sampling_rate_hz"])
    body = align_to_pelvis(
        df["t_s"].to_numpy(),
        df[["acc_x", "acc_y", "acc_z"]].to_numpy(),
        df[["gyr_x", "gyr_y", "gyr_z"]].to_numpy(),
        sampling_rate_hz=fs,
    ).body
    res = detect_events(body, sampling_rate_hz=fs)
    assert set(res.bouts["activity"]) == {"run"}
    ic = np.sort(np.r_[truth["events"]["IC"]["left"], truth["events"]["IC"]["right"]])
    r, c = _match(ic, res.events["ic_s"].to_numpy())
    assert r.size == ic.size
    assert np.median(np.abs(res.events["ic_s"].to_numpy()[c] - ic[r])) <= 0.02


def test_no_pelvic_roll_means_uncertain_sides():
    """Without pelvic roll there is nothing to tell left from right: say so."""
    body, _, _ = synthetic_walk(seed=6)
    body["gyr_pa"] = np.random.default_rng(6).normal(0, 0.3, len(body))
    body["acc_ml"] = np.random.default_rng(7).normal(0, 0.05, len(body))
    res = detect_events(body, sampling_rate_hz=100.0)
    assert len(res.events) > 10
    assert (res.events["confidence"] <= 0.5).all()
    assert any("left/right uncertain" in w for w in res.info["warnings"])
    # with roll, no such warning
    body2, _, _ = synthetic_walk(seed=6)
    assert detect_events(body2, sampling_rate_hz=100.0).info["warnings"] == []


def test_data_gap_splits_bout_and_holds_no_events():
    body, ic, _ = synthetic_walk(n_steps=40, seed=8)
    t = body["t_s"].to_numpy()
    gap = (t > ic[20] - 0.2) & (t < ic[22] + 0.2)
    held = body.copy()
    held.loc[gap, list(BODY)] = held.loc[np.flatnonzero(gap)[0] - 1, list(BODY)].to_numpy()
    held["valid"] = ~gap
    res = detect_events(held, sampling_rate_hz=100.0)
    assert len(res.bouts) == 2
    in_gap = (res.events["ic_s"] > ic[20] - 0.15) & (res.events["ic_s"] < ic[22] + 0.15)
    assert not in_gap.any()
    # NaN instead of held values: same outcome, no crash
    nan = body.copy()
    nan.loc[gap, list(BODY)] = np.nan
    res2 = detect_events(nan, sampling_rate_hz=100.0)
    assert len(res2.bouts) == 2
    assert np.isfinite(res2.events["ic_s"]).all()


def test_many_short_unbridged_gaps_do_not_crash():
    """A lossy link (IPOL trial 3-3 has hundreds of lost packets): 60-120 ms holes, some on
    an IC, go through the conditioning and the detector without error."""
    from gaitimu.analysis.conditioning import resample_uniform

    body, ic, _ = synthetic_walk(n_steps=40, seed=9)
    t = body["t_s"].to_numpy()
    rng = np.random.default_rng(9)
    drop = np.zeros(t.size, dtype=bool)
    for centre in np.concatenate([ic[5:35:3], rng.uniform(t[0] + 2, t[-1] - 2, 10)]):
        drop |= np.abs(t - centre) < rng.uniform(0.03, 0.06)
    keep = ~drop
    cond = resample_uniform(
        t[keep],
        body[["acc_is", "acc_ml", "acc_pa"]].to_numpy()[keep],
        body[["gyr_is", "gyr_ml", "gyr_pa"]].to_numpy()[keep],
        sampling_rate_hz=100.0,
    )
    assert not cond.valid.all()
    lossy = body.copy()
    lossy[["acc_is", "acc_ml", "acc_pa"]] = cond.acc
    lossy[["gyr_is", "gyr_ml", "gyr_pa"]] = cond.gyr
    lossy["valid"] = cond.valid
    res = detect_events(lossy, sampling_rate_hz=100.0)
    assert len(res.events) > 0
    k = np.clip(np.round((res.events["ic_s"].to_numpy() - t[0]) * 100).astype(int), 0, t.size - 1)
    assert cond.valid[k].all()  # no IC placed inside an unbridged gap


def test_ipol_all_110_trials_meet_the_targets():
    """The whole IPOL set (3,746 reference ICs) through the same path as
    benchmarks/validate_events.py (importer clock, conditioning, alignment, detector).
    Thresholds sit just under the issue's targets and the measured values in
    docs/VALIDATION.md (F1 0.951, sides 98.0 %, 10 / 16 ms), so a real regression fails."""
    import importlib.util
    from pathlib import Path

    shared_data_dir("ipol_lowerback", "GaitData")
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "validate_events.py"
    spec = importlib.util.spec_from_file_location("validate_events", path)
    ve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ve)
    out, rows = ve.validate_ipol(jobs=1)
    assert len(rows) == 110
    s = out["all"]
    print(
        f"IPOL: F1 {s['ic_f1']:.3f}, sides {s['side_accuracy']:.3f}, "
        f"IC {s['ic_median_abs_err_ms']:.0f} ms, FC {s['fc_median_abs_err_ms']:.0f} ms"
    )
    assert s["ic_f1"] >= 0.94
    assert s["side_accuracy"] >= 0.97
    assert s["ic_median_abs_err_ms"] <= 30
    assert s["fc_median_abs_err_ms"] <= 50
    assert out["first_pass"]["ic_f1"] >= 0.98


def test_gait_phase_marks_initiation_and_termination():
    """A walk from standing to standing: its first step is 'initiation', and when the
    detector finds the closing step it is 'termination'; steady steps are ''."""
    body, ic, _ = synthetic_walk(n_steps=20, seed=3, standing_s=3.0, trailing_s=3.0)
    ev = detect_events(body, sampling_rate_hz=100.0).events
    assert list(ev.columns) == list(EVENT_COLUMNS)
    first = ev.iloc[0]
    assert first["gait_phase"] == "initiation" and abs(first["ic_s"] - ic[0]) <= 0.1
    assert set(ev["gait_phase"]) <= {"initiation", "termination", ""}
    assert (ev["gait_phase"].iloc[1:-1] == "").all()
    # no rest before: a recording that starts mid-walk has no initiation step
    mid = body[body["t_s"] >= ic[5] - 0.2].reset_index(drop=True)
    ev2 = detect_events(mid, sampling_rate_hz=100.0).events
    assert len(ev2) and "initiation" not in set(ev2["gait_phase"])
