"""The stage-boundary validators (`gaitimu.analysis.datatypes`): one clear line per kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gaitimu.analysis.datatypes import (
    check_body_frame,
    check_events,
    check_sensor_samples,
    check_strides,
)
from gaitimu.errors import BadInputError
from gaitimu.pipeline import analyze


def test_sensor_samples_shapes_and_times() -> None:
    t, a, g = check_sensor_samples([0, 0.01], [[0, 0, 9.8]] * 2, [[0, 0, 0]] * 2)
    assert t.dtype == float and a.shape == (2, 3) and g.shape == (2, 3)
    with pytest.raises(BadInputError, match=r"acc \(2, 2\).*expected"):
        check_sensor_samples([0, 1], np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(BadInputError, match="1 sample time"):
        check_sensor_samples([0, np.nan], np.zeros((2, 3)), np.zeros((2, 3)))
    # NaN signal values are holes, not an error
    check_sensor_samples([0, 1], [[np.nan] * 3, [0, 0, 0]], np.zeros((2, 3)))


def test_frames_name_the_stage_and_the_missing_columns() -> None:
    body = pd.DataFrame(np.zeros((3, 6)), columns=["acc_is", "acc_ml", "acc_pa", "gyr_is",
                                                   "gyr_ml", "gyr_pa"])
    assert check_body_frame(body) is body
    with pytest.raises(BadInputError, match=r"events: body-frame signals lack column.*gyr_pa"):
        check_body_frame(body.drop(columns="gyr_pa"), what="events")
    with pytest.raises(BadInputError, match=r"expected a pandas DataFrame.*got list"):
        check_strides([1, 2])
    with pytest.raises(BadInputError, match=r"lack column.*ic_s"):
        check_events(pd.DataFrame({"side": ["L"]}))
    with pytest.raises(BadInputError, match="side must be 'L', 'R' or empty, not 'left'"):
        check_events(pd.DataFrame({"side": ["left"], "ic_s": [1.0]}))


def test_analyze_refuses_bad_input_with_one_line() -> None:
    with pytest.raises(BadInputError, match=r"^analyze: t_s"):
        analyze(np.zeros(10), np.zeros((10, 2)), np.zeros((10, 3)), sampling_rate_hz=100.0)
    t = np.arange(1000) / 100.0
    acc = np.tile([9.81, 0.0, 0.0], (1000, 1))
    with pytest.raises(BadInputError, match=r"^analyze: given events: events lack"):
        analyze(t, acc, np.zeros((1000, 3)), sampling_rate_hz=100.0,
                events=pd.DataFrame({"ic_s": [1.0]}))
