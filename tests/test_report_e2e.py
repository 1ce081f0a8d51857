"""End to end: simulate -> write session -> analyze -> report, against the simulator's ground
truth (the side given the larger --cpd is flagged, the other is not; short sessions are
inconclusive), through the library, the CLI and a real headless Chromium."""

from __future__ import annotations

import json

import pytest

from browser import ARTIFACTS, Browser, require_browser
from gaitimu.cli import main
from gaitimu.report import report_sessions
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
        sim.write_session(res, d / name)
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
    assert "inconclusive" in capsys.readouterr().out


def test_cli_progress_over_sessions(sessions, tmp_path):
    _, paths = sessions
    out, js = tmp_path / "p.html", tmp_path / "p.json"
    code = main(["report", str(paths["walk_right_weak"]), str(paths["walk_symmetric"]),
                 "--out", str(out), "--json", str(js)])
    assert code == 0
    s = json.loads(js.read_text())
    validate(s)
    assert len(s["progress"]) == 2 and out.exists()


@pytest.mark.browser
def test_simulated_report_in_chromium(reports):
    exe = require_browser()
    html, s = reports["walk_right_weak"]
    with Browser(exe) as b:
        page = b.open(html)
        page.wait_for("Array.from(document.querySelectorAll('[data-figure]')).filter(d => "
                      "d.querySelectorAll('.js-plotly-plot .main-svg').length > 0)"
                      ".length >= 4")
        assert page.errors == []
        assert all(u.startswith(("file:", "data:", "blob:", "about:")) for u in page.requests)
        status = dict(page.evaluate("Array.from(document.querySelectorAll('.card'))"
                                    ".map(c => [c.dataset.side, c.dataset.status])"))
        assert status == {k: v["status"] for k, v in s["verdict"].items()}
        assert status["R"] == "flagged"
        page.screenshot(ARTIFACTS / "report_e2e_walk_desktop.png")
