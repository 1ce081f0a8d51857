"""Stance metrics: one row per stance with timing, pelvic obliquity and CPD.

CPD (contralateral pelvic drop) of a stance of leg S, exactly as the reference data define
it (``truth.json`` "cpd_definition"), over the stance ``[IC_S, FC_S]``:

* right stance: ``cpd_ic_deg = obl(IC) - min(obl)`` (the LEFT, swing, side drops);
* left stance: ``cpd_ic_deg = max(obl) - obl(IC)`` (the RIGHT, swing, side drops);
* ``cpd_standing_deg``: the same with ``obl(IC)`` replaced by the standing obliquity (may be
  negative; NaN without a standing neutral).

``obl`` is `obliquity_deg` (> 0 = left hemipelvis higher), linearly interpolated at IC and
FC; the extremum includes both end points, so ``cpd_ic_deg >= 0``.

A stance without a side (``side`` empty, NaN or None: the event detector withheld it because
the bout's left/right evidence was weak, its cues disagreed or the sensor's forward direction
is uncertain, see ``side_reason``) keeps its side-free measures (times, obliquity at IC and
range, ML excursion) but gets NaN CPD and drop time (CPD needs the stance side) and
``valid = False`` with ``invalid_reason`` "no side: <reason>": it never enters per-side
statistics. Its ``side`` column stays empty in the strides table.

Everything is vectorised over stances (no Python loop over rows).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from gaitimu.analysis.datatypes import empty_frame
from gaitimu.consts import SIDES, G
from gaitimu.errors import BadInputError

log = logging.getLogger(__name__)

__all__ = ["NO_SIDE_REASON", "STRIDE_COLUMNS", "MetricSettings", "empty_strides",
           "normalise_sides", "stance_metrics"]

#: ``invalid_reason`` prefix of a stance without a side; followed by the detector's
#: ``side_reason`` (or "left/right uncertain" when it gives none).
NO_SIDE_REASON = "no side"

#: Columns of the strides table and their dtypes (docs/contracts.md#strides).
STRIDE_COLUMNS: dict[str, str] = {
    "side": "object",
    "bout_id": "int64",
    "activity": "object",
    "ic_s": "float64",
    "fc_s": "float64",
    "next_ic_s": "float64",
    "stance_s": "float64",
    "step_s": "float64",
    "stride_s": "float64",
    "flight_s": "float64",
    "obliquity_ic_deg": "float64",
    "obliquity_range_deg": "float64",
    "peak_drop_t_s": "float64",
    "cpd_ic_deg": "float64",
    "cpd_standing_deg": "float64",
    "ml_excursion_m": "float64",
    "turn": "bool",
    "gait_phase": "object",
    "event_confidence": "float64",
    "valid": "bool",
    "invalid_reason": "object",
}

# Plausibility limits for a stance (s): outside them the row is kept but marked invalid.
MIN_STANCE_S = 0.08
MAX_STANCE_S = 2.0
#: Largest plausible |obliquity| (deg) within a stance; beyond it the row is marked invalid.
MAX_ABS_OBLIQUITY_DEG = 30.0
#: Timing across unmeasured data: ``step_s``, ``stride_s`` and ``flight_s`` are NaN when a
#: sample that is not ``valid`` lies between their two events or within this distance of
#: either. An event next to (or inside) a short hole bridged for the detector
#: (`gaitimu.analysis.conditioning.DEFAULT_MAX_BRIDGE_GAP_S`) may sit on a wrong feature
#: when the true contact was lost in the hole (IPOL/simulated: up to ~0.15 s off).
TIMING_GAP_GUARD_S = 0.1
#: Stances in turns are invalid (reason "turn"): turning steps have different pelvic
#: mechanics, and the centripetal acceleration of a turn tilts the 6D fusion's vertical (up
#: to ~3 deg in running turns on simulated data), so their CPD is not comparable with
#: straight gait.
EXCLUDE_TURNS = True


@dataclass(frozen=True)
class MetricSettings:
    """Parameters of `stance_metrics` (defaults: the module constants).

    Attributes
    ----------
    min_stance_s, max_stance_s : float
        Plausible stance time, s (`MIN_STANCE_S`, `MAX_STANCE_S`); outside: invalid,
        "implausible stance time".
    max_abs_obliquity_deg : float
        Largest plausible |obliquity| within a stance (`MAX_ABS_OBLIQUITY_DEG`); beyond:
        invalid, "implausible obliquity".
    timing_gap_guard_s : float
        ``step_s``, ``stride_s`` and ``flight_s`` are NaN when an unmeasured sample lies
        between their two events or within this distance (s) of either
        (`TIMING_GAP_GUARD_S`).
    exclude_turns : bool
        Stances whose event row says ``turn`` are invalid, "turn" (`EXCLUDE_TURNS`).
    """

    min_stance_s: float = MIN_STANCE_S
    max_stance_s: float = MAX_STANCE_S
    max_abs_obliquity_deg: float = MAX_ABS_OBLIQUITY_DEG
    timing_gap_guard_s: float = TIMING_GAP_GUARD_S
    exclude_turns: bool = EXCLUDE_TURNS


def empty_strides() -> pd.DataFrame:
    """An empty strides table with the right columns and dtypes."""
    return empty_frame(STRIDE_COLUMNS)


def normalise_sides(side: pd.Series) -> pd.Series:
    """Stance sides as "L", "R" or "" (no side).

    Accepts "L"/"R", "left"/"right" in any case; empty strings, NaN, None and anything else
    become "" (the stance has no side).
    """
    text = side.where(side.notna(), "").astype(str).str.strip().str.upper().str[:1]
    return text.where(text.isin(["L", "R"]), "")


def _segment_reduce(
    ufunc: np.ufunc, x: np.ndarray, start: np.ndarray, end: np.ndarray, empty: float
) -> np.ndarray:
    """``ufunc.reduce(x[start:end])`` for many half-open ranges at once (`empty` if none)."""
    out = np.full(start.size, empty, dtype=float)
    ok = end > start
    if not ok.any():
        return out
    xs = np.concatenate([x, [empty]])
    idx = np.column_stack([start[ok], end[ok]]).ravel()
    out[ok] = ufunc.reduceat(xs, idx)[::2]
    return out


def _segment_argext(
    x: np.ndarray, start: np.ndarray, end: np.ndarray, find_max: bool
) -> np.ndarray:
    """Index of the first max (or min) of ``x[start:end]`` per range (-1 for empty ranges)."""
    lengths = np.maximum(end - start, 0)
    out = np.full(start.size, -1, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return out
    has = lengths > 0
    ext = _segment_reduce(np.maximum if find_max else np.minimum, x, start, end, np.nan)
    seg = np.repeat(np.arange(start.size), lengths)
    idx = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx += np.repeat(start, lengths)
    hit = np.flatnonzero(x[idx] == ext[seg])
    # hits are in segment order; keep the first hit of each segment
    first = np.concatenate([[True], seg[hit][1:] != seg[hit][:-1]])
    out[seg[hit][first]] = idx[hit][first]
    out[~has] = -1
    return out


def _ml_excursion(
    acc_ml_free: np.ndarray,
    start: np.ndarray,
    stride_end: np.ndarray,
    stance_end: np.ndarray,
    fs: float,
) -> np.ndarray:
    """Peak-to-peak medio-lateral displacement (m) over each stance.

    The free ML acceleration is integrated twice over the whole stride ``[IC, next IC)``;
    the acceleration and the velocity are made zero-mean per stride (gait is periodic: no net
    sideways velocity or displacement, so any trend is integration drift), then the range
    is taken over the stance part.
    """
    lengths = np.maximum(stride_end - start, 0)
    n_seg = start.size
    out = np.full(n_seg, np.nan)
    if lengths.sum() == 0:
        return out
    seg = np.repeat(np.arange(n_seg), lengths)
    first = np.cumsum(lengths) - lengths
    j = (np.arange(lengths.sum()) - np.repeat(first, lengths)).astype(float)
    a = acc_ml_free[np.repeat(start, lengths) + j.astype(np.int64)]
    a = a - (np.bincount(seg, weights=a, minlength=n_seg) / np.maximum(lengths, 1))[seg]

    def seg_cumsum(y: np.ndarray) -> np.ndarray:
        c = np.cumsum(y)
        base = np.concatenate([[0.0], c])[first]
        return c - base[seg]

    # Mean removal makes v(end) = v(start) (no net sideways velocity over a stride) and the
    # displacement periodic: a constant acceleration bias integrates to nothing.
    v = seg_cumsum(a) / fs
    v = v - (np.bincount(seg, weights=v, minlength=n_seg) / np.maximum(lengths, 1))[seg]
    x = seg_cumsum(v) / fs
    in_stance = j < np.repeat(stance_end - start, lengths)
    hi = np.where(in_stance, x, -np.inf)
    lo = np.where(in_stance, x, np.inf)
    seg_start = first[lengths > 0]
    has = lengths > 0
    out[has] = np.maximum.reduceat(hi, seg_start) - np.minimum.reduceat(lo, seg_start)
    out[~np.isfinite(out)] = np.nan
    return out


def _neighbour_ics(ev: pd.DataFrame) -> pd.DataFrame:
    """Sort by IC and add the neighbouring ICs within the same bout.

    ``_next_same_ic_s`` (next IC of the same side: end of the stride),
    ``_prev_other_ic_s`` (previous contralateral IC: start of the step) and
    ``_next_any_ic_s`` (next IC of either side: end of the step).
    """
    ev = ev.sort_values("ic_s", kind="stable").reset_index(drop=True)
    ic = ev["ic_s"].to_numpy(float)
    bout = ev["bout_id"].to_numpy()
    side = ev["side"].to_numpy()
    n = ic.size
    next_same = np.full(n, np.nan)
    prev_other = np.full(n, np.nan)
    next_any = np.full(n, np.nan)
    if n > 1:
        next_any[:-1] = np.where(bout[1:] == bout[:-1], ic[1:], np.nan)
    for s in SIDES:
        mine = np.flatnonzero(side == s)
        other = np.flatnonzero(side != s)
        if mine.size > 1:
            same_bout = bout[mine[1:]] == bout[mine[:-1]]
            next_same[mine[:-1]] = np.where(same_bout, ic[mine[1:]], np.nan)
        if other.size and mine.size:
            k = np.searchsorted(ic[other], ic[mine], side="left")
            pi = other[np.clip(k - 1, 0, other.size - 1)]
            prev_other[mine] = np.where((k > 0) & (bout[pi] == bout[mine]), ic[pi], np.nan)
    # A stance without a side: the bout still alternates (only its labels were withheld),
    # so its step starts at the previous IC and its stride ends two ICs later, in the bout.
    none = np.flatnonzero((side != "L") & (side != "R"))
    if none.size:
        prev_i, next2_i = none - 1, none + 2
        ok_prev = (prev_i >= 0) & (bout[np.clip(prev_i, 0, n - 1)] == bout[none])
        ok_next = (next2_i < n) & (bout[np.clip(next2_i, 0, n - 1)] == bout[none])
        prev_other[none] = np.where(ok_prev, ic[np.clip(prev_i, 0, n - 1)], np.nan)
        next_same[none] = np.where(ok_next, ic[np.clip(next2_i, 0, n - 1)], np.nan)
    ev["_next_same_ic_s"] = next_same
    ev["_prev_other_ic_s"] = prev_other
    if "next_ic_s" not in ev:
        ev["next_ic_s"] = next_any
    return ev


def _prepare_events(events: pd.DataFrame, signals: pd.DataFrame) -> pd.DataFrame:
    """Checked events with normalised sides, the optional columns filled in, sorted by IC and
    with their neighbouring ICs in the bout (`_neighbour_ics`)."""
    missing = {"side", "ic_s", "fc_s"} - set(events.columns)
    if missing:
        raise BadInputError(f"stance_metrics: events lack column(s) {', '.join(sorted(missing))}")
    if not {"t_s", "obliquity_deg"} <= set(signals.columns):
        raise BadInputError("stance_metrics: signals need columns t_s and obliquity_deg")
    ev = events.copy()
    ev["side"] = normalise_sides(ev["side"])
    if "side_reason" in ev:
        ev["side_reason"] = ev["side_reason"].where(ev["side_reason"].notna(), "").astype(str)
    else:
        ev["side_reason"] = ""
    if "bout_id" not in ev:
        ev["bout_id"] = ev["bout"] if "bout" in ev else 0
    if "activity" not in ev:
        ev["activity"] = "walk"
    return _neighbour_ics(ev)


class _Grid:
    """The uniform sample grid of the signals: times <-> sample indices, unmeasured samples."""

    def __init__(self, signals: pd.DataFrame, sampling_rate_hz: float | None) -> None:
        t = signals["t_s"].to_numpy(float)
        self.t = t
        self.n = n = t.size
        self.fs = float(sampling_rate_hz) if sampling_rate_hz else (n - 1) / (t[-1] - t[0])
        self.t0 = t[0]
        ok = signals["valid"].to_numpy(bool) if "valid" in signals else np.ones(n, dtype=bool)
        self._bad = np.cumsum(np.concatenate([[0], (~ok).astype(np.int64)]))

    def first_at_or_after(self, ts: np.ndarray) -> np.ndarray:
        return np.clip(np.ceil((ts - self.t0) * self.fs - 1e-9), 0, self.n).astype(np.int64)

    def last_at_or_before(self, ts: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((ts - self.t0) * self.fs + 1e-9), -1, self.n - 1).astype(np.int64)

    def has_gap(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Unmeasured samples in ``[a, b)`` (sample indices)."""
        return (self._bad[np.clip(b, 0, self.n)] - self._bad[np.clip(a, 0, self.n)]) > 0

    def gap_near(self, t_a: np.ndarray, t_b: np.ndarray, guard_s: float) -> np.ndarray:
        """Unmeasured samples in ``[t_a - guard_s, t_b + guard_s]`` (False when t_a/t_b NaN)."""
        fin = np.isfinite(t_a) & np.isfinite(t_b)
        a = self.first_at_or_after(np.where(fin, t_a, self.t0) - guard_s)
        b = self.last_at_or_before(np.where(fin, t_b, self.t0) + guard_s) + 1
        return fin & self.has_gap(a, np.maximum(a, b))


class _Stances(NamedTuple):
    """Per-stance event times and sample windows (arrays over stances)."""

    ic: np.ndarray
    fc: np.ndarray
    next_any: np.ndarray  # next IC of either foot in the bout (end of the step)
    next_same: np.ndarray  # next IC of the same side in the bout (end of the stride)
    side: np.ndarray  # "L", "R" or ""
    is_right: np.ndarray
    no_side: np.ndarray
    good_times: np.ndarray  # IC and FC finite, FC after IC
    ic_c: np.ndarray  # IC, the grid start where it is NaN
    fc_c: np.ndarray  # FC, IC where the times are not good
    i0: np.ndarray  # first sample of the stance
    i1: np.ndarray  # end of the stance (exclusive)
    has_next: np.ndarray  # a next same-side IC after the IC
    nxt_c: np.ndarray  # next same-side IC, IC without one
    j1: np.ndarray  # end of the stride [IC, next IC] (exclusive)


def _stance_windows(ev: pd.DataFrame, grid: _Grid) -> _Stances:
    """Each stance's events and its stance and stride windows on the grid."""
    ic = ev["ic_s"].to_numpy(float)
    fc = ev["fc_s"].to_numpy(float)
    nxt = ev["_next_same_ic_s"].to_numpy(float)
    side = ev["side"].to_numpy(str)
    is_right = side == "R"
    good_times = np.isfinite(ic) & np.isfinite(fc) & (fc > ic)
    ic_c = np.where(np.isfinite(ic), ic, grid.t0)
    fc_c = np.where(good_times, fc, ic_c)
    i0 = grid.first_at_or_after(ic_c)
    i1 = np.maximum(grid.last_at_or_before(fc_c) + 1, i0)
    has_next = np.isfinite(nxt) & (nxt > ic_c)
    nxt_c = np.where(has_next, nxt, ic_c)
    j1 = np.maximum(grid.last_at_or_before(nxt_c) + 1, i0)
    return _Stances(
        ic=ic, fc=fc, next_any=ev["next_ic_s"].to_numpy(float), next_same=nxt, side=side,
        is_right=is_right, no_side=(side != "L") & ~is_right, good_times=good_times,
        ic_c=ic_c, fc_c=fc_c, i0=i0, i1=i1, has_next=has_next, nxt_c=nxt_c, j1=j1,
    )


class _Obliquity(NamedTuple):
    """Obliquity measures per stance (before the validity masks)."""

    at_ic: np.ndarray  # obliquity at IC
    stance_max: np.ndarray  # max over the stance, end points included
    stance_min: np.ndarray
    cpd_ic: np.ndarray
    cpd_standing: np.ndarray
    peak_t: np.ndarray  # time of the CPD extremum
    stride_range: np.ndarray  # max - min over [IC, next IC] (NaN without a next IC)


def _obliquity_measures(
    obl: np.ndarray, grid: _Grid, s: _Stances, standing_obliquity_deg: float
) -> _Obliquity:
    """CPD (from IC and from the standing neutral), its time, and the stride's range."""
    t, t0, fs = grid.t, grid.t0, grid.fs
    # 1. extrema over the stance [IC, FC], the interpolated end points included
    obl_ic = np.interp(s.ic_c, t, obl)
    obl_fc = np.interp(s.fc_c, t, obl)
    seg_max = np.fmax(
        _segment_reduce(np.maximum, obl, s.i0, s.i1, -np.inf), np.fmax(obl_ic, obl_fc))
    seg_min = np.fmin(
        _segment_reduce(np.minimum, obl, s.i0, s.i1, np.inf), np.fmin(obl_ic, obl_fc))
    # 2. CPD: right stance = the left (swing) side drops, left stance = the right side drops
    cpd_ic = np.where(s.is_right, obl_ic - seg_min, seg_max - obl_ic)
    st = float(standing_obliquity_deg)
    cpd_st = np.where(s.is_right, st - seg_min, seg_max - st)

    # 3. time of the extremum (samples inside the stance, or an end point)
    arg_max = _segment_argext(obl, s.i0, s.i1, find_max=True)
    arg_min = _segment_argext(obl, s.i0, s.i1, find_max=False)
    arg = np.where(s.is_right, arg_min, arg_max)
    t_arg = np.where(arg >= 0, t0 + np.maximum(arg, 0) / fs, np.nan)
    ext_val = np.where(arg >= 0, obl[np.maximum(arg, 0)], np.nan)
    ic_is_ext = np.where(
        s.is_right, obl_ic <= np.fmin(ext_val, obl_fc), obl_ic >= np.fmax(ext_val, obl_fc)
    )
    fc_is_ext = np.where(
        s.is_right, obl_fc < np.fmin(ext_val, obl_ic), obl_fc > np.fmax(ext_val, obl_ic)
    )
    peak_t = np.where(ic_is_ext, s.ic_c, np.where(fc_is_ext, s.fc_c, t_arg))

    # 4. stride-wide range [IC, next IC]
    obl_nxt = np.interp(s.nxt_c, t, obl)
    r_max = np.fmax(
        _segment_reduce(np.maximum, obl, s.i0, s.j1, -np.inf), np.fmax(obl_ic, obl_nxt))
    r_min = np.fmin(
        _segment_reduce(np.minimum, obl, s.i0, s.j1, np.inf), np.fmin(obl_ic, obl_nxt))
    obl_range = np.where(s.has_next, r_max - r_min, np.nan)
    return _Obliquity(obl_ic, seg_max, seg_min, cpd_ic, cpd_st, peak_t, obl_range)


def _stance_ml_excursion(
    signals: pd.DataFrame, obl: np.ndarray, grid: _Grid, s: _Stances
) -> np.ndarray:
    """ML excursion per stance from the free acceleration along the pelvis ML axis (NaN
    without ``acc_ml``, a next same-side IC or good event times)."""
    if "acc_ml" not in signals:
        return np.full(s.ic.size, np.nan)
    acc_ml_free = signals["acc_ml"].to_numpy(float) + G * np.sin(np.radians(obl))
    stride_end = np.where(s.has_next, s.j1, s.i1)
    ml_exc = _ml_excursion(acc_ml_free, s.i0, stride_end, s.i1, grid.fs)
    return np.where(s.has_next & s.good_times, ml_exc, np.nan)


class _Timing(NamedTuple):
    stance: np.ndarray
    step: np.ndarray
    stride: np.ndarray
    flight: np.ndarray


def _temporal_measures(
    ev: pd.DataFrame, grid: _Grid, s: _Stances, activity: np.ndarray, guard_s: float
) -> _Timing:
    """Stance, step, stride and flight (run only) times; step, stride and flight NaN where
    an event may sit next to unmeasured data (`MetricSettings.timing_gap_guard_s`)."""
    prev_other = ev["_prev_other_ic_s"].to_numpy(float)
    step = np.where(grid.gap_near(prev_other, s.ic, guard_s), np.nan, s.ic - prev_other)
    stride = np.where(
        s.has_next & ~grid.gap_near(s.ic, s.next_same, guard_s), s.next_same - s.ic, np.nan)
    flight = np.where(
        (activity == "run") & ~grid.gap_near(s.fc, s.next_any, guard_s),
        np.clip(s.next_any - s.fc, 0.0, None),
        np.nan,
    )
    return _Timing(s.fc - s.ic, step, stride, flight)


def _invalid_reasons(
    ev: pd.DataFrame,
    grid: _Grid,
    s: _Stances,
    obl: _Obliquity,
    stance_s: np.ndarray,
    turn: np.ndarray,
    settling_s: Sequence[Sequence[float]],
    cfg: MetricSettings,
) -> np.ndarray:
    """Why each stance is not ``valid`` ("" = valid; the first reason wins)."""
    in_settling = np.zeros(s.ic.size, dtype=bool)
    for s0, s1 in settling_s:
        in_settling |= ((s.ic >= s0) & (s.ic <= s1)) | ((s.fc >= s0) & (s.fc <= s1))
    # the last two stances of a walk have no final contact: the closing step's foot and the
    # one it joins both stay down (gait termination, `gaitimu.analysis.bouts`)
    from_end = ev.groupby("bout_id", sort=False).cumcount(ascending=False).to_numpy()
    walk_ends = ~np.isfinite(s.fc) & (from_end < 2)
    side_reason = ev["side_reason"].str.strip().to_numpy(str)
    no_side_reason = np.char.add(
        f"{NO_SIDE_REASON}: ",
        np.where(side_reason != "", side_reason, "left/right uncertain").astype(str),
    )
    return np.select(
        [
            s.no_side,
            walk_ends,
            ~s.good_times,
            ~_in_recording(grid, s),
            grid.has_gap(s.i0, s.i1),
            in_settling,
            (stance_s < cfg.min_stance_s) | (stance_s > cfg.max_stance_s),
            np.fmax(np.abs(obl.stance_max), np.abs(obl.stance_min)) > cfg.max_abs_obliquity_deg,
            turn & cfg.exclude_turns,
        ],
        [
            no_side_reason,
            "end of a walk (no final contact)",
            "fc_s missing or not after ic_s",
            "outside the recording",
            "data gap in the stance",
            "orientation settling after a data gap",
            "implausible stance time",
            "implausible obliquity",
            "turn",
        ],
        default="",
    )


def _in_recording(grid: _Grid, s: _Stances) -> np.ndarray:
    return (s.ic_c >= grid.t0) & (s.fc_c <= grid.t[-1])


def stance_metrics(
    events: pd.DataFrame,
    signals: pd.DataFrame,
    *,
    standing_obliquity_deg: float = float("nan"),
    sampling_rate_hz: float | None = None,
    settling_s: Sequence[Sequence[float]] = (),
    settings: MetricSettings | None = None,
) -> pd.DataFrame:
    """Strides table: one row per stance with timing, obliquity, CPD and ML excursion.

    Data requirements: `signals` on a uniform grid with ``t_s`` and ``obliquity_deg``
    (degrees, > 0 = left higher); optionally ``acc_ml`` (m/s^2, body-frame specific force,
    for ``ml_excursion_m``) and ``valid`` (bool, False where the data are not measured:
    `gaitimu.analysis.conditioning.UniformSignals.valid`).

    Parameters
    ----------
    events : DataFrame
        One row per stance, as `gaitimu.analysis.events.detect_events` gives them:
        ``side`` ("L"/"R", or "" / NaN = no side), ``ic_s``, ``fc_s``; optional
        ``side_reason`` (why a stance has no side), ``next_ic_s`` (next IC of either
        foot = end of the step; inferred within the bout when absent), ``bout_id`` (or
        ``bout``; default 0), ``activity`` ("walk"/"run", default "walk"), ``turn`` (bool),
        ``confidence`` (0-1, copied to ``event_confidence``).
    signals : DataFrame
        See above.
    standing_obliquity_deg : float
        Obliquity of the standing neutral (NaN when there is none: ``cpd_standing_deg`` is
        then NaN).
    sampling_rate_hz : float, optional
        Rate of `signals`; derived from ``t_s`` when omitted.
    settling_s : sequence of (start_s, end_s)
        Intervals after a data gap in which the orientation filter is still settling
        (`gaitimu.analysis.orientation.fuse_segments`); stances whose IC or FC falls in one
        are ``valid`` False ("orientation settling after a data gap").
    settings : MetricSettings, optional
        Plausibility limits, the timing guard next to unmeasured data and whether turns
        are excluded; None: the defaults (`MetricSettings`).

    Returns
    -------
    DataFrame
        Columns `STRIDE_COLUMNS`, sorted by ``ic_s``. ``next_ic_s`` = next IC of either foot
        in the bout (end of the step); ``step_s`` = IC - previous contralateral IC;
        ``stride_s`` = next IC of the same side - IC; ``flight_s`` (run only, else NaN) =
        ``next_ic_s`` - FC, clipped at 0;
        ``obliquity_range_deg`` = max - min over the stride ``[IC, next IC]`` (NaN without a
        next IC); ``peak_drop_t_s`` = time of the CPD extremum; ``ml_excursion_m`` =
        peak-to-peak ML sacrum displacement over the stance (gravity removed with the
        obliquity, double integration made drift-free per stride); ``valid`` False with a
        reason (``invalid_reason``) for stances over data gaps, with implausible timing or
        obliquity, in turns (`MetricSettings.exclude_turns`), or without a side ("no side:
        <reason>"; CPD and ``peak_drop_t_s`` NaN, ``side`` ""; see the module docstring).
        ``step_s``, ``stride_s`` and ``flight_s`` are NaN when an unmeasured sample lies
        between their two events or within `MetricSettings.timing_gap_guard_s` of either.
    """
    cfg = MetricSettings() if settings is None else settings
    if events is None or len(events) == 0:
        return empty_strides()
    # 1. events: checked, sides normalised, neighbouring ICs within the bout
    ev = _prepare_events(events, signals)
    # 2. per-stance windows on the sample grid
    grid = _Grid(signals, sampling_rate_hz)
    s = _stance_windows(ev, grid)
    # 3. obliquity: CPD over the stance, range over the stride; ML excursion
    obl_sig = signals["obliquity_deg"].to_numpy(float)
    obl = _obliquity_measures(obl_sig, grid, s, standing_obliquity_deg)
    ml_exc = _stance_ml_excursion(signals, obl_sig, grid, s)
    # a gap later in the stride only spoils the stride-wide numbers
    stride_gap = grid.has_gap(s.i0, np.where(s.has_next, s.j1, s.i1))
    obl_range = np.where(stride_gap, np.nan, obl.stride_range)
    ml_exc = np.where(stride_gap, np.nan, ml_exc)
    # 4. temporal measures
    activity = ev["activity"].astype(str).to_numpy()
    timing = _temporal_measures(ev, grid, s, activity, cfg.timing_gap_guard_s)
    # 5. validity and the reasons for exclusion
    turn = ev["turn"].to_numpy(bool) if "turn" in ev else np.zeros(s.ic.size, bool)
    reasons = _invalid_reasons(ev, grid, s, obl, timing.stance, turn, settling_s, cfg)
    # 6. the table: measures NaN where the event times are unusable; CPD needs the side
    nan_if_bad = np.where(s.good_times & _in_recording(grid, s), 1.0, np.nan)
    nan_if_no_side = np.where(s.no_side, np.nan, nan_if_bad)
    out = pd.DataFrame(
        {
            "side": s.side.astype(object),
            "bout_id": ev["bout_id"].to_numpy().astype(np.int64),
            "activity": activity.astype(object),
            "ic_s": s.ic,
            "fc_s": s.fc,
            "next_ic_s": s.next_any,
            "stance_s": timing.stance,
            "step_s": timing.step,
            "stride_s": timing.stride,
            "flight_s": timing.flight,
            "obliquity_ic_deg": obl.at_ic * nan_if_bad,
            "obliquity_range_deg": obl_range * nan_if_bad,
            "peak_drop_t_s": obl.peak_t * nan_if_no_side,
            "cpd_ic_deg": obl.cpd_ic * nan_if_no_side,
            "cpd_standing_deg": obl.cpd_standing * nan_if_no_side,
            "ml_excursion_m": ml_exc * nan_if_bad,
            "turn": turn,
            "gait_phase": (
                ev["gait_phase"].where(ev["gait_phase"].notna(), "").astype(str).to_numpy()
                if "gait_phase" in ev else np.full(s.ic.size, "", dtype=object)
            ).astype(object),
            "event_confidence": (
                ev["confidence"].to_numpy(float) if "confidence" in ev
                else np.full(s.ic.size, np.nan)
            ),
            "valid": reasons == "",
            "invalid_reason": reasons.astype(object),
        }
    )
    return out.astype(STRIDE_COLUMNS)
