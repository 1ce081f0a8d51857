"""``gaitimu replay --live``: a browser (or script) that connects at ANY time sees the full state.

Issue 12: replay started the dashboard but never the feed, so a client that connected after
the data began saw an empty page ("gaitimu live undefined"). Here the replay is held at three
moments (before the first packet, in the middle, after the end while the dashboard lingers)
and a new client connects at each: over plain HTTP (``/state``, the first SSE message) and in
headless Chromium (one browser, three tabs; the middle one at 390 px phone width, where no
two pieces of text may overlap). Side colours come from `gaitimu.consts`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.request

import pytest

from browser import ARTIFACTS, Browser, require_browser
from gaitimu.consts import FLAG_COLOR, SIDE_COLORS
from gaitimu.errors import BadInputError
from gaitimu.live import replay as replay_mod
from gaitimu.live.dashboard import page_html
from gaitimu.live.replay import replay_live
from gaitimu.simulate import SimConfig, simulate, write_session

#: Data time (s) of the middle hold: after the 20 s calibration, with strides emitted.
MIDDLE_S = 31.0


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay_dash") / "walk"
    write_session(simulate(SimConfig(activity="walk", duration_s=40, cpd_left_deg=3,
                                     cpd_right_deg=7, seed=12)), path)
    return path


class _HeldReplay:
    """`replay_live --live` (lingering) in a background thread, held before the packet at
    each of `holds` (data seconds) until `resume()`; `stop()` ends the lingering."""

    def __init__(self, session, monkeypatch, *, speed=10.0, holds=(0.0, MIDDLE_S)):
        self.session, self.speed, self.holds = session, speed, list(holds)
        self.reached = [threading.Event() for _ in self.holds]
        self.resumed = [threading.Event() for _ in self.holds]
        self.url: str | None = None
        self.result = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        original = replay_mod.iter_packets

        async def held(t_host_s, data, **kw):
            k = 0
            async for t, d in original(t_host_s, data, **kw):
                while k < len(self.holds) and t >= self.holds[k]:
                    self.reached[k].set()
                    while not self.resumed[k].is_set():
                        await asyncio.sleep(0.01)
                    k += 1
                yield t, d

        monkeypatch.setattr(replay_mod, "iter_packets", held)
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self):
        async def main():
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def on_ready(url):
                self.url = url
                self._ready.set()

            return await replay_live(self.session, speed=self.speed, live=True,
                                     print_rows=False, port=0, on_ready=on_ready, linger=True,
                                     install_signal_handlers=False, stop=self._stop)

        try:
            self.result = asyncio.run(main())
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self._ready.set()

    def wait(self, k: int) -> None:
        assert self.reached[k].wait(60), f"the replay did not reach hold {k}"

    def resume(self, k: int) -> None:
        self.resumed[k].set()

    def state(self) -> dict:
        with urllib.request.urlopen(self.url + "state", timeout=10) as r:
            return json.loads(r.read())

    def wait_finished(self) -> dict:
        for _ in range(600):
            st = self.state()
            if st["status"].get("state") == "finished":
                return st
            threading.Event().wait(0.05)
        raise AssertionError("the replay did not finish")

    def stop(self) -> None:
        for e in self.resumed:
            e.set()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def __enter__(self):
        self.thread.start()
        assert self._ready.wait(60), "dashboard did not start"
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc):
        self.stop()
        self.thread.join(60)
        assert not self.thread.is_alive(), "replay_live did not end after stop"


def _first_sse_message(url: str) -> dict:
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        f = c.makefile("rb")
        while not (line := f.readline()).startswith(b"data: "):
            assert line, "SSE stream ended before a message"
        return json.loads(line[6:])


def _plotted(state: dict) -> int:
    """Markers a page draws for a state's strides (valid, with a side and a CPD)."""
    return sum(1 for r in state["strides"]
               if r["valid"] and r["side"] in ("L", "R") and r["cpd_deg"] is not None)


def test_state_over_http_before_middle_and_after_the_end(walk, monkeypatch):
    with _HeldReplay(walk, monkeypatch) as rp:
        # (a) before the first packet: no data yet, but a full state naming the session
        rp.wait(0)
        st = rp.state()
        assert st["type"] == "full" and st["state"] == "calibrating"
        assert st["status"]["device"] == "replay walk" and st["status"]["state"] == "replaying"
        assert st["strides"] == [] and st["trace"]["t"] == [] and st["summary"] is not None
        assert _first_sse_message(rp.url)["status"]["device"] == "replay walk"
        rp.resume(0)
        # (b) in the middle: everything so far, in /state and in a new client's first message
        rp.wait(1)
        st = rp.state()
        assert st["status"]["state"] == "replaying" and st["state"] == "streaming"
        assert len(st["strides"]) >= 6 and len(st["trace"]["t"]) > 100
        assert 20.0 < st["data_t_s"] < MIDDLE_S
        assert st["summary"]["sides"]["L"]["n"] > 0 and st["summary"]["sides"]["R"]["n"] > 0
        first = _first_sse_message(rp.url)
        assert first["type"] == "full" and first["strides"] == st["strides"]
        rp.resume(1)
        # (c) after the end, while the dashboard lingers: the final state
        st = rp.wait_finished()
        assert st["state"] == "finished" and st["data_t_s"] > 39.0
        first = _first_sse_message(rp.url)
        assert first["strides"] == st["strides"] and first["status"]["state"] == "finished"
    assert rp.error is None, rp.error
    assert len(st["strides"]) == len(rp.result.strides) > 40
    assert st["summary"]["sides"]["R"]["mean"] > st["summary"]["sides"]["L"]["mean"]


def test_linger_values():
    assert replay_mod._linger_seconds(True) == float("inf")
    assert replay_mod._linger_seconds(False) == 0.0
    assert replay_mod._linger_seconds(2) == 2.0
    for bad in (-1, float("nan"), "soon"):
        with pytest.raises(BadInputError, match="linger"):
            replay_mod._linger_seconds(bad)


def test_linger_seconds_ends_by_itself(walk, capsys):
    """``linger=N``: the final state stays reachable N seconds, then replay_live returns."""

    async def run():
        box = {}
        res_task = asyncio.ensure_future(replay_live(
            walk, speed=None, live=True, print_rows=False, port=0, linger=1.5,
            on_ready=lambda u: box.setdefault("url", u), install_signal_handlers=False))
        while not res_task.done():
            await asyncio.sleep(0.05)
            if "url" in box and "final" not in box:
                loop = asyncio.get_running_loop()
                st = await loop.run_in_executor(None, lambda: json.loads(
                    urllib.request.urlopen(box["url"] + "state", timeout=5).read()))
                if st["status"].get("state") == "finished":
                    box["final"] = st
        return await res_task, box

    res, box = asyncio.run(run())
    assert len(box["final"]["strides"]) == len(res.strides) > 40
    err = capsys.readouterr().err
    assert "keeps showing them" in err and "for 1.5 s" in err


def test_page_uses_the_side_and_flag_colours():
    html = page_html()
    assert SIDE_COLORS["L"] in html and SIDE_COLORS["R"] in html and FLAG_COLOR in html
    assert "#d62728" not in html and "#1f77b4" not in html  # plotly's default red/blue


# ------------------------------------------------------------------------------ browser
_N_CPD = ("document.getElementById('cpd').data[0].x.length + "
          "document.getElementById('cpd').data[1].x.length")
_STATE = "document.getElementById('state').textContent"

#: Text boxes on the page: the HTML text blocks and every SVG text of the figures.
_BOXES = r"""(() => {
  const out = [];
  const add = (el, where) => {
    const text = (el.textContent || "").trim(), r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (!text || r.width < 1 || r.height < 1 || cs.display === "none" ||
        cs.visibility === "hidden" || Number(cs.opacity) === 0) return;
    out.push({where: where, text: text.slice(0, 40), x0: r.left, y0: r.top, x1: r.right,
              y1: r.bottom});
  };
  for (const el of document.querySelectorAll("h1, #state, #numbers > span, p.note"))
    add(el, "page");
  for (const fig of document.querySelectorAll(".fig"))
    for (const el of fig.querySelectorAll("svg text")) add(el, fig.id);
  return {boxes: out, scrollWidth: document.documentElement.scrollWidth, width: innerWidth};
})()"""


def _overlaps(page) -> tuple[list, dict]:
    """Pairs of text boxes that overlap by more than 1 px both ways, and the raw boxes."""
    got = page.evaluate(_BOXES)
    b = got["boxes"]
    bad = []
    for i in range(len(b)):
        for j in range(i + 1, len(b)):
            w = min(b[i]["x1"], b[j]["x1"]) - max(b[i]["x0"], b[j]["x0"])
            h = min(b[i]["y1"], b[j]["y1"]) - max(b[i]["y0"], b[j]["y0"])
            if w > 1 and h > 1:
                bad.append((b[i]["where"], b[i]["text"], b[j]["where"], b[j]["text"]))
    return bad, got


def _front(page):
    """Bring a tab to the front: headless Chromium may not render (or screenshot) a
    background tab."""
    page.b.call("Page.bringToFront", {}, page.sid)
    return page


def _check_layout(page, width: int) -> None:
    _front(page)
    bad, got = _overlaps(page)
    assert bad == [], f"overlapping text at {width} px: {bad}"
    assert got["scrollWidth"] <= width, "the page scrolls sideways"
    assert all(b["x1"] <= width + 0.5 for b in got["boxes"]), "text beyond the right edge"
    titles = {b["text"] for b in got["boxes"]}
    assert {"CPD per stance (deg)", "left stance", "right stance", "time (mm:ss)"} <= titles


@pytest.mark.browser
def test_replay_dashboard_in_chromium_at_any_time(walk, monkeypatch):
    exe = require_browser()
    with Browser(exe) as b, _HeldReplay(walk, monkeypatch) as rp:
        # (a) connected before the data flows: the status line names the session
        rp.wait(0)
        early = b.open(rp.url)
        early.wait_for("(window.gaitimuMessages || 0) >= 1")
        assert "replay walk" in early.evaluate(_STATE)
        assert early.evaluate(_N_CPD) == 0
        rp.resume(0)
        # (b) connected in the middle, on a phone: every stride so far at once
        rp.wait(1)
        st = rp.state()
        n_mid = _plotted(st)
        assert n_mid >= 6 and st["status"]["state"] == "replaying"
        phone = b.open(rp.url, width=390, height=844, mobile=True)
        phone.wait_for("(window.gaitimuMessages || 0) >= 1")
        assert phone.evaluate(_N_CPD) == n_mid  # from its first message: the replay is held
        assert "replay walk" in phone.evaluate(_STATE)
        assert phone.evaluate("document.getElementById('obl').data[0].x.length") > 100
        phone.wait_for("document.getElementById('cpdL').textContent !== '-'")
        rp.resume(1)
        # (c) connected after the end, while the dashboard lingers: the final state
        st = rp.wait_finished()
        n_end = _plotted(st)
        assert n_end > n_mid
        late = b.open(rp.url)
        late.wait_for("(window.gaitimuMessages || 0) >= 1")
        assert late.evaluate(_N_CPD) == n_end
        assert "replay walk · finished" in late.evaluate(_STATE)
        # the early and the middle tabs caught up through the updates
        early.wait_for(f"{_N_CPD} === {n_end}", timeout_s=10)
        phone.wait_for(f"{_N_CPD} === {n_end}", timeout_s=10)
        assert early.evaluate("window.gaitimuMessages") > 1
        # one colour per side from gaitimu.consts
        colours = late.evaluate(
            "[0, 1].map(i => document.getElementById('cpd').data[i].marker.color)"
            ".concat(document.getElementById('means').data[0].marker.color)")
        assert colours == [SIDE_COLORS["L"], SIDE_COLORS["R"], SIDE_COLORS["L"],
                           SIDE_COLORS["R"]]
        # legible on a phone and on a desktop: no overlapping text, nothing off the edge
        _check_layout(phone, 390)
        _check_layout(late, 1280)
        assert "00:" in " ".join(late.evaluate(
            "[...document.querySelectorAll('#cpd .xtick text')].map(e => e.textContent)"))
        for p in (early, phone, late):
            assert p.errors == []
            assert all(u.startswith(rp.url) or u.startswith("data:") for u in p.requests)
        ARTIFACTS.mkdir(exist_ok=True)
        _front(late).screenshot(ARTIFACTS / "live_dashboard.png")
        _front(phone).screenshot(ARTIFACTS / "live_dashboard_phone.png")
    assert rp.error is None, rp.error
