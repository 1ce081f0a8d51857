"""gaitimu replay: pacing, clean stop, CLI, errors; the streaming driver's invariants."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest

from gaitimu.cli import main
from gaitimu.errors import BadInputError
from gaitimu.live.replay import iter_packets, replay_session, synthesize_packets
from gaitimu.live.stream import StreamConfig, StreamingAnalyzer, _Ring
from gaitimu.sensors import protocol as P
from gaitimu.sessions import open_session
from gaitimu.simulate import SimConfig, simulate, write_session


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "walk"
    write_session(simulate(SimConfig(activity="walk", duration_s=40, cpd_left_deg=4,
                                     cpd_right_deg=8, seed=21)), path)
    return path


def test_iter_packets_paces_by_host_time():
    t = np.arange(0, 1.0, 0.02)  # 1 s of packets
    data = [b"x"] * t.size

    async def run(speed):
        t0 = time.monotonic()
        out = [item async for item in iter_packets(t, data, speed=speed)]
        return time.monotonic() - t0, out

    wall, out = asyncio.run(run(4.0))
    assert len(out) == t.size and out[0][0] == 0.0
    assert 0.2 <= wall < 0.6  # 1 s of data at 4x
    wall_max, _ = asyncio.run(run(None))
    assert wall_max < 0.1
    with pytest.raises(BadInputError):
        asyncio.run(run(0.0))


def test_synthesized_packets_decode_to_the_samples():
    rng = np.random.default_rng(0)
    n = 101
    t = np.arange(n) / 200.0
    acc = rng.normal(0, 5, (n, 3))
    gyr = rng.normal(0, 100, (n, 3))
    scales = P.Scales()
    host, data = synthesize_packets(t, acc, gyr, scales=scales, samples_per_packet=4)
    dec = P.StreamDecoder(200.0)
    blocks = [dec.feed(d, h) for h, d in zip(host, data, strict=True)]
    raw = np.concatenate([b.raw for b in blocks])
    a, g = P.raw_to_physical(raw, scales)
    np.testing.assert_allclose(a, acc, atol=scales.acc_per_lsb / 2 + 1e-12)
    np.testing.assert_allclose(g, gyr, atol=scales.gyr_per_lsb / 2 + 1e-12)
    st = np.concatenate([b.sensor_t_s for b in blocks])
    np.testing.assert_allclose(st, t, atol=1e-6)
    assert dec.stats.lost_samples == 0


def test_stop_event_stops_cleanly_and_writes_rows(walk, tmp_path):
    csv = tmp_path / "strides.csv"

    async def run():
        stop = asyncio.Event()
        seen = []

        def on_rows(rows):
            seen.append(len(rows))
            if sum(seen) >= 10:
                stop.set()

        res = await replay_session(walk, speed=None, config=StreamConfig(), on_rows=on_rows,
                                   strides_csv=csv, stop=stop)
        return res

    res = asyncio.run(run())
    assert res.stopped_by == "stopped"
    assert res.n_samples < open_session(walk).n_samples
    rows = pd.read_csv(csv)
    assert len(rows) >= 10 and rows["ic_s"].is_monotonic_increasing


def test_paced_replay_takes_the_session_time(walk):
    """speed 20: ~40 s of data in ~2 s; rows arrive during the replay."""
    got = []

    async def run():
        return await replay_session(walk, speed=20.0,
                                    on_rows=lambda r: got.append(time.monotonic()))

    t0 = time.monotonic()
    res = asyncio.run(run())
    wall = time.monotonic() - t0
    assert 1.5 < wall < 6.0
    assert len(got) >= 3 and got[0] - t0 < 0.9 * wall  # not everything at the end
    assert res.stopped_by == "end" and len(res.strides) > 20


def test_cli_replay_max_writes_csv(walk, tmp_path, capsys):
    csv = tmp_path / "s.csv"
    assert main(["replay", str(walk), "--max", "--strides", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "stride rows" in out and "left" in out and "right" in out
    rows = pd.read_csv(csv)
    assert {"side", "ic_s", "fc_s", "next_ic_s", "cpd_ic_deg", "cpd_standing_deg",
            "valid"} <= set(rows.columns)
    from gaitimu.pipeline import analyze_session

    offline = analyze_session(open_session(walk)).strides
    assert len(rows) == len(offline)
    assert (rows["side"].to_numpy() == offline["side"].to_numpy()).all()


def test_cli_replay_prints_rows_when_paced(walk, capsys):
    assert main(["replay", str(walk), "--speed", "40"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum(" CPD " in line for line in out) > 20


def test_cli_replay_errors(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["replay", str(tmp_path), "--speed", "-2"]) == 2
    with pytest.raises(SystemExit) as e:  # mutually exclusive options: usage error
        main(["replay", "x", "--speed", "2", "--max"])
    assert e.value.code == 2


def test_ring_buffer_keeps_the_newest_rows():
    r = _Ring(5, 2)
    for k in range(7):
        r.extend(np.array([[k, k], [k + 0.5, k + 0.5]]))
        v = r.view()
        assert v.shape[0] == min(2 * (k + 1), 5)
        assert v[-1, 0] == k + 0.5
    r.extend(np.arange(20, dtype=float).reshape(10, 2))
    np.testing.assert_array_equal(r.view()[:, 0], [10, 12, 14, 16, 18])


def test_streaming_memory_is_bounded(walk):
    """The buffers do not grow with the stream: only the emitted rows do."""
    s = open_session(walk)
    sa = StreamingAnalyzer(sampling_rate_hz=s.sample_rate_hz, axes=s.axes,
                           config=StreamConfig.throughput())
    caps = set()
    for _ in range(3):  # feed the session 3 times in a row (time shifted)
        for i in range(0, s.n_samples, 50):
            sa.push(s.t_s[i : i + 50] + _ * s.duration_s, s.acc[i : i + 50], s.gyr[i : i + 50])
        caps.add(sa._ring.buf.shape)
        assert sa._raw_t.size < 10 and not sa._cal
    assert len(caps) == 1
    sa.flush()
    assert len(sa.strides) > 100


def test_streaming_rejects_bad_blocks():
    sa = StreamingAnalyzer(sampling_rate_hz=100.0)
    with pytest.raises(BadInputError):
        sa.push(np.arange(3.0), np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(BadInputError):
        StreamingAnalyzer(sampling_rate_hz=10.0)
    with pytest.raises(BadInputError):
        StreamingAnalyzer(sampling_rate_hz=100.0, config=StreamConfig(window_s=5.0))
    assert sa.flush().empty  # nothing fed: no rows, no error


def test_ctrl_c_stops_cleanly_and_writes_csv(walk, tmp_path):
    """SIGINT during a paced replay: exit 0, no traceback, the rows so far in the CSV."""
    import os
    import signal
    import subprocess
    import sys

    csv = tmp_path / "part.csv"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gaitimu", "replay", str(walk), "--speed", "5",
         "--strides", str(csv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    lines = []
    while len(lines) < 5:  # wait for the first rows
        line = proc.stdout.readline().decode()
        assert line, proc.stderr.read().decode()
        if " CPD " in line:
            lines.append(line)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert b"stopped early" in out
    rows = pd.read_csv(csv)
    assert 5 <= len(rows) < 60


def test_cli_stage_warnings_are_not_repeated(walk, capsys):
    assert main(["replay", str(walk), "--max"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(set(err))  # a detector warning is not printed once per window
