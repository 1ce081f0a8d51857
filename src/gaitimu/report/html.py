"""The asymmetry report: one self-contained HTML file (plotly.js embedded once, compressed,
no network), the JSON summary and the strides CSV. I/O lives here; statistics and wording in
`summary`, figures in `figures`, the page's stylesheet and script in `assets`.

The page, top to bottom: the summary card (what a runner needs in ten seconds, one printed
page: headline, a plain sentence per side, banners that say how to fix an inconclusive result,
what CPD is and may mean, next steps, the session's context, the disclaimer), the progress
over several sessions, guidance for the outcome, then the details a physiotherapist checks
(numbers, plots, data quality, references, method, the disclaimer again). docs/report.md
describes each part.
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

import numpy as np
import pandas as pd
import plotly.io as pio

from gaitimu.errors import BadInputError, quote
from gaitimu.report import assets, selftests
from gaitimu.report import figures as figs
from gaitimu.report import references as refs
from gaitimu.report.stats import MeanCI, format_p_value, welch_diff
from gaitimu.report.summary import summarize

log = logging.getLogger(__name__)

STATUS_WORDS = {"flagged": "flagged", "not_flagged": "not flagged",
                "inconclusive": "inconclusive", "not_applicable": "not a gait session"}
#: Flag kinds in words (the identifiers stay in ``data-kind`` and the JSON).
FLAG_WORDS = {"cpd_asymmetry": "Left/right difference", "cpd_elevated": "High drop",
              "cpd_trend": "Drop grew during the session", "inconclusive": "Inconclusive",
              "self_test_asymmetry": "Left/right difference in the self-test"}
SIDE_WORDS = {"L": "left", "R": "right", "both": "both sides"}
ACTIVITY_WORDS = {"walk": "Walking", "run": "Running",
                  "single-leg-stance": "Single-leg stance test",
                  "single-leg-squat": "Single-leg squat test"}


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


def figure_div(div_id: str, fig: Any) -> str:
    """Placeholder the page's script draws ``fig`` into; its height is reserved so the page
    does not jump while plotly.js unpacks (the figure itself travels packed, `figures_json`)."""
    height = int(fig.layout.height or 420)
    return (f'<div class="figure" data-figure="{div_id}"><div id="{div_id}" class="plot" '
            f'style="min-height:{height}px"><p class="plot-note">Drawing the plot…</p></div>'
            "</div>")


def figures_json(figures: Sequence[tuple[str, Any]]) -> bytes:
    """``[{"id": div id, "figure": plotly JSON}, ...]`` for the page's script."""
    items = (f'{{"id":{json.dumps(div_id)},"figure":{pio.to_json(fig, validate=False)}}}'
             for div_id, fig in figures)
    return ("[" + ",".join(items) + "]").encode("utf-8")


def _side_panel(side: str, status: str, sentence: str, numbers: str,
                detail: str = "") -> str:
    """One side of the verdict: side name with its colour, the status badge, the plain
    sentence (with how sure, in words), the number behind it (HTML) and an optional detail
    for a physio (text)."""
    nums = f'<p class="confidence">{numbers}</p>' if numbers else ""
    more = f'<p class="small">{_e(detail)}</p>' if detail else ""
    return (f'<div class="verdict" data-side="{side}" data-status="{_e(status)}">'
            f'<h3><span class="dot {side}"></span>'
            f'<span class="side-name">{refs.SIDE_NAME[side].capitalize()} leg</span>'
            f'<span class="status {_e(status)}">{_e(STATUS_WORDS.get(status, status))}</span>'
            f"</h3><p>{_e(sentence)}</p>{nums}{more}</div>")


def _side_numbers(c: Mapping, what: str = "Drop vs standing", unit: str = "steps") -> str:
    """``Drop vs standing 6.9° (95 % CI 6.7 to 7.0), 76 steps`` from a card side (empty when
    the side was not judged); a self-test names its own reference and unit (holds, reps)."""
    if c.get("value_deg") is None:
        return ""
    ci = c.get("ci95") or [None, None]
    return (f"{_e(what)} {_f(c['value_deg'])}° (95 % CI {_f(ci[0])} to {_f(ci[1])}), "
            f"{_e(c.get('n'))} {_e(unit)}")


def _card_numbers(summary: dict, c: Mapping) -> str:
    """The number behind a card side: gait's drop vs standing per steps, or a self-test's
    drop vs standing on both feet per holds or reps."""
    test = summary.get("activity")
    if not selftests.is_self_test(test):
        return _side_numbers(c)
    one, many = refs.SELF_TEST_WORDS[test][1:]
    return _side_numbers(c, "Drop vs standing on both feet", one if c.get("n") == 1 else many)


def _banners_html(banners: Iterable[Mapping]) -> str:
    """Banners beside the verdict (``{kind, text, fix}``): why a result is inconclusive or
    uncertain and what to record to fix it."""
    def one(b: Mapping) -> str:
        fix = f"<span class='fix'>{_e(b['fix'])}</span>" if b.get("fix") else ""
        return (f"<div class='banner' role='note' data-kind='{_e(b['kind'])}'>"
                f"<b>{_e(b['text'])}</b>{fix}</div>")

    return "".join(one(b) for b in banners)


def _context_html(card: Mapping) -> str:
    """Subject, date, activity, speed and notes of the session, one line (``card.context``)."""
    ctx = dict(card["context"])
    ctx["activity"] = ACTIVITY_WORDS.get(ctx.get("activity") or "", ctx.get("activity"))
    names = (("subject", "Subject"), ("date", "Date"), ("activity", "Activity"),
             ("speed", "Speed"), ("notes", "Notes"))
    return " · ".join(f"<b>{label}</b> {_e(ctx[key])}" for key, label in names
                      if ctx.get(key) not in (None, ""))


def _summary_card_html(summary: dict, title: str) -> str:
    """The summary card, first on the page and alone on the first printed page, from
    ``summary["card"]`` (the plain-language wording is decided in `summary`)."""
    card = summary["card"]
    panels = "".join(_side_panel(s, c["status"], c["sentence"], _card_numbers(summary, c))
                     for s, c in ((s, card["sides"][s]) for s in ("L", "R")))
    steps = "".join(f"<li>{_e(x)}</li>" for x in card["next_steps"])
    return (
        f'<section class="summary-card" id="summary-card"><h1>{_e(title)}</h1>'
        f'<p class="meta context">{_context_html(card)}</p>'
        f'<h2 class="headline">{_e(card["headline"])}</h2>'
        f'<div class="verdicts">{panels}</div>' + _banners_html(card["banners"])
        + "<div class='explain'>"
        f"<div><h3>What is measured</h3><p>{_e(card['what_is_cpd'])}</p>"
        f"<h3>What it may mean</h3><p>{_e(card['what_it_may_mean'])}</p></div>"
        f"<div class='next-steps'><h3>Next steps</h3><ol>{steps}</ol></div></div>"
        f"<p class='disclaimer'>{_e(refs.DISCLAIMER)}</p></section>")


def _flags_html(summary: dict) -> str:
    """The flags with their numbers (n, CI, threshold), kinds and sides in words."""
    items = "".join(
        f'<li data-kind="{_e(f["kind"])}" data-side="{_e(f["side"])}">'
        f'<b>{_e(FLAG_WORDS.get(f["kind"], f["kind"]))}</b> '
        f'({_e(SIDE_WORDS.get(f["side"], f["side"]))}): {_e(f["message"])}</li>'
        for f in summary["flags"])
    return (f'<ul class="flags">{items}</ul>' if items
            else "<p>No flags: nothing in this session clears the thresholds.</p>")


def _when(created_utc: Any) -> str | None:
    """``2026-12-02T15:04:12.963Z`` as ``2026-12-02 15:04 UTC`` (None stays None)."""
    if not created_utc:
        return None
    text = str(created_utc)
    if len(text) >= 16 and text[10] == "T":
        return f"{text[:10]} {text[11:16]}" + (" UTC" if text.endswith("Z") else "")
    return text


def _numbers_table(summary: dict) -> str:
    rows = []

    def row(name: str, d: Mapping, nd: int = 2, unit: str = "", scale: float = 1.0) -> None:
        cells = []
        for s in ("L", "R"):
            x = {k: (v * scale if k != "n" and isinstance(v, (int, float)) else v)
                 for k, v in (d.get(s) or {}).items()}
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
    row("Side-to-side (ML) sway", summary["ml_sway"]["ml_excursion_m"], 1, " (cm)", 100.0)
    a = summary["asymmetry"]
    d = a["cpd_diff_r_minus_l_deg"]
    extra = (f"<tr><td>CPD difference R-L (deg)</td><td colspan=2>{_f(d.get('diff'), 2)} "
             f"[{_f(d.get('ci95_low'), 2)}, {_f(d.get('ci95_high'), 2)}], Welch "
             f"{_e(format_p_value(d.get('p_value')))}</td></tr>"
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
            "mean ± SD; dark bar: 95 % CI of the mean (allowing for correlated strides); red "
            "dotted line: the flag line, the lower side's mean plus the threshold. "
            f"A side is flagged when the whole CI of the difference clears {_f(thr)} deg "
            "(gaitimu default, not a clinical cut-off). No absolute CPD cut-off is applied: "
            "Bramah et al. 2018 found each extra degree of CPD raised the odds of being an "
            "injured runner by about 80 %, but their group means are not verified here.</p>")


def _cycle_caption(summary: dict, curves: dict) -> str:
    """Caption of the gait-cycle plot; a running report adds the measured obliquity range
    beside the IMU reference range for running (a walk gets no running reference)."""
    ref = ""
    measured = figs.obliquity_range_text(curves)
    if summary.get("activity") == "run" and measured:
        ref = (f" Obliquity range of the mean curves: {measured}; pelvic obliquity range in "
               "running measured with IMUs is about 7.8-9.3 deg (Perpiñá-Martínez 2023).")
    return ("<p class='small'>Mean ± SD over strides, 0-100 % from initial contact to the "
            "next initial contact of the same leg; the curve of each side is that side's "
            "hemipelvis height (up = positive), so the hump during stance is the drop of the "
            "opposite side. Dotted lines: mean toe-off. IMU frontal-plane angles carry an "
            "absolute error of about 2.7-4.5 deg against optical motion capture (Bolink "
            "2016); left/right comparisons of the same sensor are more robust than absolute "
            f"values.{ref}</p>")


def _trend_caption(summary: dict) -> str:
    """Caption of the CPD-over-time plot: which trend lines are drawn and why."""
    shown = " and ".join(refs.SIDE_NAME[s] for s in ("L", "R")
                         if figs.trend_change(summary["trend"][s]) is not None)
    drawn = (f"Dashed line: the fitted trend of the {shown} side, named by its change in "
             "degrees over the session with its 95 % CI." if shown else
             "No trend line is drawn: for both sides the 95 % CI of the change over the "
             "session includes zero.")
    return (f"<p class='small'>Each dot is one stance (long sessions are thinned for display; "
            f"statistics use every stride). {drawn} Control often fades late in a run: a "
            "rising trend is flagged when its 95 % CI excludes zero and the fitted change over "
            f"the session exceeds {_f(summary['thresholds']['trend_deg'])} deg.</p>")


def _temporal_caption(summary: dict) -> str:
    a = summary["asymmetry"]
    return (f"<p>GCT balance (left share of contact time): "
            f"{_f(a.get('gct_balance_left_pct'))} % (50 % = symmetric). Symmetry indices "
            f"100·(R-L)/mean: stance {_f(a.get('stance_symmetry_index_pct'))} %, step "
            f"{_f(a.get('step_symmetry_index_pct'))} %, sway "
            f"{_f(a.get('ml_sway_symmetry_index_pct'))} %.</p><p class='small'>Side-to-side "
            "(ML) sway: medio-lateral sacral excursion towards the stance side, in cm. More "
            "sway on one side can hint at a trunk lean over that leg (compensated "
            "Trendelenburg), which a single sacral sensor cannot see directly: a hint, not "
            "proof.</p>")


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
    from gaitimu.report.text import forward_text, heading_text

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
    """Data quality: the recording (rate, loss, gaps, mounting), then for gait the sides and
    the strides left out, for a self-test the holds or reps left out; warnings."""
    q = summary["data_quality"]
    align_txt = _alignment_text(q.get("alignment"))
    warn = "".join(f"<li>{_e(w)}</li>" for w in q.get("warnings", []) + q.get("problems", []))
    rows = (f"<tr><td>Sample rate</td><td>{_f(q.get('sample_rate_hz'), 0)} Hz</td></tr>"
            f"<tr><td>Lost samples</td><td>{_e(q.get('lost_samples'))} "
            f"({_f(q.get('loss_pct'), 2)} %)</td></tr>"
            f"<tr><td>Gaps</td><td>{q['gaps']} ({_f(q['gap_total_s'], 2)} s in total)</td></tr>"
            f"<tr><td>Mounting alignment correction</td><td>{align_txt}</td></tr>")
    if selftests.is_self_test(summary.get("activity")):
        rows += "".join(
            f"<tr><td>{_e(refs.SELF_TEST_WORDS[e['test']][2].capitalize())} not used, "
            f"{_e(SIDE_WORDS.get(e['stance_side'], 'leg unknown'))}</td><td>"
            f"{sum(e['invalid_reasons'].values())} of {e['n_rows']}"
            + "".join(f"; {_e(k)} ({v})" for k, v in e["invalid_reasons"].items())
            + "</td></tr>" for e in summary.get("self_tests") or [])
    else:
        reasons = ", ".join(f"{_e(k)}: {v}"
                            for k, v in q["strides_excluded"]["by_reason"].items())
        rows += (_sides_rows(summary)
                 + f"<tr><td>Strides excluded</td><td>{q['strides_excluded']['total']}"
                 f"{' (' + reasons + ')' if reasons else ''}</td></tr>"
                 f"<tr><td>Strides of another activity (not summarised)</td>"
                 f"<td>{q['strides_other_activity']}</td></tr>")
    return ("<div class='scroll'><table><tbody>" + rows + "</tbody></table></div>"
            + (f"<p>Warnings:</p><ul>{warn}</ul>" if warn else ""))


def _guidance_html(summary: dict) -> str:
    """Guidance for this outcome: one block per ``summary["guidance"]`` entry (``case``,
    ``title``, ``text``), in the order `summary` chose. The decision of what to advise lives
    there; this only lays it out."""
    def one(g: Mapping) -> str:
        items = "".join(f"<li>{_e(i)}</li>" for i in g.get("items") or [])
        return (f"<article class='guide' data-case='{_e(g['case'])}'>"
                f"<h3>{_e(g['title'])}</h3><p>{_e(g['text'])}</p>"
                + (f"<ul>{items}</ul>" if items else "") + "</article>")

    return "".join(one(g) for g in summary["guidance"])


def _references_html(activity: str | None) -> str:
    """The references, without those for another activity (a walk gets no running range, a
    gait report no self-test threshold, a self-test report only the self-tests' ones)."""
    shown = (refs.references_for(activity) if selftests.is_self_test(activity)
             else [r for r in refs.references_for(None) if r.get("activity") in (None, activity)])
    items = "".join(f"<li><b>{_e(r['citation'])}</b> {_e(r['finding'])}"
                    f"{' ' + _e(r['note']) if r.get('note') else ''}"
                    f" <span class='small'>[{_e(r['kind'])}]</span></li>"
                    for r in shown)
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


def clock_text(seconds: Any) -> str:
    """A duration as a clock: ``m:ss``, or ``h:mm:ss`` from one hour on."""
    if seconds is None or not math.isfinite(float(seconds)):
        return "n/a"
    total = round(float(seconds))
    h, rest = divmod(total, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _context_line(summary: dict) -> str:
    """The session in one line for the details: activity, duration, cadence, speed, turns,
    valid strides per side (subject and date are on the card)."""
    act = ACTIVITY_WORDS.get(summary.get("activity") or "", str(summary.get("activity")))
    no_side = (summary.get("sides") or {}).get("n_no_side") or 0
    parts = [f"<b>{_e(act)}</b>", f"duration {clock_text(summary.get('duration_s'))}",
             f"cadence {_f(summary.get('cadence_spm'), 0)} steps/min",
             speed_text(summary),
             *([f"{tu['n']} turn(s) ({tu['n_left']} left, {tu['n_right']} right; their "
                "steps are left out)"] if (tu := summary.get("turns") or {}).get("n") else []),
             f"{summary['strides']['L']} left + {summary['strides']['R']} right valid strides"
             + (f" ({no_side} without a side, left out)" if no_side else "")]
    return " · ".join(parts)


def _touchdown_words(n: int) -> str:
    return ("no touch-down" if n == 0 else "the foot touched down once" if n == 1
            else f"the foot touched down {n} times")


def _self_test_numbers(e: Mapping) -> str:
    """The numbers behind one leg of a self-test, one line (HTML-escaped): the drop with its
    interval and what the interval rests on, n, then hold time and touch-downs (stance) or
    depth (squat)."""
    if not e:
        return "No holds or reps on this leg."
    one, many = refs.SELF_TEST_WORDS[e["test"]][1:]
    ci = e.get("drop_ci95")
    basis = {"within_hold": ", from the sway within the hold only"}.get(e.get("ci_basis"), "")
    parts = [f"Drop {_f(e.get('drop_deg'))}° vs standing on both feet"
             + (f" (95 % interval {_f(ci[0])} to {_f(ci[1])}{basis})" if ci else ""),
             f"{e['n']} {one if e['n'] == 1 else many}"
             + (f" of {e['n_rows']}" if e["n_rows"] != e["n"] else "")]
    if e["test"] == "single-leg-stance":
        planned = e.get("hold_planned_s")
        parts.append(f"held {_f(e.get('hold_s'))} s" + (f" of {_f(planned, 0)}" if planned
                                                        else ""))
        parts.append(_touchdown_words(int(e.get("touchdowns") or 0)))
        parts += [f"worst {_f(e.get('worst_deg'))}°", f"sway {_f(e.get('sway_ml_deg'))}°",
                  f"steady after {_f(e.get('stabilise_s'))} s"]
    else:
        depth = e.get("depth_m")
        parts.append(f"depth {_f(depth * 100 if depth is not None else None, 0)} cm")
    return _e(" · ".join(parts))


def _self_test_table(tests: pd.DataFrame, test: str) -> str:
    """One row per hold or rep of the test (used or not, and why not)."""
    rows = tests[tests["test"] == test]
    stance = test == "single-leg-stance"
    head = (["Leg", "Hold", "Lift-off", "Held (s)", "Touch-downs", "Drop (deg)", "Worst (deg)",
             "Sway (deg)", "Steady after (s)", "Used"] if stance else
            ["Leg", "Rep", "Start", "Drop at bottom (deg)", "Depth (cm)", "Down / up (s)",
             "Used"])
    body = []
    for _, r in rows.iterrows():
        leg = SIDE_WORDS.get(r["stance_side"], "unknown")
        used = "yes" if r["valid"] else f"no: {r['reason'] or 'not usable'}"
        index = r.get("index", "")
        cells = ([leg, index, clock_text(r["start_s"]), _f(r["hold_s"]),
                  int(np.nan_to_num(r["touchdowns"])), _f(r["drop_mean_deg"]),
                  _f(r["drop_worst_deg"]), _f(r["sway_ml_deg"], 2), _f(r["stabilise_s"]),
                  used] if stance else
                 [leg, index, clock_text(r["start_s"]), _f(r["drop_bottom_deg"]),
                  _f(r["depth_m"] * 100, 0),
                  f"{_f(r.get('down_s'))} / {_f(r.get('up_s'))}", used])
        body.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return ("<div class='scroll'><table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>")


def _self_test_html(summary: dict, tests: pd.DataFrame | None,
                    signals: pd.DataFrame | None) -> tuple[str, tuple[str, Any]]:
    """The self-test section of a self-test session: both legs side by side (verdict with
    how sure, the numbers, the message with n, interval and the threshold's source), the drop
    per leg over the hold or per rep, the table of holds or reps, and what one sacral sensor
    cannot see. Returns the HTML and its figure."""
    test = str(summary["activity"])
    table = selftests.tests_table(tests)
    entries = {e["stance_side"]: e for e in summary["self_tests"] if e["test"] == test}
    card = summary["card"]["sides"]
    panels = "".join(_side_panel(s, card[s]["status"], card[s]["sentence"],
                                 _self_test_numbers(entries.get(s) or {}),
                                 (entries.get(s) or {}).get("message", ""))
                     for s in ("L", "R"))
    unknown = entries.get("")
    fig = ("fig-selftest", figs.self_test_drop(table, signals, summary))
    what = ("the drop over each hold against the time since the foot lifted (means of "
            f"{figs.HOLD_BIN_S:g} s), dashed: each leg's mean over the steady part of its "
            "holds; grey: early touch-downs" if test == "single-leg-stance" else
            "the drop at the bottom of each rep (open circles: reps not used), dashed: each "
            "leg's mean")
    thr = summary["thresholds"].get("self_test_deg")
    html_text = (
        f"<h2>{_e(ACTIVITY_WORDS[test])}</h2>"
        f"<p class='meta'>The drop of the free side of the pelvis while "
        f"{'standing' if test == 'single-leg-stance' else 'squatting'} on each leg, relative "
        "to standing on both feet just before.</p>"
        f"<div class='verdicts selftest'>{panels}</div>"
        + (f"<p class='small'>{_e(unknown['message'])}</p>" if unknown else "")
        + figure_div(*fig)
        + f"<p class='small'>Left leg blue, right leg orange: {what}. Red dotted line: the "
        f"flag line, the lower leg's mean plus the {_f(thr)}-degree threshold (our choice, "
        "not a clinical cut-off: the gait threshold, as no published one exists for this "
        "test). A leg is flagged when the whole 95 % interval of the difference between the "
        "legs clears it.</p>"
        + _self_test_table(table, test)
        + "<h3>What one sensor on the sacrum cannot see</h3><p>Check these in a mirror or "
        "have someone watch while you do the test:</p><ul class='compensations'>"
        + "".join(f"<li>{_e(c)}</li>" for c in refs.COMPENSATIONS) + "</ul>")
    return html_text, fig


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


def _self_test_change(first: dict, later: dict) -> dict:
    """Per leg, the self-test drop of ``later`` minus that of ``first`` (same test), with a
    Welch 95 % CI on the statistics each session's interval rests on."""
    test = later["activity"]
    out = {}
    for side in ("L", "R"):
        a, b = (selftests.entry_stats(selftests.find_entry(x, test, side)) for x in (first, later))
        out[side] = welch_diff(a, b).as_dict()
    return out


def changes_from_first(summaries: list[dict]) -> list[dict]:
    """Per session and side, the change from the first session OF THE SAME KIND (gait: CPD,
    `change_from_first`; a self-test: the drop of that test, `_self_test_change`)."""
    firsts: dict[str, dict] = {}
    out = []
    for s in summaries:
        kind = selftests.session_kind(s)
        first = firsts.setdefault(kind, s)
        out.append(_self_test_change(first, s) if kind != "gait"
                   else change_from_first(first, s))
    return out


def _progress_cells(s: dict, c: dict, side: str, first: bool) -> str:
    """A progress row's cell of one side: gait CPD, or the self-test drop on that leg, each
    with its 95 % CI and (after the first of its kind) the change."""
    chg = ("" if first else
           f"<br><span class='small'>change {_f(c[side].get('diff'), 1)} "
           f"[{_f(c[side].get('ci95_low'), 1)}, {_f(c[side].get('ci95_high'), 1)}]</span>")
    if selftests.session_kind(s) == "gait":
        x = s["cpd_deg"][side]
        return (f"<td>{_f(x.get('mean'))} [{_f(x.get('ci95_low'))}, {_f(x.get('ci95_high'))}]"
                f"{chg}</td>")
    e = selftests.find_entry(s, s["activity"], side)
    ci = e.get("drop_ci95") or [None, None]
    unit = refs.SELF_TEST_WORDS[s["activity"]][2 if e.get("n") != 1 else 1]
    return (f"<td>{_f(e.get('drop_deg'))} [{_f(ci[0])}, {_f(ci[1])}] "
            f"<span class='small'>{e.get('n', 0)} {_e(unit)}</span>{chg}</td>")


def _progress_verdicts(s: dict) -> str:
    if selftests.session_kind(s) == "gait":
        return " / ".join(STATUS_WORDS.get(s["verdict"][x]["status"], "") for x in ("L", "R"))
    return " / ".join(STATUS_WORDS.get(selftests.find_entry(s, s["activity"], x).get("flag"), "n/a")
                      for x in ("L", "R"))


def _progress_html(summaries: list[dict]) -> tuple[str, tuple[str, Any]]:
    """The progress section of several sessions (table and caption) and its figure: gait
    sessions and self-test sessions of one subject in date order, each compared with the
    first session of its own kind."""
    labels = [_label(s, i) for i, s in enumerate(summaries)]
    changes = changes_from_first(summaries)
    seen: set[str] = set()
    rows = []
    for lab, s, c in zip(labels, summaries, changes, strict=True):
        kind = selftests.session_kind(s)
        first = kind not in seen
        seen.add(kind)
        rows.append(
            f"<tr data-kind='{_e(kind)}'><td>{_e(lab)}</td>"
            f"<td>{_e(s['session'].get('subject') or 'not recorded')}</td>"
            f"<td>{_e(ACTIVITY_WORDS.get(s.get('activity') or '', s.get('activity')))}</td>"
            f"{_progress_cells(s, c, 'L', first)}{_progress_cells(s, c, 'R', first)}"
            f"<td>{_e(_progress_verdicts(s))}</td></tr>")
    fig = ("fig-progress", figs.progress(summaries, labels))
    tests = seen - {"gait"}
    test_note = (
        " Self-test rows: the drop of the free side standing (or squatting) on that leg, "
        "relative to standing on both feet, with its 95 % interval (one hold per leg: from "
        "the sway within the hold, a lower bound) and the number of holds or reps; in the "
        "plot squares (stance test) or triangles (squats), dashed. Gait and self-test drops "
        "are different measures: each is compared with the first session of its own kind, "
        "and both use the same 2-degree left/right threshold." if tests else "")
    text = (
        "<h2>Progress across sessions</h2>" + figure_div(*fig)
        + "<div class='scroll'><table><thead><tr><th>Session</th><th>Subject</th>"
        "<th>Activity</th><th>Left CPD [95 % CI]</th><th>Right CPD [95 % CI]</th>"
        f"<th>Verdict left / right</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</div><p class='small'>Change: CPD of that side minus the first session, with a "
        "Welch 95 % CI (deg). Plot (sessions numbered as in the table): top, CPD per stance "
        "side, mean with 95 % CI; bottom, right minus left with its 95 % CI, red dotted "
        "lines at ± the asymmetry threshold. Sessions can differ in speed, shoes and sensor "
        f"placement: compare sessions of the same activity and set-up.{test_note}</p>")
    return text, fig


def _gait_details(summary: dict, strides: pd.DataFrame, signals: pd.DataFrame | None
                  ) -> tuple[list[str], list[tuple[str, Any]]]:
    """The details of a gait session (numbers, CPD per side, gait cycle, CPD during the
    session, temporal symmetry) and their figures."""
    curves, pct = figs.cycle_curves(strides, signals)
    figures = [("fig-cpd", figs.cpd_distribution(strides, summary)),
               ("fig-cycle", figs.gait_cycle(curves, pct)),
               ("fig-trend", figs.cpd_trend(strides, summary)),
               ("fig-temporal", figs.temporal(summary))]
    fig = dict(figures)
    detail = [
        "<h2>The numbers</h2>", f"<p class='meta'>{_context_line(summary)}</p>",
        _flags_html(summary),
        "<h3>CPD per side</h3>", figure_div("fig-cpd", fig["fig-cpd"]),
        _cpd_caption(summary), _numbers_table(summary),
        "<h2>Pelvic obliquity over the gait cycle</h2>",
        figure_div("fig-cycle", fig["fig-cycle"]), _cycle_caption(summary, curves),
        "<h2>CPD during the session</h2>", figure_div("fig-trend", fig["fig-trend"]),
        _trend_caption(summary),
        "<h2>Temporal symmetry</h2>", figure_div("fig-temporal", fig["fig-temporal"]),
        _temporal_caption(summary),
    ]
    return detail, figures


def render_html(results: Sequence[tuple[Any, ...]],
                *, title: str = "gaitimu pelvic control report") -> str:
    """HTML text of the report for ``(summary, strides, signals[, tests])`` tuples (oldest
    first; ``tests`` the self-tests table, docs/self_tests.md).

    The newest session is shown in full: its summary card first, then (with several
    sessions) the progress section, then guidance, then the details: a gait session's
    numbers and plots, or a self-test session's section (`_self_test_html`). Figure divs
    carry ``data-figure`` ids (tests count them); the figures and plotly.js travel packed
    (`gaitimu.report.assets`) and the page's script draws them.
    """
    if not results:
        raise BadInputError("no session to report on")
    summary, strides, signals, *rest = results[-1]
    if selftests.is_self_test(summary.get("activity")):
        section, fig = _self_test_html(summary, rest[0] if rest else None, signals)
        detail, figures = [section], [fig]
        method = summary["method"].get("self_tests", "")
    else:
        detail, figures = _gait_details(summary, strides, signals)
        method = (f"{summary['method']['ci']} {summary['method']['asymmetry']} Decision: "
                  f"{summary['method']['decision']}")
    progress = ""
    if len(results) > 1:
        progress, progress_fig = _progress_html([r[0] for r in results])
        figures.insert(0, progress_fig)
    detail += [
        "<h2>Data quality</h2>", _quality_html(summary),
        "<h2>References and thresholds</h2>", _references_html(summary.get("activity")),
        f"<p class='small'>Method: {_e(method)}</p>",
    ]
    body = (
        "<main>" + _summary_card_html(summary, title)
        + "<noscript><p class='disclaimer'>The plots need JavaScript; every number is also "
        "in the text and tables.</p></noscript>"
        + progress + "<h2>What to do</h2>" + _guidance_html(summary) + "".join(detail)
        + f"<footer class='disclaimer'>{_e(refs.DISCLAIMER)} Generated by gaitimu "
        f"{_e(summary['software_version'])} at {_e(_when(summary['generated_utc']))}.</footer>"
        "</main>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{assets.CSS}</style></head><body>{body}"
            "<script type='text/plain' id='gaitimu-plotly'>"
            f"{assets.packed_plotly()}</script>"
            "<script type='text/plain' id='gaitimu-figures'>"
            f"{assets.pack(figures_json(figures))}</script>"
            f"<script>{assets.boot_script()}</script></body></html>")


def check_one_subject(named_metas: Sequence[tuple[str, Mapping]]) -> None:
    """Refuse a progress report over different subjects: it follows one person over time, and
    merging two people's sessions would show a "change" that is only the difference between
    them. A session without a subject is taken as anyone's.

    Parameters
    ----------
    named_metas
        ``(name, meta)`` per session, in the order given (the name is how the error line
        refers to the session, e.g. its path).

    Raises
    ------
    BadInputError
        Naming the first two sessions whose subjects differ.
    """
    known = [(name, str(meta.get("subject")).strip()) for name, meta in named_metas
             if str(meta.get("subject") or "").strip()]
    for name, subject in known[1:]:
        if subject != known[0][1]:
            raise BadInputError(
                f"{known[0][0]} (subject {quote(known[0][1])}) and {name} (subject "
                f"{quote(subject)}) are different subjects: a progress report follows one "
                "person; report each subject separately")


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) via a temporary file beside ``path``, fsync, rename; the temporary
    file is removed on failure, which is one line (`BadInputError`)."""
    from gaitimu.sessions.files import os_error_text, write_atomic

    try:
        write_atomic(Path(path), text.encode("utf-8"))
    except OSError as e:
        raise BadInputError(os_error_text(path, e)) from e


def check_report_outputs(out_html: str | os.PathLike, out_json: str | os.PathLike | None,
                         out_csv: str | os.PathLike | None, *, inputs: Sequence[Any] = (),
                         force: bool = True) -> dict[Any, Path]:
    """Check the report's outputs (`gaitimu.sessions.files.check_outputs`): ``out_csv``
    ``None`` means `default_csv_path` of the HTML, checked the same way."""
    from gaitimu.sessions.files import check_outputs

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
        Optional summary path: the newest session's summary (docs/contracts.md#summary); with
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
    metas = [session_meta(session) for session, _ in items_list]
    check_one_subject([(m.get("path") or f"session {i + 1}", m) for i, m in enumerate(metas)])
    for i, ((_, result), meta) in enumerate(zip(items_list, metas, strict=True)):
        tests = getattr(result, "tests", None)
        summary = summarize(result.strides, meta, getattr(result, "info", {}) or {},
                            tests=tests, **thresholds)
        results.append((summary, result.strides, getattr(result, "signals", None), tests))
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
        summaries = [r[0] for r in results]
        out["progress"] = [
            {"label": _label(s, i), "activity": s.get("activity"),
             "kind": selftests.session_kind(s),
             "cpd_deg": s["cpd_deg"], "asymmetry": s["asymmetry"]["cpd_diff_r_minus_l_deg"],
             "verdict": {k: v["status"] for k, v in s["verdict"].items()},
             "self_tests": [{k: e[k] for k in selftests.PROGRESS_KEYS}
                            for e in s["self_tests"]],
             "change_from_first_deg": chg}
            for i, (s, chg) in enumerate(zip(summaries, changes_from_first(summaries),
                                             strict=True))]
    if out_json is not None:
        _atomic_write(Path(out_json), json.dumps(out, indent=2, allow_nan=False) + "\n")
    csv_path = Path(out_csv) if out_csv is not None else default_csv_path(out_html)
    table = pd.concat(frames, ignore_index=True)
    if len(frames) == 1:
        table = table.drop(columns="session")
    _atomic_write(csv_path, table.to_csv(index=False, float_format="%.6g"))
    log.info("report written: %s (csv %s, json %s)", out_html, csv_path, out_json)
    return out
