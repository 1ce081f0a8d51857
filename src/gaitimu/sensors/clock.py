"""Map sensor-clock sample times to session time, correcting sensor clock drift.

Each sample carries its sensor-clock time (``t0_us + i / rate``). A sensor crystal runs off by
tens of ppm (a 50 ppm error is 3 ms per minute), so the recorder estimates the drift of the
sensor clock against the host's monotonic clock from the packet arrival times. Arrival time =
true time + radio/OS latency, and latency is only ever positive, so the *lower envelope* of
``host - sensor`` is the clock offset: the minimum per 1 s bin, fitted with a Theil-Sen line
(robust to the bins whose minimum is still delayed). The map is continuous and piecewise
linear (it is re-anchored whenever the estimate changes), so session times stay strictly
increasing while the estimate improves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import theilslopes

log = logging.getLogger(__name__)


@dataclass
class ClockMap:
    """Sensor time (seconds, per clock epoch) -> session time (seconds).

    Parameters
    ----------
    bin_s
        Width of the bins whose minimum latency forms the lower envelope.
    min_span_s
        Sensor-time span needed before the drift is estimated at all.
    max_drift_ppm
        Larger estimates are implausible for a crystal (e.g. a virtual sensor running faster
        than real time) and are not applied; ``drift_ppm`` then stays 0 and ``unreliable`` is set.
    update_every_s
        How often (sensor time) the drift estimate is refreshed.
    """

    bin_s: float = 1.0
    min_span_s: float = 10.0
    max_drift_ppm: float = 1000.0
    update_every_s: float = 5.0
    drift_ppm: float = 0.0
    unreliable: bool = False
    _epoch: int = -1
    _anchor_sensor_s: float = 0.0
    _anchor_session_s: float = 0.0
    _bins: dict[int, float] = field(default_factory=dict)
    _bin_sensor: dict[int, float] = field(default_factory=dict)
    _last_update_s: float = 0.0
    _last_mapped_s: float = -np.inf

    def observe(self, epoch: int, sensor_last_s: float, t_host_s: float) -> None:
        """Record that the sample taken at ``sensor_last_s`` had arrived by ``t_host_s``.

        The first observation of a clock epoch anchors that epoch on the host clock.
        """
        if epoch != self._epoch:
            # New epoch (start or sensor restart): anchor on the host clock, keep monotonic.
            start = max(t_host_s, self._last_mapped_s + 1e-6)
            self._epoch = epoch
            self._anchor_sensor_s = sensor_last_s
            self._anchor_session_s = start
            self._bins.clear()
            self._bin_sensor.clear()
            self._last_update_s = sensor_last_s
        k = int(np.floor(sensor_last_s / self.bin_s))
        offset = t_host_s - sensor_last_s
        if k not in self._bins or offset < self._bins[k]:
            self._bins[k] = offset
            self._bin_sensor[k] = sensor_last_s
        if sensor_last_s - self._last_update_s >= self.update_every_s:
            self._last_update_s = sensor_last_s
            self._refit(sensor_last_s)

    def _refit(self, now_sensor_s: float) -> None:
        keys = sorted(self._bins)
        if len(keys) < 5:
            return
        xs = np.array([self._bin_sensor[k] for k in keys])
        if xs[-1] - xs[0] < self.min_span_s:
            return
        ys = np.array([self._bins[k] for k in keys])
        slope = theilslopes(ys, xs)[0]
        ppm = float(slope * 1e6)
        if abs(ppm) > self.max_drift_ppm:
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
        """Observe one received block and return the session times of its samples."""
        self.observe(epoch, float(sensor_t_s[-1]), t_host_s)
        t = self.to_session(sensor_t_s)
        self._last_mapped_s = float(t[-1])
        return t
