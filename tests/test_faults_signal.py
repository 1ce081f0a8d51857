"""Signals that are not gait are never analysed as gait (issue 17, item 7).

300 s of Gaussian noise used to give a ~100 steps/min "walk" and a report saying "NOT
FLAGGED ... with 95 % confidence". Now: no gait rhythm -> `NoGaitError` (exit 1, "no gait"),
a dead accelerometer -> one line, exit 2.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitimu.cli import main
from gaitimu.errors import BadInputError, NoGaitError
from gaitimu.pipeline import analyze

FS = 100.0


def _noise(seed: int, acc_sd: float, gyr_sd: float, seconds: float = 120.0, gravity=True):
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    acc = rng.normal(0, acc_sd, (n, 3)) + (np.array([9.81, 0, 0]) if gravity else 0.0)
    return np.arange(n) / FS, acc, rng.normal(0, gyr_sd, (n, 3))


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    acc_sd=st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0]),
    gyr_sd=st.sampled_from([5.0, 30.0, 100.0]),
)
def test_gaussian_noise_is_no_gait(seed: int, acc_sd: float, gyr_sd: float) -> None:
    """Noise is "no gait"; in the rare recording where chance gives a rhythm (1 of 300 in
    benchmarks/validate_faults.py: a 3-4 step "walk") far too few stances remain for a
    verdict (the report needs 20 per side): "inconclusive", nothing is flagged."""
    from gaitimu.report.summary import summarize

    t, acc, gyr = _noise(seed, acc_sd, gyr_sd)
    try:
        res = analyze(t, acc, gyr, sampling_rate_hz=FS, axes="x=up,y=right,z=forward")
    except NoGaitError as e:
        assert "no gait rhythm" in str(e) or "no valid stance" in str(e)
    else:
        assert max(res.info["n_strides"].values()) < 5
        summary = summarize(res.strides, info=res.info)
        assert all(f["kind"] == "inconclusive" for f in summary["flags"])
        assert all(v["status"] != "flagged" for v in summary["verdict"].values())


def test_noise_without_gravity_is_no_gait() -> None:
    t, acc, gyr = _noise(1, 1.0, 10.0, gravity=False)
    with pytest.raises(NoGaitError, match="gravity"):
        analyze(t, acc, gyr, sampling_rate_hz=FS)


def test_all_zero_data_is_one_line_without_runtime_warnings() -> None:
    n = int(30 * FS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail the test
        with pytest.raises(BadInputError, match="not measuring"):
            analyze(np.arange(n) / FS, np.zeros((n, 3)), np.zeros((n, 3)), sampling_rate_hz=FS)


def test_noise_through_the_cli_exits_1_with_one_line(tmp_path, capsys) -> None:
    t, acc, gyr = _noise(7, 3.0, 50.0, seconds=300.0)
    csv = tmp_path / "noise.csv"
    np.savetxt(csv, np.column_stack([t, acc, gyr]), delimiter=",", fmt="%.5f",
               header="t_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", comments="")
    session = tmp_path / "noise.gaitimu"
    assert main(["import", str(csv), "--rate", "100", "--axes", "x=up,y=right,z=forward",
                 "--out", str(session)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(session)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no gait" in err[0] and "Traceback" not in err[0]
    assert main(["report", str(session), "--out", str(tmp_path / "r.html")]) == 1
    assert not (tmp_path / "r.html").exists()  # no "NOT FLAGGED" report for noise


def _sim(activity: str, seed: int = 4, turn_every_s: float | None = None):
    from gaitimu.simulate import SimConfig, simulate

    return simulate(SimConfig(activity=activity, duration_s=40.0, seed=seed,
                              cpd_left_deg=3.0, cpd_right_deg=3.0, turn_every_s=turn_every_s))


#: The smallest gyroscope full scale of MEMS IMUs (deg/s): quick turns exceed it.
SMALL_GYR_RANGE = 125.0


def test_clipped_gyroscope_is_reported_not_analysed() -> None:
    """+-125 deg/s with a quick turn every 6 s: 8 % of the samples clip in the turns; the
    rate cannot be integrated there, so no stance is used and the reason names the
    saturated axis (clipping used to move CPD from 3.06 to 4.33 deg)."""
    sim = _sim("walk", turn_every_s=6.0)
    clipped = np.clip(sim.gyr, -SMALL_GYR_RANGE, SMALL_GYR_RANGE)
    with pytest.raises(NoGaitError, match="gyroscope saturated") as e:
        analyze(sim.t_s, sim.acc, clipped, sampling_rate_hz=200.0)
    assert "500 deg/s" in str(e.value)


def test_quiet_standing_is_not_saturation() -> None:
    """Standing still repeats its own small maximum (a few deg/s, quantised) many times:
    below any sensor range, never called saturated (a single-leg-stance test was)."""
    from gaitimu.analysis.conditioning import find_saturation

    t = np.arange(6000) / 200.0
    lsb = 2000.0 / 32768  # a +-2000 deg/s gyroscope's step: every sway peak reaches the
    sway = 3.9 * np.sin(2 * np.pi * 0.3 * t)  # same top level, in many separate runs
    gyr = np.round(np.column_stack([sway, 0.5 * sway, 0.2 * sway]) / lsb) * lsb
    acc = np.round(np.column_stack([9.81 + 0.05 * sway, 0.1 * sway, 0.1 * sway]) / 0.0048)
    mask, warns, per_axis = find_saturation(acc * 0.0048, gyr)
    assert not mask.any() and not warns and not per_axis


def test_clipped_accelerometer_is_warned_per_axis_and_values_hold() -> None:
    sim = _sim("run")
    ref = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=200.0)
    lim = 2.0 * 9.80665
    res = analyze(sim.t_s, np.clip(sim.acc, -lim, lim), sim.gyr, sampling_rate_hz=200.0)
    sat = res.info["alignment"]["saturation"]
    assert set(sat) == {"acc_x"} and sat["acc_x"]["limit"] == pytest.approx(lim)
    assert any("accelerometer x saturated" in w for w in res.info["warnings"])
    assert not any("saturated" in w for w in ref.info["warnings"])
    a = ref.strides[ref.strides.valid].groupby("side")["cpd_standing_deg"].mean()
    b = res.strides[res.strides.valid].groupby("side")["cpd_standing_deg"].mean()
    assert np.allclose(a, b, atol=0.2)


@settings(max_examples=10, deadline=None)
@given(st.floats(30.0, 2000.0), st.integers(0, 3))
def test_unclipped_signals_are_never_called_saturated(scale: float, seed: int) -> None:
    """A real-valued signal reaches its maximum once: no false saturation."""
    from gaitimu.analysis.conditioning import find_saturation

    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 1, (5000, 3)), axis=0) * scale / 100
    mask, warns, per_axis = find_saturation(x + 9.81, x)
    assert not mask.any() and not warns and not per_axis


def test_absurd_sample_times_are_one_line() -> None:
    """A damaged time column (1e300 s) is refused before resampling (it used to ask numpy
    for an array of 1e302 grid points: exit 70)."""
    t = np.arange(3000) / 100.0
    t[-1] = 1e300
    acc = np.tile([9.81, 0.0, 0.0], (t.size, 1))
    with pytest.raises(BadInputError, match="span"):
        analyze(t, acc, np.zeros((t.size, 3)), sampling_rate_hz=100.0)


def test_import_warns_about_clipping_per_axis(tmp_path, caplog) -> None:
    import json
    import logging

    sim = _sim("walk", turn_every_s=10.0)
    gyr = np.clip(sim.gyr, -SMALL_GYR_RANGE, SMALL_GYR_RANGE)
    csv = tmp_path / "clipped.csv"
    np.savetxt(csv, np.column_stack([sim.t_s, sim.acc, gyr]), delimiter=",", fmt="%.6f",
               header="t_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", comments="")
    with caplog.at_level(logging.WARNING):
        assert main(["import", str(csv), "--rate", "200", "--axes", "x=up,y=right,z=forward",
                     "--out", str(tmp_path / "c.gaitimu")]) == 0
    assert any("gyroscope x saturated at +-125" in r.getMessage() for r in caplog.records)
    meta = json.loads((tmp_path / "c.gaitimu" / "meta.json").read_text())
    assert "gyr_x" in meta["import"]["saturation"]
