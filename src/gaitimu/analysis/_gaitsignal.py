"""Private signal helpers shared by `bouts` and `events` (pure numpy/scipy, no I/O).

All filters are zero-phase (``sosfiltfilt``) so that event times are not delayed, and every
cut-off is clipped below the Nyquist frequency so the same code runs from 50 to 400 Hz.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import butter, sosfiltfilt


def lowpass(x: np.ndarray, cutoff_hz: float, fs: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 (cut-off clipped to 0.45 fs)."""
    cutoff_hz = min(cutoff_hz, 0.45 * fs)
    sos = butter(order, cutoff_hz, btype="low", fs=fs, output="sos")
    if x.shape[0] <= 3 * (2 * len(sos) + 1):
        return np.asarray(x, dtype=float).copy()
    return sosfiltfilt(sos, x, axis=0)


def bandpass(x: np.ndarray, low_hz: float, high_hz: float, fs: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0 (high cut-off clipped to 0.45 fs)."""
    high_hz = min(high_hz, 0.45 * fs)
    sos = butter(order, [low_hz, high_hz], btype="band", fs=fs, output="sos")
    if x.shape[0] <= 3 * (2 * len(sos) + 1):
        return np.asarray(x, dtype=float) - np.mean(x, axis=0)
    return sosfiltfilt(sos, x, axis=0)


def moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving mean over ``n`` samples (edges use the nearest value)."""
    return uniform_filter1d(np.asarray(x, dtype=float), size=max(int(n), 1), mode="nearest")


def moving_std(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving standard deviation over ``n`` samples."""
    m = moving_mean(x, n)
    m2 = moving_mean(np.asarray(x, dtype=float) ** 2, n)
    return np.sqrt(np.clip(m2 - m * m, 0.0, None))


def moving_max(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving maximum over ``n`` samples."""
    return maximum_filter1d(x, size=max(int(n), 1), mode="nearest")


def moving_min(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving minimum over ``n`` samples."""
    return minimum_filter1d(x, size=max(int(n), 1), mode="nearest")


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the True runs of a boolean mask."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def window_argext(
    sig: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, mode: str = "max"
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the extreme of ``sig`` in each half-open window ``[lo, hi)`` (vectorised).

    Returns ``(index, interior)`` where ``interior`` is False when the extreme sits on the
    window edge (a boundary value rather than a true local extreme) or the window is empty.
    """
    n = sig.shape[0]
    lo = np.clip(np.asarray(lo, dtype=int), 0, n - 1)
    hi = np.clip(np.asarray(hi, dtype=int), 1, n)
    width = int(max(np.max(hi - lo, initial=1), 1))
    idx = lo[:, None] + np.arange(width)[None, :]
    valid = idx < hi[:, None]
    vals = sig[np.clip(idx, 0, n - 1)]
    fill = -np.inf if mode == "max" else np.inf
    vals = np.where(valid, vals, fill)
    k = np.argmax(vals, axis=1) if mode == "max" else np.argmin(vals, axis=1)
    last = np.maximum(hi - lo - 1, 0)
    interior = (k > 0) & (k < last) & (hi > lo)
    return lo + k, interior
