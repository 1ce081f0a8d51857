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
from gaitimu.analysis.selftests import analyze_self_test, empty_tests, heading_from_shifts
from gaitimu.analysis.speed import SpeedSettings, leg_length_from
from gaitimu.analysis.turns import detect_turns
from gaitimu.consts import DEFAULT_AXES, SELF_TESTS, SIDES, finite_or_none
from gaitimu.errors import NoGaitError
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
        ``given_speed_kmh``). A self-test session (docs/self_tests.md) has ``self_tests``
        (what `gaitimu.analysis.selftests.analyze_self_test` found: baselines, phases,
        warnings) and no gait numbers (no strides, cadence NaN).
    tests : DataFrame
        Self-tests (activity in `gaitimu.consts.SELF_TESTS`): one row per hold or rep
        (`gaitimu.analysis.selftests.TEST_COLUMNS`, docs/self_tests.md); empty (same
        columns) for gait sessions.
    """

    strides: pd.DataFrame
    signals: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    tests: pd.DataFrame = field(default_factory=empty_tests)


def _no_side_reasons(reasons: pd.Series) -> dict[str, int]:
    """{reason: count} of the stances without a side ("no side: " prefix removed)."""
    prefix = f"{NO_SIDE_REASON}: "
    text = reasons.fillna("").astype(str)
    text = text.where(~text.str.startswith(prefix), text.str[len(prefix):])
    text = text.where(text != "", "left/right uncertain")
    return {str(k): int(v) for k, v in text.value_counts().items()}


def _gap_warnings(cond: Any, bridged_for: str) -> list[str]:
    """The data-gap warning of a recording (none without gaps); ``bridged_for`` says what
    the holes up to 0.2 s are bridged for (``{n_long}``: the number of longer ones)."""
    if not cond.gaps_s:
        return []
    n_long = len(gap_intervals(cond.bridged, cond.t_s, cond.sampling_rate_hz))
    return [
        f"{len(cond.gaps_s)} data gap(s) longer than "
        f"{1e3 * DEFAULT_MAX_INTERP_GAP_S:.0f} ms (no metrics on them; "
        f"{len(cond.gaps_s) - n_long} up to {DEFAULT_MAX_BRIDGE_GAP_S:g} s bridged for "
        + bridged_for.format(n_long=n_long) + ")"
    ]


def _recording_info(cond: Any, align_info: dict[str, Any]) -> dict[str, Any]:
    """The first keys of ``info``, for gait and self-tests alike: rate, duration, alignment
    and conditioning."""
    fs = cond.sampling_rate_hz
    return {
        "sampling_rate_hz": fs,
        "duration_s": float(cond.t_s[-1] - cond.t_s[0] + 1.0 / fs),
        "alignment": align_info,
        "conditioning": {
            "n_interpolated": cond.n_interpolated,
            "n_bridged": cond.n_bridged,
            "gaps_s": [list(g) for g in cond.gaps_s],
        },
    }


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
    fusion: str = "auto",
) -> tuple[pd.DataFrame, Any, dict[str, Any]]:
    """Raw sensor-frame samples -> uniform grid -> pelvis frame: the first stages of
    `analyze` (``settings``: the alignment's, None = defaults; ``fusion``: the VQF variant,
    `align_to_pelvis`).

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
        fusion=fusion,
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
    protocol: dict[str, Any] | None = None,
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
        Declared activity ("walk"/"run"), used when the events carry none. A self-test
        (`gaitimu.consts.SELF_TESTS`) is analysed as one (`gaitimu.analysis.selftests`):
        ``tests`` holds its rows, ``strides`` is empty, and no `NoGaitError` is raised.
    events : DataFrame, optional
        Known stances (``side``, ``ic_s``, ``fc_s``, ...), e.g. reference events for
        validation; skips event detection.
    leg_length_m, height_m : float, optional
        Leg length, or body height (leg = 0.53 x height), in m, for the walking step length
        and speed (`gaitimu.analysis.speed`); without either they are NaN.
    settings : AnalysisSettings, optional
        The algorithms' settings (`gaitimu.stages.AnalysisSettings`; None: the defaults).
    protocol : dict, optional
        A self-test's protocol (``meta.protocol``, docs/self_tests.md): which leg each hold
        or squat set was meant for. Without it the stance side is unknown ("").

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
    self_test = activity in SELF_TESTS and events is None
    body, cond, align_info = pelvis_signals(
        t_s, acc, gyr, sampling_rate_hz=sampling_rate_hz, axes=axes,
        settings=settings.alignment,
        # A self-test is quasi-static for minutes: the online filter's rest-bias estimation
        # takes postural sway on one leg for gyroscope bias (obliquity wandering by up to
        # 1.9 deg on noise-free simulated holds; the acausal offline filter 0.5 deg)
        fusion="offline" if self_test else "auto",
    )
    fs = cond.sampling_rate_hz
    if self_test:
        return _self_test_result(body, cond, align_info, test=str(activity),
                                 protocol=protocol, settings=settings)

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
    warnings += _gap_warnings(cond, "event detection, {n_long} longer split gait bouts")
    info = {
        **_recording_info(cond, align_info),
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


def _self_test_result(
    body: pd.DataFrame, cond: Any, align_info: dict[str, Any], *, test: str,
    protocol: dict[str, Any] | None, settings: AnalysisSettings,
) -> AnalysisResult:
    """A self-test session: the tests table instead of gait (no strides, no `NoGaitError`);
    ``info`` keeps the keys of a gait analysis (counts zero, cadence NaN) and adds
    ``self_tests``."""
    # no gait to take the sensor heading from: the weight shifts give it
    body, heading = heading_from_shifts(body, sampling_rate_hz=cond.sampling_rate_hz,
                                        settings=settings.self_tests)
    found = analyze_self_test(
        body, sampling_rate_hz=cond.sampling_rate_hz, test=test, protocol=protocol,
        settling_s=align_info.get("settling_s", ()), settings=settings.self_tests,
    )
    found.info["heading"] = heading
    align_warnings = [w for w in align_info["warnings"]
                      if not (heading["applied_deg"] and w.startswith("no periodic gait"))]
    strides, speed_info = stride_table(
        pd.DataFrame(columns=["side", "ic_s", "fc_s"]), body,
        sampling_rate_hz=cond.sampling_rate_hz, standing_obliquity_deg=float("nan"),
        speed=SpeedSettings(), activity=test, settings=settings.metrics,
    )
    warnings = (align_warnings + list(found.info.get("warnings", []))
                + _gap_warnings(cond, "the tests, {n_long} longer ones invalidate their row"))
    info = {
        **_recording_info(cond, align_info),
        "events": {"source": "self-test: no gait events"},
        "activity": test,
        "cadence_spm": float("nan"),
        "n_strides": dict.fromkeys(SIDES, 0),
        "n_no_side": 0,
        "no_side_reasons": {},
        "sides": [],
        "n_excluded": 0,
        "excluded_strides": 0,
        "gaps": [list(g) for g in cond.gaps_s],
        "excluded_reasons": {},
        "warnings": warnings,
        "speed": speed_info,
        "turns": [],
        "self_tests": found.info,
    }
    return AnalysisResult(strides=strides, signals=body,
                          info=jsonable(info, finite=False, strict=False), tests=found.tests)


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
        leg_length_m, height_m = finite_or_none(meta.get("leg_length_m")), finite_or_none(meta.get("height_m"))
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
        protocol=meta.get("protocol") if isinstance(meta.get("protocol"), dict) else None,
    )
    sp = res.info["speed"]
    sp["leg_length_from"] = body_source if sp.get("leg_length_m") is not None else None
    sp["height_m"] = finite_or_none(height_m)
    sp["given_speed_kmh"] = finite_or_none(meta.get("speed_kmh"))
    res.info["session"] = str(session.path)
    if axes is not None:
        res.info["axes_override"] = {"axes": axes, "session_axes": session.axes}
    if session.problems:
        res.info["session_problems"] = list(session.problems)
    return res
