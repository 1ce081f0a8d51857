"""Replay a stored session through the live path: packets -> decoder -> streaming analysis.

``gaitimu replay`` (DESIGN.md section 4). The session's raw packets are yielded by an async
iterator of ``(t_host_s, bytes)`` items (STYLE.md: live and replay share every line after
the radio) at the original pace (``speed=1``), N times faster, or as fast as possible
(``speed=None``); they go through the same `gaitimu.sensors.protocol.StreamDecoder` and
`raw_to_physical` as a recording and then into `gaitimu.live.stream.StreamingAnalyzer`.

Session time of the decoded samples: the recorder stored exactly the decoded samples, in
order, so the k-th decoded sample gets the stored ``t_s[k]`` (the recorder's own clock
mapping of the same packets). When the counts disagree (e.g. a recovered, truncated
session) the decoded sensor clock is used, offset to the first stored sample.

Imported CSV sessions keep no packets: `synthesize_packets` builds protocol-v1 packets from
the stored samples (quantised to the int16 LSB of a 16 g / 2000 deg/s sensor, so the
replayed values differ from the stored floats by at most half an LSB).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitimu.errors import BadInputError
from gaitimu.live.status import Status
from gaitimu.live.stream import StreamConfig, StreamingAnalyzer
from gaitimu.sensors import protocol as P

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


class _Decode:
    """The recorder's decode step: bytes -> (session times, acc, gyr) blocks."""

    def __init__(self, session: Any) -> None:
        self.rate = float(session.sample_rate_hz)
        self.decoder = P.StreamDecoder(self.rate)
        self.scales = _scales(session.meta)
        self.stored_t = np.asarray(session.t_s, dtype=float)
        self.k = 0
        self.offset: float | None = None
        self.use_stored = True

    def __call__(self, t_host: float, data: bytes):
        block = self.decoder.feed(data, t_host)
        if block is None or block.n == 0:
            return None
        acc, gyr = P.raw_to_physical(block.raw, self.scales)
        n = block.n
        if self.use_stored and self.k + n <= self.stored_t.size:
            t = self.stored_t[self.k : self.k + n]
        else:
            if self.use_stored:
                log.info("decoded samples exceed the stored ones: using the sensor clock")
                self.use_stored = False
            if self.offset is None:
                self.offset = float(self.stored_t[0]) if self.stored_t.size else 0.0
            t = self.offset + block.sensor_t_s
        self.k += n
        return t, acc, gyr


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
        Called once with the `StreamingAnalyzer` before streaming (views read snapshots).
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
    )
    if analyzer_hook is not None:
        analyzer_hook(analyzer)
    decode = _Decode(session)
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
        status.samples = decode.k
        status.rate_hz = sum(n for _, n in recent) / min(2.0, max(now, 1e-3))
        s = decode.decoder.stats
        status.lost_samples, status.loss_fraction, status.gaps = (
            s.lost_samples, s.loss_fraction, s.gaps)
        if on_status is not None:
            try:
                on_status(status)
            except Exception as e:  # views never stop the replay
                log.debug("status callback failed: %s", e)

    stopped_by = "end"
    n_packets = 0
    publish("replaying")
    async for t, d in iter_packets(t_host, data, speed=speed, stop=stop):
        c0 = time.perf_counter()
        n_packets += 1
        out = decode(t, d)
        if out is not None:
            analyzer.push(*out)
            if on_samples is not None:
                on_samples(*out)
        busy += time.perf_counter() - c0
        now = time.monotonic() - wall0
        if out is not None:
            recent.append((now, out[0].size))
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
        strides=strides, n_packets=n_packets, n_samples=decode.k,
        data_duration_s=float(session.duration_s), wall_s=wall, busy_s=busy,
        stopped_by=stopped_by, decoder_stats=decode.decoder.stats.as_dict(), analyzer=analyzer,
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
    linger: bool = False,
    install_signal_handlers: bool = True,
) -> ReplayResult:
    """``gaitimu replay``: replay with the terminal status, row printing and dashboard.

    Parameters
    ----------
    session_path, speed, strides_csv
        See `replay_session`.
    live
        Serve the browser dashboard (`gaitimu.live.dashboard`) on 127.0.0.1.
    print_rows
        Print each stride row as it becomes final (stdout).
    console
        rich console for the status (default: stderr, only when it is a terminal).
    port
        Dashboard port (default `dashboard.DEFAULT_PORT`, or any free one when taken).
    on_ready
        Called with the dashboard URL (or None) once it listens, before the replay starts.
    linger
        With `live`: keep serving after the end until Ctrl-C.
    install_signal_handlers
        Ctrl-C / SIGTERM stop the replay cleanly (rows so far are written).
    """
    import signal

    from rich.console import Console

    from gaitimu.live.dashboard import DEFAULT_PORT, LiveDashboard, LiveFeed
    from gaitimu.live.status import LiveStatus

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    if install_signal_handlers:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
    out = Console(highlight=False)
    feed_box: dict[str, LiveFeed] = {}
    dash = LiveDashboard(port=DEFAULT_PORT if port is None else port) if live else None

    def hook(analyzer: StreamingAnalyzer) -> None:
        feed_box["feed"] = LiveFeed(analyzer, dashboard=dash)

    def rows(new: pd.DataFrame) -> None:
        if print_rows:
            for r in new.itertuples(index=False):
                out.print(format_row(r))

    view = LiveStatus(console, analysis_hook=lambda: feed_box["feed"].status_rows()
                      if "feed" in feed_box else {})
    try:
        if dash is not None:
            await dash.start()
        if on_ready is not None:
            on_ready(dash.url if dash else None)

        def status(st: ReplayStatus) -> None:
            if "feed" in feed_box:
                feed_box["feed"].on_status(st)
            view(st)

        def samples(*_: Any) -> None:
            if "feed" in feed_box:
                feed_box["feed"].publish()

        with view:
            res = await replay_session(
                session_path, speed=speed, strides_csv=strides_csv, on_rows=rows,
                on_status=status, on_samples=samples if live else None,
                analyzer_hook=hook, stop=stop,
            )
        if "feed" in feed_box:
            feed_box["feed"].publish(force=True)
        if dash is not None and linger and not stop.is_set():
            log.info("replay finished; the dashboard stays open until Ctrl-C")
            await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if dash is not None:
            await dash.close()
    return res


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
            + "; ".join(parts) + f" ({sm['cpd_column']}){no_side}")
