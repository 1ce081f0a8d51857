"""Asymmetry report: summary statistics and flags (`summarize`), plotly figures and the
self-contained HTML report with its JSON summary and strides CSV (`build_report`). Opening
and analysing sessions for a report is `gaitimu.workflows.report_sessions`.

See docs/report.md for the page and the statistics, docs/verdicts.md for the decision rules.
"""

from importlib import import_module
from typing import Any

#: Public names and the module that holds each. Loaded on first use (PEP 562): the terminal
#: text (`gaitimu.report.text`) that ``gaitimu analyze`` prints must not pay for plotly
#: and scipy.stats (about 0.6 s of start-up).
_WHERE = {
    "SCHEMA_VERSION": "summary",
    "summarize": "summary",
    "build_report": "html",
    "default_csv_path": "html",
    "render_html": "html",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"gaitimu.report.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'gaitimu.report' has no attribute {name!r}")


__all__ = [
    "SCHEMA_VERSION",
    "build_report",
    "default_csv_path",
    "render_html",
    "summarize",
]
