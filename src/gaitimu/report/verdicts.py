"""Verdicts, banners, the summary card and the guidance of one session, from its statistics.

`gaitimu.report.summary` computes the numbers; this module decides what they mean and says it
in plain words (docs/verdicts.md is the reader's version of these rules):

- A threshold applies only to the measure it was set for. The asymmetry, absolute and trend
  thresholds are set for the drop relative to quiet standing (``cpd_standing_deg``). Without
  quiet standing no side is judged: both sides are "inconclusive: no standing calibration"
  with a banner that says how to fix it. ``cpd_ic_deg`` (relative to the moment of landing)
  is a smaller-scale measure (about a third of ``cpd_standing_deg`` in simulated running, see
  docs/verdicts.md) and has no threshold of its own, so it is reported, never judged.
- Too few strides, a confidence interval that straddles the threshold, and left/right that
  cannot be told apart each give an inconclusive verdict with a banner that says what to
  record, with the minutes needed at the measured cadence where they can be estimated.
- User text follows the wording rules of docs/clinical_background.md#wording-rules: which side, positive numbers,
  how sure in words, flag and never diagnose, no internal identifiers or file names.

Everything fixed that the text says (thresholds, exercises, progression criteria) lives in
`gaitimu.report.references`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from gaitimu.consts import SELF_TESTS
from gaitimu.report import references as refs
from gaitimu.report.stats import DiffCI, MeanCI

SIDES = ("L", "R")


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Rules:
    """The decision thresholds and the session facts the wording needs.

    ``rate_per_side`` is the number of valid stances per side per minute of gait at the
    measured cadence (cadence / 2 x the share of stances that were valid and sided): what
    turns "strides needed" into "minutes needed". None when it cannot be measured.
    """

    min_n: int
    thr: float
    abs_thr: float | None
    trend_thr: float
    activity: str | None = None
    rate_per_side: float | None = None
    duration_min: float | None = None


@dataclass
class SideResult:
    """One side's verdict: ``status`` (flagged / not_flagged / inconclusive), ``reason`` (a
    machine key, docs/verdicts.md), the physio-facing ``text`` and the numbers behind it.

    ``diff``/``lo``/``hi``: this side's drop minus the other side's, with its 95 % CI
    (degrees, on the standing reference; NaN when not compared). ``minutes``: extra minutes of
    recording estimated to decide a borderline or short result (None: not estimable, or more
    than `references.MAX_MINUTES_PROMISED`). ``n``: usable strides of this side behind the
    result (relative to standing when the session had standing; 0 when not judged).
    """

    status: str
    reason: str
    text: str
    diff: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    minutes: int | None = None
    elevated: bool = False
    n: int = 0


@dataclass
class Decision:
    """What `decide` returns: flags (summary.json ``flags``), one `SideResult` per side,
    banners (``card.banners``), the overall ``case`` (flagged / both_high / not_flagged /
    inconclusive) and the sides whose drop grew during the session (``fatigue``)."""

    flags: list[dict]
    sides: dict[str, SideResult]
    banners: list[dict] = field(default_factory=list)
    case: str = "inconclusive"
    fatigue: list[str] = field(default_factory=list)

    def verdict(self) -> dict:
        """The ``verdict`` block of summary.json: status, text and reason per side."""
        return {s: {"status": r.status, "text": r.text, "reason": r.reason}
                for s, r in self.sides.items()}


# --------------------------------------------------------------------------- words
def fmt(x: float | None, nd: int = 1) -> str:
    """A number for text: ``nd`` decimals, no "-0.0", "n/a" when missing."""
    return "n/a" if x is None or not math.isfinite(x) else f"{round(x, nd) + 0.0:.{nd}f}"


def about(x: float) -> str:
    """A difference for a runner: to the nearest half degree ("3", "2.5"), "less than 0.5"."""
    r = round(abs(x) * 2) / 2
    if r < 0.5:
        return "less than 0.5"
    return f"{r:.0f}" if r == int(r) else f"{r:.1f}"


def _name(s: str) -> str:
    return refs.SIDE_NAME[s]


def _other(s: str) -> str:
    return refs.OTHER_SIDE[s]


def _act(rules: Rules, form: int = 1) -> str:
    """"running"/"walking" (form 1) or "run"/"walk" (form 0); neutral words when unknown."""
    words = refs.ACTIVITY_WORDS.get(rules.activity or "", ("session", "walking or running"))
    return words[form]


def amount_words(x: float) -> str:
    """A signed difference as positive words: "2.8 degrees more" / "1.2 degrees less"."""
    return f"{fmt(abs(x))} degrees {'more' if x >= 0 else 'less'}"


def range_words(lo: float, hi: float) -> str:
    """A signed interval as positive words: "2.7 to 3.0 degrees more", "0.5 degrees less to
    0.2 degrees more"."""
    if lo >= 0:
        return f"{fmt(lo)} to {fmt(hi)} degrees more"
    if hi <= 0:
        return f"{fmt(-hi)} to {fmt(-lo)} degrees less"
    return f"{fmt(-lo)} degrees less to {fmt(hi)} degrees more"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def round_minutes(x: float) -> int:
    """Minutes to ask for: rounded up, at least 1, to 5 above 10 (no false precision)."""
    m = max(1, math.ceil(x - 1e-9))
    return m if m <= 10 else 5 * math.ceil(m / 5)


def _side_numbers(s: str, c: MeanCI) -> str:
    """This side's drop relative to quiet standing, for a physio."""
    return (f"{_name(s).capitalize()}-leg stance: drop {fmt(c.mean)} ± {fmt(c.sd)} degrees "
            f"relative to quiet standing (95 % confidence interval {fmt(c.ci95_low)} to "
            f"{fmt(c.ci95_high)}, {plural(c.n, 'stride')}).")


def make_flag(side: str, kind: str, value: float | None, threshold: float | None,
          message: str) -> dict:
    return {"side": side, "kind": kind, "value": value, "threshold": threshold,
            "message": message}


def make_banner(kind: str, text: str, fix: str) -> dict:
    return {"kind": kind, "text": text, "fix": fix}


# --------------------------------------------------------------------------- minutes
def minutes_for_strides(needed: int, rules: Rules) -> int | None:
    """Extra minutes of gait for ``needed`` more valid stances per side at the measured rate."""
    if needed <= 0:
        return 0
    if not rules.rate_per_side or rules.rate_per_side <= 0:
        return None
    return round_minutes(needed / rules.rate_per_side)


def minutes_for_ci(half_width: float, distance: float, n_per_side: float,
                   rules: Rules) -> int | None:
    """Extra minutes for the CI half-width to shrink below ``distance`` (the gap between the
    estimate and the threshold), if the estimate stays where it is.

    The half-width scales as 1/sqrt(n): n must grow by (half_width / distance)^2 on both
    sides. None when the rate is unknown, the estimate sits on the threshold, or the answer is
    above `references.MAX_MINUTES_PROMISED` (a promise the data cannot keep).
    """
    if not (rules.rate_per_side and rules.rate_per_side > 0 and n_per_side > 0
            and math.isfinite(half_width) and distance > 1e-6):
        return None
    factor = (half_width / distance) ** 2
    extra = max(factor - 1.0, 0.0) * n_per_side / rules.rate_per_side
    if extra > refs.MAX_MINUTES_PROMISED:
        return None
    return round_minutes(extra)


def _in_all(minutes: int, rules: Rules) -> str:
    if rules.duration_min is None or not math.isfinite(rules.duration_min):
        return ""
    return f" (about {round_minutes(rules.duration_min + minutes)} minutes in all)"


def _more_minutes(minutes: int | None, rules: Rules) -> str:
    """"record about 3 more minutes of steady running (about 4 minutes in all)"."""
    if minutes is None:
        return f"record a longer session of steady {_act(rules)}"
    return (f"record about {plural(minutes, 'more minute')} of steady {_act(rules)}"
            f"{_in_all(minutes, rules)}")


# --------------------------------------------------------------------------- outcomes
def _few_strides(n: dict[str, int], rules: Rules, standing_found: bool) -> Decision:
    """Fewer than ``min_n`` usable strides on a side: both sides inconclusive."""
    needed = max(rules.min_n - n[s] for s in SIDES)
    minutes = minutes_for_strides(needed, rules)
    todo = _more_minutes(minutes, rules)
    flags, sides = [], {}
    for s in SIDES:
        o = _other(s)
        if n[s] < rules.min_n:
            flags.append(make_flag(
                s, "inconclusive", n[s], rules.min_n,
                f"Only {n[s]} valid {_name(s)}-leg strides (at least {rules.min_n} per side "
                f"are needed): {todo}."))
        sides[s] = SideResult(
            "inconclusive", "few_strides",
            f"inconclusive: too few strides. {n[s]} valid {_name(s)} and {n[o]} valid "
            f"{_name(o)} strides; at least {rules.min_n} per side are needed to judge a "
            f"side. To decide: {todo}.", minutes=minutes, n=n[s])
    counts = f"{n['L']} left and {n['R']} right"
    banners = [make_banner(
        "few_strides",
        f"Too few steps to compare your sides: {counts} usable steps, {rules.min_n} per "
        "leg are needed.",
        f"{todo[0].upper()}{todo[1:]}.")]
    if not standing_found:
        banners.append(_no_standing_banner())
    return Decision(flags, sides, banners, "inconclusive")


def _no_standing_banner() -> dict:
    return make_banner(
        "no_standing",
        "The recording did not start with you standing still, so your pelvic drop could not "
        "be measured and no side is judged.",
        f"Stand still, upright with your weight on both legs, for {refs.STANDING_NEEDED_S} "
        "seconds at the start of the recording, then start moving.")


def _no_standing(cpd_ic: dict[str, MeanCI], rules: Rules) -> Decision:
    """No quiet standing: the thresholds are set for the standing reference, so no side is
    judged. The drop from the moment of landing is quoted for the physio, unjudged."""
    sides = {}
    for s in SIDES:
        c = cpd_ic[s]
        sides[s] = SideResult(
            "inconclusive", "no_standing",
            "inconclusive: no standing calibration. The recording has no quiet standing at "
            "its start, so the drop cannot be measured from the standing pelvis, the measure "
            f"the {fmt(rules.thr)}-degree threshold is set for; no side is judged. Stand still "
            f"for {refs.STANDING_NEEDED_S} seconds at the start of the next recording. For "
            "reference only, the drop from the moment of landing (a smaller-scale measure "
            f"with no threshold of its own) was {fmt(c.mean)} ± {fmt(c.sd)} degrees during "
            f"{_name(s)}-leg stance ({plural(c.n, 'stride')}).")
    flags = [make_flag(
        "both", "inconclusive", None, None,
        "No quiet standing at the start of the recording: the pelvic drop cannot be measured "
        "from the standing pelvis, so no side is judged. Stand still for "
        f"{refs.STANDING_NEEDED_S} seconds at the start of the next recording.")]
    return Decision(flags, sides, [_no_standing_banner()], "inconclusive")


def uncertain_sides(sides_info: Mapping) -> Decision:
    """Left and right cannot be trusted (summary ``sides.attribution == "uncertain"``): no
    side is flagged, a left/right swap would be worse than no answer."""
    why = sides_info.get("why") or "left and right could not be told apart"
    text = (f"inconclusive: left/right uncertain; {why}. Which hip lets the pelvis drop is not "
            "reported: a left/right swap would be worse than no answer. Check how the sensor "
            "was worn (or give its axes) and record straight walking or running.")
    n_st = sides_info.get("n_stances") or 0
    share = (sides_info.get("n_no_side") or 0) / n_st if n_st else None
    # value: share of the stances without a side (threshold 0.5, "more than half")
    flags = [make_flag("both", "inconclusive", share, 0.5 if share and share > 0.5 else None,
                   f"Left/right attribution uncertain ({why}); no side is flagged.")]
    banner = make_banner(
        "uncertain_sides",
        "We could not tell your left steps from your right ones in this recording, so no "
        "side is singled out.",
        "Wear the sensor on the middle of your lower back, between the two dimples above the "
        "buttocks, pressed flat so that it moves with the skin, and record walking or running "
        "in a straight line (or on a treadmill).")
    return Decision(flags, {s: SideResult("inconclusive", "uncertain_sides", text)
                            for s in SIDES}, [banner], "inconclusive")


def classify_difference(lo: float, hi: float, thr: float) -> str:
    """The rule of docs/verdicts.md on a side's difference from the other side (this side
    minus the other, 95 % CI [lo, hi]) and the threshold: "asymmetry" (the whole CI above
    the threshold: flagged), "less_than_other" (the whole CI below minus the threshold),
    "within_threshold" (the CI's top within the threshold: not flagged with 95 %
    confidence), else "wide_ci" (the CI includes the threshold, or there is none)."""
    if math.isfinite(lo) and lo > thr:
        return "asymmetry"
    if math.isfinite(hi) and hi < -thr:
        return "less_than_other"
    if math.isfinite(hi) and hi <= thr:
        return "within_threshold"
    return "wide_ci"


def _compare_side(s: str, cpd: dict[str, MeanCI], diff: DiffCI, rules: Rules
                  ) -> tuple[SideResult, list[dict]]:
    """One side against the other on the standing reference: flagged when the whole CI of
    (this side - other side) clears the threshold, not flagged when it lies below it,
    otherwise inconclusive with the minutes that would likely decide it."""
    o = _other(s)
    c, co = cpd[s], cpd[o]
    d, lo, hi = ((diff.diff, diff.ci95_low, diff.ci95_high) if s == "R"
                 else (-diff.diff, -diff.ci95_high, -diff.ci95_low))
    name, oname, thr = _name(s), _name(o), rules.thr
    numbers = _side_numbers(s, c)
    reason = classify_difference(lo, hi, thr)
    if reason == "asymmetry":
        text = (f"The pelvis dropped {amount_words(d)} during {name}-leg stance than during "
                f"{oname}-leg stance (95 % confidence interval {range_words(lo, hi)}; "
                f"{c.n} {name} and {co.n} {oname} strides), beyond the {fmt(thr)}-degree "
                f"threshold: a pattern consistent with reduced {name} hip abductor control "
                f"during {name} stance. {numbers}")
        flag = make_flag(s, "cpd_asymmetry", d, thr,
                     f"Pattern consistent with reduced {name} hip abductor control during "
                     f"{name} stance: the {oname} side of the pelvis dropped {amount_words(d)} "
                     f"during {name}-leg stance than the {name} side did during {oname}-leg "
                     f"stance (95 % confidence interval {range_words(lo, hi)}; threshold "
                     f"{fmt(thr)} degrees; {c.n} and {co.n} strides).")
        return SideResult("flagged", "asymmetry", text, d, lo, hi, n=c.n), [flag]
    if reason == "less_than_other":
        text = (f"The pelvis dropped {amount_words(d)} during {name}-leg stance than "
                f"during {oname}-leg stance (95 % confidence interval {range_words(lo, hi)}). "
                f"{numbers}")
        return SideResult("not_flagged", "less_than_other", text, d, lo, hi, n=c.n), []
    if reason == "within_threshold":
        text = (f"With 95 % confidence the difference from the {oname} side stays within the "
                f"{fmt(thr)}-degree threshold (the pelvis dropped "
                f"{amount_words(d)} during {name}-leg stance; 95 % confidence interval "
                f"{range_words(lo, hi)}). {numbers}")
        return SideResult("not_flagged", "within_threshold", text, d, lo, hi, n=c.n), []
    n_per_side = (c.n + co.n) / 2
    minutes = minutes_for_ci((hi - lo) / 2, abs(d - thr), n_per_side, rules)
    decide = (f"about {plural(minutes, 'more minute')} of steady {_act(rules)} at the same "
              "pace would likely decide it, if the difference stays about the same"
              if minutes is not None else
              "the difference is too close to the threshold for a longer recording to "
              "decide it soon; re-test on another day")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        decide = "the spread of the strides could not be estimated"
    text = (f"inconclusive: close to the threshold. The pelvis dropped {amount_words(d)} during "
            f"{name}-leg stance than during {oname}-leg stance, but the 95 % confidence "
            f"interval ({range_words(lo, hi) if math.isfinite(lo) else 'n/a'}) includes the "
            f"{fmt(thr)}-degree threshold: {decide}. {numbers}")
    flag = make_flag(s, "inconclusive", d, thr,
                 f"{name.capitalize()}-leg stance: the drop was {amount_words(d)} than during "
                 f"{oname}-leg stance; its 95 % confidence interval includes the "
                 f"{fmt(thr)}-degree threshold: {decide}.")
    return SideResult("inconclusive", "wide_ci", text, d, lo, hi, minutes, n=c.n), [flag]


def _elevated(s: str, c: MeanCI, res: SideResult, abs_thr: float) -> list[dict]:
    """Absolute limit (off by default: no verified literature value): flag a side whose whole
    CI of the mean drop lies above it."""
    if not (math.isfinite(c.ci95_low) and c.ci95_low > abs_thr):
        return []
    res.status, res.elevated = "flagged", True
    res.text += (f" Above the absolute limit of {fmt(abs_thr)} degrees with 95 % confidence "
                 f"(confidence interval {fmt(c.ci95_low)} to {fmt(c.ci95_high)}).")
    return [make_flag(s, "cpd_elevated", c.mean, abs_thr,
                  f"{_name(s).capitalize()}-leg stance drop {fmt(c.mean)} degrees is above "
                  f"{fmt(abs_thr)} degrees with 95 % confidence (confidence interval "
                  f"{fmt(c.ci95_low)} to {fmt(c.ci95_high)}).")]


def _fatigue(s: str, tr: Mapping, res: SideResult, rules: Rules) -> list[dict]:
    """A drop that grew over the session: its change's CI above zero and the change beyond
    the trend threshold."""
    change, lo = tr.get("change_over_session_deg"), tr.get("change_ci95_low")
    if not (lo is not None and math.isfinite(lo) and lo > 0 and change is not None
            and change > rules.trend_thr):
        return []
    res.text += f" The drop grew by about {fmt(change)} degrees during the session."
    return [make_flag(s, "cpd_trend", change, rules.trend_thr,
                  f"{_name(s).capitalize()}-leg stance: the drop grew by about "
                  f"{fmt(change)} degrees over the session (95 % confidence interval "
                  f"{fmt(lo)} to {fmt(tr.get('change_ci95_high'))} degrees): control may "
                  "fade with fatigue.")]


def _fatigue_banner(sides: list[str], trend: Mapping, rules: Rules) -> dict:
    parts = [f"{fmt(trend[s]['change_over_session_deg'])} degrees on the {_name(s)} leg"
             for s in sides]
    return make_banner(
        "fatigue",
        f"Your pelvic drop grew as the {_act(rules, 0)} went on (by about "
        f"{' and '.join(parts)}): control may fade as the hip muscles tire.",
        "Endurance-oriented hip exercises (see the guidance), and a re-test with a "
        f"{_act(rules, 0)} of the same length.")


def _wide_ci_banner(s: str, res: SideResult, rules: Rules) -> dict:
    fix = (f"Record about {plural(res.minutes, 'more minute')} of steady {_act(rules)} at "
           f"the same pace{_in_all(res.minutes, rules)}, starting with "
           f"{refs.STANDING_NEEDED_S} seconds of standing still."
           if res.minutes is not None else
           "Re-test on another day: the difference is too close to the threshold for a "
           "longer recording to settle it soon.")
    return make_banner(
        "wide_ci",
        f"Your {_name(s)} side is close to the {fmt(rules.thr)}-degree difference we look "
        "for: the result could go either way.", fix)


def overall_case(sides: dict[str, SideResult]) -> str:
    """The overall case of the per-side results: both_high / flagged / not_flagged /
    inconclusive (docs/verdicts.md)."""
    if all(r.elevated for r in sides.values()):
        return "both_high"
    if any(r.status == "flagged" for r in sides.values()):
        return "flagged"
    if all(r.status == "not_flagged" for r in sides.values()):
        return "not_flagged"
    return "inconclusive"


def decide(cpd: dict[str, MeanCI], cpd_ic: dict[str, MeanCI], diff: DiffCI,
           trend: Mapping, rules: Rules, *, use_standing: bool,
           standing_found: bool) -> Decision:
    """Flags, per-side verdicts and banners from the statistics (docs/verdicts.md).

    Parameters
    ----------
    cpd, diff
        Per-side drop on the standing reference and R - L with its CI (used only when
        ``use_standing``).
    cpd_ic
        Per-side drop from the moment of landing: quoted, never judged.
    trend
        Per side the ``trend`` block of the summary (change over the session with its CI).
    use_standing
        Both sides have at least ``rules.min_n`` drops relative to quiet standing.
    standing_found
        The session had quiet standing at all (some finite standing-referenced drops).
    """
    n = {s: (cpd[s].n if standing_found else cpd_ic[s].n) for s in SIDES}
    if any(n[s] < rules.min_n for s in SIDES):
        return _few_strides(n, rules, standing_found)
    if not use_standing:
        return _no_standing(cpd_ic, rules)
    flags: list[dict] = []
    sides: dict[str, SideResult] = {}
    fatigue: list[str] = []
    for s in SIDES:
        res, f = _compare_side(s, cpd, diff, rules)
        flags += f
        if rules.abs_thr is not None:
            flags += _elevated(s, cpd[s], res, rules.abs_thr)
        trend_flags = _fatigue(s, trend[s], res, rules)
        flags += trend_flags
        fatigue += [s] if trend_flags else []
        sides[s] = res
    banners = [_wide_ci_banner(s, r, rules) for s, r in sides.items() if r.reason == "wide_ci"]
    if fatigue:
        banners.append(_fatigue_banner(fatigue, trend, rules))
    return Decision(flags, sides, banners, overall_case(sides), fatigue)


# --------------------------------------------------------------------------- trend
def trend_text(s: str, tr: Mapping) -> str:
    """The change of one side's drop over the session in words (positive numbers)."""
    change = tr.get("change_over_session_deg")
    lo, hi = tr.get("change_ci95_low"), tr.get("change_ci95_high")
    span = tr.get("span_min")
    if change is None or not math.isfinite(change) or lo is None or hi is None:
        return f"The change of the drop during {_name(s)}-leg stance could not be estimated."
    over = f"over the {fmt(span)} minutes" if span else "over the session"
    if not tr.get("shown"):
        return (f"No clear change of the drop during {_name(s)}-leg stance {over} (95 % "
                f"confidence interval {range_words(lo, hi)} at the end than at the start).")
    verb, (a, b) = ("rose", (lo, hi)) if change > 0 else ("fell", (-hi, -lo))
    return (f"The drop during {_name(s)}-leg stance {verb} by about {fmt(abs(change))} degrees "
            f"{over} (95 % confidence interval {fmt(a)} to {fmt(b)} degrees).")


# --------------------------------------------------------------------------- card
def _side_sentence(s: str, res: SideResult, c: MeanCI, rules: Rules) -> tuple[str, str]:
    """(sentence, confidence words) of one side for a runner."""
    name, oname = _name(s), _name(_other(s))
    if res.reason == "asymmetry":
        return (f"Your pelvis drops about {about(res.diff)} degrees more when you land on your "
                f"{name} leg than on your {oname} leg", refs.CONFIDENT)
    if res.reason == "less_than_other":
        return (f"When you land on your {name} leg your pelvis stays more level than on your "
                f"{oname} leg", refs.CONFIDENT)
    if res.reason == "within_threshold":
        return (f"When you land on your {name} leg your pelvis drops about as much as on "
                f"your {oname} leg (within {fmt(rules.thr, 0)} degrees)", refs.CONFIDENT)
    if res.reason == "wide_ci":
        return _wide_ci_sentence(s, res, rules)
    if res.reason == "few_strides":
        return (f"Only {res.n} usable {name}-leg steps: too few to judge (we need "
                f"{rules.min_n})", refs.CANNOT_TELL)
    if res.reason == "no_standing":
        return (f"We could not measure the drop on your {name} leg: the recording did not "
                "start with standing still", refs.CANNOT_TELL)
    return (f"We could not tell which steps were {name}-leg steps in this recording",
            refs.CANNOT_TELL)


def _wide_ci_sentence(s: str, res: SideResult, rules: Rules) -> tuple[str, str]:
    """A borderline side: near the threshold one decimal (never "about 2 degrees, probably
    less than 2"); "likely" only when the estimate is clearly on one side of it."""
    name, oname, thr = _name(s), _name(_other(s)), fmt(rules.thr, 0)
    near = abs(res.diff - rules.thr) < 0.25
    if near or not math.isfinite(res.diff):
        return (f"Your pelvis drops about {fmt(abs(res.diff))} degrees more when you land on "
                f"your {name} leg than on your {oname} leg, right at the {thr}-degree "
                "difference we look for", refs.CANNOT_TELL)
    if res.diff > rules.thr:
        return (f"Your pelvis may drop about {fmt(res.diff)} degrees more when you land on "
                f"your {name} leg than on your {oname} leg", refs.LIKELY)
    if res.diff >= 0.5:
        return (f"Your pelvis drops about {fmt(res.diff)} degrees more when you land on your "
                f"{name} leg, probably less than the {thr}-degree difference we look for",
                refs.LIKELY)
    return (f"Your steps on the {name} leg vary too much to compare them with the {oname} "
            "leg", refs.CANNOT_TELL)


def _elevated_sentence(s: str, c: MeanCI, rules: Rules) -> str:
    return (f"Your pelvis drops about {about(c.mean)} degrees when you land on your "
            f"{_name(s)} leg, more than the {fmt(rules.abs_thr)}-degree limit set for this "
            "report")


def card_side(s: str, res: SideResult, c: MeanCI, rules: Rules) -> dict:
    """``card.sides[s]``: status, one plain sentence with the number and how sure, and the
    side's mean drop relative to quiet standing (null when it was not judged)."""
    sentence, conf = _side_sentence(s, res, c, rules)
    if res.elevated:
        sentence = (_elevated_sentence(s, c, rules) if res.reason != "asymmetry"
                    else sentence + "; that is also above the "
                    f"{fmt(rules.abs_thr)}-degree limit set for this report")
        conf = refs.CONFIDENT
    judged = res.reason not in ("no_standing", "uncertain_sides")
    value = c.mean if judged and math.isfinite(c.mean) else None
    ci = ([c.ci95_low, c.ci95_high] if value is not None and math.isfinite(c.ci95_low)
          else None)
    return {"status": res.status, "sentence": f"{sentence}; {conf}.", "confidence": conf,
            "value_deg": value, "ci95": ci, "n": int(res.n)}


def headline(dec: Decision, rules: Rules) -> str:
    """One sentence a runner understands in ten seconds."""
    grew = (f", and the drop grew as the {_act(rules, 0)} went on" if dec.fatigue else "")
    kinds = {b["kind"] for b in dec.banners}
    if "uncertain_sides" in kinds:
        return ("We could not tell your left and right steps apart in this recording, so no "
                "side is singled out.")
    if "few_strides" in kinds:
        m = dec.sides["L"].minutes
        more = f": record about {plural(m, 'more minute')}" if m else ": record for longer"
        return f"This recording is too short to compare your two sides{more}."
    if "no_standing" in kinds:
        return ("We cannot compare your two sides yet: the recording needs "
                f"{refs.STANDING_NEEDED_S} seconds of standing still at the start.")
    if dec.case == "both_high":
        return f"Your pelvis drops more than the limit set for this report on both legs{grew}."
    if dec.case == "flagged":
        s = next(s for s in SIDES if dec.sides[s].status == "flagged")
        return (f"Your pelvis drops more when you land on your {_name(s)} leg than on your "
                f"{_name(_other(s))} leg{grew}: a pattern worth training and re-testing.")
    if dec.case == "not_flagged":
        return f"Your pelvis stays about equally level on both legs{grew}."
    if dec.fatigue:
        return (f"Your pelvic drop grew as the {_act(rules, 0)} went on; whether one side "
                "drops more than the other we cannot tell yet.")
    wide = [s for s in SIDES if dec.sides[s].reason == "wide_ci"]
    s = wide[0] if wide else "R"
    m = dec.sides[s].minutes
    more = f": record about {plural(m, 'more minute')}" if m else ": re-test on another day"
    return f"Your {_name(s)} side may let your pelvis drop more, but we cannot tell yet{more}."


def _starting_stage(dec: Decision) -> str:
    """Early stage when both sides are high or the difference is large, else loaded."""
    if dec.case == "both_high":
        return "early"
    flagged = [r for r in dec.sides.values() if r.status == "flagged"]
    big = any(math.isfinite(r.diff) and r.diff >= refs.SEVERE_ASYMMETRY_DEG for r in flagged)
    return "early" if big else "loaded"


def _record_again(dec: Decision, rules: Rules) -> str:
    """What the next recording needs (inconclusive results)."""
    minutes = [r.minutes for r in dec.sides.values() if r.minutes]
    total = None
    if rules.duration_min is not None and math.isfinite(rules.duration_min):
        total = round_minutes(rules.duration_min + (max(minutes) if minutes else 0))
    length = (f"at least {plural(total, 'minute')} of steady {_act(rules)}" if total
              else f"a longer stretch of steady {_act(rules)}")
    return (f"Record again: stand still for {refs.STANDING_NEEDED_S} seconds, then {length} in "
            "a straight line or on a treadmill, with the sensor centred on your lower back.")


def next_steps(dec: Decision, rules: Rules) -> list[str]:
    """The card's numbered next steps: record again (inconclusive), the self-test, where to
    start, re-test in 4-6 weeks at the same speed and shoes, see a physiotherapist."""
    retest = refs.RETEST.format(activity=_act(rules))
    endurance = ("Because the drop grew during the session, favour endurance in your hip "
                 "exercises: more repetitions and longer holds rather than heavier load.")
    if dec.case == "inconclusive":
        return [_record_again(dec, rules), refs.SELF_TEST,
                *([endurance] if dec.fatigue else []), refs.SEE_PHYSIO]
    return [refs.SELF_TEST, start_step(dec), *([endurance] if dec.fatigue else []), retest,
            refs.SEE_PHYSIO]


def start_step(dec: Decision) -> str:
    """The next step that says where to start exercising (a decided outcome)."""
    stage = refs.STAGE_WORDS[_starting_stage(dec)]
    if dec.case == "flagged":
        s = next(s for s in SIDES if dec.sides[s].status == "flagged")
        return (f"Start with the {stage} hip exercises, both legs with one extra set on the "
                f"{_name(s)}, 2-3 times a week; move on when the progression criteria in the "
                "guidance hold.")
    if dec.case == "both_high":
        return (f"Start with the {stage} hip exercises for both legs, 2-3 times a week; move "
                "on when the progression criteria in the guidance hold.")
    return "Optional: the later-stage hip exercises once or twice a week to keep your control."


def context(meta: Mapping, activity: str | None, speed: Mapping) -> dict:
    """``card.context``: subject, date, activity, speed in words and the recording notes."""
    created = meta.get("created_utc")
    date = (str(created)[:16].replace("T", " ") + " UTC") if created else None
    notes = str(meta.get("notes") or "").strip()
    return {"subject": meta.get("subject") or None, "date": date,
            "activity": activity if activity in ("walk", "run", *SELF_TESTS) else None,
            "speed": speed_phrase(speed), "notes": notes or None}


def speed_phrase(speed: Mapping) -> str | None:
    """"5.0 km/h (as entered)", "about 4.7 km/h (walking speed estimated from the sensor)"."""
    parts = []
    given = speed.get("given_speed_kmh")
    if given:
        parts.append(f"{fmt(given)} km/h (as entered)")
    mps = speed.get("speed_mps")
    if speed.get("status") == "estimated" and mps:
        parts.append(f"about {fmt(mps * 3.6)} km/h (walking speed estimated from the sensor)")
    return "; ".join(parts) or None


def card(dec: Decision, cpd: dict[str, MeanCI], rules: Rules, *, meta: Mapping,
         speed: Mapping) -> dict:
    """The summary card (docs/summary.schema.json ``card``): what a runner reads first."""
    act = rules.activity if rules.activity in refs.WHAT_IT_MAY_MEAN else "run"
    return {
        "headline": headline(dec, rules),
        "sides": {s: card_side(s, dec.sides[s], cpd[s], rules) for s in SIDES},
        "banners": list(dec.banners),
        "what_is_cpd": refs.WHAT_IS_CPD,
        "what_it_may_mean": refs.WHAT_IT_MAY_MEAN[act],
        "next_steps": next_steps(dec, rules),
        "context": context(meta, rules.activity, speed),
    }


# --------------------------------------------------------------------------- guidance
def _stage(key: str, rules: Rules, lead: str) -> dict:
    ex = refs.EXERCISES[key]
    title = ex.get(f"title_{rules.activity}", ex["title"])
    return {"case": f"stage_{key}", "title": title, "text": f"{lead}{refs.EXERCISES['dosage']}",
            "items": list(ex["items"])}


def _progression(key: str) -> dict:
    title, intro = {
        "early_to_loaded": ("When to move on to the later stage",
                            "Move on when all of these hold, not only when it feels easy:"),
        "loaded_onwards": ("When to add load",
                           "Add load or harder variations when all of these hold:"),
    }[key]
    return {"case": "progression", "title": title, "text": intro,
            "items": list(refs.PROGRESSION[key])}


def _lead(dec: Decision, rules: Rules) -> dict:
    """The guidance entry that says what this outcome means and what to do first."""
    thr = fmt(rules.thr, 0)
    if dec.case == "flagged":
        s = next(s for s in SIDES if dec.sides[s].status == "flagged")
        r = dec.sides[s]
        stage = _starting_stage(dec)
        why = (f" because the difference is large ({fmt(refs.SEVERE_ASYMMETRY_DEG, 0)} "
               "degrees or more)" if stage == "early" else "")
        text = (f"Your pelvis drops more when you stand on your {_name(s)} leg (about "
                f"{about(r.diff)} degrees more than on the {_name(_other(s))}): focus on the "
                f"{_name(s)} hip abductors, the gluteus medius first. Train both legs, with "
                f"one extra set on the {_name(s)}. Start at the {refs.STAGE_WORDS[stage]}{why};"
                " start at the early stage in any case if you have pain. Move on when the "
                "progression criteria below hold, and re-test in 4-6 weeks.")
        return {"case": "flagged", "title": f"Focus on your {_name(s)} hip", "text": text}
    if dec.case == "both_high":
        text = (f"On both legs the drop is above the {fmt(rules.abs_thr)}-degree limit set for "
                "this report, so no single side stands out. Train both hips equally, starting "
                "at the early stage. The limit is a setting of this report, not a clinical "
                "cut-off: have a physiotherapist look at it, especially if you have pain.")
        return {"case": "both_high", "title": "Both hips: drop above the limit", "text": text}
    if dec.case == "not_flagged":
        text = (f"Neither side stands out: your two legs are within {thr} degrees of each "
                "other. Hip abductor work is optional maintenance (the later stage below, once "
                "or twice a week). Re-test to keep track, especially when your training "
                "changes.")
        return {"case": "not_flagged", "title": "No side stands out", "text": text}
    return _inconclusive_lead(dec, rules)


def _inconclusive_lead(dec: Decision, rules: Rules) -> dict:
    """Why there is no verdict, and what to record next time."""
    why = []
    kinds = {b["kind"] for b in dec.banners}
    if "uncertain_sides" in kinds:
        why.append("left and right steps could not be told apart, so no side can be named")
    if "few_strides" in kinds:
        why.append(f"there were too few usable steps (at least {rules.min_n} per leg are "
                   "needed)")
    if "no_standing" in kinds:
        why.append("the recording did not start with standing still, so the drop could not "
                   "be measured against your standing pelvis")
    for s in SIDES:
        if dec.sides[s].reason == "wide_ci":
            why.append(f"the {_name(s)} side is close to the {fmt(rules.thr, 0)}-degree "
                       "difference we look for, and the steps vary too much to decide")
    text = (f"No verdict yet: {'; '.join(why) or 'the data could not decide'}. "
            f"{_record_again(dec, rules)} General hip exercises are safe meanwhile, and the "
            "self-test tells you more in the meantime.")
    return {"case": "inconclusive", "title": "Why there is no verdict yet and what to record",
            "text": text}


def _fatigue_guidance(dec: Decision, trend: Mapping, rules: Rules) -> dict:
    parts = [f"about {fmt(trend[s]['change_over_session_deg'])} degrees on the {_name(s)} leg"
             for s in dec.fatigue]
    text = (f"The drop grew as the {_act(rules, 0)} went on ({' and '.join(parts)}): control "
            "that holds at the start fades as the hip muscles tire. Work on endurance rather "
            f"than heavier load: {refs.ENDURANCE_DOSAGE} Keep {_act(rules, 0)}s to a length "
            "you hold with good form and lengthen them gradually; a re-test with a "
            f"{_act(rules, 0)} of the same length shows whether the drop still grows.")
    return {"case": "fatigue", "title": "The drop grew during the session", "text": text}


def guidance(dec: Decision, trend: Mapping, rules: Rules, lead: dict | None = None
             ) -> list[dict]:
    """The ``guidance`` list: the lead for this outcome (``lead`` replaces the gait one: the
    self-tests', `gaitimu.report.selftests`), fatigue work when the drop grew, the exercise
    stages in the order to do them and the criteria to move between them."""
    out = [lead or _lead(dec, rules)]
    if dec.fatigue:
        out.append(_fatigue_guidance(dec, trend, rules))
    if dec.case in ("flagged", "both_high"):
        if _starting_stage(dec) == "early":
            out += [_stage("early", rules, "Start here. "), _progression("early_to_loaded"),
                    _stage("loaded", rules, "Next. "), _progression("loaded_onwards")]
        else:
            out += [_stage("loaded", rules, "Start here (with pain: the early stage first). "),
                    _progression("loaded_onwards"), _stage("early", rules, "With pain, start "
                                                           "here instead. "),
                    _progression("early_to_loaded")]
    else:
        out += [_stage("loaded", rules, "Optional maintenance. "),
                _progression("loaded_onwards")]
    return out
