"""The self-tests in the report (issue 13 item 4): the ``self_tests`` entries of summary.json,
the flag rule per standing leg (flagged / not flagged / inconclusive, with how sure), the card
of a self-test session, the wording rules, the progress view over gait and self-test
sessions, the page's self-test section (also in a real headless Chromium at 390 px), and the
simulator -> analysis -> report chain.

Tests tables are FABRICATED here (`fabricate_self_test`: a pelvis signal with known drops and
the tests table measured from it, docs/self_tests.md columns), so the report is tested on its
own; the end-to-end test at the bottom runs the real simulator and analysis.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from gaitimu.consts import FLAG_COLOR, SIDE_COLORS
from gaitimu.report import build_report, selftests, summarize
from gaitimu.report import figures as figs
from gaitimu.report import references as refs
from test_report_fixture import FakeResult, FakeSession, fabricate_result
from test_summary import validate
from test_summary_card import FORBIDDEN, user_texts

RATE_HZ = 100.0
SIGN = {"L": 1.0, "R": -1.0}  # docs/self_tests.md: drop = sign x (obliquity - baseline)


@dataclass
class FakeSelfTestResult(FakeResult):
    """An AnalysisResult of a self-test session: no strides, the tests table."""

    tests: pd.DataFrame = field(default_factory=pd.DataFrame)


def _sway(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    """Postural sway: a few slow sinusoids (0.1-1 Hz) scaled to SD ``sd``."""
    t = np.arange(n) / RATE_HZ
    x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
            for f in rng.uniform(0.1, 1.0, 6))
    return sd * x / np.std(x) if n > 1 and sd > 0 else np.zeros(n)


def fabricate_self_test(drops: dict[str, list[float]], *, test: str = "single-leg-stance",
                        sway_deg: float = 0.3, hold_s: float = 30.0, seed: int = 0,
                        touchdown: dict[str, float] | None = None, protocol: bool = True,
                        created_utc: str = "2026-03-01T10:00:00Z", subject: str = "P01"
                        ) -> tuple[FakeSession, FakeSelfTestResult]:
    """A self-test session with known drops per standing leg: per hold (or squat rep) on leg
    S, ``drops[S][i]`` degrees of the free side, after 5 s on both feet; the tests table is
    measured from the signal as docs/self_tests.md says (stable part from 1.5 s after the
    lift-off; squats: the drop at the bottom). ``touchdown = {"L": 10.0}`` puts a 0.8 s
    touch-down 10 s into the first hold on the left leg."""
    rng = np.random.default_rng(seed)
    base = 0.3
    t_all, o_all, rows = [], [], []
    t0 = 0.0
    stance = test == "single-leg-stance"
    for side in ("L", "R"):
        for i, d in enumerate(drops.get(side, []), start=1):
            both = np.arange(int(5 * RATE_HZ)) / RATE_HZ
            t_all.append(t0 + both)
            o_all.append(base + _sway(rng, both.size, 0.1))
            start = t0 + 5.0
            length = hold_s if stance else 3.0
            tt = np.arange(int(length * RATE_HZ)) / RATE_HZ
            shape = (np.minimum(tt / 0.3, 1.0) if stance
                     else np.sin(np.pi * tt / length) ** 2)  # squat: deepest mid-rep
            obl = base + SIGN[side] * d * shape + _sway(rng, tt.size, sway_deg)
            tds = []
            if stance and touchdown and side in touchdown and i == 1:
                a = touchdown[side]
                obl[(tt >= a) & (tt < a + 0.8)] = base
                tds = [[round(start + a, 3), round(start + a + 0.8, 3)]]
            t_all.append(start + tt)
            o_all.append(obl)
            if stance:
                keep = tt >= 1.5
                for a, b in tds:
                    keep &= ~((start + tt >= a) & (start + tt < b + 1.0))
                drop = SIGN[side] * (obl[keep] - base)
                rows.append(dict(
                    test=test, stance_side=side, index=i, start_s=start,
                    end_s=start + length, hold_s=length, touchdowns=len(tds),
                    touchdowns_s=json.dumps(tds), baseline_obliquity_deg=base,
                    drop_mean_deg=drop.mean(), drop_worst_deg=np.percentile(drop, 95),
                    sway_ml_deg=float(np.std(obl[keep])), sway_ap_deg=0.2, sway_ml_dps=1.0,
                    sway_ap_dps=1.0, stabilise_s=1.5, stable_s=keep.sum() / RATE_HZ,
                    drop_bottom_deg=np.nan, depth_m=np.nan, valid=True, reason=""))
            else:
                m = int(np.argmax(shape))
                rows.append(dict(
                    test=test, stance_side=side, index=i, start_s=start,
                    end_s=start + length, hold_s=np.nan, touchdowns=0, touchdowns_s="[]",
                    baseline_obliquity_deg=base, drop_mean_deg=np.nan,
                    drop_worst_deg=np.nan, sway_ml_deg=np.nan, stabilise_s=np.nan,
                    bottom_s=start + tt[m], drop_bottom_deg=SIGN[side] * (obl[m] - base),
                    depth_m=0.15, down_s=1.5, up_s=1.5, valid=True, reason=""))
            t0 = start + length + (5.0 if stance else 0.5)
    t = np.concatenate(t_all)
    signals = pd.DataFrame({"t_s": t, "obliquity_deg": np.concatenate(o_all),
                            "tilt_deg": 0.0, "valid": True})
    meta = {"activity": test, "subject": subject, "created_utc": created_utc,
            "sample_rate_hz": RATE_HZ, "duration_s": float(t[-1]),
            "path": f"/tmp/{test}-{created_utc[:10]}.gaitimu"}
    if protocol:
        meta["protocol"] = {"test": test, "hold_s": hold_s if stance else None,
                            "reps": None if stance else max(map(len, drops.values())),
                            "order": ["L", "R"]}
    info = {"activity": test, "duration_s": float(t[-1]), "cadence_spm": float("nan"),
            "warnings": []}
    strides = pd.DataFrame({c: pd.Series(dtype=float)
                            for c in ("side", "ic_s", "cpd_ic_deg", "valid")})
    return (FakeSession(meta, float(t[-1])),
            FakeSelfTestResult(strides, signals, info, pd.DataFrame(rows)))


def _summary(drops: dict, **kw) -> dict:
    session, res = fabricate_self_test(drops, **kw)
    s = summarize(res.strides, session.meta, res.info, tests=res.tests)
    validate(s)
    return s


def _entries(s: dict) -> dict[str, dict]:
    return {e["stance_side"]: e for e in s["self_tests"]}


# --------------------------------------------------------------------------- the rule
def test_right_leg_weak_is_flagged_and_one_hold_is_only_likely():
    """One hold per leg (the recorder's default): the right standing leg dropping 5 degrees
    more is flagged, but the interval is the within-hold lower bound: "likely", and a banner
    asks for three holds per leg."""
    s = _summary({"L": [1.0], "R": [6.0]})
    e = _entries(s)
    assert e["R"]["flag"] == "flagged" and e["L"]["flag"] == "not_flagged"
    assert e["R"]["drop_deg"] == pytest.approx(6.0, abs=0.2)
    assert e["R"]["n"] == 1 and e["R"]["ci_basis"] == "within_hold"
    lo, hi = e["R"]["drop_ci95"]
    assert lo < e["R"]["drop_deg"] < hi
    assert e["R"]["diff_ci95"][0] > 2.0  # the whole interval clears the threshold
    assert e["R"]["hold_s"] == pytest.approx(30.0) and e["R"]["hold_planned_s"] == 30.0
    assert {x["confidence"] for x in e.values()} == {refs.LIKELY}
    msg = e["R"]["message"]
    for piece in ("right hip abductor control", "1 hold", "95 % interval", "threshold 2.0",
                  "our choice, not a clinical cut-off", "lower bound"):
        assert piece in msg, (piece, msg)
    flag = next(f for f in s["flags"] if f["kind"] == "self_test_asymmetry")
    assert flag["side"] == "R" and flag["value"] > 2 and flag["threshold"] == 2.0
    card = s["card"]
    assert [b["kind"] for b in card["banners"]] == ["one_hold"]
    assert "3 times on each leg" in card["banners"][0]["fix"]
    assert "right leg" in card["headline"] and "drops more" in card["headline"]
    assert card["sides"]["R"]["status"] == "flagged"
    assert card["sides"]["R"]["sentence"].endswith(f"{refs.LIKELY}.")
    assert "about 5 degrees more" in card["sides"]["R"]["sentence"]
    assert card["next_steps"][0].startswith("To be sure, repeat the test with 3 holds")
    assert refs.MIRROR_CHECK in card["next_steps"]
    assert s["guidance"][0]["case"] == "flagged" and "right hip" in s["guidance"][0]["title"]


def test_symmetric_is_not_flagged():
    s = _summary({"L": [1.0], "R": [1.3]}, seed=1)
    assert {e["flag"] for e in s["self_tests"]} == {"not_flagged"}
    assert {e["reason"] for e in s["self_tests"]} == {"within_threshold"}
    assert "equally level" in s["card"]["headline"]
    assert s["guidance"][0]["case"] == "not_flagged"
    assert not [f for f in s["flags"] if f["kind"] != "inconclusive"]


def test_interval_that_includes_the_threshold_is_inconclusive():
    s = _summary({"L": [1.0], "R": [3.0]}, sway_deg=0.6, seed=2)
    e = _entries(s)
    lo, hi = e["R"]["diff_ci95"]
    assert lo < 2.0 < hi
    assert e["R"]["flag"] == "inconclusive" and e["R"]["reason"] == "wide_ci"
    assert e["R"]["confidence"] == refs.CANNOT_TELL
    assert "includes the 2.0-degree threshold" in e["R"]["message"]
    assert "wide_ci" in [b["kind"] for b in s["card"]["banners"]]
    assert s["guidance"][0]["case"] == "inconclusive"
    assert s["card"]["next_steps"][0].startswith("Repeat the test with 3 holds")


def test_three_holds_per_leg_give_a_confident_interval_over_holds():
    s = _summary({"L": [1.0, 1.4, 0.8], "R": [6.0, 5.5, 6.5]}, seed=3)
    e = _entries(s)
    assert e["R"]["flag"] == "flagged" and e["R"]["ci_basis"] == "holds"
    assert e["R"]["n"] == 3 and e["L"]["n"] == 3
    assert e["R"]["drop_deg"] == pytest.approx(6.0, abs=0.2)
    assert {x["confidence"] for x in e.values()} == {refs.CONFIDENT}
    assert "one_hold" not in [b["kind"] for b in s["card"]["banners"]]
    assert "3 holds" in e["R"]["message"] and "over holds" in e["R"]["message"]


def test_a_lost_hold_is_reported():
    s = _summary({"L": [1.0], "R": [6.0]}, touchdown={"L": 10.0}, seed=4)
    e = _entries(s)
    assert e["L"]["touchdowns"] == 1 and e["R"]["touchdowns"] == 0
    assert e["R"]["flag"] == "flagged"


def test_squats_per_rep():
    s = _summary({"L": [2.0] * 5, "R": [6.0, 6.5, 5.5, 6.2, 5.8]}, test="single-leg-squat",
                 sway_deg=0.2, seed=5)
    e = _entries(s)
    assert e["R"]["flag"] == "flagged" and e["R"]["n"] == 5 and e["R"]["hold_s"] is None
    assert e["R"]["ci_basis"] == "reps" and e["R"]["depth_m"] == pytest.approx(0.15)
    assert e["R"]["confidence"] == refs.CONFIDENT
    assert "Squatting on your right leg" in s["card"]["sides"]["R"]["sentence"]
    few = _summary({"L": [2.0, 2.0], "R": [6.0, 6.0]}, test="single-leg-squat", seed=6)
    assert {x["reason"] for x in few["self_tests"]} == {"too_few"}
    assert "at least 3 reps per leg" in _entries(few)["R"]["message"]
    assert [b["kind"] for b in few["card"]["banners"]] == ["few_reps"]


def test_invalid_holds_and_unknown_legs_are_inconclusive():
    session, res = fabricate_self_test({"L": [1.0], "R": [6.0]})
    res.tests.loc[res.tests["stance_side"] == "L", ["valid", "reason"]] = [False,
                                                                           "hold too short"]
    s = summarize(res.strides, session.meta, res.info, tests=res.tests)
    validate(s)
    e = _entries(s)
    assert e["L"]["flag"] == e["R"]["flag"] == "inconclusive"
    assert e["L"]["n"] == 0 and e["L"]["invalid_reasons"] == {"hold too short": 1}
    assert "hold too short" in e["L"]["message"]
    assert s["card"]["banners"][0]["kind"] == "few_holds"
    # an imported session without a protocol: no leg is known, none is judged
    session, res = fabricate_self_test({"L": [1.0], "R": [6.0]}, protocol=False)
    res.tests["stance_side"] = ""
    s = summarize(res.strides, session.meta, res.info, tests=res.tests)
    validate(s)
    assert {e["reason"] for e in s["self_tests"]} == {"unknown_side"}
    assert [e["stance_side"] for e in s["self_tests"]] == ["L", "R", ""]
    assert [b["kind"] for b in s["card"]["banners"]] == ["unknown_side"]
    assert len([f for f in s["flags"] if f["side"] == "both"]) == 1


def test_self_test_session_without_rows_and_gait_parts_say_not_a_gait_session():
    """The analysis found nothing (or has not run): no failure, an inconclusive card; the
    gait parts say "not a gait session"."""
    session, res = fabricate_self_test({"L": [1.0], "R": [6.0]})
    s = summarize(pd.DataFrame(), session.meta, res.info, tests=None)
    validate(s)
    assert s["self_tests"] == []
    assert {v["status"] for v in s["verdict"].values()} == {"not_applicable"}
    assert all(v["text"].startswith("Not a gait session") for v in s["verdict"].values())
    assert all(tr["text"].startswith("Not a gait session") for tr in s["trend"].values())
    assert s["card"]["banners"][0]["kind"] == "few_holds"
    assert {c["status"] for c in s["card"]["sides"].values()} == {"inconclusive"}
    assert s["card"]["context"]["activity"] == "single-leg-stance"


def test_gait_summary_is_unchanged_and_has_no_self_tests():
    session, res = fabricate_result(activity="run", duration_s=90, cpd_left_deg=4,
                                    cpd_right_deg=8)
    s = summarize(res.strides, session.meta, res.info)
    validate(s)
    assert s["self_tests"] == [] and "self_tests" not in s["method"]
    assert s["verdict"]["R"]["status"] == "flagged"
    assert "self_test_threshold" not in {r["id"] for r in s["references"]}
    ids = {r["id"] for r in _summary({"L": [1.0], "R": [6.0]})["references"]}
    assert ids == {"self_test_threshold", "mccarney2020", "bolink2016_tests"}


# --------------------------------------------------------------------------- wording
WORDING_CASES = {
    "flagged": ({"L": [1.0], "R": [6.0]}, {}),
    "left_flagged_three_holds": ({"L": [6.0, 5.5, 6.4], "R": [1.0, 1.3, 0.7]}, {}),
    "symmetric": ({"L": [1.0], "R": [1.3]}, {"seed": 1}),
    "inconclusive": ({"L": [1.0], "R": [3.0]}, {"sway_deg": 0.6, "seed": 2}),
    "squats": ({"L": [2.0] * 5, "R": [6.0, 6.5, 5.5, 6.2, 5.8]},
               {"test": "single-leg-squat", "sway_deg": 0.2}),
    "few_reps": ({"L": [2.0, 2.0], "R": [6.0, 6.0]}, {"test": "single-leg-squat"}),
}


@pytest.mark.parametrize("name", list(WORDING_CASES))
def test_self_test_wording_rules(name):
    """The wording rules of gait (tests/test_summary_card.py) hold in every self-test text:
    no internal identifiers, positive numbers, never a diagnosis, no 'weak'."""
    drops, kw = WORDING_CASES[name]
    s = _summary(drops, **kw)
    texts = user_texts(s) + [e["message"] for e in s["self_tests"]]
    for text in texts:
        for token in (*FORBIDDEN, "too_few", "within_hold", "one_hold", "n/a"):
            assert token not in text, (token, text)
        for m in re.finditer(r"diagnos", text, re.I):
            assert re.search(r"\b(not|never|no)\b", text[max(0, m.start() - 25):m.start()]
                             .lower()), text
        assert not re.search(r"\bweak\b", text, re.I), text
    card = s["card"]
    for text in [card["headline"], *(c["sentence"] for c in card["sides"].values())]:
        assert not re.search(r"(?<![\w.])-\d", text), text
    for e in s["self_tests"]:  # every flag carries n, the interval and the threshold's source
        if e["flag"] in ("flagged", "not_flagged") or e["reason"] == "wide_ci":
            assert re.search(r"\d+ (hold|rep)s?\b", e["message"]), e["message"]
            assert "95 % interval" in e["message"] and "our choice" in e["message"]
    assert "gluteus medius" in card["what_it_may_mean"]
    assert "Trendelenburg" in card["what_it_may_mean"]
    assert "trunk" in card["what_it_may_mean"] and "knee" in card["what_it_may_mean"]


# --------------------------------------------------------------------------- progress
def _mixed_items() -> list:
    """One subject: two runs, then a stance test, a squat test and another stance test."""
    items = []
    for i, (cpd_r, month) in enumerate(((8.0, "01"), (6.0, "02"))):
        s, r = fabricate_result(activity="run", duration_s=60, cpd_left_deg=4,
                                cpd_right_deg=cpd_r, seed=i)
        s.meta.update(created_utc=f"2026-{month}-01T10:00:00Z", subject="P01")
        items.append((s, r))
    items.append(fabricate_self_test({"L": [1.0], "R": [6.0]},
                                     created_utc="2026-03-01T10:00:00Z"))
    items.append(fabricate_self_test({"L": [2.0] * 5, "R": [5.0] * 5},
                                     test="single-leg-squat",
                                     created_utc="2026-03-15T10:00:00Z"))
    items.append(fabricate_self_test({"L": [1.0], "R": [3.5]}, seed=3,
                                     created_utc="2026-04-01T10:00:00Z"))
    return items


def test_progress_tracks_self_tests_next_to_gait(tmp_path):
    out = build_report(_mixed_items(), tmp_path / "p.html", tmp_path / "p.json")
    validate(out)
    prog = out["progress"]
    assert [p["kind"] for p in prog] == ["gait", "gait", "single-leg-stance",
                                         "single-leg-squat", "single-leg-stance"]
    # each session is compared with the first of its own kind
    assert prog[2]["change_from_first_deg"]["R"]["diff"] == 0
    last = prog[4]["change_from_first_deg"]["R"]["diff"]
    right = [next(e for e in p["self_tests"] if e["stance_side"] == "R") for p in prog[2::2]]
    assert last == pytest.approx(right[1]["drop_deg"] - right[0]["drop_deg"])
    assert prog[3]["change_from_first_deg"]["L"]["diff"] == 0  # the first squat test
    page = (tmp_path / "p.html").read_text()
    assert page.count("<tr data-kind='single-leg-stance'>") == 2
    assert "Single-leg squat test" in page and "Self-test rows" in page
    # the newest session is a stance test: its section, no gait plots
    assert 'data-figure="fig-selftest"' in page and 'data-figure="fig-cpd"' not in page


def test_progress_figure_colours_and_series():
    summaries = []
    for s, r in _mixed_items():
        summaries.append(summarize(r.strides, s.meta, r.info, tests=getattr(r, "tests", None)))
    fig = figs.progress(summaries, [f"#{i + 1} x" for i in range(len(summaries))])
    names = [tr.name for tr in fig.data]
    assert {"Left", "Right", "Right - left", "Left, stance", "Right, squat",
            "Right - left, stance"} <= set(names)
    stance = next(tr for tr in fig.data if tr.name == "Right, stance")
    assert list(stance.x) == ["#3 x", "#5 x"] and stance.marker.symbol == "square"
    assert list(fig.layout.xaxis.categoryarray) == [f"#{i + 1} x" for i in range(5)]
    assert fig.layout.yaxis.title.text == "Drop (deg)"
    _check_colours(fig)


def _check_colours(fig) -> None:
    """Left blue, right orange, red only for flag lines (as tests/test_report_html.py)."""
    marks = [(f"trace {tr.name}", c) for tr in fig.data
             for c in (tr.line.color if getattr(tr, "line", None) else None,
                       tr.marker.color if getattr(tr, "marker", None) else None)
             if isinstance(c, str)]
    marks += [(f"shape {sh.name}", sh.line.color) for sh in fig.layout.shapes if sh.line.color]
    for what, colour in marks:
        assert (colour == FLAG_COLOR) == ("flag" in what), (what, colour)
        sides = [x for x in ("L", "R") if {"L": "left", "R": "right"}[x] in what.lower()]
        if len(sides) == 1:
            assert colour == SIDE_COLORS[sides[0]], (what, colour)


# --------------------------------------------------------------------------- the page
@pytest.mark.parametrize("test", ["single-leg-stance", "single-leg-squat"])
def test_self_test_figure_per_leg(test):
    drops = ({"L": [1.0], "R": [6.0]} if test == "single-leg-stance"
             else {"L": [2.0] * 5, "R": [6.0] * 5})
    session, res = fabricate_self_test(drops, test=test, touchdown={"L": 10.0}
                                       if test == "single-leg-stance" else None)
    s = summarize(res.strides, session.meta, res.info, tests=res.tests)
    fig = figs.self_test_drop(selftests.tests_table(res.tests), res.signals, s)
    names = [tr.name for tr in fig.data]
    assert any(n.startswith("Left leg") for n in names)
    assert any(n.startswith("Right leg") for n in names)
    assert {"Left mean", "Right mean"} <= {n.rsplit(" ", 1)[0] for n in names}
    _check_colours(fig)
    flag = [sh for sh in fig.layout.shapes if sh.line.color == FLAG_COLOR]
    assert len(flag) == 1 and flag[0].y0 == pytest.approx(
        min(e["drop_deg"] for e in s["self_tests"]) + 2.0)
    if test == "single-leg-stance":  # the drop over the hold, from the signal
        right = next(tr for tr in fig.data if tr.name == "Right leg")
        assert np.median(right.y[right.x > 2]) == pytest.approx(6.0, abs=0.3)
        assert any(sh.fillcolor for sh in fig.layout.shapes)  # the touch-down, grey


def test_self_test_page_has_the_section(tmp_path):
    session, res = fabricate_self_test({"L": [1.0], "R": [6.0]}, touchdown={"L": 10.0})
    out = build_report([(session, res)], tmp_path / "st.html", tmp_path / "st.json")
    page = (tmp_path / "st.html").read_text()
    assert out["activity"] == "single-leg-stance"
    assert "<h2>Single-leg stance test</h2>" in page
    assert page.count('class="verdict" data-side="R" data-status="flagged"') == 2  # card+section
    for text in ("Trunk lean over the standing leg", "knee moving inward", "foot rolling in",
                 "the foot touched down once", "held 30.0 s of 30", "Single-leg stance test",
                 "our choice, not a clinical cut-off", "McCarney"):
        assert text in page, text
    assert re.findall(r'data-figure="([\w-]+)"', page) == ["fig-selftest"]
    assert "Bramah" not in page  # running references are not for a self-test


# --------------------------------------------------------------------------- Chromium
@pytest.mark.browser
def test_self_test_page_at_phone_width(tmp_path):
    """A real headless Chromium at 390 px: the section is there with both legs, the plot is
    drawn, and no two pieces of text overlap in the card, the section or any plot."""
    from browser import ARTIFACTS, Browser, require_browser
    from test_report_layout import BOXES_JS, DRAWN, _overlaps

    session, res = fabricate_self_test({"L": [1.0], "R": [6.0]}, touchdown={"L": 10.0})
    build_report([(session, res)], tmp_path / "st.html")
    items = _mixed_items()
    build_report(items, tmp_path / "mixed.html")
    with Browser(require_browser()) as b:
        for name, expected in (("st", {"card", "fig-selftest"}),
                               ("mixed", {"card", "fig-selftest", "fig-progress"})):
            page = b.open(tmp_path / f"{name}.html", width=390, height=844, mobile=True)
            page.wait_for(DRAWN)
            assert page.errors == []
            assert page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth") <= 1
            groups = page.evaluate(BOXES_JS)
            assert set(groups) == expected
            groups["section"] = page.evaluate("""Array.from(document.querySelectorAll(
                '.selftest .side-name, .selftest .status, .selftest .verdict p'))
                .map(e => { const r = e.getBoundingClientRect();
                            return [e.textContent.trim().slice(0, 40), r.left, r.top,
                                    r.right, r.bottom]; })""")
            assert len(groups["section"]) >= 8, groups["section"]
            bad = {g: _overlaps(boxes) for g, boxes in groups.items()}
            assert not any(bad.values()), {g: v for g, v in bad.items() if v}
            sides = page.evaluate("Array.from(document.querySelectorAll('.selftest .verdict'))"
                                  ".map(v => [v.dataset.side, v.dataset.status])")
            assert sides == [["L", "not_flagged"], ["R", "flagged"]] or name == "mixed"
            page.screenshot(ARTIFACTS / f"report_selftest_{name}_phone.png")


# --------------------------------------------------------------------------- end to end
E2E = {  # name -> (simulate options, expected flag per standing leg)
    "right_weak": (["--cpd-left", "1", "--cpd-right", "6"],
                   {"L": "not_flagged", "R": "flagged"}),
    "symmetric": (["--cpd-left", "1", "--cpd-right", "1"],
                  {"L": "not_flagged", "R": "not_flagged"}),
}


@pytest.mark.parametrize("name", list(E2E))
def test_simulated_stance_test_end_to_end(tmp_path, capsys, name):
    """`gaitimu simulate --activity single-leg-stance` -> `gaitimu report`: the weak right
    standing leg is flagged (the left not), a symmetric person is not; the report's drops
    are the simulated ones within 0.5 deg, the card reaches the terminal, the page has the
    section."""
    from gaitimu.cli import main

    opts, expected = E2E[name]
    session, html, js = tmp_path / name, tmp_path / f"{name}.html", tmp_path / f"{name}.json"
    assert main(["simulate", "--activity", "single-leg-stance", *opts, "--seed", "3",
                 "--out", str(session)]) == 0
    assert main(["report", str(session), "--out", str(html), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    s = json.loads(js.read_text())
    validate(s)
    e = _entries(s)
    assert {side: e[side]["flag"] for side in ("L", "R")} == expected
    truth = json.loads((session / "truth.json").read_text())["self_test"]["holds"]
    for hold in truth:
        got = e[hold["stance_side"]]
        assert got["n"] == 1 and got["drop_deg"] == pytest.approx(hold["drop_mean_deg"],
                                                                  abs=0.5)
        assert got["hold_s"] == pytest.approx(hold["hold_s"], abs=0.2)
    assert s["card"]["headline"] in out
    assert "<h2>Single-leg stance test</h2>" in html.read_text()
