"""The simulated self-tests (docs/self_tests.md, docs/simulator.md "Self-tests"): the truth is
what the true kinematics realise, the signs follow the contract, and the IMU signals
integrate back to the kinematics."""

from __future__ import annotations

import numpy as np
import pytest

from gaitimu.cli import build_parser, main
from gaitimu.consts import SELF_TESTS
from gaitimu.sensors.protocol import Scales
from gaitimu.sessions import open_session
from gaitimu.simulate import SimConfig, rotation_world_sensor, simulate
from gaitimu.simulate.selftests import LIFT_S, plan_protocol

QUIET = {"gyr_noise_dps": 0.0, "acc_noise_mps2": 0.0, "gyr_bias_dps": (0.0, 0.0, 0.0),
         "acc_bias_mps2": (0.0, 0.0, 0.0)}


@pytest.fixture(scope="module")
def stance():
    """Standing on L with a 6-deg drop, on R 1 deg; an early touch-down 10 s into the first hold."""
    return simulate(SimConfig(activity="single-leg-stance", cpd_left_deg=6.0, cpd_right_deg=1.0,
                              touchdown_at_s=10.0, seed=3, **QUIET))


@pytest.fixture(scope="module")
def squat():
    return simulate(SimConfig(activity="single-leg-squat", cpd_left_deg=2.0, cpd_right_deg=7.0,
                              reps=4, squat_depth_m=0.18, seed=5, **QUIET))


def _window(t, a, b):
    return (t >= a) & (t <= b)


def test_protocol_is_the_contract():
    """plan_protocol gives the example of docs/self_tests.md exactly."""
    assert plan_protocol("single-leg-stance") == {
        "test": "single-leg-stance", "hold_s": 30, "reps": None, "rest_s": 10,
        "order": ["L", "R"],
        "phases": [{"phase": "both", "start_s": 0.0, "end_s": 5.0},
                   {"phase": "hold", "stance_side": "L", "start_s": 5.0, "end_s": 35.0},
                   {"phase": "rest", "start_s": 35.0, "end_s": 45.0},
                   {"phase": "both", "start_s": 45.0, "end_s": 50.0},
                   {"phase": "hold", "stance_side": "R", "start_s": 50.0, "end_s": 80.0}]}
    sq = plan_protocol("single-leg-squat", reps=5, rep_s=4.0)
    assert sq["reps"] == 5 and sq["hold_s"] is None
    assert [p["phase"] for p in sq["phases"]] == ["both", "squats", "rest", "both", "squats"]


def test_stance_drop_is_the_realised_obliquity_change_with_the_contract_sign(stance):
    ta, st = stance.truth_arrays, stance.truth["self_test"]
    t, obl = ta["t_s"], ta["obliquity_deg"]
    assert st["test"] == "single-leg-stance" and st["reps"] == []
    holds = {h["stance_side"]: h for h in st["holds"]}
    assert set(holds) == {"L", "R"}
    for side, want, sign in (("L", 6.0, 1.0), ("R", 1.0, -1.0)):
        h = holds[side]
        base = obl[_window(t, *h["baseline_s"]) & (t < h["baseline_s"][1])].mean()
        assert h["baseline_obliquity_deg"] == pytest.approx(base, abs=1e-6)
        stable = np.zeros(t.size, bool)
        for a, b in h["stable_s"]:
            stable |= _window(t, a, b)
        drop = sign * (obl[stable] - base)
        assert h["drop_mean_deg"] == pytest.approx(drop.mean(), abs=0.1)
        assert h["drop_mean_deg"] == pytest.approx(want, abs=1e-6)  # the request, exactly
        assert h["drop_worst_deg"] == pytest.approx(np.percentile(drop, 95), abs=0.1)
        assert want < h["drop_worst_deg"] < want + 1.5
    # Standing on the LEFT leg the RIGHT side drops: obliquity (> 0 = left higher) RISES by
    # ~6 deg; standing on the right leg it falls by ~1 deg.
    mid_l = np.mean(holds["L"]["stable_s"][-1])
    mid_r = np.mean(holds["R"]["stable_s"][-1])
    assert obl[_window(t, mid_l - 2, mid_l + 2)].mean() - holds["L"]["baseline_obliquity_deg"] \
        == pytest.approx(6.0, abs=0.7)
    assert obl[_window(t, mid_r - 2, mid_r + 2)].mean() - holds["R"]["baseline_obliquity_deg"] \
        == pytest.approx(-1.0, abs=0.5)


def test_stance_hold_times_follow_the_protocol_and_the_kinematics(stance):
    ta, st = stance.truth_arrays, stance.truth["self_test"]
    t, obl, gate = ta["t_s"], ta["obliquity_deg"], ta["stance_gate"]
    plan = [p for p in st["protocol"]["phases"] if p["phase"] == "hold"]
    for h, p in zip(st["holds"], plan, strict=True):
        assert h["stance_side"] == p["stance_side"]
        # reaction and weight shift before the lift-off, a reaction before the touch-down
        assert 0.8 <= h["lift_s"] - p["start_s"] <= 1.5
        assert 0.2 <= h["touch_s"] - p["end_s"] <= 0.5
        assert h["hold_s"] == pytest.approx(h["touch_s"] - h["lift_s"], abs=1e-5)
        sign = 1.0 if h["stance_side"] == "L" else -1.0
        # on one leg between lift-off and touch-down, on both feet outside
        inside = _window(t, h["lift_s"] + LIFT_S, h["touch_s"])
        for a, b in h["touchdowns"]:
            inside &= ~_window(t, a, b + LIFT_S)
        assert np.all(gate[inside] == sign)
        assert np.all(gate[_window(t, h["touch_s"] + LIFT_S, h["touch_s"] + 3)] == 0)
        # the drop starts at the lift-off: nothing of it before
        before = sign * (obl[_window(t, h["lift_s"] - 0.5, h["lift_s"])]
                         - h["baseline_obliquity_deg"])
        assert np.abs(before).max() < 0.3
    # the early touch-down: 10 s after the first lift-off, 0.5-1 s, back to level
    first, second = st["holds"]
    assert second["touchdowns"] == []
    (a, b), = first["touchdowns"]
    assert a == pytest.approx(first["lift_s"] + 10.0, abs=1e-5) and 0.5 <= b - a <= 1.0
    level = obl[_window(t, a + LIFT_S, b)] - first["baseline_obliquity_deg"]
    assert np.abs(level).max() < 0.5  # both feet: the pelvis is level again
    assert st["holds"][0]["stable_s"][0][1] == pytest.approx(a, abs=1e-5)


def test_squat_depth_and_drop_are_the_realised_kinematics(squat):
    ta, st = squat.truth_arrays, squat.truth["self_test"]
    t, obl, sacrum = ta["t_s"], ta["obliquity_deg"], ta["sensor_vertical_m"]
    reps = st["reps"]
    assert st["holds"] == [] and len(reps) == 8
    assert [r["index"] for r in reps] == [1, 2, 3, 4, 1, 2, 3, 4]
    for r in reps:
        seg = _window(t, r["start_s"] - 0.2, r["end_s"] + 0.2)
        excursion = sacrum[_window(t, r["start_s"] - 0.2, r["start_s"])].mean() - sacrum[seg].min()
        assert r["depth_m"] == pytest.approx(excursion, rel=0.02)
        assert r["depth_m"] == pytest.approx(0.18, rel=0.2)
        assert t[seg][np.argmin(sacrum[seg])] == pytest.approx(r["bottom_s"], abs=0.01)
        assert r["start_s"] < r["bottom_s"] < r["end_s"]
        assert 1.0 < r["bottom_s"] - r["start_s"] < 2.0 and 1.0 < r["end_s"] - r["bottom_s"] < 2.0
        sign = 1.0 if r["stance_side"] == "L" else -1.0
        ib = np.argmin(np.abs(t - r["bottom_s"]))
        assert r["drop_bottom_deg"] == pytest.approx(
            sign * (obl[ib] - r["baseline_obliquity_deg"]), abs=0.1)
        # anterior tilt grows with depth
        assert r["tilt_bottom_deg"] > 8.0
    for side, want in (("L", 2.0), ("R", 7.0)):
        drops = [r["drop_bottom_deg"] for r in reps if r["stance_side"] == side]
        assert np.mean(drops) == pytest.approx(want, abs=1e-6)
    # the drop grows with depth: at the bottom it is larger than between the reps (one leg)
    r = reps[5]
    standing = -(obl[_window(t, r["start_s"] - 0.4, r["start_s"])] - r["baseline_obliquity_deg"])
    assert standing.mean() < 0.7 * r["drop_bottom_deg"]
    # the free leg stays lifted through the set
    for s in st["sets"]:
        sign = 1.0 if s["stance_side"] == "L" else -1.0
        mine = [r for r in reps if r["stance_side"] == s["stance_side"]]
        assert s["lift_s"] < mine[0]["start_s"] and mine[-1]["end_s"] < s["touch_s"]
        assert np.all(ta["stance_gate"][_window(t, s["lift_s"] + LIFT_S, s["touch_s"])] == sign)


def _integrate(y, dt):
    return np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * dt)])


def test_gyro_roll_rate_integrates_to_the_obliquity_change(stance):
    """Misalignment 0: the rate about forward (sensor z) integrates to the obliquity change
    across a lift-off (the measured, quantised signal)."""
    ta, h = stance.truth_arrays, stance.truth["self_test"]["holds"][0]
    t = stance.t_s
    i0, i1 = np.searchsorted(t, [h["lift_s"] - 1.0, h["lift_s"] + 3.0])
    roll = _integrate(stance.gyr[i0:i1 + 1, 2], 1 / stance.sample_rate_hz)
    change = ta["obliquity_deg"][i0:i1 + 1] - ta["obliquity_deg"][i0]
    assert np.abs(roll - change).max() < 0.05  # (0.2 asked)
    assert change[-1] > 5.0


def test_accelerometer_integrates_to_the_sacrum_displacement(stance, squat):
    """Gravity removed with the true orientation, the specific force integrates twice to the
    sacrum's displacement: down and up in a squat, sideways in the weight shift."""
    g = np.array([0.0, 0.0, -9.81])

    def displacement(sim, a, b, axis):
        ta, dt = sim.truth_arrays, 1 / sim.sample_rate_hz
        i0, i1 = np.searchsorted(ta["t_s"], [a, b])
        r_ws = rotation_world_sensor({k: v[i0:i1 + 1] for k, v in ta.items()},
                                     np.asarray(sim.truth["misalignment"]["R_sensor_to_nominal"]))
        acc_world = np.einsum("nij,nj->ni", r_ws, sim.acc[i0:i1 + 1]) + g
        pos = _integrate(_integrate(acc_world[:, axis], dt), dt)
        return pos, i0, i1

    r = squat.truth["self_test"]["reps"][2]
    pos, i0, i1 = displacement(squat, r["start_s"] - 0.1, r["end_s"], 2)
    true = squat.truth_arrays["sensor_vertical_m"][i0:i1 + 1]
    assert np.abs(pos - (true - true[0])).max() < 0.003
    assert -pos.min() == pytest.approx(r["depth_m"], rel=0.05)
    h = stance.truth["self_test"]["holds"][0]  # standing on L: the pelvis moves left
    a, b = h["weight_shift_s"]
    pos, i0, i1 = displacement(stance, a - 0.2, b + 0.1, 1)  # world Y = left
    true = -stance.truth_arrays["sensor_ml_m"][i0:i1 + 1]
    assert np.abs(pos - (true - true[0])).max() < 0.003
    assert 0.05 < pos[-1] < 0.09


@pytest.mark.parametrize("which", ["stance", "squat"])
def test_ideal_imu_is_the_rigid_body_motion_of_the_truth(stance, squat, which):
    """Over the whole session: the ideal specific force is the sacrum's acceleration (fourth-
    order numerical second derivative of the truth arrays) minus gravity, and the ideal gyro
    the rate of the true orientation."""
    sim = stance if which == "stance" else squat
    ta, dt = sim.truth_arrays, 1 / sim.sample_rate_hz
    r_ws = rotation_world_sensor(ta, np.eye(3))
    acc_world = np.einsum("nij,nj->ni", r_ws, sim.ideal["acc"]) + np.array([0.0, 0.0, -9.81])
    for axis, key, sign in ((0, "sensor_ap_m", 1), (1, "sensor_ml_m", -1),
                            (2, "sensor_vertical_m", 1)):
        x = sign * ta[key]
        d2 = (-x[4:] + 16 * x[3:-1] - 30 * x[2:-2] + 16 * x[1:-3] - x[:-4]) / (12 * dt**2)
        assert np.abs(d2 - acc_world[2:-2, axis]).max() < 0.03, key
    w = np.einsum("nji,njk->nik", r_ws[1:-1], (r_ws[2:] - r_ws[:-2]) / (2 * dt))
    rate = np.rad2deg(np.stack([w[:, 2, 1], w[:, 0, 2], w[:, 1, 0]], axis=1))
    assert np.abs(rate - sim.ideal["gyr"][1:-1]).max() < 0.15


def test_options_and_sway(stance):
    """Sway is a few tenths of a degree on one leg, less on two feet; misalignment, rate and
    loss act as for gait; the same config gives the same session."""
    sim = simulate(SimConfig(activity="single-leg-stance", hold_s=12, rest_s=3, sway_deg=0.5,
                             sampling_rate_hz=100, packet_loss=0.05, misalignment_random_deg=15,
                             first_side="R", seed=2))
    st = sim.truth["self_test"]
    assert [h["stance_side"] for h in st["holds"]] == ["R", "L"]
    # a short rest: the baseline starts once the pelvis is level again, the drop is still exact
    assert [h["drop_mean_deg"] for h in st["holds"]] == pytest.approx([1.0, 1.0], abs=1e-6)
    assert st["holds"][1]["baseline_s"][0] > st["holds"][0]["touch_s"]
    assert sim.duration_s == st["protocol"]["phases"][-1]["end_s"] + 3.0 == 5 + 12 + 3 + 5 + 12 + 3
    assert sim.sample_rate_hz == 100 and sim.truth["lost_samples"] > 0
    assert sim.truth["misalignment"]["angle_deg"] == pytest.approx(15.0)
    ta = stance.truth_arrays
    t = ta["t_s"]
    h = stance.truth["self_test"]["holds"][1]
    on_one = np.std(ta["obliquity_deg"][_window(t, *h["stable_s"][0])])
    on_two = np.std(ta["obliquity_deg"][_window(t, *h["baseline_s"])])
    assert 0.1 < on_one < 0.6 and on_two < on_one
    again = simulate(SimConfig(activity="single-leg-stance", cpd_left_deg=6.0, cpd_right_deg=1.0,
                               touchdown_at_s=10.0, seed=3, **QUIET))
    assert again.truth == stance.truth and np.array_equal(again.acc, stance.acc)
    walk = simulate(SimConfig(activity="walk", duration_s=10))
    assert "hold_s" not in walk.truth["config"] and "cadence_spm" not in stance.truth["config"]


def test_cli_writes_a_self_test_session(tmp_path, capsys):
    out = tmp_path / "sls.gaitimu"
    rc = main(["simulate", "--activity", "single-leg-stance", "--cpd-left", "1", "--cpd-right",
               "6", "--hold", "20", "--touchdown-at", "5", "--sway", "0.4", "--misalign", "10",
               "--loss", "0.01", "--rate", "100", "--seed", "4", "--out", str(out)])
    assert rc == 0
    assert "single-leg-stance" in capsys.readouterr().out
    s = open_session(out)
    assert not s.problems and s.meta["activity"] == "single-leg-stance"
    assert s.meta["protocol"] == s.truth["self_test"]["protocol"]
    assert s.meta["protocol"]["hold_s"] == 20 and s.sample_rate_hz == 100
    holds = s.truth["self_test"]["holds"]
    assert [h["drop_mean_deg"] for h in holds] == pytest.approx([1.0, 6.0], abs=1e-6)
    assert len(holds[0]["touchdowns"]) == 1
    assert s.truth["config"]["sway_deg"] == 0.4
    assert {"obliquity_deg", "sensor_vertical_m", "stance_gate"} <= set(s.truth_arrays)
    out2 = tmp_path / "squat.gaitimu"
    assert main(["simulate", "--activity", "single-leg-squat", "--reps", "2", "--depth", "0.2",
                 "--out", str(out2)]) == 0
    s2 = open_session(out2)
    assert s2.meta["protocol"]["reps"] == 2 and len(s2.truth["self_test"]["reps"]) == 4
    sub = next(a for a in build_parser()._subparsers._group_actions[0].choices.items()
               if a[0] == "simulate")[1]
    choices = next(a.choices for a in sub._actions if a.dest == "activity")
    assert tuple(choices) == ("walk", "run", *SELF_TESTS)


@pytest.mark.parametrize("args, word", [
    (["--hold", "-3"], "hold"),
    (["--reps", "0"], "reps"),
    (["--touchdown-at", "29"], "touchdown"),
    (["--touchdown-at", "40", "--hold", "20"], "touchdown"),
    (["--duration", "60"], "--duration"),
    (["--cadence", "100"], "--cadence"),
    (["--cpd-left", "30"], "cpd_left"),
    (["--standing", "0"], "standing"),
])
def test_cli_bad_self_test_options_one_line_exit_2(tmp_path, capsys, args, word):
    activity = "single-leg-squat" if args[0] == "--reps" else "single-leg-stance"
    rc = main(["simulate", "--activity", activity, *args, "--out", str(tmp_path / "x.gaitimu")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and word in err[0]
    assert not (tmp_path / "x.gaitimu").exists()


def test_cli_refuses_options_of_another_kind_of_session(tmp_path, capsys):
    for activity, args in (("walk", ["--duration", "20", "--hold", "10"]),
                           ("single-leg-stance", ["--reps", "3"]),
                           ("single-leg-squat", ["--touchdown-at", "3"]),
                           ("run", [])):
        rc = main(["simulate", "--activity", activity, *args, "--out",
                   str(tmp_path / "x.gaitimu")])
        assert rc == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_simulated_source_serves_the_protocol_from_its_first_sample():
    """The virtual sensor's source: sample 0 is the protocol's t = 0, then standing."""
    from gaitimu.simulate.source import SELF_TEST_TRAILING_S, simulated_factory

    make = simulated_factory("single-leg-stance", seed=6, hold_s=10, rest_s=2,
                             cpd_right_deg=5.0)
    assert make.protocol == plan_protocol("single-leg-stance", hold_s=10, rest_s=2)
    src = make(100, Scales(8, 1000))
    sim = simulate(SimConfig(activity="single-leg-stance", seed=6, hold_s=10, rest_s=2,
                             cpd_right_deg=5.0, sampling_rate_hz=100,
                             trailing_standing_s=SELF_TEST_TRAILING_S))
    assert sim.duration_s == 5 + 10 + 2 + 5 + 10 + 3 + SELF_TEST_TRAILING_S
    n = sim.t_s.size
    sc = Scales(8, 1000)
    np.testing.assert_allclose(src.read(0, n)[:, 3:] * sc.gyr_per_lsb, sim.gyr,
                               atol=sc.gyr_per_lsb)
    assert simulated_factory("walk").protocol is None
