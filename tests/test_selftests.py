"""Self-tests (`gaitimu.analysis.selftests`): single-leg stance and squat, docs/self_tests.md.

Two kinds of test: small pelvis-signal frames built here with exact kinematics (the drop
sign, the phases, validity, empty results), and simulated sessions with ground truth
(`gaitimu.simulate`, truth ``self_test``) for the accuracy of docs/self_tests.md.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gaitimu.analysis.selftests import (
    TEST_COLUMNS,
    SelfTestSettings,
    analyze_self_test,
    drop_sign,
    empty_tests,
    heading_from_shifts,
    lateral_acceleration,
)
from gaitimu.consts import G
from gaitimu.pipeline import analyze, analyze_session
from gaitimu.simulate import SimConfig, simulate, write_session

FS = 100.0


# --------------------------------------------------------------------------- synthetic frames
def _min_jerk(t: np.ndarray, start: float, dur: float) -> np.ndarray:
    u = np.clip((t - start) / dur, 0.0, 1.0)
    return u**3 * (10 - 15 * u + 6 * u**2)


def _frame(t: np.ndarray, obl: np.ndarray, tilt: np.ndarray, lat_m: np.ndarray,
           up_m: np.ndarray | None = None) -> pd.DataFrame:
    """Pelvis signals of a rigid pelvis with obliquity/tilt (deg) whose origin moves
    ``lat_m`` to the right and ``up_m`` up (m): exact specific force and angular rate."""
    up_m = np.zeros_like(t) if up_m is None else up_m
    a_lat = np.gradient(np.gradient(lat_m, t), t)
    a_up = np.gradient(np.gradient(up_m, t), t)
    o, ti = np.radians(obl), np.radians(tilt)
    # earth up and the horizontal right in pelvis coordinates (is, ml, pa)
    u = np.stack([np.cos(o) * np.cos(ti), -np.sin(o), -np.cos(o) * np.sin(ti)], axis=1)
    r = np.stack([np.sin(o) * np.cos(ti), np.cos(o), -np.sin(o) * np.sin(ti)], axis=1)
    acc = (G + a_up)[:, None] * u + a_lat[:, None] * r
    return pd.DataFrame({
        "t_s": t, "obliquity_deg": obl, "tilt_deg": tilt, "yaw_deg": 0.0,
        "acc_is": acc[:, 0], "acc_ml": acc[:, 1], "acc_pa": acc[:, 2],
        "gyr_is": 0.0, "gyr_ml": -np.gradient(tilt, t), "gyr_pa": np.gradient(obl, t),
        "valid": True,
    })


def _sway(t: np.ndarray, sd: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = np.exp(rng.uniform(np.log(0.1), np.log(1.0), 8))
    x = np.sin(np.outer(t, 2 * np.pi * f) + rng.uniform(0, 2 * np.pi, 8)).sum(axis=1)
    return sd * x / x.std()


def _stance(side: str = "L", drop: float = 4.0, *, hold: tuple[float, float] = (8.0, 28.0),
            touchdown: tuple[float, float] | None = None, duration: float = 34.0,
            seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Two-legged standing, a 0.8 s weight shift onto ``side``, lift-off at ``hold[0]``
    (the drop develops over 0.3 s), touch-down at ``hold[1]``, the shift back; an early
    touch-down (drop back to 0 over 0.3 s) if asked. Returns the frame and the protocol."""
    t = np.arange(0.0, duration, 1.0 / FS)
    sgn = 1.0 if side == "L" else -1.0
    up = _min_jerk(t, hold[0], 0.3) - _min_jerk(t, hold[1], 0.3)
    if touchdown is not None:
        up = up - _min_jerk(t, touchdown[0], 0.3) + _min_jerk(t, touchdown[1], 0.3)
    foot_up = (_min_jerk(t, hold[0] - 1, 1) - _min_jerk(t, hold[1] + 0.5, 1)) > 0.5
    sway = _sway(t, 0.3, seed) * np.where(foot_up, 1.0, 0.3)
    obl = 0.5 + sgn * drop * up + sway  # 0.5: the standing posture
    tilt = 0.5 * _sway(t, 0.3, seed + 1) * np.where(foot_up, 1.0, 0.3)
    shift = -sgn * 0.07 * (_min_jerk(t, hold[0] - 0.8, 0.8) - _min_jerk(t, hold[1], 0.8))
    protocol = {"test": "single-leg-stance", "phases": [
        {"phase": "both", "start_s": 0.0, "end_s": hold[0] - 1.0},
        {"phase": "hold", "stance_side": side, "start_s": hold[0] - 1.0, "end_s": hold[1]}]}
    return _frame(t, obl, tilt, shift), protocol


def _run(body: pd.DataFrame, protocol: dict | None, test: str = "single-leg-stance",
         **kw) -> pd.DataFrame:
    return analyze_self_test(body, sampling_rate_hz=FS, test=test, protocol=protocol,
                             **kw).tests


def test_drop_sign_follows_the_contract() -> None:
    # standing on the LEFT leg the right side falls: obliquity (> 0 = left higher) rises
    assert drop_sign("L") == 1.0 and drop_sign("R") == -1.0
    assert np.isnan(drop_sign(""))


@pytest.mark.parametrize("side", ["L", "R"])
def test_a_drop_of_the_unsupported_side_is_positive_on_either_leg(side: str) -> None:
    body, protocol = _stance(side, drop=4.0)
    tests = _run(body, protocol)
    assert len(tests) == 1
    row = tests.iloc[0]
    assert row["stance_side"] == side and row["valid"], row["reason"]
    assert row["drop_mean_deg"] == pytest.approx(4.0, abs=0.2)
    assert row["hold_s"] == pytest.approx(20.0, abs=0.15)
    assert row["baseline_obliquity_deg"] == pytest.approx(0.5, abs=0.1)
    assert row["drop_worst_deg"] > row["drop_mean_deg"]
    assert row["sway_ml_deg"] == pytest.approx(0.3, rel=0.3)


def test_a_hip_held_high_reads_as_a_negative_drop() -> None:
    body, protocol = _stance("R", drop=-2.0)
    row = _run(body, protocol).iloc[0]
    assert row["drop_mean_deg"] == pytest.approx(-2.0, abs=0.2)


def test_without_a_protocol_the_side_is_unknown_and_the_drop_not_signed() -> None:
    body, _ = _stance("R", drop=4.0)
    res = analyze_self_test(body, sampling_rate_hz=FS, test="single-leg-stance")
    row = res.tests.iloc[0]
    # never the side from the drop itself: that would assume the answer
    assert row["stance_side"] == "" and np.isnan(row["drop_mean_deg"])
    assert row["obliquity_change_deg"] == pytest.approx(-4.0, abs=0.2)
    assert row["hold_s"] == pytest.approx(20.0, abs=0.15)
    assert any("no protocol" in w for w in res.info["warnings"])


def test_an_early_touch_down_is_reported_and_left_out() -> None:
    body, protocol = _stance("L", drop=3.0, touchdown=(15.0, 15.8))
    row = _run(body, protocol).iloc[0]
    assert row["touchdowns"] == 1
    (start, end), = json.loads(row["touchdowns_s"])
    assert 14.8 <= start <= 15.4 and 15.4 <= end <= 16.2
    assert row["drop_mean_deg"] == pytest.approx(3.0, abs=0.2)  # not pulled down by it


def test_no_touch_down_is_invented_in_sway() -> None:
    for seed in range(4):
        body, protocol = _stance("R", drop=3.0, seed=seed)
        assert _run(body, protocol).iloc[0]["touchdowns"] == 0


def test_a_data_gap_in_the_hold_makes_it_invalid() -> None:
    body, protocol = _stance("L")
    body.loc[(body["t_s"] >= 15.0) & (body["t_s"] < 15.5), "valid"] = False
    row = _run(body, protocol).iloc[0]
    assert not row["valid"] and row["reason"] == "data gap in the hold"
    # a short hole (interpolated, up to 0.2 s) is left out of the averages only
    body, protocol = _stance("L")
    body.loc[(body["t_s"] >= 15.0) & (body["t_s"] < 15.1), "valid"] = False
    assert _run(body, protocol).iloc[0]["valid"]


def test_no_standing_before_the_hold_and_a_short_hold_are_invalid() -> None:
    body, protocol = _stance("L", hold=(1.3, 21.0), duration=26.0)
    row = _run(body, protocol).iloc[0]
    assert not row["valid"] and row["reason"] == "no two-legged standing before the hold"
    assert np.isfinite(row["hold_s"])
    body, protocol = _stance("L", hold=(8.0, 10.5), duration=16.0)
    row = _run(body, protocol, settings=SelfTestSettings(min_stable_s=2.4)).iloc[0]
    assert not row["valid"] and row["reason"] in ("hold too short",
                                                  "the pelvis never stabilised after lift-off")


def test_standing_still_gives_an_empty_table_with_its_columns() -> None:
    t = np.arange(0.0, 20.0, 1.0 / FS)
    body = _frame(t, _sway(t, 0.1, 0), np.zeros_like(t), np.zeros_like(t))
    res = analyze_self_test(body, sampling_rate_hz=FS, test="single-leg-stance")
    assert res.tests.empty
    assert dict(res.tests.dtypes.astype(str)) == dict(empty_tests().dtypes.astype(str))
    assert list(res.tests.columns) == list(TEST_COLUMNS)
    assert any("no single-leg support" in w for w in res.info["warnings"])


def test_lateral_acceleration_is_free_of_gravity_when_the_pelvis_is_tilted() -> None:
    t = np.arange(0.0, 5.0, 1.0 / FS)
    body = _frame(t, np.full_like(t, 8.0), np.full_like(t, -12.0), np.zeros_like(t))
    assert np.abs(lateral_acceleration(body)).max() < 1e-9


def test_two_weight_shifts_are_too_few_for_a_heading() -> None:
    body, _ = _stance("L", drop=4.0)
    same, info = heading_from_shifts(body, sampling_rate_hz=FS)
    assert info["n_shifts"] == 2 and info["applied_deg"] == 0.0 and same is body


def _squats(side: str = "R", drop: float = 3.0, depth: float = 0.15) -> tuple[pd.DataFrame, dict]:
    t = np.arange(0.0, 30.0, 1.0 / FS)
    sgn = 1.0 if side == "L" else -1.0
    lift, touch = 6.0, 25.0
    starts = [8.0, 12.0, 16.0, 20.0]
    prof = sum(_min_jerk(t, s, 1.5) - _min_jerk(t, s + 1.5, 1.5) for s in starts)
    up = _min_jerk(t, lift, 0.3) - _min_jerk(t, touch, 0.3)
    obl = sgn * drop * (0.5 * up + 0.5 * prof)
    shift = -sgn * 0.07 * (_min_jerk(t, lift - 0.8, 0.8) - _min_jerk(t, touch, 0.8))
    protocol = {"phases": [{"phase": "squats", "stance_side": side, "start_s": 5.0,
                            "end_s": 25.0}]}
    return _frame(t, obl, 80.0 * depth * prof, shift, -depth * prof), protocol


def test_squat_reps_depth_tempo_and_drop_at_the_bottom() -> None:
    body, protocol = _squats("R", drop=3.0, depth=0.15)
    tests = _run(body, protocol, test="single-leg-squat")
    assert len(tests) == 4 and tests["valid"].all()
    assert list(tests["index"]) == [1, 2, 3, 4]
    assert np.allclose(tests["depth_m"], 0.15, rtol=0.05)
    assert np.allclose(tests["drop_bottom_deg"], 3.0, atol=0.2)
    assert np.allclose(tests["start_s"], [8.0, 12.0, 16.0, 20.0], atol=0.1)
    assert np.allclose(tests["down_s"], 1.5, atol=0.15)
    assert np.allclose(tests["up_s"], 1.5, atol=0.15)
    assert np.allclose(tests["drop_per_depth_deg_per_m"], 20.0, rtol=0.1)
    assert tests["hold_s"].isna().all() and tests["drop_mean_deg"].isna().all()


# --------------------------------------------------------------------------- simulated truth
def _simulated(activity: str, **kw):
    sim = simulate(SimConfig(activity=activity, **kw))
    st = sim.truth["self_test"]
    res = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=sim.sample_rate_hz,
                  activity=activity, protocol=st["protocol"])
    return st, res


@pytest.mark.parametrize("realism", [{}, {"misalignment_random_deg": 20.0, "packet_loss": 0.02}],
                         ids=["clean", "misaligned-20deg-loss-2pc"])
def test_simulated_stance_drop_hold_and_touch_down(realism: dict) -> None:
    st, res = _simulated("single-leg-stance", cpd_left_deg=1.0, cpd_right_deg=6.0,
                         touchdown_at_s=10.0, seed=0, **realism)
    tests = res.tests
    assert res.strides.empty and len(tests) == 2 and tests["valid"].all()
    for hold in st["holds"]:
        row = tests[tests["stance_side"] == hold["stance_side"]].iloc[0]
        assert abs(row["drop_mean_deg"] - hold["drop_mean_deg"]) <= 0.5
        assert abs(row["hold_s"] - hold["hold_s"]) <= 0.2
        assert row["touchdowns"] == len(hold["touchdowns"])
    assert st["holds"][0]["touchdowns"]  # the first hold had one


@pytest.mark.parametrize("realism", [{}, {"misalignment_random_deg": 20.0, "packet_loss": 0.02}],
                         ids=["clean", "misaligned-20deg-loss-2pc"])
def test_simulated_squats_drop_and_depth_per_rep(realism: dict) -> None:
    st, res = _simulated("single-leg-squat", cpd_left_deg=1.0, cpd_right_deg=6.0, seed=0,
                         **realism)
    tests = res.tests
    assert len(tests) == len(st["reps"]) and tests["valid"].all()
    for rep in st["reps"]:
        row = tests[(tests["stance_side"] == rep["stance_side"])
                    & ((tests["bottom_s"] - rep["bottom_s"]).abs() < 0.5)]
        assert len(row) == 1
        row = row.iloc[0]
        assert abs(row["drop_bottom_deg"] - rep["drop_bottom_deg"]) <= 1.0
        assert abs(row["depth_m"] / rep["depth_m"] - 1.0) <= 0.10


@pytest.mark.parametrize("yaw", [20.0, -25.0])
def test_a_yawed_sensor_is_turned_back_by_the_weight_shifts(yaw: float) -> None:
    # a 12-deg squat tilt would leak sin(yaw) of it into the drop without the correction
    st, res = _simulated("single-leg-squat", cpd_left_deg=2.0, cpd_right_deg=4.0, seed=5,
                         misalignment_deg=(yaw, 0.0, 0.0))  # about the sensor's up axis
    heading = res.info["self_tests"]["heading"]
    assert abs(abs(heading["applied_deg"]) - abs(yaw)) <= 3.0
    got = res.tests.set_index(["stance_side", "index"])["drop_bottom_deg"]
    want = pd.DataFrame(st["reps"]).set_index(["stance_side", "index"])["drop_bottom_deg"]
    assert (got - want).abs().max() <= 1.0


def test_a_self_test_session_is_analysed_as_one(tmp_path) -> None:
    sim = simulate(SimConfig(activity="single-leg-stance", hold_s=12.0, seed=3))
    write_session(sim, tmp_path / "s")
    from gaitimu.sessions import open_session

    res = analyze_session(open_session(tmp_path / "s"))  # no NoGaitError
    assert list(res.tests["stance_side"]) == ["L", "R"]
    assert res.info["activity"] == "single-leg-stance" and res.strides.empty
    assert res.info["self_tests"]["protocol"] is True


def test_analyze_writes_tests_csv_and_prints_a_line_per_side(tmp_path, capsys) -> None:
    from gaitimu.cli import main

    sim = simulate(SimConfig(activity="single-leg-squat", reps=2, seed=4))
    write_session(sim, tmp_path / "s")
    assert main(["analyze", str(tmp_path / "s"), "--tests", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "single-leg-squat on L: 2 reps" in out and "single-leg-squat on R: 2 reps" in out
    table = pd.read_csv(tmp_path / "t.csv", keep_default_na=False)
    assert list(table.columns) == list(TEST_COLUMNS) and len(table) == 4
    # a gait session writes the header only
    walk = simulate(SimConfig(activity="walk", duration_s=20.0, seed=1))
    write_session(walk, tmp_path / "w")
    assert main(["analyze", str(tmp_path / "w"), "--tests", str(tmp_path / "w.csv")]) == 0
    assert list(pd.read_csv(tmp_path / "w.csv").columns) == list(TEST_COLUMNS)


def test_a_planned_hold_that_was_not_done_is_a_row_that_says_so() -> None:
    body, protocol = _stance("L", drop=3.0)
    protocol["phases"].append({"phase": "hold", "stance_side": "R", "start_s": 29.0,
                               "end_s": 34.0})
    res = analyze_self_test(body, sampling_rate_hz=FS, test="single-leg-stance",
                            protocol=protocol)
    tests = res.tests
    assert list(tests["stance_side"]) == ["L", "R"] and list(tests["index"]) == [1, 1]
    assert tests["valid"].tolist() == [True, False]
    assert tests.loc[1, "reason"] == "no weight shift onto the leg in the planned hold"
    assert np.isnan(tests.loc[1, "hold_s"])
    assert any("planned hold on R" in w for w in res.info["warnings"])
