"""Plotly figures of the asymmetry report. Each builder takes tables/summaries and returns a
`plotly.graph_objects.Figure`; no I/O here.

Look: one neutral colour per side everywhere (`gaitimu.consts.SIDE_COLORS`, left blue, right
orange); red (`FLAG_COLOR`) only marks the flag threshold, never a side. Every figure is legible
at 390 px phone width: a figure has either a legend (above the plot, so it can never sit on an
axis title) or panel titles, never both; time axes read mm:ss (h:mm:ss for long sessions); long
labels live in the HTML captions, which wrap, not in the plot.

Long sessions are kept small: box plots are drawn from precomputed quartiles (not from every
stride), the strip of individual strides and the trend scatter are decimated to at most
`MAX_POINTS_PER_SIDE` points per side (evenly spaced in time), the rolling median to
`MAX_LINE_POINTS`, and the gait-cycle curves are 101-point means.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gaitimu.consts import FLAG_COLOR, SIDE_BANDS, SIDE_COLORS
from gaitimu.report.selftests import VALUE_COLUMN, find_entry
from gaitimu.report.summary import valid_flags

#: Marks that are neither a side nor a flag (mean, CI of the mean, zero line).
NEUTRAL = "#1b1f24"
SIDE_LABEL = {"L": "Left stance", "R": "Right stance"}
SIDE_WORD = {"L": "Left", "R": "Right"}
MAX_POINTS_PER_SIDE = 1000
#: Points per side of the rolling-median line (a smooth line needs fewer than the dots).
MAX_LINE_POINTS = 400
CYCLE_POINTS = 101
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}
#: Legend above the plot area, left-aligned: plotly grows the top margin for it, so on a phone
#: it wraps upwards instead of running into the x-axis title or tick labels below the plot.
LEGEND_ON_TOP = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": 1.02,
                 "yanchor": "bottom", "font": {"size": 12}}


def _layout(fig: go.Figure, title: str, height: int = 420, *, legend: bool = True) -> go.Figure:
    """Common look. The title is kept in ``layout.meta`` (the HTML section heading shows it;
    a plotly title would not fit on a phone). ``legend=False`` for figures whose panels carry
    titles: a legend on top would collide with them."""
    fig.update_layout(
        meta={"title": title}, height=height, margin={"l": 55, "r": 12, "t": 12, "b": 45},
        font=FONT, template="plotly_white", showlegend=legend, legend=LEGEND_ON_TOP,
    )
    # short outside ticks keep the first x label and the lowest y label apart at the corner
    ticks = {"automargin": True, "ticks": "outside", "ticklen": 5, "tickcolor": "#c8ccd0"}
    fig.update_xaxes(**ticks)
    fig.update_yaxes(**ticks)
    return fig


def _thin(idx: np.ndarray, k: int = MAX_POINTS_PER_SIDE) -> np.ndarray:
    """At most k indices, evenly spread (keeps the time structure of a long session)."""
    if idx.size <= k:
        return idx
    return idx[np.linspace(0, idx.size - 1, k).round().astype(int)]


#: Sessions from this long on get an ``h:mm:ss`` clock: plotly pads the axis beyond the last
#: stride, so a 59-minute session's axis already reaches the hour (``mm:ss`` would read 00:00).
HOUR_CLOCK_FROM_S = 3000.0


def clock_format(span_s: float) -> str:
    """d3 time format of a session clock: ``mm:ss``, or ``h:mm:ss`` for long sessions."""
    return "%-H:%M:%S" if span_s >= HOUR_CLOCK_FROM_S else "%M:%S"


def _clock_values(t_s: np.ndarray) -> list[str]:
    """Session times (s) as dates on 1970-01-01, the x values of a `_session_clock` axis.
    Strings, not numbers: plotly reads a number such as 4996 on a date axis as a year."""
    ms = np.round(np.asarray(t_s, float) * 1000.0).astype("int64")
    return np.datetime_as_string(np.datetime64(0, "ms") + ms.astype("timedelta64[ms]")).tolist()


def _session_clock(fig: go.Figure, span_s: float) -> None:
    """Make the x axis a session clock (x values from `_clock_values`): ticks fall on whole
    seconds/minutes and read ``mm:ss``/``h:mm:ss`` instead of decimal minutes."""
    fmt = clock_format(span_s)
    words = "h:mm:ss" if fmt.startswith("%-H") else "mm:ss"
    fig.update_xaxes(type="date", tickformat=fmt, hoverformat=fmt,
                     title_text=f"Time in session ({words})")


def _valid(strides: pd.DataFrame) -> pd.DataFrame:
    v = strides[valid_flags(strides["valid"])] if len(strides) else strides
    return v.sort_values("ic_s", kind="stable")


def cpd_distribution(strides: pd.DataFrame, summary: dict) -> go.Figure:
    """CPD per side: box (quartiles), strides as a strip, mean +- SD and 95 % CI markers.

    One panel per CPD reference (initial contact; standing neutral when available), named by
    its x-axis title (panel titles on top would collide with the legend). The flag threshold
    (lower side's mean + the asymmetry threshold) is a red dotted line, in the legend.
    """
    v = _valid(strides)
    panels = [("cpd_ic_deg", "vs initial contact")]
    if "cpd_standing_deg" in v and np.isfinite(
            pd.to_numeric(v["cpd_standing_deg"], errors="coerce")).any():
        panels.append(("cpd_standing_deg", "vs standing"))
    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.14)
    for j, (col, name) in enumerate(panels, start=1):
        for s in ("L", "R"):
            y = pd.to_numeric(v.loc[v["side"] == s, col], errors="coerce").to_numpy(float)
            y = y[np.isfinite(y)]
            if y.size == 0:
                continue
            q1, med, q3 = np.percentile(y, [25, 50, 75])
            iqr = q3 - q1
            lo = float(y[y >= q1 - 1.5 * iqr].min())
            hi = float(y[y <= q3 + 1.5 * iqr].max())
            x = SIDE_WORD[s]
            fig.add_trace(go.Box(
                x=[x], q1=[q1], median=[med], q3=[q3], lowerfence=[lo], upperfence=[hi],
                name=x, marker_color=SIDE_COLORS[s], showlegend=False, boxpoints=False,
                hoverinfo="y", width=0.5), row=1, col=j)
            pts = y[_thin(np.arange(y.size))]
            fig.add_trace(go.Scatter(
                x=[x] * pts.size, y=np.round(pts, 2), mode="markers",
                marker={"color": SIDE_COLORS[s], "size": 4, "opacity": 0.35},
                showlegend=False, hoverinfo="y", name=f"{x} strides",
            ), row=1, col=j)
            st = summary["cpd_ic_deg" if col == "cpd_ic_deg" else "cpd_standing_deg"][s]
            if st.get("mean") is None:
                continue
            sd = st.get("sd") or 0.0
            fig.add_trace(go.Scatter(
                x=[x], y=[st["mean"]], mode="markers",
                marker={"symbol": "diamond", "size": 11, "color": NEUTRAL},
                error_y={"type": "data", "array": [sd], "color": NEUTRAL, "thickness": 1.5},
                name="mean ± SD", legendgroup="mean", showlegend=(j == 1 and s == "L"),
                hovertemplate=f"mean %{{y:.2f}} ± {sd:.2f} deg<extra></extra>",
            ), row=1, col=j)
            if st.get("ci95_low") is not None:
                fig.add_trace(go.Scatter(
                    x=[x, x], y=[st["ci95_low"], st["ci95_high"]], mode="lines",
                    line={"color": NEUTRAL, "width": 7},
                    name="95 % CI of the mean", legendgroup="ci",
                    showlegend=(j == 1 and s == "L"),
                    hovertemplate="95 % CI %{y:.2f} deg<extra></extra>",
                ), row=1, col=j)
        fig.update_xaxes(title_text=name, row=1, col=j)
        fig.update_yaxes(title_text="CPD (deg)" if j == 1 else None, row=1, col=j)
    # flag line on the panel the flags use: the lower side's mean + the asymmetry threshold
    thr = summary.get("thresholds", {}).get("asymmetry_deg")
    means = [summary["cpd_deg"][s].get("mean") for s in ("L", "R")]
    col = 1 + (len(panels) == 2 and summary.get("cpd_reference") == "standing")
    if thr is not None and all(m is not None for m in means):
        fig.add_hline(y=min(means) + thr, row=1, col=col,
                      line={"dash": "dot", "color": FLAG_COLOR, "width": 1.5},
                      showlegend=True, name=f"flag line: lower side + {thr:g}°")
    ref = "standing neutral" if summary.get("cpd_reference") == "standing" else "initial contact"
    _layout(fig, f"CPD per stance side (flags use: {ref})", 440)
    return fig


def _f(x: float | None, nd: int = 1) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{round(x, nd) + 0.0:.{nd}f}"


def cycle_curves(strides: pd.DataFrame, signals: pd.DataFrame | None) -> tuple[dict, np.ndarray]:
    """Time-normalised pelvic obliquity per stance side, 0-100 % from IC to next IC.

    The curve of side S is the *ipsilateral hemipelvis height* in degrees (obliquity for L,
    minus obliquity for R), so in both curves a contralateral drop during stance is a
    positive hump, as gait labs plot per-side pelvic obliquity.

    Returns
    -------
    curves, pct
        ``curves[side] = {"mean", "sd", "n", "toe_off_pct"}`` (arrays of `CYCLE_POINTS`),
        ``pct`` the 0-100 % axis.
    """
    pct = np.linspace(0.0, 100.0, CYCLE_POINTS)
    curves: dict[str, dict] = {}
    if signals is None or len(signals) == 0 or "obliquity_deg" not in signals:
        return curves, pct
    t = signals["t_s"].to_numpy(float)
    o = signals["obliquity_deg"].to_numpy(float)
    ok = np.isfinite(t) & np.isfinite(o)
    t, o = t[ok], o[ok]
    v = _valid(strides)
    for s, sign in (("L", 1.0), ("R", -1.0)):
        d = v[v["side"] == s]
        ic = pd.to_numeric(d["ic_s"], errors="coerce").to_numpy(float)
        nxt = ic + _stride_s(d, strides, s)
        m = np.isfinite(ic) & np.isfinite(nxt) & (nxt > ic) & (ic >= t[0]) & (nxt <= t[-1])
        if m.sum() < 2:
            continue
        ic, nxt = ic[m], nxt[m]
        q = ic[:, None] + (nxt - ic)[:, None] * (pct[None, :] / 100.0)
        y = sign * np.interp(q.ravel(), t, o).reshape(q.shape)
        stance = pd.to_numeric(d["stance_s"], errors="coerce").to_numpy(float)[m] \
            if "stance_s" in d else np.full(m.sum(), np.nan)
        to_pct = 100.0 * stance / (nxt - ic)
        curves[s] = {"mean": y.mean(axis=0), "sd": y.std(axis=0, ddof=1), "n": int(m.sum()),
                     "toe_off_pct": float(np.nanmean(to_pct)) if np.isfinite(to_pct).any()
                     else math.nan}
    return curves, pct


def _stride_s(d: pd.DataFrame, strides: pd.DataFrame, side: str) -> np.ndarray:
    """Stride time of each stance of ``side`` (IC to the next IC of the SAME leg).

    Uses ``stride_s`` where finite; otherwise the gap to the next same-side IC in the table,
    if it is plausible (<= 1.5 x the median stride). ``next_ic_s`` is not used: it is the next
    IC of either foot (one step, not one stride).
    """
    ic = pd.to_numeric(d["ic_s"], errors="coerce").to_numpy(float)
    stride = (pd.to_numeric(d["stride_s"], errors="coerce").to_numpy(float)
              if "stride_s" in d else np.full(ic.size, np.nan))
    same = np.sort(pd.to_numeric(strides.loc[strides["side"] == side, "ic_s"],
                                 errors="coerce").dropna().to_numpy(float))
    if same.size >= 2:
        j = np.searchsorted(same, ic, side="right")
        gap = np.where(j < same.size, same[np.minimum(j, same.size - 1)] - ic, np.nan)
        med = np.nanmedian(stride) if np.isfinite(stride).any() else np.nanmedian(np.diff(same))
        gap[gap > 1.5 * med] = np.nan
        stride = np.where(np.isfinite(stride), stride, gap)
    return stride


def obliquity_range_text(curves: dict) -> str:
    """Peak-to-peak range of each side's mean gait-cycle curve (`cycle_curves`), e.g.
    ``"L 10.9°, R 10.8°"`` (empty without curves); a running report sets it beside the IMU
    reference range."""
    return ", ".join(f"{s} {np.ptp(c['mean']):.1f}°" for s, c in curves.items())


def gait_cycle(curves: dict, pct: np.ndarray) -> go.Figure:
    """Mean +- SD of the ipsilateral pelvic obliquity over the gait cycle, per stance side
    (``cycle_curves``), with each side's mean toe-off as a dotted line in the legend (a text
    label on the plot collides with the other side's when both toe-offs fall together)."""
    fig = go.Figure()
    top = max((float(np.max(c["mean"] + c["sd"])) for c in curves.values()), default=1.0)
    bottom = min((float(np.min(c["mean"] - c["sd"])) for c in curves.values()), default=0.0)
    for s, c in curves.items():
        up, lo = c["mean"] + c["sd"], c["mean"] - c["sd"]
        fig.add_trace(go.Scatter(
            x=np.r_[pct, pct[::-1]], y=np.round(np.r_[up, lo[::-1]], 3), fill="toself",
            fillcolor=SIDE_BANDS[s], line={"width": 0}, hoverinfo="skip", legendgroup=s,
            name=f"{SIDE_LABEL[s]} ± SD", showlegend=False))
        fig.add_trace(go.Scatter(
            x=pct, y=np.round(c["mean"], 3), line={"color": SIDE_COLORS[s], "width": 2.5},
            name=f"{SIDE_WORD[s]} (n={c['n']})", legendgroup=s,
            hovertemplate="%{x:.0f} %%: %{y:.2f} deg<extra></extra>"))
        if math.isfinite(c["toe_off_pct"]):
            fig.add_trace(go.Scatter(
                x=[c["toe_off_pct"]] * 2, y=[bottom, top], mode="lines",
                line={"color": SIDE_COLORS[s], "dash": "dot", "width": 1.5}, legendgroup=s,
                name=f"{SIDE_WORD[s]} toe-off", hovertemplate=f"{SIDE_WORD[s]} toe-off "
                "%{x:.0f} %%<extra></extra>"))
    if not curves:
        fig.add_annotation(text="No obliquity signal for the gait-cycle view",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(title_text="% of stride (IC to next IC)", range=[0, 100])
    fig.update_yaxes(title_text="Pelvis up, stance side (deg)")
    return _layout(fig, "Pelvic obliquity over the gait cycle, per stance side")


def trend_change(tr: dict) -> tuple[float, float, float] | None:
    """(change, CI low, CI high) of one side's fitted trend over the session in degrees, or
    None when the summary does not show it (its CI includes zero: ``shown`` false)."""
    if not tr.get("shown"):
        return None
    return tr["change_over_session_deg"], tr["change_ci95_low"], tr["change_ci95_high"]


def cpd_trend(strides: pd.DataFrame, summary: dict) -> go.Figure:
    """CPD of every stride against the session clock, a rolling median, and the fitted linear
    trend when the summary shows it (its 95 % CI excludes zero), named by its change in
    degrees over the session."""
    v = _valid(strides)
    col = "cpd_standing_deg" if summary.get("cpd_reference") == "standing" else "cpd_ic_deg"
    fig = go.Figure()
    span_s = 0.0
    for s in ("L", "R"):
        d = v[v["side"] == s]
        t = pd.to_numeric(d["ic_s"], errors="coerce").to_numpy(float)
        y = pd.to_numeric(d[col], errors="coerce").to_numpy(float)
        ok = np.isfinite(t) & np.isfinite(y)
        t, y = t[ok], y[ok]
        if t.size == 0:
            continue
        span_s = max(span_s, float(t.max()))
        keep = _thin(np.arange(t.size))
        clock = _clock_values(t[keep])
        fig.add_trace(go.Scatter(
            x=clock, y=np.round(y[keep], 2), mode="markers", legendgroup=s,
            marker={"color": SIDE_COLORS[s], "size": 4, "opacity": 0.3},
            name=f"{SIDE_WORD[s]} strides", hovertemplate="%{x}: %{y:.1f} deg<extra></extra>"))
        w = max(5, min(51, t.size // 10) | 1)
        roll = pd.Series(y).rolling(w, center=True, min_periods=max(3, w // 2)).median()
        line = _thin(np.arange(t.size), MAX_LINE_POINTS)
        fig.add_trace(go.Scatter(
            x=_clock_values(t[line]), y=np.round(roll.to_numpy()[line], 2), mode="lines",
            legendgroup=s,
            line={"color": SIDE_COLORS[s], "width": 2}, name=f"{SIDE_WORD[s]} median of {w}",
            hovertemplate="%{x}: median %{y:.1f} deg<extra></extra>"))
        change = trend_change(summary.get("trend", {}).get(s, {}))
        if change is not None:
            ch, lo, hi = change
            xs = np.array([t.min(), t.max()])
            ys = float(np.mean(y)) + ch * ((xs - xs.mean()) / (xs[1] - xs[0] or 1.0))
            fig.add_trace(go.Scatter(
                x=_clock_values(xs), y=np.round(ys, 3), mode="lines",
                line={"color": SIDE_COLORS[s], "dash": "dash", "width": 2}, legendgroup=s,
                name=f"{SIDE_WORD[s]} trend {ch:+.1f}° ({_f(lo)} to {_f(hi)})"))
    _session_clock(fig, span_s)
    fig.update_yaxes(title_text="CPD (deg)")
    return _layout(fig, "CPD over the session (fatigue check)")


def temporal(summary: dict) -> go.Figure:
    """Temporal symmetry: stance, step, flight time and ML sway (cm) per side, mean +- SD.

    One row per measure, left and right as horizontal bars with the value written in the bar:
    readable at any width (four columns of vertical bars crowd their titles together on a
    phone). No legend: the bars are labelled Left/Right."""
    items = [("stance_s", "Stance (contact) time, s", 1.0, 3),
             ("step_s", "Step time, s", 1.0, 3)]
    fl = summary["temporal"].get("flight_s", {})
    if any((fl.get(s) or {}).get("mean") is not None for s in ("L", "R")):
        items.append(("flight_s", "Flight time, s", 1.0, 3))
    items.append(("ml_excursion_m", "Side-to-side sway, cm", 100.0, 1))
    fig = make_subplots(rows=len(items), cols=1, subplot_titles=[i[1] for i in items],
                        vertical_spacing=0.5 / len(items))
    for j, (key, _, scale, nd) in enumerate(items, start=1):
        src = summary["ml_sway"]["ml_excursion_m"] if key == "ml_excursion_m" \
            else summary["temporal"][key]
        top = 0.0
        for s in ("L", "R"):
            st = src.get(s) or {}
            if st.get("mean") is None:
                continue
            m, sd = st["mean"] * scale, (st.get("sd") or 0.0) * scale
            top = max(top, m + sd)
            fig.add_trace(go.Bar(
                y=[SIDE_WORD[s]], x=[m], orientation="h", marker_color=SIDE_COLORS[s],
                showlegend=False, error_x={"type": "data", "array": [sd], "color": NEUTRAL},
                text=[f"{m:.{nd}f} ± {sd:.{nd}f}"], textposition="inside",
                insidetextanchor="start", textfont={"color": "white" if s == "L" else NEUTRAL},
                hovertemplate=f"{SIDE_LABEL[s]}: %{{x:.{nd}f}} ± {sd:.{nd}f} "
                f"(n={st['n']})<extra></extra>"), row=j, col=1)
        fig.update_xaxes(range=[0, 1.08 * top or 1.0], showticklabels=False, row=j, col=1)
        fig.update_yaxes(autorange="reversed", row=j, col=1)  # Left above Right
    for ann in fig.layout.annotations:  # panel titles left-aligned above their row
        ann.update(x=0.0, xanchor="left", font={"size": 13})
    _layout(fig, "Temporal symmetry and sway (mean ± SD per stance side)",
            95 * len(items) + 40, legend=False)
    fig.update_layout(margin={"l": 55, "r": 12, "t": 24, "b": 10})
    return fig


def _ci_error(mean: list, lo: list, hi: list) -> dict:
    """Asymmetric plotly error bars from means and CI bounds (None -> no bar)."""
    return {"type": "data", "symmetric": False,
            "array": [(h - m) if h is not None and m is not None else 0
                      for h, m in zip(hi, mean, strict=True)],
            "arrayminus": [(m - lw) if lw is not None and m is not None else 0
                           for lw, m in zip(lo, mean, strict=True)]}


#: Self-test series in the progress view: (short name, marker symbol, line dash).
SELF_TEST_MARKS = {"single-leg-stance": ("stance", "square", "dash"),
                   "single-leg-squat": ("squat", "triangle-up", "dot")}


def _self_test_progress(fig: go.Figure, summaries: list[dict], labels: list[str]) -> None:
    """The self-test sessions of a progress view: per test the drop standing on each leg
    (top, side colours, squares or triangles) and right minus left (bottom, neutral)."""
    for test, (short, symbol, dash) in SELF_TEST_MARKS.items():
        idx = [i for i, x in enumerate(summaries) if x.get("activity") == test]
        if not idx:
            continue
        x = [labels[i] for i in idx]
        for s in ("L", "R"):
            es = [find_entry(summaries[i], test, s) for i in idx]
            m = [e.get("drop_deg") for e in es]
            ci = [e.get("drop_ci95") or [None, None] for e in es]
            fig.add_trace(go.Scatter(
                x=x, y=m, mode="lines+markers", name=f"{SIDE_WORD[s]}, {short}",
                line={"color": SIDE_COLORS[s], "dash": dash},
                marker={"color": SIDE_COLORS[s], "symbol": symbol, "size": 9},
                error_y=_ci_error(m, [c[0] for c in ci], [c[1] for c in ci])), row=1, col=1)
        es = [find_entry(summaries[i], test, "R") for i in idx]
        diff = [e.get("diff_deg") for e in es]
        ci = [e.get("diff_ci95") or [None, None] for e in es]
        fig.add_trace(go.Scatter(
            x=x, y=diff, mode="lines+markers", name=f"Right - left, {short}",
            line={"color": NEUTRAL, "dash": dash},
            marker={"color": NEUTRAL, "symbol": symbol, "size": 9},
            error_y=_ci_error(diff, [c[0] for c in ci], [c[1] for c in ci])), row=2, col=1)


def progress(summaries: list[dict], labels: list[str]) -> go.Figure:
    """Several sessions: CPD per side (mean with 95 % CI) above the R-L difference with its
    CI and +- the asymmetry threshold (red dotted), sessions on a shared x axis. Self-test
    sessions (docs/self_tests.md) add their own series: the drop standing on each leg (side
    colours, squares for the stance test, triangles for squats, dashed) and right minus left.

    Stacked rather than side by side, so that on a phone each panel has the full width; panel
    names are the y-axis titles (the legend sits on top). ``labels`` are ``"#<n> <date>"``
    (`gaitimu.report.html`), the axis shows the ``#<n>`` part and hover the whole."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.55, 0.45])
    gait = [i for i, x in enumerate(summaries) if x.get("activity") not in SELF_TEST_MARKS]
    x = [labels[i] for i in gait]
    for s in ("L", "R") if gait else ():
        m = [summaries[i]["cpd_deg"][s].get("mean") for i in gait]
        lo = [summaries[i]["cpd_deg"][s].get("ci95_low") for i in gait]
        hi = [summaries[i]["cpd_deg"][s].get("ci95_high") for i in gait]
        fig.add_trace(go.Scatter(
            x=x, y=m, mode="lines+markers", line={"color": SIDE_COLORS[s]},
            name=SIDE_WORD[s], error_y=_ci_error(m, lo, hi)), row=1, col=1)
    d = [summaries[i]["asymmetry"]["cpd_diff_r_minus_l_deg"] for i in gait]
    diff = [e.get("diff") for e in d]
    if gait:
        fig.add_trace(go.Scatter(
            x=x, y=diff, mode="lines+markers", line={"color": NEUTRAL}, name="Right - left",
            error_y=_ci_error(diff, [e.get("ci95_low") for e in d],
                              [e.get("ci95_high") for e in d])), row=2, col=1)
    _self_test_progress(fig, summaries, labels)
    thr = summaries[-1]["thresholds"]["asymmetry_deg"]
    # the flag lines only where the threshold applies (gait: CPD relative to quiet standing;
    # the self-tests' threshold is the same 2 degrees, always relative to standing)
    applies = all((summaries[i].get("asymmetry") or {}).get("threshold_applies", True)
                  for i in gait)
    for yv in (thr, -thr) if applies else ():
        fig.add_hline(y=yv, line={"dash": "dot", "color": FLAG_COLOR, "width": 1.5},
                      row=2, col=1, showlegend=yv > 0, name=f"flag line ± {thr:g}°")
    fig.add_hline(y=0, line={"color": "grey", "width": 1}, row=2, col=1)
    # sessions, not a time axis; ticks name them by number (the table gives the dates), so
    # the labels stay apart on a phone however many sessions there are
    fig.update_xaxes(type="category", tickvals=labels, categoryorder="array",
                     categoryarray=labels, ticktext=[lab.split(" ", 1)[0] for lab in labels])
    fig.update_yaxes(title_text="CPD (deg)" if len(gait) == len(summaries) else "Drop (deg)",
                     row=1, col=1)
    fig.update_yaxes(title_text="R - L (deg)", row=2, col=1)
    return _layout(fig, "Progress across sessions", 520 if len(gait) == len(summaries) else 600)


# --------------------------------------------------------------------------- self-tests
#: Sign that turns an obliquity change into the drop of the unsupported side, per standing
#: leg (docs/self_tests.md: obliquity > 0 = left hemipelvis higher).
DROP_SIGN = {"L": 1.0, "R": -1.0}
#: The drop over a hold is drawn as means of this many seconds (a 30 s hold: 150 points).
HOLD_BIN_S = 0.2


def _hold_trace(row: pd.Series, t: np.ndarray, obl: np.ndarray) -> tuple[np.ndarray,
                                                                          np.ndarray] | None:
    """(seconds since lift-off, drop) of one hold in `HOLD_BIN_S` means; None without data.
    The baseline is the row's two-legged standing; a table without it gets the one that
    reproduces the hold's mean drop."""
    a, b = float(row["start_s"]), float(row["end_s"])
    sign = DROP_SIGN.get(str(row["stance_side"]))
    m = (t >= a) & (t <= b) & np.isfinite(obl)
    if sign is None or not (math.isfinite(a) and math.isfinite(b)) or m.sum() < 2:
        return None
    base = float(row.get("baseline_obliquity_deg", math.nan))
    if not math.isfinite(base):
        steady = m & (t >= a + np.nan_to_num(float(row.get("stabilise_s", 0.0))))
        base = float(np.mean(obl[steady if steady.any() else m])) - sign * float(
            row["drop_mean_deg"])
    if not math.isfinite(base):
        return None
    bins = np.floor((t[m] - a) / HOLD_BIN_S).astype(int)
    drop = sign * (obl[m] - base)
    n = np.bincount(bins)
    keep = n > 0
    x = (np.arange(n.size)[keep] + 0.5) * HOLD_BIN_S
    return x, np.bincount(bins, weights=drop)[keep] / n[keep]


def _flag_line(fig: go.Figure, means: list[float | None], thr: float | None) -> None:
    """The flag line of a self-test figure: the lower leg's mean drop plus the threshold."""
    means = [m for m in means if m is not None]
    if thr is not None and len(means) == 2:
        fig.add_hline(y=min(means) + thr, line={"dash": "dot", "color": FLAG_COLOR,
                                                "width": 1.5},
                      showlegend=True, name=f"flag line: lower leg + {thr:g}°")


def self_test_drop(tests: pd.DataFrame, signals: pd.DataFrame | None,
                   summary: dict) -> go.Figure:
    """The drop of a self-test per standing leg, side by side in one plot: single-leg stance,
    the drop over each hold against the time since lift-off (`HOLD_BIN_S` means), the leg's
    mean dashed and early touch-downs shaded grey; single-leg squat, the drop at the bottom of
    each rep. The flag line (lower leg's mean + the threshold) is red dotted. ``tests`` as
    `gaitimu.report.selftests.tests_table` returns it."""
    test = summary.get("activity")
    rows = tests[(tests["test"] == test) & tests["stance_side"].isin(("L", "R"))]
    means = {s: find_entry(summary, test, s).get("drop_deg") for s in ("L", "R")}
    fig = go.Figure()
    if test == "single-leg-stance":
        ok = signals is not None and {"t_s", "obliquity_deg"} <= set(signals.columns)
        t = signals["t_s"].to_numpy(float) if ok else np.array([])
        obl = signals["obliquity_deg"].to_numpy(float) if ok else np.array([])
        longest = 0.0
        for s in ("L", "R"):
            mine = rows[rows["stance_side"] == s]
            for k, (_, row) in enumerate(mine.iterrows()):
                xy = _hold_trace(row, t, obl)
                if xy is None:
                    continue
                longest = max(longest, float(xy[0][-1]))
                name = f"{SIDE_WORD[s]} leg" + (f", hold {k + 1}" if len(mine) > 1 else "")
                fig.add_trace(go.Scatter(
                    x=np.round(xy[0], 2), y=np.round(xy[1], 2), mode="lines",
                    name=name + ("" if row["valid"] else " (not used)"),
                    opacity=1.0 if row["valid"] else 0.45,
                    line={"color": SIDE_COLORS[s], "width": 2}, legendgroup=s,
                    hovertemplate="%{x:.1f} s: %{y:.1f} deg<extra></extra>"))
                for a, b in _touchdowns(row):
                    fig.add_vrect(x0=a - row["start_s"], x1=b - row["start_s"],
                                  fillcolor="rgba(120,120,120,0.25)", line_width=0,
                                  layer="below")
        for s in ("L", "R"):
            if means[s] is not None and longest > 0:
                fig.add_trace(go.Scatter(
                    x=[0, longest], y=[means[s]] * 2, mode="lines", legendgroup=s,
                    line={"color": SIDE_COLORS[s], "dash": "dash", "width": 1.5},
                    name=f"{SIDE_WORD[s]} mean {means[s]:.1f}°"))
        if not fig.data:
            fig.add_annotation(text="No pelvis signal for the drop over the hold",
                               showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
        fig.update_xaxes(title_text="Time since lift-off (s)", rangemode="tozero")
        fig.update_yaxes(title_text="Drop (deg)")
    else:
        for s in ("L", "R"):
            mine = rows[rows["stance_side"] == s]
            y = mine[VALUE_COLUMN.get(str(test), "drop_bottom_deg")].to_numpy(float)
            fig.add_trace(go.Scatter(
                x=np.arange(1, y.size + 1), y=np.round(y, 2), mode="lines+markers",
                name=f"{SIDE_WORD[s]} leg reps", legendgroup=s,
                marker={"color": SIDE_COLORS[s], "size": 9,
                        "symbol": ["circle" if v else "circle-open" for v in mine["valid"]]},
                line={"color": SIDE_COLORS[s], "width": 1.5},
                hovertemplate="rep %{x}: %{y:.1f} deg<extra></extra>"))
            if means[s] is not None and y.size:
                fig.add_trace(go.Scatter(
                    x=[1, max(y.size, 2)], y=[means[s]] * 2, mode="lines", legendgroup=s,
                    line={"color": SIDE_COLORS[s], "dash": "dash", "width": 1.5},
                    name=f"{SIDE_WORD[s]} mean {means[s]:.1f}°"))
        fig.update_xaxes(title_text="Rep on that leg", dtick=1)
        fig.update_yaxes(title_text="Drop at the bottom (deg)")
    _flag_line(fig, [means["L"], means["R"]],
               summary.get("thresholds", {}).get("self_test_deg"))
    fig.add_hline(y=0, line={"color": "grey", "width": 1})
    return _layout(fig, "Pelvic drop per standing leg", 380)


def _touchdowns(row: pd.Series) -> list[tuple[float, float]]:
    """The early touch-downs of a hold (``touchdowns_s``: "[[start_s, end_s], ...]" as the
    analysis writes it), [] when none or unreadable."""
    raw = row.get("touchdowns_s")
    try:
        items = json.loads(raw) if isinstance(raw, str) else (raw or [])
        return [(float(a), float(b)) for a, b in items]
    except (TypeError, ValueError):
        return []
