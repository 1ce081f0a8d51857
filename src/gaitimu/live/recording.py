"""`gaitimu record` with the live analysis: the streaming pipeline runs on every decoded block,
its strides and running CPD per side show in the terminal status, and with ``live=True`` the
browser dashboard is served on 127.0.0.1 as for ``replay --live``."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from gaitimu.live.dashboard import LiveDashboard, LiveFeed
from gaitimu.live.status import LiveStatus
from gaitimu.live.stream import StreamingAnalyzer

if TYPE_CHECKING:  # (bleak is imported when a recording starts)
    from gaitimu.sensors.client import RecordOptions, RecordResult

log = logging.getLogger(__name__)

__all__ = ["record_with_live_analysis"]


async def _record(opts: RecordOptions, feed: LiveFeed, view: LiveStatus) -> RecordResult:
    from gaitimu.sensors.client import record_session

    await feed.start()
    if feed.url:
        print(f"live dashboard: {feed.url} (open it in a browser; Ctrl-C stops the recording)",
              file=sys.stderr, flush=True)

    def on_status(status: Any) -> None:
        view(status)
        feed.on_status(status)

    from gaitimu.sensors.client import virtual_kind

    virtual = {}
    if virtual_kind(opts.device) is not None:  # virtual[:<kind>]: a simulated person
        from gaitimu.simulate.source import simulated_factory

        sim_s = min(600.0, max(60.0, (opts.duration_s or 0.0) + 5.0))
        virtual = {"virtual_source": simulated_factory(opts.activity or "walk",
                                                       duration_s=sim_s)}
    try:
        return await record_session(opts, on_status=on_status, on_samples=feed.on_samples,
                                    install_signal_handlers=True, **virtual)
    finally:
        await feed.close()


def record_with_live_analysis(opts: RecordOptions, *,
                              live: bool = False) -> tuple[RecordResult, LiveFeed]:
    """Record a session (`gaitimu.sensors.client.RecordOptions`) with the live analysis and
    terminal status; ``live`` also serves the dashboard. Returns the `RecordResult` and the
    feed (its ``analyzer.strides`` holds the stride rows found live)."""
    import asyncio

    analyzer = StreamingAnalyzer(sampling_rate_hz=float(opts.rate_hz), axes=opts.axes,
                                 activity=opts.activity, leg_length_m=opts.leg_length_m,
                                 height_m=opts.height_m)
    feed = LiveFeed(analyzer, dashboard=LiveDashboard() if live else None)
    with LiveStatus(analysis_hook=feed.status_rows) as view:
        return asyncio.run(_record(opts, feed, view)), feed
