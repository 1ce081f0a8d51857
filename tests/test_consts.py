from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaitimu.consts import DEFAULT_AXES, DIRECTIONS, format_axes, parse_axes
from gaitimu.errors import BadInputError


def test_default_axes_is_identity():
    np.testing.assert_array_equal(parse_axes(DEFAULT_AXES), np.eye(3))


def _right_handed_maps():
    maps = []
    for dirs in itertools.permutations(DIRECTIONS, 3):
        rot = np.column_stack([DIRECTIONS[d] for d in dirs])
        if round(np.linalg.det(rot)) == 1:
            maps.append(",".join(f"{a}={d}" for a, d in zip("xyz", dirs, strict=True)))
    return maps


RIGHT_HANDED = _right_handed_maps()


def test_there_are_24_proper_axis_maps():
    assert len(RIGHT_HANDED) == 24


@given(st.sampled_from(RIGHT_HANDED))
def test_round_trip_and_rotation(spec):
    rot = parse_axes(spec)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert parse_axes(format_axes(rot)).tolist() == rot.tolist()


def test_mapping_direction():
    # sensor x points forward: a forward acceleration shows on x, maps to body pa (index 2)
    rot = parse_axes("x=forward,y=up,z=right")
    np.testing.assert_array_equal(rot @ np.array([1.0, 0, 0]), [0, 0, 1])


@pytest.mark.parametrize(
    "spec",
    ["", "x=up,y=right", "x=up,y=up,z=forward", "x=up,y=left,z=forward", "q=up,y=right,z=forward",
     "x=sideways,y=right,z=forward", "x=up,x=right,z=forward", "xup,y=right,z=forward"],
)
def test_bad_axis_maps(spec):
    with pytest.raises(BadInputError):
        parse_axes(spec)
