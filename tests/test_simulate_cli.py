"""`gaitimu simulate` end to end: writes a session that `open_session` reads back with truth."""

from __future__ import annotations

import numpy as np
import pytest

from gaitimu.cli import main
from gaitimu.sessions import open_session


def test_cli_simulate_writes_a_readable_session(tmp_path, capsys):
    out = tmp_path / "walk.gaitimu"
    rc = main(["simulate", "--activity", "walk", "--duration", "25", "--cpd-left", "4",
               "--cpd-right", "7", "--cadence", "110", "--seed", "3", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "left" in text and str(out) in text
    s = open_session(out)
    assert s.meta["source"] == "simulate" and s.meta["activity"] == "walk"
    assert s.sample_rate_hz == 200 and s.axes == "x=up,y=right,z=forward"
    assert s.t_s.size == 25 * 200 and not s.problems
    ev = s.truth["events"]
    for side, want in (("L", 4.0), ("R", 7.0)):
        assert np.mean([e["cpd_standing_deg"] for e in ev if e["side"] == side]) == \
            pytest.approx(want, abs=0.3)
    assert s.truth["cadence_spm"] == 110
    assert set(s.truth_arrays) >= {"t_s", "obliquity_deg", "tilt_deg", "rotation_deg"}
    t_host, payloads = s.packets()
    assert len(payloads) == 25 * 200 // 4 and np.all(np.diff(t_host) >= 0)


def test_cli_simulate_realism_flags(tmp_path, capsys):
    out = tmp_path / "run.gaitimu"
    rc = main(["simulate", "--activity", "run", "--duration", "30", "--speed", "3.6", "--rate",
               "100", "--loss", "0.05", "--misalign", "20", "--turn-every", "10", "--fatigue",
               "2", "--standing", "4", "--seed", "1", "--out", str(out)])
    assert rc == 0
    s = open_session(out)
    cfg = s.truth["config"]
    assert (cfg["speed_mps"], cfg["sampling_rate_hz"], cfg["packet_loss"], cfg["standing_s"],
            cfg["fatigue_cpd_deg"], cfg["turn_every_s"]) == (3.6, 100, 0.05, 4, 2, 10)
    assert s.truth["misalignment"]["angle_deg"] == pytest.approx(20.0)
    assert s.sample_rate_hz == 100 and s.lost_samples > 0 and len(s.truth["turns"]) >= 1


def test_cli_simulate_records_gaps_of_lost_packets(tmp_path):
    from gaitimu.simulate import SimConfig, simulate, write_session

    sim = simulate(SimConfig(activity="run", duration_s=20, packet_loss=0.05, seed=1))
    write_session(sim, tmp_path / "run.gaitimu")
    s = open_session(tmp_path / "run.gaitimu")
    assert s.lost_samples == sim.truth["lost_samples"] > 0
    assert len(s.gaps) == len(sim.truth["gaps"])
    assert np.array_equal(s.t_s, sim.t_s) and np.array_equal(s.acc, sim.acc)


def test_cli_simulate_bad_input_is_one_line_exit_2(tmp_path, capsys):
    rc = main(["simulate", "--activity", "run", "--duration", "4", "--out",
               str(tmp_path / "x.gaitimu")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "duration" in err[0]


def test_cli_simulate_subject_makes_a_progress_report_possible(tmp_path, capsys):
    """Simulated sessions of one --subject go into one progress report; without it each
    seed is its own subject and the report refuses to mix them (one line, exit 2)."""
    paths = []
    for seed, subject in ((1, "runner7"), (2, "runner7"), (3, None)):
        out = tmp_path / f"s{seed}.gaitimu"
        args = ["simulate", "--activity", "walk", "--duration", "30", "--seed", str(seed),
                "--out", str(out)] + (["--subject", subject] if subject else [])
        assert main(args) == 0
        paths.append(str(out))
    assert open_session(paths[0]).meta["subject"] == "runner7"
    capsys.readouterr()
    assert main(["report", paths[0], paths[1], "--out", str(tmp_path / "ok.html")]) == 0
    capsys.readouterr()
    assert main(["report", paths[0], paths[2], "--out", str(tmp_path / "mixed.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "subject" in err[0]
