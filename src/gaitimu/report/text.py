"""The analysis in words for the terminal: what ``gaitimu analyze`` prints (`format_result`)
and the alignment sentences the HTML report reuses (`heading_text`, `forward_text`)."""

from __future__ import annotations

from typing import Any

from gaitimu.analysis.metrics import NO_SIDE_REASON
from gaitimu.consts import SIDES, finite_or_none
from gaitimu.pipeline import AnalysisResult


def _deg(x: Any, signed: bool = True) -> str:
    v = finite_or_none(x)
    return "?" if v is None else (f"{v:+.1f}" if signed else f"{v:.1f}")


def heading_text(align: Any) -> str | None:
    """One line on the sensor heading (``info["alignment"]["heading"]``): where it came
    from, the gait estimate with its SE, what was applied, and the note. None when the
    alignment does not report it."""
    h = align.get("heading") if isinstance(align, dict) else None
    if not isinstance(h, dict) or not h:
        return None
    parts = [f"{h.get('source') or align.get('heading_source') or '?'}"]
    est = finite_or_none(h.get("estimate_deg"))
    if est is not None:
        se = finite_or_none(h.get("se_deg"))
        parts.append(f"gait estimate {est:+.1f}" + (f" ± {se:.1f}" if se is not None else "")
                     + " deg from the declared forward")
    else:
        parts.append("no gait estimate")
    if finite_or_none(h.get("applied_deg")) is not None:
        cone = finite_or_none(h.get("cone_deg"))
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
    v = finite_or_none(x)
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
    given = finite_or_none(sp.get("given_speed_kmh"))
    tail = f"; treadmill speed {given:.1f} km/h (as given)" if given is not None else ""
    if sp.get("estimated") and info.get("activity") != "run":
        return (f"walking {finite_or_none(sp.get('speed_mps')) or 0:.2f} m/s, "
                f"{finite_or_none(sp.get('distance_m')) or 0:.1f} m, median step length "
                f"{finite_or_none(sp.get('step_length_m')) or 0:.2f} m ({sp.get('leg_length_source')})"
                + tail)
    why = sp.get("reason") or "not estimated"
    if info.get("activity") == "run":
        why = "running speed is not estimated (walking only)"
    return f"not estimated: {why}" + tail


def _spread(values: Any, unit: str, nd: int = 1) -> str:
    """``mean +- SD unit`` of the finite values (``n/a`` when none; the mean alone for one)."""
    v = [x for x in (finite_or_none(y) for y in values) if x is not None]
    if not v:
        return "n/a"
    mean = sum(v) / len(v)
    if len(v) == 1:
        return f"{mean:.{nd}f} {unit}"
    sd = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5
    return f"{mean:.{nd}f} +- {sd:.{nd}f} {unit}"


def self_test_lines(res: AnalysisResult) -> list[str]:
    """The self-tests of a session for the terminal: per test and stance side, the valid
    holds (n, hold time, drop mean +- SD over holds, early touch-downs) or reps (n, drop at
    the bottom, depth, tempo); then the rows that are not valid and why."""
    tests = res.tests
    lines = []
    for (test, side), g in tests[tests["valid"]].groupby(["test", "stance_side"], sort=False):
        who = f"{test} on {side or '? (no protocol)'}"
        if test == "single-leg-squat":
            lines.append(
                f"{who}: {len(g)} reps, drop at the bottom "
                f"{_spread(g['drop_bottom_deg'], 'deg')}, depth "
                f"{_spread(100 * g['depth_m'], 'cm')}, down {_spread(g['down_s'], 's')}, "
                f"up {_spread(g['up_s'], 's')}")
        else:
            sway = "" if len(g) > 1 else (
                f" (sway SD {_spread(g['sway_ml_deg'], 'deg')})")
            lines.append(
                f"{who}: {len(g)} hold{'s' if len(g) > 1 else ''}, hold "
                f"{_spread(g['hold_s'], 's')}, drop {_spread(g['drop_mean_deg'], 'deg')}"
                f"{sway}, worst {_spread(g['drop_worst_deg'], 'deg')}, early touch-downs "
                f"{int(g['touchdowns'].sum())}")
    bad = tests[~tests["valid"]]
    for _, row in bad.iterrows():
        lines.append(f"not used: {row['test']} on {row['stance_side'] or '?'} #{row['index']} "
                     f"at {finite_or_none(row['start_s']) or 0:.1f} s ({row['reason']})")
    if tests.empty:
        lines.append("no hold or rep found (no weight shift onto one leg and back)")
    return lines


def format_result(res: AnalysisResult) -> str:
    """A short plain-text summary of an analysis for the terminal."""
    info = res.info
    if "self_tests" in info:
        return _format_self_test(res)
    good = res.strides[res.strides["valid"]]
    cadence = finite_or_none(info.get("cadence_spm"))
    if cadence is not None:
        cadence_text = f"{cadence:.1f} steps/min"
    else:
        cadence_text = f"not measured ({_no_cadence_reason(res)})"
    lines = [
        f"activity: {info.get('activity', '?')}   duration: "
        f"{finite_or_none(info.get('duration_s')) or 0:.1f} s   cadence: {cadence_text}",
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
    return "\n".join(lines + _closing_lines(info))


def _closing_lines(info: dict) -> list[str]:
    """The warnings and the files written, the last lines of `format_result`."""
    lines = [f"warning: {w}" for w in info.get("warnings", [])]
    outs = [p for p in (info.get("outputs") or {}).values() if p]
    if outs:
        lines.append("wrote " + ", ".join(outs))
    return lines


def _format_self_test(res: AnalysisResult) -> str:
    """`format_result` of a self-test session: the tests, the heading, warnings, files."""
    info = res.info
    lines = [f"activity: {info.get('activity', '?')}   duration: "
             f"{finite_or_none(info.get('duration_s')) or 0:.1f} s"]
    lines += self_test_lines(res)
    heading = (info.get("self_tests") or {}).get("heading") or {}
    if heading.get("estimate_deg") is not None:
        lines.append(f"heading: from the weight shifts {_deg(heading['estimate_deg'])} deg, "
                     f"applied {_deg(heading.get('applied_deg'))} deg"
                     + (f" ({heading['note']})" if heading.get("note") else ""))
    return "\n".join(lines + _closing_lines(info))
