"""The cohort page of a batch (``DIR/cohort.html``): one self-contained page (plotly.js and
the figures packed as in the session report, `gaitimu.report.assets`; no network request):
the CPD asymmetry across subjects (each subject's newest session), the share of sessions
flagged by kind, and the change per subject over time where a subject has repeats."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from gaitimu.batch.task import FLAG_KINDS
from gaitimu.errors import BadInputError
from gaitimu.sessions.files import atomic_file, os_error_text

#: Subjects drawn in the change-over-time plot (most sessions first); the page says so.
MAX_SUBJECTS_OVER_TIME = 40


def _figures(sessions: pd.DataFrame) -> tuple[list[tuple[str, Any]], str]:
    import plotly.graph_objects as go

    from gaitimu.report import references as refs

    thr = refs.CPD_ASYMMETRY_THRESHOLD_DEG
    df = sessions.assign(subject=sessions["subject"].fillna("(no subject)"),
                         when=pd.to_datetime(sessions["created_utc"], errors="coerce", utc=True))
    df = df.sort_values(["subject", "when"], kind="stable")
    newest = df.groupby("subject", sort=True).tail(1)
    asym = go.Figure(go.Histogram(x=newest["asymmetry_r_minus_l_deg"], nbinsx=30,
                                  name="subjects"))
    for x in (-thr, thr):
        asym.add_vline(x=x, line_dash="dash", annotation_text=f"{x:+g} deg")
    asym.update_layout(title="CPD asymmetry (right minus left), each subject's newest session",
                       xaxis_title="deg", yaxis_title="subjects", height=380)
    kinds = [k for f in df["flag_kinds"].fillna("") for k in
             {p.split(":", 1)[-1] for p in f.split(";") if p}]
    counts = {k: kinds.count(k) for k in (*FLAG_KINDS, "inconclusive")}
    counts["not flagged"] = int((~df["flagged"].astype(bool)).sum())
    share = go.Figure(go.Bar(x=list(counts), y=[v / max(len(df), 1) * 100
                                                for v in counts.values()],
                             text=[str(v) for v in counts.values()]))
    share.update_layout(title="Sessions by flag", yaxis_title="% of sessions", height=340)
    repeats = df.groupby("subject").filter(lambda g: len(g) > 1)
    top = repeats["subject"].value_counts().index[:MAX_SUBJECTS_OVER_TIME]
    change = go.Figure()
    for subject, g in repeats[repeats["subject"].isin(top)].groupby("subject", sort=True):
        change.add_trace(go.Scatter(x=g["when"], y=g["asymmetry_r_minus_l_deg"],
                                    mode="lines+markers", name=str(subject)))
    change.update_layout(title="CPD asymmetry per subject over time (subjects with repeats)",
                         yaxis_title="deg", height=400)
    n_rep = repeats["subject"].nunique()
    note = (f"{n_rep} subject(s) with repeated sessions" +
            (f"; the {MAX_SUBJECTS_OVER_TIME} with the most sessions are drawn"
             if n_rep > MAX_SUBJECTS_OVER_TIME else ""))
    figs = [("cohort-asymmetry", asym), ("cohort-flags", share)]
    if n_rep:
        figs.append(("cohort-change", change))
    return figs, note


def cohort_html(sessions: pd.DataFrame, *, n_failed: int = 0) -> str:
    """The cohort page's HTML text for the rows of sessions.parquet."""
    from gaitimu.report import assets
    from gaitimu.report.html import figure_div, figures_json

    figs, note = _figures(sessions)
    n = len(sessions)
    flagged = int(sessions["flagged"].astype(bool).sum()) if n else 0
    divs = "".join(figure_div(i, f) for i, f in figs)
    packed = figures_json(figs)
    text = (f"<p>{n} sessions of {sessions['subject'].nunique()} subjects analysed"
            f"{f', {n_failed} failed (failed.csv)' if n_failed else ''}; {flagged} "
            f"({flagged / max(n, 1) * 100:.0f}%) flagged. {html.escape(note)}.</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>gaitimu cohort</title><style>{assets.CSS}</style></head><body><main>"
            f"<h1>gaitimu cohort</h1>{text}{divs}</main>"
            f"<script type='text/plain' id='gaitimu-plotly'>{assets.packed_plotly()}</script>"
            f"<script type='text/plain' id='gaitimu-figures'>{assets.pack(packed)}</script>"
            f"<script>{assets.boot_script()}</script></body></html>")


def write_cohort(path: Path, sessions: pd.DataFrame, *, n_failed: int = 0) -> None:
    """Write the cohort page atomically (one line on a failed write)."""
    try:
        with atomic_file(path) as f:
            f.write(cohort_html(sessions, n_failed=n_failed).encode("utf-8"))
    except OSError as e:
        raise BadInputError(os_error_text(path, e)) from e


__all__ = ["cohort_html", "write_cohort"]
