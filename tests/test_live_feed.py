"""LiveFeed: the hook the recorder calls with its blocks and status (record wiring)."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import numpy as np
import pytest
from rich.console import Console

from gaitimu.live.dashboard import LiveDashboard, LiveFeed
from gaitimu.live.status import LiveStatus, render
from gaitimu.live.stream import StreamingAnalyzer
from gaitimu.sensors.client import Status
from gaitimu.simulate import SimConfig, simulate


@pytest.fixture(scope="module")
def sim():
    return simulate(SimConfig(activity="run", duration_s=40, cpd_left_deg=7, cpd_right_deg=3,
                              seed=41))


def test_feed_as_recorder_hook(sim):
    async def run():
        analyzer = StreamingAnalyzer(sampling_rate_hz=200.0)
        feed = await LiveFeed(analyzer, dashboard=LiveDashboard(port=0),
                              max_rate_hz=1e6).start()
        st = Status(device="gaitimu-test", state="recording", battery_pct=77, rate_hz=200.0)
        for i in range(0, sim.t_s.size, 19):  # the recorder's block size
            feed.on_samples(sim.t_s[i : i + 19], sim.acc[i : i + 19], sim.gyr[i : i + 19])
            if i % 190 == 0:
                st.samples = i
                feed.on_status(st)
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(
            None, lambda: urllib.request.urlopen(feed.url + "state", timeout=5).read())
        rows = feed.status_rows()
        await feed.close()
        return json.loads(body), rows, analyzer

    state, rows, analyzer = asyncio.run(run())
    assert state["status"]["battery_pct"] == 77
    assert state["status"]["device"] == "gaitimu-test"
    assert len(state["trace"]["t"]) > 100
    assert np.all(np.diff(state["trace"]["t"]) > 0)
    assert len(state["strides"]) == len(analyzer.strides) > 10
    sides = state["summary"]["sides"]
    assert sides["L"]["mean"] > sides["R"]["mean"]  # simulated 7 vs 3 degrees
    assert rows["analysis"] == "streaming"
    assert "°" in rows["CPD L"] and "/" in rows["strides L/R"]
    assert "steps/min" in rows["cadence"]


def test_feed_rows_in_the_terminal_status(sim):
    analyzer = StreamingAnalyzer(sampling_rate_hz=200.0)
    feed = LiveFeed(analyzer)  # no dashboard: terminal only
    for i in range(0, sim.t_s.size, 200):
        feed.on_samples(sim.t_s[i : i + 200], sim.acc[i : i + 200], sim.gyr[i : i + 200])
    console = Console(record=True, width=100, force_terminal=False)
    with LiveStatus(console, enabled=False, analysis_hook=feed.status_rows) as view:
        view(Status(device="x", state="recording"))
    console.print(render(Status(device="x"), feed.status_rows()))
    text = console.export_text()
    assert "CPD L" in text and "strides L/R" in text


def test_feed_never_raises_on_bad_blocks():
    feed = LiveFeed(StreamingAnalyzer(sampling_rate_hz=100.0))
    feed.on_samples(np.arange(3.0), np.zeros((2, 3)), np.zeros((3, 3)))  # logged, not raised
    feed.on_status(object())
    assert feed.status_rows()["analysis"] == "calibrating"
