"""`gaitimu test`: the guided self-test recording (docs/self_tests.md, issue 13 item 1).

End to end on the virtual BLE sensor, faster than real time (``--speed``: the timeline runs
on the session clock, so the prompts keep pace with the data), then ``analyze`` and
``report`` on the session; the timeline's waits for Enter and the live foot detector
offline, on simulated sessions with their truth.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gaitimu.cli import build_parser, main
from gaitimu.consts import SELF_TESTS
from gaitimu.live.selftest import Guide, SelfTestOptions
from gaitimu.sessions import open_session
from gaitimu.simulate import SimConfig, simulate

REPO = Path(__file__).resolve().parents[1]


def _lines_in_order(text: str, expected: list[str]) -> None:
    """Each expected piece appears in ``text``, in this order."""
    pos = 0
    for piece in expected:
        i = text.find(piece, pos)
        assert i >= 0, f"{piece!r} not found after position {pos} in:\n{text}"
        pos = i + len(piece)


def _self_test_events(session, what: str) -> list[dict]:
    return [e for e in session.events if e.get("kind") == "self_test" and e["what"] == what]


# --------------------------------------------------------------------------- end to end
def test_stance_on_the_virtual_sensor_then_analyze_and_report(tmp_path, capsys):
    pytest.importorskip("bumble")
    out = tmp_path / "stance.gaitimu"
    argv = ["test", "single-leg-stance", "--device", "virtual", "--yes", "--hold", "10",
            "--rest", "3", "--speed", "8", "--touchdown-at", "3.5", "--subject", "P1",
            "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    stdout = capsys.readouterr().out
    _lines_in_order(stdout, [
        "single-leg-stance: a 10 s hold on each leg, LEFT leg first, 3 s rest between",
        "[0:00] Stand on both feet, hands on hips: 5 s",
        "[0:05] Lift your RIGHT foot and stand on your LEFT leg: hold 10 s",
        "right foot off the floor",
        "RIGHT foot touched down",  # the simulated person's early touch-down, seen live
        "lift it again and keep it lifted",
        "right foot up again",
        "LEFT leg: foot up", "1 touch-down",
        "[0:15] Put your RIGHT foot down. Rest: 3 s",
        "[0:18] Stand on both feet, hands on hips: 5 s",
        "[0:23] Lift your LEFT foot and stand on your RIGHT leg: hold 10 s",
        "left foot off the floor",
        "RIGHT leg: foot up", "0 touch-downs",
        "[0:33] Put your LEFT foot down and stand still: 3 s",
        "[0:36] Done: both legs tested.",
        "stopped by test done",
        f"next: gaitimu analyze {out}",
    ])
    assert stdout.count("touched down") == 1

    s = open_session(out)
    plan = SelfTestOptions("single-leg-stance", hold_s=10, rest_s=3).plan()
    assert s.meta["activity"] == "single-leg-stance" and s.meta["subject"] == "P1"
    assert s.meta["protocol"] == plan  # exactly the contract's protocol, planned times
    assert [p["phase"] for p in plan["phases"]] == ["both", "hold", "rest", "both", "hold"]
    # the virtual sensor played the same plan
    virtual = SelfTestOptions("single-leg-stance", hold_s=10, rest_s=3,
                              touchdown_at_s=3.5).virtual_factory()
    assert virtual.protocol == plan
    rec = s.meta["self_test_recording"]
    assert rec["completed"] and rec["scripted"] and [x["stance_side"] for x in rec["seen"]] == ["L", "R"]
    assert len(rec["seen"][0]["touchdowns"]) == 1 and rec["seen"][1]["touchdowns"] == []
    assert s.duration_s == pytest.approx(plan["phases"][-1]["end_s"] + 3.0, abs=0.2)
    prompts = _self_test_events(s, "prompt")
    assert [p["phase"] for p in prompts] == ["both", "hold", "rest", "both", "hold", "end"]
    assert [p["t_s"] for p in prompts[:5]] == [p["start_s"] for p in plan["phases"]]
    lifts = _self_test_events(s, "lift_off")
    assert [(e["stance_side"]) for e in lifts] == ["L", "R"]
    for e, ph in zip(lifts, [plan["phases"][1], plan["phases"][4]], strict=True):
        assert ph["start_s"] < e["t_s"] < ph["start_s"] + 2.0
    early = [e for e in _self_test_events(s, "touch_down") if e.get("early")]
    assert len(early) == 1 and early[0]["stance_side"] == "L"

    tests_csv = tmp_path / "tests.csv"
    assert main(["analyze", str(out), "--tests", str(tests_csv)]) == 0, capsys.readouterr().err
    rows = list(csv.DictReader(tests_csv.open()))
    assert [r["stance_side"] for r in rows] == ["L", "R"]
    assert int(rows[0]["touchdowns"]) == 1 and int(rows[1]["touchdowns"]) == 0
    # the recorder's live view and the analysis agree on the touch-down
    a, _b = json.loads(rows[0]["touchdowns_s"])[0]
    assert abs(early[0]["t_s"] - a) < 0.5
    html, js = tmp_path / "report.html", tmp_path / "summary.json"
    assert main(["report", str(out), "--out", str(html), "--json", str(js)]) == 0, \
        capsys.readouterr().err
    summary = json.loads(js.read_text())
    assert {(x["test"], x["stance_side"]) for x in summary["self_tests"]} == {
        ("single-leg-stance", "L"), ("single-leg-stance", "R")}
    assert html.stat().st_size > 0


def test_squats_on_the_virtual_sensor_prompt_each_rep(tmp_path, capsys):
    pytest.importorskip("bumble")
    out = tmp_path / "squat.gaitimu"
    assert main(["test", "single-leg-squat", "--device", "virtual", "--yes", "--reps", "2",
                 "--rest", "0", "--first", "R", "--speed", "10", "--rate", "100",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    stdout = capsys.readouterr().out
    _lines_in_order(stdout, [
        "[0:00] Stand on both feet, hands on hips: 5 s",
        "[0:05] Lift your LEFT foot and stand on your RIGHT leg: 2 squats",
        "left foot off the floor",
        "[0:08] Squat slowly on your RIGHT leg: rep 1 of 2",
        "[0:12] Squat slowly on your RIGHT leg: rep 2 of 2",
        "[0:16] Stand on both feet, hands on hips: 5 s",
        "[0:21] Lift your RIGHT foot and stand on your LEFT leg: 2 squats",
        "[0:24] Squat slowly on your LEFT leg: rep 1 of 2",
        "[0:28] Squat slowly on your LEFT leg: rep 2 of 2",
        "[0:32] Put your RIGHT foot down and stand still: 3 s",
        "Done: both legs tested.",
    ])
    s = open_session(out)
    assert s.sample_rate_hz == 100 and s.meta["activity"] == "single-leg-squat"
    assert s.meta["protocol"]["order"] == ["R", "L"] and s.meta["protocol"]["reps"] == 2
    reps = [e for e in _self_test_events(s, "prompt") if e.get("rep")]
    assert [(e["stance_side"], e["rep"]) for e in reps] == [("R", 1), ("R", 2), ("L", 1), ("L", 2)]


def test_ctrl_c_stops_cleanly_and_keeps_the_session(tmp_path):
    pytest.importorskip("bumble")
    out = tmp_path / "stopped.gaitimu"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "gaitimu", "test", "single-leg-stance",
                             "--device", "virtual", "--out", str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t_end = time.monotonic() + 30
        while not (out / "samples.bin").exists() or (out / "samples.bin").stat().st_size == 0:
            assert time.monotonic() < t_end, "no samples"
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "[0:00] Stand on both feet" in stdout and "stopped by SIGINT" in stdout
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert "during the two-legged standing" in stderr and str(out) in stderr
    s = open_session(out)
    assert s.closed_cleanly and s.meta["stopped_by"] == "SIGINT" and s.t_s.size > 100
    assert s.meta["activity"] == "single-leg-stance" and s.meta["protocol"]["hold_s"] == 30
    assert s.meta["self_test_recording"]["completed"] is False


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("args, words", [
    (["single-leg-stance", "--hold", "0"], "--hold 0"),
    (["single-leg-squat", "--reps", "0"], "--reps 0"),
    (["single-leg-stance", "--rest", "-1"], "--rest -1"),
    (["single-leg-hop"], "invalid choice"),
    (["single-leg-stance", "--reps", "3"], "--reps is for single-leg-squat"),
    (["single-leg-squat", "--hold", "20"], "--hold is for single-leg-stance"),
    (["single-leg-stance", "--first", "X"], "--first"),
    (["single-leg-stance", "--speed", "4"], "--device virtual"),
    (["single-leg-stance", "--axes", "x=up"], "--axes"),
    (["single-leg-stance", "--rate", "1000"], "--rate 1000"),
    (["single-leg-squat", "--device", "virtual", "--touchdown-at", "3"], "single-leg-stance"),
    (["single-leg-stance", "--device", "virtual", "--hold", "10", "--touchdown-at", "9"],
     "--touchdown-at"),
])
def test_bad_options_are_one_line_exit_2(args, words, tmp_path, capsys):
    out = tmp_path / "bad.gaitimu"
    try:
        code = main(["test", *args, "--out", str(out)])
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err
    assert not out.exists()


def test_existing_out_is_refused(tmp_path, capsys):
    out = tmp_path / "there.gaitimu"
    out.mkdir()
    (out / "meta.json").write_text("{}")
    assert main(["test", "single-leg-stance", "--device", "virtual", "--out", str(out)]) == 2
    assert "record never replaces a session" in capsys.readouterr().err


def test_missing_device_is_one_line_exit_3(tmp_path, capsys):
    out = tmp_path / "none.gaitimu"
    assert main(["test", "single-leg-stance", "--device", "AA:BB:CC:DD:EE:FF", "--yes",
                 "--out", str(out)]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("gaitimu test: ")
    assert not out.exists()


def test_test_names_are_the_contract_names():
    sub = build_parser()._subparsers._group_actions[0].choices["test"]
    assert tuple(next(a.choices for a in sub._actions if a.dest == "test")) == SELF_TESTS


# --------------------------------------------------------------------------- the timeline
def _guide_over(sim, *, scripted=True, keys_at=(), eof_at=None, block=10):
    """Feed a simulated session to a `Guide` block by block, pressing Enter at ``keys_at``
    (session seconds) and closing the keyboard at ``eof_at``."""
    said, events, metas, stops = [], [], [], []
    g = Guide(sim.truth["self_test"]["protocol"], sim.config.sampling_rate_hz,
              scripted=scripted, say=said.append, event=events.append, meta=metas.append,
              stop=stops.append)
    keys = sorted(keys_at)
    for i in range(0, sim.t_s.size, block):
        t = sim.t_s[i:i + block]
        while keys and t[0] >= keys[0]:
            keys.pop(0)
            g.key()
        if eof_at is not None and t[0] >= eof_at:
            g.key(eof=True)
        g.samples(t, sim.acc[i:i + block], sim.gyr[i:i + block])
        if stops:
            break
    return g, said, events, metas, stops


def test_without_yes_each_leg_waits_for_enter_and_the_plan_moves_with_it():
    sim = simulate(SimConfig(activity="single-leg-stance", hold_s=8, rest_s=3,
                             trailing_standing_s=40, seed=2))
    g, said, events, metas, stops = _guide_over(sim, scripted=False, keys_at=(2.0, 25.0))
    text = "\n".join(said)
    _lines_in_order(text, [
        "[0:00] Ready for the LEFT leg? Press Enter to start",
        "[0:02] Stand on both feet, hands on hips: 5 s",
        "[0:07] Lift your RIGHT foot and stand on your LEFT leg: hold 8 s",
        "[0:15] Put your RIGHT foot down. Rest: 3 s",
        "[0:18] Ready for the RIGHT leg? Press Enter to start",
        "[0:25] Stand on both feet, hands on hips: 5 s",
        "[0:30] Lift your LEFT foot and stand on your RIGHT leg: hold 8 s",
        "[0:38] Put your LEFT foot down and stand still: 3 s",
        "[0:41] Done",
    ])
    assert stops == ["test done"] and g.finished
    phases = [(p["phase"], p["start_s"], p["end_s"]) for p in g.protocol["phases"]]
    assert phases[0][1] == pytest.approx(2.0, abs=0.06)
    assert phases[2] == ("rest", pytest.approx(15.0, abs=0.06), pytest.approx(25.0, abs=0.06))
    assert phases[4][1:] == (pytest.approx(30.0, abs=0.06), pytest.approx(38.0, abs=0.06))
    # meta.protocol follows each move; the waits are events
    protocols = [m["protocol"] for m in metas if "protocol" in m]
    assert len(protocols) == 2 and protocols[-1]["phases"] == g.protocol["phases"]
    waits = [e for e in events if e["what"] == "wait"]
    assert [round(w["end_s"]) for w in waits] == [2, 25]


def test_enter_pressed_early_does_not_skip_a_wait():
    sim = simulate(SimConfig(activity="single-leg-stance", hold_s=8, rest_s=3, seed=2))
    g, said, *_ = _guide_over(sim, scripted=False, keys_at=(1.0, 5.0, 9.0))
    assert sum("Press Enter" in s for s in said) == 2 and not g.finished
    assert g.stopped_in == "waiting for Enter before the RIGHT leg"


def test_without_a_keyboard_the_test_stops_with_a_hint():
    sim = simulate(SimConfig(activity="single-leg-stance", hold_s=8, rest_s=3, seed=2))
    g, said, _events, _metas, stops = _guide_over(sim, scripted=False, eof_at=0.5)
    assert stops == ["no keyboard input"] and not g.finished
    assert "use --yes" in said[-1]


# --------------------------------------------------------------------------- the detector
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detector_finds_lift_off_and_the_early_touch_down(seed):
    cfg = SimConfig(activity="single-leg-stance", hold_s=14, rest_s=3, touchdown_at_s=5.0,
                    cpd_left_deg=3.0, cpd_right_deg=3.0, misalignment_random_deg=20, seed=seed)
    sim = simulate(cfg)
    g, said, *_ = _guide_over(sim)
    truth = {h["stance_side"]: h for h in sim.truth["self_test"]["holds"]}
    seen = {x["stance_side"]: x for x in g.summary()["seen"]}
    for side in ("L", "R"):
        assert seen[side]["lift_s"] == pytest.approx(truth[side]["lift_s"], abs=0.3)
        assert seen[side]["touch_s"] == pytest.approx(truth[side]["touch_s"], abs=0.6)
    (a, b), = truth["L"]["touchdowns"]
    (ta, tb), = seen["L"]["touchdowns"]
    assert a - 0.3 <= ta <= b and b - 0.3 <= tb <= b + 0.6
    assert seen["R"]["touchdowns"] == []
    assert sum("touched down" in s for s in said) == 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_detector_stays_silent_rather_than_warn_wrongly(seed):
    """A 1 deg drop is within the sway: no touch-down is claimed (the analysis decides)."""
    sim = simulate(SimConfig(activity="single-leg-stance", hold_s=30, rest_s=3,
                             touchdown_at_s=10.0, cpd_left_deg=1.0, cpd_right_deg=1.0, seed=seed))
    g, said, *_ = _guide_over(sim)
    assert all(x["lift_s"] is not None for x in g.summary()["seen"])
    assert not any("touched down" in s for s in said)
