"""Gait bouts from a sacral IMU: where the person walks or runs, at what step period, where
they turn, and which steps belong together.

Data requirements: body (pelvis) frame signals on a uniform grid, 50-400 Hz: ``acc_is``
(m/s^2, +9.81 at rest) for steps and activity, ``gyr_is`` (deg/s) for turns.

Method (our own combination of standard ingredients):

1. **Gait windows.** The vertical acceleration is band-passed (0.5-8 Hz), decimated to
   ~50 Hz and cut into 4 s windows every 1 s. In each window the unbiased autocorrelation
   gives the step period (the first local maximum between 0.25 and 1.25 s reaching 80 % of
   the best one, so a very regular gait's peaks at 2 or 3 steps are not taken; a stride
   peak is halved) and the step regularity (autocorrelation at that lag, as in
   Moe-Nilssen & Helbostad 2004). A window is gait when the signal moves (SD >= 0.35 m/s^2)
   and is periodic (regularity >= 0.3): quiet standing fails the first test, fidgeting,
   sitting down or single movements fail the second.
2. **Step anchors.** Inside each gait stretch the vertical acceleration, low-passed just
   above the step frequency, has one dominant peak per step (loading response in walking,
   mid-stance in running); peaks are found with a minimum distance of 0.6 local step
   periods and a prominence of at least 30 % of the typical step prominence around it
   (75th percentile within +-5 s), so one step never yields two anchors (this is what keeps
   a U-turn, with its irregular small steps, free of false steps). All of this runs on
   ~50 Hz block means of the signal; event times are refined at the full rate.
3. **Bouts.** Anchors chain into a bout while consecutive intervals stay within 0.4-1.75
   step periods; a bout needs at least 4 steps and a rhythm (robust CV of its step
   intervals <= 0.25: random movement has none). A recording whose bouts' step regularity
   over the whole bout (`_bout_regularity`; median over their steps) is below
   `MIN_SESSION_REGULARITY` has no gait at all (noise: evenly spaced peaks that do not
   repeat); ``StepStructure.no_gait_reason`` says so. Each bout then grows by at most one softer
   step at its end (gait termination) where the rhythm predicts one (0.7-1.4 step periods
   after the last step) and a weaker peak (>= 10 % of the typical prominence) is there.
   A bout that ends in rest gets its closing step (the trailing foot landing next to the
   other, often softer still) and marks it (`_closing_steps`): the stance before it has no
   final contact.
4. **Walk or run.** Running has a flight phase: the specific force along the vertical falls
   towards 0 g (free fall). A step is running when its vertical acceleration dips below
   0.35 g, or at >= 150 steps/min with vertical peaks >= 2.2 g (runners with little
   flight). The per-step evidence is smoothed over 5 steps and a bout is split where it
   changes for at least 4 steps (a treadmill speeding up from walking to running without a
   stop gives a walk bout and a run bout).
5. **Turns.** Heading rate = ``gyr_is`` averaged over one stride (2 step periods, which
   cancels the pelvis' own step-to-step yaw oscillation); samples turning faster than
   25 deg/s are turns. Steps in turns are kept (they are real steps) but flagged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from gaitimu.analysis.datatypes import empty_frame
from gaitimu.analysis.filters import (
    bandpass,
    find_peaks,
    lowpass,
    moving_mean,
    runs,
    window_argext,
)
from gaitimu.consts import G

log = logging.getLogger(__name__)

#: Columns of the bouts table and their dtypes.
BOUT_DTYPES = {
    "bout_id": "int64",
    "start_s": "float64",
    "end_s": "float64",
    "activity": "object",
    "cadence_spm": "float64",
    "n_steps": "int64",
    "n_turn_steps": "int64",
}
BOUT_COLUMNS = tuple(BOUT_DTYPES)

# Method constants (generic physiology, not fitted to any recording).
MIN_STEP_S = 0.25  # 240 steps/min
MAX_STEP_S = 1.25  # 48 steps/min
WINDOW_S = 4.0
HOP_S = 1.0
MIN_MOVING_SD_MPS2 = 0.35
MIN_REGULARITY = 0.3
# A recording whose bouts' step regularity (median over their steps, `_bout_regularity`) is
# below this has no gait rhythm: "no gait". Bouts found in Gaussian noise: median 0.13, the
# largest recording median 0.41 (79 recordings); walks of 4-8 steps cut from IPOL: 5th
# percentile 0.47, median 0.82 (1,117); whole IPOL trials: minimum 0.54.
MIN_SESSION_REGULARITY = 0.45
MIN_BOUT_STEPS = 4
# Walks of 2-3 steps are gait too when they alternate like two legs (`_short_walks`).
MIN_SHORT_BOUT_STEPS = 2
SHORT_WALK_ML_ANTIPHASE = 0.3
SHORT_WALK_REST_S = 1.0
MAX_STEP_CV = 0.25  # robust coefficient of variation of the step intervals in a bout
FLIGHT_G = 0.35
TURN_RATE_DPS = 25.0
EXTEND_PROMINENCE = 0.1
TYPICAL_WINDOW_S = 10  # window of the local typical step prominence
EXTEND_MAX_STEPS = 1
# Gait termination: the closing step when the walker comes to rest (see `_closing_steps`)
REST_AFTER_STEPS = 1.5  # rest is looked for from this many step periods after the last step
REST_S = 1.0  # ... for this long
REST_MAX_SD_RATIO = 0.25  # rest: SD of the vertical acc <= this x its SD in the last steps
MOTION_SD_FACTOR = 4.0  # motion: deviating from the rest level by > 4 rest SDs ...
MOTION_GAIT_FRACTION = 0.1  # ... and by > 10 % of the gait SD
CLOSING_MIN_MOTION_STEPS = 0.7  # motion must go on this long after the last step
CLOSING_WINDOW_STEPS = (0.5, 1.3)  # where the closing contact is searched, step periods
CLOSING_MIN_PEAK_MPS2 = 0.25  # its vertical peak above the rest level (a light heel contact)


@dataclass(frozen=True)
class StepSettings:
    """Parameters of `find_steps`; each default is the module constant of the same name in
    upper case, where its value is explained.

    Attributes
    ----------
    min_step_s, max_step_s : float
        Range of the step period searched in the gait windows, s.
    window_s, hop_s : float
        Gait window length and hop, s.
    min_moving_sd_mps2 : float
        A gait window moves: SD of the vertical acceleration, m/s^2.
    min_regularity : float
        A gait window is periodic: step regularity (autocorrelation at the step).
    min_session_regularity : float
        Median bout step regularity below which a recording has no gait.
    min_bout_steps, min_short_bout_steps : int
        Steps of a bout; of a short walk (`_short_walks`).
    short_walk_ml_antiphase, short_walk_rest_s : float
        Short walks: lateral anti-phase correlation; rest before or after, s.
    max_step_cv : float
        Robust CV of the step intervals of a bout (its rhythm).
    flight_g : float
        Running: vertical acceleration dip below this many g.
    turn_rate_dps : float
        Turning: stride-averaged yaw rate, deg/s.
    extend_prominence : float
        Bout growth at the end: a weaker peak's prominence, x the typical step's.
    extend_max_steps : int
        Bout growth at the end: at most this many steps.
    typical_window_s : float
        Window of the local typical step prominence, s.
    rest_after_steps, rest_s, rest_max_sd_ratio, motion_sd_factor, motion_gait_fraction,
    closing_min_motion_steps, closing_window_steps, closing_min_peak_mps2
        The closing step of a bout that ends in rest (`_closing_steps`).
    """

    min_step_s: float = MIN_STEP_S
    max_step_s: float = MAX_STEP_S
    window_s: float = WINDOW_S
    hop_s: float = HOP_S
    min_moving_sd_mps2: float = MIN_MOVING_SD_MPS2
    min_regularity: float = MIN_REGULARITY
    min_session_regularity: float = MIN_SESSION_REGULARITY
    min_bout_steps: int = MIN_BOUT_STEPS
    min_short_bout_steps: int = MIN_SHORT_BOUT_STEPS
    short_walk_ml_antiphase: float = SHORT_WALK_ML_ANTIPHASE
    short_walk_rest_s: float = SHORT_WALK_REST_S
    max_step_cv: float = MAX_STEP_CV
    flight_g: float = FLIGHT_G
    turn_rate_dps: float = TURN_RATE_DPS
    extend_prominence: float = EXTEND_PROMINENCE
    typical_window_s: float = TYPICAL_WINDOW_S
    extend_max_steps: int = EXTEND_MAX_STEPS
    rest_after_steps: float = REST_AFTER_STEPS
    rest_s: float = REST_S
    rest_max_sd_ratio: float = REST_MAX_SD_RATIO
    motion_sd_factor: float = MOTION_SD_FACTOR
    motion_gait_fraction: float = MOTION_GAIT_FRACTION
    closing_min_motion_steps: float = CLOSING_MIN_MOTION_STEPS
    closing_window_steps: tuple[float, float] = CLOSING_WINDOW_STEPS
    closing_min_peak_mps2: float = CLOSING_MIN_PEAK_MPS2


def empty_bouts() -> pd.DataFrame:
    """A bouts table without rows, with the documented columns and dtypes."""
    return empty_frame(BOUT_DTYPES)


@dataclass
class StepStructure:
    """Intermediate result of `find_steps` (sample indices at the input rate).

    Attributes
    ----------
    anchors : ndarray of int
        One sample index per step: the dominant vertical-acceleration peak of that step.
    bout_of_anchor : ndarray of int
        Bout number of each anchor (0, 1, ...).
    step_period_s : ndarray of float
        Local step period at each anchor (from the autocorrelation), seconds.
    activity : list of str
        ``walk`` or ``run`` per bout.
    turning : ndarray of bool, shape (n,)
        Per-sample turn mask.
    gait_mask : ndarray of bool, shape (n,)
        Per-sample gait-window mask (periodic movement).
    closing : ndarray of bool, optional
        Per anchor: the closing step of a bout that ends in rest (`_closing_steps`).
    """

    anchors: np.ndarray
    bout_of_anchor: np.ndarray
    step_period_s: np.ndarray
    activity: list[str]
    turning: np.ndarray
    gait_mask: np.ndarray
    closing: np.ndarray | None = None
    #: Why no gait was kept when steps were found (e.g. no gait rhythm), else "".
    no_gait_reason: str = ""

    def __post_init__(self) -> None:
        if self.closing is None:
            self.closing = np.zeros(self.anchors.size, dtype=bool)


def _window_step_period(
    av: np.ndarray, fs: float, cfg: StepSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sliding-window step period, regularity and SD of a vertical acceleration.

    Returns ``(centre_idx, period_s, regularity, sd)`` per window (indices at rate ``fs``).
    """
    q = max(1, int(fs // 50))  # ~50 Hz is enough (find_steps already works at ~50 Hz)
    x = av[::q]
    fd = fs / q
    w = round(cfg.window_s * fd)
    hop = max(1, round(cfg.hop_s * fd))
    if x.size < w:
        w = x.size
    if w < int(2 * cfg.max_step_s * fd) // 2 + 2:
        return np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0)
    win = sliding_window_view(x, w)[::hop]
    centre = (np.arange(win.shape[0]) * hop + w // 2) * q
    win = win - win.mean(axis=1, keepdims=True)
    sd = win.std(axis=1)
    nfft = 1 << int(np.ceil(np.log2(2 * w)))
    spec = np.fft.rfft(win, n=nfft, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, n=nfft, axis=1)[:, :w]
    ac = ac / (w - np.arange(w))[None, :]  # unbiased
    ac = ac / np.maximum(ac[:, :1], 1e-12)
    lo = max(1, int(cfg.min_step_s * fd))
    hi = min(w - 2, int(cfg.max_step_s * fd))
    seg = ac[:, lo : hi + 1]
    # local maxima only
    is_peak = np.zeros_like(seg, dtype=bool)
    is_peak[:, 1:-1] = (seg[:, 1:-1] >= seg[:, :-2]) & (seg[:, 1:-1] >= seg[:, 2:])
    masked = np.where(is_peak, seg, -np.inf)
    top = masked.max(axis=1, keepdims=True)
    # the FIRST local maximum that is nearly as high as the best one: the step, not a
    # multiple of it (very regular gait has equal peaks at 1, 2, 3 step periods)
    first = is_peak & (seg >= 0.8 * top) & np.isfinite(top)
    k = np.where(first.any(axis=1), np.argmax(first, axis=1), np.argmax(masked, axis=1)) + lo
    best = ac[np.arange(ac.shape[0]), k]
    # if a peak at half the lag is nearly as strong, the best lag was the stride: halve it
    half = np.clip(np.round(k / 2).astype(int), 1, w - 1)
    cand = np.stack(
        [ac[np.arange(ac.shape[0]), np.clip(half + d, 1, w - 1)] for d in (-2, -1, 0, 1, 2)]
    )
    half_val = cand.max(axis=0)
    half_k = half + np.argmax(cand, axis=0) - 2
    use_half = (
        (half_k * 1.0 >= cfg.min_step_s * fd)
        & (half_val >= 0.5 * best)
        & (half_val > cfg.min_regularity)
    )
    k = np.where(use_half, half_k, k)
    reg = np.where(use_half, half_val, best)
    reg = np.where(np.isfinite(reg), reg, 0.0)
    return centre, k / fd, reg, sd


def _extend_bouts(
    anchors: np.ndarray, periods: np.ndarray, bout: np.ndarray, weak: np.ndarray, fs: float,
    cfg: StepSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grow each bout by up to ``cfg.extend_max_steps`` (`EXTEND_MAX_STEPS`) weaker steps at
    its end.

    Gait termination steps are softer than steady steps; a weaker peak is accepted only
    where the step rhythm predicts one (0.7-1.4 step periods after the last step), never
    elsewhere. Bouts are not grown backwards: before the first heel strike there is
    push-off and weight shift but no contact (on IPOL, backward growth added 34 false ICs
    and no true one in 110 trials).
    """
    if anchors.size == 0 or weak.size == 0:
        return anchors, periods, bout
    weak = np.sort(weak)
    used = np.zeros(weak.size, dtype=bool)
    add_a: list[int] = []
    add_p: list[float] = []
    add_b: list[int] = []
    for b in range(int(bout.max()) + 1):
        a = anchors[bout == b]
        step_n = float(np.median(np.diff(a))) if a.size > 1 else periods[bout == b][0] * fs
        # only forwards: before the first heel strike of a bout there is push-off and
        # weight shift (vertical bumps) but no contact, so growing backwards adds false ICs
        edge = int(a[-1])
        for _ in range(cfg.extend_max_steps):
            target = edge + step_n
            d = np.abs(weak - target)
            d[used] = np.inf
            d[(weak - edge) < 0.7 * step_n] = np.inf
            d[(weak - edge) > 1.4 * step_n] = np.inf
            k = int(np.argmin(d))
            if not np.isfinite(d[k]):
                break
            used[k] = True
            edge = int(weak[k])
            add_a.append(edge)
            add_p.append(step_n / fs)
            add_b.append(b)
    if not add_a:
        return anchors, periods, bout
    anchors = np.concatenate([anchors, add_a])
    periods = np.concatenate([periods, add_p])
    bout = np.concatenate([bout, add_b])
    o = np.lexsort((anchors, bout))
    return anchors[o], periods[o], bout[o]


def _closing_steps(
    anchors: np.ndarray,
    periods: np.ndarray,
    bout: np.ndarray,
    acc_lp10: np.ndarray,
    valid: np.ndarray | None,
    fs: float,
    cfg: StepSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Find the closing step of each bout that ends in rest (gait termination).

    When a walker stops, the trailing foot swings forward once more and lands next to the
    other: a real contact, but often a soft one (its vertical peak can be a fraction of a
    normal step's, below the extension threshold of `_extend_bouts`). A bout ends in rest
    when the vertical acceleration is quiet from `REST_AFTER_STEPS` step periods after its
    last step on (SD <= `REST_MAX_SD_RATIO` x its SD over the last steps). Then:

    * if motion went on for at least `CLOSING_MIN_MOTION_STEPS` step periods after the last
      step (after a closing step the pelvis settles within about a third of a step), the
      closing contact is still to come: it is the vertical-acceleration maximum
      `CLOSING_WINDOW_STEPS` after the last step, provided it is a peak inside that window
      rising above the rest level by the motion threshold and `CLOSING_MIN_PEAK_MPS2`; the
      event refinement then treats it like any other step;
    * the bout's last step (found here or before) is marked as its closing step.

    A bout that ends in a data gap, runs into another bout or the end of the recording
    gets none. Returns anchors, periods and bouts with the closing steps added, and the
    per-anchor closing mask. (The names in upper case are the defaults of ``cfg``'s fields.)
    """
    closing = np.zeros(anchors.size, dtype=bool)
    if anchors.size == 0:
        return anchors, periods, bout, closing
    n = acc_lp10.size
    rest_n = round(cfg.rest_s * fs)
    add_a: list[int] = []
    add_p: list[float] = []
    add_b: list[int] = []
    for b in range(int(bout.max()) + 1):
        idx = np.flatnonzero(bout == b)
        a = anchors[idx]
        if a.size < 3:
            continue
        step_n = float(np.median(np.diff(a)))
        last = int(a[-1])
        r0 = last + round(cfg.rest_after_steps * step_n)
        r1 = r0 + rest_n
        if r1 > n or (bout.max() > b and anchors[bout == b + 1][0] < r1):
            continue
        if valid is not None and not valid[last:r1].all():
            continue
        rest = acc_lp10[r0:r1]
        gait_sd = float(np.std(acc_lp10[int(a[max(0, a.size - 5)]) : last]))
        rest_sd = float(np.std(rest))
        if rest_sd > cfg.rest_max_sd_ratio * gait_sd:
            continue
        closing[idx[-1]] = True  # ends in rest: unless another contact follows, this one
        level = float(np.median(rest))
        thr = max(cfg.motion_sd_factor * rest_sd, cfg.motion_gait_fraction * gait_sd)
        w = acc_lp10[last + 1 : last + round(2 * step_n)]
        moving = np.flatnonzero(np.abs(w - level) > thr)
        if moving.size == 0 or (moving[-1] + 1) < cfg.closing_min_motion_steps * step_n:
            continue
        lo = last + round(cfg.closing_window_steps[0] * step_n)
        seg = acc_lp10[lo : last + round(cfg.closing_window_steps[1] * step_n) + 1]
        k = int(np.argmax(seg))
        # a contact is a loading peak inside the window, above the rest level, not the tail
        # of the last step's own loading pattern running into the window's edge
        if k == 0 or k == seg.size - 1 or seg[k] - level < max(thr, cfg.closing_min_peak_mps2):
            continue
        closing[idx[-1]] = False
        add_a.append(lo + k)
        add_p.append(step_n / fs)
        add_b.append(b)
    if not add_a:
        return anchors, periods, bout, closing
    closing = np.concatenate([closing, np.ones(len(add_a), dtype=bool)])
    anchors = np.concatenate([anchors, add_a]).astype(int)
    periods = np.concatenate([periods, add_p])
    bout = np.concatenate([bout, add_b]).astype(int)
    o = np.lexsort((anchors, bout))
    return anchors[o], periods[o], bout[o], closing[o]


def _step_is_running(
    anchors: np.ndarray, acc_lp10: np.ndarray, fs: float, cfg: StepSettings
) -> np.ndarray:
    """Per-step running evidence inside one bout (anchors sorted, >= 2 of them)."""
    d = np.diff(anchors).astype(float)
    step_n = np.empty(anchors.size)  # local step: mean of the neighbouring intervals
    step_n[1:-1] = 0.5 * (d[1:] + d[:-1])
    step_n[0], step_n[-1] = d[0], d[-1]
    half = np.maximum((0.5 * step_n).astype(int), 1)
    k_min, _ = window_argext(acc_lp10, anchors - half, anchors + half, mode="min")
    flight = acc_lp10[k_min] < cfg.flight_g * G
    bouncy = (60.0 * fs / step_n >= 150) & (acc_lp10[anchors] >= 2.2 * G)
    return flight | bouncy


def _split_by_activity(
    anchors: np.ndarray, bout: np.ndarray, acc_lp10: np.ndarray, fs: float, cfg: StepSettings
) -> tuple[np.ndarray, list[str]]:
    """Label bouts walk/run and split a bout where the activity changes (e.g. a treadmill
    session speeding up from walking to running without a stop).

    Per-step evidence (flight, or >= 150 steps/min with >= 2.2 g peaks) is smoothed by a
    running majority over 5 steps; runs of one activity shorter than `MIN_BOUT_STEPS` join
    their neighbour. Returns the new bout index per anchor and the activity per bout.
    """
    new_bout = np.zeros(anchors.size, dtype=int)
    activity: list[str] = []
    next_id = 0
    for b in range(int(bout.max()) + 1 if bout.size else 0):
        idx = np.flatnonzero(bout == b)
        a = anchors[idx]
        if a.size < 2:
            new_bout[idx] = next_id
            activity.append("walk")
            next_id += 1
            continue
        run = _step_is_running(a, acc_lp10, fs, cfg).astype(float)
        k = min(5, a.size)
        pad = np.concatenate([np.repeat(run[:1], k // 2), run, np.repeat(run[-1:], k - 1 - k // 2)])
        smooth = np.convolve(pad, np.ones(k) / k, mode="valid") >= 0.5
        label = smooth.copy()  # True = running
        seg_start = np.flatnonzero(np.diff(np.concatenate([[-1], label.astype(int)])) != 0)
        seg_end = np.concatenate([seg_start[1:], [a.size]])
        # short stretches take the activity of the preceding one (or the next, at the start)
        for s0, s1 in zip(seg_start, seg_end, strict=True):
            if s1 - s0 < cfg.min_bout_steps and a.size >= cfg.min_bout_steps:
                label[s0:s1] = label[s0 - 1] if s0 > 0 else label[min(s1, a.size - 1)]
        change = np.concatenate([[0], np.cumsum(label[1:] != label[:-1])])
        new_bout[idx] = next_id + change
        for c in range(int(change.max()) + 1):
            activity.append("run" if label[change == c][0] else "walk")
        next_id += int(change.max()) + 1
    return new_bout, activity


def _turn_mask(gyr_is: np.ndarray, step_s: float, fs: float, cfg: StepSettings) -> np.ndarray:
    rate = moving_mean(gyr_is, round(2 * step_s * fs))
    return np.abs(rate) > cfg.turn_rate_dps


def _bout_regularity(av: np.ndarray, anchors: np.ndarray, bout: np.ndarray) -> np.ndarray:
    """Per anchor: the step regularity of its bout (Moe-Nilssen & Helbostad 2004): the
    correlation of the band-passed vertical acceleration with itself one step (the median
    anchor interval) later, over the whole bout (first anchor to one step past the last).

    A bout of random movement whose peaks happen to be evenly spaced does not repeat
    between them (IPOL walking bouts, odd subjects: median 0.82, 5th percentile 0.63;
    bouts found in Gaussian noise: median 0.13, maximum 0.52).
    """
    out = np.zeros(anchors.size)
    for b in np.unique(bout):
        sel = bout == b
        a = anchors[sel]
        if a.size < 2:
            continue
        lag = int(np.median(np.diff(a)))
        x = av[a[0] : min(a[-1] + lag, av.size)]
        if lag < 1 or x.size <= lag + 2:
            continue
        out[sel] = _lag_corr(x, lag)
    return out


def _lag_corr(x: np.ndarray, lag: int) -> float:
    u, v = x[:-lag], x[lag:]
    u, v = u - u.mean(), v - v.mean()
    den = float(np.sqrt((u * u).sum() * (v * v).sum()))
    return float((u * v).sum() / den) if den > 0 else 0.0


def _short_walks(
    anchors: np.ndarray, bout: np.ndarray, counts: np.ndarray, av: np.ndarray,
    lateral: tuple[np.ndarray, np.ndarray], fs: float, cfg: StepSettings,
) -> np.ndarray:
    """Per anchor: True in a bout of `MIN_SHORT_BOUT_STEPS` to `MIN_BOUT_STEPS` - 1 steps that
    walks like two legs do.

    Bipedal walking alternates: the vertical acceleration repeats every step, the
    medio-lateral acceleration and the pelvic roll every stride, in anti-phase from one step
    to the next (the trunk is pushed towards the stance leg, the swing side drops). A
    discrete movement (sit-to-stand, reaching, shifting weight) that happens to give 2-3
    evenly spaced vertical peaks moves its axes together. And a short walk starts or ends at
    rest. A short bout is kept when, over it (first anchor to one step past the last), the
    vertical step regularity is >= `MIN_REGULARITY`, the step-lag correlation of the
    medio-lateral acceleration or of the roll rate (``lateral``) <= -`SHORT_WALK_ML_ANTIPHASE`
    (the roll alternates more reliably in the first steps from rest: IPOL odd subjects, 2-3
    step walks F1 0.76 with the acceleration alone, 0.86 with either),
    and the vertical acceleration is quiet (SD < `MIN_MOVING_SD_MPS2`, the gait windows'
    "moving" bar) for `SHORT_WALK_REST_S` a step before its first or after its last step
    (the defaults of ``cfg``'s fields of the same names).
    """
    keep = np.zeros(anchors.size, dtype=bool)
    ml, roll = (bandpass(x - np.median(x), 0.5, 8.0, sampling_rate_hz=fs) for x in lateral)
    for b in np.flatnonzero((counts >= cfg.min_short_bout_steps) & (counts < cfg.min_bout_steps)):
        sel = bout == b
        a = anchors[sel]
        lag = int(np.median(np.diff(a)))
        lo, hi = int(a[0]), int(min(a[-1] + lag, av.size))
        if lag < 2 or hi - lo <= lag + 2:
            continue
        w = max(int(cfg.short_walk_rest_s * fs), 2)
        before = av[max(lo - lag - w, 0) : max(lo - lag, 0)]
        after = av[min(hi + lag, av.size) : min(hi + lag + w, av.size)]
        at_rest = any(
            x.size >= w and float(x.std()) < cfg.min_moving_sd_mps2 for x in (before, after)
        )
        if (
            at_rest
            and _lag_corr(av[lo:hi], lag) >= cfg.min_regularity
            and min(_lag_corr(ml[lo:hi], lag), _lag_corr(roll[lo:hi], lag))
            <= -cfg.short_walk_ml_antiphase
        ):
            keep[sel] = True
    return keep


@dataclass(frozen=True, eq=False)
class _Blocks:
    """The input as block means of ``q`` samples (~50 Hz), on which steps and bouts are
    found: plenty for anchors, several times faster at 200-400 Hz. Event times are refined at
    the full rate later."""

    q: int
    fs: float
    n_full: int
    acc_is: np.ndarray
    gyr_is: np.ndarray
    #: ``(acc_ml, gyr_pa)`` when both are given (`_short_walks`), else None
    lateral: tuple[np.ndarray, np.ndarray] | None
    valid: np.ndarray | None

    def to_full(self, idx: np.ndarray) -> np.ndarray:
        """Block indices -> sample indices at the input rate (block centres)."""
        return np.asarray(idx, dtype=int) * self.q + self.q // 2

    def mask_to_full(self, mask: np.ndarray) -> np.ndarray:
        """Per-block mask -> per-sample mask (the tail after the last block as the last)."""
        n = mask.size
        out = np.zeros(self.n_full, dtype=bool)
        out[: n * self.q] = np.repeat(mask, self.q)
        out[n * self.q :] = mask[-1] if mask.size else False
        return out


def _block_means(body: pd.DataFrame, valid: np.ndarray | None, fs_full: float) -> _Blocks:
    """`_Blocks` of ``body`` (``valid``: all of a block's samples valid)."""
    acc_full = np.asarray(body["acc_is"], dtype=float)
    n_full = acc_full.size
    q = max(1, round(fs_full / 50.0))
    n = n_full // q

    def blocks(x: np.ndarray) -> np.ndarray:
        return x[: n * q].reshape(n, q).mean(axis=1)

    gyr_is = blocks(np.asarray(body["gyr_is"], dtype=float)) if "gyr_is" in body else np.zeros(n)
    lateral = (
        (blocks(np.asarray(body["acc_ml"], dtype=float)),
         blocks(np.asarray(body["gyr_pa"], dtype=float)))
        if "acc_ml" in body and "gyr_pa" in body
        else None
    )
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)[: n * q].reshape(n, q).all(axis=1)
    return _Blocks(q, fs_full / q, n_full, blocks(acc_full), gyr_is, lateral, valid)


@dataclass(frozen=True, eq=False)
class _GaitWindows:
    """Gait windows (`_gait_windows`): per window its centre (block index), step period (s)
    and whether it is gait; per block the gait mask (dilated by half a window)."""

    centre: np.ndarray
    period_s: np.ndarray
    is_gait: np.ndarray
    mask: np.ndarray


def _gait_windows(av: np.ndarray, fs: float, cfg: StepSettings) -> _GaitWindows | None:
    """Method step 1: the windows that move and are periodic; None if the signal is shorter
    than one window's worth."""
    n = av.size
    centre, period_s, reg, sd = _window_step_period(av, fs, cfg)
    if centre.size == 0:
        return None
    is_gait = (sd >= cfg.min_moving_sd_mps2) & (reg >= cfg.min_regularity)
    # per-sample gait mask: nearest window centre, dilated by half a window
    idx = np.clip(np.searchsorted(centre, np.arange(n)), 0, centre.size - 1)
    prev = np.clip(idx - 1, 0, centre.size - 1)
    nearest = np.where(
        np.abs(centre[prev] - np.arange(n)) < np.abs(centre[idx] - np.arange(n)), prev, idx
    )
    gait_core = is_gait[nearest]
    dil = int(cfg.window_s / 2 * fs)
    mask = moving_mean(gait_core.astype(float), 2 * dil + 1) > 0
    return _GaitWindows(centre, period_s, is_gait, mask)


def _stretch_anchors(
    acc_is: np.ndarray, s: int, e: int, gw: _GaitWindows, fs: float, cfg: StepSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Method step 2 in one gait stretch ``[s, e)``: ``(anchors, periods_s, weak)`` (the
    step peaks, their local step periods, and the weaker peaks a bout may grow by), or None
    when the stretch has no gait window or no peak."""
    sel = gw.is_gait & (gw.centre >= s) & (gw.centre < e)
    if not np.any(sel):
        return None
    # local step period at every sample (the activity may change within a stretch)
    local_step_s = np.interp(np.arange(s, e), gw.centre[sel], gw.period_s[sel])
    cutoff = float(np.clip(1.6 / np.median(gw.period_s[sel]), 2.5, 6.0))
    x = lowpass(acc_is[s:e] - np.median(acc_is[s:e]), cutoff, sampling_rate_hz=fs, order=2)
    pk, prom = find_peaks(
        x,
        distance=np.maximum((0.6 * local_step_s * fs).astype(int), 1),
        wlen=np.maximum((2 * local_step_s * fs).astype(int), 3),
    )
    if pk.size == 0:
        return None
    # typical step prominence around each peak (+-5 s): a quieter activity next to a
    # livelier one (walking into running) keeps its own scale
    typical = (
        pd.Series(prom, index=pd.to_timedelta(pk / fs, unit="s"))
        .rolling(pd.Timedelta(seconds=cfg.typical_window_s), center=True, min_periods=1)
        .quantile(0.75)
        .to_numpy()
    )
    keep = (prom >= 0.3 * typical) & (prom >= 0.4)
    weak = (prom >= cfg.extend_prominence * typical) & (prom >= 0.2) & ~keep
    pk_keep = pk[keep] + s
    # local step period at each anchor (interpolated from the gait windows)
    return pk_keep, np.interp(pk_keep, gw.centre[sel], gw.period_s[sel]), pk[weak] + s


def _step_anchors(
    acc_is: np.ndarray, gw: _GaitWindows, fs: float, cfg: StepSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Method step 2: `_stretch_anchors` of every gait stretch, joined; None when no stretch
    has a peak."""
    found = [
        r for s, e in zip(*runs(gw.mask), strict=True)
        if (r := _stretch_anchors(acc_is, s, e, gw, fs, cfg)) is not None
    ]
    if not found:
        return None
    anchors, periods, weak = (np.concatenate(x) for x in zip(*found, strict=True))
    return anchors, periods, weak


def _chain_bouts(
    anchors: np.ndarray, periods: np.ndarray, valid: np.ndarray | None, fs: float
) -> np.ndarray:
    """Bout number per anchor: consecutive anchors chain while their interval stays within
    0.4-1.75 local step periods and no data gap lies between them."""
    gap_before = np.zeros(anchors.size, dtype=bool)
    if valid is not None and not np.all(valid):
        n_bad = np.concatenate([[0], np.cumsum(~valid)])
        gap_before[1:] = n_bad[anchors[1:]] > n_bad[anchors[:-1]]
    dt = np.diff(anchors) / fs
    ref = 0.5 * (periods[1:] + periods[:-1])
    brk = (dt > 1.75 * ref) | (dt < 0.4 * ref) | gap_before[1:]
    return np.concatenate([[0], np.cumsum(brk)])


def _bouts_from_anchors(
    anchors: np.ndarray, periods: np.ndarray, av: np.ndarray, blk: _Blocks, cfg: StepSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Method step 3: anchors chained into bouts; the bouts kept are those of at least
    ``cfg.min_bout_steps`` steps with a rhythm (robust CV of the step intervals <=
    ``cfg.max_step_cv``) and the short walks (`_short_walks`). Returns the kept anchors,
    periods and bout numbers (not consecutive)."""
    fs = blk.fs
    bout_raw = _chain_bouts(anchors, periods, blk.valid, fs)
    counts = np.bincount(bout_raw)
    ok = counts[bout_raw] >= cfg.min_bout_steps
    if blk.lateral is not None and cfg.min_short_bout_steps < cfg.min_bout_steps:
        ok |= _short_walks(anchors, bout_raw, counts, av, blk.lateral, fs, cfg)
    # rhythm: gait has near-constant step intervals, random movement does not
    for b in np.flatnonzero(counts >= cfg.min_bout_steps):
        d = np.diff(anchors[bout_raw == b]).astype(float)
        med = float(np.median(d))
        if 1.4826 * float(np.median(np.abs(d - med))) > cfg.max_step_cv * med:
            ok[bout_raw == b] = False
    return anchors[ok], periods[ok], bout_raw[ok]


def _no_gait_rhythm(
    av: np.ndarray, anchors: np.ndarray, bout: np.ndarray, cfg: StepSettings
) -> str:
    """Method step 3, whole recording: why it has no gait ("" if it has). Gait repeats step
    after step (`_bout_regularity`); a recording whose bouts do not (median over their steps,
    each step counted once) is below ``cfg.min_session_regularity``."""
    if anchors.size:
        w_med = float(np.median(_bout_regularity(av, anchors, bout)))
        if w_med < cfg.min_session_regularity:
            return (
                f"no gait rhythm: the step-to-step regularity of the vertical acceleration is "
                f"{w_med:.2f} over {anchors.size} steps (walking and running give 0.6-0.9)"
            )
    return ""


def _no_steps(n_full: int, gait_mask: np.ndarray | None = None, reason: str = "") -> StepStructure:
    """A `StepStructure` without steps (``gait_mask`` per sample, default none)."""
    return StepStructure(
        np.zeros(0, int), np.zeros(0, int), np.zeros(0), [], np.zeros(n_full, bool),
        np.zeros(n_full, bool) if gait_mask is None else gait_mask, no_gait_reason=reason,
    )


def find_steps(
    body: pd.DataFrame,
    *,
    sampling_rate_hz: float,
    valid: np.ndarray | None = None,
    settings: StepSettings | None = None,
) -> StepStructure:
    """Find gait stretches, one anchor per step, bouts, walk/run and turns.

    Parameters
    ----------
    body : DataFrame
        Body-frame signals (``acc_is`` required, ``gyr_is`` optional; ``acc_ml`` and
        ``gyr_pa`` for walks of 2-3 steps).
    sampling_rate_hz : float
        Uniform sampling rate, Hz.
    valid : ndarray of bool, optional
        False in data gaps (held values): no step is placed there and no bout spans one.
    settings : StepSettings, optional
        The method's parameters; None: the defaults (the module constants).

    Returns
    -------
    StepStructure
    """
    cfg = StepSettings() if settings is None else settings
    fs_full = float(sampling_rate_hz)
    n_full = len(np.asarray(body["acc_is"]))
    if n_full < int(2 * fs_full):
        return _no_steps(n_full)
    # 0. ~50 Hz block means (`_Blocks`)
    blk = _block_means(body, valid, fs_full)
    fs, valid = blk.fs, blk.valid
    av = bandpass(blk.acc_is - np.median(blk.acc_is), 0.5, 8.0, sampling_rate_hz=fs)
    # 1. gait windows: moving and periodic
    gw = _gait_windows(av, fs, cfg)
    if gw is None:
        return _no_steps(n_full)
    gait_mask = blk.mask_to_full(gw.mask)
    # 2. one anchor per step in each gait stretch, never on unmeasured data
    found = _step_anchors(blk.acc_is, gw, fs, cfg)
    if found is None:
        return _no_steps(n_full, gait_mask)
    anchors, periods, weak = found
    if valid is not None and not np.all(valid):
        keep_a = valid[anchors]
        anchors, periods = anchors[keep_a], periods[keep_a]
    if anchors.size == 0:  # every step in a data gap
        return _no_steps(n_full, gait_mask)
    # 3a. bouts (short walks, rhythm), then the rhythm of the whole recording
    anchors, periods, bout_raw = _bouts_from_anchors(anchors, periods, av, blk, cfg)
    no_gait_reason = _no_gait_rhythm(av, anchors, bout_raw, cfg)
    if no_gait_reason or not anchors.size:
        if no_gait_reason:
            log.info(no_gait_reason)
        return _no_steps(n_full, gait_mask, no_gait_reason)
    _, bout = np.unique(bout_raw, return_inverse=True)
    # 3b. each bout grows by a softer last step; a bout that ends in rest gets its closing step
    if valid is not None:
        weak = weak[valid[weak]]
    acc_lp10 = lowpass(blk.acc_is, 10.0, sampling_rate_hz=fs, order=2)
    anchors, periods, bout = _extend_bouts(anchors, periods, bout, weak, fs, cfg)
    anchors, periods, bout, closing = _closing_steps(
        anchors, periods, bout, acc_lp10, valid, fs, cfg)
    # 4. walk or run; 5. turns
    bout, activity = _split_by_activity(anchors, bout, acc_lp10, fs, cfg)
    step_global = float(np.median(periods)) if periods.size else 0.6
    turning = _turn_mask(blk.gyr_is, step_global, fs, cfg)
    return StepStructure(
        blk.to_full(anchors), bout, periods, activity, blk.mask_to_full(turning), gait_mask,
        closing,
    )
