"""The asymmetry report: one self-contained HTML file (plotly.js embedded once, no network),
the JSON summary and the strides CSV. I/O lives here; statistics in `summary`, figures in
`figures`.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gaitimu.errors import BadInputError
from gaitimu.report import figures as figs
from gaitimu.report import references as refs
from gaitimu.report.stats import MeanCI, welch_diff
from gaitimu.report.summary import summarize

log = logging.getLogger(__name__)

PLOTLY_CONFIG = {"responsive": True, "displaylogo": False,
                 "modeBarButtonsToRemove": ["lasso2d", "select2d"],
                 "toImageButtonOptions": {"format": "png", "scale": 2}}

CSS = """
:root { --fg:#1b1f24; --muted:#5b6570; --ok:#1a7f37; --warn:#b35900; --flag:#c62828;
        --bg:#ffffff; --card:#f6f8fa; --line:#d0d7de; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--fg); background:var(--bg); line-height:1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.6rem; margin: .2rem 0 .3rem; }
h2 { font-size: 1.25rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid var(--line);
     padding-bottom: .2rem; }
.meta { color: var(--muted); font-size: .95rem; }
.disclaimer { background:#fff8e1; border:1px solid #f0c36d; border-radius:6px;
              padding:.6rem .8rem; margin:.8rem 0; font-size:.95rem; }
.verdicts { display:grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr));
            gap: 12px; }
.card { background: var(--card); border:1px solid var(--line); border-left-width:6px;
        border-radius: 6px; padding: .7rem .9rem; }
.card h3 { margin: 0 0 .3rem; font-size: 1.1rem; }
.card.flagged { border-left-color: var(--flag); }
.card.inconclusive { border-left-color: var(--warn); }
.card.not_flagged { border-left-color: var(--ok); }
.status { font-weight: 700; text-transform: uppercase; font-size: .85rem; }
.flagged .status { color: var(--flag); } .inconclusive .status { color: var(--warn); }
.not_flagged .status { color: var(--ok); }
.figure { width: 100%; margin: .4rem 0 1rem; break-inside: avoid; page-break-inside: avoid; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; margin: .4rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .4rem; text-align: left;
         vertical-align: top; }
th { background: var(--card); }
.scroll { overflow-x: auto; }
ul.flags li { margin: .25rem 0; }
.small { font-size: .85rem; color: var(--muted); }
@media (max-width: 640px) {
  main { padding: 8px; } h1 { font-size: 1.3rem; } table { font-size: .82rem; }
}
@media print {
  body { font-size: 11pt; } main { max-width: none; padding: 0; }
  .modebar, .noprint { display: none !important; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .card, .figure, table { break-inside: avoid; page-break-inside: avoid; }
}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _f(x: Any, nd: int = 1, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    v = round(float(x), nd) + 0.0  # no "-0.0"
    return f"{v:.{nd}f}{unit}"


def session_meta(session: Any) -> dict:
    """Metadata dict of a session object (or a plain dict), with the data-quality fields
    (``duration_s``, ``lost_samples``, ``gaps``, ``n_samples``, ``problems``, ``path``) filled
    from the session's attributes when the meta lacks them."""
    if isinstance(session, Mapping):
        return dict(session)
    meta = dict(getattr(session, "meta", {}) or {})
    for key in ("duration_s", "lost_samples", "gaps", "problems", "sample_rate_hz", "path"):
        if meta.get(key) is None and getattr(session, key, None) is not None:
            val = getattr(session, key)
            meta[key] = str(val) if key == "path" else val
    t = getattr(session, "t_s", None)
    if meta.get("n_samples") is None and t is not None:
        meta["n_samples"] = len(t)
    return meta


def _figure_div(fig, div_id: str) -> str:
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config=PLOTLY_CONFIG, default_width="100%")
    return f'<div class="figure" data-figure="{div_id}">{body}</div>'


def _verdict_html(summary: dict) -> str:
    cards = []
    for s in ("L", "R"):
        v = summary["verdict"][s]
        label = {"flagged": "flagged", "not_flagged": "not flagged",
                 "inconclusive": "inconclusive"}[v["status"]]
        cards.append(
            f'<div class="card {v["status"]}" data-side="{s}" data-status="{v["status"]}">'
            f"<h3>{refs.SIDE_NAME[s].capitalize()} stance "
            f'<span class="status">{label}</span></h3><p>{_e(v["text"])}</p></div>')
    items = "".join(f'<li data-kind="{_e(f["kind"])}" data-side="{_e(f["side"])}">'
                    f'<b>{_e(f["kind"])}</b> ({_e(f["side"])}): {_e(f["message"])}</li>'
                    for f in summary["flags"])
    flags = (f'<ul class="flags">{items}</ul>' if items
             else "<p>No flags: nothing in this session clears the thresholds.</p>")
    return f'<div class="verdicts">{"".join(cards)}</div>{flags}'


def _numbers_table(summary: dict) -> str:
    rows = []

    def row(name: str, d: Mapping, nd: int = 2, unit: str = "") -> None:
        cells = []
        for s in ("L", "R"):
            x = d.get(s) or {}
            cells.append(f"{_f(x.get('mean'), nd)} ± {_f(x.get('sd'), nd)} "
                         f"[{_f(x.get('ci95_low'), nd)}, {_f(x.get('ci95_high'), nd)}] "
                         f"n={x.get('n', 0)}")
        rows.append(f"<tr><td>{_e(name)}{_e(unit)}</td><td>{cells[0]}</td>"
                    f"<td>{cells[1]}</td></tr>")

    row("CPD rel. initial contact", summary["cpd_ic_deg"], unit=" (deg)")
    row("CPD rel. standing neutral", summary["cpd_standing_deg"], unit=" (deg)")
    row("Obliquity range", summary["obliquity_range_deg"], unit=" (deg)")
    for key, name in (("stance_s", "Stance / contact time"), ("step_s", "Step time"),
                      ("stride_s", "Stride time"), ("flight_s", "Flight time")):
        row(name, summary["temporal"][key], 3, " (s)")
    row("ML sway proxy", summary["ml_sway"]["ml_excursion_m"], 3, " (m)")
    a = summary["asymmetry"]
    d = a["cpd_diff_r_minus_l_deg"]
    extra = (f"<tr><td>CPD difference R-L (deg)</td><td colspan=2>{_f(d.get('diff'), 2)} "
             f"[{_f(d.get('ci95_low'), 2)}, {_f(d.get('ci95_high'), 2)}], Welch p = "
             f"{_f(d.get('p_value'), 3)}</td></tr>"
             f"<tr><td>Symmetry indices (%)</td><td colspan=2>CPD "
             f"{_f(a.get('cpd_symmetry_index_pct'))} · stance "
             f"{_f(a.get('stance_symmetry_index_pct'))} · step "
             f"{_f(a.get('step_symmetry_index_pct'))} · ML sway "
             f"{_f(a.get('ml_sway_symmetry_index_pct'))}</td></tr>"
             f"<tr><td>GCT balance (left share)</td><td colspan=2>"
             f"{_f(a.get('gct_balance_left_pct'))} % (50 % = symmetric)</td></tr>")
    return ('<div class="scroll"><table><thead><tr><th>Metric</th><th>Left stance: mean ± SD '
            '[95 % CI] n</th><th>Right stance</th></tr></thead><tbody>'
            + "".join(rows) + extra + "</tbody></table></div>")


def _cpd_caption(summary: dict) -> str:
    ref = "standing neutral" if summary["cpd_reference"] == "standing" else "initial contact"
    parts = []
    for s in ("L", "R"):
        c = summary["cpd_deg"][s]
        parts.append(f"<b>{refs.SIDE_NAME[s].capitalize()} stance</b> {_f(c.get('mean'))} ± "
                     f"{_f(c.get('sd'))} deg (95 % CI {_f(c.get('ci95_low'))} to "
                     f"{_f(c.get('ci95_high'))}, n = {c.get('n', 0)})")
    d = summary["asymmetry"]["cpd_diff_r_minus_l_deg"]
    thr = summary["thresholds"]["asymmetry_deg"]
    return (f"<p>{'; '.join(parts)}; relative to {ref}. Right - left: {_f(d.get('diff'))} "
            f"deg (95 % CI {_f(d.get('ci95_low'))} to {_f(d.get('ci95_high'))}).</p>"
            "<p class='small'>Box: quartiles and 1.5 IQR whiskers; dots: strides; diamond: "
            "mean ± SD; orange bar: 95 % CI of the mean (allowing for correlated strides). "
            f"A side is flagged when the whole CI of the difference clears {_f(thr)} deg "
            "(gaitimu default, not a clinical cut-off). No absolute CPD cut-off is applied: "
            "Bramah et al. 2018 found each extra degree of CPD raised the odds of being an "
            "injured runner by about 80 %, but their group means are not verified here. "
            "Running pelvic obliquity range with IMUs is about 7.8-9.3 deg "
            "(Perpiñá-Martínez 2023).</p>")


def _temporal_caption(summary: dict) -> str:
    a = summary["asymmetry"]
    return (f"<p>GCT balance (left share of contact time): "
            f"{_f(a.get('gct_balance_left_pct'))} % (50 % = symmetric). Symmetry indices "
            f"100·(R-L)/mean: stance {_f(a.get('stance_symmetry_index_pct'))} %, step "
            f"{_f(a.get('step_symmetry_index_pct'))} %, ML sway "
            f"{_f(a.get('ml_sway_symmetry_index_pct'))} %.</p><p class='small'>ML sway proxy: "
            "medio-lateral sacral excursion towards the stance side. More sway on one side "
            "can hint at a trunk lean over that leg (compensated Trendelenburg), which a "
            "single sacral sensor cannot see directly: a hint, not proof.</p>")


def _alignment_text(align: Any) -> str:
    """Plain-words mounting correction from ``info['alignment']`` (HTML-escaped)."""
    if not isinstance(align, Mapping) or not align:
        return "not reported" if align in (None, {}, []) else _e(align)
    parts = []
    c = align.get("correction_deg")
    if isinstance(c, Mapping) and c.get("angle") is not None:
        parts.append(f"rotated {_f(c.get('angle'))} deg in total (about up "
                     f"{_f(c.get('about_is'))}, about left-right {_f(c.get('about_ml'))}, "
                     f"about forward {_f(c.get('about_pa'))} deg)")
    if align.get("axes"):
        parts.append(f"nominal axes {_e(align['axes'])}")
    st = align.get("standing")
    if isinstance(st, Mapping) and st.get("start_s") is not None:
        parts.append(f"quiet standing {_f(st.get('start_s'))}-{_f(st.get('end_s'))} s")
    elif "standing" in align:
        parts.append("no quiet standing found")
    if align.get("up_source"):
        parts.append(f"up from {_e(align['up_source'])}")
    if align.get("heading_source"):
        conf = align.get("heading_confidence")
        parts.append(f"heading from {_e(align['heading_source'])}"
                     + (f" (confidence {_f(conf, 2)})" if conf is not None else ""))
    if not parts:  # unknown structure: show its scalar entries
        parts = [f"{_e(k)} {_e(v)}" for k, v in align.items()
                 if isinstance(v, (int, float, str))][:8]
    warn = align.get("warnings") or []
    return "; ".join(parts) + "".join(f"<br>warning: {_e(w)}" for w in warn)


def _sides_rows(summary: dict) -> str:
    """Data-quality rows on left/right: stances without a side, per-bout decisions, the
    sensor heading and forward direction evidence (HTML-escaped table rows)."""
    from gaitimu.pipeline import forward_text, heading_text

    rows = []
    sd = summary.get("sides") or {}
    n_no, n_st = sd.get("n_no_side") or 0, sd.get("n_stances") or 0
    txt = f"{n_no} of {n_st}"
    if n_no:
        txt += " (left out of the per-side numbers"
        reasons = sorted((sd.get("reasons") or {}).items(), key=lambda kv: -kv[1])
        if reasons:
            txt += ": " + "; ".join(f"{r} ({k})" for r, k in reasons[:3])
        txt += ")"
    bouts = sd.get("bouts") or []
    if bouts:
        txt += (f"; {sd.get('bouts_decided', 0)} of {len(bouts)} gait bouts had their sides "
                f"decided, {sd.get('bouts_withheld', 0)} withheld")
    rows.append(("Stances without a side", _e(txt)))
    if sd.get("attribution") == "uncertain":
        rows.append(("Left/right attribution",
                     f"<b>uncertain</b>: {_e(sd.get('why'))}; no side is flagged"))
    al = summary.get("alignment") or {}
    for name, text in (("Sensor heading", heading_text(al)),
                       ("Forward direction", forward_text(al))):
        if text:
            rows.append((name, _e(text)))
    return "".join(f"<tr data-row='{_e(name.lower())}'><td>{_e(name)}</td><td>{v}</td></tr>"
                   for name, v in rows)


def _quality_html(summary: dict) -> str:
    q = summary["data_quality"]
    reasons = ", ".join(f"{_e(k)}: {v}" for k, v in q["strides_excluded"]["by_reason"].items())
    align_txt = _alignment_text(q.get("alignment"))
    warn = "".join(f"<li>{_e(w)}</li>" for w in q.get("warnings", []) + q.get("problems", []))
    return (
        "<div class='scroll'><table><tbody>"
        f"<tr><td>Sample rate</td><td>{_f(q.get('sample_rate_hz'), 0)} Hz</td></tr>"
        f"<tr><td>Lost samples</td><td>{_e(q.get('lost_samples'))} "
        f"({_f(q.get('loss_pct'), 2)} %)</td></tr>"
        f"<tr><td>Gaps</td><td>{q['gaps']} ({_f(q['gap_total_s'], 2)} s in total)</td></tr>"
        f"<tr><td>Mounting alignment correction</td><td>{align_txt}</td></tr>"
        + _sides_rows(summary) +
        f"<tr><td>Strides excluded</td><td>{q['strides_excluded']['total']}"
        f"{' (' + reasons + ')' if reasons else ''}</td></tr>"
        f"<tr><td>Strides of another activity (not summarised)</td>"
        f"<td>{q['strides_other_activity']}</td></tr>"
        "</tbody></table></div>"
        + (f"<p>Warnings:</p><ul>{warn}</ul>" if warn else ""))


def _guidance_html(summary: dict) -> str:
    ex = refs.EXERCISES
    flagged = [f for f in summary["flags"] if f["kind"] in ("cpd_asymmetry", "cpd_elevated")]
    if (summary.get("sides") or {}).get("attribution") == "uncertain":
        lead = ("Left and right could not be told apart in this session, so no side is "
                "singled out. General hip-abductor strength work below is optional "
                "maintenance; repeat the measurement with the sensor worn as described.")
        order = ("loaded", "early")
    elif not flagged:
        lead = ("No side is flagged. General hip-abductor strength work below is optional "
                "maintenance; repeat the measurement to track your control over time.")
        order = ("loaded", "early")
    else:
        f = max(flagged, key=lambda x: x.get("value") or 0.0)
        side = refs.SIDE_NAME[f["side"]]
        severe = (f.get("value") or 0.0) >= refs.SEVERE_ASYMMETRY_DEG
        stage = "early / low-load" if severe else "loaded"
        lead = (f"Focus on the <b>{side}</b> hip abductors (the stance side with the larger "
                f"drop). With a difference of {_f(f.get('value'))} deg the suggested starting "
                f"point is the <b>{stage}</b> stage; start at the early stage whenever there "
                "is pain, and move on when the exercises are easy and pain-free. Work both "
                "sides, with extra volume on the flagged side.")
        order = ("early", "loaded") if severe else ("loaded", "early")
    blocks = "".join(
        f"<h3>{_e(ex[k]['title'])}</h3><ul>"
        + "".join(f"<li>{_e(i)}</li>" for i in ex[k]["items"]) + "</ul>" for k in order)
    return (f"<p>{lead}</p>{blocks}<p><b>Dosage:</b> {_e(ex['dosage'])}</p>"
            f"<p class='small'>Source: {_e(ex['source'])}</p>")


def _references_html() -> str:
    items = "".join(f"<li><b>{_e(r['citation'])}</b> {_e(r['finding'])}"
                    f"{' ' + _e(r['note']) if r.get('note') else ''}"
                    f" <span class='small'>[{_e(r['kind'])}]</span></li>"
                    for r in refs.REFERENCES)
    return f"<ul>{items}</ul>"


def speed_text(summary: dict) -> str:
    """One phrase on speed: the walking speed, distance and step length estimated from the
    sacrum (with the leg length used), the treadmill speed given at record/import, or why
    there is no speed (running is never estimated)."""
    sp = summary.get("speed") or {}
    given = sp.get("given_speed_kmh")
    given_txt = (f"treadmill speed {_f(given, 1)} km/h ({_f(given / 3.6, 2)} m/s, as given)"
                 if given else "")
    if sp.get("status") == "estimated":
        leg = sp.get("leg_length_source") or f"leg length {_f(sp.get('leg_length_m'), 2)} m"
        text = (f"walking speed {_f(sp.get('speed_mps'), 2)} m/s "
                f"({_f((sp.get('speed_mps') or 0) * 3.6, 1)} km/h), "
                f"{_f(sp.get('distance_m'), 1)} m walked, step length "
                f"{_f(sp.get('step_length_m'), 2)} m (estimated; {_e(leg)})")
        return text + (f"; {given_txt}" if given_txt else "")
    why = _e(sp.get("reason") or "not estimated")
    if given_txt:
        return f"{given_txt}; speed from the sensor not estimated: {why}"
    return f"speed not estimated: {why}"


def _context_line(summary: dict) -> str:
    act = {"walk": "Walking", "run": "Running"}.get(summary.get("activity") or "",
                                                    str(summary.get("activity")))
    s = summary["session"]
    no_side = (summary.get("sides") or {}).get("n_no_side") or 0
    parts = [f"<b>{_e(act)}</b>", f"{_f((summary.get('duration_s') or 0) / 60.0, 1)} min",
             f"cadence {_f(summary.get('cadence_spm'), 0)} steps/min",
             speed_text(summary),
             *([f"{tu['n']} turn(s) ({tu['n_left']} left, {tu['n_right']} right; their "
                "steps are left out)"] if (tu := summary.get("turns") or {}).get("n") else []),
             f"{summary['strides']['L']} left + {summary['strides']['R']} right valid strides"
             + (f" ({no_side} without a side, left out)" if no_side else "")]
    if s.get("subject"):
        parts.insert(0, f"subject {_e(s['subject'])}")
    if s.get("created_utc"):
        parts.append(f"recorded {_e(s['created_utc'])}")
    return " · ".join(parts)


def _label(summary: dict, i: int) -> str:
    """Short unique session label: ``#<n> <date time to the minute>`` (or the path)."""
    s = summary["session"]
    when = s.get("created_utc")
    what = str(when)[:16].replace("T", " ") if when else Path(str(s.get("path") or "")).name
    return f"#{i + 1} {what}".strip()


def change_from_first(first: dict, later: dict) -> dict:
    """Per-side change of CPD (``later - first``, deg) with a Welch 95 % CI on the sessions'
    effective sample sizes. Both sessions use their own CPD reference (``cpd_deg``)."""
    out = {}
    for side in ("L", "R"):
        a, b = (MeanCI(**{k: (math.nan if x[k] is None else x[k]) for k in MeanCI.__annotations__})
                for x in (first["cpd_deg"][side], later["cpd_deg"][side]))
        out[side] = welch_diff(a, b).as_dict()
    return out


def render_html(results: Sequence[tuple[dict, pd.DataFrame, pd.DataFrame | None]],
                *, title: str = "gaitimu pelvic control report") -> str:
    """HTML text of the report for ``(summary, strides, signals)`` triples (oldest first).

    The newest session is shown in full; with several sessions a progress section comes
    first. Figure divs carry ``data-figure`` ids (tests count them).
    """
    import plotly.offline

    if not results:
        raise BadInputError("no session to report on")
    summary, strides, signals = results[-1]
    parts: list[str] = []
    if len(results) > 1:
        summaries = [r[0] for r in results]
        labels = [_label(s, i) for i, s in enumerate(summaries)]
        changes = [change_from_first(summaries[0], x) for x in summaries]

        def _chg(c: dict) -> str:
            return (f"<br><span class='small'>change {_f(c.get('diff'), 1)} "
                    f"[{_f(c.get('ci95_low'), 1)}, {_f(c.get('ci95_high'), 1)}]</span>")

        rows = "".join(
            f"<tr><td>{_e(lab)}</td><td>{_e(s.get('activity'))}</td>"
            f"<td>{_f(s['cpd_deg']['L'].get('mean'))} "
            f"[{_f(s['cpd_deg']['L'].get('ci95_low'))}, "
            f"{_f(s['cpd_deg']['L'].get('ci95_high'))}]{_chg(c['L']) if i else ''}</td>"
            f"<td>{_f(s['cpd_deg']['R'].get('mean'))} "
            f"[{_f(s['cpd_deg']['R'].get('ci95_low'))}, "
            f"{_f(s['cpd_deg']['R'].get('ci95_high'))}]{_chg(c['R']) if i else ''}</td>"
            f"<td>{_e(s['verdict']['L']['status'])} / {_e(s['verdict']['R']['status'])}</td>"
            "</tr>" for i, (lab, s, c) in enumerate(zip(labels, summaries, changes,
                                                        strict=True)))
        parts.append(
            "<h2>Progress across sessions</h2>"
            + _figure_div(figs.progress(summaries, labels), "fig-progress")
            + "<div class='scroll'><table><thead><tr><th>Session</th><th>Activity</th>"
            "<th>Left CPD [95 % CI]</th><th>Right CPD [95 % CI]</th><th>Verdict L / R</th>"
            f"</tr></thead><tbody>{rows}</tbody></table></div>"
            "<p class='small'>Change: CPD of that side minus the first session, with a Welch "
            "95 % CI (deg). Left plot: CPD per stance side, mean with 95 % CI. Right: right minus "
            "left with its 95 % CI; dotted lines: ± the asymmetry threshold. Different "
            "sessions can differ in speed, shoes and sensor "
            "placement: compare sessions of the same activity and set-up.</p>")
    detail = [
        "<h2>CPD per side</h2>", _figure_div(figs.cpd_distribution(strides, summary),
                                             "fig-cpd"),
        _cpd_caption(summary), _numbers_table(summary),
        "<h2>Pelvic obliquity over the gait cycle</h2>",
        _figure_div(figs.gait_cycle(strides, signals, summary.get("activity")), "fig-cycle"),
        "<p class='small'>Mean ± SD over strides, 0-100 % from initial contact to the next "
        "initial contact of the same leg; the curve of each side is that side's hemipelvis "
        "height (up = positive), so the hump during stance is the drop of the opposite "
        "side. Dotted lines: mean toe-off. IMU frontal-plane angles carry an absolute error "
        "of about 2.7-4.5 deg against optical motion capture (Bolink 2016); left/right "
        "comparisons of the same sensor are more robust than absolute values.</p>",
        "<h2>CPD during the session</h2>", _figure_div(figs.cpd_trend(strides, summary),
                                                       "fig-trend"),
        "<p class='small'>Each dot is one stance (long sessions are thinned for display; "
        "statistics use every stride). Control often fades late in a run: a rising trend "
        "is flagged when its 95 % CI excludes zero and the fitted change over the session "
        f"exceeds {_f(summary['thresholds']['trend_deg'])} deg.</p>",
        "<h2>Temporal symmetry</h2>", _figure_div(figs.temporal(summary), "fig-temporal"),
        _temporal_caption(summary),
        "<h2>Data quality</h2>", _quality_html(summary),
        "<h2>Exercise guidance</h2>", _guidance_html(summary),
        "<h2>References and thresholds</h2>", _references_html(),
        f"<p class='small'>Method: {_e(summary['method']['ci'])} "
        f"{_e(summary['method']['asymmetry'])} Decision: "
        f"{_e(summary['method']['decision'])}</p>",
    ]
    head_title = "Latest session" if len(results) > 1 else "Result"
    body = (
        f"<main><h1>{_e(title)}</h1><p class='meta'>{_context_line(summary)}</p>"
        f"<div class='disclaimer'><b>Not a medical device.</b> {_e(refs.DISCLAIMER)}</div>"
        f"<h2>{head_title}: how each hip controls the pelvis</h2>{_verdict_html(summary)}"
        + "".join(parts) + "".join(detail)
        + f"<footer class='disclaimer'>{_e(refs.DISCLAIMER)} Generated by gaitimu "
        f"{_e(summary['software_version'])} at {_e(summary['generated_utc'])}.</footer>"
        "</main>")
    js = plotly.offline.get_plotlyjs()
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{CSS}</style>"
            f"<script type='text/javascript'>{js}</script></head><body>{body}</body></html>")


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) via a temporary file beside ``path``, fsync, rename; the temporary
    file is removed on failure, which is one line (`BadInputError`)."""
    from gaitimu.sessions._format import os_error_text, write_atomic

    try:
        write_atomic(Path(path), text.encode("utf-8"))
    except OSError as e:
        raise BadInputError(os_error_text(path, e)) from e


def check_report_outputs(out_html: str | os.PathLike, out_json: str | os.PathLike | None,
                         out_csv: str | os.PathLike | None, *, inputs: Sequence[Any] = (),
                         force: bool = True) -> dict[Any, Path]:
    """Check the report's outputs (`gaitimu.sessions._format.check_outputs`): ``out_csv``
    ``None`` means `default_csv_path` of the HTML, checked the same way."""
    from gaitimu.sessions._format import check_outputs

    csv = out_csv if out_csv is not None else default_csv_path(out_html)
    return check_outputs([("--out", out_html), ("--json", out_json), ("--csv", csv)],
                         inputs=[str(p) for p in inputs], force=force)


def default_csv_path(out_html: str | os.PathLike) -> Path:
    """Where the strides CSV goes when not given: ``<report stem>_strides.csv`` beside it."""
    p = Path(out_html)
    return p.with_name(f"{p.stem}_strides.csv")


def build_report(
    items: Iterable[tuple[Any, Any]],
    out_html: str | os.PathLike,
    out_json: str | os.PathLike | None = None,
    out_csv: str | os.PathLike | None = None,
    *,
    force: bool = True,
    **thresholds: Any,
) -> dict:
    """Summarise analysed sessions and write the HTML report, JSON summary and strides CSV.

    Parameters
    ----------
    items
        ``(session, result)`` pairs, oldest first: ``session`` an opened session (or its meta
        dict), ``result`` an ``AnalysisResult`` (``strides``, ``signals``, ``info``).
    out_html
        Report path. ``out_csv`` defaults to `default_csv_path` of it.
    out_json
        Optional summary path: the newest session's summary (DESIGN.md section 5); with
        several sessions it also carries ``"progress"``, one entry per session.
    force
        Replace existing output files (the CLI's ``--force``; default True for the library).
        Outputs are never written into a session folder, onto an input or through a link
        loop, and two outputs never share a file (`check_report_outputs`); each is written
        atomically (temporary file, fsync, rename).
    **thresholds
        Passed on to `summarize`.

    Returns
    -------
    dict
        The summary written (or that would be written) to ``out_json``.
    """
    results = []
    frames = []
    items_list = list(items)
    for i, (session, result) in enumerate(items_list):
        meta = session_meta(session)
        summary = summarize(result.strides, meta, getattr(result, "info", {}) or {},
                            **thresholds)
        results.append((summary, result.strides, getattr(result, "signals", None)))
        f = result.strides.copy()
        f.insert(0, "session", meta.get("path") or f"session{i + 1}")
        frames.append(f)
    if not results:
        raise BadInputError("no session to report on")
    out_html = Path(out_html)
    inputs = [getattr(sess, "path", None) for sess, _ in items_list]
    check_report_outputs(out_html, out_json, out_csv, force=force,
                         inputs=[p for p in inputs if p is not None])
    _atomic_write(out_html, render_html(results))
    out = dict(results[-1][0])
    if len(results) > 1:
        out["progress"] = [
            {"label": _label(s, i), "activity": s.get("activity"),
             "cpd_deg": s["cpd_deg"], "asymmetry": s["asymmetry"]["cpd_diff_r_minus_l_deg"],
             "verdict": {k: v["status"] for k, v in s["verdict"].items()},
             "change_from_first_deg": change_from_first(results[0][0], s)}
            for i, (s, _, _) in enumerate(results)]
    if out_json is not None:
        _atomic_write(Path(out_json), json.dumps(out, indent=2, allow_nan=False) + "\n")
    csv_path = Path(out_csv) if out_csv is not None else default_csv_path(out_html)
    table = pd.concat(frames, ignore_index=True)
    if len(frames) == 1:
        table = table.drop(columns="session")
    _atomic_write(csv_path, table.to_csv(index=False, float_format="%.6g"))
    log.info("report written: %s (csv %s, json %s)", out_html, csv_path, out_json)
    return out


def report_sessions(
    paths: Sequence[str | os.PathLike],
    out_html: str | os.PathLike = "report.html",
    out_json: str | os.PathLike | None = None,
    out_csv: str | os.PathLike | None = None,
    *,
    axes: str | None = None,
    force: bool = True,
    leg_length_m: float | None = None,
    height_m: float | None = None,
    **thresholds: Any,
) -> dict:
    """Open, analyse and report on session directories (what ``gaitimu report`` does).

    ``leg_length_m``/``height_m`` override every session's stored body size (walking step
    length and speed, `gaitimu.analysis.speed`).

    Sessions are ordered by their ``created_utc`` (then by the order given), so the progress
    view runs oldest to newest. ``axes`` overrides every session's axis map ("auto":
    mounting unknown; `gaitimu.pipeline.check_axes_option`). Raises `BadInputError` for an
    unreadable session or a bad ``axes`` and `NoGaitError` (naming the session) when one has
    no usable gait.
    """
    from gaitimu.analysis.speed import check_body_size
    from gaitimu.errors import NoGaitError
    from gaitimu.pipeline import analyze_session, check_axes_option
    from gaitimu.sessions import open_session

    axes = check_axes_option(axes)
    body = {"leg_length_m": check_body_size(leg_length_m, "leg_length_m"),
            "height_m": check_body_size(height_m, "height_m")}
    body = {k: v for k, v in body.items() if v is not None}  # only the overrides given
    # the outputs are checked before the (slow) analysis
    check_report_outputs(out_html, out_json, out_csv, inputs=paths, force=force)
    items = []
    for p in paths:
        session = open_session(p)
        try:
            result = (analyze_session(session, **body) if axes is None
                      else analyze_session(session, axes=axes, **body))
        except (NoGaitError, BadInputError) as e:  # name the session in the one line
            if str(e).startswith(str(p)):
                raise
            raise type(e)(f"{p}: {e}") from e
        items.append((session, result))
    items.sort(key=lambda it: str((getattr(it[0], "meta", {}) or {}).get("created_utc") or ""))
    return build_report(items, out_html, out_json, out_csv, force=force, **thresholds)
