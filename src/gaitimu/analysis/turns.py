"""Turns from the rotation of the pelvis about the vertical.

Data requirements: pelvis (body) frame signals on a uniform grid, any rate the pipeline
accepts: ``gyr_is`` (deg/s, bias-free, > 0 = turning left, docs/coordinate_system.md),
optionally ``valid`` (False in data gaps) and ``t_s``; with ``frame="earth"`` the heading
``yaw_deg`` instead of ``gyr_is``.

Method: the turn detector of El-Gohary et al. (2014), "Continuous monitoring of turning in
patients with movement disorders using inertial sensors", Sensors 14(1):356-369,
doi:10.3390/s140100356, with the parameters of its Mobilise-D implementation
(mobgap, ``mobgap.turning.TdElGohary``, github.com/mobilise-d/mobgap,
``src/mobgap/turning/_td_elgohary.py``):

1. the vertical angular rate is low-passed (zero-phase 4th-order Butterworth, 0.5 Hz):
   what is left is the heading rate, without the pelvis' own yaw oscillation at the stride
   frequency (0.7-1.6 Hz in walking and running, attenuated >= 40x);
2. every peak of its magnitude above ``min_peak_rate_dps`` (15 deg/s) is a turn candidate;
   the candidate runs from the last sample before the peak to the first after it where the
   magnitude is below ``boundary_rate_dps`` (5 deg/s);
3. candidates of the same direction closer than ``merge_gap_s`` (0.05 s) are merged (peaks
   sharing boundaries are one turn);
4. the angle is the heading change over the turn (below); turns with a duration
   outside ``duration_limits_s`` (0.5-10 s) or an absolute angle below ``min_angle_deg``
   (45 deg) are dropped.

Departures from mobgap / the paper:

* *the angle*: El-Gohary and mobgap integrate the unfiltered rate from start to end, which
  keeps whatever part of the pelvis' own yaw oscillation (+-3-10 deg in walking) lies
  between the two instants. We take the mean measured heading (the integrated rate) over
  ``heading_window_s`` = 1 s (about one stride) after the turn minus that over 1 s before
  it, each window kept clear of neighbouring turns and gaps. Chosen on IPOL odd subjects
  against the heading change between the straight passes (median |error| 2.0 deg vs 4.5
  with the integral); ``heading_window_s=0`` gives the paper's integral.

* *gaps* (``valid`` False): the rate is not integrated there (the angle counts measured
  samples only, so it is a lower bound of the true one) and the turn is marked
  ``spans_gap``. For detection only, the smoothed rate is bridged across a gap of at most
  ``max_bridge_s`` (linear interpolation of the rate), so a short hole does not split a turn;
  across a longer gap nothing is assumed (rate 0 there: a turn ends at the gap).
* ``peak_rate_dps`` (our addition) is the peak magnitude of the *smoothed* rate (the heading
  rate; the raw peak would mostly measure the stride oscillation), ``mean_rate_dps`` is
  ``|angle| / duration``.
* mobgap integrates the rate from sample ``start`` to ``end - 1``; we use half-open
  intervals ``[start_s, end_s)`` in seconds, like the rest of gaitimu.
* ``frame="earth"`` (the paper's global frame) differentiates the pelvis heading
  ``yaw_deg`` from the orientation filter instead of using ``gyr_is`` (Mobilise-D's
  choice). On IPOL the two angles agree within ~1 % (the sacral ``is`` axis is near
  vertical in walking); in running with a forward lean the earth frame is more exact.

Walking and running use the same settings: the heading rate of a turn is well above
15 deg/s in both (U-turns 60-200 deg/s), and the stride oscillation is filtered out in both.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from gaitimu.analysis.datatypes import empty_frame
from gaitimu.analysis.filters import lowpass

#: Columns of the turns table and their dtypes.
TURN_DTYPES = {
    "turn_id": "int64",
    "start_s": "float64",
    "end_s": "float64",
    "duration_s": "float64",
    "angle_deg": "float64",
    "direction": "str",
    "peak_rate_dps": "float64",
    "mean_rate_dps": "float64",
    "spans_gap": "bool",
    "n_steps": "Int64",
}
TURN_COLUMNS: tuple[str, ...] = tuple(TURN_DTYPES)
"""Columns of the turns table, one row per turn, in time order.

* ``turn_id`` (int64): 0, 1, ... in time order.
* ``start_s``, ``end_s`` (float64): the turn is ``[start_s, end_s)``, seconds from session
  start (the time base of ``body["t_s"]``).
* ``duration_s`` (float64): ``end_s - start_s``.
* ``angle_deg`` (float64): heading change over the turn (mean heading over 1 s after it
  minus over 1 s before it), > 0 = to the LEFT (counter-clockwise seen from above,
  ``yaw_deg`` increases), < 0 = to the right. Measured samples only (see ``spans_gap``).
* ``direction`` (str): ``"left"`` or ``"right"``, the sign of ``angle_deg``.
* ``peak_rate_dps`` (float64, >= 0): peak magnitude of the smoothed heading rate.
* ``mean_rate_dps`` (float64, >= 0): ``|angle_deg| / duration_s``.
* ``spans_gap`` (bool): the turn contains or touches a data gap; its angle is then a lower
  bound (the rotation inside the gap was not measured).
* ``n_steps`` (Int64): steps (step times given to `detect_turns`) inside ``[start_s,
  end_s)``; <NA> when no step times were given.
"""

# El-Gohary et al. 2014 as implemented in mobgap (TdElGohary defaults)
SMOOTHING_CUTOFF_HZ = 0.5
SMOOTHING_ORDER = 4
MIN_PEAK_RATE_DPS = 15.0
BOUNDARY_RATE_DPS = 5.0
MERGE_GAP_S = 0.05
DURATION_LIMITS_S = (0.5, 10.0)
MIN_ANGLE_DEG = 45.0
# ours: the longest data gap the detection (not the angle) bridges
MAX_BRIDGE_S = 0.5
# ours, chosen on IPOL odd subjects (see the module docstring): the angle from the mean
# heading over this long before and after the turn
HEADING_WINDOW_S = 1.0


def empty_turns() -> pd.DataFrame:
    """A turns table without rows, with the documented columns and dtypes."""
    return empty_frame(TURN_DTYPES)


def _bridge(x: np.ndarray, valid: np.ndarray, max_n: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` with invalid samples linearly interpolated from the valid neighbours, and the
    mask of samples inside gaps longer than ``max_n`` samples (or at the ends)."""
    n = x.size
    ok = np.flatnonzero(valid)
    if ok.size == 0:
        return np.zeros(n), np.ones(n, dtype=bool)
    filled = np.interp(np.arange(n), ok, x[ok])
    bad = ~valid
    d = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    s, e = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    long_gap = np.zeros(n, dtype=bool)
    for a, b in zip(s, e, strict=True):
        if b - a > max_n or a == 0 or b == n:
            long_gap[a:b] = True
    return filled, long_gap


def _merge(starts: np.ndarray, ends: np.ndarray, gap_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge sorted half-open intervals that overlap or are at most ``gap_n`` apart."""
    if starts.size == 0:
        return starts, ends
    o = np.argsort(starts, kind="stable")
    starts, ends = starts[o], ends[o]
    reach = np.maximum.accumulate(ends)
    new = np.concatenate([[True], starts[1:] > reach[:-1] + gap_n])
    grp = np.cumsum(new) - 1
    return starts[new], np.maximum.reduceat(ends, np.flatnonzero(new))[: grp.max() + 1]


def _candidates(mag: np.ndarray, min_peak: float, boundary: float) -> tuple[np.ndarray, np.ndarray]:
    """Turn candidates: ``[start, end)`` runs where ``mag`` stays at or above ``boundary``
    (El-Gohary's lower threshold) and that reach ``min_peak``. Several peaks in one run
    share its boundaries and are one candidate (mobgap finds the same boundaries per peak)."""
    inside = mag >= boundary
    d = np.diff(np.concatenate([[0], inside.astype(np.int8), [0]]))
    s, e = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    if s.size == 0:
        return s, e
    # reduceat over [s_k, s_k+1) also sees the tail below the boundary after run k, which
    # is below the run's own maximum: this is the run's maximum
    keep = np.maximum.reduceat(mag, s) >= min_peak
    return s[keep], e[keep]


def _turn_angle(
    cum: np.ndarray, valid: np.ndarray, s: np.ndarray, e: np.ndarray, w: int
) -> np.ndarray:
    """Heading change of each turn ``[s, e)``: with ``w == 0`` the integral of the rate over
    the turn (El-Gohary, mobgap); else the mean measured heading over up to ``w`` valid
    samples after the turn minus that over up to ``w`` before it, the windows kept clear of
    the neighbouring turns. Averaging over about one stride cancels the pelvis' own yaw
    oscillation, which the integral between two instants keeps (up to +-10 deg)."""
    if w <= 0 or s.size == 0:
        return cum[e] - cum[s]
    n = valid.size
    head = cum[1:]  # heading after sample i (measured samples only)
    vw = valid.astype(float)
    c_h = np.concatenate([[0.0], np.cumsum(head * vw)])
    c_n = np.concatenate([[0.0], np.cumsum(vw)])
    prev_end = np.concatenate([[0], e[:-1]])
    next_start = np.concatenate([s[1:], [n]])
    # and clear of gaps: the heading across an unmeasured stretch is unknown
    idx = np.arange(n)
    last_bad = np.maximum.accumulate(np.where(valid, -1, idx))  # last gap sample <= i
    next_bad = np.minimum.accumulate(np.where(valid, n, idx)[::-1])[::-1]  # first >= i
    after_gap = np.concatenate([[0], last_bad + 1])  # start of the valid run holding i - 1
    b0, b1 = np.maximum.reduce([s - w, prev_end, after_gap[s]]), s  # before: [b0, b1)
    a0 = e
    a1 = np.minimum.reduce([e + w, next_start, np.concatenate([next_bad, [n]])[e]])
    a1 = np.maximum(a1, a0)
    b0 = np.minimum(b0, b1)
    nb, na = c_n[b1] - c_n[b0], c_n[a1] - c_n[a0]
    before = np.where(nb > 0, (c_h[b1] - c_h[b0]) / np.maximum(nb, 1), cum[s])
    after = np.where(na > 0, (c_h[a1] - c_h[a0]) / np.maximum(na, 1), cum[e])
    return after - before


def detect_turns(
    body: pd.DataFrame,
    *,
    sampling_rate_hz: float,
    frame: Literal["body", "earth"] = "body",
    smoothing_cutoff_hz: float = SMOOTHING_CUTOFF_HZ,
    min_peak_rate_dps: float = MIN_PEAK_RATE_DPS,
    boundary_rate_dps: float = BOUNDARY_RATE_DPS,
    merge_gap_s: float = MERGE_GAP_S,
    duration_limits_s: tuple[float, float] = DURATION_LIMITS_S,
    min_angle_deg: float = MIN_ANGLE_DEG,
    max_bridge_s: float = MAX_BRIDGE_S,
    heading_window_s: float = HEADING_WINDOW_S,
    step_times_s: np.ndarray | None = None,
) -> pd.DataFrame:
    """Detect turns (heading changes) in the pelvis signals.

    Parameters
    ----------
    body : DataFrame
        Pelvis signals on a uniform grid (`pipeline.pelvis_signals`): ``gyr_is`` (deg/s) for
        ``frame="body"``, ``yaw_deg`` for ``frame="earth"``; optional ``t_s`` (else sample
        index / rate) and ``valid`` (else all valid).
    sampling_rate_hz : float
        Sampling rate of `body`, Hz.
    frame : {"body", "earth"}
        Rate about the pelvis' up axis (``gyr_is``, Mobilise-D) or about the vertical (the
        derivative of ``yaw_deg``, El-Gohary's global frame).
    smoothing_cutoff_hz : float
        Cut-off of the zero-phase 4th-order Butterworth low-pass of the rate (0.5 Hz).
    min_peak_rate_dps : float
        A turn's smoothed rate must reach this (15 deg/s).
    boundary_rate_dps : float
        A turn starts and ends where the smoothed rate falls below this (5 deg/s).
    merge_gap_s : float
        Turns of the same direction at most this far apart are merged (0.05 s).
    duration_limits_s : (float, float)
        Allowed duration (0.5, 10 s), inclusive.
    min_angle_deg : float
        Smallest absolute turn angle kept (45 deg).
    max_bridge_s : float
        Longest data gap the detection bridges (0.5 s); the angle never integrates a gap.
    heading_window_s : float
        The angle is the mean heading over this long after the turn minus before it (1 s,
        about one walking stride); 0: the integral over the turn (El-Gohary, mobgap).
    step_times_s : array, optional
        Step (initial contact) times; gives the ``n_steps`` column.

    Returns
    -------
    DataFrame
        One row per turn, columns `TURN_COLUMNS` (`empty_turns` when there is none).
    """
    fs = float(sampling_rate_hz)
    if not fs > 0:
        raise ValueError(f"sampling_rate_hz must be > 0, got {sampling_rate_hz!r}")
    if frame not in ("body", "earth"):
        raise ValueError(f"frame must be 'body' or 'earth', got {frame!r}")
    n = len(body)
    if n < 2:
        return empty_turns()
    if frame == "body":
        rate = np.asarray(body["gyr_is"], dtype=float)
    else:
        rate = np.gradient(np.asarray(body["yaw_deg"], dtype=float)) * fs
    t = np.asarray(body["t_s"], dtype=float) if "t_s" in body else np.arange(n) / fs
    valid = np.asarray(body["valid"], dtype=bool) if "valid" in body else np.ones(n, bool)
    valid = valid & np.isfinite(rate)
    if frame == "earth":  # a derivative next to a gap sees the gap
        valid = valid & np.concatenate([[True], valid[:-1]]) & np.concatenate([valid[1:], [True]])
    if not valid.any():
        return empty_turns()

    filled, long_gap = _bridge(rate, valid, round(max_bridge_s * fs))
    # the 0.5 Hz low-pass runs on ~25 Hz block means (10x faster for 1 h at 200 Hz; the
    # rate's content above 12 Hz does not reach a 0.5 Hz output)
    q = max(int(fs // 25.0), 1)
    if q > 1 and n >= 4 * q:
        m = n // q * q
        dec = filled[:m].reshape(-1, q).mean(axis=1)
        sm_d = lowpass(dec, smoothing_cutoff_hz, sampling_rate_hz=fs / q, order=SMOOTHING_ORDER)
        smooth = np.interp(np.arange(n), np.arange(sm_d.size) * q + (q - 1) / 2.0, sm_d)
    else:
        smooth = lowpass(filled, smoothing_cutoff_hz, sampling_rate_hz=fs, order=SMOOTHING_ORDER)
    smooth[long_gap] = 0.0
    mag = np.abs(smooth)
    s, e = _candidates(mag, min_peak_rate_dps, boundary_rate_dps)
    if s.size == 0:
        return empty_turns()
    # the measured rotation: integrate the unfiltered rate over valid samples only
    inc = np.where(valid, rate, 0.0) / fs
    cum = np.concatenate([[0.0], np.cumsum(inc)])
    sign = np.sign(cum[e] - cum[s])
    gap_n = max(round(merge_gap_s * fs), 0)
    ms, me = [], []
    for d in (-1.0, 1.0):
        a, b = _merge(s[sign == d], e[sign == d], gap_n)
        ms.append(a)
        me.append(b)
    s, e = np.concatenate(ms), np.concatenate(me)
    o = np.argsort(s, kind="stable")
    s, e = s[o], e[o]
    start_s = t[s]
    end_s = np.where(e < n, t[np.minimum(e, n - 1)], t[-1] + 1.0 / fs)
    duration = end_s - start_s
    keep = (duration >= duration_limits_s[0]) & (duration <= duration_limits_s[1])
    s, e, start_s, end_s, duration = (x[keep] for x in (s, e, start_s, end_s, duration))
    # the heading windows stay clear of neighbouring turns: first of every candidate, then,
    # once the small ones (e.g. the filter's ringing next to a fast turn) are dropped, only
    # of the turns kept
    w = round(heading_window_s * fs)
    for _ in range(2):
        angle = _turn_angle(cum, valid, s, e, w)
        keep = np.abs(angle) >= min_angle_deg
        s, e, angle, start_s, end_s, duration = (
            x[keep] for x in (s, e, angle, start_s, end_s, duration)
        )
    if s.size == 0:
        return empty_turns()
    bad = np.concatenate([[0], np.cumsum(~valid)])
    lo, hi = np.maximum(s - 1, 0), np.minimum(e + 1, n)
    spans_gap = bad[hi] > bad[lo]
    peak = np.array([mag[a:b].max() for a, b in zip(s, e, strict=True)])
    if step_times_s is None:
        n_steps = pd.array([pd.NA] * s.size, dtype="Int64")
    else:
        st = np.sort(np.asarray(step_times_s, dtype=float))
        n_steps = pd.array(
            np.searchsorted(st, end_s, side="left") - np.searchsorted(st, start_s, side="left"),
            dtype="Int64",
        )
    out = pd.DataFrame(
        {
            "turn_id": np.arange(s.size, dtype=np.int64),
            "start_s": start_s,
            "end_s": end_s,
            "duration_s": duration,
            "angle_deg": angle,
            "direction": np.where(angle > 0, "left", "right"),
            "peak_rate_dps": peak,
            "mean_rate_dps": np.abs(angle) / duration,
            "spans_gap": spans_gap.astype(bool),
            "n_steps": n_steps,
        }
    )
    return out[list(TURN_COLUMNS)]


def step_turn_ids(step_times_s: np.ndarray, turns: pd.DataFrame) -> np.ndarray:
    """Per step time: the ``turn_id`` of the turn ``[start_s, end_s)`` it lies in, -1 if
    none (turns do not overlap, so there is at most one)."""
    x = np.asarray(step_times_s, dtype=float)
    out = np.full(x.shape, -1, dtype=np.int64)
    if len(turns) == 0 or x.size == 0:
        return out
    st = turns["start_s"].to_numpy(float)
    en = turns["end_s"].to_numpy(float)
    k = np.searchsorted(st, x, side="right") - 1
    inside = (k >= 0) & (x < en[np.clip(k, 0, None)])
    out[inside] = turns["turn_id"].to_numpy(np.int64)[k[inside]]
    return out


def steps_in_turns(
    events: pd.DataFrame | np.ndarray, turns: pd.DataFrame, *, time_col: str = "ic_s"
) -> np.ndarray:
    """True for each step whose time (``events[time_col]``, or an array of times) lies in a
    turn: the per-step ``turn`` flag from the turns table."""
    x = events[time_col].to_numpy(float) if isinstance(events, pd.DataFrame) else events
    return step_turn_ids(np.asarray(x, dtype=float), turns) >= 0
