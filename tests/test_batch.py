"""`gaitimu batch` (issue 16): 12 good sessions and a corrupted one over local processes and
a Dask LocalCluster give the per-session ``analyze``/``report --json`` results, the bad one
lands in failed.csv; a batch killed with SIGKILL and started again ends with the same outputs
and analyses no session twice; BIDS and CSV+manifest inputs read back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from gaitimu.cli import main
from gaitimu.simulate import SimConfig, simulate, write_session
from gaitimu.workflows import report_sessions

pytest.importorskip("pyarrow")

N_GOOD = 12
DURATION_S = 30.0


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 short simulated walks of 4 subjects (3 sessions each, some asymmetric) and one
    corrupted session (garbage meta.json and samples), in nested folders."""
    root = tmp_path_factory.mktemp("cohort")
    for i in range(N_GOOD):
        sub = root / f"site{i % 2}"
        sub.mkdir(exist_ok=True)
        sim = simulate(SimConfig(activity="walk", duration_s=DURATION_S, seed=i,
                                 cpd_left_deg=3.0, cpd_right_deg=3.0 + (i % 3) * 2.0))
        write_session(sim, sub / f"s{i:02d}.gaitimu", subject=f"P{i % 4}")
    bad = root / "site0" / "bad.gaitimu"
    bad.mkdir()
    (bad / "meta.json").write_bytes(b"{\x00garbage")
    (bad / "samples.bin").write_bytes(os.urandom(2048))
    return root


@pytest.fixture(scope="module")
def expected(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """What ``gaitimu report --json`` gives for each good session, by its path."""
    out = tmp_path_factory.mktemp("reports")
    res = {}
    for p in sorted(cohort.rglob("s*.gaitimu")):
        res[str(p)] = report_sessions([p], out / f"{p.stem}.html", out / f"{p.stem}.json")
    return res


def _check_against_reports(out: Path, expected: dict[str, dict]) -> pd.DataFrame:
    sessions = pd.read_parquet(out / "sessions.parquet")
    assert len(sessions) == N_GOOD
    assert sorted(sessions["source"]) == sorted(expected)
    for _, row in sessions.iterrows():
        summary = expected[row["source"]]
        for side in ("L", "R"):
            c = summary["cpd_deg"][side]
            for k in ("mean", "ci95_low", "ci95_high", "n"):
                assert row[f"cpd_{side}_{k}"] == pytest.approx(c[k], abs=1e-12), (side, k)
            assert row[f"strides_{side}"] == summary["strides"][side]
            assert row[f"verdict_{side}"] == summary["verdict"][side]["status"]
        assert json.loads(row["flags"]) == summary["flags"]
        assert row["subject"] == summary["session"]["subject"]
    strides = pd.read_parquet(out / "strides.parquet")
    assert set(strides["session_id"]) == set(sessions["session_id"])
    failed = pd.read_csv(out / "failed.csv")
    assert len(failed) == 1 and failed["session"][0].endswith("bad.gaitimu")
    assert failed["exit_class"][0] == "bad_input" and failed["exit_code"][0] == 2
    assert "\n" not in failed["error"][0]
    page = (out / "cohort.html").read_text()
    assert 'data-figure="cohort-asymmetry"' in page and 'data-figure="cohort-change"' in page
    return sessions


@pytest.fixture(scope="module")
def local_run(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local") / "out"


def test_local_processes_equal_per_session_reports(cohort: Path, expected: dict, local_run: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    code = main(["batch", str(cohort), "--out", str(local_run), "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 0
    warnings = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "1 of 13 sessions failed" in warnings[0]
    _check_against_reports(local_run, expected)


def test_dask_local_cluster_gives_the_same_tables(cohort: Path, expected: dict, local_run: Path,
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    # a LocalCluster of 2 worker processes (one thread each), as `--dask local` starts it
    code = main(["batch", str(cohort), "--out", str(out), "--workers", "2", "--dask", "local"])
    assert code == 0, capsys.readouterr().err
    sessions = _check_against_reports(out, expected)
    if (local_run / "sessions.parquet").exists():
        pd.testing.assert_frame_equal(sessions, pd.read_parquet(local_run / "sessions.parquet"))


def test_killed_batch_resumes_without_analysing_twice(cohort: Path, expected: dict,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "gaitimu", "batch", str(cohort), "--out", str(out),
           "--workers", "2", "--progress-every", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("batch: 4/"):
                break
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its workers, mid-way
    finally:
        proc.wait(timeout=30)
    time.sleep(0.2)
    assert not (out / "sessions.parquet").exists(), "the batch ended before the kill"
    before = len(list((out / ".parts").glob("*.parquet")))
    assert 0 < before < N_GOOD
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "from an earlier run" in done.stdout
    log = (out / ".parts" / "analysed.log").read_text().split()
    assert len(log) == len(set(log)) == N_GOOD + 1  # each session (and the bad one) once
    _check_against_reports(out, expected)
    assert not list((out / ".parts").glob(".*.tmp"))


def test_bids_and_csv_manifest_inputs_read_back(cohort: Path, expected: dict,
                                                tmp_path: Path) -> None:
    src = sorted(cohort.rglob("s*.gaitimu"))[1]
    assert main(["export", str(src), "--format", "bids", "--out", str(tmp_path / "bids")]) == 0
    assert main(["export", str(src), "--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    manifest = tmp_path / "csv" / "manifest.csv"
    manifest.write_text("file,rate_hz,axes,subject,activity\n"
                        f'{src.stem}_samples.csv,200,"x=up,y=right,z=forward",P1,walk\n')
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "bids"), str(manifest), "--out", str(out),
                 "--workers", "1", "--reports"]) == 0
    sessions = pd.read_parquet(out / "sessions.parquet")
    assert list(sessions["input_kind"]) == ["bids", "csv"]
    assert all((out / r).is_file() for r in sessions["report"])
    want = expected[str(src)]["cpd_deg"]
    for side in ("L", "R"):
        assert sessions[f"cpd_{side}_mean"].tolist() == pytest.approx([want[side]["mean"]] * 2,
                                                                      abs=1e-9)


def test_bad_inputs_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    loose = tmp_path / "loose.csv"
    loose.write_text("t_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n0,0,0,9.8,0,0,0\n")
    for args in (["batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
                 ["batch", str(loose), "--out", str(tmp_path / "o")],
                 ["batch", str(tmp_path), "--out", str(tmp_path / "o2"), "--workers", "0"]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("gaitimu batch: ") and "\n" not in err
