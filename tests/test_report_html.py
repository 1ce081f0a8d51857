"""The HTML report, JSON summary and strides CSV; the report rendered in a REAL headless
Chromium (tests/browser.py): no JavaScript errors, no network, every figure drawn, verdict
cards agree with the fabricated ground truth; screenshots go to test-artifacts/. Phone width
and print: test_report_layout.py."""

from __future__ import annotations

import json
import re

import pandas as pd
import plotly.offline
import pytest

from browser import ARTIFACTS, Browser, require_browser
from gaitimu.cli import main
from gaitimu.errors import BadInputError
from gaitimu.report import build_report, default_csv_path
from gaitimu.report.assets import pack, unpack
from test_report_fixture import fabricate_result
from test_summary import validate

FIGS_SINGLE = ["fig-cpd", "fig-cycle", "fig-trend", "fig-temporal"]
COUNT_JS = ("Array.from(document.querySelectorAll('[data-figure]')).map(d => [d.dataset.figure,"
            " d.querySelectorAll('.js-plotly-plot .main-svg').length])")


def _sessions(n: int = 1):
    specs = [dict(activity="walk", duration_s=120, cpd_left_deg=4, cpd_right_deg=8, seed=0),
             dict(activity="walk", duration_s=120, cpd_left_deg=4.5, cpd_right_deg=6.5, seed=1),
             dict(activity="walk", duration_s=120, cpd_left_deg=4.5, cpd_right_deg=4.8, seed=2)]
    out = []
    for i, kw in enumerate(specs[:n]):
        s, r = fabricate_result(**kw)
        s.meta["created_utc"] = f"2026-0{i + 1}-01T10:00:00Z"
        out.append((s, r))
    return out


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    d = tmp_path_factory.mktemp("single")
    summary = build_report(_sessions(1), d / "report.html", d / "summary.json")
    return d, summary


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    d = tmp_path_factory.mktemp("multi")
    summary = build_report(_sessions(3), d / "report.html", d / "summary.json",
                           d / "strides.csv")
    return d, summary


@pytest.fixture(scope="module")
def browser():
    exe = require_browser()
    with Browser(exe) as b:
        yield b


# --------------------------------------------------------------------------- files
def test_outputs_written_and_consistent(single):
    d, summary = single
    html = (d / "report.html").read_text(encoding="utf-8")
    js = json.loads((d / "summary.json").read_text())
    validate(js)
    assert js["verdict"] == summary["verdict"]
    csv = pd.read_csv(default_csv_path(d / "report.html"))
    assert {"side", "ic_s", "fc_s", "next_ic_s", "stance_s", "step_s", "activity",
            "cpd_ic_deg", "cpd_standing_deg", "obliquity_range_deg", "valid"} <= set(csv.columns)
    assert (csv.side == "L").sum() + (csv.side == "R").sum() == len(csv)
    # self-contained: plotly.js embedded once (packed), nothing fetched from anywhere
    blobs = re.findall(r"<script type='text/plain' id='gaitimu-plotly'>([^<]*)</script>", html)
    assert len(blobs) == 1
    assert unpack(blobs[0]).decode() == plotly.offline.get_plotlyjs()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    assert "cdn.plot.ly" not in html
    assert js["disclaimer"] in html
    assert (d / "report.html").stat().st_size < 2.0e6  # was 4.9 MB with plotly.js as text
    assert "Welch p &lt; 0.001" in html and "p = 0.000" not in html  # 4 vs 8 deg: clear


def test_multi_session_json_has_progress(multi):
    d, _summary = multi
    js = json.loads((d / "summary.json").read_text())
    validate(js)
    assert [p["label"][:10] for p in js["progress"]] == ["#1 2026-01", "#2 2026-02",
                                                         "#3 2026-03"]
    diffs = [p["asymmetry"]["diff"] for p in js["progress"]]
    assert diffs[0] > diffs[1] > diffs[2]  # fabricated recovery: asymmetry shrinks
    change_r = js["progress"][2]["change_from_first_deg"]["R"]
    assert change_r["ci95_high"] < 0  # right CPD 8 -> 4.8 deg: a clear decrease
    assert change_r["diff"] == pytest.approx(
        js["progress"][2]["cpd_deg"]["R"]["mean"] - js["progress"][0]["cpd_deg"]["R"]["mean"])
    assert js["progress"][0]["change_from_first_deg"]["L"]["diff"] == 0
    csv = pd.read_csv(d / "strides.csv")
    assert csv["session"].nunique() == 3


def test_missing_output_directory_is_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        build_report(_sessions(1), tmp_path / "nope" / "r.html")


def test_pack_round_trips_and_cannot_close_its_element():
    """Packed text has no '<' (no tag, no '<!--') and no '/' (no '</script'), whatever the
    bytes; the page's script decodes it (the browser tests draw every figure from it)."""
    data = bytes(range(256)) * 40 + b"</script><!-- <script>" * 100
    text = pack(data)
    assert unpack(text) == data
    assert "<" not in text and "/" not in text


def test_different_subjects_refused_before_anything_is_written(tmp_path):
    (a, ra), (b, rb) = _sessions(2)
    b.meta["subject"] = "SOMEONE-ELSE"
    with pytest.raises(BadInputError, match=r"different subjects.*report each subject"):
        build_report([(a, ra), (b, rb)], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    b.meta["subject"] = None  # a session without a subject is anyone's
    build_report([(a, ra), (b, rb)], tmp_path / "r.html")


def test_cli_different_subjects_one_line_exit_2(tmp_path, monkeypatch, capsys):
    import gaitimu.workflows  # what `gaitimu report` runs: open, analyse, report

    fab = dict(zip(["a", "b"], _sessions(2), strict=False))
    fab["b"][0].meta["subject"] = "OTHER"
    monkeypatch.setattr(gaitimu.workflows, "open_session", lambda p: fab[str(p)][0])
    analysed = []
    monkeypatch.setattr(gaitimu.workflows, "analyze_session",
                        lambda s: analysed.append(s) or fab["a"][1])
    code = main(["report", "a", "b", "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "'FIXTURE-01'" in err and "'OTHER'" in err and "different subjects" in err
    assert analysed == []  # refused before the (slow) analysis


def _colours(fig) -> list[tuple[str, str]]:
    """(what, colour) of every coloured mark of a figure: traces and shapes."""
    out = []
    for tr in fig.data:
        for c in (getattr(tr, "line", None) and tr.line.color,
                  getattr(tr, "marker", None) and tr.marker.color,
                  getattr(tr, "fillcolor", None)):
            if isinstance(c, str):
                out.append((f"trace {tr.name}", c))
    out += [(f"shape {sh.name}", sh.line.color) for sh in fig.layout.shapes if sh.line.color]
    return out


def test_side_colours_everywhere_and_red_only_for_flags():
    """Every mark named after one side has that side's colour (consts.SIDE_COLORS/BANDS);
    red (FLAG_COLOR) marks only the flag lines."""
    from gaitimu.consts import FLAG_COLOR, SIDE_BANDS, SIDE_COLORS
    from gaitimu.report import figures as figs
    from gaitimu.report.summary import summarize

    session, res = fabricate_result(duration_s=300, cpd_left_deg=4, cpd_right_deg=8,
                                    fatigue_deg={"R": 4.0})
    s = summarize(res.strides, session.meta, res.info)
    all_figs = [figs.cpd_distribution(res.strides, s),
                figs.gait_cycle(*figs.cycle_curves(res.strides, res.signals)),
                figs.cpd_trend(res.strides, s), figs.temporal(s),
                figs.progress([s, s], ["#1 a", "#2 b"])]
    marks = [m for f in all_figs for m in _colours(f)]
    for what, colour in marks:
        assert (colour == FLAG_COLOR) == ("flag" in what), (what, colour)
        sides = [x for x in ("L", "R") if {"L": "left", "R": "right"}[x] in what.lower()]
        if len(sides) == 1:
            assert colour in (SIDE_COLORS[sides[0]], SIDE_BANDS[sides[0]]), (what, colour)
    used = {c for _, c in marks}
    assert set(SIDE_COLORS.values()) | {FLAG_COLOR} <= used


def test_trend_drawn_only_when_its_ci_excludes_zero_and_in_degrees():
    from gaitimu.report import figures as figs
    from gaitimu.report.summary import summarize

    session, res = fabricate_result(duration_s=600, cpd_left_deg=4, cpd_right_deg=6,
                                    fatigue_deg={"R": 5.0}, seed=3)
    s = summarize(res.strides, session.meta, res.info)
    assert s["trend"]["R"]["shown"] and not s["trend"]["L"]["shown"]
    names = [t.name for t in figs.cpd_trend(res.strides, s).data]
    trend = [n for n in names if "trend" in n]
    change = s["trend"]["R"]["change_over_session_deg"]
    assert trend == [f"Right trend {change:+.1f}° ({s['trend']['R']['change_ci95_low']:.1f} to "
                     f"{s['trend']['R']['change_ci95_high']:.1f})"]
    assert not any("10 min" in n for n in names)


@pytest.mark.parametrize(("duration_s", "fmt"), [(120, "%M:%S"), (3600, "%-H:%M:%S")])
def test_time_axis_reads_as_a_clock(duration_s, fmt):
    from gaitimu.report import figures as figs
    from gaitimu.report.summary import summarize

    session, res = fabricate_result(duration_s=duration_s)
    fig = figs.cpd_trend(res.strides, summarize(res.strides, session.meta, res.info))
    assert fig.layout.xaxis.type == "date" and fig.layout.xaxis.tickformat == fmt
    x = fig.data[0].x
    assert x[0].startswith("1970-01-01T00:00:") and float(x[0][17:]) == pytest.approx(
        res.strides.loc[res.strides.valid & (res.strides.side == "L"), "ic_s"].iloc[0],
        abs=1e-3)


@pytest.mark.parametrize("activity", ["walk", "run"])
def test_running_reference_only_on_a_run(tmp_path, activity):
    s, r = fabricate_result(activity=activity, duration_s=90)
    build_report([(s, r)], tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert ("Perpiñá-Martínez" in html) == (activity == "run")
    assert "Side-to-side (ML) sway (cm)" in html and "ML sway proxy (m)" not in html


# --------------------------------------------------------------------------- browser
def _load(browser, path, width=1280, height=900, mobile=False):
    page = browser.open(path, width=width, height=height, mobile=mobile)
    page.wait_for("document.documentElement.dataset.plots === 'drawn'")
    return page


@pytest.mark.browser
def test_single_report_renders_in_chromium(browser, single):
    d, _summary = single
    page = _load(browser, d / "report.html")
    counts = dict(page.evaluate(COUNT_JS))
    assert sorted(counts) == sorted(FIGS_SINGLE)
    assert all(n >= 1 for n in counts.values()), counts
    # every figure has drawn data (traces), not just an empty frame
    n_traces = page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot'))"
                             ".map(d => d.querySelectorAll('.trace').length)")
    assert all(n > 0 for n in n_traces), n_traces
    assert page.errors == []
    assert all(u.startswith(("file:", "data:", "blob:", "about:")) for u in page.requests), \
        page.requests
    status = dict(page.evaluate("Array.from(document.querySelectorAll('.verdict'))"
                                ".map(c => [c.dataset.side, c.dataset.status])"))
    assert status == {"R": "flagged", "L": "not_flagged"}  # ground truth: right weaker
    assert page.evaluate("document.body.innerText").count("not a medical device") >= 1
    png = page.screenshot(ARTIFACTS / "report_single_desktop.png")
    assert png.stat().st_size > 50_000


@pytest.mark.browser
def test_multi_session_report_renders(browser, multi):
    d, _ = multi
    page = _load(browser, d / "report.html")
    counts = dict(page.evaluate(COUNT_JS))
    assert sorted(counts) == sorted(["fig-progress", *FIGS_SINGLE])
    assert page.errors == []
    page.screenshot(ARTIFACTS / "report_progress_desktop.png")


# --------------------------------------------------------------------------- CLI
def test_cli_report(tmp_path, monkeypatch, capsys):
    """`gaitimu report A B --out --json`, with the engine replaced by fabricated results."""
    import gaitimu.workflows  # what `gaitimu report` runs: open, analyse, report

    fab = dict(zip(["a", "b"], _sessions(2), strict=False))
    monkeypatch.setattr(gaitimu.workflows, "open_session", lambda p: fab[str(p)][0])
    monkeypatch.setattr(gaitimu.workflows, "analyze_session", lambda s: next(
        r for (ss, r) in fab.values() if ss is s))
    out, js = tmp_path / "r.html", tmp_path / "s.json"
    assert main(["report", "b", "a", "--out", str(out), "--json", str(js)]) == 0
    text = capsys.readouterr().out
    # the summary card in the terminal: headline, then one line per side, then the files
    lines = text.splitlines()
    assert lines[1].lstrip().startswith("left") and lines[2].lstrip().startswith("right")
    assert str(out) in text
    assert out.exists() and js.exists() and default_csv_path(out).exists()
    labels = [p["label"] for p in json.loads(js.read_text())["progress"]]
    dates = [lab.split(" ", 1)[1] for lab in labels]
    assert dates == sorted(dates)  # oldest first, whatever the order on the command line


def test_cli_report_bad_session_is_one_line_exit_2(tmp_path, capsys):
    code = main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "missing" in err


def test_missing_browser_skips_or_fails_in_ci(monkeypatch):
    import browser as browser_mod

    monkeypatch.setenv("GAITIMU_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("GAITIMU_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        browser_mod.require_browser()
    monkeypatch.setenv("GAITIMU_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="GAITIMU_REQUIRE_BROWSER=1"):
        browser_mod.require_browser()
