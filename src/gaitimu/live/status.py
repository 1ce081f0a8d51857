"""Live terminal status of a recording (rich).

`LiveStatus` is the ``on_status`` callback of `gaitimu.sensors.client.Recorder`: it renders a
small panel (device, state, elapsed, samples, measured rate, loss, gaps, battery, reconnects)
on stderr, refreshed ~4 times a second, only when stderr is a terminal. The analysis team can
add rows (strides and running CPD per side) with ``analysis_hook``: a callable returning a
mapping of label -> text, e.g. ``{"strides L/R": "41 / 40", "CPD L/R": "4.1° / 7.9°"}``;
`Status.extra` rows are shown too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from rich.console import Console
from rich.live import Live
from rich.table import Table

from gaitimu.sensors.status import Status  # noqa: F401 (the views' input, re-exported)

log = logging.getLogger(__name__)

AnalysisHook = Callable[[], Mapping[str, str]]


def _fmt_elapsed(s: float) -> str:
    m, sec = divmod(int(s), 60)
    return f"{m:d}:{sec:02d}"


def render(status, extra: Mapping[str, str] | None = None) -> Table:
    """A rich table for one `Status` snapshot (pure: usable in tests)."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    state_style = {"recording": "green", "reconnecting": "yellow"}.get(status.state, "cyan")
    t.add_row("sensor", status.device or "-")
    t.add_row("state", f"[{state_style}]{status.state}[/]")
    t.add_row("elapsed", _fmt_elapsed(status.elapsed_s))
    t.add_row("samples", f"{status.samples:,}")
    t.add_row("rate", f"{status.rate_hz:.0f} Hz")
    loss_style = "red" if status.loss_fraction > 0.01 else ""
    t.add_row("loss", f"[{loss_style}]{status.lost_samples} samples ({100 * status.loss_fraction:.2f} %)[/]"
              if loss_style else f"{status.lost_samples} samples ({100 * status.loss_fraction:.2f} %)")
    t.add_row("gaps", str(status.gaps))
    t.add_row("battery", "-" if status.battery_pct is None else f"{status.battery_pct} %")
    t.add_row("reconnects", str(status.reconnects))
    for k, v in {**(status.extra or {}), **(extra or {})}.items():
        t.add_row(k, v)
    return t


class LiveStatus:
    """Context manager + callback showing the recorder's status.

    Parameters
    ----------
    console
        Where to draw (default: stderr).
    enabled
        ``None`` = only when the console is a terminal.
    analysis_hook
        Extra rows from the live analysis (strides, running CPD per side).
    """

    def __init__(self, console: Console | None = None, *, enabled: bool | None = None,
                 analysis_hook: AnalysisHook | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.analysis_hook = analysis_hook
        self.last = None
        self._live: Live | None = None

    def __enter__(self) -> LiveStatus:
        if self.enabled:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def __call__(self, status) -> None:
        self.last = status
        if self._live is None:
            return
        extra = None
        if self.analysis_hook is not None:
            try:
                extra = dict(self.analysis_hook())
            except Exception as e:  # the view never stops a recording
                log.debug("analysis hook failed: %s", e)
        self._live.update(render(status, extra))
