"""The analysis pipeline: session -> conditioning -> alignment -> events -> stance metrics.

No signal maths here: every stage lives in `gaitimu.analysis` and is pure. This module wires
them, collects what each stage reports into ``info`` and raises `NoGaitError` when nothing
usable is found.

``signals`` columns (one row per sample of the uniform grid):

=================  ==========================================================================
``t_s``            time, s from session start (uniform grid at the nominal rate)
``obliquity_deg``  pelvic obliquity, > 0 = LEFT hemipelvis higher, relative to the standing
                   neutral (0 = as level as in quiet standing)
``tilt_deg``       pelvic tilt, > 0 = anterior (forward axis below the horizontal)
``yaw_deg``        pelvis heading, > 0 = turned left, zero at the start; drifts (6D fusion)
``acc_is ..``      body-frame specific force (m/s^2; ``acc_is`` ~ +9.81 at rest)
``gyr_is ..``      body-frame angular rate (deg/s, gyroscope bias removed)
``valid``          False inside data gaps longer than 50 ms (not measured: linearly
                   interpolated in holes up to 0.2 s, held in longer ones)
=================  ==========================================================================

Data gaps (`gaitimu.analysis.conditioning.resample_uniform`): holes up to 50 ms are
interpolated and count as data. Holes up to 0.2 s (`DEFAULT_MAX_BRIDGE_GAP_S`) are
interpolated and *bridged* for event detection only: the detector sees them as valid, so a
lost packet or three does not split a walking bout or lose the steps around it, but
``signals.valid`` stays False there and a stance containing one is excluded ("data gap in
the stance"). Longer gaps split bouts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gaitimu.analysis.conditioning import (
    DEFAULT_MAX_BRIDGE_GAP_S,
    DEFAULT_MAX_INTERP_GAP_S,
    find_saturation,
    gap_intervals,
    resample_uniform,
)
from gaitimu.analysis.datatypes import check_events, check_sensor_samples
from gaitimu.analysis.metrics import NO_SIDE_REASON
from gaitimu.analysis.orientation import AlignmentSettings, align_to_pelvis
from gaitimu.analysis.speed import SpeedSettings, check_body_size, leg_length_from
from gaitimu.analysis.turns import detect_turns
from gaitimu.consts import DEFAULT_AXES, SIDES
from gaitimu.errors import BadInputError, NoGaitError
from gaitimu.sessions.files import jsonable
from gaitimu.stages import AnalysisSettings, detection_body, gait_events, stride_table

if TYPE_CHECKING:  # (the session reader is imported only where a session is opened)
    from gaitimu.sessions.reader import Session

log = logging.getLogger(__name__)

__all__ = ["AnalysisResult", "analyze", "analyze_session", "detection_body", "pelvis_signals"]


@dataclass
class AnalysisResult:
    """What the pipeline returns.

    Attributes
    ----------
    strides : DataFrame
        One row per stance (`gaitimu.analysis.metrics.STRIDE_COLUMNS`, then
        `gaitimu.analysis.speed.SPEED_COLUMNS`: ``step_length_m``, ``speed_mps`` of the step
        ending at the stance's IC; NaN when not estimated: running, turns, excluded stances,
        no leg length).
    signals : DataFrame
        Per-sample pelvis signals (see the module docstring).
    info : dict
        ``alignment`` (what `align_to_pelvis` corrected and found), ``conditioning``
        (``n_interpolated``, ``n_bridged``, ``gaps_s``), ``events`` (what the event detector
        reports), ``activity``, ``cadence_spm``, ``n_strides`` {L, R}, ``n_excluded`` (alias
        ``excluded_strides``), ``excluded_reasons`` {reason: count}, ``gaps`` ([start_s,
        end_s] of the gaps longer than 50 ms: no metrics there), ``duration_s``,
        ``sampling_rate_hz``, ``warnings``, ``n_no_side`` (gait stances the detector gave
        no side: left/right evidence too weak; never in the per-side numbers),
        ``no_side_reasons`` {reason: count}, ``sides`` (the detector's per-bout side
        decisions, ``info["events"]["sides"]``; [] when it reports none), ``speed``
        (`gaitimu.analysis.speed.step_speed` info: estimated, reason, leg length, per-bout
        distance and speed; with `analyze_session` also ``leg_length_from``, ``height_m``,
        ``given_speed_kmh``).
    """

    strides: pd.DataFrame
    signals: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


def _no_side_reasons(reasons: pd.Series) -> dict[str, int]:
    """{reason: count} of the stances without a side ("no side: " prefix removed)."""
    prefix = f"{NO_SIDE_REASON}: "
    text = reasons.fillna("").astype(str)
    text = text.where(~text.str.startswith(prefix), text.str[len(prefix):])
    text = text.where(text != "", "left/right uncertain")
    return {str(k): int(v) for k, v in text.value_counts().items()}


# --------------------------------------------------------------------------- pipeline
#: More gyroscope samples than this at the range limit: the recording is not analysed.
MAX_GYR_SATURATED_FRACTION = 0.05


def pelvis_signals(
    t_s: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    *,
    sampling_rate_hz: float,
    axes: str = DEFAULT_AXES,
    settings: AlignmentSettings | None = None,
) -> tuple[pd.DataFrame, Any, dict[str, Any]]:
    """Raw sensor-frame samples -> uniform grid -> pelvis frame: the first stages of
    `analyze` (``settings``: the alignment's, None = defaults).

    Returns ``(body, cond, align_info)``: the pelvis signals with the strict ``valid`` mask
    (for metrics; `detection_body` with ``cond.bridged`` gives what the event detector
    sees), the `resample_uniform` result and what `align_to_pelvis` found.
    """
    gyr_sat, sat_warnings, saturation = find_saturation(acc, gyr)
    if gyr_sat.mean() > MAX_GYR_SATURATED_FRACTION:
        # what is left between the clipped samples is the calmest part of the movement: a
        # biased sample, not a measurement of the gait
        raise NoGaitError(
            "gyroscope saturated (" + ", ".join(
                f"{k[-1]} at +-{v['limit']:.4g} deg/s in {100 * v['fraction']:.2g} % of samples"
                for k, v in saturation.items() if k.startswith("gyr")
            ) + "): record with a range of at least 500 deg/s"
        )
    if gyr_sat.any():  # a clipped rate is no measurement: those samples are holes
        keep = ~gyr_sat
        t_s, acc, gyr = np.asarray(t_s)[keep], np.asarray(acc)[keep], np.asarray(gyr)[keep]
    cond = resample_uniform(t_s, acc, gyr, sampling_rate_hz=sampling_rate_hz)
    body, align_info = align_to_pelvis(
        cond.t_s,
        cond.acc,
        cond.gyr,
        sampling_rate_hz=cond.sampling_rate_hz,
        axes=axes,
        valid=cond.valid,
        settings=settings,
    )
    body["valid"] = cond.valid
    if saturation:
        align_info["saturation"] = saturation
        align_info["warnings"] = list(sat_warnings) + list(align_info["warnings"])
    return body, cond, align_info


def analyze(
    t_s: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    *,
    sampling_rate_hz: float,
    axes: str = DEFAULT_AXES,
    activity: str | None = None,
    events: pd.DataFrame | None = None,
    leg_length_m: float | None = None,
    height_m: float | None = None,
    settings: AnalysisSettings | None = None,
) -> AnalysisResult:
    """Analyse raw sensor-frame samples.

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Sample times, s (may jitter or have holes).
    acc, gyr : ndarray, shape (n, 3)
        Sensor-frame accelerometer (m/s^2) and gyroscope (deg/s).
    sampling_rate_hz : float
        Nominal rate (50-400 Hz).
    axes : str
        Declared axis map, e.g. ``x=up,y=right,z=forward``.
    activity : str, optional
        Declared activity ("walk"/"run"), used when the events carry none.
    events : DataFrame, optional
        Known stances (``side``, ``ic_s``, ``fc_s``, ...), e.g. reference events for
        validation; skips event detection.
    leg_length_m, height_m : float, optional
        Leg length, or body height (leg = 0.53 x height), in m, for the walking step length
        and speed (`gaitimu.analysis.speed`); without either they are NaN.
    settings : AnalysisSettings, optional
        The algorithms' settings (`gaitimu.stages.AnalysisSettings`; None: the defaults).

    Returns
    -------
    AnalysisResult

    Raises
    ------
    NoGaitError
        When no stance is found (no valid stance and no stance without a side).
    """
    t_s, acc, gyr = check_sensor_samples(t_s, acc, gyr, what="analyze")
    if events is not None:
        events = check_events(events, what="analyze: given events")
    settings = settings or AnalysisSettings()
    body, cond, align_info = pelvis_signals(
        t_s, acc, gyr, sampling_rate_hz=sampling_rate_hz, axes=axes,
        settings=settings.alignment,
    )
    fs = cond.sampling_rate_hz

    if events is None:
        # Short holes are bridged for the detector (bouts continue across them); the
        # metrics use the strict mask.
        detected = gait_events(body, cond.bridged, sampling_rate_hz=fs, alignment=align_info,
                               settings=settings.events)
        events, ev_info = detected.events, dict(detected.info)
    else:
        ev_info = {"source": "given"}
    leg, leg_source = leg_length_from(leg_length_m, height_m)
    strides, speed_info = stride_table(
        events, body, sampling_rate_hz=fs,
        standing_obliquity_deg=align_info["standing_obliquity_deg"],
        settling_s=align_info.get("settling_s", ()),
        speed=SpeedSettings(leg_length_m=leg, leg_length_source=leg_source),
        activity=activity,
        settings=settings.metrics,
    )
    turns = detect_turns(
        body, sampling_rate_hz=fs,
        step_times_s=events["ic_s"].to_numpy(float) if len(events) else None,
    )
    good = strides[strides["valid"]]
    # Stances without a side are gait whose left/right was withheld: a session of them is
    # analysed (and reported "left/right uncertain"), not "no gait".
    no_side = ~strides["side"].isin(["L", "R"])
    if good.empty and not no_side.any():
        why = ev_info.get("no_gait_reason") or "no valid stance"
        sat = {k: v for k, v in (align_info.get("saturation") or {}).items() if "gyr" in k}
        if sat:
            why += "; gyroscope saturated (" + ", ".join(
                f"{k[-1]} at +-{v['limit']:.4g} deg/s in {100 * v['fraction']:.2g} % of samples"
                for k, v in sat.items()
            ) + "): record with a range of at least 500 deg/s"
        raise NoGaitError(
            f"no usable gait found ({why}); record at least a few steps of walking or running"
        )

    gait = strides[strides["valid"] | no_side]
    steps = gait["step_s"].dropna()
    cadence = float(60.0 / steps.median()) if len(steps) else float("nan")
    acts = gait["activity"].value_counts()
    warnings = list(align_info["warnings"]) + list(ev_info.get("warnings", []))
    if speed_info["reason"].startswith("no leg length") and (gait["activity"] == "walk").any():
        warnings.append("walking speed and step length not estimated: no leg length (give "
                        "--leg-length M or --height M)")
    if cond.gaps_s:
        n_long = len(gap_intervals(cond.bridged, cond.t_s, fs))
        warnings.append(
            f"{len(cond.gaps_s)} data gap(s) longer than "
            f"{1e3 * DEFAULT_MAX_INTERP_GAP_S:.0f} ms (no metrics on them; "
            f"{len(cond.gaps_s) - n_long} up to {DEFAULT_MAX_BRIDGE_GAP_S:g} s bridged for "
            f"event detection, {n_long} longer split gait bouts)"
        )
    info = {
        "sampling_rate_hz": fs,
        "duration_s": float(cond.t_s[-1] - cond.t_s[0] + 1.0 / fs),
        "alignment": align_info,
        "conditioning": {
            "n_interpolated": cond.n_interpolated,
            "n_bridged": cond.n_bridged,
            "gaps_s": [list(g) for g in cond.gaps_s],
        },
        "events": ev_info,
        "activity": str(acts.index[0]) if len(acts) else (activity or "unknown"),
        "cadence_spm": cadence,
        "n_strides": {s: int((good["side"] == s).sum()) for s in SIDES},
        "n_no_side": int(no_side.sum()),
        "no_side_reasons": _no_side_reasons(strides.loc[no_side, "invalid_reason"]),
        "sides": list(ev_info.get("sides") or []),
        "n_excluded": int((~strides["valid"]).sum()),
        "excluded_strides": int((~strides["valid"]).sum()),  # same, architecture.md name
        "gaps": [list(g) for g in cond.gaps_s],
        "excluded_reasons": strides.loc[~strides["valid"], "invalid_reason"]
        .value_counts()
        .to_dict(),
        "warnings": warnings,
        "speed": speed_info,
        # turns from the vertical rotation (`gaitimu.analysis.turns`), one dict per turn
        "turns": turns.astype(object).where(turns.notna(), None).to_dict("records"),
    }
    return AnalysisResult(strides=strides, signals=body, info=jsonable(info, finite=False, strict=False))


def analyze_session(
    session: Session,
    *,
    events: pd.DataFrame | None = None,
    axes: str | None = None,
    leg_length_m: float | None = None,
    height_m: float | None = None,
    settings: AnalysisSettings | None = None,
) -> AnalysisResult:
    """Analyse an opened session (`gaitimu.sessions.open_session`).

    Uses the session's samples, nominal rate, axis map, declared activity and the body size
    and treadmill speed stored at record/import (``leg_length_m``, ``height_m``,
    ``speed_kmh``).

    Parameters
    ----------
    session
        An opened session.
    events : DataFrame, optional
        Known stances (see `analyze`).
    axes : str, optional
        Axis map overriding the session's declared one (e.g. ``x=up,y=left,z=backward``),
        or ``"auto"`` (mounting unknown: the alignment takes the sensor's axes from the
        gait). ``info["axes_override"]`` records it.
    leg_length_m, height_m : float, optional
        Override the session's stored values (either one given replaces both stored ones).
        ``info["speed"]["leg_length_from"]`` says which was used ("option" or "session").
    settings : AnalysisSettings, optional
        The algorithms' settings (None: the defaults).
    """
    meta = session.meta or {}
    use_axes = axes if axes is not None else (session.axes or DEFAULT_AXES)
    if leg_length_m is None and height_m is None:
        leg_length_m, height_m = _num(meta.get("leg_length_m")), _num(meta.get("height_m"))
        body_source = "session"
    else:
        body_source = "option"
    res = analyze(
        session.t_s,
        session.acc,
        session.gyr,
        sampling_rate_hz=session.sample_rate_hz,
        axes=use_axes,
        activity=meta.get("activity"),
        events=events,
        leg_length_m=leg_length_m,
        height_m=height_m,
        settings=settings,
    )
    sp = res.info["speed"]
    sp["leg_length_from"] = body_source if sp.get("leg_length_m") is not None else None
    sp["height_m"] = _num(height_m)
    sp["given_speed_kmh"] = _num(meta.get("speed_kmh"))
    res.info["session"] = str(session.path)
    if axes is not None:
        res.info["axes_override"] = {"axes": axes, "session_axes": session.axes}
    if session.problems:
        res.info["session_problems"] = list(session.problems)
    return res


# --------------------------------------------------------------------------- CLI helpers
AUTO_AXES = "auto"


def check_axes_option(axes: str | None) -> str | None:
    """An ``--axes`` value: None (use the session's map), "auto" (unknown mounting: the
    alignment decides from the gait; passed on as is) or an axis map, checked with
    `gaitimu.consts.parse_axes` (`BadInputError` naming the option when it is not one)."""
    from gaitimu.consts import parse_axes

    if axes is None:
        return None
    text = str(axes).strip()
    if text.lower() == AUTO_AXES:
        return AUTO_AXES
    try:
        parse_axes(text)
    except BadInputError as e:
        raise BadInputError(f"--axes: {e} (or 'auto' when the mounting is unknown)") from e
    return text


def analyze_path(
    session_path: str,
    *,
    strides_csv: str | None = None,
    signals_csv: str | None = None,
    axes: str | None = None,
    info_json: str | None = None,
    force: bool = True,
    leg_length_m: float | None = None,
    height_m: float | None = None,
) -> AnalysisResult:
    """Open a session, analyse it and write the requested files (``gaitimu analyze``).

    ``strides_csv``: one row per stance (`STRIDE_COLUMNS`); ``signals_csv``: the per-sample
    ``signals`` table (module docstring). Floats are written with 6 significant digits.
    ``info_json``: `AnalysisResult.info` as JSON, the evidence behind the numbers (alignment:
    heading, forward cues, side trust; per-bout left/right decisions; warnings).
    ``axes`` overrides the session's axis map (`check_axes_option`; "auto" = unknown
    mounting). ``leg_length_m``/``height_m`` override the session's stored body size
    (`check_body_size`).

    Outputs are checked before the analysis (`gaitimu.sessions.files.check_output`): never
    inside a session folder, never the session itself, never two outputs on one file, an
    existing file only with ``force`` (the CLI's ``--force``; the library replaces by
    default). Each is written atomically (temporary file, fsync, rename).
    """
    from gaitimu.sessions import open_session
    from gaitimu.sessions.files import atomic_file, check_outputs, os_error_text

    axes = check_axes_option(axes)
    body = {"leg_length_m": check_body_size(leg_length_m, "leg_length_m"),
            "height_m": check_body_size(height_m, "height_m")}
    body = {k: v for k, v in body.items() if v is not None}  # only the overrides given
    outs = check_outputs([("--strides", strides_csv), ("--signals", signals_csv),
                          ("--info", info_json)], inputs=[session_path], force=force)
    session = open_session(session_path)
    if session.n_samples < 2:
        raise BadInputError(f"{session_path}: the session holds no samples")
    try:
        res = analyze_session(session, **body) if axes is None else analyze_session(
            session, axes=axes, **body)
    except (NoGaitError, BadInputError) as e:  # name the session in the one line
        if str(e).startswith(str(session_path)):
            raise
        raise type(e)(f"{session_path}: {e}") from e
    for path, table in ((strides_csv, res.strides), (signals_csv, res.signals)):
        if path:
            try:
                with atomic_file(outs[path], text=True) as f:
                    table.to_csv(f, index=False, float_format="%.6g")
            except OSError as e:
                raise BadInputError(os_error_text(path, e)) from e
    res.info["outputs"] = {
        "strides_csv": strides_csv,
        "signals_csv": signals_csv,
        "info_json": info_json,
    }
    if info_json:
        import json

        text = json.dumps(jsonable(res.info, strict=False), indent=1, default=str)
        try:
            with atomic_file(outs[info_json]) as f:
                f.write(text.encode())
        except OSError as e:
            raise BadInputError(os_error_text(info_json, e)) from e
    return res


def _num(x: Any) -> float | None:
    """A finite float, or None (missing, null, NaN, not a number)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _deg(x: Any, signed: bool = True) -> str:
    v = _num(x)
    return "?" if v is None else (f"{v:+.1f}" if signed else f"{v:.1f}")


def heading_text(align: Any) -> str | None:
    """One line on the sensor heading (``info["alignment"]["heading"]``): where it came
    from, the gait estimate with its SE, what was applied, and the note. None when the
    alignment does not report it."""
    h = align.get("heading") if isinstance(align, dict) else None
    if not isinstance(h, dict) or not h:
        return None
    parts = [f"{h.get('source') or align.get('heading_source') or '?'}"]
    est = _num(h.get("estimate_deg"))
    if est is not None:
        se = _num(h.get("se_deg"))
        parts.append(f"gait estimate {est:+.1f}" + (f" ± {se:.1f}" if se is not None else "")
                     + " deg from the declared forward")
    else:
        parts.append("no gait estimate")
    if _num(h.get("applied_deg")) is not None:
        cone = _num(h.get("cone_deg"))
        parts.append(f"applied {_deg(h.get('applied_deg'))} deg"
                     + (f" (cone ±{cone:.0f} deg)" if cone is not None else ""))
    line = ", ".join(parts)
    if h.get("note"):
        line += f"; {h['note']}"
    return line


def forward_text(align: Any) -> str | None:
    """One line on the forward direction (``info["alignment"]["forward"]``): the decision,
    each cue (value, t, steps) and why; plus "sides withheld" when ``side_trust`` is
    "uncertain". None when the alignment does not report it."""
    f = align.get("forward") if isinstance(align, dict) else None
    if not isinstance(f, dict) or not f:
        return None
    cues = []
    for name, c in (f.get("cues") or {}).items():
        if isinstance(c, dict):
            n = c.get("n")
            cues.append(f"{str(name).replace('_', ' ')} {_deg(c.get('value'))} "
                        f"(t {_deg(c.get('t'))}" + (f", n {n})" if n is not None else ")"))
        else:
            cues.append(f"{str(name).replace('_', ' ')} {_deg(c)}")
    line = f"{f.get('decision') or '?'}"
    if cues:
        line += " [" + "; ".join(cues) + "]"
    if f.get("why"):
        line += f"; {f['why']}"
    if align.get("side_trust") == "uncertain":
        line += "; forward direction uncertain: every side withheld"
    return line


def sides_text(info: dict, n_stances: int | None = None) -> str | None:
    """One line on the left/right decisions: bouts decided / withheld, stances without a
    side and the main reasons. None when the detector reports no per-bout decisions and
    every stance has a side."""
    bouts = [b for b in (info.get("sides") or []) if isinstance(b, dict)]
    n_no = int(info.get("n_no_side") or 0)
    if not bouts and not n_no:
        return None
    parts = []
    if bouts:
        decided = sum(bool(b.get("decided")) for b in bouts)
        parts.append(f"{decided} of {len(bouts)} bouts decided, {len(bouts) - decided} withheld")
    if n_no:
        reasons = sorted((info.get("no_side_reasons") or {}).items(), key=lambda kv: -kv[1])
        why = "; ".join(f"{r} ({k})" for r, k in reasons[:2])
        of = f" of {n_stances}" if n_stances else ""
        parts.append(f"{n_no}{of} stances without a side, left out of the per-side numbers"
                     + (f" ({why})" if why else ""))
    else:
        parts.append("every stance has a side")
    return "; ".join(parts)


def _cell(x: Any, width: int, nd: int) -> str:
    """A table cell: the number, or "n/a" when it was not measured (never "nan")."""
    v = _num(x)
    return f"{'n/a':>{width}}" if v is None else f"{v:>{width}.{nd}f}"


def _no_cadence_reason(res: AnalysisResult) -> str:
    """Why there is no cadence: what the strides table says about the steps."""
    st = res.strides
    if len(st) == 0:
        return "no stances detected"
    if "step_s" not in st or st["step_s"].notna().sum() == 0:
        gaps = len((res.info or {}).get("gaps") or [])
        return ("no two consecutive contacts without a data gap between them"
                + (f"; {gaps} data gap(s)" if gaps else ""))
    reasons = sorted(((res.info or {}).get("excluded_reasons") or {}).items(),
                     key=lambda kv: -kv[1])
    why = f"; most excluded for: {reasons[0][0]} ({reasons[0][1]})" if reasons else ""
    return (f"no valid stance with a step time: {int((~st['valid']).sum())} of {len(st)} "
            f"stances excluded{why}")


def speed_line(info: dict) -> str:
    """Walking speed, distance and step length (``info["speed"]``), or why not; the
    treadmill speed given at record/import when there is one."""
    sp = info.get("speed") or {}
    given = _num(sp.get("given_speed_kmh"))
    tail = f"; treadmill speed {given:.1f} km/h (as given)" if given is not None else ""
    if sp.get("estimated") and info.get("activity") != "run":
        return (f"walking {_num(sp.get('speed_mps')) or 0:.2f} m/s, "
                f"{_num(sp.get('distance_m')) or 0:.1f} m, median step length "
                f"{_num(sp.get('step_length_m')) or 0:.2f} m ({sp.get('leg_length_source')})"
                + tail)
    why = sp.get("reason") or "not estimated"
    if info.get("activity") == "run":
        why = "running speed is not estimated (walking only)"
    return f"not estimated: {why}" + tail


def format_result(res: AnalysisResult) -> str:
    """A short plain-text summary of an analysis for the terminal."""
    info = res.info
    good = res.strides[res.strides["valid"]]
    cadence = _num(info.get("cadence_spm"))
    if cadence is not None:
        cadence_text = f"{cadence:.1f} steps/min"
    else:
        cadence_text = f"not measured ({_no_cadence_reason(res)})"
    lines = [
        f"activity: {info.get('activity', '?')}   duration: "
        f"{_num(info.get('duration_s')) or 0:.1f} s   cadence: {cadence_text}",
        "side  stances  CPD from IC (deg)  CPD vs standing (deg)  stance (s)",
    ]
    for side in SIDES:
        g = good[good["side"] == side]
        lines.append(
            f"{side:<4}  {len(g):>7}  {_cell(g['cpd_ic_deg'].mean(), 17, 2)}  "
            f"{_cell(g['cpd_standing_deg'].mean(), 21, 2)}  {_cell(g['stance_s'].mean(), 10, 3)}"
        )
    if any(len(good[good["side"] == s]) == 0 for s in SIDES) or "n/a" in "".join(lines[2:]):
        lines.append("n/a: not measured (no valid stance of that side, or no quiet standing "
                     "for the standing reference)")
    lines.append(f"speed: {speed_line(info)}")
    turns = [t for t in (info.get("turns") or []) if isinstance(t, dict)]
    if turns:
        lines.append(
            f"turns: {len(turns)} ("
            + ", ".join(f"{t['direction']} {abs(float(t['angle_deg'])):.0f} deg at "
                        f"{float(t['start_s']):.1f} s" for t in turns[:6])
            + (", ..." if len(turns) > 6 else "") + ")"
        )
    if info.get("n_excluded"):
        # the reasons of stances without a side are on the "sides" line
        counts: dict[str, int] = {}
        for k, v in (info.get("excluded_reasons") or {}).items():
            key = NO_SIDE_REASON if str(k).startswith(NO_SIDE_REASON) else str(k)
            counts[key] = counts.get(key, 0) + int(v)
        reasons = ", ".join(f"{k}: {v}" for k, v in counts.items())
        lines.append(f"excluded stances: {info['n_excluded']} ({reasons})")
    al = info.get("alignment") or {}
    c = al.get("correction_deg") or {}
    if c:
        lines.append(
            f"mounting correction: {_deg(c.get('angle'), False)} deg (about up "
            f"{_deg(c.get('about_is'))}, right {_deg(c.get('about_ml'))}, forward "
            f"{_deg(c.get('about_pa'))}); "
            f"vertical from {al.get('up_source')}, heading from {al.get('heading_source')}"
        )
    for label, text in (("heading", heading_text(al)), ("forward", forward_text(al)),
                        ("sides", sides_text(info, len(res.strides)))):
        if text:
            lines.append(f"{label}: {text}")
    for w in info.get("warnings", []):
        lines.append(f"warning: {w}")
    outs = [p for p in (info.get("outputs") or {}).values() if p]
    if outs:
        lines.append("wrote " + ", ".join(outs))
    return "\n".join(lines)
