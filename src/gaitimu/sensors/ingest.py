"""One ingest step for the recorder and replay: packet -> block -> session time -> gaps -> sink.

The recorder (`gaitimu.sensors.client.Recorder`) feeds `Ingest` the notifications as they
arrive; replay (`gaitimu.live.replay`) feeds it a session's stored packets. Both therefore
take the same decisions with the same lines:

1. decode with the `StreamDecoder` (loss from sequence numbers and sensor clock, duplicates,
   jumps and restarts believed when 3 packets agree; `Ingest.mark_reconnect` marks a new link),
2. session times of the block from a pluggable `SessionClock`,
3. the samples lost before the block: the decoder's count, or across a sensor restart (a new
   clock epoch, when the packets cannot tell) the session clock's
   (`protocol.restart_gap_samples`); a ``clock_reset`` and a ``gap`` event as the session's
   events.jsonl records them,
4. physical units (`protocol.raw_to_physical` with the sensor's ranges),
5. a `Sink`.

What differs between the two is plugged in, not copied: the clock (the recorder maps sensor
time with drift correction, `MappedClock`; replay gives each decoded sample the time the
recorder stored for it), the sink (the session writer and the live hook; replay's streaming
analyzer) and ``keep`` (the recorder's requested duration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gaitimu.sensors import protocol as P
from gaitimu.sensors.clock import ClockMap


class SessionClock(Protocol):
    """Where the samples of a decoded block sit on the session's time axis."""

    def session_times(self, block: P.DecodedBlock) -> np.ndarray:
        """Session times of the block's first samples, in order: all of them, or fewer (the
        samples after them are not handed on, e.g. a tail the recorder never stored)."""
        ...


class Sink(Protocol):
    """Where the ingest step hands its results."""

    def event(self, event: dict[str, Any]) -> None:
        """A ``clock_reset`` or a ``gap``, as the session's events record them."""
        ...

    def samples(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        """One block: session times (n,), acc (n, 3) m/s^2, gyr (n, 3) deg/s."""
        ...


@dataclass(frozen=True)
class MappedClock:
    """The recorder's clock: sensor time mapped to session time by a `ClockMap`, which
    corrects the sensor's drift against the host receive times (a block's ``t_host_s`` is
    that of the packet just fed, the last one it holds)."""

    clock_map: ClockMap

    def session_times(self, block: P.DecodedBlock) -> np.ndarray:
        return self.clock_map.map_block(block.epoch, block.sensor_t_s, block.t_host_s)


def gap_event(lost: int, last_t_s: float | None, next_t_s: float, n_after: int,
              rate_hz: float) -> dict[str, Any]:
    """The ``gap`` event of ``lost`` samples after the sample at ``last_t_s`` (None: before
    the first) and before the one at ``next_t_s``. With no sample after it (``n_after`` 0:
    the recording ended there) the gap ends ``lost`` periods after it starts."""
    period = 1.0 / rate_hz
    start = (last_t_s + period) if last_t_s is not None else next_t_s
    end = next_t_s if n_after else start + lost * period
    return {"kind": "gap", "start_s": start, "end_s": end, "lost_samples": int(lost),
            "duration_s": lost * period}


class Ingest:
    """Decode -> session time -> gaps -> physical units -> sink, one packet at a time.

    Parameters
    ----------
    decoder
        The stream's decoder; its `stats` are the stream's loss counters (restarts add theirs).
    clock
        Session times of each decoded block.
    sink
        Receives the events and the samples.
    scales
        The sensor's ranges. Public: a reconnection that reconfigures the sensor sets it.
    keep
        ``(lost, n) -> (lost, n)``: how many of the samples lost before a block and of the
        block's samples to take (the recorder's requested duration). Default: all.

    Attributes
    ----------
    last_t_s
        Session time of the last sample handed on (None before the first): where a gap starts.
    """

    def __init__(self, decoder: P.StreamDecoder, clock: SessionClock, sink: Sink,
                 scales: P.Scales, *, keep: Callable[[int, int], tuple[int, int]] | None = None,
                 ) -> None:
        self.decoder = decoder
        self.clock = clock
        self.sink = sink
        self.scales = scales
        self.keep = keep
        self.last_t_s: float | None = None
        self._epoch = 0

    def mark_reconnect(self) -> None:
        """A new link starts with the next packet (`StreamDecoder.mark_reconnect`)."""
        self.decoder.mark_reconnect()

    def feed(self, t_host_s: float, data: bytes) -> int:
        """Take one packet received at host time ``t_host_s``; return how many samples it
        handed to the sink (0 when the decoder holds, drops or counts it, or none is kept)."""
        block = self.decoder.feed(data, t_host_s)
        if block is None:
            return 0
        t_s = self.clock.session_times(block)
        if not t_s.size:
            return 0
        next_t_s = float(t_s[0])
        lost = self._lost_before(block, t_host_s, next_t_s)
        lost, n = self.keep(lost, t_s.size) if self.keep is not None else (lost, t_s.size)
        if lost:
            self.sink.event(gap_event(lost, self.last_t_s, next_t_s, n,
                                      self.decoder.sampling_rate_hz))
        if n:
            acc, gyr = P.raw_to_physical(block.raw[:n], self.scales)
            self.sink.samples(t_s[:n], acc, gyr)
            self.last_t_s = float(t_s[n - 1])
        return n

    def _lost_before(self, block: P.DecodedBlock, t_host_s: float, next_t_s: float) -> int:
        """Samples missing before ``block``: the decoder's count, or after a sensor restart
        (its clock began again, so only the session clock can tell) the session clock's, with
        a ``clock_reset`` event."""
        if block.epoch == self._epoch:
            return block.lost_before
        self._epoch = block.epoch
        self.sink.event({"kind": "clock_reset", "t_host_s": t_host_s,
                         "message": "sensor clock restarted (sensor rebooted?)"})
        return P.restart_gap_samples(self.decoder.stats, self.last_t_s, next_t_s,
                                     self.decoder.sampling_rate_hz)
