"""The HTML report, JSON summary and strides CSV; the report rendered in a REAL headless
Chromium (tests/browser.py): no JavaScript errors, no network, every figure drawn, verdict
cards agree with the fabricated ground truth; screenshots go to test-artifacts/."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pytest

from browser import ARTIFACTS, Browser, require_browser
from gaitimu.cli import main
from gaitimu.report import build_report, default_csv_path
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
    # self-contained: plotly.js embedded once, nothing fetched from anywhere
    assert html.count("<script type='text/javascript'>") == 1
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=['\"]?https?:", html)
    assert "cdn.plot.ly" not in html.split("</head>", 1)[1]  # (the bundle itself names it)
    assert js["disclaimer"] in html
    assert (d / "report.html").stat().st_size < 10e6


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
    from gaitimu.errors import BadInputError

    with pytest.raises(BadInputError, match="does not exist"):
        build_report(_sessions(1), tmp_path / "nope" / "r.html")


# --------------------------------------------------------------------------- browser
def _load(browser, path, width=1280, height=900, mobile=False, n_figs=4):
    page = browser.open(path, width=width, height=height, mobile=mobile)
    page.wait_for(f"Array.from(document.querySelectorAll('[data-figure]')).filter(d => "
                  f"d.querySelectorAll('.js-plotly-plot .main-svg').length > 0).length >= "
                  f"{n_figs}")
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
    status = dict(page.evaluate("Array.from(document.querySelectorAll('.card'))"
                                ".map(c => [c.dataset.side, c.dataset.status])"))
    assert status == {"R": "flagged", "L": "not_flagged"}  # ground truth: right weaker
    assert page.evaluate("document.body.innerText").count("not a medical device") >= 1
    png = page.screenshot(ARTIFACTS / "report_single_desktop.png")
    assert png.stat().st_size > 50_000


@pytest.mark.browser
def test_report_readable_on_phone(browser, single):
    d, _ = single
    page = _load(browser, d / "report.html", width=390, height=844, mobile=True)
    assert page.errors == []
    # nothing wider than the screen: no horizontal scrolling of the page
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, overflow
    widths = page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot'))"
                           ".map(d => d.getBoundingClientRect().width)")
    assert all(w <= 390 for w in widths), widths
    page.screenshot(ARTIFACTS / "report_single_phone.png")


@pytest.mark.browser
def test_report_prints(browser, single):
    d, _ = single
    page = _load(browser, d / "report.html")
    pdf = browser.call("Page.printToPDF", {"printBackground": True}, page.sid, timeout_s=60)
    data = base64.b64decode(pdf["data"])
    assert data[:4] == b"%PDF" and len(data) > 20_000
    browser.call("Emulation.setEmulatedMedia", {"media": "print"}, page.sid)
    hidden = page.evaluate("Array.from(document.querySelectorAll('.modebar'))"
                           ".every(m => getComputedStyle(m).display === 'none')")
    assert hidden
    (ARTIFACTS / "report_single.pdf").write_bytes(data)


@pytest.mark.browser
def test_multi_session_report_renders(browser, multi):
    d, _ = multi
    page = _load(browser, d / "report.html", n_figs=5)
    counts = dict(page.evaluate(COUNT_JS))
    assert sorted(counts) == sorted(["fig-progress", *FIGS_SINGLE])
    assert page.errors == []
    page.screenshot(ARTIFACTS / "report_progress_desktop.png")


# --------------------------------------------------------------------------- CLI
def test_cli_report(tmp_path, monkeypatch, capsys):
    """`gaitimu report A B --out --json`, with the engine replaced by fabricated results."""
    import gaitimu.pipeline
    import gaitimu.sessions

    fab = dict(zip(["a", "b"], _sessions(2), strict=False))
    monkeypatch.setattr(gaitimu.sessions, "open_session", lambda p: fab[str(p)][0])
    monkeypatch.setattr(gaitimu.pipeline, "analyze_session", lambda s: next(
        r for (ss, r) in fab.values() if ss is s))
    out, js = tmp_path / "r.html", tmp_path / "s.json"
    assert main(["report", "b", "a", "--out", str(out), "--json", str(js)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("L: ") and "\nR: " in text and str(out) in text
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
