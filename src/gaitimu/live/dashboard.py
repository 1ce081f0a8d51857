"""Live browser dashboard: a tiny loopback-only HTTP + Server-Sent Events server.

Why this design: the live view needs one page, one script and a one-way stream of small
JSON updates. The standard library's asyncio streams serve that in ~150 lines on the event
loop the recorder/replay already runs (no thread, no new dependency); Server-Sent Events are
plain HTTP that every browser reconnects by itself. plotly.js is served from the installed
``plotly`` package (``plotly.offline.get_plotlyjs()``), so the page needs no CDN and no
network. Dash or a websocket framework would add heavy dependencies for no gain here.

Security: the server binds 127.0.0.1 (or ::1) only; any other host is refused
(`BadInputError`). It serves three fixed paths and never reads files named by a request.

Routes: ``/`` the page; ``/plotly.min.js``; ``/events`` the SSE stream (first a ``full``
message with the recent trace and all strides, then ``delta`` messages with what is new);
``/state`` the current full state as JSON (for scripts and tests). A client gets the full
state whenever it connects: before the data flows, in the middle, after the end.

The page (`page_html`) takes its side colours (`gaitimu.consts.SIDE_COLORS`) and flag colour
(`FLAG_COLOR`, warnings only) from Python; times show as mm:ss of the session.

Use (`LiveFeed` wires a `StreamingAnalyzer` to the dashboard and the terminal status)::

    feed = LiveFeed(analyzer, dashboard=LiveDashboard())
    await feed.start()            # inside the running event loop; feed.url is the address
    feed.on_samples(t_s, acc, gyr)  # every decoded block (record: after write_samples)
    feed.on_status(status)          # the recorder's Status, ~4 Hz (record: in _publish)
    await feed.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from gaitimu.consts import FLAG_COLOR, SIDE_COLORS, finite_or_none
from gaitimu.errors import BadInputError
from gaitimu.live.stream import StreamingAnalyzer

log = logging.getLogger(__name__)

__all__ = ["LiveDashboard", "LiveFeed", "live_summary"]

DEFAULT_PORT = 8765
TRACE_S = 20.0
MAX_TRACE_POINTS = 600


# --------------------------------------------------------------------------- summary
def live_summary(strides: pd.DataFrame) -> dict[str, Any]:
    """Running numbers of the strides so far (per side CPD mean and 95 % CI, cadence...).

    The CPD reference follows the report (`gaitimu.report.summary`): ``cpd_standing_deg``
    when both sides have finite values, else ``cpd_ic_deg``; the CI is the report's
    autocorrelation-aware interval (`gaitimu.report.stats.mean_ci`). Stances without a side
    (left/right withheld by the detector) are in no side's numbers; ``n_no_side`` counts
    them.
    """
    from gaitimu.report.stats import mean_ci

    good = strides[strides["valid"]] if len(strides) else strides
    per = {s: good[good["side"] == s] for s in ("L", "R")}
    use_standing = all(per[s]["cpd_standing_deg"].notna().sum() >= 2 for s in per)
    col = "cpd_standing_deg" if use_standing else "cpd_ic_deg"
    sides = {}
    for s, d in per.items():
        m = mean_ci(d[col].to_numpy(float))
        sides[s] = {"n": m.n, "mean": finite_or_none(m.mean), "ci95_low": finite_or_none(m.ci95_low),
                    "ci95_high": finite_or_none(m.ci95_high)}
    recent = good.tail(20)
    steps = recent["step_s"].dropna()
    cadence = 60.0 / float(steps.median()) if len(steps) else math.nan
    n_no_side = int((~strides["side"].isin(["L", "R"])).sum()) if len(strides) else 0
    return {
        "cpd_column": col,
        "sides": sides,
        "n_no_side": n_no_side,
        "n_strides": len(strides),
        "n_excluded": int((~strides["valid"]).sum()) if len(strides) else 0,
        "cadence_spm": finite_or_none(cadence),
        "activity": str(good["activity"].iloc[-1]) if len(good) else None,
    }


def _rows_json(rows: pd.DataFrame, col: str) -> list[dict[str, Any]]:
    return [
        {"side": s, "ic_s": finite_or_none(ic), "cpd_deg": finite_or_none(c), "valid": bool(v)}
        for s, ic, c, v in zip(rows["side"], rows["ic_s"], rows[col], rows["valid"], strict=True)
    ]


def _status_json(status: Any) -> dict[str, Any]:
    if status is None:
        return {}
    return {
        "device": getattr(status, "device", ""),
        "state": getattr(status, "state", ""),
        "elapsed_s": finite_or_none(getattr(status, "elapsed_s", None)),
        "samples": int(getattr(status, "samples", 0) or 0),
        "rate_hz": finite_or_none(getattr(status, "rate_hz", None)),
        "lost_samples": int(getattr(status, "lost_samples", 0) or 0),
        "loss_pct": finite_or_none(100.0 * (getattr(status, "loss_fraction", 0.0) or 0.0)),
        "gaps": int(getattr(status, "gaps", 0) or 0),
        "battery_pct": getattr(status, "battery_pct", None),
        "reconnects": int(getattr(status, "reconnects", 0) or 0),
    }


def _waiting_state() -> dict[str, Any]:
    """The full state of a dashboard no feed serves yet (same keys as `LiveFeed.full_state`)."""
    return {"type": "full", "state": "waiting", "data_t_s": None, "summary": None,
            "status": {}, "cpd_column": None, "trace": {"t": [], "obl": []}, "strides": []}


# --------------------------------------------------------------------------- server
def _check_loopback(host: str) -> str:
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if not ok:
        raise BadInputError(f"live dashboard: refusing to listen on {host!r}; it serves "
                            "health-related data and binds to 127.0.0.1 only")
    return "127.0.0.1" if host == "localhost" else host


class LiveDashboard:
    """The HTTP + SSE server (see the module docstring).

    Parameters
    ----------
    host
        Loopback address only (default 127.0.0.1).
    port
        TCP port; 0 = any free port. When the port is taken, a free one is used.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.host = _check_loopback(host)
        self.port = int(port)
        self._server: asyncio.base_events.Server | None = None
        self._clients: set[asyncio.Queue] = set()
        self._full: dict[str, Any] = _waiting_state()
        #: builds the full state on demand (new clients, /state); set by `LiveFeed.start`
        self.state_provider: Callable[[], dict[str, Any]] | None = None
        self._js: bytes | None = None
        self.n_messages = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def sockets(self) -> list:
        return list(self._server.sockets) if self._server else []

    async def start(self) -> LiveDashboard:
        """Start listening (inside the running event loop)."""
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError:
            self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("live dashboard at %s", self.url)
        return self

    async def close(self) -> None:
        for q in list(self._clients):
            q.put_nowait(None)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def full_state(self) -> dict[str, Any]:
        """The state a new client starts from."""
        if self.state_provider is not None:
            try:
                self._full = self.state_provider()
            except Exception as e:
                log.debug("dashboard state failed: %s", e)
        return self._full

    def publish(self, delta: dict[str, Any]) -> None:
        """Send `delta` (what is new) to the connected clients."""
        data = json.dumps(delta, separators=(",", ":")).encode()
        self.n_messages += 1
        for q in list(self._clients):
            if q.qsize() > 50:  # a stalled client: drop it rather than grow memory
                self._clients.discard(q)
                q.put_nowait(None)
                continue
            q.put_nowait(data)

    # -- HTTP
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            head = request.decode("latin-1").split("\r\n")
            line = head[0].split()
            method, path = (line[0], line[1]) if len(line) >= 2 else ("", "")
            path = path.split("?", 1)[0]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (h.partition(":") for h in head[1:] if ":" in h)
            }
            if not self._same_origin(headers):
                # DNS rebinding: a web page whose name resolves to 127.0.0.1 would send its
                # own Host (and Origin); only the loopback names of this server are answered
                await self._send(writer, 403, "text/plain", b"forbidden: loopback only")
            elif method != "GET":
                await self._send(writer, 405, "text/plain", b"method not allowed")
            elif path == "/":
                await self._send(writer, 200, "text/html; charset=utf-8", page_html().encode())
            elif path == "/plotly.min.js":
                await self._send(writer, 200, "application/javascript", self._plotly_js(),
                                 cache=True)
            elif path == "/state":
                await self._send(writer, 200, "application/json",
                                 json.dumps(self.full_state(), separators=(",", ":")).encode())
            elif path == "/events":
                await self._sse(writer)
            else:
                await self._send(writer, 404, "text/plain", b"not found")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except Exception as e:  # the dashboard never stops a recording
            log.debug("dashboard request failed: %s", e)
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _same_origin(self, headers: Mapping[str, str]) -> bool:
        """Host (required) and Origin (when sent) name this server on a loopback name."""
        names = {"127.0.0.1", "localhost", "[::1]", self.host}
        allowed = {f"{n}:{self.port}" for n in names}
        host = headers.get("host", "").lower()
        if host not in allowed:
            return False
        origin = headers.get("origin")
        return origin is None or origin.lower() in {f"http://{a}" for a in allowed}

    def _plotly_js(self) -> bytes:
        if self._js is None:
            import plotly.offline

            self._js = plotly.offline.get_plotlyjs().encode()
        return self._js

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, code: int, ctype: str, body: bytes,
                    cache: bool = False) -> None:
        reason = {200: "OK", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}[code]
        head = (f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n"
                f"Cache-Control: {'max-age=3600' if cache else 'no-store'}\r\n"
                "X-Content-Type-Options: nosniff\r\n\r\n")
        writer.write(head.encode() + body)
        await writer.drain()

    async def _sse(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Cache-Control: no-store\r\nConnection: keep-alive\r\n\r\nretry: 1000\n\n")
        q: asyncio.Queue = asyncio.Queue()
        self._clients.add(q)
        try:
            writer.write(b"data: " + json.dumps(self.full_state(), separators=(",", ":")).encode()
                         + b"\n\n")
            await writer.drain()
            while True:
                try:
                    data = await asyncio.wait_for(q.get(), 15.0)
                except TimeoutError:
                    writer.write(b": keep-alive\n\n")  # comment line keeps proxies/browsers happy
                    await writer.drain()
                    continue
                if data is None:
                    return
                writer.write(b"data: " + data + b"\n\n")
                await writer.drain()
        finally:
            self._clients.discard(q)


# --------------------------------------------------------------------------- feed
class LiveFeed:
    """Glue between a `StreamingAnalyzer`, the dashboard and the terminal status.

    Call `on_samples` with every decoded block and `on_status` with the recorder's (or
    replay's) status snapshots; the dashboard is updated at most `max_rate_hz` times a second
    (wall clock). `status_rows` is an ``analysis_hook`` for `gaitimu.live.status.LiveStatus`.
    """

    def __init__(self, analyzer: StreamingAnalyzer, *, dashboard: LiveDashboard | None = None,
                 max_rate_hz: float = 4.0) -> None:
        self.analyzer = analyzer
        self.dashboard = dashboard
        self.min_interval_s = 1.0 / max_rate_hz
        self.status: Any = None
        self._last_pub = -math.inf
        self._sent_rows = 0
        self._sent_t = -math.inf
        self._summary: dict[str, Any] | None = None
        self._summary_rows = -1

    @property
    def url(self) -> str | None:
        """The dashboard's address once it listens (None before: the port is only known
        after binding, since a taken default port falls back to a free one)."""
        if self.dashboard is None or not self.dashboard.sockets:
            return None
        return self.dashboard.url

    async def start(self) -> LiveFeed:
        """Serve this feed on the dashboard (if any; started here unless it listens already).

        From now on every client starts from `full_state` whenever it connects (before the
        data flows, in the middle, after the end): all strides so far, the numbers and the
        status line; `record --live` and `replay --live` both start their feed so.
        """
        if self.dashboard is not None:
            self.dashboard.state_provider = self.full_state
            if not self.dashboard.sockets:
                await self.dashboard.start()
        return self

    async def close(self) -> None:
        self.publish(force=True)
        if self.dashboard is not None:
            await self.dashboard.close()

    def on_samples(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        """Feed a decoded block to the analyzer (never raises: a view never stops a recording)."""
        try:
            if not self.analyzer.finished:
                self.analyzer.push(t_s, acc, gyr)
        except Exception as e:
            log.warning("live analysis stopped: %s", e)
        self.publish()

    def on_status(self, status: Any) -> None:
        self.status = status
        self.publish()

    def summary(self) -> dict[str, Any]:
        strides = self.analyzer.strides
        if self._summary is None or self._summary_rows != len(strides):
            self._summary = live_summary(strides)
            self._summary_rows = len(strides)
        return self._summary

    def status_rows(self) -> Mapping[str, str]:
        """Rows for the rich terminal status (strides, CPD per side, cadence, activity)."""
        sm = self.summary()
        sides = sm["sides"]

        def cpd(s: str) -> str:
            d = sides[s]
            if d["mean"] is None:
                return "-"
            ci = (f" [{d['ci95_low']:.1f}, {d['ci95_high']:.1f}]"
                  if d["ci95_low"] is not None else "")
            return f"{d['mean']:.1f}°{ci}"

        state = self.analyzer.snapshot(trace_s=0.0).state
        cad = sm["cadence_spm"]
        return {
            "analysis": state,
            "strides L/R": f"{sides['L']['n']} / {sides['R']['n']}"
                           + (f", no side: {sm['n_no_side']}" if sm.get("n_no_side") else "")
                           + (f" ({sm['n_excluded']} excluded)" if sm["n_excluded"] else ""),
            "CPD L": cpd("L"),
            "CPD R": cpd("R"),
            "cadence": "-" if cad is None else f"{cad:.0f} steps/min ({sm['activity']})",
        }

    def publish(self, *, force: bool = False) -> None:
        """Send what is new to the dashboard (rate-limited unless `force`)."""
        if self.dashboard is None:
            return
        now = time.monotonic()
        if not force and now - self._last_pub < self.min_interval_s:
            return
        self._last_pub = now
        try:
            self._publish()
        except Exception as e:  # never let the view stop the analysis
            log.debug("dashboard publish failed: %s", e)

    def _info(self, snap) -> dict[str, Any]:
        sm = self.summary()
        return {"state": snap.state, "data_t_s": finite_or_none(snap.data_t_s), "summary": sm,
                "status": _status_json(self.status), "cpd_column": sm["cpd_column"]}

    def full_state(self) -> dict[str, Any]:
        """Everything a newly connected page needs (recent trace, all strides, numbers)."""
        snap = self.analyzer.snapshot(trace_s=TRACE_S, max_points=MAX_TRACE_POINTS)
        info = self._info(snap)
        return {"type": "full", **info,
                "trace": {"t": np.round(snap.t_s, 3).tolist(),
                          "obl": np.round(snap.obliquity_deg, 3).tolist()},
                "strides": _rows_json(snap.strides, info["cpd_column"])}

    def _publish(self) -> None:
        snap = self.analyzer.snapshot(trace_s=TRACE_S, max_points=MAX_TRACE_POINTS)
        info = self._info(snap)
        strides = snap.strides
        new_rows = strides.iloc[self._sent_rows :]
        self._sent_rows = len(strides)
        new_pts = snap.t_s > self._sent_t
        if new_pts.any():
            self._sent_t = float(snap.t_s[-1])
        self.dashboard.publish({
            "type": "delta", **info,
            "trace": {"t": np.round(snap.t_s[new_pts], 3).tolist(),
                      "obl": np.round(snap.obliquity_deg[new_pts], 3).tolist()},
            "strides": _rows_json(new_rows, info["cpd_column"]),
        })


# --------------------------------------------------------------------------- page
#: Loss (percent of samples) from which the page shows it in the flag colour, as the terminal
#: status does (`gaitimu.live.status.render`: red above 1 %).
LOSS_WARN_PCT = 1.0


@functools.cache
def page_html() -> str:
    """The dashboard page, with the side colours and the flag colour of `gaitimu.consts`
    (one colour per side everywhere; the flag colour only for warnings)."""
    cfg = {"colors": dict(SIDE_COLORS), "trace_s": TRACE_S, "loss_warn_pct": LOSS_WARN_PCT}
    return (_PAGE.replace("__COL_L__", SIDE_COLORS["L"]).replace("__COL_R__", SIDE_COLORS["R"])
            .replace("__FLAG__", FLAG_COLOR).replace("__CFG__", json.dumps(cfg)))


_PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gaitimu live</title>
<link rel="icon" href="data:,">
<style>
:root{--left:__COL_L__;--right:__COL_R__;--flag:__FLAG__}
body{font-family:system-ui,sans-serif;margin:0;padding:.5rem 1rem;color:#222;background:#fafafa}
h1{font-size:1.2rem;margin:.3rem 0 .1rem}
#state{font-size:.9rem;color:#555;margin:0 0 .4rem;overflow-wrap:anywhere}
#numbers{display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;font-size:.95rem;margin:.3rem 0 .6rem}
#numbers b{font-weight:600}
.sw{display:inline-block;width:.75em;height:.75em;border-radius:2px;margin-right:.3em}
.L .sw{background:var(--left)}
.R .sw{background:var(--right)}
#state.warn,#numbers .warn{color:var(--flag);font-weight:600}
.fig{background:#fff;border:1px solid #ddd;border-radius:6px;margin-bottom:.6rem;min-width:0}
#row{display:grid;grid-template-columns:2fr 1fr;gap:.6rem}
@media (max-width:800px){#row{grid-template-columns:1fr}}
@media (max-width:480px){body{padding:.4rem .5rem}#numbers{gap:.25rem .9rem;font-size:.9rem}}
p.note{font-size:.8rem;color:#666;margin:.4rem 0}
</style>
<script src="/plotly.min.js"></script>
</head><body>
<h1>gaitimu live</h1>
<div id="state">connecting…</div>
<div id="numbers">
 <span class="L"><i class="sw"></i>CPD left: <b id="cpdL">-</b></span>
 <span class="R"><i class="sw"></i>CPD right: <b id="cpdR">-</b></span>
 <span>strides L/R: <b id="nLR">-</b></span><span>cadence: <b id="cad">-</b></span>
 <span>activity: <b id="act">-</b></span><span>rate: <b id="rate">-</b></span>
 <span>loss: <b id="loss">-</b></span><span>battery: <b id="bat">-</b></span>
</div>
<div class="fig" id="obl"></div>
<div id="row"><div class="fig" id="cpd"></div><div class="fig" id="means"></div></div>
<p class="note">Pelvic obliquity &gt; 0: left hemipelvis higher. CPD (contralateral pelvic
drop) of a stance: how far the opposite (swing-side) hemipelvis drops during it, in degrees.
Means with 95 % confidence intervals. Times in minutes:seconds of the session. gaitimu
measures and informs; it does not diagnose.</p>
<script>
"use strict";
const CFG = __CFG__;
const colL = CFG.colors.L, colR = CFG.colors.R, TRACE_S = CFG.trace_s;
const cfg = {displayModeBar:false, responsive:true};
const base = {margin:{l:48,r:12,t:36,b:40}, paper_bgcolor:"#fff", plot_bgcolor:"#fff",
              font:{size:12}};
const title = (text) => ({text:text, font:{size:14}, x:0.01, xanchor:"left"});
// time axes: session seconds as dates on 1970-01-01 (UTC, as plotly reads them), so the
// axes label them mm:ss (h:mm:ss from one hour on)
const xTime = () => ({type:"date", tickformat:"%M:%S", hoverformat:"%M:%S",
                      title:{text:"time (mm:ss)"}, automargin:true});
const ts = (s) => new Date(s * 1000).toISOString().slice(0, 23).replace("T", " ");
Plotly.newPlot("obl", [{x:[], y:[], mode:"lines", name:"obliquity",
  line:{width:1.5, color:"#444"}, hovertemplate:"%{x} · %{y:.1f}°<extra></extra>"}],
  {...base, height:250, title:title("Pelvic obliquity (deg), last " + TRACE_S + " s"),
   xaxis:xTime(), yaxis:{title:{text:"deg"}, automargin:true}}, cfg);
Plotly.newPlot("cpd", [
  {x:[], y:[], mode:"markers", name:"left stance", marker:{color:colL, size:7},
   hovertemplate:"left · %{x} · %{y:.1f}°<extra></extra>"},
  {x:[], y:[], mode:"markers", name:"right stance", marker:{color:colR, size:7,
   symbol:"diamond"}, hovertemplate:"right · %{x} · %{y:.1f}°<extra></extra>"}],
  {...base, height:320, margin:{...base.margin, b:64}, title:title("CPD per stance (deg)"),
   xaxis:xTime(), yaxis:{title:{text:"deg"}, automargin:true},
   legend:{orientation:"h", x:0, xanchor:"left", y:0, yanchor:"bottom", yref:"container"}},
  cfg);
Plotly.newPlot("means", [{x:["left","right"], y:[null,null], type:"bar",
  marker:{color:[colL,colR]}, error_y:{type:"data", symmetric:false, array:[0,0],
  arrayminus:[0,0], color:"#333"}, hovertemplate:"%{x}: %{y:.1f}°<extra></extra>"}],
  {...base, height:320, title:title("Mean CPD, 95 % CI (deg)"),
   yaxis:{title:{text:"deg"}, automargin:true}}, cfg);
function fmt(v, nd, unit){ return (v === null || v === undefined) ? "-" : v.toFixed(nd) + (unit||""); }
function clock(s){  // session seconds as mm:ss (h:mm:ss from one hour on)
  if (s === null || s === undefined || !isFinite(s)) return "-";
  s = Math.max(0, Math.floor(s));
  const p = (n) => String(n).padStart(2, "0"), h = Math.floor(s / 3600);
  return (h ? h + ":" + p(Math.floor(s % 3600 / 60)) : p(Math.floor(s / 60))) + ":" + p(s % 60);
}
let hours = false;
function timeFormat(t){  // from one hour of data on, the time axes show h:mm:ss
  if (hours || !(t >= 3600)) return;
  hours = true;
  const f = {"xaxis.tickformat":"%H:%M:%S", "xaxis.hoverformat":"%H:%M:%S",
             "xaxis.title.text":"time (h:mm:ss)"};
  Plotly.relayout("obl", f); Plotly.relayout("cpd", f);
}
let lastIc = -Infinity;  // a new client's full state and the next delta may overlap
function addStrides(rows){
  const L = {x:[], y:[]}, R = {x:[], y:[]};
  for (const r of rows || []){ if (r.ic_s <= lastIc) continue; lastIc = r.ic_s;
    if (!r.valid || r.cpd_deg === null || (r.side !== "L" && r.side !== "R")) continue;
    const d = r.side === "L" ? L : R; d.x.push(ts(r.ic_s)); d.y.push(r.cpd_deg); }
  if (L.x.length || R.x.length) Plotly.extendTraces("cpd", {x:[L.x, R.x], y:[L.y, R.y]}, [0, 1]);
}
function setText(id, text, warn){
  const el = document.getElementById(id);
  el.textContent = text;
  el.classList.toggle("warn", !!warn);
}
function statusLine(m){
  const st = m.status || {}, parts = [];
  if (st.device) parts.push(st.device);
  if (st.state) parts.push(st.state);
  if (m.state) parts.push("analysis " + m.state);
  if (m.data_t_s !== null && m.data_t_s !== undefined) parts.push("data " + clock(m.data_t_s));
  return parts.length ? parts.join(" · ") : "waiting for data";
}
function numbers(m){
  const st = m.status || {};
  setText("state", statusLine(m), st.state === "reconnecting");
  const s = m.summary;
  if (s){
    for (const side of ["L","R"]){ const d = s.sides[side];
      setText("cpd" + side, d.mean === null ? "-" : fmt(d.mean, 1, "°") +
        (d.ci95_low === null ? "" : " [" + fmt(d.ci95_low, 1) + ", " + fmt(d.ci95_high, 1) + "]")); }
    setText("nLR", s.sides.L.n + " / " + s.sides.R.n + (s.n_no_side ? " (no side: " + s.n_no_side + ")" : ""));
    setText("cad", fmt(s.cadence_spm, 0, " steps/min"));
    setText("act", s.activity || "-");
    const mean = [s.sides.L.mean, s.sides.R.mean];
    const hi = ["L","R"].map((k,i) => s.sides[k].ci95_high === null ? 0 : s.sides[k].ci95_high - mean[i]);
    const lo = ["L","R"].map((k,i) => s.sides[k].ci95_low === null ? 0 : mean[i] - s.sides[k].ci95_low);
    Plotly.restyle("means", {y:[mean], "error_y.array":[hi], "error_y.arrayminus":[lo]}, [0]);
  }
  setText("rate", fmt(st.rate_hz, 0, " Hz"));
  setText("loss", (st.loss_pct === null || st.loss_pct === undefined) ? "-" :
    st.lost_samples + " samples (" + fmt(st.loss_pct, 2, " %") + ")", st.loss_pct > CFG.loss_warn_pct);
  setText("bat", (st.battery_pct === null || st.battery_pct === undefined) ? "-" : st.battery_pct + " %");
}
let trace = {t:[], obl:[]};  // the last TRACE_S seconds of obliquity, session seconds
function onMessage(m){
  const tr = m.trace || {t:[], obl:[]};
  if (m.type === "full"){
    trace = {t:tr.t.slice(), obl:tr.obl.slice()};
    Plotly.restyle("cpd", {x:[[],[]], y:[[],[]]}, [0, 1]);
    lastIc = -Infinity;
  } else {
    const last = trace.t.length ? trace.t[trace.t.length - 1] : -Infinity;
    tr.t.forEach((t, i) => { if (t > last){ trace.t.push(t); trace.obl.push(tr.obl[i]); } });
  }
  if (trace.t.length){
    const lastT = trace.t[trace.t.length - 1];
    const first = trace.t.findIndex((t) => t >= lastT - TRACE_S);
    if (first > 0){ trace.t = trace.t.slice(first); trace.obl = trace.obl.slice(first); }
    timeFormat(lastT);
    Plotly.restyle("obl", {x:[trace.t.map(ts)], y:[trace.obl]}, [0]);
    Plotly.relayout("obl", {"xaxis.range":[ts(lastT - TRACE_S), ts(lastT)]});
  } else if (m.type === "full") Plotly.restyle("obl", {x:[[]], y:[[]]}, [0]);
  addStrides(m.strides);
  numbers(m);
  window.gaitimuMessages = (window.gaitimuMessages || 0) + 1;
}
const es = new EventSource("/events");
es.onmessage = (e) => { try { onMessage(JSON.parse(e.data)); } catch (err) { console.error(err); } };
es.onerror = () => { setText("state", "disconnected (retrying)", true); };
</script></body></html>
"""
