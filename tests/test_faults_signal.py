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
    t, acc, gyr = _noise(seed, acc_sd, gyr_sd)
    with pytest.raises(NoGaitError, match=r"no gait rhythm|no valid stance"):
        analyze(t, acc, gyr, sampling_rate_hz=FS, axes="x=up,y=right,z=forward")


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
