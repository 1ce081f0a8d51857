"""`gaitimu record` runs the streaming analysis live: strides and CPD appear while recording."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from gaitimu.live import recording
from gaitimu.sensors.client import RecordOptions
from gaitimu.sessions import open_session


@pytest.mark.slow
def test_record_with_live_analysis_and_dashboard(tmp_path, monkeypatch):
    pytest.importorskip("bumble")
    seen = {}
    original = recording._record

    async def fetch_dashboard(feed):
        while not feed.url:
            await asyncio.sleep(0.05)
        seen["url"] = feed.url
        seen["page"] = await asyncio.get_running_loop().run_in_executor(
            None, lambda: urllib.request.urlopen(feed.url, timeout=10).read())

    async def record_and_fetch(opts, feed, view):
        task = asyncio.ensure_future(fetch_dashboard(feed))
        try:
            return await original(opts, feed, view)
        finally:
            await task

    monkeypatch.setattr(recording, "_record", record_and_fetch)
    out = tmp_path / "live.gaitimu"
    opts = RecordOptions(out=out, device="virtual", duration_s=30.0, activity="walk")
    result, feed = recording.record_with_live_analysis(opts, live=True)
    assert result.n_samples == 6000
    assert open_session(out).lost_samples == 0
    strides = feed.analyzer.strides
    assert len(strides) >= 6 and set(strides["side"]) == {"L", "R"}  # found live
    rows = feed.status_rows()
    assert any("CPD" in k or "CPD" in str(v) for k, v in rows.items())
    assert seen["url"].startswith("http://127.0.0.1:")
    assert b"plotly" in seen["page"].lower()
