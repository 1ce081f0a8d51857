"""Asymmetry report: summary statistics and flags (`summarize`), plotly figures and the
self-contained HTML report with its JSON summary and strides CSV (`build_report`). Opening
and analysing sessions for a report is `gaitimu.workflows.report_sessions`.

See docs/report.md for the page and the statistics, docs/verdicts.md for the decision rules.
"""

from gaitimu.report.html import build_report, default_csv_path, render_html
from gaitimu.report.summary import SCHEMA_VERSION, summarize

__all__ = [
    "SCHEMA_VERSION",
    "build_report",
    "default_csv_path",
    "render_html",
    "summarize",
]
