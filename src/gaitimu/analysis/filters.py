"""Zero-phase filters, runs and peaks: the signal helpers every analysis stage shares.

Pure numpy, no scipy on purpose: importing ``scipy.signal`` costs 0.5-1 s of process
start-up, a large part of the 2 s budget of ``gaitimu analyze``.

Filters are zero-phase Butterworth magnitude responses applied in the frequency domain
(numpy FFT with reflected padding): power response ``1 / (1 + (f / fc)^(2 order))``, the
same |H|^2 as a forward-backward (``filtfilt``) pass of an order-``order`` Butterworth.
Every cut-off is clipped below 0.45 x the sampling rate so the same code runs from 50 to
400 Hz. With ``valid``, each contiguous valid segment is filtered on its own so nothing is
smeared across an unbridged gap. Fewer than 8 samples are not filtered (returned as they
are; band-pass: minus their mean).

Peaks are found with `find_peaks` (close to ``scipy.signal.find_peaks``, see there).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bandpass", "find_peaks", "lowpass", "moving_mean", "runs", "window_argext"]

#: Shorter inputs are returned unfiltered.
MIN_FILTER_SAMPLES = 8


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the True runs of a boolean mask."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _segments(valid: np.ndarray | None, n: int) -> list[tuple[int, int]]:
    if valid is None:
        return [(0, n)]
    return list(zip(*runs(valid), strict=True))


def _fft_len(n: int) -> int:
    """A fast FFT length >= n (2^a * 3^b)."""
    best = 1 << int(np.ceil(np.log2(max(n, 1))))
    p3 = 1
    while p3 < best:
        p2 = p3
        while p2 < n:
            p2 *= 2
        best = min(best, p2)
        p3 *= 3
    return best


def _zero_phase(x: np.ndarray, gain2, pad: int) -> np.ndarray:
    """Apply a real, zero-phase power response ``gain2(f_cycles_per_sample)`` along axis 0."""
    n = x.shape[0]
    pad = int(min(pad, n - 1))
    if pad > 0:
        xp = np.concatenate([2 * x[:1] - x[pad:0:-1], x, 2 * x[-1:] - x[-2 : -pad - 2 : -1]])
    else:
        xp = x
    m = _fft_len(xp.shape[0])
    spec = np.fft.rfft(xp, m, axis=0)
    g = gain2(np.fft.rfftfreq(m))
    spec *= g.reshape((-1,) + (1,) * (x.ndim - 1))
    return np.fft.irfft(spec, m, axis=0)[pad : pad + n]


def _filter_segments(x, gain2, pad: int, valid: np.ndarray | None) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    out = x.copy()
    for s, e in _segments(valid, x.shape[0]):
        if e - s < 3:
            continue
        out[s:e] = _zero_phase(x[s:e], gain2, pad)
    return out


def lowpass(
    x: np.ndarray,
    cutoff_hz: float,
    *,
    sampling_rate_hz: float,
    order: int = 4,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0.

    Power response ``1 / (1 + (f / cutoff)^(2 order))``: -6 dB at `cutoff_hz`, as a
    forward-backward pass of an order-`order` Butterworth. With `valid`, each contiguous
    valid segment is filtered on its own so that nothing is smeared across an unbridged gap.
    """
    x = np.asarray(x, dtype=float)
    if x.shape[0] < MIN_FILTER_SAMPLES:
        return x.copy()
    fs = float(sampling_rate_hz)
    fc = min(float(cutoff_hz), 0.45 * fs) / fs

    def gain2(f: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + (f / fc) ** (2 * order))

    return _filter_segments(x, gain2, int(np.ceil(3.0 / fc)), valid)


def bandpass(
    x: np.ndarray,
    low_hz: float,
    high_hz: float,
    *,
    sampling_rate_hz: float,
    order: int = 2,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0 (high-pass x low-pass power response)."""
    x = np.asarray(x, dtype=float)
    if x.shape[0] < MIN_FILTER_SAMPLES:
        return x - np.mean(x, axis=0)
    fs = float(sampling_rate_hz)
    fl = float(low_hz) / fs
    fh = min(float(high_hz), 0.45 * fs) / fs

    def gain2(f: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            hp = 1.0 / (1.0 + (fl / f) ** (2 * order))
        return hp / (1.0 + (f / fh) ** (2 * order))

    return _filter_segments(x, gain2, int(np.ceil(3.0 / fl)), valid)


def moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving mean over `n` samples along axis 0 (edges padded with the end values).

    Same result as ``scipy.ndimage.uniform_filter1d(x, n, axis=0, mode="nearest")``.
    """
    x = np.asarray(x, dtype=float)
    n = max(int(n), 1)
    if n == 1:
        return x.copy()
    left = n // 2
    right = n - 1 - left
    xp = np.concatenate([np.repeat(x[:1], left, axis=0), x, np.repeat(x[-1:], right, axis=0)])
    c = np.cumsum(xp, axis=0)
    c = np.concatenate([np.zeros((1, *x.shape[1:])), c])
    return (c[n:] - c[:-n]) / n




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
