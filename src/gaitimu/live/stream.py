"""Streaming driver: the offline stage code run incrementally on a stream of sample blocks.

One pipeline, two drivers (docs/contracts.md#live-equals-offline): `StreamingAnalyzer` consumes decoded sample
blocks (live sensor, virtual sensor or a replayed session) and emits each stride row as soon
as it is final, computed by the SAME stage functions as `gaitimu.pipeline.analyze`:

1. **Grid.** Incoming samples are put on the uniform grid ``t0 + k / sampling_rate_hz``
   with the rules of `gaitimu.analysis.conditioning.resample_uniform` (its `grid_masks`:
   holes up to 50 ms interpolated and valid; up to 0.2 s interpolated, invalid but bridged
   for the event detector; longer ones invalid and held), grid point by grid point as soon
   as the next received sample is known. The orientation filter runs on the grid values
   (interpolated in bridged holes), as offline.
2. **Calibration (once).** The first `StreamConfig.calibration_s` seconds of grid data go
   through `gaitimu.analysis.orientation.align_to_pelvis` exactly as offline
   (`OnlinePelvisSignals.calibrate`). This fixes the
   mounting correction ``R_body_sensor``, the gyroscope-bias prior and the standing neutral.
3. **Orientation (causal, incremental).** `gaitimu.analysis.orientation.OnlinePelvisSignals`
   runs the online VQF filter (the variant offline analysis uses whenever the session has
   quiet standing) block by block from the first sample with that bias prior, and forms
   the pelvis signals (body-frame acc/gyr, obliquity, tilt, yaw) exactly as
   `align_to_pelvis` forms them. These are kept in a bounded ring buffer
   (`StreamConfig.buffer_s`).
4. **Events and metrics (windowed).** Every `StreamConfig.hop_s` of data,
   `gaitimu.analysis.events.detect_events` (validity = the bridged mask) and
   `gaitimu.analysis.metrics.stance_metrics` (validity = the strict mask) run on the
   trailing `StreamConfig.window_s` of pelvis signals (window starts on a 0.5 s
   grid so the detector's own 4 s / 0.5 s windows fall where they fall offline). A stance
   row is *final* once its next same-side IC plus the metrics' timing gap guard
   (`MetricSettings.timing_gap_guard_s`; the last instant its row depends on) is
   `StreamConfig.lag_s` (or one step) older than the newest data and its IC is at least
   `StreamConfig.margin_s` after the window start (or the window starts at the stream
   start). Final rows newer than the last emitted IC are emitted (deduplication by IC time);
   bout ids are renumbered over the whole stream. `flush` (end of stream) runs one last
   window and emits everything left, as offline analysis would at the end of the session.

Equivalence with offline analysis (tested in tests/test_replay_equivalence.py): for
sessions that start with >= 1 s of quiet standing the calibration and the offline alignment
see the same standing, the orientation filter is the same causal filter, and rows agree
within `EQUIVALENCE_TOLERANCE` (differences come from the mounting heading estimated on
the calibration seconds instead of the whole session, and from the event detector's
bout-level medians, which a stream only knows up to the present). Sessions without standing are analysed offline with the
acausal (offline) VQF, which a live stream cannot use; their CPDs differ more (see
docs/live.md).

Memory is bounded: the ring buffer holds `buffer_s` of grid samples, the raw tail a few
samples, the calibration buffer is dropped after calibration; only the emitted stride rows
grow (one small row per step).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gaitimu.analysis.conditioning import DEFAULT_MAX_BRIDGE_GAP_S, check_rate, grid_masks
from gaitimu.analysis.metrics import empty_strides
from gaitimu.analysis.orientation import SIGNAL_COLUMNS, OnlinePelvisSignals
from gaitimu.analysis.speed import SPEED_COLUMNS, SpeedSettings, leg_length_from
from gaitimu.consts import DEFAULT_AXES
from gaitimu.errors import BadInputError
from gaitimu.stages import AnalysisSettings, gait_events, stride_table

log = logging.getLogger(__name__)

__all__ = [
    "EQUIVALENCE_TOLERANCE",
    "LiveSnapshot",
    "StreamConfig",
    "StreamingAnalyzer",
]

#: Documented agreement of streamed and offline stride rows (sessions with quiet standing):
#: matched by IC; times within 1 sample, CPD within 0.3 deg, same side, bout and validity.
#: Walking FC is placed from the bout's median step, which a stream only knows up to now:
#: FC may then move by one sample, and the CPD with it when the pelvis still moves at FC
#: (largest seen 0.20 deg; typically < 0.05 deg). Exception: a contact the detector places
#: on a short hole bridged by interpolation (lost packets) is not measured, and the windowed
#: and whole-session detectors may place it differently, within the hole
#: (``gap_stance_time_s``). Such stances are excluded in both ("data gap in the stance");
#: their IC/FC and the FC/next IC of the stance before agree within that time only.
EQUIVALENCE_TOLERANCE = {
    "time_samples": 1.0,
    "cpd_deg": 0.3,
    "gap_stance_time_s": DEFAULT_MAX_BRIDGE_GAP_S,
}

# t_s, acc_*, gyr_*, obliquity, tilt, yaw, valid (strict: metrics), bridged (event detection)
_BODY_COLUMNS = (*SIGNAL_COLUMNS, "valid", "bridged")
_VALID, _BRIDGED = _BODY_COLUMNS.index("valid"), _BODY_COLUMNS.index("bridged")


def _ring_frame(w: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Ring rows (`_BODY_COLUMNS`) -> the pelvis signals with the strict ``valid`` (the
    metrics) and the bridged mask (the event detector), as offline."""
    frame = pd.DataFrame(w[:, : len(SIGNAL_COLUMNS)], columns=list(SIGNAL_COLUMNS))
    frame["valid"] = w[:, _VALID] > 0.5
    return frame, w[:, _BRIDGED] > 0.5


@dataclass(frozen=True)
class StreamConfig:
    """Parameters of the streaming driver (all in seconds of data time).

    Attributes
    ----------
    window_s
        Trailing window the event detector sees on each run.
    hop_s
        Longest data time between two runs of the event detector. Runs are scheduled
        adaptively: when the next pending row is due (its next same-side IC + the lag),
        but not more often than every `batch_s`.
    lag_s, lag_steps
        A row is final when its next same-side IC is `lag_s` older than the newest data;
        rows whose event confidence is below `confident` (an ambiguous side) wait
        ``max(lag_s, lag_steps * step)`` (``step``: the median step time in the window).
        The detector needs a little future to place the last contacts and to settle the
        side of an ambiguous step (its two-state Viterbi pass looks ahead): with 0.3 s for
        every row, 2 of ~3,000 simulated walking stances (turning walks, confidence
        0.3-0.5) flipped side; with 2 steps for the ambiguous ones none did in 28
        sessions, down to 0.15 s for the confident ones.
    margin_s
        Rows whose IC is closer than this to the window start are left to a later window
        (bout edges inside the window are not real bout edges).
    calibration_s
        Data used to calibrate the alignment (quiet standing + the first gait seconds).
    buffer_s
        Pelvis signals kept in memory (>= window_s; the dashboard trace reads from it).
    batch_s
        Incoming blocks are gathered until they span this much time, then processed
        together (per-call overhead vs latency).
    """

    window_s: float = 20.0
    hop_s: float = 1.0
    lag_s: float = 0.15
    lag_steps: float = 2.0
    confident: float = 0.75
    margin_s: float = 6.0
    calibration_s: float = 20.0
    buffer_s: float = 40.0
    batch_s: float = 0.05

    @classmethod
    def throughput(cls) -> StreamConfig:
        """Preset for replay as fast as possible: the detector runs every 5 s of data
        (latency does not matter there; the rows are the same)."""
        return cls(hop_s=5.0, batch_s=5.0)

    def validate(self) -> None:
        if not (self.hop_s > 0 and self.lag_s >= 0 and self.calibration_s >= 2.0):
            raise BadInputError("stream: hop_s > 0, lag_s >= 0 and calibration_s >= 2 needed")
        if self.window_s < self.margin_s + self.lag_s + 4.0:
            raise BadInputError("stream: window_s must exceed margin_s + lag_s + 4 s")
        if self.buffer_s < max(self.window_s + self.margin_s, self.calibration_s):
            raise BadInputError("stream: buffer_s must be >= window_s + margin_s and "
                                ">= calibration_s")


@dataclass
class LiveSnapshot:
    """What the live views show at one moment (plain data, cheap to build).

    ``t_s``/``obliquity_deg``: the recent pelvic obliquity trace; ``strides``: all rows
    emitted so far; ``state``: "calibrating" | "streaming" | "finished".
    """

    state: str
    data_t_s: float
    t_s: np.ndarray
    obliquity_deg: np.ndarray
    strides: pd.DataFrame
    calibration: dict[str, Any] | None
    stats: dict[str, Any] = field(default_factory=dict)


_STAGE_LOGGERS = ("gaitimu.analysis.events", "gaitimu.analysis.bouts",
                  "gaitimu.analysis.metrics", "gaitimu.analysis.filters")


class _StageLogFilter(logging.Filter):
    """Keeps the stage loggers quiet during windowed runs: the detector runs on every
    window, so its per-run warnings would repeat every second. Each distinct message (digits
    ignored) is kept once in ``messages`` and logged once by this module (INFO)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        key = "".join(c for c in msg if not c.isdigit())
        if key not in self.messages:
            self.messages[key] = msg
            log.info("stream (%s): %s", record.name.rsplit(".", 1)[-1], msg)
        return False


class _Ring:
    """Fixed-capacity ring of (n, k) float rows; oldest rows are overwritten."""

    def __init__(self, capacity: int, k: int) -> None:
        self.buf = np.empty((2 * capacity, k))  # doubled: contiguous reads without copies
        self.cap = capacity
        self.start = 0
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        m = rows.shape[0]
        if m >= self.cap:
            self.buf[: self.cap] = rows[-self.cap :]
            self.start, self.n = 0, self.cap
            return
        end = self.start + self.n
        if end + m > self.buf.shape[0]:  # compact to the front
            keep = min(self.n, self.cap - m)
            self.buf[:keep] = self.buf[end - keep : end]
            self.start, self.n, end = 0, keep, keep
        self.buf[end : end + m] = rows
        self.n += m
        if self.n > self.cap:
            self.start += self.n - self.cap
            self.n = self.cap

    def view(self) -> np.ndarray:
        return self.buf[self.start : self.start + self.n]


class StreamingAnalyzer:
    """Incremental pelvis analysis of a sample stream (see the module docstring).

    Parameters
    ----------
    sampling_rate_hz
        Nominal sensor rate (50-400 Hz).
    axes
        Declared axis map of the sensor, e.g. ``x=up,y=right,z=forward``.
    activity
        Declared activity, used when the detector gives none (as offline).
    config
        `StreamConfig`.
    on_stride
        Called with each batch of newly final stride rows (a DataFrame with
        `gaitimu.analysis.metrics.STRIDE_COLUMNS`); exceptions in it are logged, never raised.
    leg_length_m, height_m
        Body size for the walking step length and speed, as offline.
    settings
        `gaitimu.stages.AnalysisSettings` (None: the defaults), the same object offline
        `gaitimu.pipeline.analyze` takes: calibration, detector and metrics use it.

    Examples
    --------
    >>> sa = StreamingAnalyzer(sampling_rate_hz=200.0)  # doctest: +SKIP
    >>> for t_s, acc, gyr in blocks:                     # doctest: +SKIP
    ...     new_rows = sa.push(t_s, acc, gyr)
    >>> sa.flush(); sa.strides                           # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        sampling_rate_hz: float,
        axes: str = DEFAULT_AXES,
        activity: str | None = None,
        config: StreamConfig | None = None,
        on_stride: Callable[[pd.DataFrame], None] | None = None,
        leg_length_m: float | None = None,
        height_m: float | None = None,
        settings: AnalysisSettings | None = None,
    ) -> None:
        self.fs = check_rate(sampling_rate_hz)
        self.settings = settings or AnalysisSettings()  # the same as offline `analyze`'s
        leg, leg_source = leg_length_from(leg_length_m, height_m)
        # walking step length and speed per row, as offline (`pipeline.analyze`)
        self._speed = SpeedSettings(leg_length_m=leg, leg_length_source=leg_source)
        self.axes = axes or DEFAULT_AXES
        self.activity = activity
        self.cfg = config or StreamConfig()
        self.cfg.validate()
        self.on_stride = on_stride
        self.calibration: dict[str, Any] | None = None
        self.finished = False
        # grid state
        self._t0: float | None = None
        self._k_next = 0  # next grid index to produce
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_t0: float | None = None
        self._raw_t = np.empty(0)
        self._raw_v = np.empty((0, 6))
        self._last_raw_t = -np.inf
        # calibration buffer (grid samples before calibration): lists of arrays
        self._cal: list[np.ndarray] = []
        self._cal_n = 0
        # orientation state (after calibration)
        self._pelvis: OnlinePelvisSignals | None = None
        # pelvis signals
        self._ring = _Ring(round(self.cfg.buffer_s * self.fs), len(_BODY_COLUMNS))
        self._n_body = 0  # grid samples turned into pelvis signals so far
        self._next_due_t = -np.inf  # data time of the next detector run
        self._pending_due_t = np.inf  # data time when the next unemitted row becomes final
        # output
        self._empty = _empty_rows()  # returned (shared) when a call adds no rows
        self._rows: list[pd.DataFrame] = []
        self._strides_cache: pd.DataFrame | None = None
        self._last_ic = -np.inf
        self._last_ic_window_bout: tuple[int, float] | None = None
        self._bout = -1
        self.n_runs = 0
        self._log_filter = _StageLogFilter()
        self.busy_s = 0.0  # processing time spent in push/flush (benchmarks)
        self.emit_log: list[tuple[float, float, float]] = []  # (fc_s, data_t_s, wall) per row

    # ------------------------------------------------------------------ public
    @property
    def data_t_s(self) -> float:
        """Time of the newest grid sample (s), NaN before any."""
        if self._t0 is None or self._k_next == 0:
            return float("nan")
        return self._t0 + (self._k_next - 1) / self.fs

    @property
    def strides(self) -> pd.DataFrame:
        """All stride rows emitted so far (`STRIDE_COLUMNS`)."""
        if self._strides_cache is None:
            self._strides_cache = (
                pd.concat(self._rows, ignore_index=True) if self._rows else _empty_rows()
            )
        return self._strides_cache

    def push(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> pd.DataFrame:
        """Feed one block of sensor-frame samples; return the stride rows it made final.

        Parameters
        ----------
        t_s : ndarray, shape (n,)
            Sample times, s (session time, increasing across blocks).
        acc, gyr : ndarray, shape (n, 3)
            Sensor-frame accelerometer (m/s^2) and gyroscope (deg/s).
        """
        if self.finished:
            raise BadInputError("stream: push after flush")
        c0 = time.perf_counter()
        t = np.asarray(t_s, dtype=float).ravel()
        a, g = np.asarray(acc, dtype=float), np.asarray(gyr, dtype=float)
        if a.shape != (t.size, 3) or g.shape != (t.size, 3):
            raise BadInputError(f"stream: block t_s ({t.size},), acc {a.shape}, gyr {g.shape}")
        v = np.hstack([a, g])
        keep = np.isfinite(t) & np.isfinite(v).all(axis=1)
        if not keep.any():
            return self._empty
        self._pending.append((t[keep], v[keep]))
        if self._pending_t0 is None:
            self._pending_t0 = float(t[keep][0])
        if float(t[keep][-1]) - self._pending_t0 < self.cfg.batch_s:
            self.busy_s += time.perf_counter() - c0
            return self._empty
        self._drain_pending()
        out = self._maybe_run(final=False)
        self.busy_s += time.perf_counter() - c0
        return out

    def flush(self) -> pd.DataFrame:
        """End of stream: process what is left and emit every remaining row."""
        if self.finished:
            return self._empty
        c0 = time.perf_counter()
        self._drain_pending()
        if self._raw_t.size:
            self._consume_grid(*self._to_grid(self._raw_t, self._raw_v, final=True))
        if self.calibration is None and self._cal_n >= round(self.fs):
            self._calibrate()
        if self._pelvis is not None:  # rows held back after a late data gap
            self._orient(np.zeros(0), np.zeros((0, 6)), np.zeros(0, bool), np.zeros(0, bool),
                         final=True)
        out = self._maybe_run(final=True)
        self.finished = True
        self.busy_s += time.perf_counter() - c0
        return out

    def snapshot(self, trace_s: float = 20.0, max_points: int = 1000) -> LiveSnapshot:
        """The recent obliquity trace (decimated to <= `max_points`) and the rows so far."""
        body = self._ring.view()
        m = min(body.shape[0], round(trace_s * self.fs))
        tail = body[body.shape[0] - m :]
        step = max(1, -(-m // max_points))
        state = "finished" if self.finished else (
            "streaming" if self.calibration is not None else "calibrating")
        return LiveSnapshot(
            state=state,
            data_t_s=self.data_t_s,
            t_s=tail[::step, 0].copy(),
            obliquity_deg=tail[::step, 7].copy(),
            strides=self.strides,
            calibration=self.calibration,
        )

    # ------------------------------------------------------------------ grid
    def _drain_pending(self) -> None:
        if not self._pending:
            return
        t = np.concatenate([p[0] for p in self._pending])
        v = np.concatenate([p[1] for p in self._pending])
        self._pending, self._pending_t0 = [], None
        self._consume_grid(*self._to_grid(t, v, final=False))

    def _to_grid(self, t: np.ndarray, v: np.ndarray, *, final: bool):
        """New grid points covered by the raw samples so far (resample_uniform's rules):
        ``(t, values (m, 6), valid, bridged)``."""
        if self._t0 is None:
            self._t0 = float(t[0])
        new = t > self._last_raw_t
        t, v = t[new], v[new]
        if t.size and np.any(np.diff(t) <= 0):
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
            keep = np.concatenate([[True], np.diff(t) > 0])
            t, v = t[keep], v[keep]
        if t.size:
            self._last_raw_t = float(t[-1])
        rt = np.concatenate([self._raw_t, t])
        rv = np.concatenate([self._raw_v, v])
        dt = 1.0 / self.fs
        # grid points up to the newest raw sample (inclusive: an exact hit is final)
        k_end = int(np.floor((rt[-1] - self._t0) * self.fs + 1e-6)) + 1
        ks = np.arange(self._k_next, k_end)
        grid = self._t0 + ks * dt
        right = np.clip(np.searchsorted(rt, grid, side="left"), 0, rt.size - 1)
        left = np.clip(right - 1, 0, rt.size - 1)
        atol = 1e-9 * max(1.0, abs(rt[-1]))
        exact = np.isclose(rt[right], grid, rtol=0, atol=atol) | np.isclose(
            rt[left], grid, rtol=0, atol=atol
        )
        hole = rt[right] - rt[left]
        ok, bridged = grid_masks(exact, hole, self.fs)
        vals = np.empty((ks.size, 6))
        for j in range(6):
            vals[:, j] = np.interp(grid, rt, rv[:, j])
        if not bridged.all():  # long gaps: held at the last received sample
            vals[~bridged] = rv[left[~bridged]]
        self._k_next = k_end
        # keep the raw samples still needed: the last one at or before the newest grid point
        keep_from = max(int(np.searchsorted(rt, grid[-1] if grid.size else rt[-1],
                                            side="right")) - 1, 0)
        self._raw_t, self._raw_v = rt[keep_from:], rv[keep_from:]
        return grid, vals, ok, bridged

    # ------------------------------------------------------------------ orientation
    def _consume_grid(
        self, t: np.ndarray, v: np.ndarray, ok: np.ndarray, bridged: np.ndarray
    ) -> None:
        if t.size == 0:
            return
        if self.calibration is None:
            self._cal.append(np.column_stack([t, v, ok, bridged]))
            self._cal_n += t.size
            if self._cal_n >= round(self.cfg.calibration_s * self.fs):
                self._calibrate()
            return
        self._orient(t, v, ok, bridged)

    def _calibrate(self) -> None:
        cal = np.concatenate(self._cal)
        self._cal, self._cal_n = [], 0
        t, acc, gyr = cal[:, 0], cal[:, 1:4], cal[:, 4:7]
        ok, bridged = cal[:, 7] > 0.5, cal[:, 8] > 0.5
        self._pelvis = OnlinePelvisSignals.calibrate(
            t, acc, gyr, sampling_rate_hz=self.fs, axes=self.axes, valid=ok,
            settings=self.settings.alignment,
        )
        info = self._pelvis.calibration
        self.calibration = info
        log.info("stream calibrated on %.1f s: correction %.1f deg, up from %s",
                 t[-1] - t[0], info["correction_deg"]["angle"], info["up_source"])
        self._orient(t, cal[:, 1:7], ok, bridged)

    def _orient(
        self, t: np.ndarray, v: np.ndarray, ok: np.ndarray, bridged: np.ndarray,
        *, final: bool = False,
    ) -> None:
        """Pelvis signals for grid samples (`OnlinePelvisSignals.push`: as `align_to_pelvis`
        forms them with the online VQF, restarted after data gaps as offline) + the two
        validity masks, into the ring. After a gap, rows come once the data after it do."""
        sig, masks = self._pelvis.push(
            t, v[:, 0:3], v[:, 3:6], ok, np.column_stack([ok, bridged]), final=final
        )
        if sig.shape[0] == 0:
            return
        block = np.empty((sig.shape[0], len(_BODY_COLUMNS)))
        block[:, :10] = sig
        block[:, 10:12] = masks
        self._ring.extend(block)
        self._n_body += sig.shape[0]

    # ------------------------------------------------------------------ events + metrics
    def _maybe_run(self, *, final: bool) -> pd.DataFrame:
        if self.calibration is None or self._n_body == 0:
            return self._empty
        if not final and self.data_t_s < self._next_due_t:
            return self._empty
        now = self.data_t_s
        out = self._run(final=final)
        # next run: when the next pending row is due (adaptive), at least every hop_s
        due = self._pending_due_t if np.isfinite(self._pending_due_t) else now + self.cfg.hop_s
        self._next_due_t = min(max(due, now + self.cfg.batch_s), now + self.cfg.hop_s)
        return out

    def _run(self, *, final: bool) -> pd.DataFrame:
        loggers = [logging.getLogger(n) for n in _STAGE_LOGGERS]
        for lg in loggers:
            lg.addFilter(self._log_filter)
        try:
            return self._run_window(final=final)
        finally:
            for lg in loggers:
                lg.removeFilter(self._log_filter)

    def _run_window(self, *, final: bool) -> pd.DataFrame:
        self._pending_due_t = np.inf
        fs = self.fs
        body = self._ring.view()
        n_avail = body.shape[0]
        first_k = self._n_body - n_avail  # grid index of body[0]
        # window start on a 0.5 s grid (relative to the stream start)
        half_n = max(1, round(0.5 * fs))
        start_k = max(first_k, self._n_body - round(self.cfg.window_s * fs))
        start_k = -(-start_k // half_n) * half_n
        if self.n_runs == 0 or self._n_body <= round((self.cfg.window_s + self.cfg.margin_s) * fs):
            start_k = 0  # early on, the window grows from the stream start (no margin needed)
        w = body[start_k - first_k :]
        at_stream_start = start_k == 0
        self.n_runs += 1  # (after the window choice: the first run starts at the stream start)
        if w.shape[0] < round(4 * fs):
            return self._empty
        frame, bridged = _ring_frame(w)
        ev = gait_events(frame, bridged, sampling_rate_hz=fs, alignment=self.calibration,
                         settings=self.settings.events).events
        if ev.empty:
            return self._empty
        # rows already emitted need no metrics; keep a few before them (step_s needs the
        # previous contralateral IC, bouts their first rows)
        if np.isfinite(self._last_ic):
            ev = ev[ev["ic_s"] >= self._last_ic - 3.0].reset_index(drop=True)
            if ev.empty:
                return self._empty
        rows, _ = stride_table(
            ev, frame, sampling_rate_hz=fs,
            standing_obliquity_deg=self.calibration["standing_obliquity_deg"],
            settling_s=self._pelvis.settling_s, speed=self._speed, activity=self.activity,
            settings=self.settings.metrics,
        )
        t_end = float(w[-1, 0])
        t_start = float(w[0, 0])
        ic = rows["ic_s"].to_numpy()
        tol = 0.5 / fs + 0.05
        unseen = ic > self._last_ic + tol
        if not at_stream_start:
            unseen &= ic >= t_start + self.cfg.margin_s  # earlier ones: left to older windows
        if final:
            ready = np.ones(len(rows), dtype=bool)
        else:
            # A row depends on the data up to its next same-side IC (stride_s, step_s,
            # obliquity range) + TIMING_GAP_GUARD_S (timing is NaN next to a data gap); + the
            # lag for the detector to settle. A row without one is the end of a bout (or the
            # newest step): final once nothing followed for a while.
            step_est = float(np.nanmedian(rows["step_s"])) if rows["step_s"].notna().any() \
                else 0.6
            # (the next same-side IC itself, not ic + stride_s: stride_s is NaN next to a gap)
            next_same = rows.groupby(["bout_id", "side"], sort=False)["ic_s"].shift(-1)
            # a stance without a side ("") ends its stride two ICs later in the bout
            # (`stance_metrics`), not at the next stance that also lacks one
            no_side = ~rows["side"].isin(["L", "R"])
            if no_side.any():
                two_on = rows.groupby("bout_id", sort=False)["ic_s"].shift(-2)
                next_same = next_same.where(~no_side, two_on)
            need = next_same.to_numpy(float) + self.settings.metrics.timing_gap_guard_s
            open_end = ~np.isfinite(need)
            lag_long = max(self.cfg.lag_s, self.cfg.lag_steps * step_est)
            conf = rows["event_confidence"].to_numpy(float)
            lag = np.where(conf >= self.cfg.confident, self.cfg.lag_s, lag_long)
            # ... but final before it can leave the emission zone (IC >= window start +
            # margin_s; the next run may come hop_s + batch_s later): a row waiting longer
            # would never be emitted (bouts ended by a long data gap mid-stream)
            zone = self.cfg.window_s - self.cfg.margin_s - self.cfg.hop_s - self.cfg.batch_s
            open_wait = min(2.0 * step_est + 2.0 * self.cfg.hop_s + 2.0,
                            max(zone - 0.5 - lag_long, 2.0 * step_est))
            need_open = ic + open_wait
            due = np.where(open_end, need_open, need) + lag
            ready = due <= t_end
            waiting = ~ready & unseen
            if waiting.any():
                # expected time of the next same-side IC of the first waiting row
                k = int(np.flatnonzero(waiting)[0])
                expect = due[k] if not open_end[k] else ic[k] + min(2.0 * step_est, open_wait) \
                    + lag[k]
                self._pending_due_t = float(max(expect, t_end + self.cfg.batch_s))
        new = ready & unseen
        if not new.any():
            return self._empty
        # only a contiguous run of new rows (a later row never overtakes an unready one)
        idx = np.flatnonzero(new)
        first_unready_after = np.flatnonzero(~ready & unseen)
        if first_unready_after.size:
            idx = idx[idx < first_unready_after[0]]
        if idx.size == 0:
            return self._empty
        out = rows.iloc[idx].copy()
        # global bout ids: continue when the previous row in the window bout was emitted
        win_bout = rows["bout_id"].to_numpy()
        ics = rows["ic_s"].to_numpy()
        bout_ids = np.empty(idx.size, dtype=np.int64)
        for j, i in enumerate(idx):
            prev = i - 1
            continues = (
                prev >= 0
                and win_bout[prev] == win_bout[i]
                and abs(ics[prev] - self._last_ic) <= tol
            )
            if not continues:
                self._bout += 1
            bout_ids[j] = self._bout
            self._last_ic = float(ics[i])
        out["bout_id"] = bout_ids
        out = out.reset_index(drop=True)
        wall = time.perf_counter()
        for fc in out["fc_s"].fillna(out["ic_s"]).to_numpy():
            self.emit_log.append((float(fc), t_end, wall))
        self._rows.append(out)
        if len(self._rows) > 64:  # keep concatenation cheap on long streams
            self._rows = [pd.concat(self._rows, ignore_index=True)]
        self._strides_cache = None
        if self.on_stride is not None:
            try:
                self.on_stride(out)
            except Exception as e:  # a view must never stop the analysis
                log.debug("on_stride callback failed: %s", e)
        return out


def _empty_rows() -> pd.DataFrame:
    return empty_strides().assign(**{c: pd.Series(dtype=float) for c in SPEED_COLUMNS})
