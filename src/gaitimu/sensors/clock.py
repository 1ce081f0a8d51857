"""Map sensor-clock sample times to session time, correcting sensor clock drift.

Each sample carries its sensor-clock time (``t0_us + i / rate``). A sensor crystal runs off by
tens of ppm (a 50 ppm error is 3 ms per minute), so the recorder estimates the drift of the
sensor clock against the host's monotonic clock from the packet arrival times. Arrival time =
true time + radio/OS latency, and latency is only ever positive, so the *lower envelope* of
``host - sensor`` is the clock offset: the minimum per 0.5 s bin, fitted with a line by least
squares that iteratively rejects bins lying above it (their minimum was still delayed), over
the last ``window_s`` (10 min) so it follows slow, temperature-driven changes. The map is continuous and piecewise
linear (it is re-anchored whenever the estimate changes), so session times stay strictly
increasing while the estimate improves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)


def lower_envelope_slope(x: np.ndarray, y: np.ndarray, *, n_iter: int = 4) -> float:
    """Slope of a line under the points: least squares, then drop points far *above* it."""
    keep = np.ones(x.shape, bool)
    slope = 0.0
    for _ in range(n_iter):
        if keep.sum() < 3:
            break
        xm = x[keep].mean()
        slope, icpt = np.polyfit(x[keep] - xm, y[keep], 1)
        r = y - (icpt + slope * (x - xm))
        scale = 1.4826 * np.median(np.abs(r[keep])) + 1e-7
        keep = r < 3.0 * scale
    return float(slope)


@dataclass
class ClockMap:
    """Sensor time (seconds, per clock epoch) -> session time (seconds).

    Parameters
    ----------
    bin_s
        Width of the bins whose minimum latency forms the lower envelope.
    min_span_s
        Sensor-time span (and at least 8 bins) needed before the drift is estimated at all.
        Every refit re-anchors the map, so an early slope error stays in all later times: a
        host stall of half a second within the first 2 s used to lock in more than 1 ms; from
        5 s on the lower-envelope fit rejects such bins (the uncorrected drift before that is
        at most 0.25 ms for a 50 ppm crystal).
    max_drift_ppm
        Larger estimates are implausible for a crystal (e.g. a virtual sensor running faster
        than real time) and are not applied; ``drift_ppm`` then stays 0 and ``unreliable`` is set
        (once the fit spans ``implausible_after_s``; before that it waits for more data).
    update_every_s
        How often (sensor time) the drift estimate is refreshed.
    window_s
        Only the most recent ``window_s`` of sensor time enter the fit.
    enabled
        ``False``: no drift correction (sensor time is used as it is, e.g. a virtual sensor
        running faster than real time).
    """

    bin_s: float = 0.5
    min_span_s: float = 5.0
    max_drift_ppm: float = 1000.0
    implausible_after_s: float = 20.0
    update_every_s: float = 1.0
    window_s: float = 600.0
    enabled: bool = True
    drift_ppm: float = 0.0
    unreliable: bool = False
    _epoch: int = -1
    _anchor_sensor_s: float = 0.0
    _anchor_session_s: float = 0.0
    _bins: dict[int, float] = field(default_factory=dict)
    _bin_sensor: dict[int, float] = field(default_factory=dict)
    _last_update_s: float = 0.0
    _last_mapped_s: float = -np.inf

    def observe(self, epoch: int, sensor_last_s: float, t_host_s: float, *,
                min_session_s: float = -np.inf) -> None:
        """Record that the sample taken at ``sensor_last_s`` had arrived by ``t_host_s``.

        The first observation of a clock epoch anchors that epoch on the host clock, at
        ``min_session_s`` or later (so that a whole block fits after the previous epoch).
        """
        if epoch != self._epoch:
            # New epoch (start or sensor restart): anchor on the host clock, keep monotonic.
            start = max(t_host_s, self._last_mapped_s + 1e-6, min_session_s)
            self._epoch = epoch
            self._anchor_sensor_s = sensor_last_s
            self._anchor_session_s = start
            self._bins.clear()
            self._bin_sensor.clear()
            self._last_update_s = sensor_last_s
        k = int(np.floor(sensor_last_s / self.bin_s))
        offset = t_host_s - sensor_last_s
        if k not in self._bins:
            self._bins[k] = offset
            self._bin_sensor[k] = sensor_last_s
            while len(self._bins) > self.window_s / self.bin_s:
                oldest = next(iter(self._bins))
                del self._bins[oldest], self._bin_sensor[oldest]
        elif offset < self._bins[k]:
            self._bins[k] = offset
            self._bin_sensor[k] = sensor_last_s
        if self.enabled and sensor_last_s - self._last_update_s >= self.update_every_s:
            self._last_update_s = sensor_last_s
            self._refit(sensor_last_s)

    def _refit(self, now_sensor_s: float) -> None:
        if len(self._bins) < 8:
            return
        xs = np.fromiter(self._bin_sensor.values(), float)
        if xs.max() - xs.min() < self.min_span_s:
            return
        ys = np.fromiter(self._bins.values(), float)
        ppm = float(lower_envelope_slope(xs, ys) * 1e6)
        if abs(ppm) > self.max_drift_ppm:
            if xs.max() - xs.min() < self.implausible_after_s:
                return  # early, few bins (e.g. delayed first packets): wait for more data
            if not self.unreliable:
                log.warning("sensor clock drift estimate %.0f ppm is implausible; not corrected", ppm)
            self.unreliable = True
            ppm = 0.0
        # Re-anchor at the current point so the map stays continuous.
        self._anchor_session_s = self.to_session(np.array([now_sensor_s]))[0]
        self._anchor_sensor_s = now_sensor_s
        self.drift_ppm = ppm

    def to_session(self, sensor_t_s: np.ndarray) -> np.ndarray:
        """Session times of sensor times of the current epoch (does not change the state)."""
        return self._anchor_session_s + (np.asarray(sensor_t_s) - self._anchor_sensor_s) * (
            1.0 + self.drift_ppm * 1e-6
        )

    def map_block(self, epoch: int, sensor_t_s: np.ndarray, t_host_s: float) -> np.ndarray:
        """Observe one received block and return the session times of its samples.

        Session times stay strictly increasing across a new epoch: its anchor leaves room
        for the whole block after the last mapped sample (a sensor that restarts while the
        session clock is ahead of the host clock, e.g. a virtual sensor faster than real
        time, used to map the first block of the new epoch before the end of the old one).
        """
        sensor_t_s = np.asarray(sensor_t_s, dtype=float)
        span = float(sensor_t_s[-1] - sensor_t_s[0])
        step = span / (sensor_t_s.size - 1) if sensor_t_s.size > 1 else 1e-3
        self.observe(epoch, float(sensor_t_s[-1]), t_host_s,
                     min_session_s=self._last_mapped_s + span + step)
        t = self.to_session(sensor_t_s)
        self._last_mapped_s = float(t[-1])
        return t
