"""End to end: simulate -> write session -> analyze -> report, against the simulator's ground
truth (the side given the larger --cpd is flagged, the other is not; short sessions are
inconclusive), through the library, the CLI and a real headless Chromium."""

from __future__ import annotations

import json

import pytest

from browser import ARTIFACTS, Browser, require_browser
from gaitimu.cli import main
from gaitimu.workflows import report_sessions
from test_summary import validate

sim = pytest.importorskip("gaitimu.simulate", reason="gaitimu.simulate not available yet")

CASES = {  # name: (activity, duration_s, cpd_left, cpd_right, seed)
    "walk_right_weak": ("walk", 90.0, 4.0, 8.0, 0),
    "run_left_weak": ("run", 60.0, 8.0, 4.0, 1),
    "walk_symmetric": ("walk", 90.0, 5.0, 5.0, 2),
    "walk_short": ("walk", 14.0, 4.0, 9.0, 3),
}


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    d = tmp_path_factory.mktemp("e2e")
    out = {}
    for name, (act, dur, left, right, seed) in CASES.items():
        res = sim.simulate(sim.SimConfig(activity=act, duration_s=dur, cpd_left_deg=left,
                                         cpd_right_deg=right, seed=seed))
        # one runner, except the short session (a progress report over both is refused)
        sim.write_session(res, d / name,
                          subject="someone-else" if name == "walk_short" else "sim-runner")
        out[name] = d / name
    return d, out


@pytest.fixture(scope="module")
def reports(sessions):
    d, paths = sessions
    out = {}
    for name, p in paths.items():
        if name == "walk_short":
            continue
        out[name] = (d / f"{name}.html", report_sessions([p], d / f"{name}.html",
                                                         d / f"{name}.json"))
    return out


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module's page checks."""
    exe = require_browser()
    with Browser(exe) as b:
        yield b


def _drawn(browser, html):
    """Open the report and wait until the page's script has drawn every plot."""
    page = browser.open(html)
    page.wait_for("document.documentElement.dataset.plots === 'drawn'")
    return page


@pytest.mark.parametrize(("name", "weak"), [("walk_right_weak", "R"), ("run_left_weak", "L")])
def test_weak_side_flagged_against_simulator_truth(reports, name, weak):
    _, s = reports[name]
    validate(s)
    healthy = "L" if weak == "R" else "R"
    assert s["verdict"][weak]["status"] == "flagged"
    assert s["verdict"][healthy]["status"] == "not_flagged"
    assert [f["side"] for f in s["flags"] if f["kind"] == "cpd_asymmetry"] == [weak]
    assert s["activity"] == CASES[name][0]
    truth = {"L": CASES[name][2], "R": CASES[name][3]}
    # the summary's CPD (standing reference) is near what the simulator was asked for
    for side in "LR":
        assert s["cpd_standing_deg"][side]["mean"] == pytest.approx(truth[side], abs=1.0)


def test_symmetric_simulation_not_flagged(reports):
    _, s = reports["walk_symmetric"]
    assert not [f for f in s["flags"] if f["kind"] == "cpd_asymmetry"]
    assert "flagged" not in {v["status"] for v in s["verdict"].values()}


def test_short_session_inconclusive_via_cli(sessions, tmp_path, capsys):
    _, paths = sessions
    out, js = tmp_path / "short.html", tmp_path / "short.json"
    assert main(["report", str(paths["walk_short"]), "--out", str(out), "--json", str(js)]) == 0
    s = json.loads(js.read_text())
    validate(s)
    assert {v["status"] for v in s["verdict"].values()} == {"inconclusive"}
    assert "INCONCLUSIVE" in capsys.readouterr().out


def test_cli_progress_over_sessions(sessions, tmp_path):
    _, paths = sessions
    out, js = tmp_path / "p.html", tmp_path / "p.json"
    code = main(["report", str(paths["walk_right_weak"]), str(paths["walk_symmetric"]),
                 "--out", str(out), "--json", str(js)])
    assert code == 0
    s = json.loads(js.read_text())
    validate(s)
    assert len(s["progress"]) == 2 and out.exists()


def test_cli_progress_over_two_subjects_refused(sessions, tmp_path, capsys):
    _, paths = sessions
    out = tmp_path / "p.html"
    code = main(["report", str(paths["walk_right_weak"]), str(paths["walk_short"]),
                 "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "'sim-runner'" in err and "'someone-else'" in err and "different subjects" in err
    assert not out.exists()


@pytest.mark.browser
def test_simulated_report_in_chromium(browser, reports):
    html, s = reports["walk_right_weak"]
    page = _drawn(browser, html)
    assert page.errors == []
    assert all(u.startswith(("file:", "data:", "blob:", "about:")) for u in page.requests)
    status = dict(page.evaluate("Array.from(document.querySelectorAll('.verdict'))"
                                ".map(c => [c.dataset.side, c.dataset.status])"))
    assert status == {k: v["status"] for k, v in s["verdict"].items()}
    assert status["R"] == "flagged"
    page.screenshot(ARTIFACTS / "report_e2e_walk_desktop.png")


@pytest.mark.parametrize(("trial", "activity"), [("rajagopal_run", "run"),
                                                 ("gait2354_subject01_walk", "walk")])
def test_reference_trials_short_and_inconclusive(browser, tmp_path, trial, activity):
    """Real-motion virtual IMU trials (2-5 s of gait): the whole chain runs, the summary is
    valid and, with a handful of strides, every verdict is inconclusive; the page (with
    near-empty figures) still renders without errors."""
    from conftest import shared_data_dir
    from gaitimu.pipeline import analyze_session
    from gaitimu.report import build_report
    from gaitimu.sessions import import_csv, open_session

    src = shared_data_dir("virtual_imu_dev", trial, "imu.csv")
    path = import_csv(src, tmp_path / "s", rate_hz=200, axes="x=up,y=right,z=forward",
                      activity=activity)
    session = open_session(path)
    s = build_report([(session, analyze_session(session))], tmp_path / "r.html",
                     tmp_path / "r.json")
    validate(s)
    assert s["activity"] == activity
    assert {v["status"] for v in s["verdict"].values()} == {"inconclusive"}
    assert not [f for f in s["flags"] if f["kind"] != "inconclusive"]
    assert _drawn(browser, tmp_path / "r.html").errors == []
