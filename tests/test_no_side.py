"""Never the wrong hip (issue 10): everything downstream of the event detector handles a
stance WITHOUT a side honestly (metrics, pipeline info, `gaitimu analyze` text, summary.json
verdicts, HTML, live views) and shows the heading / forward evidence.

The detector's contract is built by hand here: events with ``side`` "" and a ``side_reason``,
``info["events"]["sides"]`` per bout, ``info["alignment"]["heading"|"forward"|"side_trust"]``.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import gaitimu.pipeline as pipeline
import gaitimu.stages as stages
import gaitimu.workflows as workflows
from gaitimu.analysis.metrics import STRIDE_COLUMNS, stance_metrics
from gaitimu.cli import main
from gaitimu.live.dashboard import LiveFeed, live_summary
from gaitimu.live.replay import format_row
from gaitimu.live.stream import StreamingAnalyzer
from gaitimu.pipeline import AnalysisResult, analyze
from gaitimu.report import summarize
from gaitimu.report.html import render_html, session_meta
from gaitimu.report.text import format_result
from gaitimu.simulate import SimConfig, simulate, write_session
from gaitimu.workflows import analyze_path
from test_report_fixture import fabricate_result
from test_summary import validate

FS = 100.0
REASON = "left/right uncertain: side cues disagree in this bout"


# --------------------------------------------------------------------------- helpers
def _signals(duration_s: float = 8.0) -> pd.DataFrame:
    t = np.arange(0.0, duration_s, 1.0 / FS)
    return pd.DataFrame({"t_s": t, "obliquity_deg": 3.0 * np.sin(2 * np.pi * t / 1.1)})


def _events(sides: list, reasons: list | None = None, step_s: float = 0.55) -> pd.DataFrame:
    ic = 1.0 + step_s * np.arange(len(sides))
    ev = pd.DataFrame({"side": sides, "ic_s": ic, "fc_s": ic + 0.6 * 2 * step_s})
    if reasons is not None:
        ev["side_reason"] = reasons
    return ev


def _with_no_side(strides: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """The first `fraction` of the stances lose their side (as the metrics mark them)."""
    st = strides.copy()
    k = round(fraction * len(st))
    st.loc[st.index[:k], "side"] = ""
    st.loc[st.index[:k], "valid"] = False
    st.loc[st.index[:k], "invalid_reason"] = f"no side: {REASON}"
    st.loc[st.index[:k], ["cpd_ic_deg", "cpd_standing_deg"]] = np.nan
    return st


HEADING = {"source": "gait symmetry", "estimate_deg": 12.3, "se_deg": 2.1,
           "applied_deg": 11.8, "cone_deg": 45.0, "note": "posterior of the gait estimate"}
FORWARD = {"decision": "declared", "reversed": False, "margin": 4.2,
           "cues": {"braking_order": {"value": 0.41, "t": 5.2, "n": 80},
                    "rotation_lateral": {"value": 0.22, "t": 2.9, "n": 80}},
           "why": "both cues agree with the declared forward"}
BOUTS = [
    {"bout_id": 0, "n_steps": 30, "decided": True, "confidence": 0.93, "margin": 6.1,
     "cues": {"roll": 5.0, "ml_acc": 2.1}, "reason": None},
    {"bout_id": 1, "n_steps": 8, "decided": False, "confidence": 0.41, "margin": 0.4,
     "cues": {"roll": 0.5, "ml_acc": -0.3}, "reason": "side cues disagree in this bout"},
]


# --------------------------------------------------------------------------- metrics
def test_stance_without_side_is_invalid_with_its_reason_and_no_cpd():
    sides = ["", "", "L", "R", "L", "R", None, np.nan, "", "L", "R", "L"]
    reasons = [REASON, REASON] + [""] * 10
    st = stance_metrics(_events(sides, reasons), _signals(), standing_obliquity_deg=0.0,
                        sampling_rate_hz=FS)
    assert list(st.columns) == list(STRIDE_COLUMNS)
    none = ~st["side"].isin(["L", "R"])
    assert none.sum() == 5 and (st.loc[none, "side"] == "").all()
    assert not st.loc[none, "valid"].any()
    assert (st.loc[none, "invalid_reason"].iloc[:2] == f"no side: {REASON}").all()
    # no side_reason: a generic one
    assert (st.loc[none, "invalid_reason"].iloc[2:] == "no side: left/right uncertain").all()
    for col in ("cpd_ic_deg", "cpd_standing_deg", "peak_drop_t_s"):
        assert st.loc[none, col].isna().all(), col
    # side-free measures stay: stance time, obliquity at IC, step time within the bout
    assert st.loc[none, "stance_s"].notna().all()
    assert st.loc[none, "obliquity_ic_deg"].notna().all()
    assert np.allclose(st.loc[none, "step_s"].iloc[1:], 0.55)
    # the sided stances are untouched
    sided = st[~none]
    assert sided["valid"].all() and sided["cpd_ic_deg"].notna().all()
    # the strides CSV keeps an empty side for them
    back = pd.read_csv(pd.io.common.StringIO(st.to_csv(index=False)), keep_default_na=False)
    assert (back.loc[none.to_numpy(), "side"] == "").all()


def test_missing_side_reason_column_and_full_words():
    ev = _events(["left", "right", "", "LEFT"])
    st = stance_metrics(ev, _signals(), sampling_rate_hz=FS)
    assert list(st["side"]) == ["L", "R", "", "L"]
    assert st.loc[2, "invalid_reason"] == "no side: left/right uncertain"


# --------------------------------------------------------------------------- pipeline
@pytest.fixture(scope="module")
def sim():
    return simulate(SimConfig(activity="walk", duration_s=30.0, cpd_left_deg=4,
                              cpd_right_deg=8, seed=5))


def _truth_events(sim) -> pd.DataFrame:
    ev = pd.DataFrame(sim.truth["events"])[["side", "ic_s", "fc_s"]]
    return ev.assign(side=ev["side"].astype(str).str.upper().str[0])


def test_analyze_counts_stances_without_side_and_keeps_them_out_of_the_sides(sim):
    ev = _truth_events(sim)
    ev["side_reason"] = ""
    ev.loc[:9, "side"] = ""
    ev.loc[:9, "side_reason"] = REASON
    res = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=200.0, events=ev,
                  activity="walk")
    info = res.info
    assert info["n_no_side"] == 10
    assert info["no_side_reasons"] == {REASON: 10}
    assert info["sides"] == []  # given events: no per-bout decisions
    good = res.strides[res.strides["valid"]]
    assert info["n_strides"] == {s: int((good["side"] == s).sum()) for s in ("L", "R")}
    assert sum(info["n_strides"].values()) <= len(ev) - 10
    json.dumps(info)
    text = format_result(res)
    assert "sides: 10 of" in text and "without a side" in text and REASON in text


def test_all_stances_without_side_is_not_no_gait(sim):
    ev = _truth_events(sim).assign(side="")
    res = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=200.0, events=ev,
                  activity="walk")
    assert res.info["n_no_side"] == len(ev)
    assert res.info["n_strides"] == {"L": 0, "R": 0}
    assert np.isfinite(res.info["cadence_spm"])  # cadence needs no side
    s = summarize(res.strides, {"activity": "walk"}, res.info)
    validate(s)
    assert {v["status"] for v in s["verdict"].values()} == {"inconclusive"}


def test_detector_per_bout_sides_reach_info(sim, monkeypatch):
    real = stages.detect_events  # the one stage chain of pipeline and stream

    def fake(body, **kw):
        out = real(body, **kw)
        ev = out.events.copy()
        first = ev["bout_id"] == ev["bout_id"].min()
        ev.loc[first, "side"] = ""
        ev["side_reason"] = np.where(first, REASON, "")
        info = {**dict(out.info), "sides": BOUTS, "n_no_side": int(first.sum())}
        return dataclasses.replace(out, events=ev, info=info)

    monkeypatch.setattr(stages, "detect_events", fake)
    res = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=200.0, activity="walk")
    assert res.info["sides"] == BOUTS
    assert res.info["events"]["sides"] == BOUTS
    assert res.info["n_no_side"] == int((res.strides["side"] == "").sum()) > 0
    assert "1 of 2 bouts decided, 1 withheld" in format_result(res)


# --------------------------------------------------------------------------- format_result
def _result(info: dict) -> AnalysisResult:
    _, fab = fabricate_result(duration_s=30, seed=1)
    return AnalysisResult(strides=fab.strides, signals=fab.signals, info=info)


def test_format_result_shows_heading_forward_and_sides_evidence():
    info = {"activity": "walk", "duration_s": 30.0, "cadence_spm": 110.0, "n_no_side": 7,
            "no_side_reasons": {REASON: 7}, "sides": BOUTS,
            "alignment": {"heading": HEADING, "forward": FORWARD, "side_trust": "ok",
                          "heading_source": "gait symmetry"}}
    lines = format_result(_result(info)).splitlines()
    head = next(x for x in lines if x.startswith("heading:"))
    assert "gait symmetry" in head and "+12.3 ± 2.1" in head and "applied +11.8" in head
    fwd = next(x for x in lines if x.startswith("forward:"))
    assert "declared" in fwd and "braking order +0.4 (t +5.2, n 80)" in fwd
    assert "rotation lateral" in fwd and "both cues agree" in fwd
    sides = next(x for x in lines if x.startswith("sides:"))
    assert "1 of 2 bouts decided, 1 withheld" in sides and "7 of" in sides and REASON in sides
    assert len(lines) < 15  # short: a user reads it


def test_format_result_forward_uncertain_and_no_gait_heading():
    al = {"heading": {"source": "declared axes", "estimate_deg": None, "se_deg": None,
                      "applied_deg": 0.0, "cone_deg": 45.0,
                      "note": "no periodic straight gait to estimate the heading"},
          "forward": {"decision": "declared", "cues": {"braking_order": "odd"}},
          "side_trust": "uncertain"}
    text = format_result(_result({"alignment": al, "n_no_side": 3}))
    assert "heading: declared axes, no gait estimate, applied +0.0 deg" in text
    assert "every side withheld" in text


@pytest.mark.parametrize("info", [
    {},
    {"alignment": None, "sides": None, "n_no_side": None},
    {"alignment": {"heading": None, "forward": {}, "side_trust": None}},
    {"alignment": {"heading": {"estimate_deg": float("nan")}, "forward": {"cues": None}},
     "sides": [{"bout_id": 0}], "no_side_reasons": None, "n_no_side": 0},
])
def test_format_result_without_the_new_keys_does_not_crash(info):
    text = format_result(_result(info))
    assert "side  stances" in text
    if not info.get("alignment"):
        assert "heading:" not in text and "forward:" not in text and "sides:" not in text


# --------------------------------------------------------------------------- summary
def _summary(fraction: float = 0.0, align: dict | None = None, **kw) -> dict:
    session, res = fabricate_result(duration_s=120, cpd_left_deg=3.0, cpd_right_deg=9.0,
                                    seed=kw.pop("seed", 1), **kw)
    info = dict(res.info)
    if align is not None:
        info["alignment"] = align
    info["events"] = {"sides": BOUTS}
    return summarize(_with_no_side(res.strides, fraction), session_meta(session), info)


def test_big_asymmetry_flagged_when_sides_are_trusted():
    s = _summary(0.0)
    validate(s)
    assert s["verdict"]["R"]["status"] == "flagged"
    assert s["sides"]["attribution"] == "ok" and s["sides"]["n_no_side"] == 0


@pytest.mark.parametrize("fraction", [0.55, 0.9, 1.0])
def test_most_stances_without_side_inconclusive_never_flagged(fraction):
    s = _summary(fraction)
    validate(s)
    n_no, n = s["sides"]["n_no_side"], s["sides"]["n_stances"]
    assert n_no * 2 > n
    for side in ("L", "R"):
        v = s["verdict"][side]
        assert v["status"] == "inconclusive"
        assert v["text"].startswith("inconclusive: left/right uncertain")
        assert f"{n_no} of {n} stances had no side" in v["text"]
    assert not [f for f in s["flags"] if f["kind"] in ("cpd_asymmetry", "cpd_elevated",
                                                        "cpd_trend")]
    assert [f["side"] for f in s["flags"]] == ["both"]
    assert s["sides"]["attribution"] == "uncertain"
    assert s["sides"]["reasons"] == {REASON: n_no}


def test_forward_uncertain_inconclusive_even_with_every_side_given():
    s = _summary(0.0, align={"heading": HEADING, "forward": FORWARD,
                             "side_trust": "uncertain"})
    validate(s)
    for v in s["verdict"].values():
        assert v["status"] == "inconclusive"
        assert v["text"].startswith("inconclusive: left/right uncertain")
        assert "forward direction could not be established" in v["text"]
    assert all(f["kind"] == "inconclusive" for f in s["flags"])
    assert s["alignment"]["side_trust"] == "uncertain"
    assert s["alignment"]["forward"]["cues"]["braking_order"]["t"] == 5.2
    assert s["alignment"]["heading"]["estimate_deg"] == 12.3


def test_some_stances_without_side_left_out_verdict_kept():
    s = _summary(0.2)
    validate(s)
    n_no = s["sides"]["n_no_side"]
    assert 0 < n_no * 2 <= s["sides"]["n_stances"]
    assert s["verdict"]["R"]["status"] == "flagged"
    assert all(f"{n_no} stances without a side" in v["text"] for v in s["verdict"].values())
    assert all("were left out" in v["text"] for v in s["verdict"].values())
    assert s["data_quality"]["strides_without_side"] == n_no
    assert s["sides"]["bouts"] == BOUTS
    assert s["sides"]["bouts_decided"] == 1 and s["sides"]["bouts_withheld"] == 1


def test_exactly_half_without_side_is_not_uncertain():
    session, res = fabricate_result(duration_s=120, cpd_left_deg=3.0, cpd_right_deg=9.0)
    st = res.strides.copy()
    st = st.iloc[: len(st) // 2 * 2]
    st = _with_no_side(st, 0.5)
    s = summarize(st, session_meta(session), res.info)
    assert s["sides"]["n_no_side"] * 2 == s["sides"]["n_stances"]
    assert s["sides"]["attribution"] == "ok"


def test_per_side_statistics_use_only_sided_stances():
    session, res = fabricate_result(duration_s=120, cpd_left_deg=3.0, cpd_right_deg=9.0)
    base = summarize(res.strides, session_meta(session), res.info)
    st = res.strides.copy()
    extra = st.iloc[:10].copy()
    # hand-made rows without a side, even marked valid and with a huge CPD, count for neither
    extra = extra.assign(side=["", None, np.nan, "?", "", "", "", "", "", ""],
                         valid=True, cpd_ic_deg=40.0, cpd_standing_deg=40.0, ic_s=st["ic_s"]
                         .iloc[:10] + 0.01)
    s = summarize(pd.concat([st, extra], ignore_index=True), session_meta(session), res.info)
    assert s["cpd_deg"] == base["cpd_deg"]
    assert s["strides"] == base["strides"]
    assert s["sides"]["n_no_side"] == 10


def test_summary_without_alignment_evidence_has_nulls():
    session, res = fabricate_result(duration_s=60)
    s = summarize(res.strides, session_meta(session), {})
    validate(s)
    assert s["alignment"] == {"heading": None, "forward": None, "side_trust": None}
    assert s["sides"]["bouts"] == [] and s["sides"]["n_no_side"] == 0


# --------------------------------------------------------------------------- HTML
def test_html_shows_stances_without_side_and_the_evidence():
    session, res = fabricate_result(duration_s=60, cpd_left_deg=3.0, cpd_right_deg=9.0)
    info = {**res.info, "alignment": {"heading": HEADING, "forward": FORWARD,
                                      "side_trust": "uncertain"}}
    st = _with_no_side(res.strides, 0.6)
    s = summarize(st, session_meta(session), info)
    page = render_html([(s, st, res.signals)])
    assert "Stances without a side" in page and f"{s['sides']['n_no_side']} of" in page
    assert "Left/right attribution" in page and "no side is flagged" in page
    assert "Sensor heading" in page and "+12.3 ± 2.1" in page
    assert "Forward direction" in page and "braking order" in page
    assert 'data-status="flagged"' not in page
    assert "without a side, left out" in page  # context line


# --------------------------------------------------------------------------- CLI --axes
@pytest.fixture(scope="module")
def session_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("axes") / "walk.gaitimu"
    write_session(simulate(SimConfig(activity="walk", duration_s=25.0, seed=3)), path)
    return path


def test_cli_analyze_axes_override_is_used(session_path, capsys):
    code = main(["analyze", str(session_path), "--axes", "y=right,x=up,z=forward"])
    out = capsys.readouterr().out
    assert code == 0 and "side  stances" in out
    res = analyze_path(str(session_path), axes=" x=up, y=right, z=forward ")
    assert res.info["axes_override"]["axes"] == "x=up, y=right, z=forward"
    assert res.info["alignment"]["axes"] == "x=up, y=right, z=forward"


@pytest.mark.parametrize("verb", ["analyze", "report"])
def test_cli_auto_axes_reaches_the_analysis(session_path, tmp_path, monkeypatch, verb):
    seen = []

    def fake(session, *, events=None, axes=None):
        seen.append(axes)
        raise pipeline.NoGaitError("stop here")

    monkeypatch.setattr(workflows, "analyze_session", fake)  # what analyze and report call
    args = ["--out", str(tmp_path / "r.html")] if verb == "report" else []
    assert main([verb, str(session_path), "--axes", "AUTO", *args]) == 1
    assert seen == ["auto"]


@pytest.mark.parametrize("verb", ["analyze", "report"])
@pytest.mark.parametrize("bad", ["x=up,y=right", "x=up,y=up,z=forward", "sideways", ""])
def test_cli_bad_axes_one_line_exit_2(session_path, tmp_path, capsys, verb, bad):
    args = ["--out", str(tmp_path / "r.html")] if verb == "report" else []
    code = main([verb, str(session_path), "--axes", bad, *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "--axes" in err[0] and "Traceback" not in err[0]


# --------------------------------------------------------------------------- live
def _live_rows() -> pd.DataFrame:
    st = stance_metrics(_events(["", "", "L", "R", "L", "R", "L", "R"], [REASON] * 2 + [""] * 6),
                        _signals(), standing_obliquity_deg=0.0, sampling_rate_hz=FS)
    return st.assign(activity="walk")


def test_live_summary_and_terminal_rows_count_no_side():
    rows = _live_rows()
    sm = live_summary(rows)
    assert sm["n_no_side"] == 2
    assert sm["sides"]["L"]["n"] + sm["sides"]["R"]["n"] == int(rows["valid"].sum())
    analyzer = StreamingAnalyzer(sampling_rate_hz=FS)
    analyzer._rows = [rows]  # as if the stream had emitted them
    feed = LiveFeed(analyzer)
    assert "no side: 2" in feed.status_rows()["strides L/R"]
    state = feed.full_state()
    assert state["summary"]["n_no_side"] == 2
    assert [r["side"] for r in state["strides"]][:2] == ["", ""]


def test_replay_row_print_for_a_stance_without_side():
    rows = list(_live_rows().itertuples(index=False))
    line = format_row(rows[0])
    assert "  ?  " in line and "nan" not in line and "no side" in line
    assert "  L  " in format_row(rows[2])


def test_stream_with_sides_withheld_does_not_crash(sim, monkeypatch):
    real = stages.detect_events

    def fake(body, **kw):
        out = real(body, **kw)
        return dataclasses.replace(out, events=out.events.assign(side="", side_reason=REASON))

    monkeypatch.setattr(stages, "detect_events", fake)
    sa = StreamingAnalyzer(sampling_rate_hz=200.0)
    for i in range(0, sim.t_s.size, 400):
        sa.push(sim.t_s[i : i + 400], sim.acc[i : i + 400], sim.gyr[i : i + 400])
    sa.flush()
    out = sa.strides
    assert len(out) > 10
    assert (out["side"] == "").all() and not out["valid"].any()
    assert out["invalid_reason"].str.startswith("no side").all()
    # a stance's stride is complete before it is emitted (two ICs on in the bout)
    inner = out.groupby("bout_id").apply(lambda g: g.iloc[1:-2], include_groups=False)
    assert inner["stride_s"].notna().mean() > 0.8
