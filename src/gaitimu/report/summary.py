"""Per-session summary: CPD per side with confidence, left/right asymmetry, temporal symmetry,
data quality and flags. `summarize` returns the ``summary.json`` contract (docs/contracts.md,
"Summary"; documented in docs/summary.schema.json and docs/report.md).

What the numbers mean (verdicts, banners, the summary card, guidance) is decided in
`gaitimu.report.verdicts`; docs/verdicts.md is the reader's version of those rules.

- Statistics use valid strides of the session's main activity only.
- ``cpd_deg`` is ``cpd_standing_deg`` when both sides have at least `MIN_STRIDES_PER_SIDE`
  finite values, else ``cpd_ic_deg`` (``cpd_reference``). Both are always reported. The
  thresholds apply to ``cpd_standing_deg`` only (``asymmetry.threshold_applies``).
- Never the wrong hip: stances without a side (the event detector withheld a weak or
  contradictory left/right decision) never enter per-side statistics; left/right attribution
  is checked as a whole first (`_side_attribution`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gaitimu import __version__
from gaitimu.errors import BadInputError
from gaitimu.report import references as refs
from gaitimu.report import selftests, verdicts
from gaitimu.report.stats import MeanCI, linear_trend, mean_ci, symmetry_index, welch_diff
from gaitimu.sessions.files import jsonable

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1.0"
SIDES = ("L", "R")
REQUIRED_COLUMNS = ("side", "ic_s", "cpd_ic_deg", "valid")
TEMPORAL_METRICS = ("stance_s", "step_s", "stride_s", "flight_s")


def valid_flags(col: pd.Series) -> np.ndarray:
    """Boolean array from a ``valid`` column that may hold bools, 0/1, NaN or the strings
    "True"/"False" (a strides table read back from CSV)."""
    if col.dtype == bool:
        return col.to_numpy()
    text = col.astype(str).str.strip().str.lower()
    return text.isin(("true", "1", "1.0", "yes")).to_numpy()


def _col(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)


def _main_activity(strides: pd.DataFrame, meta: Mapping, info: Mapping) -> str | None:
    act = info.get("activity") or meta.get("activity")
    if "activity" in strides.columns and len(strides):
        counts = strides["activity"].dropna().astype(str).value_counts()
        if len(counts):
            return str(counts.index[0])
    return str(act) if act else None


def _gaps_summary(gaps: Any) -> tuple[int, float]:
    """(number of gaps, total seconds) from [[start, end], ...] or [{start_s, end_s}, ...]."""
    n, total = 0, 0.0
    for g in gaps or []:
        if isinstance(g, Mapping):
            a, b = g.get("start_s"), g.get("end_s")
        else:
            a, b = [*list(g), None, None][:2]
        n += 1
        if a is not None and b is not None:
            total += max(float(b) - float(a), 0.0)
    return n, total


def _side_attribution(df: pd.DataFrame, side_arr: np.ndarray, info: Mapping) -> dict:
    """The ``sides`` section: stances without a side, per-bout decisions, whether left and
    right can be trusted at all (``attribution`` "ok"/"uncertain" with ``why``)."""
    n_stances = int(side_arr.size)
    no_side = ~np.isin(side_arr, SIDES)
    n_no_side = int(no_side.sum())
    reasons: dict[str, int] = {}
    if n_no_side and "invalid_reason" in df.columns:
        prefix = "no side: "
        for r in df.loc[no_side, "invalid_reason"].fillna("").astype(str):
            r = r[len(prefix):] if r.startswith(prefix) else ""
            key = r or "left/right uncertain"
            reasons[key] = reasons.get(key, 0) + 1
    elif n_no_side:
        reasons = {"left/right uncertain": n_no_side}
    align = info.get("alignment")
    trust = align.get("side_trust") if isinstance(align, Mapping) else None
    events = info.get("events")
    bouts = info.get("sides")
    if not bouts and isinstance(events, Mapping):
        bouts = events.get("sides")
    bouts = [b for b in (bouts or []) if isinstance(b, Mapping)]
    why = []
    if n_no_side and (trust == "uncertain" or n_no_side * 2 > n_stances):
        why.append(f"{n_no_side} of {n_stances} stances had no side")
    if trust == "uncertain":
        why.append("the sensor's forward direction could not be established")
    uncertain = trust == "uncertain" or (n_stances > 0 and n_no_side * 2 > n_stances)
    return {
        "n_stances": n_stances,
        "n_no_side": n_no_side,
        "attribution": "uncertain" if uncertain else "ok",
        "why": "; ".join(why) if uncertain else None,
        "reasons": reasons,
        "bouts_decided": sum(bool(b.get("decided")) for b in bouts),
        "bouts_withheld": sum(not b.get("decided") for b in bouts),
        "bouts": [dict(b) for b in bouts],
    }


def _side_stats(values: dict[str, np.ndarray]) -> dict[str, MeanCI]:
    return {s: mean_ci(values[s]) for s in SIDES}


def _speed_summary(info: Mapping, meta: Mapping, activity: str | None,
                   step_length: dict[str, np.ndarray] | None) -> dict:
    """The ``speed`` block: walking speed and distance estimated from the sacrum
    (`gaitimu.analysis.speed`), or why not, and the treadmill speed given at record/import.

    ``status``: "estimated" (walking, leg length known), "given" (not estimated, but a
    treadmill speed was given), "not estimated". A given speed is never put in
    ``speed_mps``: that is always the sensor's estimate.
    """
    sp = dict(info.get("speed") or {})
    given_kmh = sp.get("given_speed_kmh")
    if given_kmh is None:  # the analysis did not carry it: the session's own record
        given_kmh = meta.get("speed_kmh")
    try:
        given_kmh = float(given_kmh) if given_kmh is not None else None
    except (TypeError, ValueError):
        given_kmh = None
    estimated = bool(sp.get("estimated"))
    reason = str(sp.get("reason") or "")
    if activity == "run":
        estimated = False
        reason = ("running speed is not estimated (the inverted pendulum model holds for "
                  "walking only)" + ("; the treadmill speed given is shown" if given_kmh
                                     else "; give the treadmill speed with --speed-kmh"))
    elif not sp:
        reason = "not analysed for speed"
    status = "estimated" if estimated else ("given" if given_kmh else "not estimated")
    bouts = [b for b in (sp.get("bouts") or []) if isinstance(b, Mapping)]
    return {
        "status": status,
        "speed_mps": sp.get("speed_mps") if estimated else None,
        "distance_m": sp.get("distance_m") if estimated else None,
        "reason": "" if estimated else reason,
        "given_speed_kmh": given_kmh,
        "given_speed_mps": given_kmh / 3.6 if given_kmh else None,
        "leg_length_m": sp.get("leg_length_m"),
        "leg_length_source": sp.get("leg_length_source") or None,
        "leg_length_from": sp.get("leg_length_from"),
        "k": sp.get("k"),
        "n_steps": int(sp.get("n_steps") or 0),
        "step_length_m": sp.get("step_length_m") if estimated else None,
        "step_length_by_side_m": ({s: mean_ci(step_length[s]).as_dict() for s in SIDES}
                                  if estimated and step_length is not None else None),
        "bouts": [{k: b.get(k) for k in ("bout_id", "start_s", "end_s", "n_steps",
                                          "n_estimated", "distance_m", "speed_mps",
                                          "step_length_m")} for b in bouts] if estimated else [],
        "method": "walking only: inverted pendulum model (Zijlstra & Hof 2003), step length "
        "= K * 2 * sqrt(2 l h - h^2) from the vertical sacral excursion h of each step "
        "(double-integrated vertical acceleration, drift removed per step) and the leg "
        "length l (given, or 0.53 x height, Winter 2009); K fitted on IPOL odd-numbered "
        "subjects. Turn steps are counted in the distance but get no per-stride value; "
        "bout speed = bout distance / bout time.",
    }


def turns_summary(turns: Any) -> dict:
    """The turns of the recording (`gaitimu.analysis.turns.detect_turns`, carried in
    ``info["turns"]``): counts per direction, and the table."""
    rows = [dict(t) for t in (turns or []) if isinstance(t, Mapping)]
    angles = [float(t["angle_deg"]) for t in rows if t.get("angle_deg") is not None]
    durations = [float(t["duration_s"]) for t in rows if t.get("duration_s") is not None]
    return {
        "n": len(rows),
        "n_left": sum(1 for t in rows if t.get("direction") == "left"),
        "n_right": sum(1 for t in rows if t.get("direction") == "right"),
        "mean_abs_angle_deg": float(np.mean(np.abs(angles))) if angles else None,
        "mean_duration_s": float(np.mean(durations)) if durations else None,
        "n_spanning_gap": sum(1 for t in rows if t.get("spans_gap")),
        "table": rows,
        "method": "heading rate (pelvis vertical axis) low-passed at 0.5 Hz; a turn reaches "
        "15 deg/s, is bounded where the rate falls below 5 deg/s, lasts 0.5-10 s and turns "
        ">= 45 deg (El-Gohary et al. 2014, as mobgap's TdElGohary); angle = heading 1 s "
        "after minus 1 s before (> 0 = left). Steps in turns stay out of CPD.",
    }


def _trend(t_min: np.ndarray, y: np.ndarray, span_min: float, measure: str) -> dict:
    """One side's within-session trend (fatigue): the change over the session in degrees with
    its 95 % CI (slope x time span), ``shown`` only when that CI excludes zero. The slope per
    10 min stays for researchers; user text uses the change (a slope per 10 min extrapolated
    from a 1-minute session reads as a large effect that never happened)."""
    tr = linear_trend(t_min, y)
    lo, hi = tr["ci95_low"] * span_min, tr["ci95_high"] * span_min
    return {
        "slope_deg_per_10min": tr["slope"] * 10.0,
        "ci95_low": tr["ci95_low"] * 10.0,
        "ci95_high": tr["ci95_high"] * 10.0,
        "change_over_session_deg": tr["slope"] * span_min,
        "change_ci95_low": lo,
        "change_ci95_high": hi,
        "span_min": span_min,
        "shown": bool(math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0)),
        "measure": measure,
        "n": tr["n"],
    }


def _valid_rate_per_side(cadence_spm: float | None, cpd: dict[str, MeanCI],
                         n_stances: int) -> float | None:
    """Usable stances per side per minute of gait at the measured cadence: cadence / 2 (one
    stance of each leg per stride) times the share of this session's stances that gave a
    usable drop on a side. What turns strides still needed into minutes of recording."""
    if not cadence_spm or not n_stances or not math.isfinite(cadence_spm):
        return None
    usable = sum(cpd[s].n for s in SIDES) / n_stances
    return float(cadence_spm) / 2.0 * usable if usable > 0 else None


#: How the gait numbers are computed and decided (summary.json ``method``).
GAIT_METHOD = {
    "ci": "95 % Student-t interval of the mean with an effective sample size "
    "n_eff = n(1-r1)/(1+r1) from the lag-1 autocorrelation r1 of the strides in time "
    "order (AR(1) approximation), so correlated strides widen the interval.",
    "asymmetry": "Welch-Satterthwaite interval of the R-L difference of means on "
    "effective sample sizes; symmetry index 100*(R-L)/((R+L)/2).",
    "decision": "thresholds apply only to the drop relative to quiet standing, the "
    "measure they were set for: without quiet standing no side is judged. A side is "
    "flagged only when both sides have enough valid strides and the whole 95 % CI of "
    "the difference clears the threshold; a CI within the threshold: not flagged; "
    "otherwise inconclusive. Stances without a side never enter per-side statistics; "
    "when left/right is uncertain (forward direction not established, or more than "
    "half of the stances without a side) no side is flagged.",
    "trend": "least-squares slope of the drop against time per side with an "
    "autocorrelation-aware CI; change over the session = slope x time span, shown "
    "only when its 95 % CI excludes zero.",
}


@dataclasses.dataclass(frozen=True)
class _Selection:
    """The stances `summarize` works on: those of the main activity, in time order."""

    df: pd.DataFrame  # all of them
    valid_mask: np.ndarray
    side_arr: np.ndarray
    vdf: pd.DataFrame  # the valid ones
    vside: np.ndarray

    @property
    def n_valid(self) -> dict[str, int]:
        return {s: int((self.vside == s).sum()) for s in SIDES}

    @property
    def n_total(self) -> dict[str, int]:
        return {s: int((self.side_arr == s).sum()) for s in SIDES}

    def per_side(self, col: str) -> dict[str, np.ndarray]:
        v = _col(self.vdf, col)
        return {s: v[self.vside == s] for s in SIDES}


def _select(strides: pd.DataFrame, activity: str | None) -> _Selection:
    df = strides
    if activity and "activity" in df.columns:
        df = df[df["activity"].astype(str) == activity]
    df = df.sort_values("ic_s", kind="stable")
    valid_mask = valid_flags(df["valid"])
    side_arr = df["side"].astype(str).to_numpy()
    return _Selection(df, valid_mask, side_arr, df[valid_mask], side_arr[valid_mask])


@dataclasses.dataclass(frozen=True)
class _GaitStats:
    cpd_ic: dict[str, MeanCI]
    cpd_st: dict[str, MeanCI]
    use_standing: bool  # both sides have enough stances with a standing reference
    temporal: dict[str, dict[str, MeanCI]]
    ml: dict[str, MeanCI]
    obl_range: dict[str, MeanCI]

    @property
    def reference(self) -> str:
        return "standing" if self.use_standing else "ic"

    @property
    def cpd_col(self) -> str:
        return "cpd_standing_deg" if self.use_standing else "cpd_ic_deg"

    @property
    def cpd(self) -> dict[str, MeanCI]:
        return self.cpd_st if self.use_standing else self.cpd_ic

    @property
    def diff(self) -> Any:
        return welch_diff(self.cpd["L"], self.cpd["R"])


def _gait_statistics(sel: _Selection, min_n: int) -> _GaitStats:
    cpd_st = _side_stats(sel.per_side("cpd_standing_deg"))
    return _GaitStats(
        cpd_ic=_side_stats(sel.per_side("cpd_ic_deg")),
        cpd_st=cpd_st,
        use_standing=all(cpd_st[s].n >= min_n for s in SIDES),
        temporal={m: _side_stats(sel.per_side(m)) for m in TEMPORAL_METRICS},
        ml=_side_stats(sel.per_side("ml_excursion_m")),
        obl_range=_side_stats(sel.per_side("obliquity_range_deg")),
    )


def _asymmetry(st: _GaitStats, threshold_deg: float) -> dict:
    stance_l, stance_r = st.temporal["stance_s"]["L"].mean, st.temporal["stance_s"]["R"].mean
    total = stance_l + stance_r
    return {
        "cpd_diff_r_minus_l_deg": st.diff.as_dict(),
        "cpd_symmetry_index_pct": symmetry_index(st.cpd["L"].mean, st.cpd["R"].mean),
        "stance_symmetry_index_pct": symmetry_index(stance_l, stance_r),
        "step_symmetry_index_pct": symmetry_index(st.temporal["step_s"]["L"].mean,
                                                  st.temporal["step_s"]["R"].mean),
        "gct_balance_left_pct": (100.0 * stance_l / total
                                 if math.isfinite(total) and total > 0 else math.nan),
        "ml_sway_symmetry_index_pct": symmetry_index(st.ml["L"].mean, st.ml["R"].mean),
        "threshold_deg": threshold_deg,
        "threshold_measure": "cpd_standing_deg",
        "threshold_applies": st.use_standing,
    }


def _duration_and_cadence(strides: pd.DataFrame, vdf: pd.DataFrame, meta: Mapping,
                          info: Mapping) -> tuple[Any, Any]:
    duration_s = meta.get("duration_s", info.get("duration_s"))
    if duration_s is None and len(strides):
        ends = _col(strides, "next_ic_s")
        duration_s = float(np.nanmax(np.r_[ends, _col(strides, "ic_s")]))
    cadence = info.get("cadence_spm")
    if cadence is None:
        step = _col(vdf, "step_s")
        step = step[np.isfinite(step) & (step > 0)]
        cadence = 60.0 / float(np.median(step)) if step.size else None
    return duration_s, cadence


def _trends(sel: _Selection, cpd_col: str) -> dict[str, dict]:
    """Per side, the drop the verdict uses against time (fatigue), with its text."""
    t_min = _col(sel.vdf, "ic_s") / 60.0
    y = _col(sel.vdf, cpd_col)
    span_min = float(np.nanmax(t_min) - np.nanmin(t_min)) if t_min.size else 0.0
    trend = {s: _trend(t_min[sel.vside == s], y[sel.vside == s], span_min, cpd_col)
             for s in SIDES}
    for s in SIDES:
        trend[s]["text"] = verdicts.trend_text(s, trend[s])
    return trend


def _words(self_test: bool, sides: dict, st: _GaitStats, trend: dict, rules: Any,
           tested: Any, meta: Mapping, activity: str | None, speed: dict,
           self_test_threshold_deg: float) -> dict:
    """``verdict``, ``flags``, ``card`` and ``guidance``: of the gait, or, for a self-test
    session, of the self-test (the gait parts then say it is not a gait session; the trend
    texts of ``trend`` are replaced accordingly)."""
    if self_test:
        test = str(activity)
        st_dec = tested.decisions.get(test) or selftests.no_rows_decision(test)
        for s in SIDES:
            trend[s]["text"] = selftests.not_gait_trend_text(test)
        return {
            "verdict": selftests.not_gait_verdict(test),
            "flags": tested.flags or st_dec.flags,
            "card": selftests.card(test, st_dec, tested.entries,
                                   verdicts.context(meta, activity, speed)),
            "guidance": selftests.guidance(
                test, st_dec, dataclasses.replace(rules, thr=self_test_threshold_deg)),
        }
    if sides["attribution"] == "uncertain":
        decision = verdicts.uncertain_sides(sides)
    else:
        decision = verdicts.decide(st.cpd_st, st.cpd_ic, st.diff, trend, rules,
                                   use_standing=st.use_standing,
                                   standing_found=any(st.cpd_st[s].n for s in SIDES))
        if sides["n_no_side"]:
            left_out = (f" {sides['n_no_side']} stance{'s' if sides['n_no_side'] > 1 else ''} "
                        "without a side (left/right uncertain) were left out.")
            for r in decision.sides.values():
                r.text += left_out
    return {
        "verdict": decision.verdict(),
        "flags": decision.flags,
        "card": verdicts.card(decision, st.cpd_st, rules, meta=meta, speed=speed),
        "guidance": verdicts.guidance(decision, trend, rules),
    }


def _data_quality(strides: pd.DataFrame, sel: _Selection, meta: Mapping, info: Mapping,
                  duration_s: Any, sides: dict) -> dict:
    reasons: dict[str, int] = {}
    if "invalid_reason" in sel.df.columns:
        bad = sel.df.loc[~sel.valid_mask, "invalid_reason"].fillna("unspecified").astype(str)
        bad = bad.replace("", "unspecified")
        reasons = {str(k): int(v) for k, v in bad.value_counts().items()}
    n_gaps, gap_s = _gaps_summary(meta.get("gaps", info.get("gaps")))
    lost = meta.get("lost_samples")
    rate = meta.get("sample_rate_hz")
    n_samples = meta.get("n_samples")
    if n_samples is None and rate and duration_s:
        n_samples = float(rate) * float(duration_s)
    return {
        "sample_rate_hz": rate,
        "lost_samples": lost,
        "loss_pct": (100.0 * float(lost) / (float(n_samples) + float(lost))
                     if lost is not None and n_samples else None),
        "gaps": n_gaps,
        "gap_total_s": gap_s,
        "alignment": info.get("alignment", info.get("alignment_correction")),
        "strides_excluded": {"total": int((~sel.valid_mask).sum()), "by_reason": reasons},
        "strides_without_side": sides["n_no_side"],
        "strides_other_activity": int(len(strides) - len(sel.df)),
        "warnings": list(info.get("warnings", []) or []),
        "problems": list(meta.get("problems", []) or []),
    }


def summarize(
    strides: pd.DataFrame,
    meta: Mapping | None = None,
    info: Mapping | None = None,
    *,
    min_strides_per_side: int = refs.MIN_STRIDES_PER_SIDE,
    asymmetry_threshold_deg: float = refs.CPD_ASYMMETRY_THRESHOLD_DEG,
    absolute_threshold_deg: float | None = refs.CPD_ABSOLUTE_THRESHOLD_DEG,
    trend_threshold_deg: float = refs.CPD_TREND_THRESHOLD_DEG,
    tests: pd.DataFrame | None = None,
    self_test_threshold_deg: float = refs.SELF_TEST_THRESHOLD_DEG,
) -> dict:
    """Summary statistics, asymmetry and flags of one analysed session.

    Parameters
    ----------
    strides
        Strides table (one row per stance, docs/architecture.md). Needs at least ``side``,
        ``ic_s``, ``cpd_ic_deg`` and ``valid``; other documented columns are used when
        present.
    meta
        Session metadata (``open_session(path).meta``), optionally with ``duration_s``,
        ``lost_samples``, ``gaps``, ``n_samples``.
    info
        ``AnalysisResult.info`` (activity, cadence_spm, alignment, warnings, ...).
    min_strides_per_side, asymmetry_threshold_deg, absolute_threshold_deg, trend_threshold_deg
        Decision thresholds (defaults in `gaitimu.report.references`).
    tests
        The self-tests table (``AnalysisResult.tests``, docs/self_tests.md): its summary is
        ``self_tests`` (`gaitimu.report.selftests`). A self-test session (activity in
        `gaitimu.consts.SELF_TESTS`) has no gait: its card, verdict texts and guidance speak
        about the self-test, the gait numbers stay empty and the strides table may be empty.
    self_test_threshold_deg
        Left/right threshold of the self-tests (`references.SELF_TEST_THRESHOLD_DEG`).

    Returns
    -------
    dict
        JSON-safe summary following docs/summary.schema.json.

    Raises
    ------
    BadInputError
        If ``strides`` lacks a required column.
    """
    meta = dict(meta or {})
    info = dict(info or {})
    self_test = selftests.is_self_test(info.get("activity") or meta.get("activity"))
    if self_test and strides.empty:  # no gait: any table without rows will do
        strides = pd.DataFrame({c: pd.Series(dtype=float) for c in REQUIRED_COLUMNS})
    missing = [c for c in REQUIRED_COLUMNS if c not in strides.columns]
    if missing:
        raise BadInputError(f"strides table lacks column(s) {', '.join(missing)}")

    # 1. the stances of the session's main activity, valid ones per side
    activity = _main_activity(strides, meta, info)
    sel = _select(strides, activity)
    # 2. per-side statistics; the reference of the drop (standing if both sides have it)
    st = _gait_statistics(sel, min_strides_per_side)
    # 3. duration, cadence, the within-session trend (fatigue) of the drop
    duration_s, cadence = _duration_and_cadence(strides, sel.vdf, meta, info)
    trend = _trends(sel, st.cpd_col)
    # 4. the decision (gait), the self-tests, and what the page says about them
    rules = verdicts.Rules(
        min_n=min_strides_per_side, thr=asymmetry_threshold_deg,
        abs_thr=absolute_threshold_deg, trend_thr=trend_threshold_deg, activity=activity,
        rate_per_side=_valid_rate_per_side(
            cadence, st.cpd if st.use_standing else st.cpd_ic, len(sel.df)),
        duration_min=float(duration_s) / 60.0 if duration_s else None)
    sides = _side_attribution(sel.df, sel.side_arr, info)
    tested = selftests.summarize_self_tests(tests, meta, threshold_deg=self_test_threshold_deg)
    speed = _speed_summary(info, meta, activity, sel.per_side("step_length_m")
                           if "step_length_m" in sel.vdf.columns else None)
    words = _words(self_test, sides, st, trend, rules, tested, meta, activity, speed,
                   self_test_threshold_deg)
    align = info.get("alignment")
    align = align if isinstance(align, Mapping) else {}
    # 5. the summary.json contract (docs/summary.schema.json)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "software_version": __version__,
        "generated_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "session": {
            "subject": meta.get("subject"),
            "created_utc": meta.get("created_utc"),
            "source": meta.get("source"),
            "sensor": meta.get("sensor"),
            "path": meta.get("path"),
        },
        "activity": activity,
        "duration_s": duration_s,
        "strides": sel.n_valid,
        "strides_total": sel.n_total,
        "sides": sides,
        "alignment": {"heading": align.get("heading"), "forward": align.get("forward"),
                      "side_trust": align.get("side_trust")},
        "cadence_spm": cadence,
        "speed_mps": speed["speed_mps"],
        "distance_m": speed["distance_m"],
        "speed": speed,
        "turns": turns_summary(info.get("turns") if info else None),
        "cpd_reference": st.reference,
        "cpd_deg": {s: st.cpd[s].as_dict() for s in SIDES},
        "cpd_ic_deg": {s: st.cpd_ic[s].as_dict() for s in SIDES},
        "cpd_standing_deg": {s: st.cpd_st[s].as_dict() for s in SIDES},
        "asymmetry": _asymmetry(st, asymmetry_threshold_deg),
        "temporal": {m: {s: st.temporal[m][s].as_dict() for s in SIDES}
                     for m in TEMPORAL_METRICS},
        "ml_sway": {
            "ml_excursion_m": {s: st.ml[s].as_dict() for s in SIDES},
            "note": "Medio-lateral sacral excursion towards the stance side: a proxy for "
            "trunk lean / compensated Trendelenburg, a hint and not proof.",
        },
        "obliquity_range_deg": {s: st.obl_range[s].as_dict() for s in SIDES},
        "trend": trend,
        **words,
        "self_tests": tested.entries,
        "thresholds": {
            "min_strides_per_side": min_strides_per_side,
            "asymmetry_deg": asymmetry_threshold_deg,
            "absolute_deg": absolute_threshold_deg,
            "trend_deg": trend_threshold_deg,
            "self_test_deg": self_test_threshold_deg,
        },
        "data_quality": _data_quality(strides, sel, meta, info, duration_s, sides),
        "method": {**GAIT_METHOD,
                   **({"self_tests": selftests.METHOD} if tested.entries or self_test else {})},
        "references": refs.references_for(activity),
        "reference_context": refs.reference_context(activity),
        "disclaimer": refs.DISCLAIMER,
    }
    return jsonable(summary)
