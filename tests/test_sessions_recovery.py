"""Crash safety and recovery: killed writers, truncated and corrupted logs (docs/sessions.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaitimu.cli import main
from gaitimu.errors import BadInputError
from gaitimu.sessions import SessionWriter, open_session
from gaitimu.sessions._chunks import HEADER_SIZE, MAGIC, scan_chunks

REPO = Path(__file__).resolve().parents[1]
META = {"sample_rate_hz": 200.0, "axes": "x=up,y=right,z=forward", "activity": "walk"}
BLOCK = 20  # samples per chunk in the fixtures below
SAMPLE_CHUNK_BYTES = HEADER_SIZE + BLOCK * 56


def _write_chunked(path: Path, n_blocks: int = 10, seed: int = 0):
    """A closed session with exactly one samples chunk per block of BLOCK samples."""
    rng = np.random.default_rng(seed)
    n = n_blocks * BLOCK
    t_s = np.arange(n) / 200.0
    acc, gyr = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    with SessionWriter(path, META, fsync=False) as w:
        for k in range(n_blocks):
            sl = slice(k * BLOCK, (k + 1) * BLOCK)
            w.write_samples(t_s[sl], acc[sl], gyr[sl])
            w.write_packet(k * 0.1, bytes([k]) * 30)
            w.flush()
    return t_s, acc, gyr


def _mark_unclosed(path: Path) -> None:
    meta = json.loads((path / "meta.json").read_text())
    meta["closed_cleanly"] = False
    (path / "meta.json").write_text(json.dumps(meta))


# ------------------------------------------------------------------------ truncation
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(0, 10 * SAMPLE_CHUNK_BYTES - 1))
def test_truncated_tail_keeps_every_complete_chunk(tmp_path_factory, cut):
    path = tmp_path_factory.mktemp("t") / "s"
    t_s, acc, _ = _write_chunked(path)
    _mark_unclosed(path)  # as after a crash
    with open(path / "samples.bin", "r+b") as f:
        f.truncate(cut)
    s = open_session(path)
    complete = cut // SAMPLE_CHUNK_BYTES
    assert s.n_samples == complete * BLOCK
    np.testing.assert_array_equal(s.t_s, t_s[: complete * BLOCK])
    np.testing.assert_array_equal(s.acc, acc[: complete * BLOCK])
    assert "not closed cleanly" in s.problems[0]
    partial = cut % SAMPLE_CHUNK_BYTES
    tail = [p for p in s.problems if "truncated tail" in p]
    if partial:
        assert len(tail) == 1
        assert f"at byte {complete * SAMPLE_CHUNK_BYTES} ({partial} bytes" in tail[0]
    else:
        assert not tail


def test_truncated_after_clean_close_is_reported(tmp_path):
    path = tmp_path / "s"
    _write_chunked(path)
    with open(path / "samples.bin", "r+b") as f:
        f.truncate(5 * SAMPLE_CHUNK_BYTES + 100)
    s = open_session(path)
    assert s.closed_cleanly and s.n_samples == 5 * BLOCK
    text = " | ".join(s.problems)
    assert "truncated tail" in text and "~20 samples lost" in text
    assert "metadata says 200 samples were written but 100 were recovered" in text


# ------------------------------------------------------------------------ corruption
@pytest.mark.parametrize("where", ["payload", "header", "magic"])
def test_corrupted_middle_chunk_is_skipped_and_reported(tmp_path, where):
    path = tmp_path / "s"
    t_s, _, gyr = _write_chunked(path)
    k = 4  # the chunk to damage
    offset = k * SAMPLE_CHUNK_BYTES + {"payload": HEADER_SIZE + 100, "header": 9, "magic": 1}[where]
    with open(path / "samples.bin", "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x10]))
    s = open_session(path)
    keep = np.ones(len(t_s), bool)
    keep[k * BLOCK : (k + 1) * BLOCK] = False
    np.testing.assert_array_equal(s.t_s, t_s[keep])
    np.testing.assert_array_equal(s.gyr, gyr[keep])
    bad = [p for p in s.problems if "corrupted data" in p]
    assert len(bad) == 1
    assert f"at byte {k * SAMPLE_CHUNK_BYTES} ({SAMPLE_CHUNK_BYTES} bytes" in bad[0]
    assert f"between t={t_s[k * BLOCK - 1]:.3f} s and t={t_s[(k + 1) * BLOCK]:.3f} s" in bad[0]
    # the hole left by the skipped chunk shows up as a gap
    assert len(s.gaps) == 1 and s.lost_samples == BLOCK


def test_garbage_inserted_in_the_middle_resyncs(tmp_path):
    path = tmp_path / "s"
    t_s, _, _ = _write_chunked(path)
    data = (path / "samples.bin").read_bytes()
    rng = np.random.default_rng(1)
    junk = rng.integers(0, 256, 333, dtype=np.uint8).tobytes() + MAGIC + b"\x00" * 7
    at = 3 * SAMPLE_CHUNK_BYTES
    (path / "samples.bin").write_bytes(data[:at] + junk + data[at:])
    s = open_session(path)
    np.testing.assert_array_equal(s.t_s, t_s)  # nothing lost: only the junk is skipped
    bad = [p for p in s.problems if "corrupted data" in p]
    assert len(bad) == 1 and f"at byte {at} ({len(junk)} bytes)" in bad[0]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    flips=st.lists(st.integers(0, 10 * SAMPLE_CHUNK_BYTES - 1), min_size=1, max_size=4, unique=True)
)
def test_random_bit_flips_never_crash_and_lose_only_hit_chunks(tmp_path_factory, flips):
    path = tmp_path_factory.mktemp("f") / "s"
    t_s, acc, _ = _write_chunked(path)
    buf = bytearray((path / "samples.bin").read_bytes())
    for pos in flips:
        buf[pos] ^= 0x01
    (path / "samples.bin").write_bytes(bytes(buf))
    s = open_session(path)
    hit = {pos // SAMPLE_CHUNK_BYTES for pos in flips}
    keep = np.ones(len(t_s), bool)
    for k in hit:
        keep[k * BLOCK : (k + 1) * BLOCK] = False
    np.testing.assert_array_equal(s.t_s, t_s[keep])
    np.testing.assert_array_equal(s.acc, acc[keep])
    assert any("corrupted data" in p for p in s.problems)


def test_corrupted_packets_and_events_are_reported(tmp_path):
    path = tmp_path / "s"
    with SessionWriter(path, META, fsync=False) as w:
        for k in range(5):
            w.write_packet(k * 0.1, bytes([k]) * 40)
            w.flush()
        w.add_event({"kind": "gap", "start_s": 1.0, "end_s": 1.5, "lost_samples": 99})
        w.add_event({"kind": "note", "text": "x"})
    for name in ("packets.bin", "events.bin"):
        buf = bytearray((path / name).read_bytes())
        buf[HEADER_SIZE + 2] ^= 0xFF  # first chunk's payload
        (path / name).write_bytes(bytes(buf))
    s = open_session(path)
    assert s.packets()[1] == [bytes([k]) * 40 for k in range(1, 5)]
    assert [e["kind"] for e in s.events] == ["note"]
    text = " | ".join(s.problems)
    assert "packets.bin: corrupted data" in text and "events.bin: corrupted data" in text


def test_scan_of_random_bytes_finds_nothing_and_never_raises():
    rng = np.random.default_rng(7)
    res = scan_chunks(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    assert res.chunks == [] and sum(b.length for b in res.bad) == 50_000


# ------------------------------------------------------------------------ metadata damage
def test_missing_and_corrupted_meta(tmp_path):
    path = tmp_path / "s"
    _write_chunked(path)
    (path / "meta.json").write_text('{"format": "gaitimu-session", "format_ver')
    with pytest.raises(BadInputError, match="corrupted session metadata"):
        open_session(path)
    (path / "meta.json").unlink()
    with pytest.raises(BadInputError, match=r"no meta\.json"):
        open_session(path)


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "s"
    _write_chunked(path)
    meta = json.loads((path / "meta.json").read_text())
    meta["format_version"] = 99
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BadInputError, match="format version 99 is newer"):
        open_session(path)


# ------------------------------------------------------------------------ SIGKILL
_CHILD = r"""
import sys, time
import numpy as np
from gaitimu.sessions import SessionWriter
path, rate, block = sys.argv[1], 200.0, 10
rng = np.random.default_rng(0)
with SessionWriter(path, {"sample_rate_hz": rate, "axes": "x=up,y=right,z=forward",
                          "source": "record"}) as w:
    i, t0 = 0, time.monotonic()
    while True:
        t = np.arange(i, i + block) / rate
        w.write_samples(t, rng.normal(size=(block, 3)), rng.normal(size=(block, 3)))
        w.write_packet(time.monotonic() - t0, bytes(10 + 12 * block))
        i += block
        print(i, flush=True)
        # never faster than real time, like a sensor stream (no catching up after a stall,
        # so a loaded machine cannot hand over more than real time between two flushes)
        time.sleep(block / rate)
"""


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_loses_at_most_one_second(tmp_path, seed):
    path = tmp_path / "rec.gaitimu"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is running
        assert first.strip(), "child writer did not start"
        time.sleep(np.random.default_rng(seed).uniform(0.8, 2.5))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    handed = int((first + rest).split()[-1])  # samples handed to the writer, at least
    s = open_session(path)
    assert not s.closed_cleanly
    assert "not closed cleanly" in s.problems[0]
    rate = 200.0
    assert s.n_samples >= handed - rate * 1.0, (s.n_samples, handed)
    assert s.n_samples <= handed + 10
    np.testing.assert_array_equal(s.t_s, np.arange(s.n_samples) / rate)
    assert s.packets()[0].size > 0
    # and the CLI says so too
    assert main(["info", str(path)]) == 0


def test_info_reports_unclean_session(tmp_path, capsys):
    path = tmp_path / "s"
    _write_chunked(path)
    _mark_unclosed(path)
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["closed_cleanly"] is False
    assert "not closed cleanly" in info["problems"][0]
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "NOT cleanly" in out and "not closed cleanly" in out


def test_packet_chunk_with_inconsistent_lengths_is_skipped(tmp_path):
    import struct

    from gaitimu.sessions._chunks import KIND_PACKETS, encode_chunk

    path = tmp_path / "s"
    with SessionWriter(path, META, fsync=False) as w:
        w.write_packet(0.0, b"good")
    # a checksummed chunk whose declared lengths do not add up (a writer bug, not damage)
    payload = struct.pack("<dI", 1.0, 99) + b"short"
    with open(path / "packets.bin", "ab") as f:
        f.write(encode_chunk(KIND_PACKETS, 1, 1, payload))
    s = open_session(path)
    t, data = s.packets()
    assert data == [b"good"] and t.tolist() == [0.0]
    assert any("inconsistent packet lengths" in p for p in s.problems)
