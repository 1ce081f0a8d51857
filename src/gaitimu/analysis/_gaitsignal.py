"""Private signal helpers shared by `bouts` and `events` (pure numpy, no I/O).

No scipy here on purpose: importing ``scipy.signal`` costs 0.5-1 s of process start-up, a
large part of the 2 s budget of ``gaitimu analyze``. The zero-phase Butterworth filters
and the moving mean are the ones of `gaitimu.analysis.conditioning` (FFT-based,
power response ``1 / (1 + (f / fc)^(2 order))`` = a forward-backward pass of an
order-``order`` Butterworth); peaks are found with `find_peaks` below. Every cut-off is
clipped below the Nyquist frequency so the same code runs from 50 to 400 Hz.
"""

from __future__ import annotations

import numpy as np

from gaitimu.analysis import conditioning as _cond


def lowpass(x: np.ndarray, cutoff_hz: float, fs: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 (cut-off clipped to 0.45 fs)."""
    x = np.asarray(x, dtype=float)
    if x.shape[0] < 8:
        return x.copy()
    return _cond.lowpass(x, cutoff_hz, sampling_rate_hz=fs, order=order)


def bandpass(x: np.ndarray, low_hz: float, high_hz: float, fs: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0 (high cut-off clipped to 0.45 fs)."""
    x = np.asarray(x, dtype=float)
    if x.shape[0] < 8:
        return x - np.mean(x, axis=0)
    return _cond.bandpass(x, low_hz, high_hz, sampling_rate_hz=fs, order=order)


def moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving mean over ``n`` samples (edges use the nearest value)."""
    return _cond.moving_mean(np.asarray(x, dtype=float), max(int(n), 1))


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


def find_peaks(
    x: np.ndarray, *, distance: int | np.ndarray, wlen: int | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima at least ``distance`` samples apart, with their prominences.

    Close to ``scipy.signal.find_peaks(x, distance=distance, prominence=0, wlen=wlen)``:
    local maxima (first sample of a plateau) that are the highest sample within
    ``distance - 1`` samples on either side (scipy's greedy rule can also keep the lower
    end of a chain of three close peaks; this rule does not); prominence = height above the
    higher of the two minima within ``wlen // 2`` samples on either side. ``distance`` and
    ``wlen`` may be arrays with one value per sample of ``x`` (local step period).

    Returns
    -------
    peaks : ndarray of int
    prominences : ndarray of float
    """
    x = np.asarray(x, dtype=float)
    if x.size < 3:
        return np.zeros(0, dtype=int), np.zeros(0)
    rise = np.diff(x)
    # a local maximum: rises into it, then falls (or stays flat and then falls)
    cand = np.flatnonzero((rise[:-1] > 0) & (rise[1:] <= 0)) + 1
    if cand.size == 0:
        return cand, np.zeros(0)
    dist = np.maximum(np.broadcast_to(np.asarray(distance, dtype=int), x.shape)[cand], 1)
    # keep a maximum only if it is the highest sample within +-(distance - 1)
    k, _ = window_argext(x, cand - dist + 1, cand + dist, mode="max")
    keep = k == cand
    cand = cand[keep]
    half = np.maximum(np.broadcast_to(np.asarray(wlen, dtype=int), x.shape)[cand] // 2, 1)
    k_left, _ = window_argext(x, cand - half, cand + 1, mode="min")
    k_right, _ = window_argext(x, cand, cand + half + 1, mode="min")
    prom = x[cand] - np.maximum(x[k_left], x[k_right])
    return cand, prom
