"""Turn detection (`gaitimu.analysis.turns`): synthetic heading profiles with known turns,
mirror and additivity properties, gaps, one real IPOL U-turn and simulated turns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaitimu.analysis import turns as turns_mod
from gaitimu.analysis.turns import (
    TURN_COLUMNS,
    detect_turns,
    empty_turns,
    step_turn_ids,
    steps_in_turns,
)

FS = 100.0


def _smootherstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x**3 * (10 - 15 * x + 6 * x**2)


def _body(
    turns: list[tuple[float, float, float]],
    *,
    duration_s: float = 30.0,
    stride_hz: float = 0.9,
    osc_deg: float = 8.0,
    noise_dps: float = 2.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Pelvis signals whose heading makes the given turns ``(start_s, duration_s, angle_deg)``
    on top of the pelvis' own yaw oscillation at the stride frequency, plus white noise."""
    t = np.arange(round(duration_s * FS)) / FS
    yaw = osc_deg * np.sin(2 * np.pi * stride_hz * t)
    for t0, dur, ang in turns:
        yaw = yaw + ang * _smootherstep((t - t0) / dur)
    rate = np.gradient(yaw) * FS
    rng = np.random.default_rng(seed)
    rate = rate + rng.normal(0.0, noise_dps, t.size)
    yaw_meas = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) / FS)])
    return pd.DataFrame({"t_s": t, "gyr_is": rate, "yaw_deg": yaw_meas, "valid": np.ones(t.size, bool)})


# --------------------------------------------------------------------------- known turns
@pytest.mark.parametrize("angle", [90.0, 180.0, -90.0, -180.0])
@pytest.mark.parametrize("dur", [1.5, 3.0])
def test_known_turn_angle_direction_and_timing(angle, dur):
    body = _body([(12.0, dur, angle)])
    tr = detect_turns(body, sampling_rate_hz=FS)
    assert list(tr.columns) == list(TURN_COLUMNS)
    assert len(tr) == 1
    row = tr.iloc[0]
    assert row["angle_deg"] == pytest.approx(angle, abs=4.0)
    assert row["direction"] == ("left" if angle > 0 else "right")
    # the 0.5 Hz smoothing widens the turn by a few tenths of a second on each side
    # (a slow smootherstep starts and ends below the 5 deg/s boundary)
    assert 11.0 < row["start_s"] <= 12.0 + 0.1 * dur
    assert 12.0 + 0.9 * dur <= row["end_s"] < 13.0 + dur
    assert row["duration_s"] == pytest.approx(row["end_s"] - row["start_s"])
    # peak heading rate of a smootherstep: 1.875 * angle / duration (smoothed: a bit less)
    assert 0.6 * 1.875 * abs(angle) / dur < row["peak_rate_dps"] <= 1.05 * 1.875 * abs(angle) / dur
    assert row["mean_rate_dps"] == pytest.approx(abs(row["angle_deg"]) / row["duration_s"])
    assert not row["spans_gap"]
    assert row["turn_id"] == 0


def test_straight_walking_and_running_have_no_turn():
    walk = _body([], osc_deg=10.0, stride_hz=0.9, noise_dps=3.0)
    run = _body([], osc_deg=15.0, stride_hz=1.4, noise_dps=5.0)
    for body in (walk, run):
        tr = detect_turns(body, sampling_rate_hz=FS)
        assert tr.empty
        assert list(tr.columns) == list(TURN_COLUMNS)


def test_running_turn_with_a_large_stride_oscillation():
    body = _body([(10.0, 3.0, -180.0)], osc_deg=15.0, stride_hz=1.4, noise_dps=5.0)
    tr = detect_turns(body, sampling_rate_hz=FS)
    assert len(tr) == 1
    # a 1 s heading window is not a whole number of 0.71 s strides: +-15 deg of oscillation
    # leave up to ~3.5 deg per window
    assert tr["angle_deg"].iloc[0] == pytest.approx(-180.0, abs=8.0)


def test_small_slow_and_long_heading_changes_are_not_turns():
    # 30 deg: below the 45 deg minimum; 90 deg over 14 s: longer than 10 s and slow
    body = _body([(5.0, 1.5, 30.0), (12.0, 14.0, 90.0)], duration_s=35.0)
    assert detect_turns(body, sampling_rate_hz=FS).empty
    # the minimum angle is a setting
    tr = detect_turns(body, sampling_rate_hz=FS, min_angle_deg=20.0)
    assert len(tr) == 1 and tr["angle_deg"].iloc[0] == pytest.approx(30.0, abs=4.0)


def test_empty_turns_keeps_columns_and_dtypes():
    e = empty_turns()
    assert list(e.columns) == list(TURN_COLUMNS)
    assert e.dtypes["turn_id"] == np.int64 and e.dtypes["spans_gap"] == np.bool_
    assert str(e.dtypes["n_steps"]) == "Int64"
    tr = detect_turns(_body([(8.0, 2.0, 180.0)], duration_s=20), sampling_rate_hz=FS)
    assert (tr.dtypes == e.dtypes).all()
    one = pd.DataFrame({"t_s": [0.0], "gyr_is": [1.0], "yaw_deg": [0.0], "valid": [True]})
    for frame in ("body", "earth"):
        assert detect_turns(one, sampling_rate_hz=FS, frame=frame).empty
    assert detect_turns(one.iloc[:0], sampling_rate_hz=FS).empty


def test_earth_frame_gives_the_same_turns():
    body = _body([(8.0, 2.0, 180.0), (18.0, 1.5, -90.0)])
    a = detect_turns(body, sampling_rate_hz=FS)
    b = detect_turns(body, sampling_rate_hz=FS, frame="earth")
    assert len(a) == len(b) == 2
    np.testing.assert_allclose(a["angle_deg"], b["angle_deg"], atol=1.0)
    np.testing.assert_allclose(a["start_s"], b["start_s"], atol=0.02)


def test_bad_settings_raise():
    body = _body([], duration_s=5)
    with pytest.raises(ValueError, match="frame"):
        detect_turns(body, sampling_rate_hz=FS, frame="sensor")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        detect_turns(body, sampling_rate_hz=0.0)


# --------------------------------------------------------------------------- gaps
def test_short_gap_inside_a_turn_is_not_integrated_and_is_marked():
    body = _body([(10.0, 2.0, 180.0)], noise_dps=0.5)
    gap = (body["t_s"] >= 10.8) & (body["t_s"] < 11.1)
    rate_true = body["gyr_is"].to_numpy().copy()
    body.loc[gap, "gyr_is"] = 0.0  # held / unknown values in a hole
    body.loc[gap, "valid"] = False
    tr = detect_turns(body, sampling_rate_hz=FS)
    assert len(tr) == 1  # the detection bridges a 0.3 s hole: one turn, not two
    row = tr.iloc[0]
    assert row["spans_gap"]
    missing = rate_true[gap.to_numpy()].sum() / FS  # the rotation inside the hole
    assert missing > 30
    assert row["angle_deg"] == pytest.approx(180.0 - missing, abs=3.0)
    # garbage in the hole changes nothing: it is never integrated
    body.loc[gap, "gyr_is"] = 5000.0
    tr2 = detect_turns(body, sampling_rate_hz=FS)
    assert tr2["angle_deg"].iloc[0] == pytest.approx(row["angle_deg"], abs=1e-9)
    body.loc[gap, "gyr_is"] = np.nan
    assert detect_turns(body, sampling_rate_hz=FS)["angle_deg"].iloc[0] == pytest.approx(
        row["angle_deg"], abs=1e-9
    )


def test_long_gap_ends_turns_and_marks_them():
    body = _body([(10.0, 4.0, 270.0)], noise_dps=0.5, duration_s=25)
    gap = (body["t_s"] >= 11.5) & (body["t_s"] < 12.5)
    body.loc[gap, "valid"] = False
    tr = detect_turns(body, sampling_rate_hz=FS)
    assert len(tr) == 2  # nothing is assumed across a 1 s hole
    assert tr["spans_gap"].all()
    assert (tr["end_s"].iloc[0] <= 11.5 + 0.02) and (tr["start_s"].iloc[1] >= 12.5 - 0.02)
    assert (tr["direction"] == "left").all()


def test_turn_away_from_gaps_is_not_marked():
    body = _body([(10.0, 2.0, 180.0)])
    body.loc[(body["t_s"] >= 20) & (body["t_s"] < 21), "valid"] = False
    tr = detect_turns(body, sampling_rate_hz=FS)
    assert len(tr) == 1 and not tr["spans_gap"].iloc[0]


# --------------------------------------------------------------------------- properties
turn_spec = st.tuples(
    st.floats(1.0, 4.0),  # duration s
    st.sampled_from([-1.0, 1.0]),
    st.floats(70.0, 220.0),  # |angle| deg
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(turn_spec, min_size=1, max_size=4), seed=st.integers(0, 1000))
def test_mirror_flips_sign_and_total_angle_is_the_sum(specs, seed):
    spec, t0 = [], 3.0
    for dur, sign, ang in specs:
        spec.append((t0, dur, sign * ang))
        t0 += dur + 4.0
    body = _body(spec, duration_s=t0 + 2.0, seed=seed)
    tr = detect_turns(body, sampling_rate_hz=FS)
    # every turn found, each angle right, and the angles add up to the heading change
    assert len(tr) == len(spec)
    np.testing.assert_allclose(tr["angle_deg"], [s[2] for s in spec], atol=6.0)
    heading = np.cumsum(body["gyr_is"].to_numpy()) / FS
    total = float(heading[-100:].mean() - heading[:100].mean())  # last 1 s vs first 1 s
    assert tr["angle_deg"].sum() == pytest.approx(total, abs=3.0 * len(spec) + 2.0)
    # mirror (rotation about the vertical changes sign): same turns, opposite sides
    mirror = body.assign(gyr_is=-body["gyr_is"], yaw_deg=-body["yaw_deg"])
    tm = detect_turns(mirror, sampling_rate_hz=FS)
    assert len(tm) == len(tr)
    np.testing.assert_allclose(tm["angle_deg"], -tr["angle_deg"], atol=1e-9)
    np.testing.assert_allclose(tm["start_s"], tr["start_s"])
    np.testing.assert_allclose(tm["end_s"], tr["end_s"])
    assert ((tm["direction"] == "left") == (tr["direction"] == "right")).all()


@settings(max_examples=50, deadline=None)
@given(
    iv=st.lists(st.tuples(st.integers(0, 200), st.integers(1, 30)), min_size=1, max_size=8),
    gap=st.integers(0, 5),
)
def test_merge_gives_disjoint_intervals_covering_the_input(iv, gap):
    s = np.array([a for a, _ in iv])
    e = s + np.array([b for _, b in iv])
    ms, me = turns_mod._merge(s, e, gap)
    assert np.all(ms[1:] > me[:-1] + gap)
    for a, b in zip(s, e, strict=True):
        assert np.any((ms <= a) & (me >= b))


# --------------------------------------------------------------------------- steps
def test_steps_in_turns_and_n_steps():
    body = _body([(10.0, 2.0, 180.0)])
    steps = np.arange(0.25, 30.0, 0.55)
    tr = detect_turns(body, sampling_rate_hz=FS, step_times_s=steps)
    ids = step_turn_ids(steps, tr)
    inside = (steps >= tr["start_s"].iloc[0]) & (steps < tr["end_s"].iloc[0])
    np.testing.assert_array_equal(ids >= 0, inside)
    assert set(ids[inside]) == {0}
    assert tr["n_steps"].iloc[0] == inside.sum()
    ev = pd.DataFrame({"ic_s": steps})
    np.testing.assert_array_equal(steps_in_turns(ev, tr), inside)
    np.testing.assert_array_equal(steps_in_turns(steps, empty_turns()), False)
    assert pd.isna(detect_turns(body, sampling_rate_hz=FS)["n_steps"].iloc[0])


# --------------------------------------------------------------------------- real and simulated
def test_ipol_trial_has_one_u_turn_covering_the_reference_turn_steps():
    from conftest import shared_data_dir

    gd = shared_data_dir("ipol_lowerback", "GaitData")
    import json

    from gaitimu.pipeline import pelvis_signals
    from gaitimu.sessions.importer import read_imu_table

    name = "2-1"
    t_s, acc, gyr, _ = read_imu_table(gd / f"{name}_lb.txt", rate_hz=100.0, gyr_unit="rad/s")
    meta = json.loads((gd / f"{name}.json").read_text())
    body, _, _ = pelvis_signals(t_s, acc, gyr, sampling_rate_hz=100.0, axes="x=up,y=left,z=backward")
    tr = detect_turns(body, sampling_rate_hz=100.0)
    lo, hi = (b / 100.0 for b in meta["TrialBoundaries"])
    u0, u1 = (b / 100.0 for b in meta["UTurnBoundaries"])
    big = tr[(tr["angle_deg"].abs() >= 90) & (tr["start_s"] < u1) & (tr["end_s"] > u0)]
    assert len(big) == 1
    assert 160 <= abs(big["angle_deg"].iloc[0]) <= 200
    # no turn on the straight passes
    straight = tr[(tr["end_s"] > lo) & (tr["start_s"] < hi)].drop(big.index)
    assert not ((straight["start_s"] < u0) | (straight["end_s"] < hi - 3.0)).any()
    ic = np.array([s[1] for k in ("LeftFootEvents", "RightFootEvents") for s in meta[k]]) / 100.0
    ref_turn_steps = (ic >= u0) & (ic <= u1)
    assert steps_in_turns(ic, tr)[ref_turn_steps].all()


@pytest.mark.parametrize("activity", ["walk", "run"])
def test_simulated_turns_are_found_with_their_angle(activity):
    sim_mod = pytest.importorskip("gaitimu.simulate")
    from gaitimu.pipeline import pelvis_signals

    sim = sim_mod.simulate(
        sim_mod.SimConfig(activity=activity, duration_s=40, seed=3, turn_every_s=10.0,
                          sampling_rate_hz=100.0)
    )
    body, _, _ = pelvis_signals(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=100.0,
                                axes="x=up,y=right,z=forward")
    tr = detect_turns(body, sampling_rate_hz=100.0)
    truth = sim.truth["turns"]
    assert len(truth) >= 2
    assert len(tr) == len(truth)
    for row, true in zip(tr.itertuples(), truth, strict=True):
        assert row.direction == true["direction"]
        assert abs(row.angle_deg) == pytest.approx(180.0, abs=8.0)
        assert row.start_s < true["start_s"] + 0.3 and row.end_s > true["end_s"] - 0.3


def test_turns_reach_the_analysis_summary_and_report(tmp_path):
    """`analyze` carries the turns table (info["turns"]), summary.json a turns block with
    the counts, and the terminal text and the report name them."""
    import json

    from gaitimu.cli import main
    from gaitimu.pipeline import analyze
    from gaitimu.report.summary import summarize
    from gaitimu.report.text import format_result
    from gaitimu.simulate import SimConfig, simulate

    sim = simulate(SimConfig(activity="walk", duration_s=50.0, seed=2, turn_every_s=15.0))
    res = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=200.0)
    turns = res.info["turns"]
    assert len(turns) == 2 and all(abs(abs(t["angle_deg"]) - 180) < 10 for t in turns)
    s = summarize(res.strides, info=res.info)["turns"]
    assert s["n"] == 2 and s["n_left"] + s["n_right"] == 2 and len(s["table"]) == 2
    assert "turns: 2 (" in format_result(res)
    from gaitimu.simulate import write_session

    write_session(sim, tmp_path / "t.gaitimu")
    assert main(["report", str(tmp_path / "t.gaitimu"), "--out", str(tmp_path / "r.html"),
                 "--json", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["turns"]["n"] == 2
    assert "2 turn(s)" in (tmp_path / "r.html").read_text()
