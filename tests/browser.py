"""Drive a real headless Chromium (Debian's /usr/bin/chromium) from tests, without extra
dependencies: the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (JSON messages
separated by NUL bytes on file descriptors 3 (to the browser) and 4 (from the browser)).

Shared helper: the report tests use it, and so can the live-dashboard tests.

    from browser import Browser, require_browser

    def test_page(tmp_path):
        exe = require_browser()                 # skips (or fails in CI) without a browser
        with Browser(exe) as b:
            page = b.open(path_or_url)          # waits for load; records errors and requests
            page.wait_for("document.querySelectorAll('.js-plotly-plot').length >= 4")
            assert page.errors == []
            page.screenshot("test-artifacts/page.png", width=1280)

In CI set ``GAITIMU_REQUIRE_BROWSER=1``: a missing browser then FAILS the test instead of
skipping it. ``GAITIMU_CHROMIUM`` overrides the executable path.
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
    "--hide-scrollbars", "--remote-debugging-pipe",
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def find_browser() -> str | None:
    """Path of a Chromium executable, or None."""
    env = os.environ.get("GAITIMU_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name) if not name.startswith("/") else (name if Path(name).exists()
                                                                  else None)
        if p:
            return p
    return None


def require_browser() -> str:
    """The browser path; skip the test without one, or fail when GAITIMU_REQUIRE_BROWSER=1."""
    exe = find_browser()
    if exe is None:
        msg = ("headless Chromium not found (install Debian's 'chromium': "
               "apt-get install -y chromium, or set GAITIMU_CHROMIUM)")
        if os.environ.get("GAITIMU_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + " and GAITIMU_REQUIRE_BROWSER=1")
        pytest.skip(msg)
    return exe


class CDPError(RuntimeError):
    pass


class Browser:
    """A headless Chromium process spoken to over the DevTools pipe."""

    def __init__(self, executable: str | None = None, timeout_s: float = 30.0) -> None:
        self.executable = executable or find_browser()
        if self.executable is None:
            raise CDPError("no Chromium executable found")
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.Queue] = {}
        self._events: list[dict] = []
        self._lock = threading.Lock()
        self.proc: subprocess.Popen | None = None

    # ------------------------------------------------------------------ process
    def __enter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory(prefix="gaitimu-chromium-")
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()

        def _fds() -> None:  # runs in the child before exec: put the pipes on fds 3 and 4
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)  # out of the way of 3 and 4 first
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)  # dup2 copies are inheritable; everything else is not (PEP 446)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_fds, close_fds=False,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self._stderr: list[bytes] = []
        threading.Thread(target=lambda: self._stderr.extend(self.proc.stderr), daemon=True
                         ).start()
        self.call("Browser.getVersion")
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.proc and self.proc.poll() is None:
                try:
                    self._send("Browser.close", {})
                    self.proc.wait(timeout=5)
                except Exception:
                    pass
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        finally:
            for fd in (self._to_child_w, self._from_child_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._profile.cleanup()

    # ------------------------------------------------------------------ protocol
    def _read_loop(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_child_r, 1 << 20)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        q = self._replies.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                else:
                    with self._lock:
                        self._events.append(msg)

    def _send(self, method: str, params: dict, session_id: str | None = None) -> int:
        i = next(self._ids)
        msg: dict[str, Any] = {"id": i, "method": method, "params": params}
        if session_id:
            msg["sessionId"] = session_id
        with self._lock:
            self._replies[i] = queue.Queue()
        os.write(self._to_child_w, json.dumps(msg).encode() + b"\0")
        return i

    def call(self, method: str, params: dict | None = None, session_id: str | None = None,
             timeout_s: float | None = None) -> dict:
        """Send one CDP command and wait for its result (raises CDPError on an error reply)."""
        i = self._send(method, params or {}, session_id)
        try:
            reply = self._replies[i].get(timeout=timeout_s or self.timeout_s)
        except queue.Empty as e:
            raise CDPError(f"{method}: no reply within {timeout_s or self.timeout_s} s; "
                           f"browser stderr: {b''.join(self._stderr)[-2000:]!r}") from e
        finally:
            with self._lock:
                self._replies.pop(i, None)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def events(self, session_id: str | None = None, method: str | None = None) -> list[dict]:
        with self._lock:
            ev = list(self._events)
        return [e for e in ev if (session_id is None or e.get("sessionId") == session_id)
                and (method is None or e.get("method") == method)]

    # ------------------------------------------------------------------ pages
    def open(self, target: str | os.PathLike, *, width: int = 1280, height: int = 900,
             mobile: bool = False) -> Page:
        """Open a file path or URL in a new tab and wait for its load event."""
        url = str(target)
        if "://" not in url and not url.startswith("about:"):
            url = Path(url).resolve().as_uri()
        tid = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.call("Target.attachToTarget", {"targetId": tid, "flatten": True})[
            "sessionId"]
        page = Page(self, sid)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", {}, sid)
        page.set_viewport(width, height, mobile=mobile)
        self.call("Page.navigate", {"url": url}, sid)
        page.wait_event("Page.loadEventFired")
        return page


class Page:
    """One tab: evaluate JavaScript, wait for conditions, read errors, take screenshots."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self.b = browser
        self.sid = session_id

    def wait_event(self, method: str, timeout_s: float | None = None) -> dict:
        end = time.monotonic() + (timeout_s or self.b.timeout_s)
        while time.monotonic() < end:
            ev = self.b.events(self.sid, method)
            if ev:
                return ev[-1]
            time.sleep(0.05)
        raise CDPError(f"event {method} not seen")

    def evaluate(self, expression: str) -> Any:
        r = self.b.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, self.sid)
        if "exceptionDetails" in r:
            raise CDPError(f"JS exception: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 20.0) -> Any:
        """Poll a JS expression until it is truthy; return its value."""
        end = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < end:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise CDPError(f"timed out waiting for {expression!r} (last value {value!r})")

    @property
    def errors(self) -> list[str]:
        """Uncaught exceptions, console.error calls and error-level log entries so far."""
        out = []
        for e in self.b.events(self.sid):
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append(f"exception: {d.get('text')} {d.get('exception', {}).get('description', '')}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    @property
    def requests(self) -> list[str]:
        """URLs of every network request the page made."""
        return [e["params"]["request"]["url"]
                for e in self.b.events(self.sid, "Network.requestWillBeSent")]

    def set_viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        self.b.call("Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1,
                     "mobile": mobile}, self.sid)

    def screenshot(self, path: str | os.PathLike, *, full_page: bool = True) -> Path:
        """Write a PNG of the page (the whole page by default) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            m = self.b.call("Page.getLayoutMetrics", {}, self.sid)
            size = m.get("cssContentSize") or m["contentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": min(size["height"], 16000), "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.b.call("Page.captureScreenshot", params, self.sid, timeout_s=60)["data"]
        path.write_bytes(base64.b64decode(data))
        return path
