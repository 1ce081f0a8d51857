"""Acceptance tests of `record`, end to end: bleak -> bumble radio -> virtual sensor -> session.

Where timing is not the point the virtual sensor runs faster than real time (``speed``); the
60 s real-time test is marked slow (still run in CI).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gaitimu.sensors import protocol as P
from gaitimu.sensors.bumble_backend import VirtualRadio, make_backends
from gaitimu.sensors.client import Recorder, RecordOptions
from gaitimu.sensors.virtual import VIRTUAL_NAME, Faults, VirtualSensor
from gaitimu.sessions import open_session

pytest.importorskip("bumble")
REPO = Path(__file__).resolve().parents[1]


async def _record(out: Path, *, duration_s: float, sensor_kwargs=None, during=None,
                  correct_drift: bool = True, rate_hz: int = 200):
    """Record from a fresh virtual sensor; ``during(sensor)`` runs alongside (fault injection)."""
    from bumble.link import LocalLink

    link = LocalLink()
    sensor = VirtualSensor(link, **(sensor_kwargs or {}))
    await sensor.start()
    scanner_cls, client_cls = make_backends(VirtualRadio(link))
    rec = Recorder(RecordOptions(out=out, device=VIRTUAL_NAME, duration_s=duration_s,
                                 rate_hz=rate_hz, correct_drift=correct_drift, subject="S01",
                                 activity="walk"),
                   scanner_backend=scanner_cls, client_backend=client_cls)
    side = asyncio.ensure_future(during(sensor)) if during else None
    try:
        result = await rec.run()
    finally:
        if side:
            side.cancel()
        await sensor.stop()
    return result, sensor


def _sent_indices(sensor) -> np.ndarray:
    return np.concatenate([np.arange(k, k + n) for k, n in sensor.sent_log])


def _expected_physical(sensor, idx: np.ndarray):
    raw = np.concatenate([sensor.source.read(int(k), 1) for k in idx])
    return P.raw_to_physical(raw, sensor.config.scales)


def _assert_equals_source(session, sensor):
    """Every recorded sample is the source sample it claims to be, in order, none twice."""
    idx = _sent_indices(sensor)[: session.t_s.size]
    assert np.all(np.diff(idx) > 0)
    acc, gyr = _expected_physical(sensor, idx)
    np.testing.assert_array_equal(session.acc, acc)
    np.testing.assert_array_equal(session.gyr, gyr)
    assert np.all(np.diff(session.t_s) > 0)
    return idx


def test_record_fast_session_equals_source(tmp_path):
    out = tmp_path / "fast.gaitimu"
    res, sensor = asyncio.run(_record(out, duration_s=20, sensor_kwargs={"speed": 10.0},
                                      correct_drift=False))
    s = open_session(out)
    assert res.n_samples == s.t_s.size == 4000
    assert res.stats["lost_samples"] == 0 and s.lost_samples == 0 and s.gaps == []
    _assert_equals_source(s, sensor)
    np.testing.assert_allclose(np.diff(s.t_s), 1 / 200, atol=1e-9)
    assert s.problems == [] and s.closed_cleanly
    m = s.meta
    assert m["source"] == "record" and m["sample_rate_hz"] == 200
    assert m["sensor"]["name"] == VIRTUAL_NAME and m["sensor"]["protocol_version"] == 1
    assert m["subject"] == "S01" and m["activity"] == "walk" and m["battery_pct"] == 87
    _, packets = s.packets()  # the raw packets are kept for replay
    assert len(packets) == res.stats["received"]
    assert P.decode_packet(packets[0]).seq == 0


@pytest.mark.slow
def test_record_60s_realtime_200hz_zero_loss_drift_corrected(tmp_path):
    out = tmp_path / "rt.gaitimu"
    drift_ppm = 60.0  # the sensor crystal runs fast; uncorrected that is 3.6 ms per minute
    res, sensor = asyncio.run(_record(out, duration_s=60,
                                      sensor_kwargs={"clock_drift_ppm": drift_ppm}))
    s = open_session(out)
    assert s.t_s.size == 12000 and res.stats["lost_samples"] == 0 and s.lost_samples == 0
    idx = _assert_equals_source(s, sensor)
    true_t = idx / (200 * (1 + drift_ppm * 1e-6))  # when the source took each sample
    err_s = (s.t_s - s.t_s[0]) - (true_t - true_t[0])
    # Uncorrected, the drift is 3.6 ms at the end. On a quiet machine the residual stays
    # well under 1 ms; with the other xdist worker busy (CLI subprocesses) the arrival
    # latencies that the lower envelope rests on were seen at 1.09-1.15 ms. Half the
    # uncorrected error is the bound: it fails whenever the correction does not work.
    assert np.abs(err_s).max() < 1.8e-3, f"timing error {1e3 * np.abs(err_s).max():.2f} ms"
    assert res.drift_ppm == pytest.approx(-drift_ppm, abs=15)


def test_forced_disconnect_reconnects_and_records_the_gap(tmp_path):
    out = tmp_path / "drop.gaitimu"
    away_s = 3.0

    async def drop(sensor):
        await asyncio.sleep(2.0)
        await sensor.drop_link(away_s)

    res, sensor = asyncio.run(_record(out, duration_s=8, during=drop))
    s = open_session(out)
    assert res.reconnects == 1
    idx = _assert_equals_source(s, sensor)  # no duplicates, no reordering
    missing = int(idx[-1] - idx[0] + 1 - idx.size)
    gaps = [e for e in s.events if e["kind"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["lost_samples"] == missing == s.lost_samples
    assert away_s <= gaps[0]["duration_s"] < away_s + 1.5
    assert len(s.gaps) == 1
    start, end = s.gaps[0]
    assert end - start == pytest.approx(gaps[0]["duration_s"], abs=0.02)
    kinds = [e["kind"] for e in s.events]
    assert "link_lost" in kinds and "reconnected" in kinds
    assert s.t_s[-1] - s.t_s[0] == pytest.approx(8 - 1 / 200, abs=0.05)  # the gap counts


def test_two_percent_packet_loss_is_reported_within_0_1_percent(tmp_path):
    out = tmp_path / "loss.gaitimu"
    res, sensor = asyncio.run(_record(
        out, duration_s=60, correct_drift=False,
        sensor_kwargs={"speed": 20.0, "faults": Faults(loss_fraction=0.02, seed=11)}))
    sent = _sent_indices(sensor)
    dropped = [k for k, _ in sensor.dropped_log if sent[0] < k < sent[-1]]
    true_loss = len(dropped) * sensor.config.samples_per_packet / (sent[-1] - sent[0] + 1)
    s = open_session(out)
    reported = res.stats["loss_fraction"]
    assert abs(reported - true_loss) < 0.001
    assert abs(s.lost_samples / (s.lost_samples + s.t_s.size) - true_loss) < 0.001
    assert 0.005 < true_loss < 0.04  # the fault was really injected
    assert res.stats["overflow_flags"] > 0  # the sensor flagged its buffer overflows
    _assert_equals_source(s, sensor)


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-m", "gaitimu", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_samples(path: Path, timeout_s: float = 20.0) -> None:
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        f = path / "samples.bin"
        if f.exists() and f.stat().st_size > 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"no samples written to {path} within {timeout_s} s")


def test_sigkill_mid_stream_loses_at_most_one_second(tmp_path):
    out = tmp_path / "killed.gaitimu"
    proc = _cli("record", "--device", "virtual", "--duration", "60", "--out", str(out))
    try:
        _wait_for_samples(out)
        time.sleep(2.0)
        proc.send_signal(signal.SIGKILL)
        killed_utc = dt.datetime.now(dt.UTC)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    s = open_session(out)
    assert not s.closed_cleanly and s.problems
    created = dt.datetime.fromisoformat(s.meta["created_utc"].replace("Z", "+00:00"))
    streamed_s = (killed_utc - created).total_seconds()
    assert s.t_s.size > 200
    assert streamed_s - s.t_s[-1] <= 1.0, f"lost {streamed_s - s.t_s[-1]:.2f} s"
    assert np.all(np.diff(s.t_s) > 0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_cleanly(tmp_path, sig):
    out = tmp_path / "stopped.gaitimu"
    proc = _cli("record", "--device", "virtual", "--out", str(out), "--subject", "P7")
    try:
        _wait_for_samples(out)
        time.sleep(1.0)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"stopped by {signal.Signals(sig).name}" in stdout
    s = open_session(out)
    assert s.closed_cleanly and s.meta["stopped_by"] == signal.Signals(sig).name
    assert s.meta["subject"] == "P7" and s.t_s.size > 100


def test_cli_device_failure_is_one_line_exit_3(tmp_path):
    proc = _cli("record", "--device", "AA:BB:CC:DD:EE:FF", "--duration", "1",
                "--out", str(tmp_path / "none.gaitimu"))
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_cli_record_virtual_and_info(tmp_path):
    out = tmp_path / "cli.gaitimu"
    proc = _cli("record", "--device", "virtual", "--duration", "2", "--rate", "100",
                "--out", str(out), "--activity", "run", "--notes", "demo")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "recorded 200 samples" in stdout
    s = open_session(out)
    assert s.sample_rate_hz == 100 and s.meta["notes"] == "demo" and s.meta["activity"] == "run"
    json.dumps(s.meta)  # JSON-serialisable metadata


def test_sensor_reboot_mid_record_is_a_gap_on_the_host_clock(tmp_path):
    out = tmp_path / "reboot.gaitimu"

    async def reboot(sensor):
        await asyncio.sleep(2.0)
        await sensor.drop_link(1.0, reboot=True)

    res, _sensor = asyncio.run(_record(out, duration_s=6, during=reboot))
    s = open_session(out)
    kinds = [e["kind"] for e in s.events]
    assert "clock_reset" in kinds and res.reconnects == 1
    gaps = [e for e in s.events if e["kind"] == "gap"]
    assert len(gaps) == 1 and 1.0 <= gaps[0]["duration_s"] < 2.5
    assert np.all(np.diff(s.t_s) > 0)
    assert s.t_s.size + gaps[0]["lost_samples"] == 1200  # the duration counts the gap
