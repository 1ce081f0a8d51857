"""Replay a stored session through the live path: packets -> ingest -> streaming analysis.

``gaitimu replay`` (docs/contracts.md#command-line). The session's raw packets are yielded
by an async iterator of ``(t_host_s, bytes)`` items (docs/contracts.md#live-equals-offline)
at the original pace (``speed=1``), N times faster, or as fast as possible (``speed=None``);
they go through the recorder's own ingest step (`gaitimu.sensors.ingest.Ingest`: the
`StreamDecoder`, restart gaps, `raw_to_physical`) and then into
`gaitimu.live.stream.StreamingAnalyzer`.

Only the clock differs from a recording: each decoded sample gets the time the recorder
stored for *that* sample (`_align_times`: a first pass over all packets matches blocks to
the stored samples by sensor time, each clock epoch anchored on equal values), never the
k-th stored time for the k-th decoded sample. So a packet that is damaged, missing from a
damaged packets.bin chunk, or rejected by the decoder is a gap (counted, with a warning in
`ReplayResult.warnings` and the log), and samples missing from samples.bin are replayed
from their packets at their sensor-clock time; nothing after the damage moves.

Imported CSV sessions keep no packets: `synthesize_packets` builds protocol-v1 packets from
the stored samples (quantised to the int16 LSB of a 16 g / 2000 deg/s sensor, so the
replayed values differ from the stored floats by at most half an LSB).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitimu.consts import finite_or_none
from gaitimu.errors import BadInputError
from gaitimu.live.stream import StreamConfig, StreamingAnalyzer
from gaitimu.sensors import protocol as P
from gaitimu.sensors.adapters import Decoder, decoder_for
from gaitimu.sensors.ingest import Ingest, Sink
from gaitimu.sensors.status import Status

log = logging.getLogger(__name__)

__all__ = [
    "ReplayResult",
    "ReplayStatus",
    "iter_packets",
    "replay_session",
    "session_packets",
    "synthesize_packets",
]

#: From this replay speed on, the detector runs on the throughput schedule (every 5 s of
#: data): the latency schedule runs it about twice per data second, which stops keeping up
#: beyond ~10x. Rows are the same either way.
FAST_SPEED = 8.0

#: Samples per synthesized packet (about 50 packets/s at 200 Hz, like the sensor).
SYNTH_SAMPLES_PER_PACKET = 4


#: Replay publishes the same snapshots as the recorder.
ReplayStatus = Status


@dataclass
class ReplayResult:
    """What `replay_session` returns."""

    strides: pd.DataFrame
    n_packets: int
    n_samples: int
    data_duration_s: float
    wall_s: float
    busy_s: float
    stopped_by: str
    decoder_stats: dict[str, Any]
    analyzer: StreamingAnalyzer
    #: One line per damage found (also logged as warnings): damaged or missing packets,
    #: samples missing from samples.bin, packets dropped by the decoder.
    warnings: list[str] = field(default_factory=list)
    #: Stored samples whose packets are damaged or missing: ``[(start_s, end_s, n), ...]``.
    not_replayed: list[tuple[float, float, int]] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        """Data seconds replayed per wall-clock second."""
        return self.data_duration_s / self.wall_s if self.wall_s > 0 else float("inf")


def _scales(meta: dict) -> P.Scales:
    return P.Scales(acc_range_g=float(meta.get("acc_range_g") or 16.0),
                    gyr_range_dps=float(meta.get("gyr_range_dps") or 2000.0))


def synthesize_packets(
    t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray, *, scales: P.Scales,
    samples_per_packet: int = SYNTH_SAMPLES_PER_PACKET,
) -> tuple[np.ndarray, list[bytes]]:
    """Protocol-v1 packets carrying stored samples (for sessions that keep no packets).

    Host time of a packet = time of its last sample; ``t0_us`` = time of its first sample on
    a microsecond clock starting at 0 (wrapped at 2**32 like the sensor's).
    """
    n = t_s.size
    spp = int(np.clip(samples_per_packet, 1, P.MAX_SAMPLES_PER_PACKET))
    raw = P.physical_to_raw(acc, gyr, scales)
    starts = np.arange(0, n, spp)
    t0_us = np.rint((t_s[starts] - t_s[0]) * 1e6).astype(np.int64) % (1 << 32)
    host = t_s[np.minimum(starts + spp, n) - 1]
    data = [P.encode_packet(i, int(t0_us[i]), raw[s : s + spp])
            for i, s in enumerate(starts.tolist())]
    return host.astype(float), data


def session_packets(session: Any) -> tuple[np.ndarray, list[bytes], bool]:
    """The session's raw packets (host times, bytes) and whether they were synthesized."""
    t_host, data = session.packets()
    if len(data):
        return t_host, data, False
    if session.n_samples < 2:
        raise BadInputError(f"{session.path}: the session holds no samples to replay")
    t_host, data = synthesize_packets(session.t_s, session.acc, session.gyr,
                                      scales=_scales(session.meta))
    return t_host, data, True


async def iter_packets(
    t_host_s: np.ndarray, data: list[bytes], *, speed: float | None = 1.0,
    stop: asyncio.Event | None = None, yield_every: int = 64,
) -> AsyncIterator[tuple[float, bytes]]:
    """Yield ``(t_host_s, bytes)`` at the recorded pace divided by `speed` (None: no waits).

    Host times are shifted so the first packet has ``t_host_s == 0``. Stops early when
    `stop` is set. At full speed the loop still yields to the event loop every `yield_every`
    packets so servers and signal handlers keep running.
    """
    if speed is not None and not speed > 0:
        raise BadInputError(f"replay speed must be > 0, not {speed!r}")
    if not len(data):
        return
    t0 = float(t_host_s[0])
    wall0 = time.monotonic()
    times = (np.asarray(t_host_s, dtype=float) - t0).tolist()
    for i, (t, d) in enumerate(zip(times, data, strict=True)):
        if stop is not None and stop.is_set():
            return
        if speed is None:
            if i % yield_every == 0:
                await asyncio.sleep(0)
        else:
            wait = t / speed - (time.monotonic() - wall0)
            if wait > 0.002:
                await asyncio.sleep(wait)
        yield t, d


def _runs(idx: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive integers in sorted ``idx`` as ``[(first, last), ...]``."""
    if not idx.size:
        return []
    cut = np.flatnonzero(np.diff(idx) != 1)
    return list(zip(idx[np.r_[0, cut + 1]].tolist(), idx[np.r_[cut, idx.size - 1]].tolist(),
                    strict=True))


@dataclass
class _Decoded:
    """Every block the decoder accepted, as flat arrays (small for hours of data)."""

    starts: np.ndarray  # (B + 1,) first sample of each block; starts[-1] = M
    epoch: np.ndarray  # (B,) sensor clock epoch of each block
    t_host: np.ndarray  # (B,) host receive time of each block's last packet
    sensor_t: np.ndarray  # (M,) sensor time of every sample (per epoch)
    raw: np.ndarray  # (M, 6) int16


def _decode_all(host: np.ndarray, data: list[bytes], rate: float,
                marks: set[int], meta: dict | None = None) -> tuple[_Decoded, Decoder]:
    """Every block the decoder accepts from the packets (the same decoder calls as the
    ingest step `_Decode` runs)."""
    dec = decoder_for(meta or {}, rate)  # the session's adapter's, or the gaitimu protocol's
    n, ep, th, st, raw = [0], [], [], [], []
    for i, (h, d) in enumerate(zip(host.tolist(), data, strict=True)):
        if i in marks:
            dec.mark_reconnect()
        b = dec.feed(d, h)
        if b is not None:
            n.append(b.n)
            ep.append(b.epoch)
            th.append(b.t_host_s)
            st.append(b.sensor_t_s)
            raw.append(b.raw)
    out = _Decoded(
        starts=np.cumsum(n), epoch=np.array(ep, dtype=np.int64), t_host=np.array(th, dtype=float),
        sensor_t=np.concatenate(st) if st else np.zeros(0),
        raw=np.concatenate(raw) if raw else np.zeros((0, 6), np.int16))
    return out, dec


def _reconnect_marks(host: np.ndarray, reconnects: np.ndarray) -> set[int]:
    """Packet indices before which the recorder marked a new link (the first packet that
    arrived after each ``link_lost`` event)."""
    if not reconnects.size or not host.size:
        return set()
    return set(np.searchsorted(host, reconnects, side="right").tolist()) - {host.size}


def _align_times(dd: _Decoded, t_s: np.ndarray, stored_raw: np.ndarray,
                 rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Session time of every decoded sample, from the stored samples it is, never by count.

    The recorder stored each accepted sample with its session time. A decoded sample takes
    the stored time of *its* sample: within a sensor-clock epoch session time follows sensor
    time, so each block's times are predicted from the last matched sample (sensor-time
    difference times the epoch's slope) and snapped to the stored time within 0.45 of a
    sample period. Each epoch is anchored on the first block whose values equal a stored run
    near its host receive time. Samples without a stored counterpart (samples.bin damaged)
    keep the predicted time; stored samples no block matches (packets damaged or missing)
    are left out. Returns the times of all decoded samples and the mask of stored samples
    matched.
    """
    n_st = t_s.size
    period = 1.0 / rate
    tol = 0.45 * period
    used = np.zeros(n_st, dtype=bool)
    out = np.empty(dd.sensor_t.size)
    starts = dd.starts
    k = 0  # stored samples before k are matched or passed
    last_t = -np.inf
    n_blocks = dd.epoch.size
    cuts = np.flatnonzero(np.diff(dd.epoch)) + 1 if n_blocks else np.zeros(0, int)
    groups = zip(np.r_[0, cuts].tolist(), np.r_[cuts, n_blocks].tolist(), strict=True)
    for g0, g1 in groups if n_blocks else ():
        ref = None
        for bi in range(g0, g1):  # anchor: the first block whose values are a stored run near it
            a, z = int(starts[bi]), int(starts[bi + 1])
            n = z - a
            est = float(dd.t_host[bi]) - (n - 1) * period
            if not np.isfinite(est) or not n_st:
                break
            win = 2.0 + 2e-3 * abs(est)
            lo = max(k, int(np.searchsorted(t_s, est - win)))
            hi = int(np.searchsorted(t_s, est + win))
            cand = lo + np.flatnonzero((stored_raw[lo:hi] == dd.raw[a]).all(axis=1))
            for j in cand[np.argsort(np.abs(t_s[cand] - est), kind="stable")].tolist():
                m = min(n, n_st - j)
                if (stored_raw[j:j + m] == dd.raw[a:a + m]).all() and (
                        m == 1 or abs(t_s[j + m - 1] - t_s[j] - (m - 1) * period) < tol):
                    ref = (float(dd.sensor_t[a]), float(t_s[j]))
                    break
            if ref is not None:
                break
        if ref is None:  # nothing stored of this epoch: the host clock places it
            a, z = int(starts[g0]), int(starts[g0 + 1])
            h = float(dd.t_host[g0])
            t_end = h if np.isfinite(h) else last_t + (z - a) * period
            ref = (float(dd.sensor_t[z - 1]), max(t_end, last_t + (z - a) * period))
        first_ref = None
        slope = 1.0
        for bi in range(g0, g1):
            a, z = int(starts[bi]), int(starts[bi + 1])
            s = dd.sensor_t[a:z]
            n = z - a
            pred = ref[1] + (s - ref[0]) * slope
            if k + n <= n_st and abs(t_s[k] - pred[0]) <= tol and abs(t_s[k + n - 1] - pred[-1]) <= tol:
                times = t_s[k:k + n]
                used[k:k + n] = True
                k += n
                ref = (float(s[-1]), float(times[-1]))
            else:
                j = np.searchsorted(t_s, pred - tol)
                jc = np.minimum(j, n_st - 1)
                ok = ((j < n_st) & (j >= k) & (np.abs(t_s[jc] - pred) <= tol) if n_st
                      else np.zeros(n, dtype=bool))
                if ok.any():
                    times = np.where(ok, t_s[jc], pred)
                    used[jc[ok]] = True
                    last_ok = int(np.flatnonzero(ok)[-1])
                    k = max(k, int(jc[last_ok]) + 1)
                    ref = (float(s[last_ok]), float(t_s[jc[last_ok]]))
                else:
                    times = pred
            if times is not pred and ref is not None:
                if first_ref is None:
                    first_ref = ref
                elif ref[0] - first_ref[0] > 10.0:
                    slope = min(1 + 2e-3, max(1 - 2e-3, (ref[1] - first_ref[1])
                                              / (ref[0] - first_ref[0])))
            out[a:z] = times
            last_t = max(last_t, float(times[-1]))
    return out, used


class _Consumer:
    """Replay's end of the ingest step: the streaming analyzer, then ``on_samples``; counts
    what they were given (the replay's samples and the data span)."""

    def __init__(self, analyzer: StreamingAnalyzer,
                 on_samples: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None) -> None:
        self.analyzer = analyzer
        self.on_samples = on_samples
        self.n = 0  # samples handed on
        self.t_first: float | None = None  # session time of the first/last sample handed on
        self.t_last = 0.0

    def event(self, event: dict[str, Any]) -> None:
        """Gaps and restarts reach the analyzer as holes in the session times."""

    def samples(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        self.n += t_s.size
        if self.t_first is None:
            self.t_first = float(t_s[0])
        self.t_last = float(t_s[-1])
        self.analyzer.push(t_s, acc, gyr)
        if self.on_samples is not None:
            self.on_samples(t_s, acc, gyr)


class _Decode:
    """Replay's front of the recorder's ingest step, and its clock (`session_times`).

    Session times come from `_align_times` (a first pass over all packets): each decoded
    sample keeps the time the recorder stored for that very sample, so a damaged or missing
    packet is a gap and never shifts the samples after it. Packets synthesized from the
    stored samples (imported sessions) pair one to one with them. The reconnections the
    recorder marked (its ``link_lost`` events) are marked before the same packets.
    """

    def __init__(self, session: Any, host: np.ndarray, data: list[bytes], *, sink: Sink,
                 synthesized: bool = False) -> None:
        self.rate = float(session.sample_rate_hz)
        self.scales = _scales(session.meta)
        reconnects = np.array([float(e["t_host_s"]) for e in (session.events or [])
                               if e.get("kind") == "link_lost"
                               and isinstance(e.get("t_host_s"), int | float)])
        self.host = np.asarray(host, dtype=float)
        self.marks = _reconnect_marks(self.host, reconnects)
        meta = {} if synthesized else session.meta  # synthesized packets are protocol v1
        self.ingest = Ingest(decoder_for(meta, self.rate), self, sink, self.scales)
        self.stored_t = np.asarray(session.t_s, dtype=float)
        self.i = 0  # packets fed
        self.b = 0  # blocks decoded
        self.synthesized = synthesized
        dd, first = _decode_all(self.host, data, self.rate, self.marks, meta)
        self.first_pass = first.stats
        self.starts = dd.starts
        n_dec = dd.sensor_t.size
        self.cut = n_dec  # decoded samples from this index on are not handed on
        self.not_replayed: list[tuple[float, float, int]] = []  # stored, no packet
        self.unstored: list[tuple[float, float, int]] = []  # decoded, not in samples.bin
        if synthesized:
            self.times = self.stored_t[:n_dec]
            self.cut = self.times.size
            return
        acc = np.asarray(session.acc, dtype=float)
        gyr = np.asarray(session.gyr, dtype=float)
        stored_raw = P.physical_to_raw(acc, gyr, self.scales) if acc.size else np.zeros((0, 6), np.int16)
        in_order = self.stored_t
        if np.any(np.diff(self.stored_t) <= 0):  # a damaged recording: match on sorted times
            order = np.argsort(self.stored_t, kind="stable")
            self.stored_t, stored_raw = self.stored_t[order], stored_raw[order]
        self.times, used = _align_times(dd, self.stored_t, stored_raw, self.rate)
        del dd, stored_raw
        if not used.any() and n_dec == self.stored_t.size and n_dec:
            log.info("no decoded sample equals a stored one: pairing them in order")
            self.stored_t = self.times = in_order
            return
        # Decoded samples after the last stored one, less than a packet: the recorder stopped
        # there (its duration ended mid-packet); replay stops there too.
        last = float(self.stored_t[used][-1]) if used.any() else -np.inf
        extra = int((self.times > last).sum())
        if 0 < extra <= P.MAX_SAMPLES_PER_PACKET and self.times[-1] > last:
            self.cut = int(np.flatnonzero(self.times <= last)[-1]) + 1
        for a, z in _runs(np.flatnonzero(~used)):
            self.not_replayed.append((float(self.stored_t[a]), float(self.stored_t[z]), z - a + 1))
        flat = self.times[: self.cut]
        stored_mask = np.isin(flat, self.stored_t[used])
        for a, z in _runs(np.flatnonzero(~stored_mask)):
            self.unstored.append((float(flat[a]), float(flat[z]), z - a + 1))

    def __call__(self, t_host: float, data: bytes) -> int:
        """Ingest the next packet at its stored host time (the time the recorder fed it);
        return how many samples it handed on."""
        i = self.i
        self.i += 1
        if i in self.marks:
            self.ingest.mark_reconnect()
        return self.ingest.feed(float(self.host[i]) if i < self.host.size else t_host, data)

    def session_times(self, block: P.DecodedBlock) -> np.ndarray:
        """The aligned times of the next decoded block, up to the cut (empty past it, and
        past the blocks of the first pass)."""
        j = self.b
        self.b += 1
        if j + 1 >= self.starts.size:
            return self.times[:0]
        return self.times[int(self.starts[j]):min(int(self.starts[j + 1]), self.cut)]

    def warnings(self, session: Any) -> list[str]:
        """One line per thing the replay could not take as it was recorded."""
        out = []
        st = self.first_pass
        name = Path(str(session.path)).name
        for p in session.problems or []:
            if "packets.bin" in p or "samples.bin" in p:
                out.append(f"{name}: {p}")
        if self.synthesized and any("packets.bin" in p for p in session.problems or []):
            out.append(f"{name}: no packet could be read: replaying the stored samples "
                       "(packets synthesized from samples.bin)")
        if self.not_replayed:
            n = sum(c for *_, c in self.not_replayed)
            where = ", ".join(f"{a:.3f}-{z:.3f} s" for a, z, _ in self.not_replayed[:3])
            more = f" and {len(self.not_replayed) - 3} more" if len(self.not_replayed) > 3 else ""
            out.append(f"{name}: {n} stored samples not replayed, their packets are damaged or "
                       f"missing ({where}{more}); replayed as {len(self.not_replayed)} gap(s)")
        if self.unstored:
            n = sum(c for *_, c in self.unstored)
            where = ", ".join(f"{a:.3f}-{z:.3f} s" for a, z, _ in self.unstored[:3])
            out.append(f"{name}: {n} replayed samples are missing from samples.bin ({where}); "
                       "timed by the sensor clock")
        bad = {k: getattr(st, k) for k in ("malformed", "rejected", "late", "duplicates")
               if getattr(st, k)}
        if bad:
            out.append(f"{name}: packets dropped: " + ", ".join(f"{v} {k}" for k, v in bad.items())
                       + f"; {st.lost_samples} samples lost in {st.gaps} gaps")
        return out


async def replay_session(
    session_path: str | Path,
    *,
    speed: float | None = 1.0,
    strides_csv: str | Path | None = None,
    config: StreamConfig | None = None,
    on_rows: Callable[[pd.DataFrame], None] | None = None,
    on_status: Callable[[ReplayStatus], None] | None = None,
    on_samples: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    analyzer_hook: Callable[[StreamingAnalyzer], None] | None = None,
    stop: asyncio.Event | None = None,
    status_every_s: float = 0.25,
) -> ReplayResult:
    """Replay a session through decode + streaming analysis (``gaitimu replay``).

    Parameters
    ----------
    session_path
        Session directory.
    speed
        1.0 = original pace, N = N times faster, None = as fast as possible.
    strides_csv
        Where to write the stride rows (also written when stopped early, with what was
        final by then).
    config
        `StreamConfig` of the streaming driver (default: `StreamConfig()` for paced replay
        below `FAST_SPEED`, else `StreamConfig.throughput()`).
    on_rows
        Called with each batch of new stride rows.
    on_status
        Called about every `status_every_s` (wall time) with a `ReplayStatus`.
    on_samples
        Called with every decoded block ``(t_s, acc, gyr)`` (e.g. a dashboard feed).
    analyzer_hook
        Called once with the `StreamingAnalyzer` before streaming (views read snapshots),
        after a first status (state "starting"); when it returns an awaitable, the replay
        awaits it (e.g. to start a dashboard) and starts its clock after it.
    stop
        Set it (e.g. from a SIGINT handler) to stop cleanly: rows final so far are kept and
        written.
    """
    from gaitimu.sessions import open_session

    session = open_session(session_path)
    if session.n_samples < 2:
        raise BadInputError(f"{session_path}: the session holds no samples")
    t_host, data, synthesized = session_packets(session)
    meta = session.meta or {}
    if config is None and (speed is None or speed >= FAST_SPEED):
        config = StreamConfig.throughput()
    analyzer = StreamingAnalyzer(
        sampling_rate_hz=session.sample_rate_hz, axes=session.axes,
        activity=meta.get("activity"), config=config, on_stride=on_rows,
        leg_length_m=finite_or_none(meta.get("leg_length_m")),
        height_m=finite_or_none(meta.get("height_m")),
    )
    consumer = _Consumer(analyzer, on_samples)
    decode = _Decode(session, t_host, data, sink=consumer, synthesized=synthesized)
    warnings = decode.warnings(session)
    if decode.cut == 0 and not synthesized:  # not one packet decodes: replay the samples
        warnings.append(f"{Path(str(session.path)).name}: no stored packet decodes: replaying "
                        "the stored samples (packets synthesized from samples.bin)")
        t_host, data = synthesize_packets(session.t_s, session.acc, session.gyr,
                                          scales=_scales(session.meta))
        synthesized = True
        decode = _Decode(session, t_host, data, sink=consumer, synthesized=True)
    for w in warnings:
        log.warning("%s", w)
    status = ReplayStatus(device=f"replay {Path(session_path).name}"
                          + (" (synthesized packets)" if synthesized else ""),
                          battery_pct=meta.get("battery_pct"))
    stop = stop or asyncio.Event()
    recent: list[tuple[float, int]] = []
    wall0 = time.monotonic()
    next_status = 0.0
    busy = 0.0

    def publish(state: str) -> None:
        now = time.monotonic() - wall0
        status.state = state
        status.elapsed_s = now
        while recent and recent[0][0] < now - 2.0:
            recent.pop(0)
        status.samples = consumer.n
        status.rate_hz = sum(n for _, n in recent) / min(2.0, max(now, 1e-3))
        s = decode.ingest.decoder.stats
        status.lost_samples, status.loss_fraction, status.gaps = (
            s.lost_samples, s.loss_fraction, s.gaps)
        if on_status is not None:
            try:
                on_status(status)
            except Exception as e:  # views never stop the replay
                log.debug("status callback failed: %s", e)

    publish("starting")
    if analyzer_hook is not None:
        hooked = analyzer_hook(analyzer)
        if inspect.isawaitable(hooked):
            await hooked
        wall0 = time.monotonic()  # the replay's clock starts now (publish reads it)
    stopped_by = "end"
    n_packets = 0
    publish("replaying")
    async for t, d in iter_packets(t_host, data, speed=speed, stop=stop):
        c0 = time.perf_counter()
        n_packets += 1
        n = decode(t, d)
        busy += time.perf_counter() - c0
        now = time.monotonic() - wall0
        if n:
            recent.append((now, n))
        if now >= next_status:
            next_status = now + status_every_s
            publish("replaying")
    if stop.is_set():
        stopped_by = "stopped"
    c0 = time.perf_counter()
    analyzer.flush()
    busy += time.perf_counter() - c0
    wall = time.monotonic() - wall0
    publish("finished" if stopped_by == "end" else "stopped")
    strides = analyzer.strides
    if strides_csv:
        try:
            strides.to_csv(Path(strides_csv), index=False, float_format="%.6g")
        except OSError as e:
            raise BadInputError(f"{strides_csv}: cannot write ({e.strerror})") from e
    return ReplayResult(
        strides=strides, n_packets=n_packets, n_samples=consumer.n,
        data_duration_s=(consumer.t_last - consumer.t_first + 1.0 / decode.rate
                         if consumer.t_first is not None else 0.0), wall_s=wall, busy_s=busy,
        stopped_by=stopped_by, decoder_stats=decode.ingest.decoder.stats.as_dict(),
        analyzer=analyzer,
        warnings=warnings, not_replayed=decode.not_replayed,
    )


# --------------------------------------------------------------------------- CLI driver
def format_row(row: Any) -> str:
    """One stride row as a short line for the terminal (side "?" when the stance has none:
    left/right withheld, no CPD)."""
    side = row.side if row.side in ("L", "R") else "?"
    cpd = row.cpd_standing_deg if np.isfinite(row.cpd_standing_deg) else row.cpd_ic_deg
    ref = "standing" if np.isfinite(row.cpd_standing_deg) else "IC"
    cpd_txt = f"CPD {cpd:5.1f}° (vs {ref})" if np.isfinite(cpd) else "CPD     -"
    ok = "" if row.valid else f"  (excluded: {row.invalid_reason})"
    return (f"{row.ic_s:8.2f} s  {side}  {row.activity:<4}  {cpd_txt}  "
            f"stance {row.stance_s:.2f} s{ok}")


async def replay_live(
    session_path: str | Path,
    *,
    speed: float | None = 1.0,
    strides_csv: str | Path | None = None,
    live: bool = False,
    print_rows: bool = True,
    console: Any = None,
    port: int | None = None,
    on_ready: Callable[[str | None], None] | None = None,
    linger: bool | float = False,
    install_signal_handlers: bool = True,
    stop: asyncio.Event | None = None,
) -> ReplayResult:
    """``gaitimu replay``: replay with the terminal status, row printing and dashboard.

    Parameters
    ----------
    session_path, speed, strides_csv
        See `replay_session`.
    live
        Serve the browser dashboard (`gaitimu.live.dashboard`) on 127.0.0.1. It is started
        as ``record --live`` starts it (`LiveFeed.start`), once the session is read and
        before the first packet: a browser that connects at any time (before the data flows,
        in the middle, after the end while it lingers) gets the full state so far.
    print_rows
        Print each stride row as it becomes final (stdout).
    console
        rich console for the status (default: stderr, only when it is a terminal).
    port
        Dashboard port (default `dashboard.DEFAULT_PORT`, or any free one when taken).
    on_ready
        Called with the dashboard URL (or None) once it listens, before the replay starts.
    linger
        With `live`: after the end, keep serving the final state this many seconds
        (``True`` or ``math.inf``: until Ctrl-C / `stop`; ``False`` or 0: close at the end).
        A replay stopped early (Ctrl-C) does not linger.
    install_signal_handlers
        Ctrl-C / SIGTERM stop the replay cleanly (rows so far are written), or end the
        lingering.
    stop
        Set it to stop the replay, or to end the lingering (default: a new event).
    """
    import signal

    from rich.console import Console

    from gaitimu.live.dashboard import DEFAULT_PORT, LiveDashboard, LiveFeed
    from gaitimu.live.status import LiveStatus

    linger_s = _linger_seconds(linger)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
    out = Console(highlight=False)
    box: dict[str, Any] = {}  # "feed" once the analyzer exists, "status" the latest status

    async def hook(analyzer: StreamingAnalyzer) -> None:
        dash = LiveDashboard(port=DEFAULT_PORT if port is None else port) if live else None
        feed = LiveFeed(analyzer, dashboard=dash)
        feed.status = box.get("status")  # the status line names the session from the start
        box["feed"] = feed
        await feed.start()
        if on_ready is not None:
            on_ready(feed.url)

    def rows(new: pd.DataFrame) -> None:
        if print_rows:
            for r in new.itertuples(index=False):
                out.print(format_row(r))

    def status(st: ReplayStatus) -> None:
        box["status"] = st
        if "feed" in box:
            box["feed"].on_status(st)
        view(st)

    def samples(*_: Any) -> None:
        if "feed" in box:  # replay_session feeds the analyzer; the feed only publishes
            box["feed"].publish()

    view = LiveStatus(console, analysis_hook=lambda: box["feed"].status_rows()
                      if "feed" in box else {})
    try:
        with view:
            res = await replay_session(
                session_path, speed=speed, strides_csv=strides_csv, on_rows=rows,
                on_status=status, on_samples=samples if live else None,
                analyzer_hook=hook, stop=stop,
            )
        feed = box.get("feed")
        if feed is not None and feed.url and linger_s > 0 and not stop.is_set():
            feed.publish(force=True)  # the final state to the open pages (close() does too)
            how = ("until Ctrl-C" if math.isinf(linger_s)
                   else f"for {linger_s:g} s (Ctrl-C ends it sooner)")
            Console(stderr=True, highlight=False).print(
                f"replay finished: {len(res.strides)} stride rows; the dashboard keeps showing "
                f"them at {feed.url} {how}", soft_wrap=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), None if math.isinf(linger_s) else linger_s)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if "feed" in box:
            await box["feed"].close()
    return res


def _linger_seconds(linger: bool | float | None) -> float:
    """`replay_live`'s ``linger`` in seconds (True: inf), or `BadInputError`."""
    if linger is None or isinstance(linger, bool):
        return math.inf if linger else 0.0
    try:
        s = float(linger)
    except (TypeError, ValueError):
        s = math.nan
    if not s >= 0:
        raise BadInputError(f"linger {linger!r} is not a number of seconds >= 0 (how long the "
                            "dashboard stays up after the replay; inf = until Ctrl-C)")
    return s


def summary_text(res: ReplayResult) -> str:
    """Closing lines of ``gaitimu replay``."""
    from gaitimu.live.dashboard import live_summary

    sm = live_summary(res.strides)
    parts = []
    for s, name in (("L", "left"), ("R", "right")):
        d = sm["sides"][s]
        mean = "-" if d["mean"] is None else f"{d['mean']:.1f}°"
        parts.append(f"{name} {d['n']} stances, mean CPD {mean}")
    no_side = (f"; {sm['n_no_side']} without a side (left/right uncertain)"
               if sm.get("n_no_side") else "")
    how = "stopped early" if res.stopped_by == "stopped" else "replayed"
    return (f"{how} {res.n_samples} samples ({res.data_duration_s:.1f} s of data) in "
            f"{res.wall_s:.1f} s ({res.speedup:.0f}x); {len(res.strides)} stride rows: "
            + "; ".join(parts) + f" ({sm['cpd_column']}){no_side}" + loss_text(res))


def loss_text(res: ReplayResult) -> str:
    """``; ...`` clause of what the replay lost (empty when nothing): lost samples and gaps,
    packets rejected/malformed/late/duplicated, stored samples without packets."""
    st = res.decoder_stats
    parts = []
    if st.get("lost_samples"):
        parts.append(f"{st['lost_samples']} samples lost in {st.get('gaps', 0)} gaps")
    dropped = [f"{st[k]} {k}" for k in ("rejected", "malformed", "late", "duplicates") if st.get(k)]
    if dropped:
        parts.append("packets " + ", ".join(dropped))
    if res.not_replayed:
        parts.append(f"{sum(c for *_, c in res.not_replayed)} stored samples without packets "
                     "(see the warnings)")
    return "; " + "; ".join(parts) if parts else ""


