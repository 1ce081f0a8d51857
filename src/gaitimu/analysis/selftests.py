"""Self-tests measured by the sacral sensor: single-leg stance and single-leg squat.

Data requirements: the pelvis signals of `gaitimu.pipeline.pelvis_signals` on a uniform grid
(``t_s``, ``obliquity_deg``, ``tilt_deg``, ``acc_is/ml/pa`` in m/s^2, ``gyr_is/ml/pa`` in
deg/s, ``valid``), the test's name and, when the session was recorded with the guided
recorder, its protocol (``meta.protocol``, docs/self_tests.md). The contract (names, the drop
sign, the tests table) is docs/self_tests.md.

Method
------
The pipeline turns the pelvis frame to the heading the weight shifts give
(`heading_from_shifts`: a self-test has no gait to take it from) and fuses with the offline
filter (`gaitimu.pipeline.analyze`), then `analyze_self_test` runs these steps:

1. **Signals** (`_features`): obliquity, tilt and the roll and pitch rates low-passed at 2 Hz;
   the vertical (`gaitimu.analysis.speed.vertical_acceleration`) and lateral
   (`lateral_acceleration`) acceleration in the level frame.
2. **Weight shifts** (`_lateral_shifts`): standing on one leg starts with moving the pelvis
   over that foot and ends with moving it back (5-10 cm). The lateral velocity (integrated
   acceleration, drift high-passed) shows each shift as a pulse; the minimum-jerk movement
   (Flash & Hogan 1985) that best explains the pulse, with the pelvis still on either side,
   gives its start, end and displacement. Shifts of at least 4 cm within 1.5 s count.
3. **Single-leg support** (`_support_periods`): a shift to one side and the next one back.
   **Lift-off** is where the shift onto the stance leg ends (the weight is over the
   stance foot, the other foot leaves the ground), **touch-down** where the shift back
   starts. The protocol only says which leg each support was meant for (the planned hold or
   squat set it overlaps most); support outside the plan (e.g. in the rest) is ignored.
   Without a protocol the side stays "" (never inferred from the drop: that would assume
   the answer) and the drop is not signed (``obliquity_change_deg`` has it unsigned).
4. **Baseline** (`_baseline`): the two-legged standing right before the weight shift (the
   alignment's quiet-standing test, `orientation.detect_standing`, over the 10 s before it,
   after the previous support): its mean obliquity. None: the row is invalid.
5. **Holds**: ``stabilise_s`` (lift-off to the first 1 s with the roll rate below 2x the
   hold's median), early **touch-downs** (`_touchdowns`: quick dips of the obliquity more
   than half-way back to the baseline), and over the stable part (after stabilising,
   touch-downs and 1 s after each left out, short holes left out) the drop (mean, 95th
   percentile) and the sway (SD of obliquity and tilt, RMS roll and pitch rate).
6. **Squats** (`_find_reps`): the reps in each single-leg support from the
   double-integrated vertical acceleration (bottoms at least 2.5 cm deep, the ways down and
   up as minimum-jerk movements); per rep (`_rep_row`) the depth from the vertical
   acceleration integrated twice over the rep alone (still at both ends, back at the
   starting height: the drift removed per rep), the bottom (the deepest point), the drop
   there, the tempo and the drop per metre of depth.

A row is ``valid = False`` with a ``reason`` when it cannot be trusted: a data gap longer
than 0.2 s in it, the orientation settling after such a gap, no two-legged standing before
it, a hold too short or never stable.

Everything here is pure (arrays and DataFrames in, DataFrames out); the thresholds are in
`SelfTestSettings`, each with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from gaitimu.analysis.conditioning import DEFAULT_MAX_BRIDGE_GAP_S
from gaitimu.analysis.filters import find_peaks, lowpass, runs
from gaitimu.analysis.orientation import HEADING_CONE_DEG as ORIENTATION_HEADING_CONE_DEG
from gaitimu.analysis.orientation import (
    HEADING_PRIOR_SD_DEG as ORIENTATION_HEADING_PRIOR_SD_DEG,
)
from gaitimu.analysis.orientation import AlignmentSettings, detect_standing
from gaitimu.analysis.speed import vertical_acceleration
from gaitimu.consts import BODY_ACC, BODY_GYR

__all__ = ["TEST_COLUMNS", "SelfTestResult", "SelfTestSettings", "analyze_self_test",
           "drop_sign", "empty_tests", "heading_from_shifts", "lateral_acceleration"]

#: Columns of the tests table (``tests.csv``, `AnalysisResult.tests`) and their dtypes;
#: docs/self_tests.md says what each means.
TEST_COLUMNS: dict[str, str] = {
    "test": "object",
    "stance_side": "object",
    "index": "int64",
    "start_s": "float64",
    "end_s": "float64",
    "hold_s": "float64",
    "touchdowns": "int64",
    "touchdowns_s": "object",
    "baseline_obliquity_deg": "float64",
    "obliquity_change_deg": "float64",
    "drop_mean_deg": "float64",
    "drop_worst_deg": "float64",
    "sway_ml_deg": "float64",
    "sway_ap_deg": "float64",
    "sway_ml_dps": "float64",
    "sway_ap_dps": "float64",
    "stabilise_s": "float64",
    "stable_s": "float64",
    "bottom_s": "float64",
    "drop_bottom_deg": "float64",
    "depth_m": "float64",
    "down_s": "float64",
    "up_s": "float64",
    "drop_per_depth_deg_per_m": "float64",
    "valid": "bool",
    "reason": "object",
}


def empty_tests() -> pd.DataFrame:
    """The tests table with no rows (its columns and dtypes kept)."""
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in TEST_COLUMNS.items()})


# Thresholds, each with its reason (our choices unless a source is named; docs/self_tests.md).
#: Posture signals (obliquity, tilt) for the drop and the phases are low-passed here: postural
#: sway and squat movements are below 2 Hz, sensor noise and soft-tissue wobble above.
POSTURE_LOWPASS_HZ = 2.0
#: Low-pass of the lateral acceleration the weight shifts are found in: a weight shift
#: takes 0.5-1.5 s, its acceleration is below 5 Hz.
MOVEMENT_LOWPASS_HZ = 5.0
#: A weight shift moves the pelvis over the stance foot, about half the stance width
#: (5-10 cm; the simulator's default 7 cm); postural sway moves it by millimetres. A lateral
#: movement of at least this much, done within `MAX_SHIFT_S`, is a weight shift.
MIN_SHIFT_M = 0.04
#: The lateral velocity is the integrated acceleration high-passed at this frequency (drift
#: of the integration); a shift of 0.5-1.5 s is far above it.
SHIFT_HIGHPASS_HZ = 0.1
#: A weight shift starts and ends where its lateral speed is below this fraction of its
#: peak (a minimum-jerk movement, Flash & Hogan 1985, reaches 5 % of its peak speed 2 % of
#: its duration from either end).
SHIFT_EDGE_FRACTION = 0.05
#: A weight shift takes at most this long (s): a deliberate shift of the body onto one
#: foot. A minimum-jerk movement of `MIN_SHIFT_M` within it peaks at a lateral speed of at
#: least 1.875 x MIN_SHIFT_M / MAX_SHIFT_S (0.05 m/s); slower drifts of the integrated
#: velocity are not shifts.
MAX_SHIFT_S = 1.5
#: The baseline is looked for in the two-legged standing up to this long before the weight
#: shift (the standing "right before" the hold).
BASELINE_WINDOW_S = 10.0
#: Two-legged standing before a hold or a squat set must last this long to be a baseline
#: (the alignment's quiet-standing minimum, `orientation.MIN_STANDING_S`).
MIN_BASELINE_S = 1.0
#: A hold whose stable part is shorter than this is "hold too short": a mean and a 95th
#: percentile of sway need a few sway cycles (0.3-1 Hz).
MIN_STABLE_S = 2.0
#: ``stabilise_s``: lift-off to the first STABILISE_WINDOW_S with the roll rate below
#: STABILISE_FACTOR x the hold's median (docs/self_tests.md).
STABILISE_WINDOW_S = 1.0
STABILISE_FACTOR = 2.0
#: ``drop_worst_deg``: this percentile of the drop over the stable part (the worst sustained
#: drop, not one noisy sample).
WORST_PERCENTILE = 95.0
#: After an early touch-down the hold's measures restart this long after the foot lifted
#: again (the pelvis settles again, as after the lift-off).
TOUCHDOWN_MARGIN_S = 1.0
#: Early touch-downs (`_touchdowns`): dips of the obliquity back towards the baseline
#: lasting one of TOUCHDOWN_S (a foot put down for a moment: 0.5-2 s), compared with the
#: TOUCHDOWN_FLANK_S on either side, at least TOUCHDOWN_SD robust SDs of such dips over the
#: hold, entered and left quickly: TOUCHDOWN_EDGE_FRACTION of the dip within
#: TOUCHDOWN_EDGE_S. Simulated 1-deg drops in 0.3-deg sway (the hardest case): 14 of 16
#: touch-downs found, 2 of 32 holds with a false one (benchmarks/validate_selftests.py).
TOUCHDOWN_S = (0.4, 0.7, 1.0, 1.5, 2.0)
TOUCHDOWN_FLANK_S = 1.0
TOUCHDOWN_SD = 3.0
TOUCHDOWN_EDGE_S = 0.4
TOUCHDOWN_EDGE_FRACTION = 0.6
#: ... and only in holds whose obliquity is at least this many robust SDs of its sway away
#: from the baseline (else a foot put down does not show in the obliquity).
TOUCHDOWN_MIN_LEVEL_SD = 2.0
#: A squat rep is a vertical excursion of the sacrum of at least this depth: less is a
#: bob of balance, not a squat.
MIN_DEPTH_M = 0.05
#: The way down or up of a squat takes at most this long (s): a slow, controlled squat.
MAX_REP_PHASE_S = 4.0
#: A rep starts at the last sample before its bottom where the sinking speed is below this
#: fraction of the rep's peak sinking speed, and ends likewise on the way up.
REP_EDGE_FRACTION = 0.05
#: Heading from the weight shifts (`heading_from_shifts`): the declared heading is the
#: prior, as for gait (`orientation.HEADING_PRIOR_SD_DEG`, `orientation.HEADING_CONE_DEG`).
HEADING_PRIOR_SD_DEG = ORIENTATION_HEADING_PRIOR_SD_DEG
HEADING_CONE_DEG = ORIENTATION_HEADING_CONE_DEG
#: Gaps a row may contain: holes up to this length are linearly interpolated (their samples
#: are left out of the averages); a longer one makes the row invalid.
MAX_GAP_S = DEFAULT_MAX_BRIDGE_GAP_S


@dataclass(frozen=True)
class SelfTestSettings:
    """Parameters of `analyze_self_test` (defaults: the module constants, each with its
    reason there).

    Attributes
    ----------
    posture_lowpass_hz : float
        Low-pass of obliquity and tilt (`POSTURE_LOWPASS_HZ`).
    movement_lowpass_hz, min_shift_m, shift_highpass_hz, shift_edge_fraction, max_shift_s
        Weight shifts (`MOVEMENT_LOWPASS_HZ`, `MIN_SHIFT_M`, `SHIFT_HIGHPASS_HZ`,
        `SHIFT_EDGE_FRACTION`, `MAX_SHIFT_S`).
    baseline_window_s : float
        Where the baseline standing is looked for (`BASELINE_WINDOW_S`).
    min_baseline_s : float
        Shortest two-legged standing that is a baseline (`MIN_BASELINE_S`).
    min_stable_s : float
        Shortest stable part of a hold (`MIN_STABLE_S`); shorter: "hold too short".
    stabilise_window_s, stabilise_factor : float
        ``stabilise_s`` rule (`STABILISE_WINDOW_S`, `STABILISE_FACTOR`).
    worst_percentile : float
        ``drop_worst_deg`` percentile (`WORST_PERCENTILE`).
    touchdown_margin_s : float
        Settling after an early touch-down (`TOUCHDOWN_MARGIN_S`).
    touchdown_s : tuple of float
    touchdown_flank_s, touchdown_sd, touchdown_edge_s, touchdown_edge_fraction : float
    touchdown_min_level_sd : float
        Early touch-downs (`TOUCHDOWN_S`, `TOUCHDOWN_FLANK_S`, `TOUCHDOWN_SD`,
        `TOUCHDOWN_EDGE_S`, `TOUCHDOWN_EDGE_FRACTION`, `TOUCHDOWN_MIN_LEVEL_SD`).
    min_depth_m, max_rep_phase_s : float
        Shallowest squat rep, longest way down or up (`MIN_DEPTH_M`, `MAX_REP_PHASE_S`).
    rep_edge_fraction : float
        Rep start and end (`REP_EDGE_FRACTION`).
    max_gap_s : float
        Longest data gap a row may contain (`MAX_GAP_S`).
    heading_prior_sd_deg, heading_cone_deg : float
        Heading from the weight shifts (`HEADING_PRIOR_SD_DEG`, `HEADING_CONE_DEG`).
    """

    posture_lowpass_hz: float = POSTURE_LOWPASS_HZ
    movement_lowpass_hz: float = MOVEMENT_LOWPASS_HZ
    min_shift_m: float = MIN_SHIFT_M
    shift_highpass_hz: float = SHIFT_HIGHPASS_HZ
    shift_edge_fraction: float = SHIFT_EDGE_FRACTION
    max_shift_s: float = MAX_SHIFT_S
    baseline_window_s: float = BASELINE_WINDOW_S
    min_baseline_s: float = MIN_BASELINE_S
    min_stable_s: float = MIN_STABLE_S
    stabilise_window_s: float = STABILISE_WINDOW_S
    stabilise_factor: float = STABILISE_FACTOR
    worst_percentile: float = WORST_PERCENTILE
    touchdown_margin_s: float = TOUCHDOWN_MARGIN_S
    touchdown_s: tuple[float, ...] = TOUCHDOWN_S
    touchdown_flank_s: float = TOUCHDOWN_FLANK_S
    touchdown_sd: float = TOUCHDOWN_SD
    touchdown_edge_s: float = TOUCHDOWN_EDGE_S
    touchdown_edge_fraction: float = TOUCHDOWN_EDGE_FRACTION
    touchdown_min_level_sd: float = TOUCHDOWN_MIN_LEVEL_SD
    min_depth_m: float = MIN_DEPTH_M
    max_rep_phase_s: float = MAX_REP_PHASE_S
    rep_edge_fraction: float = REP_EDGE_FRACTION
    max_gap_s: float = MAX_GAP_S
    heading_prior_sd_deg: float = HEADING_PRIOR_SD_DEG
    heading_cone_deg: float = HEADING_CONE_DEG


class SelfTestResult(NamedTuple):
    """What `analyze_self_test` returns: the tests table (`TEST_COLUMNS`) and ``info``
    (``test``, ``protocol`` (whether one was used), ``phases`` (what was found, in time
    order), ``warnings``)."""

    tests: pd.DataFrame
    info: dict[str, Any]


def drop_sign(side: str) -> float:
    """+1 standing on the LEFT leg (drop = obliquity - baseline: the right side falling
    lowers it, obliquity > 0 = left higher), -1 on the RIGHT (drop = baseline - obliquity),
    NaN when the side is unknown (the drop is not signed then)."""
    return {"L": 1.0, "R": -1.0}.get(side, float("nan"))


# --------------------------------------------------------------------------- features
class _Features(NamedTuple):
    """The per-sample signals the phases and the measures are taken from."""

    t: np.ndarray
    fs: float
    obl: np.ndarray  #: obliquity, low-passed (deg)
    tilt: np.ndarray  #: tilt, low-passed (deg)
    roll: np.ndarray  #: roll rate (gyr_pa, d obliquity/dt), low-passed (deg/s)
    pitch: np.ndarray  #: pitch rate (gyr_ml), low-passed (deg/s)
    a_vert: np.ndarray  #: specific force along the earth vertical (m/s^2, ~ +g at rest)
    a_lat: np.ndarray  #: lateral acceleration in the level frame, low-passed (m/s^2)
    ok: np.ndarray  #: measured (the strict ``valid``)
    usable: np.ndarray  #: measured or inside a hole up to ``max_gap_s`` (interpolated)
    acc: np.ndarray  #: body-frame specific force (n, 3)
    gyr: np.ndarray  #: body-frame angular rate (n, 3)


def lateral_acceleration(body: pd.DataFrame) -> np.ndarray:
    """Acceleration (m/s^2, > 0 towards the participant's right) along the pelvis's
    medio-lateral axis made horizontal: the specific force projected on it with the pelvis
    obliquity and tilt (``acc_is sin(obl) cos(tilt) + acc_ml cos(obl) - acc_pa sin(obl)
    sin(tilt)``), so gravity drops out however the pelvis is tilted (the horizontal
    companion of `gaitimu.analysis.speed.vertical_acceleration`)."""
    o = np.radians(body["obliquity_deg"].to_numpy(dtype=float))
    t = np.radians(body["tilt_deg"].to_numpy(dtype=float))
    so = np.sin(o)
    return (body["acc_is"].to_numpy(dtype=float) * so * np.cos(t)
            + body["acc_ml"].to_numpy(dtype=float) * np.cos(o)
            - body["acc_pa"].to_numpy(dtype=float) * so * np.sin(t))


def _features(body: pd.DataFrame, fs: float, cfg: SelfTestSettings) -> _Features:
    """1. The signals of every later step, filtered per measured stretch."""
    ok = (body["valid"].to_numpy(bool) if "valid" in body
          else np.ones(len(body), dtype=bool))
    starts, ends = runs(~ok)
    usable = ok.copy()
    for s, e in zip(starts, ends, strict=True):
        if e - s <= round(cfg.max_gap_s * fs):
            usable[s:e] = True

    def lp(x: np.ndarray, hz: float = cfg.posture_lowpass_hz) -> np.ndarray:
        return lowpass(x, hz, sampling_rate_hz=fs, valid=usable)

    return _Features(
        t=body["t_s"].to_numpy(float), fs=fs, obl=lp(body["obliquity_deg"].to_numpy(float)),
        tilt=lp(body["tilt_deg"].to_numpy(float)), roll=lp(body["gyr_pa"].to_numpy(float)),
        pitch=lp(body["gyr_ml"].to_numpy(float)), a_vert=vertical_acceleration(body),
        a_lat=lp(lateral_acceleration(body), cfg.movement_lowpass_hz), ok=ok, usable=usable,
        acc=body[list(BODY_ACC)].to_numpy(float), gyr=body[list(BODY_GYR)].to_numpy(float),
    )


# --------------------------------------------------------------------------- protocol
class _Planned(NamedTuple):
    """One planned hold or squat set of the protocol (session seconds)."""

    kind: str  #: "hold" or "squats"
    side: str  #: "L", "R" or "" (not said)
    start_s: float
    end_s: float


def _planned(protocol: Mapping[str, Any] | None, warnings: list[str]) -> list[_Planned]:
    """The protocol's holds and squat sets in time order ([] without a protocol). Malformed
    phases are skipped with a warning: the plan only says which leg was meant."""
    if not protocol:
        return []
    out: list[_Planned] = []
    phases = protocol.get("phases") if isinstance(protocol, Mapping) else None
    for ph in phases if isinstance(phases, Sequence) else []:
        if not isinstance(ph, Mapping) or ph.get("phase") not in ("hold", "squats"):
            continue
        try:
            start, end = float(ph["start_s"]), float(ph["end_s"])
        except (KeyError, TypeError, ValueError):
            warnings.append(f"protocol phase {ph.get('phase')!r} without start_s/end_s: "
                            "skipped")
            continue
        side = str(ph.get("stance_side") or "")
        out.append(_Planned(str(ph["phase"]), side if side in ("L", "R") else "", start,
                            end))
    return sorted(out, key=lambda p: p.start_s)


def _side_of(a_s: float, b_s: float, plan: list[_Planned]) -> str:
    """The stance side the plan meant for the support period ``[a_s, b_s]``: the planned
    hold or squat set overlapping it most ("" without one)."""
    best, side = 0.0, ""
    for p in plan:
        ov = min(b_s, p.end_s) - max(a_s, p.start_s)
        if ov > best:
            best, side = ov, p.side
    return side


# --------------------------------------------------------------------------- measures
def _row(test: str, side: str, index: int, **values: Any) -> dict[str, Any]:
    """One row of the tests table, NaN (or its type's empty value) where not measured."""
    row: dict[str, Any] = {c: (np.nan if d == "float64" else None)
                           for c, d in TEST_COLUMNS.items()}
    row.update(test=test, stance_side=side, index=index, touchdowns=0, touchdowns_s="[]",
               valid=True, reason="")
    row.update(values)
    return row


def _row_problem(f: _Features, a: int, b: int, settling: np.ndarray, what: str) -> str:
    """Why the row over samples ``[a, b)`` cannot be trusted ("" if it can): a gap longer
    than ``max_gap_s`` in it, or the orientation settling after one."""
    if not f.usable[a:b].all():
        return f"data gap in the {what}"
    if settling[a:b].any():
        return "orientation settling after a data gap"
    return ""


def _stable_start(f: _Features, a: int, b: int, keep: np.ndarray,
                  cfg: SelfTestSettings) -> int | None:
    """First sample of the first ``stabilise_window_s`` after lift-off ``a`` whose roll rate
    stays below ``stabilise_factor`` x the hold's median (None: never)."""
    rate = np.abs(f.roll[a:b])
    if not keep[a:b].any():
        return None
    calm = rate < cfg.stabilise_factor * np.median(rate[keep[a:b]])
    starts, ends = runs(calm)
    long = np.flatnonzero(ends - starts >= round(cfg.stabilise_window_s * f.fs))
    return None if long.size == 0 else a + int(starts[long[0]])


def _hold_row(
    f: _Features, test: str, side: str, index: int, a: int, b: int,
    touchdowns: list[tuple[int, int]], baseline: float, settling: np.ndarray,
    cfg: SelfTestSettings,
) -> dict[str, Any]:
    """The measures of one hold from lift-off ``a`` to touch-down ``b`` (samples)."""
    n = f.t.size
    keep = np.zeros(n, dtype=bool)
    keep[a:b] = True
    margin = round(cfg.touchdown_margin_s * f.fs)
    for s, e in touchdowns:
        keep[s:min(e + margin, n)] = False
    s0 = _stable_start(f, a, b, keep, cfg)
    stable = keep & f.ok
    if s0 is not None:
        stable[:s0] = False
    values: dict[str, Any] = {
        "start_s": f.t[a], "end_s": f.t[b], "hold_s": f.t[b] - f.t[a],
        "touchdowns": len(touchdowns),
        "touchdowns_s": json.dumps([[round(float(f.t[s]), 3), round(float(f.t[e]), 3)]
                                    for s, e in touchdowns]),
        "baseline_obliquity_deg": baseline,
        "stabilise_s": np.nan if s0 is None else f.t[s0] - f.t[a],
        "stable_s": stable.sum() / f.fs,
    }
    reason = _row_problem(f, a, b, settling, "hold")
    if s0 is None:
        reason = reason or "the pelvis never stabilised after lift-off"
    elif stable.sum() < cfg.min_stable_s * f.fs:
        reason = reason or "hold too short"
    if not np.isfinite(baseline):
        reason = reason or "no two-legged standing before the hold"
    if stable.any():
        change = f.obl[stable] - baseline
        drop = drop_sign(side) * change
        values.update(
            obliquity_change_deg=float(np.mean(change)),
            drop_mean_deg=float(np.mean(drop)),
            drop_worst_deg=float(np.percentile(drop, cfg.worst_percentile)),
            sway_ml_deg=float(np.std(f.obl[stable])),
            sway_ap_deg=float(np.std(f.tilt[stable])),
            sway_ml_dps=float(np.sqrt(np.mean(f.roll[stable] ** 2))),
            sway_ap_dps=float(np.sqrt(np.mean(f.pitch[stable] ** 2))),
        )
    return _row(test, side, index, **values, valid=not reason, reason=reason)


def _rep_profile(a_vert: np.ndarray, a: int, b: int, fs: float) -> np.ndarray:
    """Vertical position of the sacrum (m) over a rep ``[a, b]``: the vertical acceleration
    integrated twice with the drift removed per rep. The person is still at both ends
    (zero vertical velocity: the mean acceleration, i.e. gravity and any bias, is
    removed) and back at the height they started from (the position's linear trend is
    removed)."""
    acc = a_vert[a:b + 1] - np.mean(a_vert[a:b + 1])
    vel = np.cumsum(acc) / fs
    pos = np.cumsum(vel) / fs
    return pos - pos[0] - (pos[-1] - pos[0]) * np.linspace(0.0, 1.0, pos.size)


def _rep_row(
    f: _Features, test: str, side: str, index: int, a: int, b: int, baseline: float,
    settling: np.ndarray, cfg: SelfTestSettings,
) -> dict[str, Any]:
    """The measures of one squat rep from its start ``a`` to its end ``b`` (samples): the
    depth and the bottom (the deepest point) from `_rep_profile`, the drop there."""
    pos = _rep_profile(f.a_vert, a, b, f.fs)
    m = a + int(np.argmin(pos))
    depth = float(np.max(pos) - np.min(pos))
    change = float(f.obl[m] - baseline)
    drop = drop_sign(side) * change
    reason = _row_problem(f, a, b + 1, settling, "rep")
    if not np.isfinite(baseline):
        reason = reason or "no two-legged standing before the squats"
    return _row(
        test, side, index, start_s=f.t[a], end_s=f.t[b], bottom_s=f.t[m],
        baseline_obliquity_deg=baseline, obliquity_change_deg=change,
        drop_bottom_deg=drop, depth_m=depth, down_s=f.t[m] - f.t[a], up_s=f.t[b] - f.t[m],
        drop_per_depth_deg_per_m=drop / depth if depth > 0 else np.nan,
        valid=not reason, reason=reason,
    )


# --------------------------------------------------------------------------- phases
class _Shift(NamedTuple):
    """A weight shift: samples where it starts and ends, and how far the pelvis moved
    (m, > 0 towards the right)."""

    start: int
    end: int
    disp_m: float


def _min_jerk_fit(vel: np.ndarray, fs: float, shortest_s: float, longest_s: float, *,
                  positive: bool = False) -> tuple[int, int, float]:
    """The minimum-jerk movement (Flash & Hogan 1985: speed ``30 u^2 (1 - u)^2`` over
    ``u`` in [0, 1]) that best explains the velocity ``vel`` (least squares, the movement's
    start, duration from ``shortest_s`` to ``longest_s`` in 20 ms steps, and amplitude
    free, or only > 0 with ``positive``; still outside it). Returns its first and last
    sample and its displacement."""
    best = (-1.0, 0, 1, 0.0)
    for n in np.unique(np.round(np.arange(shortest_s, longest_s + 1e-9, 0.02) * fs)):
        n = int(n)
        if n < 3 or n > vel.size:
            continue
        u = (np.arange(n) + 0.5) / n
        tpl = 30.0 * u**2 * (1.0 - u) ** 2
        norm = float(tpl @ tpl)
        corr = np.correlate(vel, tpl, mode="valid")
        k = int(np.argmax(corr if positive else corr**2))
        gain = float(corr[k] ** 2 / norm)
        if gain > best[0]:
            best = (gain, k, n, float(corr[k] / norm * tpl.sum() / fs))
    _, k, n, disp = best
    return k, k + n - 1, disp


def _lateral_shifts(f: _Features, cfg: SelfTestSettings) -> list[_Shift]:
    """2. The weight shifts: lateral movements of the pelvis of at least ``min_shift_m``.

    The lateral velocity is the level-frame lateral acceleration integrated and high-passed
    (drift). Around each peak of the lateral speed of at least 1.875 x ``min_shift_m`` /
    ``max_shift_s``, the velocity over ``max_shift_s`` on either side is made zero at both
    ends (its linear trend between them removed: the pelvis is still before and after a
    shift) and the minimum-jerk movement that best explains it (`_min_jerk_fit`) gives the
    shift's start, end and displacement.
    """
    fs = f.fs
    vel = np.cumsum(np.where(f.usable, f.a_lat, 0.0)) / fs
    vel = vel - lowpass(vel, cfg.shift_highpass_hz, sampling_rate_hz=fs, valid=f.usable)
    span = round(cfg.max_shift_s * fs)
    min_speed = 1.875 * cfg.min_shift_m / cfg.max_shift_s
    peaks, _ = find_peaks(np.abs(vel), distance=span, wlen=2 * span)
    out: list[_Shift] = []
    for p in peaks[np.abs(vel[peaks]) >= min_speed]:
        lo, hi = max(int(p) - span, 0), min(int(p) + span, vel.size - 1)
        if not f.usable[lo:hi + 1].all():
            continue
        local = vel[lo:hi + 1] - np.linspace(vel[lo], vel[hi], hi - lo + 1)
        a, b, disp = _min_jerk_fit(local, fs, 0.2, cfg.max_shift_s)
        if abs(disp) >= cfg.min_shift_m and (not out or lo + a >= out[-1].end):
            out.append(_Shift(lo + a, lo + b, disp))
    return out


class _Period(NamedTuple):
    """Single-leg support: lift-off ``a`` to touch-down ``b`` (samples), with the weight
    shift onto the leg before it and the shift back after it."""

    on: _Shift
    off: _Shift

    @property
    def a(self) -> int:
        return self.on.end

    @property
    def b(self) -> int:
        return self.off.start


def _support_periods(shifts: list[_Shift], f: _Features, cfg: SelfTestSettings
                     ) -> list[_Period]:
    """3. Single-leg support: a weight shift to one side and the next shift back (the
    opposite way), at least ``min_stable_s`` apart. The foot is lifted when the shift onto
    the stance leg ends and put down when the shift back starts."""
    out: list[_Period] = []
    k = 0
    while k + 1 < len(shifts):
        on, off = shifts[k], shifts[k + 1]
        if (np.sign(on.disp_m) != np.sign(off.disp_m)
                and f.t[off.start] - f.t[on.end] >= cfg.min_stable_s):
            out.append(_Period(on, off))
            k += 2
        else:
            k += 1
    return out


def _baseline(f: _Features, lo: int, hi: int, cfg: SelfTestSettings) -> tuple[float, list[float]]:
    """4. The two-legged standing in ``[lo, hi)`` (`orientation.detect_standing`: the
    longest quiet, steady stretch): its mean obliquity and ``[start_s, end_s]``; NaN and []
    when there is none of ``min_baseline_s``."""
    lo = max(lo, 0)
    if hi - lo < cfg.min_baseline_s * f.fs:
        return float("nan"), []
    st = detect_standing(f.acc[lo:hi], f.gyr[lo:hi], sampling_rate_hz=f.fs,
                         valid=f.ok[lo:hi], settings=_standing_settings(cfg))
    if st is None:
        return float("nan"), []
    s, e = lo + st[0], lo + st[1]
    return float(np.mean(f.obl[s:e])), [float(f.t[s]), float(f.t[e - 1])]


def _standing_settings(cfg: SelfTestSettings) -> AlignmentSettings:
    return AlignmentSettings(min_standing_s=cfg.min_baseline_s)


def _box_means(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``x[k:k + n]`` for every ``k`` (length ``x.size - n + 1``)."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    return (c[n:] - c[:-n]) / n


def _touchdowns(f: _Features, b: int, s0: int, baseline: float,
                cfg: SelfTestSettings) -> list[tuple[int, int]]:
    """5. Early touch-downs in the hold from ``s0`` (the pelvis stable after lift-off) to
    the touch-down ``b``: the foot takes weight for a moment and the pelvis goes back
    towards its two-legged obliquity, quickly, with the hold's obliquity on both sides.

    For each duration ``w`` in ``touchdown_s`` (a matched filter for such a dip), the dip
    ``c`` = the mean obliquity over ``touchdown_flank_s`` on both sides minus the mean over
    ``w`` in between, towards the baseline. A touch-down is a dip that is

    * at least half the hold's obliquity change from the baseline (the pelvis more than
      half-way back);
    * at least ``touchdown_sd`` robust SDs of ``c`` over the hold (sway rarely dips as far);
    * quick at both ends: the obliquity changes by ``touchdown_edge_fraction`` of the dip
      within ``touchdown_edge_s`` around each end (a foot taking and giving weight is
      fast, postural sway is slow).

    A hold whose obliquity differs from its baseline by less than
    ``touchdown_min_level_sd`` robust SDs of its sway shows no touch-down in the obliquity:
    none is looked for there.
    """
    x = f.obl[s0:b] - baseline
    if x.size == 0:
        return []
    level = float(np.median(x))
    spread = 1.4826 * float(np.median(np.abs(x - level)))
    if abs(level) < cfg.touchdown_min_level_sd * spread:
        return []  # the hold's obliquity is within its sway of the baseline: no dip to see
    x = x * np.sign(level)  # > 0: away from the baseline
    fl = round(cfg.touchdown_flank_s * f.fs)
    half_edge = round(0.5 * cfg.touchdown_edge_s * f.fs)
    flank = _box_means(x, fl)
    best = np.zeros(x.size)  # the strongest dip starting at each sample, in robust SDs
    width = np.zeros(x.size, dtype=int)
    for w_s in cfg.touchdown_s:
        w = round(w_s * f.fs)
        m = x.size - 2 * fl - w + 1  # dips whose flanks fit in the hold
        if m < 1:
            continue
        c = 0.5 * (flank[:m] + flank[fl + w:fl + w + m]) - _box_means(x, w)[fl:fl + m]
        sd = 1.4826 * float(np.median(np.abs(c - np.median(c))))
        k0 = np.arange(m) + fl  # where the dip starts
        k1 = k0 + w  # and ends
        last = x.size - 1
        into = x[np.clip(k0 - half_edge, 0, last)] - x[np.clip(k0 + half_edge, 0, last)]
        out_of = x[np.clip(k1 + half_edge, 0, last)] - x[np.clip(k1 - half_edge, 0, last)]
        quick = np.minimum(into, out_of) >= cfg.touchdown_edge_fraction * c
        z = np.where((c >= 0.5 * abs(level)) & quick, c / max(sd, 1e-12), 0.0)
        better = z > best[k0]
        best[k0[better]], width[k0[better]] = z[better], w
    found = []
    for s, e in zip(*runs(best >= cfg.touchdown_sd), strict=True):
        k = s + int(np.argmax(best[s:e]))
        if found and s0 + k < found[-1][1]:
            continue  # overlaps the previous one
        found.append((s0 + k, s0 + k + int(width[k])))
    return found


def _find_reps(f: _Features, lo: int, hi: int, cfg: SelfTestSettings
               ) -> list[tuple[int, int]]:
    """6. Squat reps in the single-leg support ``[lo, hi)``.

    The vertical acceleration integrated twice (each integral high-passed at
    ``shift_highpass_hz``: drift) gives the sacrum height; each of its minima at least
    ``min_depth_m / 2`` below the heights around it is a rep (the exact depth is measured
    per rep, `_rep_row`). The way down and the way up are each the minimum-jerk movement
    that best explains the vertical velocity between the minimum and the neighbouring ones
    (`_min_jerk_fit`, at most ``max_rep_phase_s``): the rep starts where the way down
    starts and ends where the way up ends.
    """
    fs = f.fs
    if hi - lo < 3 or not f.usable[lo:hi].all():
        return []
    acc = f.a_vert[lo:hi] - np.median(f.a_vert[lo:hi])
    hp = cfg.shift_highpass_hz
    vel = np.cumsum(acc) / fs
    vel = vel - lowpass(vel, hp, sampling_rate_hz=fs)
    pos = np.cumsum(vel) / fs
    pos = pos - lowpass(pos, hp, sampling_rate_hz=fs)
    span = round(cfg.max_rep_phase_s * fs)
    lows, prom = find_peaks(-pos, distance=round(0.5 * fs), wlen=4 * span)
    lows = lows[prom >= 0.5 * cfg.min_depth_m]
    out: list[tuple[int, int]] = []
    for k, m in enumerate(lows):
        m = int(m)
        d0 = max(int(lows[k - 1]) if k else 0, m - span, out[-1][1] - lo if out else 0)
        d1 = min(int(lows[k + 1]) if k + 1 < lows.size else vel.size, m + span)
        down = -(vel[d0:m + 1] - np.linspace(vel[d0], vel[m], m + 1 - d0))
        up = vel[m:d1] - np.linspace(vel[m], vel[d1 - 1], d1 - m)
        if down.size < 8 or up.size < 8:
            continue
        a, _, dz = _min_jerk_fit(down, fs, 0.3, min(cfg.max_rep_phase_s, down.size / fs),
                                 positive=True)
        _, b, uz = _min_jerk_fit(up, fs, 0.3, min(cfg.max_rep_phase_s, up.size / fs),
                                 positive=True)
        if dz > 0 and uz > 0:
            out.append((lo + d0 + a, lo + m + b))
    return out


# --------------------------------------------------------------------------- heading
def _rotate_about_up(body: pd.DataFrame, psi_deg: float) -> pd.DataFrame:
    """The pelvis signals of a frame turned by ``psi_deg`` about the pelvis's up axis
    (the new right axis ``cos(psi) right + sin(psi) forward``): body-frame vectors and the
    obliquity and tilt recomputed from the earth's up in the pelvis frame."""
    c, s_ = np.cos(np.radians(psi_deg)), np.sin(np.radians(psi_deg))
    out = body.copy()
    for ml, pa in (("acc_ml", "acc_pa"), ("gyr_ml", "gyr_pa")):
        x, y = body[ml].to_numpy(float), body[pa].to_numpy(float)
        out[ml], out[pa] = c * x + s_ * y, -s_ * x + c * y
    o = np.radians(body["obliquity_deg"].to_numpy(float))
    t = np.radians(body["tilt_deg"].to_numpy(float))
    # the earth's up in pelvis coordinates (is, ml, pa); docs/coordinate_system.md
    u_is, u_ml, u_pa = np.cos(o) * np.cos(t), -np.sin(o), -np.cos(o) * np.sin(t)
    u_ml, u_pa = c * u_ml + s_ * u_pa, -s_ * u_ml + c * u_pa
    out["obliquity_deg"] = np.degrees(np.arcsin(np.clip(-u_ml, -1.0, 1.0)))
    out["tilt_deg"] = np.degrees(np.arctan2(-u_pa, u_is))
    return out


def _axis_deg(scatter: np.ndarray) -> float:
    """Direction (deg, in (-90, 90]) of the major axis of a 2x2 scatter matrix, from the
    first axis towards the second."""
    return float(np.degrees(0.5 * np.arctan2(2.0 * scatter[0, 1],
                                             scatter[0, 0] - scatter[1, 1])))


def heading_from_shifts(
    body: pd.DataFrame, *, sampling_rate_hz: float, settings: SelfTestSettings | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The sensor heading of a self-test from its weight shifts, and the pelvis signals
    turned to it.

    A self-test has no gait, so the alignment keeps the declared heading (a yaw mounting
    error is not corrected), and a yaw error ``psi`` mixes ``sin(psi)`` of the tilt into the
    obliquity: the 12-deg anterior tilt of a squat would read as a 4-deg drop at 20 deg.
    The weight shifts onto each leg and back move the pelvis sideways: the major axis of
    the horizontal acceleration over them (level frame) is the medio-lateral axis. A
    forward or backward part common to the shifts of both legs cancels in it (the shifts
    to the left and right are opposite in ML, equal in AP). (The squat reps' back-and-forth
    is not used: the pelvis turning about the stance hip as it drops moves the sacrum
    sideways with the depth, so that axis leans with the very drop being measured; on
    simulated squats it biased the drop by up to 0.3 deg at 8 deg.) As for gait
    (`orientation.align_to_pelvis`), the declared heading is the prior: the estimate is
    applied as the posterior mean under a Gaussian prior of ``heading_prior_sd_deg``
    around the declared heading with the estimate's jackknife standard error over the
    shifts, and only within ``heading_cone_deg``; with fewer than three shifts nothing is
    applied.

    Returns ``(body, info)``; ``info``: ``source``, ``estimate_deg`` (> 0: the true right
    axis turned towards the declared forward), ``se_deg``, ``applied_deg``, ``n_shifts``,
    ``note``.
    """
    cfg = settings or SelfTestSettings()
    fs = float(sampling_rate_hz)
    f = _features(body, fs, cfg)
    shifts = _lateral_shifts(f, cfg)
    info: dict[str, Any] = {"source": "weight shifts", "estimate_deg": None, "se_deg": None,
                            "applied_deg": 0.0, "n_shifts": len(shifts), "note": ""}
    if len(shifts) < 3:
        info["note"] = "fewer than three weight shifts: declared heading kept"
        return body, info
    tilt = np.radians(body["tilt_deg"].to_numpy(float))
    # the pelvis right and forward axes made horizontal; forward = (sin(tilt), 0, cos(tilt))
    horizontal = np.column_stack([
        lateral_acceleration(body),
        body["acc_is"].to_numpy(float) * np.sin(tilt)
        + body["acc_pa"].to_numpy(float) * np.cos(tilt)])
    scatter = np.empty((len(shifts), 2, 2))  # of each shift's acceleration about its mean
    for k, sh in enumerate(shifts):
        acc = horizontal[sh.start:sh.end + 1]
        acc = acc - acc.mean(axis=0)
        scatter[k] = acc.T @ acc
    psi = _axis_deg(scatter.sum(axis=0))
    n = len(shifts)
    jack = np.array([_axis_deg(scatter.sum(axis=0) - scatter[k]) for k in range(n)])
    dev = (jack - jack.mean() + 90.0) % 180.0 - 90.0
    se = float(np.sqrt((n - 1) / n * np.sum(dev**2)))
    info.update(estimate_deg=round(psi, 2), se_deg=round(se, 2))
    if abs(psi) > cfg.heading_cone_deg:
        info["note"] = (f"weight shifts put the medio-lateral axis {psi:+.0f} deg from the "
                        f"declared one, outside +-{cfg.heading_cone_deg:.0f} deg: not applied")
        return body, info
    prior = cfg.heading_prior_sd_deg
    applied = prior**2 / (prior**2 + se**2) * psi
    info["applied_deg"] = round(applied, 2)
    return _rotate_about_up(body, applied), info


# --------------------------------------------------------------------------- the analysis
def analyze_self_test(
    body: pd.DataFrame,
    *,
    sampling_rate_hz: float,
    test: str,
    protocol: Mapping[str, Any] | None = None,
    settling_s: Sequence[Sequence[float]] = (),
    settings: SelfTestSettings | None = None,
) -> SelfTestResult:
    """The tests table of a self-test session (module docstring; docs/self_tests.md).

    Parameters
    ----------
    body : DataFrame
        Pelvis signals (`gaitimu.pipeline.pelvis_signals`; ``valid`` = measured).
    sampling_rate_hz : float
        Rate of the uniform grid.
    test : str
        ``"single-leg-stance"`` or ``"single-leg-squat"`` (`gaitimu.consts.SELF_TESTS`).
    protocol : mapping, optional
        ``meta.protocol``: which leg each hold or squat set was meant for (its planned times
        only match the holds found in the signal to the plan). None: ``stance_side`` "".
    settling_s : sequence of [start_s, end_s]
        Where the orientation filter settles after a data gap (``info["alignment"]
        ["settling_s"]``): rows overlapping them are invalid.
    settings : SelfTestSettings, optional
        None: the defaults.

    Returns
    -------
    SelfTestResult
    """
    cfg = settings or SelfTestSettings()
    warnings: list[str] = []
    f = _features(body, float(sampling_rate_hz), cfg)
    settling = np.zeros(f.t.size, dtype=bool)
    for s_, e_ in settling_s:
        settling |= (f.t >= float(s_)) & (f.t <= float(e_))
    plan = _planned(protocol, warnings)
    # 2.-3. weight shifts and the single-leg support between them
    periods = _support_periods(_lateral_shifts(f, cfg), f, cfg)
    rows: list[dict[str, Any]] = []
    phases: list[dict[str, Any]] = []
    count = {"L": 0, "R": 0, "": 0}
    prev_end = 0
    done: set[int] = set()  # the planned holds/sets found
    for per in periods:
        side = _side_of(f.t[per.a], f.t[per.b], plan)
        if plan and not side:
            prev_end = per.off.end
            continue  # single-leg support outside the planned holds/sets (e.g. in the rest)
        done |= {k for k, p in enumerate(plan)
                 if min(f.t[per.b], p.end_s) > max(f.t[per.a], p.start_s)}
        # 4. the two-legged standing right before the weight shift
        lo = max(prev_end, per.on.start - round(cfg.baseline_window_s * f.fs))
        baseline, base_s = _baseline(f, lo, per.on.start, cfg)
        phase = {"stance_side": side, "shift_on_s": [f.t[per.on.start], f.t[per.on.end]],
                 "lift_s": f.t[per.a], "touch_s": f.t[per.b],
                 "shift_off_s": [f.t[per.off.start], f.t[per.off.end]],
                 "shift_m": per.on.disp_m, "baseline_s": base_s,
                 "baseline_obliquity_deg": baseline}
        if test == "single-leg-squat":
            reps = _find_reps(f, per.a, per.b, cfg)
            phase["reps"] = len(reps)
            if not reps:
                count[side] += 1
                rows.append(_row(test, side, count[side], start_s=f.t[per.a],
                                 end_s=f.t[per.b], baseline_obliquity_deg=baseline,
                                 valid=False, reason="no squat rep found on the leg"))
            for a_, b_ in reps:
                count[side] += 1
                rows.append(_rep_row(f, test, side, count[side], a_, b_, baseline, settling,
                                     cfg))
        else:
            count[side] += 1
            keep = np.ones(f.t.size, dtype=bool)
            s0 = _stable_start(f, per.a, per.b, keep, cfg)
            tds = _touchdowns(f, per.b, per.b if s0 is None else s0, baseline, cfg)
            rows.append(_hold_row(f, test, side, count[side], per.a, per.b, tds, baseline,
                                  settling, cfg))
        phases.append(phase)
        prev_end = per.off.end
    # a planned hold or squat set without single-leg support: one row saying so
    for k, p in enumerate(plan):
        if k not in done and p.side:
            what = "hold" if p.kind == "hold" else "squat set"
            rows.append(_row(test, p.side, 0, valid=False,
                             reason=f"no weight shift onto the leg in the planned {what}"))
            rows[-1]["_t"] = p.start_s
            warnings.append(f"planned {what} on {p.side} at {p.start_s:.0f}-{p.end_s:.0f} s: "
                            "no weight shift onto the leg and back found")
    tests = pd.DataFrame(rows, columns=[*TEST_COLUMNS, "_t"]) if rows else empty_tests()
    if rows:  # time order; the planned ones that were not done at their planned time
        tests["_t"] = tests["_t"].fillna(tests["start_s"])
        tests = tests.sort_values("_t", kind="stable").drop(columns="_t")
        tests["index"] = tests.groupby("stance_side").cumcount() + 1
        tests = tests.reset_index(drop=True)
    tests = tests.astype(TEST_COLUMNS)
    if not periods:
        warnings.append("no single-leg support found (no weight shift onto one leg and back)")
    if not plan:
        warnings.append("no protocol in the session: the stance side of each hold is unknown "
                        "(stance_side empty, drop not signed)")
    info = {"test": test, "protocol": bool(plan), "phases": phases, "warnings": warnings}
    return SelfTestResult(tests, info)
