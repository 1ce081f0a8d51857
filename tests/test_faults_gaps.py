"""Data gaps never corrupt the pelvis angles after them (issue 17, item 1).

A hole in the stream (a lost BLE burst, a corrupted block) used to be bridged by holding the
last angular rate, which the orientation filter integrated as motion that did not happen:
46 stances after a 0.5 s hole stayed ``valid`` but were up to 16.9 deg off for 30 s. Now the
filter never runs through a hole (`gaitimu.analysis.orientation.fuse_segments`): each
stance after the hole either equals the undamaged session's or is invalid with a reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaitimu.pipeline import analyze
from gaitimu.simulate import SimConfig, simulate

SETTLING = "orientation settling after a data gap"


def _session(activity: str, standing_s: float, seed: int):
    return simulate(
        SimConfig(
            activity=activity, duration_s=70.0, cpd_left_deg=3.0, cpd_right_deg=3.0,
            seed=seed, standing_s=standing_s,
        )
    )


_CACHE: dict = {}


def _ref(activity: str, standing_s: float, seed: int):
    key = (activity, standing_s, seed)
    if key not in _CACHE:
        sim = _session(*key)
        res = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=200.0, activity=activity)
        _CACHE[key] = (sim, res)
    return _CACHE[key]


def _cut(activity, standing_s, seed, holes):
    sim, ref = _ref(activity, standing_s, seed)
    keep = np.ones(sim.t_s.size, dtype=bool)
    for t0, t1 in holes:
        keep &= ~((sim.t_s >= t0) & (sim.t_s < t1))
    dam = analyze(
        sim.t_s[keep], sim.acc[keep], sim.gyr[keep], sampling_rate_hz=200.0, activity=activity
    )
    col = "cpd_standing_deg" if standing_s > 0 else "cpd_ic_deg"
    m = pd.merge_asof(
        ref.strides.sort_values("ic_s"), dam.strides.sort_values("ic_s"), on="ic_s",
        direction="nearest", tolerance=0.03, suffixes=("", "_d"),
    )
    return m, col, dam


def _check(m: pd.DataFrame, col: str, end: float, start: float) -> tuple[float, float]:
    """Max |difference| of the stances valid in both, in the 10 s after the hole and later;
    every stance valid before but not after has a reason, or was lost in the hole (its
    contacts within a stride of it)."""
    both = m[m["valid"] & m["valid_d"].eq(True)]
    d = (both[col] - both[col + "_d"]).abs()
    near = d[(both["ic_s"] > end) & (both["ic_s"] <= end + 10.0)]
    far = d[both["ic_s"] > end + 10.0]
    dropped = m[m["valid"] & ~m["valid_d"].eq(True)]
    unmatched = dropped[dropped["valid_d"].isna()]
    assert unmatched["ic_s"].between(start - 1.5, end + 1.5).all()
    assert dropped.loc[dropped["valid_d"].notna(), "invalid_reason_d"].ne("").all()
    return (float(near.max()) if len(near) else 0.0, float(far.max()) if len(far) else 0.0)


@pytest.mark.parametrize("activity", ["walk", "run"])
def test_half_second_hole_acceptance(activity: str) -> None:
    """The issue's acceptance: after a 0.5 s hole, valid stances of the next 10 s within
    1 deg of the undamaged session, all later ones within 0.1 deg (or invalid, with the
    reason); before the hole, identical."""
    m, col, dam = _cut(activity, 5.0, 1, [(30.0, 30.5)])
    near, far = _check(m, col, 30.5, 30.0)
    assert near <= 1.0 and far <= 0.1
    # before the hole: the same (to the session-wide estimates, e.g. the heading, that the
    # lost samples no longer enter)
    before = m[m["ic_s"] < 29.0]
    assert before["valid_d"].eq(before["valid"]).all()
    assert np.allclose(before[col], before[col + "_d"], atol=0.01, equal_nan=True)
    # the filter restarted and the stances while it settles are marked, not silently used
    assert dam.info["alignment"]["settling_s"][0][0] == pytest.approx(30.5, abs=0.01)
    assert (dam.strides["invalid_reason"] == SETTLING).sum() > 10
    assert any("restarted" in w for w in dam.info["warnings"])
    # later stances are used again: the session is not thrown away
    assert dam.strides.loc[dam.strides["ic_s"] > 47.0, "valid"].mean() > 0.9


def test_short_hole_no_settling_small_error() -> None:
    """A 0.15 s hole (a lossy link): the filter restarts without a settling interval; the
    difference stays under 1 deg and decays (documented: <= 0.6 / 0.2 deg)."""
    m, col, dam = _cut("walk", 5.0, 1, [(30.0, 30.15)])
    near, far = _check(m, col, 30.15, 30.0)
    assert near <= 1.0 and far <= 0.3
    assert dam.info["alignment"]["settling_s"] == []


def test_without_standing_the_offline_filter_runs_per_stretch() -> None:
    m, col, _ = _cut("walk", 0.0, 3, [(30.0, 30.5), (33.0, 33.5)])
    near, far = _check(m, col, 33.5, 30.0)
    assert near <= 0.1 and far <= 0.05


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.floats(12.0, 50.0),
    length=st.sampled_from([0.1, 0.3, 0.5, 1.0, 2.0, 5.0]),
)
def test_gaps_of_any_length_never_silently_wrong(start: float, length: float) -> None:
    """Gaps of 0.1-5 s anywhere in a run: no valid stance after the hole is more than 1 deg
    off; beyond 10 s none is more than 0.3 deg off (0.15 for gaps over 0.2 s: over a grid of
    16 positions x 5 lengths the largest was 0.11 deg, median 0.03-0.07; the 0.5 s hole of
    the acceptance test above stays within 0.1)."""
    m, col, _ = _cut("run", 5.0, 2, [(start, start + length)])
    near, far = _check(m, col, start + length, start)
    assert near <= 1.0
    assert far <= (0.15 if length > 0.2 else 0.3)
