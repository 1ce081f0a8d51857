"""Signal conditioning: a uniform time grid, gap handling and zero-phase filters.

Sensor timestamps jitter and packets get lost. Everything downstream (orientation fusion,
event detection, metrics) assumes samples on a uniform grid at the nominal rate, so the
first stage resamples onto that grid:

* holes up to `max_interp_gap_s` (default 50 ms, `DEFAULT_MAX_INTERP_GAP_S`) are filled by
  linear interpolation and count as measured data (``valid``);
* holes longer than that but up to `max_bridge_gap_s` (default 0.2 s,
  `DEFAULT_MAX_BRIDGE_GAP_S`) are *bridged*: also linearly interpolated, but marked invalid
  (no metric may be computed on them) and True in the separate ``bridged`` mask. The bridged
  mask is what the event detector uses as its validity: a short hole must not split a
  walking bout or drop the steps on both sides of it (lossy Bluetooth/Xsens links lose
  packets in runs of 20-150 ms), while a stance that contains such a hole is still voided by
  the stance metrics ("data gap in the stance"). 0.2 s is well under a walking step
  (0.45-0.65 s) and the longest hole in the IPOL recordings is 150 ms;
* longer holes are *never* bridged: grid points inside them are invalid in both masks
  (their values are held at the last good sample so that filters and the orientation filter
  see no jump, and every consumer must respect the mask);
* 50 Hz to 400 Hz nominal rates are supported.

The per-grid-point rules are in `grid_masks`, shared with the streaming driver
(`gaitimu.live.stream`), which applies them incrementally.

The zero-phase filters the stages use are in `gaitimu.analysis.filters`.

All functions are pure numpy on arrays; no I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from gaitimu.consts import ANALYSIS_MAX_RATE_HZ, ANALYSIS_MIN_RATE_HZ, MAX_SESSION_S, G
from gaitimu.errors import BadInputError

log = logging.getLogger(__name__)

#: Longest hole (between two received samples) filled by interpolation and treated as data.
DEFAULT_MAX_INTERP_GAP_S = 0.05
#: Longest hole bridged for event detection: interpolated (not held), ``valid`` False (no
#: metrics on it) but ``bridged`` True, so gait bouts continue across it. Longer holes are
#: held and split bouts.
DEFAULT_MAX_BRIDGE_GAP_S = 0.2

__all__ = [
    "DEFAULT_MAX_BRIDGE_GAP_S",
    "DEFAULT_MAX_INTERP_GAP_S",
    "UniformSignals",
    "check_rate",
    "find_saturation",
    "gap_intervals",
    "grid_masks",
    "resample_uniform",
]


@dataclass(frozen=True)
class UniformSignals:
    """Samples on a uniform time grid.

    Attributes
    ----------
    t_s : ndarray, shape (n,)
        Uniform grid, seconds from session start: ``t_s[0] + k / sampling_rate_hz``.
    acc : ndarray, shape (n, 3)
        Accelerometer, m/s^2, sensor frame.
    gyr : ndarray, shape (n, 3)
        Gyroscope, deg/s, sensor frame.
    valid : ndarray of bool, shape (n,)
        False inside holes longer than `max_interp_gap_s` (values there are not measured
        and must not be used for metrics).
    bridged : ndarray of bool, shape (n,)
        `valid`, or inside a hole up to `max_bridge_gap_s` (values there are linearly
        interpolated). The validity mask for event detection: bouts continue across such
        holes. False only in long gaps, where values are held.
    sampling_rate_hz : float
        Nominal rate of the grid.
    gaps_s : list of (start_s, end_s)
        Runs where `valid` is False (not measured, no metrics), half-open
        ``[start_s, end_s)`` in grid time; includes the holes bridged for event detection.
    n_interpolated : int
        Grid points filled by interpolation across short (valid) holes.
    n_bridged : int
        Grid points inside holes bridged for event detection only (`bridged` and not
        `valid`).
    """

    t_s: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray
    valid: np.ndarray
    sampling_rate_hz: float
    gaps_s: list[tuple[float, float]]
    n_interpolated: int
    bridged: np.ndarray
    n_bridged: int = 0


def check_rate(sampling_rate_hz: float) -> float:
    """The rate as a float, or `BadInputError` outside the supported 50-400 Hz."""
    fs = float(sampling_rate_hz)
    if not np.isfinite(fs) or not (ANALYSIS_MIN_RATE_HZ <= fs <= ANALYSIS_MAX_RATE_HZ):
        raise BadInputError(
            f"sampling rate {sampling_rate_hz!r} Hz is outside the supported "
            f"{ANALYSIS_MIN_RATE_HZ:g}-{ANALYSIS_MAX_RATE_HZ:g} Hz"
        )
    return fs


def grid_masks(
    exact: np.ndarray,
    hole_s: np.ndarray,
    sampling_rate_hz: float,
    *,
    max_interp_gap_s: float = DEFAULT_MAX_INTERP_GAP_S,
    max_bridge_gap_s: float = DEFAULT_MAX_BRIDGE_GAP_S,
) -> tuple[np.ndarray, np.ndarray]:
    """The gap rules of a grid point: ``(valid, bridged)`` masks.

    Parameters
    ----------
    exact : ndarray of bool
        The grid point coincides with a received sample.
    hole_s : ndarray
        Time between the received samples around the grid point (the one at or after it and
        the one before it).
    sampling_rate_hz : float
        Rate of the grid.
    max_interp_gap_s, max_bridge_gap_s : float
        See `resample_uniform`.

    Returns
    -------
    valid, bridged : ndarray of bool
        `valid`: measured or interpolated across a hole up to `max_interp_gap_s` (or a
        jittered one-sample step, up to 1.5 periods); `bridged`: `valid` or inside a hole up
        to `max_bridge_gap_s`. Half a period of slack on both limits (grid vs sample times).
    """
    dt = 1.0 / float(sampling_rate_hz)
    # Jitter: a nominal one-sample step can be up to ~1.5 dt; never call that a gap.
    valid = exact | (hole_s <= max_interp_gap_s + 0.5 * dt) | (hole_s <= 1.5 * dt)
    bridged = valid | (hole_s <= max(max_bridge_gap_s, max_interp_gap_s) + 0.5 * dt)
    return valid, bridged


def resample_uniform(
    t_s: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    *,
    sampling_rate_hz: float,
    max_interp_gap_s: float = DEFAULT_MAX_INTERP_GAP_S,
    max_bridge_gap_s: float = DEFAULT_MAX_BRIDGE_GAP_S,
) -> UniformSignals:
    """Resample irregularly timestamped samples onto a uniform grid at the nominal rate.

    Parameters
    ----------
    t_s : array_like, shape (n,)
        Sample timestamps in seconds (may jitter, may have holes; unsorted input and
        duplicate timestamps are tolerated: samples are sorted and duplicates dropped).
    acc, gyr : array_like, shape (n, 3)
        Accelerometer (m/s^2) and gyroscope (deg/s) samples.
    sampling_rate_hz : float
        Nominal rate of the sensor, 50-400 Hz. The grid uses this rate, not the mean rate
        of the timestamps.
    max_interp_gap_s : float
        Longest hole between two received samples that is bridged by linear
        interpolation and treated as data (default 50 ms). Longer holes are invalid.
    max_bridge_gap_s : float
        Longest hole bridged for event detection (default 0.2 s): linearly interpolated,
        invalid, but True in ``bridged``. Longer holes are held at the last value and False
        in both masks.

    Returns
    -------
    UniformSignals
    """
    fs = check_rate(sampling_rate_hz)
    t = np.asarray(t_s, dtype=float).ravel()
    a = np.asarray(acc, dtype=float)
    g = np.asarray(gyr, dtype=float)
    if a.shape != (t.size, 3) or g.shape != (t.size, 3):
        raise BadInputError(
            f"samples: t_s has {t.size} values but acc is {a.shape} and gyr is {g.shape}; "
            "expected (n, 3) each"
        )
    finite = np.isfinite(t) & np.isfinite(a).all(axis=1) & np.isfinite(g).all(axis=1)
    if not finite.all():
        log.warning("dropping %d samples with non-finite values", int((~finite).sum()))
        t, a, g = t[finite], a[finite], g[finite]
    if t.size < 2:
        raise BadInputError(f"only {t.size} usable samples; need at least 2")
    span = float(t.max() - t.min())
    if span > MAX_SESSION_S:
        raise BadInputError(
            f"the sample times span {span:.3g} s, more than the {MAX_SESSION_S / 3600:g} h a "
            "session may hold: the time column is damaged or not in seconds"
        )
    if np.any(np.diff(t) <= 0):
        order = np.argsort(t, kind="stable")
        t, a, g = t[order], a[order], g[order]
        keep = np.concatenate([[True], np.diff(t) > 0])
        t, a, g = t[keep], a[keep], g[keep]

    dt = 1.0 / fs
    n_grid = int(np.floor((t[-1] - t[0]) * fs + 1e-6)) + 1
    grid = t[0] + np.arange(n_grid) * dt
    if n_grid == t.size and np.max(np.abs(t - grid)) <= 1e-6 * dt:
        # Already uniform (the usual case for sensor-clocked samples): no interpolation.
        ones = np.ones(n_grid, dtype=bool)
        return UniformSignals(grid, a, g, ones, fs, [], 0, ones)

    # Index of the received sample at or before each grid point, and the hole around it.
    right = np.searchsorted(t, grid, side="left")
    right = np.clip(right, 0, t.size - 1)
    left = np.clip(right - 1, 0, t.size - 1)
    # a received sample at the grid point (either neighbour: float round-off can put the
    # grid point a hair after the sample that starts a hole)
    atol = 1e-9 * max(1.0, abs(t[-1]))
    exact = np.isclose(t[right], grid, rtol=0, atol=atol) | np.isclose(
        t[left], grid, rtol=0, atol=atol
    )
    hole = t[right] - t[left]
    valid, bridged = grid_masks(
        exact, hole, fs, max_interp_gap_s=max_interp_gap_s, max_bridge_gap_s=max_bridge_gap_s
    )

    acc_u = np.empty((n_grid, 3))
    gyr_u = np.empty((n_grid, 3))
    for k in range(3):
        acc_u[:, k] = np.interp(grid, t, a[:, k])
        gyr_u[:, k] = np.interp(grid, t, g[:, k])
    # Inside long gaps hold the last good value (no invented motion).
    if not bridged.all():
        held = left[~bridged]
        acc_u[~bridged] = a[held]
        gyr_u[~bridged] = g[held]

    n_interp = int(np.count_nonzero(valid & ~exact & (hole > 1.5 * dt)))
    n_bridged = int(np.count_nonzero(bridged & ~valid))
    gaps = gap_intervals(valid, grid, fs)
    if gaps:
        log.info(
            "%d gaps longer than %.0f ms (%d grid points bridged for event detection, "
            "up to %.0f ms)",
            len(gaps),
            1e3 * max_interp_gap_s,
            n_bridged,
            1e3 * max_bridge_gap_s,
        )
    return UniformSignals(grid, acc_u, gyr_u, valid, fs, gaps, n_interp, bridged, n_bridged)


def gap_intervals(
    valid: np.ndarray, t_s: np.ndarray, sampling_rate_hz: float
) -> list[tuple[float, float]]:
    """Half-open ``[start_s, end_s)`` intervals where `valid` is False."""
    v = np.asarray(valid, dtype=bool)
    if v.all():
        return []
    edges = np.diff(np.concatenate([[0], (~v).astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    dt = 1.0 / sampling_rate_hz
    return [(float(t_s[s]), float(t_s[e - 1] + dt)) for s, e in zip(starts, ends, strict=True)]


#: A sensor axis is saturated when its extreme value (the range limit) repeats in at least
#: this many separate runs: a real signal reaches its exact maximum once, a clipped one at
#: every peak that exceeds the range.
MIN_SATURATED_RUNS = 3
#: ... and only when that value can be a range limit: the smallest full scales of MEMS IMUs
#: are +-2 g and +-125 deg/s (e.g. Bosch BMI270, ST LSM6DSO), less 5 %. Quiet standing or a
#: single-leg hold repeats its own small maximum (a few deg/s, quantised) many times.
MIN_RANGE_LIMIT = {"acc": 0.95 * 2 * G, "gyr": 0.95 * 125.0}


def _at_limit(x: np.ndarray, min_limit: float = 0.0) -> tuple[np.ndarray, float]:
    """Samples of one axis sitting at its largest absolute value (either sign) when that
    value repeats in `MIN_SATURATED_RUNS` or more separate runs and is at least
    ``min_limit``; and the value."""
    ax = np.abs(x)
    lim = float(ax.max()) if ax.size else 0.0
    if lim <= min_limit or lim <= 0.0 or not np.isfinite(lim):
        return np.zeros(x.size, dtype=bool), lim
    at = ax >= lim * (1.0 - 1e-6)
    n_runs = int(np.count_nonzero(np.diff(np.concatenate([[0], at.astype(np.int8)])) == 1))
    if n_runs < MIN_SATURATED_RUNS:
        return np.zeros(x.size, dtype=bool), lim
    return at, lim


def find_saturation(
    acc: np.ndarray, gyr: np.ndarray
) -> tuple[np.ndarray, list[str], dict[str, dict[str, float]]]:
    """Clipping (sensor range exceeded), per axis, on the raw samples.

    Returns ``(gyr_saturated, warnings, per_axis)``: a mask of the samples whose angular
    rate sits at the range limit on any axis (they are not measurements of the rate; the
    caller treats them as missing, so the orientation filter never integrates a clipped
    rate), one warning per saturated axis, and ``{"acc_x": {"limit": .., "fraction": ..}}``
    for the saturated axes. A clipped accelerometer is reported but its samples are kept
    (the orientation filter low-passes it; impact peaks of running often exceed +-2 g).
    """
    out: dict[str, dict[str, float]] = {}
    warnings: list[str] = []
    gyr_sat = np.zeros(len(gyr), dtype=bool)
    for name, data, unit in (("acc", acc, "m/s^2"), ("gyr", gyr, "deg/s")):
        for k, axis in enumerate("xyz"):
            at, lim = _at_limit(np.asarray(data[:, k], dtype=float), MIN_RANGE_LIMIT[name])
            if not at.any():
                continue
            frac = float(at.mean())
            out[f"{name}_{axis}"] = {"limit": lim, "fraction": frac}
            if name == "gyr":
                gyr_sat |= at
                what = (
                    "gyroscope {ax} saturated at +-{lim:.4g} {unit} in {pct:.2g} % of samples: "
                    "those samples are treated as missing; record with a range of at least "
                    "500 deg/s"
                )
            else:
                what = (
                    "accelerometer {ax} saturated at +-{lim:.4g} {unit} in {pct:.2g} % of "
                    "samples: impact peaks are cut; record with a range of at least 8 g "
                    "(16 g for running)"
                )
            warnings.append(what.format(ax=axis, lim=lim, unit=unit, pct=100 * frac))
    return gyr_sat, warnings, out
