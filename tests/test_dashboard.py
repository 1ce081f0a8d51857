"""Live dashboard: loopback only, routes, SSE updates. The render in headless Chromium, with
clients connecting before, during and after a replay: tests/test_replay_dashboard.py."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest

from gaitimu.errors import BadInputError
from gaitimu.live.dashboard import LiveDashboard, LiveFeed, live_summary
from gaitimu.live.replay import replay_live
from gaitimu.simulate import SimConfig, simulate, write_session


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    path = tmp_path_factory.mktemp("dash") / "walk"
    write_session(simulate(SimConfig(activity="walk", duration_s=45, cpd_left_deg=3,
                                     cpd_right_deg=8, seed=31)), path)
    return path


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def test_refuses_non_loopback_hosts():
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.org"):
        with pytest.raises(BadInputError, match=r"127\.0\.0\.1"):
            LiveDashboard(host=host)
    assert LiveDashboard(host="localhost").host == "127.0.0.1"


def test_binds_loopback_and_serves_routes():
    async def run():
        d = await LiveDashboard(port=0).start()
        try:
            addrs = [s.getsockname()[0] for s in d.sockets]
            assert addrs and all(a == "127.0.0.1" for a in addrs)
            loop = asyncio.get_running_loop()
            page = await loop.run_in_executor(None, _get, d.url)
            js = await loop.run_in_executor(None, _get, d.url + "plotly.min.js")
            state = await loop.run_in_executor(None, _get, d.url + "state")
            with pytest.raises(urllib.error.HTTPError) as e:
                await loop.run_in_executor(None, _get, d.url + "../etc/passwd")
            assert e.value.code == 404
            # not reachable on another interface of this host
            other = socket.gethostbyname(socket.gethostname())
            if not other.startswith("127."):
                with pytest.raises(OSError):
                    socket.create_connection((other, d.port), timeout=1).close()
            return page, js, state
        finally:
            await d.close()

    page, js, state = asyncio.run(run())
    assert page[0] == 200 and "text/html" in page[1] and b"EventSource" in page[2]
    assert b"cdn" not in page[2].lower() and b"https://" not in page[2]
    assert js[0] == 200 and len(js[2]) > 1_000_000  # plotly.js from the installed package
    state = json.loads(state[2])
    assert state["type"] == "full" and state["state"] == "waiting"  # no feed yet: not empty
    assert {"summary", "status", "strides", "trace", "data_t_s"} <= set(state)


def test_feed_start_serves_on_a_listening_dashboard():
    """`LiveFeed.start` on a dashboard that already listens keeps it (same port) and serves
    the feed's state from then on."""
    from gaitimu.live.stream import StreamingAnalyzer

    async def run():
        d = await LiveDashboard(port=0).start()
        port = d.port
        feed = await LiveFeed(StreamingAnalyzer(sampling_rate_hz=200.0), dashboard=d).start()
        try:
            loop = asyncio.get_running_loop()
            body = (await loop.run_in_executor(None, _get, d.url + "state"))[2]
            return port, d.port, json.loads(body)
        finally:
            await feed.close()

    before, after, state = asyncio.run(run())
    assert before == after
    assert state["state"] == "calibrating" and state["summary"]["sides"]["L"]["n"] == 0


def test_sse_stream_sends_full_then_deltas(walk):
    async def run():
        msgs = []
        ready = asyncio.Event()
        box = {}

        def on_ready(url):
            box["url"] = url
            ready.set()

        async def client():
            await ready.wait()
            port = int(box["url"].rsplit(":", 1)[1].strip("/"))
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            await w.drain()
            await r.readuntil(b"\r\n\r\n")
            while len(msgs) < 6:
                line = await asyncio.wait_for(r.readline(), 20)
                if line.startswith(b"data: "):
                    msgs.append(json.loads(line[6:]))
            w.close()

        task = asyncio.create_task(client())
        res = await replay_live(walk, speed=30.0, live=True, print_rows=False, port=0,
                                on_ready=on_ready, install_signal_handlers=False)
        await asyncio.wait_for(task, 5)
        return msgs, res

    msgs, res = asyncio.run(run())
    assert msgs[0]["type"] == "full"
    assert all(m["type"] == "delta" for m in msgs[1:])
    assert sum(len(m["trace"]["t"]) for m in msgs[1:]) > 0
    assert {"summary", "status", "strides", "state"} <= set(msgs[-1])
    assert len(res.strides) > 20


def test_live_summary_running_numbers(walk):
    from gaitimu.pipeline import analyze_session
    from gaitimu.sessions import open_session

    strides = analyze_session(open_session(walk)).strides
    sm = live_summary(strides)
    assert sm["cpd_column"] == "cpd_standing_deg"
    for s in ("L", "R"):
        d = sm["sides"][s]
        assert d["n"] > 10 and d["ci95_low"] < d["mean"] < d["ci95_high"]
    assert sm["sides"]["R"]["mean"] > sm["sides"]["L"]["mean"]
    assert 80 < sm["cadence_spm"] < 140
    empty = live_summary(strides.iloc[:0])
    assert empty["sides"]["L"]["n"] == 0 and empty["cadence_spm"] is None


def _raw_get(port: int, path: str, headers: str) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode())
        out = b""
        while chunk := c.recv(65536):
            out += chunk
    return out


def test_dashboard_answers_only_its_loopback_origin():
    """DNS rebinding (issue 17, item 10): a foreign Host or Origin gets 403, no data."""
    from gaitimu.live.dashboard import LiveDashboard

    async def run():
        d = await LiveDashboard(port=0).start()
        p = d.port
        loop = asyncio.get_running_loop()
        try:
            get = lambda path, h: loop.run_in_executor(None, _raw_get, p, path, h)  # noqa: E731
            return p, [
                await get("/state", f"Host: 127.0.0.1:{p}\r\n"),
                await get("/state", f"Host: localhost:{p}\r\n"),
                await get("/state", f"Host: evil.example.com:{p}\r\n"),
                await get("/state", "Host: 127.0.0.1:1\r\n"),
                await get("/state", ""),
                await get("/state", f"Host: 127.0.0.1:{p}\r\nOrigin: http://evil.example.com\r\n"),
                await get("/events", f"Host: evil.example.com:{p}\r\n"),
                await get("/", f"Host: 127.0.0.1:{p}\r\nOrigin: http://127.0.0.1:{p}\r\n"),
            ]
        finally:
            await d.close()

    _, res = asyncio.run(run())
    status = [r.split(b"\r\n", 1)[0] for r in res]
    assert status[0].endswith(b"200 OK") and status[1].endswith(b"200 OK")
    assert status[7].endswith(b"200 OK")
    for k in (2, 3, 4, 5, 6):
        assert status[k].endswith(b"403 Forbidden"), (k, status[k])
        assert b'"type"' not in res[k]  # no state leaked
