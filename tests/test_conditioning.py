"""Signal conditioning: uniform grid, short holes bridged, long gaps masked, zero-phase filters."""

from __future__ import annotations

import numpy as np
import pytest

from gaitimu.analysis.conditioning import gap_intervals, resample_uniform
from gaitimu.analysis.filters import bandpass, lowpass
from gaitimu.errors import BadInputError


def _signals(t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    acc = np.column_stack([9.81 + np.sin(2 * np.pi * 1.0 * t_s), np.cos(t_s), 0 * t_s])
    gyr = np.column_stack([10 * np.sin(2 * np.pi * 0.5 * t_s), 0 * t_s, t_s])
    return acc, gyr


@pytest.mark.parametrize("fs", [50.0, 100.0, 200.0, 400.0])
def test_jittered_timestamps_land_on_uniform_grid(fs: float) -> None:
    rng = np.random.default_rng(0)
    n = int(10 * fs)
    t = np.arange(n) / fs + rng.uniform(-0.2, 0.2, n) / fs
    t[0] = 0.0
    acc, gyr = _signals(t)
    out = resample_uniform(t, acc, gyr, sampling_rate_hz=fs)
    assert np.allclose(np.diff(out.t_s), 1 / fs)
    assert out.valid.all() and out.gaps_s == []
    ref_acc, ref_gyr = _signals(out.t_s)
    assert np.max(np.abs(out.acc - ref_acc)) < 0.02
    assert np.max(np.abs(out.gyr - ref_gyr)) < 0.2


def test_short_hole_is_interpolated_long_gap_is_masked_not_bridged() -> None:
    fs = 100.0
    t = np.arange(0, 20, 1 / fs)
    short = (t > 5.0) & (t < 5.035)  # 3 samples missing: 40 ms hole
    long_ = (t > 10.0) & (t < 10.5)  # 0.5 s gap
    keep = ~(short | long_)
    acc, gyr = _signals(t)
    out = resample_uniform(t[keep], acc[keep], gyr[keep], sampling_rate_hz=fs)
    assert out.t_s.size == t.size
    assert out.valid[np.searchsorted(out.t_s, 5.02)]
    assert out.n_interpolated == 3
    inside = (out.t_s > 10.0) & (out.t_s < 10.5)
    assert not out.valid[inside].any()
    assert out.valid[~inside].all()
    assert len(out.gaps_s) == 1
    g0, g1 = out.gaps_s[0]
    assert g0 == pytest.approx(10.01, abs=0.011) and g1 == pytest.approx(10.5, abs=0.011)
    # held, not invented: values in the gap equal the last good sample
    assert np.all(out.acc[inside] == acc[keep][t[keep] <= 10.0][-1])


def test_three_hole_classes_interpolated_bridged_held() -> None:
    """<= 50 ms: interpolated, valid. 50 ms - 0.2 s: interpolated, invalid, bridged.
    Longer: held at the last sample, invalid, not bridged."""
    from gaitimu.analysis.conditioning import DEFAULT_MAX_BRIDGE_GAP_S, DEFAULT_MAX_INTERP_GAP_S

    assert DEFAULT_MAX_INTERP_GAP_S < DEFAULT_MAX_BRIDGE_GAP_S <= 0.25
    fs = 100.0
    t = np.arange(0, 20, 1 / fs)
    acc, gyr = _signals(t)
    k = np.arange(t.size)
    holes = {  # first lost sample -> number of lost samples (hole = (n + 1) / fs)
        200: 4,  # 50 ms: interpolated, valid
        400: 6,  # 70 ms: bridged
        600: 19,  # 200 ms: bridged (the limit)
        800: 20,  # 210 ms: held
        1000: 50,  # 0.51 s: held
    }
    lost = np.zeros(t.size, dtype=bool)
    for k0, n in holes.items():
        lost[k0 : k0 + n] = True
    out = resample_uniform(t[~lost], acc[~lost], gyr[~lost], sampling_rate_hz=fs)
    assert out.t_s.size == t.size
    short, bridged = (k >= 200) & (k < 204), lost & (k >= 400) & (k < 700)
    held = lost & (k >= 800)
    # valid: measured and short holes; bridged: also the 70 ms and 200 ms holes
    assert np.array_equal(out.valid, ~lost | short)
    assert np.array_equal(out.bridged, ~held)
    assert out.n_interpolated == 4 and out.n_bridged == 6 + 19
    # gaps_s keeps its meaning: every run where metrics must not look (bridged ones too)
    assert len(out.gaps_s) == 4
    # values: linear interpolation between the received neighbours in short and bridged
    # holes, held at the last received sample in long ones
    kept_t, kept_acc = t[~lost], acc[~lost]
    interp = np.interp(t, kept_t, kept_acc[:, 0])
    assert np.allclose(out.acc[short | bridged, 0], interp[short | bridged])
    assert not np.allclose(out.acc[bridged, 0], acc[bridged, 0])  # not the lost truth
    for k0 in (800, 1000):
        run = held & (k >= k0) & (k < k0 + holes[k0])
        assert np.all(out.acc[run] == acc[k0 - 1]) and np.all(out.gyr[run] == gyr[k0 - 1])


def test_bridge_limit_is_a_parameter_and_uniform_input_is_fast_path() -> None:
    fs = 100.0
    t = np.arange(0, 10, 1 / fs)
    acc, gyr = _signals(t)
    lost = (t > 5.0) & (t < 5.1)  # 110 ms hole
    strict = resample_uniform(
        t[~lost], acc[~lost], gyr[~lost], sampling_rate_hz=fs, max_bridge_gap_s=0.05
    )
    assert np.array_equal(strict.bridged, strict.valid)  # as before bridging existed
    assert np.all(strict.acc[lost] == acc[t <= 5.0][-1])  # held
    uniform = resample_uniform(t, acc, gyr, sampling_rate_hz=fs)
    assert uniform.valid.all() and uniform.bridged.all()
    assert uniform.n_bridged == 0 and uniform.gaps_s == []


def test_unsorted_and_duplicate_timestamps_are_tolerated() -> None:
    fs = 100.0
    t = np.arange(0, 2, 1 / fs)
    acc, gyr = _signals(t)
    idx = np.r_[np.arange(t.size), 10, 11]
    rng = np.random.default_rng(1)
    rng.shuffle(idx)
    out = resample_uniform(t[idx], acc[idx], gyr[idx], sampling_rate_hz=fs)
    assert out.t_s.size == t.size
    assert np.allclose(out.acc, acc)


@pytest.mark.parametrize("fs", [10.0, 1000.0, float("nan")])
def test_unsupported_rate_is_bad_input(fs: float) -> None:
    t = np.arange(0, 2, 0.01)
    acc, gyr = _signals(t)
    with pytest.raises(BadInputError):
        resample_uniform(t, acc, gyr, sampling_rate_hz=fs)


def test_shape_mismatch_is_bad_input() -> None:
    with pytest.raises(BadInputError):
        resample_uniform(np.arange(5.0), np.zeros((4, 3)), np.zeros((5, 3)), sampling_rate_hz=100)


def test_lowpass_is_zero_phase_and_respects_gaps() -> None:
    fs = 200.0
    t = np.arange(0, 10, 1 / fs)
    x = np.sin(2 * np.pi * 1.0 * t) + 0.3 * np.sin(2 * np.pi * 40 * t)
    y = lowpass(x, 5.0, sampling_rate_hz=fs)
    mid = slice(400, 1600)
    lag = np.argmax(np.correlate(y[mid], np.sin(2 * np.pi * t[mid]), "full")) - (1200 - 1)
    assert lag == 0
    assert np.std(y[mid] - np.sin(2 * np.pi * t[mid])) < 0.02
    # a step hidden in a gap must not smear into the valid samples around it
    z = np.where(t < 5, 0.0, 100.0)
    valid = (t < 4.9) | (t > 5.1)
    zf = lowpass(z, 2.0, sampling_rate_hz=fs, valid=valid)
    assert np.max(np.abs(zf[t < 4.9])) < 1e-6
    band = bandpass(x, 0.5, 3.0, sampling_rate_hz=fs)
    assert np.std(band[mid] - np.sin(2 * np.pi * t[mid])) < 0.05


def test_gap_intervals_half_open() -> None:
    t = np.arange(10) / 10
    valid = np.array([1, 1, 0, 0, 1, 1, 1, 0, 1, 1], dtype=bool)
    assert gap_intervals(valid, t, 10.0) == [(0.2, pytest.approx(0.4)), (0.7, pytest.approx(0.8))]


@pytest.mark.parametrize("n", [1, 2, 5, 100, 101])
def test_moving_mean_matches_scipy_uniform_filter(n: int) -> None:
    from scipy import ndimage

    from gaitimu.analysis.filters import moving_mean

    x = np.random.default_rng(5).normal(size=(1000, 3))
    ref = ndimage.uniform_filter1d(x, n, axis=0, mode="nearest")
    assert np.allclose(moving_mean(x, n), ref, atol=1e-12)


def test_lowpass_matches_filtfilt_butterworth_away_from_edges() -> None:
    from scipy import signal

    fs = 200.0
    x = np.random.default_rng(6).normal(size=4000)
    sos = signal.butter(4, 10.0, fs=fs, output="sos")
    ref = signal.sosfiltfilt(sos, x)
    y = lowpass(x, 10.0, sampling_rate_hz=fs, order=4)
    mid = slice(400, -400)
    # same power response up to the analog-vs-bilinear warping: close, not identical
    assert np.std(y[mid] - ref[mid]) < 0.05 * np.std(ref[mid])
