"""Asymmetry report: summary statistics and flags (`summarize`), plotly figures and the
self-contained HTML report with its JSON summary and strides CSV (`build_report`).

See docs/report.md for the statistics, the decision rules and the references.
"""

from gaitimu.report.html import build_report, default_csv_path, render_html, report_sessions
from gaitimu.report.summary import SCHEMA_VERSION, summarize

__all__ = [
    "SCHEMA_VERSION",
    "build_report",
    "default_csv_path",
    "render_html",
    "report_sessions",
    "summarize",
]
