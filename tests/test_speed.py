"""Walking step length, speed and distance (`gaitimu.analysis.speed`, issue 11).

Synthetic inverted-pendulum sacrum trajectories with a known step length, invariants
(gravity/bias, amplitude scaling, sampling rate) with hypothesis, the strides/summary/CLI
plumbing, and bad options (one line, exit 2).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import shared_data_dir
from gaitimu.analysis.speed import (
    DEFAULT_K,
    SpeedSettings,
    check_body_size,
    leg_length_from,
    pendulum_step_length,
    step_excursion,
    step_speed,
)
from gaitimu.cli import main
from gaitimu.errors import BadInputError


def pendulum_walk(step_m: float, leg_m: float, step_s: float, n_steps: int, fs: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical specific force (m/s^2, with gravity) of a point vaulting over a rigid leg of
    length ``leg_m`` at constant horizontal speed, one arc per step (contacts on samples);
    and the IC times.

    The acceleration is the second difference of the height on the sampling grid, so the
    velocity reversal at each contact (an impulse) is in the signal as a real sensor's
    low-passed heel strike would be.

    Returns ``(t_s, acc_vertical, ic_s)``.
    """
    per = max(round(step_s * fs), 4)  # samples per step
    n = n_steps * per + 1
    i = np.arange(-1, n + 1)
    phase = (i % per) / per
    x = (phase - 0.5) * step_m  # horizontal position relative to the stance foot
    z = np.sqrt(leg_m**2 - x**2)
    acc = 9.81 + (z[2:] - 2 * z[1:-1] + z[:-2]) * fs**2
    return np.arange(n) / fs, acc, np.arange(n_steps + 1) * per / fs


def true_excursion(step_m: float, leg_m: float) -> float:
    return leg_m - np.sqrt(leg_m**2 - (step_m / 2) ** 2)


# --------------------------------------------------------------------------- core maths
def test_pendulum_trajectory_gives_its_step_length() -> None:
    fs, leg, step = 200.0, 0.9, 0.7
    _t, acc, ic = pendulum_walk(step, leg, 0.55, 10, fs)
    idx = np.round(ic * fs).astype(int)
    h = step_excursion(acc, idx[:-1], idx[1:], fs)
    # the pendulum's z is not smooth at contact: per-step integration still finds h
    np.testing.assert_allclose(h, true_excursion(step, leg), rtol=0.03)
    np.testing.assert_allclose(pendulum_step_length(h, leg, k=1.0), step, rtol=0.02)


@settings(max_examples=30, deadline=None)
@given(step=st.floats(0.3, 0.9), leg=st.floats(0.6, 1.1), step_s=st.floats(0.4, 0.8),
       bias=st.floats(-3, 3), fs=st.sampled_from([50.0, 100.0, 200.0, 400.0]))
def test_excursion_ignores_gravity_bias_and_rate(step, leg, step_s, bias, fs) -> None:
    """Within 5 % at 200-400 Hz, 6 % at 100 Hz, 12 % at 50 Hz (the sampled cusp of an ideal
    pendulum is the worst case, worst for long, quick steps; real heel strikes are
    smoother). Walking steps are shorter than the leg (step / leg about 0.6-0.9 in
    adults); longer ones sharpen the cusp further."""
    assume(step <= leg)
    _t, acc, ic = pendulum_walk(step, leg, step_s, 4, fs)
    idx = np.round(ic * fs).astype(int)
    h = step_excursion(acc + bias, idx[:-1], idx[1:], fs)
    h_ref = true_excursion(step, leg)
    tol = 0.12 if fs < 100 else 0.06 if fs < 200 else 0.05
    assert np.all(np.abs(h - h_ref) <= tol * h_ref)


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(0.1, 10.0), seed=st.integers(0, 1000))
def test_excursion_scales_with_amplitude(scale, seed) -> None:
    """Linear: c x the free acceleration gives c x the excursion (any signal)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 2, 400)
    start, end = np.array([0, 90, 200]), np.array([90, 200, 399])
    h1 = step_excursion(a, start, end, 100.0)
    h2 = step_excursion(9.81 + scale * a, start, end, 100.0)
    np.testing.assert_allclose(h2, scale * h1, rtol=1e-9, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(leg=st.floats(0.4, 1.3), ratio=st.floats(0.0, 0.2), k=st.floats(0.5, 2.0),
       c=st.floats(0.5, 2.0))
def test_step_length_scale_invariance(leg, ratio, k, c) -> None:
    """Scaling leg length and excursion together scales the step length (a child is a
    small adult); K multiplies."""
    h = ratio * leg
    a = pendulum_step_length(np.array([h]), leg, k)[0]
    b = pendulum_step_length(np.array([c * h]), c * leg, k)[0]
    assert b == pytest.approx(c * a, rel=1e-9, abs=1e-12)
    assert pendulum_step_length(np.array([h]), leg, 2 * k)[0] == pytest.approx(2 * a)


def test_implausible_excursion_and_short_steps_are_nan() -> None:
    assert np.isnan(pendulum_step_length(np.array([0.5]), 0.9)).all()
    assert np.isnan(pendulum_step_length(np.array([np.nan, -0.01]), 0.9)).all()
    assert np.isnan(step_excursion(np.zeros(10), np.array([0, 8]), np.array([1, 20]), 100.0)).all()


# --------------------------------------------------------------------------- step_speed
def _strides_for(ic: np.ndarray, activity: str = "walk") -> pd.DataFrame:
    n = ic.size
    step = np.r_[np.nan, np.diff(ic)]
    return pd.DataFrame({
        "side": ["L", "R"] * (n // 2) + ["L"] * (n % 2), "bout_id": 0, "activity": activity,
        "ic_s": ic, "next_ic_s": np.r_[ic[1:], np.nan], "step_s": step,
        "turn": False, "valid": True, "invalid_reason": "",
    })


def _body(t: np.ndarray, acc: np.ndarray) -> pd.DataFrame:
    z = np.zeros_like(t)
    return pd.DataFrame({"t_s": t, "acc_is": acc, "acc_ml": z, "acc_pa": z,
                         "obliquity_deg": z, "tilt_deg": z, "valid": True})


def test_step_speed_on_a_pendulum_walk() -> None:
    fs, leg, step, step_s = 100.0, 0.9, 0.7, 0.5
    t, acc, ic = pendulum_walk(step, leg, step_s, 20, fs)
    st_ = _strides_for(ic)
    st_.loc[5, "turn"] = True
    st_.loc[7, ["valid", "invalid_reason"]] = [False, "no side: weak"]  # step still measured
    st_.loc[9, ["valid", "invalid_reason"]] = [False, "data gap in the stance"]
    cols, info = step_speed(st_, _body(t, acc), sampling_rate_hz=fs,
                            settings=SpeedSettings(leg_length_m=leg, k=1.0))
    sl = cols["step_length_m"]
    assert np.isnan(sl[0]) and np.isnan(sl[5]) and np.isnan(sl[9]) and np.isfinite(sl[7])
    np.testing.assert_allclose(sl.dropna(), step, rtol=0.03)
    np.testing.assert_allclose(cols["speed_mps"].dropna(), step / step_s, rtol=0.03)
    # 20 steps + the start/stop half steps (one more): 21 steps of 0.7 m
    assert info["estimated"] and info["distance_m"] == pytest.approx(21 * step, rel=0.03)
    # excluded and turn steps count in the distance with their own pendulum length
    assert info["bouts"][0]["n_bridged"] == 0 and info["n_steps"] == 18
    assert info["speed_mps"] == pytest.approx(step / step_s, rel=0.03)


def test_step_speed_not_estimated_without_leg_length_or_when_running() -> None:
    t, acc, ic = pendulum_walk(0.7, 0.9, 0.5, 6, 100.0)
    cols, info = step_speed(_strides_for(ic), _body(t, acc), sampling_rate_hz=100.0,
                            settings=SpeedSettings(leg_length_m=None))
    assert cols.isna().all().all() and not info["estimated"]
    assert "leg length" in info["reason"]
    cols, info = step_speed(_strides_for(ic, "run"), _body(t, acc), sampling_rate_hz=100.0,
                            settings=SpeedSettings(leg_length_m=0.9))
    assert cols.isna().all().all() and "running" in info["reason"]


def test_leg_length_from_height_and_checks() -> None:
    assert leg_length_from(0.85, 1.9) == (0.85, "given leg length 0.85 m")
    leg, src = leg_length_from(None, 1.80)
    assert leg == pytest.approx(0.954) and "0.53 x height" in src
    assert leg_length_from(None, None) == (None, "")
    for bad in ("x", 0, 85, float("nan"), -1):
        with pytest.raises(BadInputError, match="--leg-length"):
            check_body_size(bad, "leg_length_m")
    with pytest.raises(BadInputError, match="--height"):
        check_body_size(175, "height_m")  # centimetres


# --------------------------------------------------------------------------- CLI end to end
@pytest.fixture(scope="module")
def walk_session(tmp_path_factory):
    """A simulated 40 s walk at the simulator's nominal 1.3 m/s and 105 spm."""
    out = tmp_path_factory.mktemp("speed") / "walk.gaitimu"
    assert main(["simulate", "--activity", "walk", "--duration", "40", "--speed", "1.3",
                 "--out", str(out)]) == 0
    return out


def test_cli_simulated_walk_speed(walk_session, tmp_path, capsys) -> None:
    """The simulator's vertical motion is measured harmonics scaled in proportion to the
    speed, not an inverted pendulum tied to a leg length (docs/simulator.md): only its
    nominal point (1.3 m/s, 105 spm, where the harmonics were measured) is meaningful. There
    a 1.75 m tall person's leg gives 1.15 m/s (-12 %): checked within 15 %."""
    strides = tmp_path / "s.csv"
    assert main(["analyze", str(walk_session), "--height", "1.75", "--strides",
                 str(strides)]) == 0
    out = capsys.readouterr().out
    assert "speed: walking" in out
    df = pd.read_csv(strides)
    assert {"step_length_m", "speed_mps"} <= set(df.columns)
    assert df["speed_mps"].median() == pytest.approx(1.3, rel=0.15)
    js = tmp_path / "s.json"
    assert main(["report", str(walk_session), "--leg-length", "0.93", "--out",
                 str(tmp_path / "r.html"), "--json", str(js)]) == 0
    summary = json.loads(js.read_text())
    assert summary["speed"]["status"] == "estimated"
    assert summary["speed_mps"] == pytest.approx(1.3, rel=0.15)
    assert summary["distance_m"] > 30  # ~35 s of walking
    assert summary["speed"]["leg_length_from"] == "option"
    assert "walking speed" in (tmp_path / "r.html").read_text()


def test_cli_without_leg_length_says_so(walk_session, capsys) -> None:
    assert main(["analyze", str(walk_session)]) == 0
    out = capsys.readouterr().out
    assert "speed: not estimated: no leg length" in out


@pytest.mark.parametrize("args, msg", [
    (["--leg-length", "0"], "--leg-length"),
    (["--leg-length", "90"], "--leg-length"),
    (["--height", "175"], "--height"),
    (["--height", "abc"], "--height"),
])
def test_cli_bad_body_size_is_one_line_exit_2(walk_session, args, msg, capsys) -> None:
    try:
        code = main(["analyze", str(walk_session), *args])
    except SystemExit as e:  # argparse: not a number
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_import_stores_body_size_and_treadmill_speed(tmp_path, capsys) -> None:
    """import --height/--speed-kmh are stored; a run is not estimated, the given speed is
    reported as given; bad values: one line, exit 2, nothing written."""
    sim = tmp_path / "run.gaitimu"
    assert main(["simulate", "--activity", "run", "--duration", "20", "--out", str(sim)]) == 0
    assert main(["export", str(sim), "--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    csv = next((tmp_path / "csv").glob("*_samples.csv"))
    imp = tmp_path / "imp.gaitimu"
    bad = main(["import", str(csv), "--rate", "200", "--axes", "x=up,y=right,z=forward",
                "--out", str(imp), "--speed-kmh", "-3"])
    assert bad == 2 and not imp.exists()
    assert "--speed-kmh" in capsys.readouterr().err
    assert main(["import", str(csv), "--rate", "200", "--axes", "x=up,y=right,z=forward",
                 "--out", str(imp), "--height", "1.8", "--speed-kmh", "12"]) == 0
    meta = json.loads((imp / "meta.json").read_text())
    assert meta["height_m"] == 1.8 and meta["speed_kmh"] == 12.0 and "leg_length_m" not in meta
    js = tmp_path / "s.json"
    assert main(["report", str(imp), "--out", str(tmp_path / "r.html"), "--json", str(js)]) == 0
    sp = json.loads(js.read_text())["speed"]
    assert sp["status"] == "given" and sp["given_speed_kmh"] == 12.0
    assert "running speed is not estimated" in sp["reason"]
    assert json.loads(js.read_text())["speed_mps"] is None
    assert "treadmill speed 12.0 km/h" in (tmp_path / "r.html").read_text()


def test_meta_with_a_bad_leg_length_is_refused(tmp_path, walk_session) -> None:
    import shutil

    from gaitimu.sessions import open_session

    s = tmp_path / "s.gaitimu"
    shutil.copytree(walk_session, s)
    meta = json.loads((s / "meta.json").read_text())
    meta["leg_length_m"] = "long"
    (s / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BadInputError, match="leg_length_m"):
        open_session(s)


def test_ipol_trial_walks_about_20_m(tmp_path, capsys) -> None:
    """Real data: IPOL 1-1 (20 m protocol, height 1.75 m) imported with --height."""
    src = shared_data_dir("ipol_lowerback", "GaitData") / "1-1_lb.txt"
    out = tmp_path / "ipol.gaitimu"
    assert main(["import", str(src), "--rate", "100", "--axes", "x=up,y=left,z=backward",
                 "--gyr-unit", "rad/s", "--height", "1.75", "--out", str(out)]) == 0
    js = tmp_path / "s.json"
    assert main(["report", str(out), "--out", str(tmp_path / "r.html"), "--json",
                 str(js)]) == 0
    s = json.loads(js.read_text())
    assert s["speed"]["leg_length_from"] == "session"
    assert s["distance_m"] == pytest.approx(20.0, rel=0.15)
    assert 0.8 < s["speed_mps"] < 1.8
    assert s["speed"]["k"] == DEFAULT_K
