"""Plotly figures of the asymmetry report. Each builder takes tables/summaries and returns a
`plotly.graph_objects.Figure`; no I/O here.

Long sessions are kept small: box plots are drawn from precomputed quartiles (not from every
stride), the strip of individual strides and the trend scatter are decimated to at most
`MAX_POINTS_PER_SIDE` points per side (evenly spaced in time), and the gait-cycle curves are
101-point means.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gaitimu.report.summary import valid_flags

COLORS = {"L": "#1f77b4", "R": "#d62728"}
BAND = {"L": "rgba(31,119,180,0.18)", "R": "rgba(214,39,40,0.18)"}
SIDE_LABEL = {"L": "Left stance", "R": "Right stance"}
MAX_POINTS_PER_SIDE = 1500
CYCLE_POINTS = 101
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    """Common look. The title is kept in ``layout.meta`` (the HTML section heading shows it;
    a plotly title would not fit on a phone)."""
    fig.update_layout(
        meta={"title": title},
        height=height, margin={"l": 55, "r": 15, "t": 40, "b": 50}, font=FONT,
        template="plotly_white", legend={"orientation": "h", "y": -0.18},
    )
    return fig


def _thin(idx: np.ndarray, k: int = MAX_POINTS_PER_SIDE) -> np.ndarray:
    """At most k indices, evenly spread (keeps the time structure of a long session)."""
    if idx.size <= k:
        return idx
    return idx[np.linspace(0, idx.size - 1, k).round().astype(int)]


def _valid(strides: pd.DataFrame) -> pd.DataFrame:
    v = strides[valid_flags(strides["valid"])] if len(strides) else strides
    return v.sort_values("ic_s", kind="stable")


def cpd_distribution(strides: pd.DataFrame, summary: dict) -> go.Figure:
    """CPD per side: box (quartiles), strides as a strip, mean +- SD and 95 % CI markers.

    One panel per CPD reference (initial contact; standing neutral when available).
    """
    v = _valid(strides)
    panels = [("cpd_ic_deg", "vs initial contact")]
    if "cpd_standing_deg" in v and np.isfinite(
            pd.to_numeric(v["cpd_standing_deg"], errors="coerce")).any():
        panels.append(("cpd_standing_deg", "vs standing neutral"))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[1] for p in panels],
                        horizontal_spacing=0.12)
    for j, (col, _) in enumerate(panels, start=1):
        for s in ("L", "R"):
            y = pd.to_numeric(v.loc[v["side"] == s, col], errors="coerce").to_numpy(float)
            y = y[np.isfinite(y)]
            if y.size == 0:
                continue
            q1, med, q3 = np.percentile(y, [25, 50, 75])
            iqr = q3 - q1
            lo = float(y[y >= q1 - 1.5 * iqr].min())
            hi = float(y[y <= q3 + 1.5 * iqr].max())
            x = {"L": "Left", "R": "Right"}[s]
            fig.add_trace(go.Box(
                x=[x], q1=[q1], median=[med], q3=[q3], lowerfence=[lo], upperfence=[hi],
                name=x, marker_color=COLORS[s], showlegend=False, boxpoints=False,
                hoverinfo="y", width=0.5), row=1, col=j)
            pts = y[_thin(np.arange(y.size))]
            fig.add_trace(go.Scatter(
                x=[x] * pts.size, y=np.round(pts, 2), mode="markers",
                marker={"color": COLORS[s], "size": 4, "opacity": 0.35},
                showlegend=False, hoverinfo="y", name=f"{x} strides",
            ), row=1, col=j)
            st = summary["cpd_ic_deg" if col == "cpd_ic_deg" else "cpd_standing_deg"][s]
            if st.get("mean") is None:
                continue
            sd = st.get("sd") or 0.0
            fig.add_trace(go.Scatter(
                x=[x], y=[st["mean"]], mode="markers",
                marker={"symbol": "diamond", "size": 12, "color": "black"},
                error_y={"type": "data", "array": [sd], "color": "black", "thickness": 1.5},
                name="mean ± SD", showlegend=(j == 1 and s == "L"),
                hovertemplate=f"mean %{{y:.2f}} ± {sd:.2f} deg<extra></extra>",
            ), row=1, col=j)
            if st.get("ci95_low") is not None:
                fig.add_trace(go.Scatter(
                    x=[x, x], y=[st["ci95_low"], st["ci95_high"]], mode="lines",
                    line={"color": "orange", "width": 8},
                    name="95 % CI of the mean", showlegend=(j == 1 and s == "L"),
                    hovertemplate="95 % CI %{y:.2f} deg<extra></extra>",
                ), row=1, col=j)
        fig.update_yaxes(title_text="CPD (deg)" if j == 1 else None, row=1, col=j)
    ref = "standing neutral" if summary.get("cpd_reference") == "standing" else "initial contact"
    # flag line on the panel the flags use: the lower side's mean + the asymmetry threshold
    thr = summary.get("thresholds", {}).get("asymmetry_deg")
    means = [summary["cpd_deg"][s].get("mean") for s in ("L", "R")]
    col = 1 + (len(panels) == 2 and summary.get("cpd_reference") == "standing")
    if thr is not None and all(m is not None for m in means):
        fig.add_hline(y=min(means) + thr, row=1, col=col,
                      line={"dash": "dot", "color": "#555", "width": 1},
                      annotation_text=f"lower side + {thr:g}° (flag threshold)",
                      annotation_position="bottom right", annotation_font_size=10)
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


def gait_cycle(strides: pd.DataFrame, signals: pd.DataFrame | None,
               activity: str | None = None) -> go.Figure:
    """Mean +- SD of the ipsilateral pelvic obliquity over the gait cycle, per stance side.

    Running: the IMU reference range of the obliquity range of motion (Perpiñá-Martínez 2023)
    is written on the plot next to the measured peak-to-peak range.
    """
    curves, pct = cycle_curves(strides, signals)
    fig = go.Figure()
    if activity == "run" and curves:
        ptp = ", ".join(f"{s} {np.ptp(c['mean']):.1f}°" for s, c in curves.items())
        fig.add_annotation(
            text=f"Obliquity range: {ptp} · IMU ref. running 7.8–9.3° (Perpiñá-Martínez 2023)",
            xref="paper", yref="paper", x=0.0, y=1.0, xanchor="left", yanchor="bottom",
            showarrow=False, font={"size": 10})
    for s, c in curves.items():
        up, lo = c["mean"] + c["sd"], c["mean"] - c["sd"]
        fig.add_trace(go.Scatter(
            x=np.r_[pct, pct[::-1]], y=np.round(np.r_[up, lo[::-1]], 3), fill="toself",
            fillcolor=BAND[s], line={"width": 0}, hoverinfo="skip",
            name=f"{SIDE_LABEL[s]} ± SD", showlegend=False))
        fig.add_trace(go.Scatter(
            x=pct, y=np.round(c["mean"], 3), line={"color": COLORS[s], "width": 2.5},
            name=f"{SIDE_LABEL[s]} cycle (mean ± SD, n={c['n']})",
            hovertemplate="%{x:.0f} %%: %{y:.2f} deg<extra></extra>"))
        if math.isfinite(c["toe_off_pct"]):
            fig.add_vline(x=c["toe_off_pct"], line={"color": COLORS[s], "dash": "dot"},
                          annotation_text=f"{s} toe-off",
                          annotation_position="top left" if s == "L" else "top right")
    if not curves:
        fig.add_annotation(text="No obliquity signal available for the gait-cycle view",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(title_text="% of stride (IC to next IC)", range=[0, 100])
    fig.update_yaxes(title_text="Stance-side pelvis up (deg)")
    return _layout(fig, "Pelvic obliquity over the gait cycle, per stance side")


def cpd_trend(strides: pd.DataFrame, summary: dict) -> go.Figure:
    """CPD of every stride against time, a rolling median, and the fitted linear trend."""
    v = _valid(strides)
    col = "cpd_standing_deg" if summary.get("cpd_reference") == "standing" else "cpd_ic_deg"
    fig = go.Figure()
    for s in ("L", "R"):
        d = v[v["side"] == s]
        t = pd.to_numeric(d["ic_s"], errors="coerce").to_numpy(float) / 60.0
        y = pd.to_numeric(d[col], errors="coerce").to_numpy(float)
        ok = np.isfinite(t) & np.isfinite(y)
        t, y = t[ok], y[ok]
        if t.size == 0:
            continue
        keep = _thin(np.arange(t.size))
        fig.add_trace(go.Scatter(
            x=np.round(t[keep], 3), y=np.round(y[keep], 2), mode="markers",
            marker={"color": COLORS[s], "size": 4, "opacity": 0.3},
            name=f"{SIDE_LABEL[s]} strides", hovertemplate="%{x:.1f} min: %{y:.1f} deg"
            "<extra></extra>"))
        w = max(5, min(51, t.size // 10) | 1)
        roll = pd.Series(y).rolling(w, center=True, min_periods=max(3, w // 2)).median()
        fig.add_trace(go.Scatter(
            x=np.round(t[keep], 3), y=np.round(roll.to_numpy()[keep], 2), mode="lines",
            line={"color": COLORS[s], "width": 2}, name=f"{SIDE_LABEL[s]} rolling median "
            f"({w} strides)"))
        tr = summary.get("trend", {}).get(s, {})
        slope = tr.get("slope_deg_per_10min")
        if slope is not None:
            mean = float(np.mean(y))
            tm = float(np.mean(t))
            xs = np.array([t.min(), t.max()])
            fig.add_trace(go.Scatter(
                x=np.round(xs, 3), y=np.round(mean + slope / 10.0 * (xs - tm), 3),
                mode="lines", line={"color": COLORS[s], "dash": "dash", "width": 1.5},
                name=f"{s} trend {slope:+.2f} deg/10 min (CI {_f(tr.get('ci95_low'), 2)} to "
                f"{_f(tr.get('ci95_high'), 2)})"))
    fig.update_xaxes(title_text="Time in session (min)")
    fig.update_yaxes(title_text="CPD (deg)")
    return _layout(fig, "CPD over the session (fatigue check)")


def temporal(summary: dict) -> go.Figure:
    """Temporal symmetry: stance, step, flight time and ML sway proxy per side (mean +- SD)."""
    items = [("stance_s", "Stance (s)"), ("step_s", "Step (s)")]
    fl = summary["temporal"].get("flight_s", {})
    if any((fl.get(s) or {}).get("mean") is not None for s in ("L", "R")):
        items.append(("flight_s", "Flight (s)"))
    items.append(("ml_excursion_m", "ML sway (m)"))
    fig = make_subplots(rows=1, cols=len(items), subplot_titles=[i[1] for i in items],
                        horizontal_spacing=0.08)
    for j, (key, _) in enumerate(items, start=1):
        src = summary["ml_sway"]["ml_excursion_m"] if key == "ml_excursion_m" \
            else summary["temporal"][key]
        for s in ("L", "R"):
            st = src.get(s) or {}
            if st.get("mean") is None:
                continue
            fig.add_trace(go.Bar(
                x=[s], y=[st["mean"]], marker_color=COLORS[s], showlegend=False,
                error_y={"type": "data", "array": [st.get("sd") or 0.0]},
                hovertemplate=f"{SIDE_LABEL[s]}: %{{y:.3f}} ± {st.get('sd') or 0:.3f} "
                f"(n={st['n']})<extra></extra>"), row=1, col=j)
    return _layout(fig, "Temporal symmetry and sway (mean ± SD per stance side)", 380)


def progress(summaries: list[dict], labels: list[str]) -> go.Figure:
    """Several sessions: CPD per side (mean with 95 % CI) and the R-L difference with its CI."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["CPD per side", "Right - left"],
                        horizontal_spacing=0.12)
    for s in ("L", "R"):
        m = [x["cpd_deg"][s].get("mean") for x in summaries]
        lo = [x["cpd_deg"][s].get("ci95_low") for x in summaries]
        hi = [x["cpd_deg"][s].get("ci95_high") for x in summaries]
        fig.add_trace(go.Scatter(
            x=labels, y=m, mode="lines+markers", line={"color": COLORS[s]},
            name=SIDE_LABEL[s],
            error_y={"type": "data", "symmetric": False,
                     "array": [(h - c) if h is not None and c is not None else 0
                               for h, c in zip(hi, m, strict=True)],
                     "arrayminus": [(c - lw) if lw is not None and c is not None else 0
                                    for lw, c in zip(lo, m, strict=True)]}), row=1, col=1)
    d = [x["asymmetry"]["cpd_diff_r_minus_l_deg"] for x in summaries]
    fig.add_trace(go.Scatter(
        x=labels, y=[e.get("diff") for e in d], mode="lines+markers",
        line={"color": "black"}, name="R - L",
        error_y={"type": "data", "symmetric": False,
                 "array": [(e["ci95_high"] - e["diff"]) if e.get("ci95_high") is not None
                           else 0 for e in d],
                 "arrayminus": [(e["diff"] - e["ci95_low"]) if e.get("ci95_low") is not None
                                else 0 for e in d]}), row=1, col=2)
    thr = summaries[-1]["thresholds"]["asymmetry_deg"]
    for yv in (thr, -thr):
        fig.add_hline(y=yv, line={"dash": "dot", "color": "grey"}, row=1, col=2)
    fig.add_hline(y=0, line={"color": "grey", "width": 1}, row=1, col=2)
    fig.update_xaxes(type="category")  # sessions, not a time axis
    fig.update_yaxes(title_text="CPD (deg)", row=1, col=1)
    fig.update_yaxes(title_text="R - L (deg)", row=1, col=2)
    return _layout(fig, "Progress across sessions", 420)
