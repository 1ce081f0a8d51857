"""Gait events from a sacral IMU: initial contact (IC), final contact (FC) and stance side.

Data requirements: body (pelvis) frame signals on a uniform grid, 50-400 Hz: ``acc_is``,
``acc_ml``, ``acc_pa`` (m/s^2, specific force, +9.81 on ``acc_is`` at rest), ``gyr_is`` and
``gyr_pa`` (deg/s; without ``gyr_pa`` walking sides fall back to ``acc_ml`` alone). Output
times are seconds on the input's ``t_s`` column (or ``index / sampling_rate_hz``).

Method
------
Steps, bouts, walk/run and turns come from `gaitimu.analysis.bouts.find_steps` (one anchor
per step at the dominant, low-passed vertical-acceleration peak). Events are placed relative
to each anchor:

* **Walking IC** (after Zijlstra & Hof 2003): the forward acceleration ``acc_pa`` peaks just
  before heel strike and then drops sharply as the landing foot brakes the body. IC = the
  LAST local maximum of ``acc_pa`` (10 Hz low-pass) within the 0.4 step periods before the
  anchor that reaches at least 60 % of that window's range, plus a 20 ms lag
  (`IC_AP_LAG_S`). Taking the last strong peak, not the highest, matters: many people show
  an earlier forward peak in late swing. Where no such peak exists, the bout's median
  anchor-to-IC offset is used. Departure from McCamley et al. 2012 (CWT of the vertical
  acceleration) and Pham et al. 2017: their IC lags heel strike by ~50-100 ms on this sensor
  position (mobgap's Ionescu variant: -70 ms on IPOL, see docs/VALIDATION.md).
* **Walking FC**: the stance foot leaves the ground one double support after the other foot's
  IC. FC = next IC + `DOUBLE_SUPPORT_FRACTION` x step time (0.225 x step = ~11 % of the
  stride, healthy double support). On 100 Hz IPOL data this prior beat every signal feature
  we tried (forward/vertical extrema, jerk, roll rate: median |error| 30-60 ms vs 16 ms).
* **Running IC/FC** (the vertical loading pulse, Auvinet 2002, Lee 2010, Reenalda 2016): the
  flight phase is the near-free-fall floor of ``acc_is``, the stance the loading hump around
  the anchor. IC = where the tangent at the steepest rise meets the flight floor before the
  hump; FC = where the tangent at the steepest fall meets the floor after it (sub-sample).
* **Side** (McCamley 2012, Ullrich 2021 use the yaw rate; we found it unreliable): per-step
  cues, each positive for a LEFT stance, scaled by their robust spread in the bout and
  summed with `SIDE_CUE_WEIGHTS`. Walking, two independent physical cues at equal weight:
  the roll rate ``gyr_pa`` over the first 30 % of the step (the swing-side hemipelvis drops
  in loading response, i.e. the CPD this tool measures) and the mean horizontal lateral
  acceleration over the step (the stance foot pushes the centre of mass towards the other
  side). The lateral acceleration is taken in the horizontal plane
  (``acc_ml cos(obliquity) + acc_is sin(obliquity)``): the raw ``acc_ml`` also senses
  g sin(obliquity), of the opposite sign and as large; it disagreed with the sides in 13 %
  of IPOL walks raw and in 0.5 % horizontal. Running: the obliquity (integrated, detrended
  ``gyr_pa``) over the first half of the step relative to its stride mean (left hemipelvis
  high in left stance); the lateral acceleration of the sacrum is dominated by the pelvis
  rotation there and is not used. The yaw rate ``gyr_is`` agreed with the IPOL reference in
  only 70 % of steps (its phase differs between people) and is not used. A two-state
  Viterbi pass over the bout (alternating is free, repeating a side costs
  `SIDE_REPEAT_PENALTY`) turns the scores into sides: one ambiguous step cannot flip a
  bout, a really missed step can.
* **Abstention** (`_decide_sides`): a bout keeps its sides only when the evidence for its
  labelling over the mirror labelling is clear (combined margin >= `SIDE_MIN_MARGIN`),
  every cue supports it (>= `SIDE_CUE_MIN_MARGIN`), the pelvis rolls enough
  (`SIDE_MIN_STRENGTH`) and the alignment trusts the sensor's forward direction; otherwise
  its stances get ``side = ""`` and ``side_reason``. ``info["sides"]`` has the evidence of
  every bout.
* **Confidence** (0-1): the bout's Phi(margin), lower for a step whose own cue disagrees
  with its label; x 0.7 in turns.

``next_ic_s`` is the next IC of ANY foot in the bout (= the end of this step, not the stride);
NaN for the last contact of a bout. ``fc_s`` is NaN for the last walking contact of a bout.
Times are quantised by nothing but the sampling grid (plus sub-sample interpolation in
running).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gaitimu.analysis.bouts import (
    BOUT_COLUMNS,
    StepSettings,
    StepStructure,
    empty_bouts,
    find_steps,
)
from gaitimu.analysis.datatypes import empty_frame
from gaitimu.analysis.filters import bandpass, lowpass, moving_mean, window_argext
from gaitimu.errors import BadInputError

log = logging.getLogger(__name__)

#: Columns of the events table and their dtypes.
EVENT_DTYPES = {
    "side": "object",
    "ic_s": "float64",
    "fc_s": "float64",
    "next_ic_s": "float64",
    "bout_id": "int64",
    "activity": "object",
    "confidence": "float64",
    "turn": "bool",
    "side_reason": "object",
    "gait_phase": "object",
}
EVENT_COLUMNS = tuple(EVENT_DTYPES)

# Method constants; see the module docstring for where each comes from.
IC_AP_LAG_S = 0.02
# Gait initiation: the quiet time before a bout's first step (`_gait_phases`).
INITIATION_REST_S = 1.0
IC_AP_SEARCH_STEPS = 0.4
IC_AP_PEAK_FRACTION = 0.6
DOUBLE_SUPPORT_FRACTION = 0.225
SIDE_REPEAT_PENALTY = 3.0
# Side cues and their weights per activity, as (activity, ((cue, weight), ...)) pairs (a
# frozen form of {"walk": {"roll": 1, "ml": 1}, ...}; the first of the largest weights is the
# main cue). The yaw rate (McCamley 2012) is not used: its sign relative to the stance side
# differs between people; it agreed with the IPOL reference in only 70 % of steps. See the
# module docstring.
SIDE_CUE_WEIGHTS: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("walk", (("roll", 1.0), ("ml", 1.0))),
    ("run", (("obliquity", 1.0),)),
)
SIDE_ROLL_WINDOW_STEPS = 0.3
CUE_NAMES = {
    "roll": "the pelvic roll in early stance",
    "ml": "the lateral acceleration",
    "obliquity": "the pelvic obliquity",
}
# Below these bout medians of the main side cue (walking: roll rate, deg/s; running: obliquity,
# deg) the pelvis barely rolls and the sides cannot be told: confidence is capped at 0.5 and a
# warning is given. Healthy IPOL walkers: >= 9.8 deg/s; simulated 1 deg CPD: 5.5 deg/s
# walking, 0.76 deg running. (activity, floor) pairs.
SIDE_MIN_STRENGTH: tuple[tuple[str, float], ...] = (("walk", 3.0), ("run", 0.5))
# Per-bout abstention (`_decide_sides`): a bout keeps its sides when its combined margin
# reaches SIDE_MIN_MARGIN and every cue supports the labelling with a margin of at least
# SIDE_CUE_MIN_MARGIN. A margin is about a standard normal variate when the cue is noise: a
# bout of pure noise passes 1.5 in 13 % of cases, and a second independent cue agreeing
# (>= 0.5) in about a third of those. On IPOL (odd subjects, where they were chosen) 1.1 % /
# 0.9 % of the steps of whole / 4-8 step walks lose their side; held-out even subjects: see
# docs/VALIDATION.md.
SIDE_MIN_MARGIN = 1.5
SIDE_CUE_MIN_MARGIN = 0.5


@dataclass(frozen=True)
class EventSettings:
    """Parameters of `detect_events`; each default is the module constant of the same name in
    upper case, where its value is explained.

    Attributes
    ----------
    ic_ap_lag_s : float
        Walking: heel strike follows the forward-acceleration peak by this much, s.
    ic_ap_search_steps, ic_ap_peak_fraction : float
        Walking IC: the peak is searched this many step periods before the anchor and must
        reach this fraction of the window's range.
    double_support_fraction : float
        Walking: FC = next IC + this x step time.
    initiation_rest_s : float
        Gait initiation: the quiet time before a bout's first step, s.
    side_repeat_penalty : float
        Cost (in units of a typical step's side evidence) of giving two consecutive steps
        the same side.
    side_cue_weights : tuple of (activity, ((cue, weight), ...))
        Side cues and their weights per activity.
    side_roll_window_steps : float
        Walking roll cue: the first this-fraction of the step.
    side_min_strength : tuple of (activity, float)
        Main side cue's bout median below which the sides are withheld.
    side_min_margin, side_cue_min_margin : float
        Abstention: combined and per-cue margin a bout needs to keep its sides.
    steps : StepSettings
        Of `gaitimu.analysis.bouts.find_steps` (and the initiation's "moving" bar).
    """

    ic_ap_lag_s: float = IC_AP_LAG_S
    initiation_rest_s: float = INITIATION_REST_S
    ic_ap_search_steps: float = IC_AP_SEARCH_STEPS
    ic_ap_peak_fraction: float = IC_AP_PEAK_FRACTION
    double_support_fraction: float = DOUBLE_SUPPORT_FRACTION
    side_repeat_penalty: float = SIDE_REPEAT_PENALTY
    side_cue_weights: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = SIDE_CUE_WEIGHTS
    side_roll_window_steps: float = SIDE_ROLL_WINDOW_STEPS
    side_min_strength: tuple[tuple[str, float], ...] = SIDE_MIN_STRENGTH
    side_min_margin: float = SIDE_MIN_MARGIN
    side_cue_min_margin: float = SIDE_CUE_MIN_MARGIN
    steps: StepSettings = field(default_factory=StepSettings)


def norm_cdf(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def empty_events() -> pd.DataFrame:
    """A events table without rows, with the documented columns and dtypes."""
    return empty_frame(EVENT_DTYPES)


@dataclass
class GaitEvents:
    """Result of `detect_events`.

    Attributes
    ----------
    bouts : DataFrame
        One row per gait bout: ``bout_id, start_s, end_s, activity ('walk'|'run'),
        cadence_spm, n_steps, n_turn_steps``. ``start_s`` is the first IC, ``end_s`` the last
        FC (or last IC) of the bout.
    events : DataFrame
        One row per stance (initial contact): ``side ('L'|'R', or '' when left/right is
        withheld), ic_s, fc_s, next_ic_s, bout_id, activity, confidence (0-1), turn (bool: the
        step is part of a turn), side_reason ('' or why no side was given)``.
    info : dict
        ``n_bouts``, ``n_steps``, ``median_step_s``, ``side_agreement`` (fraction of steps
        whose own side cue agrees with the final label), ``side_strength`` (per bout: median
        magnitude of the main side cue, deg/s walking, deg running), ``sides`` (per bout:
        ``bout_id, n_steps, decided, confidence, margin, cues {name: margin}, reason``),
        ``n_no_side``, ``warnings`` (list of str).
    """

    bouts: pd.DataFrame
    events: pd.DataFrame
    info: dict = field(default_factory=dict)


def _check_body(body: pd.DataFrame, fs: float) -> None:
    if not isinstance(body, pd.DataFrame):
        raise BadInputError("detect_events: body must be a pandas DataFrame of body-frame signals")
    missing = [c for c in ("acc_is", "acc_ml", "acc_pa", "gyr_is") if c not in body.columns]
    if missing:
        raise BadInputError(
            f"detect_events: body frame signals lack column(s) {', '.join(missing)}"
        )
    if not np.isfinite(fs) or fs < 20 or fs > 2000:
        raise BadInputError(f"detect_events: sampling_rate_hz={fs} is outside 20-2000 Hz")


def _clean(body: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Validity mask (``valid`` column and finite values) and NaN-free signals.

    Non-finite samples are linearly interpolated (held at the ends) so the zero-phase filters
    stay finite; they are marked invalid, so no event is placed on them.
    """
    cols = [c for c in ("acc_is", "acc_ml", "acc_pa", "gyr_is", "gyr_ml", "gyr_pa") if c in body]
    values = body[cols].to_numpy(dtype=float)
    finite = np.isfinite(values).all(axis=1)
    valid = finite.copy()
    if "valid" in body.columns:
        valid &= body["valid"].to_numpy(dtype=bool)
    if np.all(valid):
        return body, None
    if not np.all(finite):
        if not np.any(finite):
            raise BadInputError("detect_events: every sample has a non-finite value")
        body = body.copy()
        i = np.arange(len(body))
        for k, c in enumerate(cols):
            good = np.isfinite(values[:, k])
            body[c] = np.interp(i, i[good], values[good, k])
    return body, valid


def _latest_strong_max(
    sig: np.ndarray, lo: np.ndarray, hi: np.ndarray, frac: float
) -> tuple[np.ndarray, np.ndarray]:
    """In each window ``[lo, hi)``, the LAST local maximum reaching ``min + frac * range``.

    Returns ``(index, found)``; vectorised over windows.
    """
    n = sig.size
    lo = np.clip(lo, 1, n - 2)
    hi = np.clip(hi, lo + 1, n - 1)
    width = int(max(np.max(hi - lo, initial=1), 1))
    idx = lo[:, None] + np.arange(width)[None, :]
    inside = idx < hi[:, None]
    idx = np.clip(idx, 1, n - 2)
    v = sig[idx]
    is_max = (v >= sig[idx - 1]) & (v > sig[idx + 1]) & inside
    vmax = np.where(inside, v, -np.inf).max(axis=1)
    vmin = np.where(inside, v, np.inf).min(axis=1)
    strong = is_max & (v >= (vmin + frac * (vmax - vmin))[:, None])
    found = strong.any(axis=1)
    last = width - 1 - np.argmax(strong[:, ::-1], axis=1)
    return idx[np.arange(idx.shape[0]), last], found


def _walk_ic(
    ap: np.ndarray,
    anchors: np.ndarray,
    step_n: np.ndarray,
    fs: float,
    bout: np.ndarray,
    cfg: EventSettings,
) -> np.ndarray:
    lo = anchors - np.round(cfg.ic_ap_search_steps * step_n).astype(int)
    hi = anchors + 1
    k, interior = _latest_strong_max(ap, lo, hi, cfg.ic_ap_peak_fraction)
    ic = k.astype(float) + cfg.ic_ap_lag_s * fs
    off = ic - anchors
    for b in np.unique(bout):
        m = bout == b
        good = m & interior
        med = float(np.median(off[good])) if np.any(good) else -0.04 * fs
        ic[m & ~interior] = anchors[m & ~interior] + med
    return ic


def _run_ic_fc(
    av: np.ndarray, anchors: np.ndarray, step_n: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Running IC/FC by tangent onset/offset of the vertical loading hump around each anchor.

    IC: at the steepest rise before the anchor, follow the tangent down to the flight floor
    (minimum before the anchor); FC: the same with the steepest fall after the anchor and the
    floor after it. Returns sub-sample indices.
    """
    half = np.round(0.6 * step_n).astype(int)
    slope = np.gradient(av)
    k_floor0, _ = window_argext(av, anchors - half, anchors, mode="min")
    k_floor1, _ = window_argext(av, anchors + 1, anchors + half, mode="min")
    k_up, _ = window_argext(slope, k_floor0, anchors + 1, mode="max")
    k_dn, _ = window_argext(slope, anchors, k_floor1 + 1, mode="min")
    up = np.maximum(slope[k_up], 1e-9)
    dn = np.minimum(slope[k_dn], -1e-9)
    ic = k_up - (av[k_up] - av[k_floor0]) / up
    fc = k_dn + (av[k_dn] - av[k_floor1]) / -dn
    ic = np.clip(ic, k_floor0, anchors)
    fc = np.clip(fc, anchors, k_floor1)
    return ic.astype(float), fc.astype(float)


def _viterbi_sides(score: np.ndarray, penalty: float) -> np.ndarray:
    """Two-state Viterbi: state 0 = L (score > 0 favours it), 1 = R; repeating costs penalty."""
    m = score.size
    if m == 0:
        return np.zeros(0, dtype=int)
    sc = [float(v) for v in score]  # plain floats: this loop runs once per step
    c_l, c_r = -sc[0], sc[0]  # cost of labelling the first step L / R
    back_l = [0] * m  # predecessor state of L at step k (0 = L, 1 = R)
    back_r = [1] * m
    for k in range(1, m):
        # to L: from R (alternate, free) or from L (repeat, penalty); likewise to R
        if c_r <= c_l + penalty:
            new_l, back_l[k] = c_r, 1
        else:
            new_l, back_l[k] = c_l + penalty, 0
        if c_l <= c_r + penalty:
            new_r, back_r[k] = c_l, 0
        else:
            new_r, back_r[k] = c_r + penalty, 1
        c_l, c_r = new_l - sc[k], new_r + sc[k]
    states = np.zeros(m, dtype=int)
    state = 0 if c_l <= c_r else 1
    states[-1] = state
    for k in range(m - 1, 0, -1):
        state = back_l[k] if state == 0 else back_r[k]
        states[k - 1] = state
    return states


def _step_means(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x)])
    s = np.clip(starts, 0, x.size - 1)
    e = np.clip(np.maximum(ends, s + 1), 1, x.size)
    return (c[e] - c[s]) / (e - s)


def _side_cues(
    body: pd.DataFrame, ic: np.ndarray, next_ic: np.ndarray, step_n: np.ndarray, fs: float,
    cfg: EventSettings,
) -> dict[str, np.ndarray]:
    """Per-step left/right cues, each > 0 for a LEFT stance (see the module docstring).

    Window means, computed on ~50 Hz block means (4x less work at 200 Hz, same values to
    within the block length).
    """
    n = len(body)
    q = max(1, round(fs / 50.0))
    nq = n // q

    def blocks(x: np.ndarray) -> np.ndarray:
        return x[: nq * q].reshape(nq, q).mean(axis=1)

    s0_full = np.round(ic).astype(int)
    s1_full = np.where(np.isfinite(next_ic), np.round(next_ic), np.round(ic + step_n)).astype(int)
    s0 = np.clip(s0_full // q, 0, max(nq - 1, 0))
    s1 = np.maximum(s1_full // q, s0 + 1)
    mid = np.maximum((s0 + s1) // 2, s0 + 1)
    early = np.maximum(s0 + np.round(cfg.side_roll_window_steps * (s1 - s0)).astype(int), s0 + 1)
    detrend_n = max(round(2 * np.median(step_n) / q), 1)  # one stride: removes turns, drift
    ml = np.asarray(body["acc_ml"], dtype=float)
    if "obliquity_deg" in body.columns:
        # Horizontal lateral acceleration: the pelvis ML axis is tilted by the obliquity, so
        # it also senses part of the vertical specific force (g in walking, 0 in flight, up to
        # 3 g in running stance). Turning the frontal plane back by the obliquity removes it:
        # lat = acc_ml cos(obl) + acc_is sin(obl). In the raw acc_ml this part has the opposite
        # sign to the lateral acceleration (left stance: left side up, body pushed right) and
        # with 5 deg of obliquity (0.85 m/s^2 in walking) can outweigh it.
        obl = np.radians(np.nan_to_num(np.asarray(body["obliquity_deg"], dtype=float)))
        ml = ml * np.cos(obl) + np.asarray(body["acc_is"], dtype=float) * np.sin(obl)
    ml_q = blocks(ml)
    cues = {"ml": _step_means(ml_q - moving_mean(ml_q, detrend_n), s0, s1)}
    if "gyr_pa" in body.columns:
        gpa_q = blocks(np.asarray(body["gyr_pa"], dtype=float))
        gpa_d = gpa_q - moving_mean(gpa_q, detrend_n)
        cues["roll"] = _step_means(gpa_d, s0, early)
        obl_i = np.cumsum(gpa_d) * (q / fs)  # obliquity up to drift (deg)
        cues["obliquity"] = _step_means(obl_i - moving_mean(obl_i, detrend_n), s0, mid)
    return cues


def _decide_sides(
    cues: dict[str, np.ndarray],
    bout: np.ndarray,
    activity: list[str],
    *,
    turning: np.ndarray,
    forward_trusted: bool = True,
    cfg: EventSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict], np.ndarray, np.ndarray, list[str]]:
    """Sides per bout from the per-step cues, with abstention.

    The cues of a bout are scaled by their robust spread, weighted (`SIDE_CUE_WEIGHTS`) and
    labelled by the two-state Viterbi pass. The bout's evidence for its labelling against the
    mirror labelling (every side swapped) is, per cue and combined, the margin
    ``sum(score * label) / sqrt(sum(score^2))`` (label +1 = L, -1 = R): about sqrt(n) when
    every step agrees, about 1 when the cue is noise. A bout keeps its sides only when the
    combined margin reaches `SIDE_MIN_MARGIN`, every cue supports it
    (`SIDE_CUE_MIN_MARGIN`), its main cue is not too weak (`SIDE_MIN_STRENGTH`) and the
    sensor's forward direction is trusted. Otherwise every stance of the bout gets no side
    (``""``) and a reason. (The names in upper case are the defaults of ``cfg``'s fields.)

    Returns ``(sides, confidence, reasons, per-bout info, agree, strength, warnings)``.
    """
    m_all = bout.size
    sides = np.empty(m_all, dtype=object)
    reasons = np.full(m_all, "", dtype=object)
    score = np.zeros(m_all)
    agree = np.zeros(m_all)
    bout_conf = np.zeros(m_all)
    n_bouts = int(bout.max()) + 1 if m_all else 0
    strength = np.zeros(n_bouts)
    info: list[dict] = []
    warnings: list[str] = []
    cue_weights = dict(cfg.side_cue_weights)
    min_strength = dict(cfg.side_min_strength)
    for b in range(n_bouts):
        m = np.flatnonzero(bout == b)
        act = activity[b]
        weights = {k: w for k, w in cue_weights[act] if k in cues and w > 0}
        scaled = {}
        for name in weights:
            v = cues[name][m]
            scale = float(np.median(np.abs(v))) or 1.0
            scaled[name] = np.clip(v / scale, -3, 3)
        sc = sum(weights[k] * scaled[k] for k in weights) / sum(weights.values())
        main = max(weights, key=weights.get)
        strength[b] = float(np.median(np.abs(cues[main][m])))
        states = _viterbi_sides(sc, cfg.side_repeat_penalty)
        lab = np.where(states == 0, 1.0, -1.0)
        score[m] = sc
        agree[m] = np.sign(sc) == lab
        straight = ~turning[m] if np.any(~turning[m]) else np.ones(m.size, dtype=bool)

        def margin(x: np.ndarray, straight: np.ndarray = straight, lab: np.ndarray = lab) -> float:
            x, y = x[straight], lab[straight]
            den = float(np.sqrt(np.sum(x * x)))
            return float(np.sum(x * y) / den) if den > 0 else 0.0

        cue_margin = {k: round(margin(v), 2) for k, v in scaled.items()}
        total = margin(sc)
        # P(labelling right) if the margin were a z statistic: conservative on IPOL (see
        # docs/VALIDATION.md, reliability of the side confidence)
        conf_b = float(norm_cdf(total))
        reason = None
        floor = min_strength[act]
        if not forward_trusted:
            reason = "the sensor's forward direction could not be established"
        elif strength[b] < floor:
            reason = (
                f"pelvic roll too small to tell the sides ({strength[b]:.2g} < {floor:g} "
                f"{'deg/s' if act == 'walk' else 'deg'})"
            )
        elif (any(v < cfg.side_cue_min_margin for v in cue_margin.values())
              and len(cue_margin) > 1):
            bad = [k for k, v in cue_margin.items() if v < cfg.side_cue_min_margin]
            reason = (
                f"side cues disagree ({', '.join(CUE_NAMES.get(k, k) for k in bad)} does not "
                "support the sides the other cues give)"
            )
        elif total < cfg.side_min_margin:
            reason = f"weak left/right evidence (margin {total:.1f} < {cfg.side_min_margin:g})"
        if reason is None:
            sides[m] = np.where(states == 0, "L", "R")
        else:
            sides[m] = ""
            reasons[m] = f"left/right uncertain: {reason}"
            conf_b = min(conf_b, 0.5)
            if forward_trusted:
                warnings.append(f"bout {b}: left/right uncertain, no side given ({reason})")
                log.info(warnings[-1])
        bout_conf[m] = conf_b
        info.append(
            {
                "bout_id": b,
                "n_steps": int(m.size),
                "decided": reason is None,
                "confidence": round(conf_b, 3),
                "margin": round(total, 2),
                "cues": cue_margin,
                "reason": reason,
            }
        )
    if not forward_trusted and n_bouts:
        warnings.append("no side given to any stance: the sensor's forward direction is uncertain")
    # per-step confidence: the bout's, lowered where the step's own cue disagrees, x 0.7 in turns
    step_margin = np.clip(np.abs(score), 0, 1)
    conf = np.where(agree > 0, bout_conf, bout_conf * (1.0 - 0.5 * step_margin))
    conf = np.where(turning, 0.7 * conf, conf)
    return sides.astype(object), conf, reasons, info, agree, strength, warnings


def _gait_phases(
    acc_is: np.ndarray, anchors: np.ndarray, bout: np.ndarray, step_n: np.ndarray,
    closing: np.ndarray | None, fs: float, valid: np.ndarray | None, cfg: EventSettings,
) -> np.ndarray:
    """Per step: "initiation" for the first step of a bout that starts from rest,
    "termination" for the closing step of a bout that ends in rest (`bouts._closing_steps`),
    else "".

    A bout starts from rest when the vertical acceleration (band-passed 0.5-8 Hz, as the gait
    windows see it) is quiet, SD below the gait windows' "moving" bar
    (`bouts.MIN_MOVING_SD_MPS2`), over `INITIATION_REST_S` ending one step period before its
    first step (the weight shift and push-off of gait initiation come in that last step
    period), all of it measured. (The defaults of ``cfg.initiation_rest_s`` and
    ``cfg.steps.min_moving_sd_mps2``.)
    """
    out = np.full(anchors.size, "", dtype=object)
    if closing is not None:
        out[np.asarray(closing, dtype=bool)] = "termination"
    av = bandpass(acc_is - np.median(acc_is), 0.5, 8.0, sampling_rate_hz=fs)
    w = int(cfg.initiation_rest_s * fs)
    for b in np.unique(bout):
        i = int(np.flatnonzero(bout == b)[0])
        hi = int(anchors[i] - step_n[i])
        lo = hi - w
        if lo < 0 or (valid is not None and not valid[lo:hi].all()):
            continue
        if float(np.std(av[lo:hi])) < cfg.steps.min_moving_sd_mps2 and out[i] == "":
            out[i] = "initiation"
    return out


def _no_gait(st: StepStructure) -> GaitEvents:
    """The well-typed empty result when `find_steps` found no step."""
    log.info("no gait found%s", f" ({st.no_gait_reason})" if st.no_gait_reason else "")
    info: dict = {"n_bouts": 0, "n_steps": 0, "warnings": []}
    if st.no_gait_reason:
        info["no_gait_reason"] = st.no_gait_reason
    return GaitEvents(empty_bouts(), empty_events(), info)


def _step_samples(st: StepStructure, fs: float) -> np.ndarray:
    """Step period per anchor, samples: the bout's robust median interval (more exact than
    the gait windows' period, which stands in for a bout of one step)."""
    anchors, bout = st.anchors, st.bout_of_anchor
    step_n = np.empty(anchors.size)
    for b in range(int(bout.max()) + 1):
        m = bout == b
        d = np.diff(anchors[m])
        step_n[m] = float(np.median(d)) if d.size else st.step_period_s[m][0] * fs
    return step_n


def _contacts(
    body: pd.DataFrame, st: StepStructure, step_n: np.ndarray, valid: np.ndarray | None,
    fs: float, forward_sign: float, cfg: EventSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IC, FC and the next IC in the same bout per anchor (sample indices, NaN = none): the
    walking IC from the forward acceleration, running IC/FC from the vertical loading hump,
    the walking FC one double support after the next IC."""
    anchors, bout = st.anchors, st.bout_of_anchor
    n = len(body)
    ap = float(np.sign(forward_sign) or 1.0) * lowpass(
        np.asarray(body["acc_pa"], dtype=float), 10.0, sampling_rate_hz=fs, order=2
    )
    ic = _walk_ic(ap, anchors, step_n, fs, bout, cfg)
    if valid is not None:
        # a contact is never placed on unmeasured data: the search window before an
        # anchor may reach into a hole; then the anchor itself (measured) stands in
        in_gap = ~valid[np.clip(np.round(ic).astype(int), 0, n - 1)]
        ic[in_gap] = anchors[in_gap]
    fc = np.full(anchors.size, np.nan)
    run_step = np.array([a == "run" for a in st.activity])[bout]
    if np.any(run_step):
        acc_is = np.asarray(body["acc_is"], dtype=float)
        ic_r, fc_r = _run_ic_fc(lowpass(acc_is, 15.0, sampling_rate_hz=fs, order=2), anchors, step_n)
        ic = np.where(run_step, ic_r, ic)
        fc = np.where(run_step, fc_r, fc)
    # walking FC: after the next IC in the same bout
    same_next = np.concatenate([bout[1:] == bout[:-1], [False]])
    next_ic = np.where(same_next, np.concatenate([ic[1:], [np.nan]]), np.nan)
    prior = next_ic + cfg.double_support_fraction * step_n
    # before a closing step (gait termination) the stance foot stays down: no FC
    before_closing = same_next & np.concatenate([st.closing[1:], [False]])
    ok = ~run_step & np.isfinite(prior) & ~before_closing
    fc[ok] = prior[ok]
    return ic, fc, next_ic


def _bouts_table(events: pd.DataFrame, activity: list[str]) -> pd.DataFrame:
    """One row per bout (`BOUT_COLUMNS`) from its stances."""
    bout = events["bout_id"].to_numpy()
    ic_t, fc_t = events["ic_s"].to_numpy(), events["fc_s"].to_numpy()
    turn = events["turn"].to_numpy()
    rows = []
    for b in range(len(activity)):
        m = np.flatnonzero(bout == b)
        step_s = float(np.median(np.diff(ic_t[m]))) if m.size > 1 else np.nan
        rows.append(
            {
                "bout_id": b,
                "start_s": float(ic_t[m[0]]),
                "end_s": float(np.nanmax(np.r_[fc_t[m], ic_t[m]])),
                "activity": activity[b],
                "cadence_spm": 60.0 / step_s if step_s > 0 else np.nan,
                "n_steps": int(m.size),
                "n_turn_steps": int(turn[m].sum()),
            }
        )
    return pd.DataFrame(rows, columns=list(BOUT_COLUMNS)).astype(
        {"bout_id": "int64", "n_steps": "int64", "n_turn_steps": "int64"}
    )


def detect_events(
    body: pd.DataFrame,
    *,
    sampling_rate_hz: float,
    forward_trusted: bool = True,
    forward_sign: float = 1.0,
    settings: EventSettings | None = None,
) -> GaitEvents:
    """Detect gait bouts and, per stance, IC, FC and side.

    Parameters
    ----------
    body : DataFrame
        Body (pelvis) frame signals, see the module docstring. Optional ``t_s`` column and
        optional boolean ``valid`` column (False in data gaps).
    sampling_rate_hz : float
        Uniform sampling rate of ``body``, Hz (50-400 Hz tested).
    forward_trusted : bool
        False when the alignment could not establish which way the sensor faces
        (``align_to_pelvis`` ``info["side_trust"] == "uncertain"``): then no stance gets a
        side.
    forward_sign : float
        -1 when the gait says ``acc_pa`` most likely points backward although the axes were
        kept (``align_to_pelvis`` ``info["forward_hint"]``): the walking IC is then timed on
        the reversed forward acceleration. Sides are not affected (see `forward_trusted`).
    settings : EventSettings, optional
        The method's parameters (with those of `find_steps` in ``settings.steps``); None:
        the defaults (the module constants).

    Returns
    -------
    GaitEvents
        Empty (well-typed) tables when there is no gait; never raises for "no gait".
    """
    cfg = EventSettings() if settings is None else settings
    fs = float(sampling_rate_hz)
    # 0. check the input; non-finite samples are bridged and invalid
    _check_body(body, fs)
    body, valid = _clean(body)
    n = len(body)
    t = np.asarray(body["t_s"], dtype=float) if "t_s" in body.columns else np.arange(n) / fs
    # 1. steps (one anchor each), bouts, walk/run, turns
    st = find_steps(body, sampling_rate_hz=fs, valid=valid, settings=cfg.steps)
    if st.anchors.size == 0:
        return _no_gait(st)
    anchors, bout = st.anchors, st.bout_of_anchor
    step_n = _step_samples(st, fs)
    # 2. contacts
    ic, fc, next_ic = _contacts(body, st, step_n, valid, fs, forward_sign, cfg)
    # 3. sides (with abstention) and confidence
    turn = st.turning[np.clip(np.round(ic).astype(int), 0, n - 1)]
    sides, conf, reasons, side_info, agree, strength, warnings = _decide_sides(
        _side_cues(body, ic, next_ic, step_n, fs, cfg), bout, st.activity, turning=turn,
        forward_trusted=forward_trusted, cfg=cfg,
    )
    # 4. gait initiation and termination
    phases = _gait_phases(np.asarray(body["acc_is"], dtype=float), anchors, bout, step_n,
                          st.closing, fs, valid, cfg)

    # 5. the tables, in seconds on the input's clock
    def to_t(x: np.ndarray) -> np.ndarray:
        xi = np.clip(x, 0, n - 1)
        return np.where(np.isfinite(x), np.interp(xi, np.arange(n), t), np.nan)

    events = pd.DataFrame(
        {
            "side": pd.Series(sides, dtype="object"),
            "ic_s": to_t(ic),
            "fc_s": to_t(fc),
            "next_ic_s": to_t(next_ic),
            "bout_id": bout.astype("int64"),
            "activity": pd.Series(np.array(st.activity, dtype=object)[bout], dtype="object"),
            "confidence": conf.astype(float),
            "turn": turn.astype(bool),
            "side_reason": pd.Series(reasons, dtype="object"),
            "gait_phase": pd.Series(phases, dtype="object"),
        }
    )
    info = {
        "n_bouts": len(st.activity),
        "n_steps": int(anchors.size),
        "median_step_s": float(np.median(step_n) / fs),
        "side_agreement": float(np.mean(agree)) if agree.size else float("nan"),
        "side_strength": strength.tolist(),
        "sides": side_info,
        "n_no_side": int(np.sum(sides == "")),
        "warnings": warnings,
    }
    return GaitEvents(_bouts_table(events, st.activity), events, info)


class EventDetector:
    """Class-style wrapper of `detect_events`, as mobgap's detectors: the parameters in
    ``__init__``, one action method returning ``self``, results with a trailing underscore.

    Parameters
    ----------
    settings : EventSettings, optional
        As in `detect_events` (None: the defaults).

    Attributes
    ----------
    bouts_, events_, info_
        The `GaitEvents` fields after `detect`.

    Examples
    --------
    >>> det = EventDetector().detect(body, sampling_rate_hz=100.0)  # doctest: +SKIP
    >>> det.events_.head()  # doctest: +SKIP
    """

    def __init__(self, *, settings: EventSettings | None = None) -> None:
        self.settings = settings

    def detect(
        self, data: pd.DataFrame, *, sampling_rate_hz: float, forward_trusted: bool = True,
        forward_sign: float = 1.0,
    ) -> EventDetector:
        """Run `detect_events` on ``data`` and store ``bouts_``, ``events_``, ``info_``."""
        res = detect_events(
            data,
            sampling_rate_hz=sampling_rate_hz,
            forward_trusted=forward_trusted,
            forward_sign=forward_sign,
            settings=self.settings,
        )
        self.bouts_: pd.DataFrame = res.bouts
        self.events_: pd.DataFrame = res.events
        self.info_: dict = res.info
        return self
