"""summarize(): the summary.json contract, statistics and the flag rules, on a fabricated
AnalysisResult with known per-side CPD (test_report_fixture.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gaitimu.errors import BadInputError
from gaitimu.report import summarize, verdicts
from gaitimu.report.html import session_meta
from gaitimu.report.stats import (
    effective_n,
    format_p_value,
    linear_trend,
    mean_ci,
    symmetry_index,
    welch_diff,
)
from test_report_fixture import fabricate_result

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "docs" / "summary.schema.json").read_text())


# --------------------------------------------------------------------------- schema checker
def _check(value, schema: dict, path: str = "$") -> list[str]:
    """Small JSON-Schema subset validator (type, enum, required, properties, items, minimum,
    maximum, $ref): jsonschema is not a dependency."""
    if "$ref" in schema:
        node = SCHEMA
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return _check(value, node, path)
    errs: list[str] = []
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        ok = {
            "object": isinstance(value, dict), "array": isinstance(value, list),
            "string": isinstance(value, str), "null": value is None,
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        }
        if not any(ok[t] for t in types):
            return [f"{path}: {value!r} is not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                errs.append(f"{path}: missing {k!r}")
        for k, sub in schema.get("properties", {}).items():
            if k in value:
                errs += _check(value[k], sub, f"{path}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errs += _check(v, schema["items"], f"{path}[{i}]")
    return errs


def validate(summary: dict) -> None:
    errs = _check(summary, SCHEMA)
    assert not errs, "\n".join(errs[:20])
    json.dumps(summary, allow_nan=False)  # strict JSON: no NaN/inf anywhere


def _summary(**kw) -> dict:
    session, res = fabricate_result(**kw)
    return summarize(res.strides, session_meta(session), res.info)


# --------------------------------------------------------------------------- contract
@pytest.mark.parametrize("activity", ["walk", "run"])
@pytest.mark.parametrize("standing", [True, False])
def test_summary_follows_schema(activity, standing):
    s = _summary(activity=activity, duration_s=90, cpd_left_deg=4, cpd_right_deg=6,
                 standing=standing, seed=3)
    validate(s)
    assert s["activity"] == activity
    assert s["cpd_reference"] == ("standing" if standing else "ic")
    assert s["strides"]["L"] > 20 and s["strides"]["R"] > 20
    assert s["disclaimer"] and "not a medical device" in s["disclaimer"].lower()
    if activity == "walk":
        assert s["temporal"]["flight_s"]["L"]["mean"] is None
    else:
        assert s["temporal"]["flight_s"]["L"]["mean"] > 0


def test_schema_checker_catches_errors():
    s = _summary(duration_s=60, seed=1)
    bad = json.loads(json.dumps(s))
    del bad["cpd_deg"]["L"]["mean"]
    bad["flags"] = [{"side": "X", "kind": "cpd_asymmetry", "value": 1, "threshold": 2,
                     "message": "m"}]
    errs = _check(bad, SCHEMA)
    assert any("mean" in e for e in errs) and any("'X'" in e for e in errs)


def test_missing_column_is_bad_input():
    _, res = fabricate_result(duration_s=30)
    with pytest.raises(BadInputError, match="cpd_ic_deg"):
        summarize(res.strides.drop(columns="cpd_ic_deg"), {}, {})


def test_empty_strides_are_inconclusive_not_an_error():
    _, res = fabricate_result(duration_s=30)
    s = summarize(res.strides.iloc[:0], {"activity": "walk"}, {})
    validate(s)
    assert {v["status"] for v in s["verdict"].values()} == {"inconclusive"}


# --------------------------------------------------------------------------- flags vs truth
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("left", "right", "weak"), [(4.0, 8.0, "R"), (7.5, 3.5, "L")])
@pytest.mark.parametrize("activity", ["walk", "run"])
def test_weak_side_flagged_healthy_side_not(seed, left, right, weak, activity):
    s = _summary(activity=activity, duration_s=120, cpd_left_deg=left, cpd_right_deg=right,
                 seed=seed)
    healthy = "L" if weak == "R" else "R"
    assert s["verdict"][weak]["status"] == "flagged"
    assert s["verdict"][healthy]["status"] == "not_flagged"
    kinds = {(f["side"], f["kind"]) for f in s["flags"]}
    assert (weak, "cpd_asymmetry") in kinds
    assert not any(f["side"] == healthy for f in s["flags"])
    msg = next(f["message"] for f in s["flags"] if f["kind"] == "cpd_asymmetry")
    assert "consistent with" in msg and "weak" not in msg.lower()  # flag, never diagnose


@pytest.mark.parametrize("seed", range(5))
def test_symmetric_gait_not_flagged(seed):
    s = _summary(duration_s=120, cpd_left_deg=5.0, cpd_right_deg=5.0, seed=seed)
    assert {v["status"] for v in s["verdict"].values()} == {"not_flagged"}
    assert s["flags"] == []


def test_short_session_is_inconclusive():
    s = _summary(duration_s=15, cpd_left_deg=3.0, cpd_right_deg=9.0, seed=0)
    assert s["strides"]["L"] < 20
    assert {v["status"] for v in s["verdict"].values()} == {"inconclusive"}
    assert {v["reason"] for v in s["verdict"].values()} == {"few_strides"}
    assert all(f["kind"] == "inconclusive" for f in s["flags"])
    assert any("strides" in f["message"] for f in s["flags"])


def _usable_rate_per_side(s: dict) -> float:
    """Usable stances per side per minute, recomputed from the summary's own numbers."""
    n = s["cpd_deg"]["L"]["n"] + s["cpd_deg"]["R"]["n"]
    return s["cadence_spm"] / 2 * n / s["sides"]["n_stances"]


def test_short_session_says_how_many_more_minutes():
    s = _summary(duration_s=15, cpd_left_deg=3.0, cpd_right_deg=9.0, seed=0)
    needed = 20 - min(s["cpd_deg"][x]["n"] for x in ("L", "R"))
    minutes = verdicts.round_minutes(needed / _usable_rate_per_side(s))
    banner = next(b for b in s["card"]["banners"] if b["kind"] == "few_strides")
    assert f"about {minutes} more minute" in banner["fix"]
    assert f"about {minutes} more minute" in s["card"]["headline"]
    assert s["guidance"][0]["case"] == "inconclusive"


def test_borderline_difference_is_inconclusive():
    # true difference equal to the threshold, noisy strides: the CI must straddle it
    s = _summary(duration_s=60, cpd_left_deg=4.0, cpd_right_deg=6.0, sd_deg=2.0, seed=5)
    assert s["verdict"]["R"]["status"] == "inconclusive"
    assert s["verdict"]["R"]["reason"] == "wide_ci"
    assert s["verdict"]["L"]["status"] == "not_flagged"
    assert [b["kind"] for b in s["card"]["banners"]] == ["wide_ci"]


@pytest.mark.parametrize("seed", [0, 2, 4])  # 3 and 20 more minutes; too close to promise
def test_borderline_minutes_follow_sqrt_n(seed):
    """The minutes a borderline side needs: the CI half-width shrinks as 1/sqrt(n) until it
    no longer reaches the threshold (estimate kept); more than an hour is not promised."""
    s = _summary(duration_s=60, cpd_left_deg=4.0, cpd_right_deg=6.0, sd_deg=2.0, seed=seed)
    assert s["verdict"]["R"]["reason"] == "wide_ci"
    d = s["asymmetry"]["cpd_diff_r_minus_l_deg"]
    half = (d["ci95_high"] - d["ci95_low"]) / 2
    n = (s["cpd_deg"]["L"]["n"] + s["cpd_deg"]["R"]["n"]) / 2
    extra = ((half / abs(d["diff"] - 2.0)) ** 2 - 1) * n / _usable_rate_per_side(s)
    banner = next(b for b in s["card"]["banners"] if b["kind"] == "wide_ci")
    if extra > 60:
        assert "another day" in banner["fix"] and "minute" not in banner["fix"]
    else:
        assert f"about {verdicts.round_minutes(extra)} more minute" in banner["fix"]


def test_minutes_helpers():
    rules = verdicts.Rules(min_n=20, thr=2.0, abs_thr=None, trend_thr=2.0, activity="run",
                           rate_per_side=50.0, duration_min=2.0)
    # half-width 1.0 must shrink to 0.5: 4x the strides, 3 x 100 more per side at 50/min
    assert verdicts.minutes_for_ci(1.0, 0.5, 100, rules) == 6
    assert verdicts.minutes_for_ci(1.0, 0.0, 100, rules) is None  # estimate on the threshold
    assert verdicts.minutes_for_ci(5.0, 0.1, 100, rules) is None  # > an hour: not promised
    assert verdicts.minutes_for_strides(10, rules) == 1
    assert verdicts.minutes_for_strides(10, verdicts.Rules(20, 2.0, None, 2.0)) is None
    assert [verdicts.round_minutes(x) for x in (0.1, 1.0, 1.01, 9.5, 11, 23)] == \
        [1, 1, 2, 10, 15, 25]


def test_without_standing_nothing_is_judged():
    """The 2 deg threshold is set for the drop relative to standing: without standing no
    side is judged, however different the drop from landing looks (issue 12, item 1)."""
    s = _summary(duration_s=120, cpd_left_deg=3.0, cpd_right_deg=9.0, standing=False, seed=2)
    validate(s)
    assert s["cpd_reference"] == "ic" and not s["asymmetry"]["threshold_applies"]
    assert {v["status"] for v in s["verdict"].values()} == {"inconclusive"}
    assert {v["reason"] for v in s["verdict"].values()} == {"no_standing"}
    assert all(v["text"].startswith("inconclusive: no standing calibration")
               for v in s["verdict"].values())
    assert [(f["side"], f["kind"]) for f in s["flags"]] == [("both", "inconclusive")]
    assert [b["kind"] for b in s["card"]["banners"]] == ["no_standing"]
    assert "5 seconds" in s["card"]["banners"][0]["fix"]
    assert all(c["value_deg"] is None for c in s["card"]["sides"].values())


def test_short_session_without_standing_has_both_banners():
    s = _summary(duration_s=15, cpd_left_deg=3.0, cpd_right_deg=9.0, standing=False, seed=0)
    assert [b["kind"] for b in s["card"]["banners"]] == ["few_strides", "no_standing"]
    assert {v["reason"] for v in s["verdict"].values()} == {"few_strides"}
    for side, c in s["card"]["sides"].items():
        assert c["n"] == s["cpd_ic_deg"][side]["n"] > 0 and c["value_deg"] is None
        assert f"Only {c['n']} usable" in c["sentence"]


def test_fatigue_trend_flagged_on_that_side_only():
    s = _summary(activity="run", duration_s=600, cpd_left_deg=5, cpd_right_deg=5,
                 fatigue_deg={"L": 4.0}, seed=4)
    trend = [f for f in s["flags"] if f["kind"] == "cpd_trend"]
    assert [f["side"] for f in trend] == ["L"]
    assert trend[0]["value"] == pytest.approx(4.0, abs=1.0)
    assert s["trend"]["R"]["ci95_low"] < 0 < s["trend"]["R"]["ci95_high"]
    assert s["trend"]["L"]["shown"] and not s["trend"]["R"]["shown"]
    assert "rose by about 4" in s["trend"]["L"]["text"]
    assert "fatigue" in [g["case"] for g in s["guidance"]]
    assert "fatigue" in [b["kind"] for b in s["card"]["banners"]]


def test_trend_is_change_over_session_with_its_ci():
    s = _summary(activity="run", duration_s=60, cpd_left_deg=5, cpd_right_deg=5, seed=1)
    for tr in s["trend"].values():
        span = tr["span_min"]
        assert 0.5 < span < 1.0
        assert tr["change_over_session_deg"] == pytest.approx(
            tr["slope_deg_per_10min"] * span / 10)
        assert tr["change_ci95_low"] == pytest.approx(tr["ci95_low"] * span / 10)
        assert tr["shown"] == (tr["change_ci95_low"] > 0 or tr["change_ci95_high"] < 0)


def test_trend_of_short_sessions_without_fatigue_is_rarely_shown():
    """A 1-minute run without fatigue: the slope per 10 min can be large, but the change over
    the session has a CI that includes zero (shown about 5 % of the time per side)."""
    shown = []
    for seed in range(20):
        s = _summary(activity="run", duration_s=60, cpd_left_deg=5, cpd_right_deg=5,
                     seed=seed)
        shown += [tr["shown"] for tr in s["trend"].values()]
        for tr in s["trend"].values():
            if not tr["shown"]:
                assert tr["text"].startswith("No clear change")
    assert sum(shown) <= 6  # of 40 side-sessions; 95 % CIs


def test_trend_not_flagged_without_standing():
    """The trend threshold is set for the standing-referenced drop too."""
    s = _summary(activity="run", duration_s=600, cpd_left_deg=5, cpd_right_deg=5,
                 fatigue_deg={"L": 6.0}, standing=False, seed=4)
    assert s["trend"]["L"]["measure"] == "cpd_ic_deg" and s["trend"]["L"]["shown"]
    assert not [f for f in s["flags"] if f["kind"] == "cpd_trend"]


def test_absolute_threshold_optional():
    session, res = fabricate_result(duration_s=120, cpd_left_deg=8, cpd_right_deg=8, seed=0)
    s = summarize(res.strides, session_meta(session), res.info)
    assert not any(f["kind"] == "cpd_elevated" for f in s["flags"])
    assert s["guidance"][0]["case"] == "not_flagged"
    s = summarize(res.strides, session_meta(session), res.info, absolute_threshold_deg=6.0)
    validate(s)
    assert {f["side"] for f in s["flags"] if f["kind"] == "cpd_elevated"} == {"L", "R"}
    assert {v["status"] for v in s["verdict"].values()} == {"flagged"}
    assert not any(v["text"].lower().startswith("not flagged") for v in s["verdict"].values())
    assert s["guidance"][0]["case"] == "both_high"
    assert s["guidance"][1]["case"] == "stage_early"
    assert "both legs" in s["card"]["headline"]


def test_data_quality_and_temporal():
    session, res = fabricate_result(duration_s=120, seed=0, invalid_fraction=0.1)
    s = summarize(res.strides, session_meta(session), res.info)
    q = s["data_quality"]
    assert q["lost_samples"] == 12 and q["gaps"] == 1
    assert q["gap_total_s"] == pytest.approx(0.12)
    assert q["strides_excluded"]["total"] == int((~res.strides.valid).sum())
    assert sum(q["strides_excluded"]["by_reason"].values()) == q["strides_excluded"]["total"]
    assert q["alignment"] == res.info["alignment"]
    assert s["asymmetry"]["gct_balance_left_pct"] == pytest.approx(50, abs=2)
    assert s["cadence_spm"] == pytest.approx(110)


def test_mirror_swaps_sides():
    """Invariant: relabelling L<->R mirrors every per-side number and the flag."""
    session, res = fabricate_result(duration_s=120, cpd_left_deg=3, cpd_right_deg=7, seed=8)
    a = summarize(res.strides, session_meta(session), res.info)
    m = res.strides.copy()
    m["side"] = m["side"].map({"L": "R", "R": "L"})
    b = summarize(m, session_meta(session), res.info)
    assert a["cpd_deg"]["L"] == b["cpd_deg"]["R"]
    d1, d2 = a["asymmetry"]["cpd_diff_r_minus_l_deg"], b["asymmetry"]["cpd_diff_r_minus_l_deg"]
    assert d1["diff"] == pytest.approx(-d2["diff"])
    assert d1["ci95_low"] == pytest.approx(-d2["ci95_high"])
    assert [f["side"] for f in a["flags"]] == ["R"] and [f["side"] for f in b["flags"]] == ["L"]


# --------------------------------------------------------------------------- statistics
def _ar1(rng, n, r):
    x = np.empty(n)
    x[0] = rng.normal()
    e = rng.normal(0, math.sqrt(1 - r * r), n)
    for i in range(1, n):
        x[i] = r * x[i - 1] + e[i]
    return x


def test_effective_n_ci_keeps_coverage_under_autocorrelation():
    rng = np.random.default_rng(42)
    reps, n, r = 400, 120, 0.5
    ours = naive = 0
    for _ in range(reps):
        x = _ar1(rng, n, r)
        c = mean_ci(x)
        ours += c.ci95_low <= 0 <= c.ci95_high
        half = 1.98 * x.std(ddof=1) / math.sqrt(n)
        naive += abs(x.mean()) <= half
    assert ours / reps > 0.90  # nominal 95 %
    assert naive / reps < 0.85  # the plain t-interval is too narrow here


def test_white_noise_ci_is_plain_t_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(3, 1, 200)
    c = mean_ci(x)
    n_eff, _ = effective_n(x)
    assert n_eff > 150
    assert c.mean == pytest.approx(x.mean())
    assert c.ci95_high - c.ci95_low == pytest.approx(2 * 1.97 * x.std(ddof=1) / math.sqrt(
        n_eff), rel=0.02)


def test_p_value_text():
    assert format_p_value(0.0) == "p < 0.001"
    assert format_p_value(0.0123) == "p = 0.012"
    assert format_p_value(float("nan")) == "p n/a"


def test_welch_and_symmetry_index():
    rng = np.random.default_rng(2)
    a, b = mean_ci(rng.normal(4, 1, 100)), mean_ci(rng.normal(6, 2, 80))
    d = welch_diff(a, b)
    assert d.ci95_low < 2 < d.ci95_high and d.ci95_low > 1
    assert symmetry_index(4, 6) == pytest.approx(40.0)
    assert math.isnan(symmetry_index(-1, 1))
    assert math.isnan(welch_diff(mean_ci([1.0]), b).ci95_low)


def test_linear_trend_recovers_slope():
    rng = np.random.default_rng(3)
    t = np.linspace(0, 30, 600)
    y = 2 + 0.1 * t + _ar1(rng, t.size, 0.3)
    tr = linear_trend(t, y)
    assert tr["ci95_low"] < 0.1 < tr["ci95_high"]
    assert tr["ci95_low"] > 0.05


def test_strides_read_back_from_csv_give_the_same_summary(tmp_path):
    import pandas as pd

    session, res = fabricate_result(duration_s=90, cpd_left_deg=4, cpd_right_deg=7, seed=6)
    res.strides.to_csv(tmp_path / "s.csv", index=False)
    back = pd.read_csv(tmp_path / "s.csv", dtype={"valid": str})
    a = summarize(res.strides, session_meta(session), res.info)
    b = summarize(back, session_meta(session), res.info)
    assert a["strides"] == b["strides"] and a["flags"] == b["flags"]
    assert a["cpd_deg"]["R"]["mean"] == pytest.approx(b["cpd_deg"]["R"]["mean"])
