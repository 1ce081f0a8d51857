"""The self-tests in the report (docs/self_tests.md; the rule: docs/verdicts.md, "Self-tests"):
the ``self_tests`` entries of summary.json from the tests table, the verdict per standing leg
with how sure it is, and, for a self-test session, the summary card, the guidance and the gait
parts that say "not a gait session".

The rule, per test and standing leg S (the other leg O):

- values: each valid hold's ``drop_mean_deg`` (single-leg stance) or each valid rep's
  ``drop_bottom_deg`` (single-leg squat), in time order; ``drop_deg`` is their mean;
- two or more per leg: the 95 % t interval over the holds or reps (`stats.mean_ci`, as for
  strides) and the Welch interval of D = drop(S) - drop(O) (`stats.welch_diff`), as gait;
- one hold per leg (the guided recorder's default) has no between-hold interval. The sway
  within the hold stands in for it (`references.WITHIN_HOLD_PIECE_S`), as a LOWER BOUND of
  the uncertainty: a result from it is at most "likely but not certain", and the report asks
  for `references.HOLDS_RECOMMENDED` holds per leg;
- squats need `references.MIN_REPS_PER_SIDE` reps per leg;
- D against T = `references.SELF_TEST_THRESHOLD_DEG` (our choice, the gait threshold) with
  gait's rule (`verdicts.classify_difference`): flagged when the whole interval clears T, not
  flagged when it stays within T (or below -T), inconclusive when it includes T.

User text follows the wording rules of docs/clinical_background.md#wording-rules, as gait.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from gaitimu.consts import SELF_TESTS
from gaitimu.report import references as refs
from gaitimu.report import verdicts
from gaitimu.report.stats import MeanCI, mean_ci, t_half_width, welch_diff
from gaitimu.report.verdicts import (
    Decision,
    SideResult,
    about,
    amount_words,
    fmt,
    plural,
    range_words,
)

SIDES = ("L", "R")
#: The drop of one hold or rep, per test (docs/self_tests.md, the tests table).
VALUE_COLUMN = {"single-leg-stance": "drop_mean_deg", "single-leg-squat": "drop_bottom_deg"}
#: Numeric columns of the tests table the report reads (absent ones read as NaN).
NUMBERS = ("start_s", "end_s", "hold_s", "touchdowns", "drop_mean_deg", "drop_worst_deg",
           "sway_ml_deg", "stabilise_s", "stable_s", "drop_bottom_deg", "depth_m",
           "baseline_obliquity_deg")
#: How sure, per reason, when the interval is over holds or reps (a within-hold interval
#: lowers a decided result to "likely": `_confidence`).
DECIDED = ("asymmetry", "less_than_other", "within_threshold")


#: The keys of an entry a progress entry of summary.json repeats.
PROGRESS_KEYS = ("test", "stance_side", "n", "hold_s", "drop_deg", "drop_ci95", "flag",
                 "diff_deg", "diff_ci95", "ci_basis")


def is_self_test(activity: str | None) -> bool:
    """Whether a session's activity is one of the self-tests (`gaitimu.consts.SELF_TESTS`)."""
    return activity in SELF_TESTS


def session_kind(summary: Mapping) -> str:
    """"gait", or the self-test a summary is of (what a progress view compares with)."""
    act = summary.get("activity")
    return str(act) if is_self_test(act) else "gait"


def find_entry(summary: Mapping, test: str, side: str) -> dict:
    """The ``self_tests`` entry of a summary for a test and standing leg ({} when none)."""
    return next((e for e in summary.get("self_tests") or [] if e["test"] == test
                 and e["stance_side"] == side), {})


def entry_stats(entry: Mapping) -> MeanCI:
    """The statistics an entry's interval rests on, rebuilt from summary.json (to compare
    sessions): over trials, or the within-hold pieces of a single hold; NaN when missing."""
    def num(key: str) -> float:
        v = entry.get(key)
        return math.nan if v is None else float(v)

    ci = entry.get("drop_ci95") or [None, None]
    n_eff, n = num("n_eff"), int(entry.get("n") or 0)
    if entry.get("ci_basis") == "within_hold" and math.isfinite(n_eff):
        n = int(n_eff)  # the pieces, as `within_hold_stats` counted them
    return MeanCI(n, num("drop_deg"), num("drop_sd_deg"),
                  math.nan if ci[0] is None else float(ci[0]),
                  math.nan if ci[1] is None else float(ci[1]),
                  n_eff if math.isfinite(n_eff) else float(n), 0.0)


# --------------------------------------------------------------------------- the table
def tests_table(tests: pd.DataFrame | None) -> pd.DataFrame:
    """The tests table as the report reads it: ``stance_side`` "L"/"R"/"" (missing = ""),
    ``valid`` boolean (also from CSV text), the numeric columns as floats (NaN when absent),
    rows in time order. An empty table for None."""
    from gaitimu.report.summary import valid_flags

    df = pd.DataFrame() if tests is None else tests.copy()
    for col in ("test", "stance_side", "reason"):
        df[col] = (df[col].fillna("").astype(str).str.strip() if col in df
                   else pd.Series("", index=df.index, dtype=object))
    df["valid"] = valid_flags(df["valid"]) if "valid" in df else np.zeros(len(df), bool)
    for col in NUMBERS:
        df[col] = (pd.to_numeric(df[col], errors="coerce") if col in df
                   else pd.Series(np.nan, index=df.index, dtype=float))
    return df.sort_values("start_s", kind="stable").reset_index(drop=True)


@dataclass
class Leg:
    """One test on one standing leg: its rows (valid or not), the valid drops in time order,
    the statistics the comparison uses and what their interval rests on (``basis``: "holds"
    or "reps" = over trials, "within_hold" = the sway of a single hold, None = no interval)."""

    test: str
    side: str
    rows: pd.DataFrame
    values: np.ndarray
    stats: MeanCI
    basis: str | None

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def unit(self) -> str:
        return refs.SELF_TEST_WORDS[self.test][1]

    @property
    def units(self) -> str:
        return refs.SELF_TEST_WORDS[self.test][2]


def within_hold_stats(row: Mapping[str, Any]) -> MeanCI | None:
    """The interval of ONE hold's mean drop from the sway within it: the stable part as
    ``k = stable_s / WITHIN_HOLD_PIECE_S`` independent pieces, each as variable as the whole
    hold (SD = ``sway_ml_deg``), a t interval with k - 1 degrees of freedom. A lower bound of
    the uncertainty: it cannot see how much a repeated hold would differ. None when the
    stable part is shorter than two pieces or the sway is unknown. ``n`` is the number of
    whole pieces (what `welch_diff` counts), ``n_eff`` the exact k."""
    drop, sd = float(row["drop_mean_deg"]), float(row["sway_ml_deg"])
    stable = float(row["stable_s"])
    if not math.isfinite(stable):  # a table without it: the hold after settling
        settle = float(row["stabilise_s"])
        stable = float(row["hold_s"]) - (settle if math.isfinite(settle) else 0.0)
    k = stable / refs.WITHIN_HOLD_PIECE_S
    if not (math.isfinite(drop) and math.isfinite(sd) and sd >= 0 and k >= 2):
        return None
    half = t_half_width(sd, k)
    return MeanCI(int(k), drop, sd, drop - half, drop + half, k, 0.0)


def _leg(test: str, side: str, rows: pd.DataFrame) -> Leg:
    valid = rows[rows["valid"]]
    values = valid[VALUE_COLUMN[test]].to_numpy(float)
    values = values[np.isfinite(values)]
    stats = mean_ci(values)
    basis = refs.SELF_TEST_WORDS[test][2] if values.size >= 2 else None
    if values.size == 1 and test == "single-leg-stance":
        row = valid[np.isfinite(valid["drop_mean_deg"].to_numpy(float))].iloc[0]
        within = within_hold_stats(row)
        if within is not None:
            stats, basis = within, "within_hold"
    return Leg(test, side, rows, values, stats, basis)


# --------------------------------------------------------------------------- words
def _test_name(test: str) -> str:
    return refs.SELF_TEST_WORDS[test][0]


def _on(test: str, side: str, your: bool = False) -> str:
    """"standing on the right leg" / "squatting on your right leg"."""
    verb = "standing" if test == "single-leg-stance" else "squatting"
    return f"{verb} on {'your' if your else 'the'} {refs.SIDE_NAME[side]} leg"


def _basis_words(leg: Leg) -> str:
    if leg.basis == "within_hold":
        return "from the sway within the hold only"
    return f"over {leg.units}"


def _leg_numbers(leg: Leg) -> str:
    """"right leg 6.0 degrees (95 % interval 5.8 to 6.2, from the sway within the hold only;
    1 hold)"."""
    c = leg.stats
    ci = (f"95 % interval {fmt(c.ci95_low)} to {fmt(c.ci95_high)}, {_basis_words(leg)}; "
          if leg.basis else "")
    return (f"{refs.SIDE_NAME[leg.side]} leg {fmt(c.mean)} degrees ({ci}"
            f"{plural(leg.n, leg.unit)})")


def _threshold_words(thr: float) -> str:
    return f"threshold {fmt(thr)} degrees, {refs.SELF_TEST_THRESHOLD_SOURCE}"


def _caveat(leg: Leg, other: Leg) -> str:
    """What a within-hold interval cannot say (empty for intervals over trials)."""
    if "within_hold" not in (leg.basis, other.basis):
        return ""
    return (" One hold per leg gives no interval over holds: this one covers only the sway "
            "within each hold, so the real uncertainty is larger (it is a lower bound); "
            f"{refs.HOLDS_RECOMMENDED} holds per leg would give an interval over holds.")


def _repeat_words(test: str) -> str:
    """What to do for a decidable test, in words for a runner."""
    if test == "single-leg-stance":
        return (f"repeat the test with {refs.HOLDS_RECOMMENDED} holds of 30 seconds on each "
                f"leg, resting between them, with {refs.STANDING_NEEDED_S} seconds on both "
                "feet before each hold")
    return (f"repeat the test with at least 5 slow squats on each leg, with "
            f"{refs.STANDING_NEEDED_S} seconds on both feet before each leg")


def _invalid_words(rows: pd.DataFrame, units: str) -> str:
    """"1 of 2 holds could not be used: hold too short" (empty when all could)."""
    bad = rows[~rows["valid"]]
    if bad.empty:
        return ""
    reasons = bad["reason"].replace("", "not usable").value_counts()
    why = "; ".join(f"{r} ({k})" if k > 1 else str(r) for r, k in reasons.items())
    return f"{len(bad)} of {len(rows)} {units} could not be used: {why}"


# --------------------------------------------------------------------------- the rule
def _confidence(reason: str, leg: Leg, other: Leg) -> str:
    if reason in DECIDED:
        within = "within_hold" in (leg.basis, other.basis)
        return refs.LIKELY if within else refs.CONFIDENT
    return refs.CANNOT_TELL


def _too_few(leg: Leg, other: Leg) -> str | None:
    """Why this leg cannot be compared (None when it can): no usable trial, too few reps, no
    interval, nothing on the other leg."""
    need = (f"at least {refs.MIN_REPS_PER_SIDE} reps per leg" if leg.test == "single-leg-squat"
            else "a hold with at least 10 seconds of steady standing on each leg")
    if leg.test == "single-leg-squat" and min(leg.n, other.n) < refs.MIN_REPS_PER_SIDE:
        mine = f"{plural(leg.n, 'usable rep')} on the {refs.SIDE_NAME[leg.side]} leg"
        theirs = f"{other.n} on the {refs.SIDE_NAME[other.side]}"
        return f"{mine} and {theirs}; {need} are needed"
    if leg.n == 0:
        return f"no usable {leg.unit} on this leg; {need} is needed"
    if other.n == 0:
        return f"no usable {other.unit} on the {refs.SIDE_NAME[other.side]} leg to compare with"
    if leg.basis is None or other.basis is None:
        return f"the {leg.units} were too short to estimate how much the drop varies; {need} " \
               "is needed"
    return None


def decide_leg(leg: Leg, other: Leg, thr: float) -> tuple[SideResult, dict | None]:
    """The verdict of one standing leg against the other (module docstring) and its flag
    (None when there is none): ``SideResult.text`` is the message for a physio, with n, the
    interval and the threshold's source."""
    name, oname = refs.SIDE_NAME[leg.side], refs.SIDE_NAME[other.side]
    what = f"{_test_name(leg.test).capitalize()}, {_on(leg.test, leg.side)}"
    invalid = _invalid_words(leg.rows, leg.units)
    why = _too_few(leg, other)
    if why is not None:
        text = f"Inconclusive. {what}: {why}" + (f" ({invalid})." if invalid else ".")
        flag = verdicts.make_flag(leg.side, "inconclusive", float(leg.n), None, text)
        return SideResult("inconclusive", "too_few", text, n=leg.n), flag
    diff = welch_diff(other.stats, leg.stats)  # this leg minus the other
    d, lo, hi = diff.diff, diff.ci95_low, diff.ci95_high
    reason = verdicts.classify_difference(lo, hi, thr)
    diff_words = (f"the {oname} side of the pelvis dropped {amount_words(d)} than the {name} "
                  f"side did {_on(leg.test, other.side)} (95 % interval {range_words(lo, hi)})")
    numbers = (f" {_leg_numbers(leg).capitalize()}, {_leg_numbers(other)}, relative to "
               f"standing on both feet just before; {_threshold_words(thr)}.")
    tail = numbers + _caveat(leg, other) + (f" {invalid[0].upper()}{invalid[1:]}." if invalid
                                            else "")
    if reason == "asymmetry":
        text = (f"Pattern consistent with reduced {name} hip abductor control in "
                f"{_test_name(leg.test)}: {_on(leg.test, leg.side)}, {diff_words}.{tail}")
        flag = verdicts.make_flag(leg.side, "self_test_asymmetry", d, thr, text)
        return SideResult("flagged", reason, text, d, lo, hi, n=leg.n), flag
    if reason in ("less_than_other", "within_threshold"):
        lead = ("the 95 % interval of the difference from the other leg stays within the "
                f"{fmt(thr)}-degree threshold" if reason == "within_threshold"
                else f"the pelvis stayed more level than {_on(leg.test, other.side)}")
        text = f"Not flagged. {what}: {lead}; {diff_words}.{tail}"
        return SideResult("not_flagged", reason, text, d, lo, hi, n=leg.n), None
    text = (f"Inconclusive. {what}: {diff_words}, an interval that includes the "
            f"{fmt(thr)}-degree threshold. To decide: {_repeat_words(leg.test)}.{tail}")
    flag = verdicts.make_flag(leg.side, "inconclusive", d, thr, text)
    return SideResult("inconclusive", "wide_ci", text, d, lo, hi, n=leg.n), flag


def _unknown_side_result(test: str, rows: pd.DataFrame) -> tuple[SideResult, dict]:
    units = refs.SELF_TEST_WORDS[test][2]
    text = (f"Inconclusive. {_test_name(test).capitalize()}: which leg was standing is not "
            f"known for {plural(len(rows), refs.SELF_TEST_WORDS[test][1])} (the recording "
            f"has no test plan), so no leg is judged; record the test with the guided "
            f"self-test, which says which foot to lift, to have its {units} compared.")
    return (SideResult("inconclusive", "unknown_side", text, n=0),
            verdicts.make_flag("both", "inconclusive", None, None, text))


# --------------------------------------------------------------------------- entries
def _mean(x: pd.Series) -> float | None:
    v = x.to_numpy(float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def _entry(leg: Leg, res: SideResult, conf: str, thr: float, planned: float | None) -> dict:
    """One ``self_tests`` entry (docs/summary.schema.json)."""
    c, valid = leg.stats, leg.rows[leg.rows["valid"]]
    stance = leg.test == "single-leg-stance"
    ci = ([c.ci95_low, c.ci95_high] if leg.basis and math.isfinite(c.ci95_low) else None)
    reasons = leg.rows.loc[~leg.rows["valid"], "reason"].replace("", "not usable")
    return {
        "test": leg.test, "stance_side": leg.side, "n": leg.n,
        "hold_s": _mean(valid["hold_s"]) if stance else None,
        "drop_deg": float(c.mean) if leg.n else None, "drop_ci95": ci,
        "flag": res.status, "message": res.text, "confidence": conf, "reason": res.reason,
        "ci_basis": leg.basis,
        "drop_sd_deg": c.sd if leg.n else None,
        "n_eff": c.n_eff if leg.basis else None,
        "diff_deg": res.diff, "diff_ci95": ([res.lo, res.hi] if math.isfinite(res.lo)
                                            else None),
        "threshold_deg": thr,
        "worst_deg": _mean(valid["drop_worst_deg"]) if stance else None,
        "sway_ml_deg": _mean(valid["sway_ml_deg"]) if stance else None,
        "stabilise_s": _mean(valid["stabilise_s"]) if stance else None,
        "touchdowns": int(np.nansum(leg.rows["touchdowns"].to_numpy(float))),
        "hold_planned_s": planned if stance else None,
        "depth_m": None if stance else _mean(valid["depth_m"]),
        "n_rows": len(leg.rows),
        "invalid_reasons": {str(k): int(v) for k, v in reasons.value_counts().items()},
    }


class SelfTests(NamedTuple):
    """What `summarize_self_tests` returns: the ``self_tests`` entries, their flags, one
    `verdicts.Decision` per test (its L/R results, banners and case) and the `Leg` data."""

    entries: list[dict]
    flags: list[dict]
    decisions: dict[str, Decision]
    legs: dict[tuple[str, str], Leg]


def planned_hold_s(meta: Mapping | None) -> float | None:
    """The hold the protocol asked for (``meta.protocol.hold_s``), None without one."""
    proto = (meta or {}).get("protocol")
    try:
        v = float(proto.get("hold_s")) if isinstance(proto, Mapping) else math.nan
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def summarize_self_tests(tests: pd.DataFrame | None, meta: Mapping | None = None, *,
                         threshold_deg: float = refs.SELF_TEST_THRESHOLD_DEG) -> SelfTests:
    """The ``self_tests`` entries of a tests table (docs/self_tests.md): one per test and
    standing leg ("L", "R", and "" for rows whose leg is unknown), each with its verdict
    (module docstring), plus their flags and a `Decision` per test for the card."""
    df = tests_table(tests)
    planned = planned_hold_s(meta)
    entries, flags, decisions, legs = [], [], {}, {}
    for test in [t for t in SELF_TESTS if (df["test"] == t).any()]:
        rows = df[df["test"] == test]
        pair = {s: _leg(test, s, rows[rows["stance_side"] == s]) for s in SIDES}
        unknown = rows[~rows["stance_side"].isin(SIDES)]
        only_unknown = len(unknown) > 0 and not any(len(pair[s].rows) for s in SIDES)
        sides, test_flags = {}, []
        for s in SIDES:
            leg, other = pair[s], pair[refs.OTHER_SIDE[s]]
            if only_unknown:  # no leg is known: the one flag below says so
                res, flag = _unknown_side_result(test, unknown)[0], None
            else:
                res, flag = decide_leg(leg, other, threshold_deg)
            sides[s] = res
            test_flags += [flag] if flag else []
            entries.append(_entry(leg, res, _confidence(res.reason, leg, other),
                                  threshold_deg, planned))
        if len(unknown):
            res, flag = _unknown_side_result(test, unknown)
            leg = Leg(test, "", unknown, np.array([]), mean_ci(np.array([])), None)
            entries.append(_entry(leg, res, refs.CANNOT_TELL, threshold_deg, planned))
            test_flags.append(flag)
        flags += test_flags
        decisions[test] = Decision(test_flags, sides, _banners(test, pair, sides, planned),
                                   verdicts.overall_case(sides))
        legs.update({(test, s): pair[s] for s in SIDES})
    return SelfTests(entries, flags, decisions, legs)


# --------------------------------------------------------------------------- card
def _banners(test: str, pair: dict[str, Leg], sides: dict[str, SideResult],
             planned: float | None) -> list[dict]:
    """What limits a self-test's result and how to fix it (``card.banners``)."""
    out = []
    units = refs.SELF_TEST_WORDS[test][2]
    reasons = {r.reason for r in sides.values()}
    if "unknown_side" in reasons:
        out.append(verdicts.make_banner(
            "unknown_side",
            "We do not know which leg you stood on in this recording, so no leg is judged.",
            "Record the test with the guided self-test: it tells you which foot to lift and "
            "when."))
    elif "too_few" in reasons:
        counts = " and ".join(f"{pair[s].n} on your {refs.SIDE_NAME[s]} leg" for s in SIDES)
        why = "; ".join(w for w in (_invalid_words(pair[s].rows, f"{units} on your "
                                                   f"{refs.SIDE_NAME[s]} leg")
                                    for s in SIDES) if w)
        out.append(verdicts.make_banner(
            f"few_{units}",
            f"Too few usable {units} to compare your legs: {counts}"
            + (f" ({why})." if why else "."),
            f"{_repeat_words(test)[0].upper()}{_repeat_words(test)[1:]}."))
    elif any("within_hold" == pair[s].basis for s in SIDES):
        hold = f"{fmt(planned, 0)} seconds each, " if planned else ""
        out.append(verdicts.make_banner(
            "one_hold",
            "One hold per leg: the result rests on the sway within each hold, not on repeated "
            "holds, so it is likely but not certain.",
            f"For a confident result, hold {refs.HOLDS_RECOMMENDED} times on each leg ({hold}"
            f"resting between), with {refs.STANDING_NEEDED_S} seconds on both feet before "
            "each hold."))
    for s in SIDES:
        if sides[s].reason == "wide_ci":
            out.append(verdicts.make_banner(
                "wide_ci",
                f"Your {refs.SIDE_NAME[s]} side is close to the "
                f"{fmt(refs.SELF_TEST_THRESHOLD_DEG)}-degree difference we look for: the "
                "result could go either way.",
                f"{_repeat_words(test)[0].upper()}{_repeat_words(test)[1:]}."))
    return out


def card_sentence(test: str, s: str, res: SideResult, conf: str, thr: float) -> str:
    """One leg's plain sentence for the card, ending with how sure (positive numbers)."""
    on, other = _on(test, s, True), _on(test, refs.OTHER_SIDE[s], True)
    oname = refs.SIDE_NAME[refs.OTHER_SIDE[s]]
    if res.reason == "asymmetry":
        text = (f"{on.capitalize()}, your pelvis dropped about {about(res.diff)} degrees more "
                f"than {other}")
    elif res.reason == "less_than_other":
        text = f"{on.capitalize()}, your pelvis stayed more level than {other}"
    elif res.reason == "within_threshold":
        text = (f"{on.capitalize()}, your pelvis dropped about as much as on your {oname} leg "
                f"(within {fmt(thr, 0)} degrees)")
    elif res.reason == "wide_ci":
        text = (f"{on.capitalize()}, your pelvis dropped about {fmt(abs(res.diff))} degrees "
                f"{'more' if res.diff >= 0 else 'less'} than on your {oname} leg, close to the "
                f"{fmt(thr, 0)}-degree difference we look for")
    elif res.reason == "unknown_side":
        text = "We do not know which leg you stood on in this recording"
    else:
        text = (f"Not enough usable {refs.SELF_TEST_WORDS[test][2]} {on} to compare it with "
                f"your {oname} leg")
    return f"{text}; {conf}."


def headline(test: str, dec: Decision) -> str:
    """One sentence for a self-test session."""
    name = _test_name(test)
    if dec.case == "flagged":
        s = next(s for s in SIDES if dec.sides[s].status == "flagged")
        on = _on(test, s, True)
        return (f"{on.capitalize()}, your pelvis drops more than on your "
                f"{refs.SIDE_NAME[refs.OTHER_SIDE[s]]} leg: a pattern worth training and "
                "re-testing.")
    if dec.case == "not_flagged":
        verb = "standing" if test == "single-leg-stance" else "squatting"
        return f"Your pelvis stays about equally level {verb} on either leg."
    reasons = {r.reason for r in dec.sides.values()}
    if "unknown_side" in reasons:
        return f"We could not tell which leg you stood on in this {name} test."
    if "too_few" in reasons:
        return f"We could not compare your two legs in this {name} test yet."
    return f"We cannot tell yet whether one leg lets your pelvis drop more in the {name} test."


def next_steps(test: str, dec: Decision) -> list[str]:
    """The card's numbered steps: repeat (inconclusive, or to confirm a one-hold result), look
    for what the sensor cannot see, where to start, re-test, see a physiotherapist."""
    repeat = f"{_repeat_words(test)[0].upper()}{_repeat_words(test)[1:]}."
    if dec.case == "inconclusive":
        return [repeat, refs.MIRROR_CHECK, refs.SEE_PHYSIO]
    confirm = ([f"To be sure, {_repeat_words(test)}."]
               if any(b["kind"] == "one_hold" for b in dec.banners) else [])
    return [*confirm, refs.MIRROR_CHECK, verdicts.start_step(dec), refs.SELF_TEST_RETEST,
            refs.SEE_PHYSIO]


def no_rows_decision(test: str) -> Decision:
    """A self-test session whose analysis found no hold or rep: both legs inconclusive."""
    units = refs.SELF_TEST_WORDS[test][2]
    text = (f"Inconclusive. {_test_name(test).capitalize()}: no {units} were found in the "
            f"recording; {_repeat_words(test)}.")
    sides = {s: SideResult("inconclusive", "too_few", text) for s in SIDES}
    banner = verdicts.make_banner(f"few_{units}", f"No {units} were found in this recording.",
                              f"{_repeat_words(test)[0].upper()}{_repeat_words(test)[1:]}.")
    return Decision([verdicts.make_flag("both", "inconclusive", 0.0, None, text)], sides, [banner],
                    "inconclusive")


def card(test: str, dec: Decision, entries: list[dict], context: dict) -> dict:
    """The summary card of a self-test session (same keys as gait's, docs/verdicts.md)."""
    by_side = {e["stance_side"]: e for e in entries if e["test"] == test}
    sides = {}
    for s in SIDES:
        e, res = by_side.get(s) or {}, dec.sides[s]
        conf = e.get("confidence") or refs.CANNOT_TELL
        sides[s] = {"status": res.status,
                    "sentence": card_sentence(test, s, res, conf, refs.SELF_TEST_THRESHOLD_DEG),
                    "confidence": conf, "value_deg": e.get("drop_deg"),
                    "ci95": e.get("drop_ci95"), "n": int(e.get("n") or 0)}
    return {"headline": headline(test, dec), "sides": sides, "banners": list(dec.banners),
            "what_is_cpd": refs.WHAT_THE_TEST_MEASURES[test],
            "what_it_may_mean": refs.WHAT_THE_TEST_MAY_MEAN,
            "next_steps": next_steps(test, dec), "context": context}


def guidance(test: str, dec: Decision, rules: verdicts.Rules) -> list[dict]:
    """The guidance of a self-test session: gait's (the lead, the exercise stages, the
    progression criteria), with an inconclusive lead of its own."""
    lead = None
    if dec.case == "inconclusive":
        why = "; ".join(dict.fromkeys(
            r.text.split(": ", 1)[-1].rstrip(".") for r in dec.sides.values()
            if r.reason in ("too_few", "unknown_side")))
        why = why or (f"a leg is close to the {fmt(rules.thr, 0)}-degree difference we look "
                      "for and the result could go either way")
        lead = {"case": "inconclusive", "title": "Why there is no verdict yet and what to do",
                "text": f"No verdict yet: {why}. To decide, {_repeat_words(test)}. General "
                "hip exercises are safe meanwhile."}
    return verdicts.guidance(dec, {}, rules, lead=lead)


def not_gait_verdict(test: str) -> dict:
    """The gait ``verdict`` of a self-test session: not applicable, per side."""
    text = (f"Not a gait session: this recording is a {_test_name(test)} test, so no gait "
            "side is judged; the result per standing leg is in the self-test section.")
    return {s: {"status": "not_applicable", "text": text, "reason": "not_gait"} for s in SIDES}


def not_gait_trend_text(test: str) -> str:
    return f"Not a gait session ({_test_name(test)} test): no drop over strides to follow."


METHOD = (
    "Self-tests: per standing leg the mean drop over the valid holds (mean over the steady "
    "part of each hold) or reps (at the bottom of each squat), relative to standing on both "
    "feet just before, with a 95 % t interval over holds or reps; with one hold per leg the "
    "interval comes from the sway within the hold (the steady part taken as independent "
    f"{fmt(refs.WITHIN_HOLD_PIECE_S, 0)}-second pieces), a lower bound of the uncertainty, "
    "so a result from it is at most likely. The legs are compared as gait's sides: Welch "
    "interval of the difference, flagged when it clears the threshold, not flagged when it "
    "stays within it, inconclusive otherwise."
)
