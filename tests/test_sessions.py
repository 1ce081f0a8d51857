"""Session writer/reader round trips and metadata (docs/sessions.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaitimu import __version__
from gaitimu.errors import BadInputError
from gaitimu.sessions import FORMAT_NAME, FORMAT_VERSION, SessionWriter, open_session

META = {
    "source": "simulate",
    "sensor": {"name": "virtual", "model": "sim", "firmware": "1.0", "protocol_version": 1},
    "sample_rate_hz": 200.0,
    "acc_range_g": 16,
    "gyr_range_dps": 2000,
    "axes": "x=up,y=right,z=forward",
    "subject": "S01",
    "activity": "walk",
    "notes": "test",
    "calibration": {"gyr_bias_dps": [0.1, 0.2, 0.3]},
}


def _signals(n: int, rate_hz: float = 200.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    t_s = np.arange(n) / rate_hz
    acc = rng.normal(0, 3, (n, 3)) + np.array([9.81, 0, 0])
    gyr = rng.normal(0, 50, (n, 3))
    return t_s, acc, gyr


def test_round_trip_everything(tmp_path):
    path = tmp_path / "walk.gaitimu"
    t_s, acc, gyr = _signals(2000)
    pk_t = np.arange(200) * 0.05 + 0.001
    pk = [bytes([i % 256]) * (10 + i % 7) for i in range(200)]
    truth = {"events": [{"side": "L", "ic_s": 0.5, "fc_s": 1.1}], "cpd_left_deg": 4.0}
    with SessionWriter(path, META) as w:
        for i in range(0, 2000, 10):
            w.write_samples(t_s[i : i + 10], acc[i : i + 10], gyr[i : i + 10])
            w.write_packet(pk_t[i // 10], pk[i // 10])
        w.add_event({"kind": "gap", "start_s": 3.0, "end_s": 3.2, "lost_samples": 39})
        w.add_event({"kind": "note", "text": "battery low"})
        w.update_meta({"battery_pct": 87})
        w.write_truth(truth, {"t_s": t_s, "obliquity_deg": np.sin(t_s)})
    s = open_session(path)
    assert s.problems == []
    assert s.closed_cleanly
    np.testing.assert_array_equal(s.t_s, t_s)
    np.testing.assert_array_equal(s.acc, acc)
    np.testing.assert_array_equal(s.gyr, gyr)
    assert s.t_s.dtype == s.acc.dtype == s.gyr.dtype == np.float64
    assert s.acc.flags.c_contiguous and s.gyr.flags.c_contiguous
    t_host, data = s.packets()
    np.testing.assert_array_equal(t_host, pk_t)
    assert data == pk
    assert list(s.iter_packets()) == list(zip(pk_t.tolist(), pk, strict=True))
    assert [e["kind"] for e in s.events] == ["gap", "note"]
    assert s.gaps == [(3.0, 3.2)]
    assert s.lost_samples == 39
    assert s.sample_rate_hz == 200.0
    assert s.axes == META["axes"]
    assert s.duration_s == pytest.approx(10.0)
    assert s.truth == truth
    np.testing.assert_array_equal(s.truth_arrays["obliquity_deg"], np.sin(t_s))
    m = s.meta
    assert m["format"] == FORMAT_NAME and m["format_version"] == FORMAT_VERSION
    assert m["software_version"] == __version__ and m["created_utc"].endswith("Z")
    assert m["battery_pct"] == 87 and m["subject"] == "S01" and m["sensor"]["firmware"] == "1.0"
    assert m["n_samples"] == 2000 and m["n_packets"] == 200 and m["n_events"] == 2


def test_empty_session_opens(tmp_path):
    with SessionWriter(tmp_path / "e", META):
        pass
    s = open_session(tmp_path / "e")
    assert s.n_samples == 0 and s.duration_s == 0.0 and s.problems == []
    assert s.acc.shape == (0, 3)
    assert s.packets()[0].shape == (0,)


def test_timestamp_holes_become_gaps(tmp_path):
    t_s, acc, gyr = _signals(1000)
    keep = np.ones(1000, bool)
    keep[400:420] = False  # 20 samples lost, no event
    with SessionWriter(tmp_path / "g", META) as w:
        w.write_samples(t_s[keep], acc[keep], gyr[keep])
    s = open_session(tmp_path / "g")
    assert s.gaps == [(pytest.approx(t_s[399]), pytest.approx(t_s[420]))]
    assert s.lost_samples == 20


def test_gap_event_not_double_counted(tmp_path):
    t_s, acc, gyr = _signals(1000)
    keep = np.ones(1000, bool)
    keep[400:420] = False
    with SessionWriter(tmp_path / "g", META) as w:
        w.write_samples(t_s[keep], acc[keep], gyr[keep])
        w.add_event({"kind": "gap", "start_s": t_s[400], "end_s": t_s[419], "lost_samples": 20})
    s = open_session(tmp_path / "g")
    assert len(s.gaps) == 1 and s.lost_samples == 20


def test_writer_refuses_existing_session(tmp_path):
    with SessionWriter(tmp_path / "s", META):
        pass
    with pytest.raises(BadInputError, match="already exists"):
        SessionWriter(tmp_path / "s", META)


def test_writer_accepts_empty_existing_dir_and_any_name(tmp_path):
    (tmp_path / "plain_dir").mkdir()
    with SessionWriter(tmp_path / "plain_dir", META) as w:
        w.write_samples(*_signals(10))
    assert open_session(tmp_path / "plain_dir").n_samples == 10


def test_writer_rejects_bad_shapes(tmp_path):
    with SessionWriter(tmp_path / "s", META) as w, pytest.raises(ValueError, match="expected"):
        w.write_samples(np.zeros(3), np.zeros((3, 2)), np.zeros((3, 3)))


def test_meta_is_written_atomically_and_valid_while_open(tmp_path):
    path = tmp_path / "s"
    w = SessionWriter(path, META)
    meta = json.loads((path / "meta.json").read_text())
    assert meta["closed_cleanly"] is False
    w.update_meta({"notes": "changed"})
    assert json.loads((path / "meta.json").read_text())["notes"] == "changed"
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
    w.close()
    w.close()  # idempotent
    assert json.loads((path / "meta.json").read_text())["closed_cleanly"] is True


def test_background_flush_without_further_writes(tmp_path):
    """Data handed to the writer reaches the file within ~flush_interval_s, even when idle."""
    import time

    path = tmp_path / "s"
    w = SessionWriter(path, META, flush_interval_s=0.1, fsync=False)
    w.write_samples(*_signals(5))
    time.sleep(0.4)
    s = open_session(path)
    assert s.n_samples == 5 and not s.closed_cleanly
    assert "not closed cleanly" in s.problems[0]
    w.close()


def test_exception_inside_with_still_closes(tmp_path):
    with pytest.raises(RuntimeError), SessionWriter(tmp_path / "s", META) as w:
        w.write_samples(*_signals(50))
        raise RuntimeError("boom")
    s = open_session(tmp_path / "s")
    assert s.n_samples == 50 and s.closed_cleanly
    assert "boom" in s.meta["close_reason"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    blocks=st.lists(st.integers(0, 40), min_size=0, max_size=15),
    packet_sizes=st.lists(st.integers(0, 244), min_size=0, max_size=20),
    seed=st.integers(0, 2**16),
)
def test_round_trip_property(tmp_path_factory, blocks, packet_sizes, seed):
    path = tmp_path_factory.mktemp("h") / "s"
    rng = np.random.default_rng(seed)
    n = sum(blocks)
    t_s = np.cumsum(rng.uniform(0.001, 0.01, n))
    acc, gyr = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) * 1e3
    pk = [rng.integers(0, 256, k, dtype=np.uint8).tobytes() for k in packet_sizes]
    pk_t = np.sort(rng.uniform(0, 10, len(pk)))
    with SessionWriter(path, META, fsync=False) as w:
        i = 0
        for b in blocks:
            w.write_samples(t_s[i : i + b], acc[i : i + b], gyr[i : i + b])
            i += b
        if pk:
            w.write_packets(pk_t, pk)
    s = open_session(path)
    np.testing.assert_array_equal(s.t_s, t_s)
    np.testing.assert_array_equal(s.acc, acc)
    np.testing.assert_array_equal(s.gyr, gyr)
    t_host, data = s.packets()
    assert data == pk
    np.testing.assert_array_equal(t_host, pk_t)


def test_large_batches_are_split_into_bounded_chunks(tmp_path):
    from gaitimu.sessions._chunks import scan_chunks

    n = 50_000
    t_s, acc, gyr = _signals(n)
    pk = [bytes([i % 256]) * 200 for i in range(12_000)]  # 2.4 MB of packets
    with SessionWriter(tmp_path / "s", META, fsync=False) as w:
        w.write_samples(t_s, acc, gyr)
        w.write_packets(np.arange(len(pk)) * 0.01, pk)
    sc = scan_chunks((tmp_path / "s" / "samples.bin").read_bytes()).chunks
    pc = scan_chunks((tmp_path / "s" / "packets.bin").read_bytes()).chunks
    assert len(sc) == 13 and max(c.count for c in sc) <= 4096
    assert len(pc) >= 3 and max(c.length for c in pc) <= (1 << 20) + 12 * 6000
    s = open_session(tmp_path / "s")
    np.testing.assert_array_equal(s.gyr, gyr)
    assert s.packets()[1] == pk


def test_disk_error_is_a_clear_gaitimu_error_and_session_stays_readable(tmp_path, monkeypatch):
    import errno
    import os

    from gaitimu.sessions.writer import SessionWriteError

    path = tmp_path / "s"
    w = SessionWriter(path, META, fsync=False)
    t_s, acc, gyr = _signals(100)
    w.write_samples(t_s[:50], acc[:50], gyr[:50])
    w.flush()
    real_write = os.write

    def full(fd, data):
        real_write(fd, bytes(data)[:37])  # a partial chunk reaches the disk, then ENOSPC
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    w.write_samples(t_s[50:], acc[50:], gyr[50:])
    with pytest.raises(SessionWriteError, match="No space left on device"):
        w.flush()
    monkeypatch.setattr(os, "write", real_write)
    w.close()  # the data kept in memory is written once the disk accepts it again
    s = open_session(path)
    np.testing.assert_array_equal(s.t_s, t_s)
    assert len(s.problems) == 1
    assert "incomplete write at byte" in s.problems[0] and "(37 bytes)" in s.problems[0]
    assert "nothing lost" in s.problems[0]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    holes=st.lists(st.tuples(st.integers(1, 40), st.booleans(), st.booleans()), max_size=12),
    seed=st.integers(0, 1000),
)
def test_gap_accounting_property(tmp_path_factory, holes, seed):
    """Holes are counted once whether or not an event describes them, in either convention
    (start at the last good sample, as the simulator writes, or at the first missing one, as
    the recorder writes)."""
    rate = 200.0
    n = 3000
    t_all = np.arange(n) / rate
    keep = np.ones(n, bool)
    events = []
    pos = 10
    rng = np.random.default_rng(seed)
    n_holes = 0
    for length, with_event, first_missing in holes:
        pos += int(rng.integers(2, 150))
        if pos + length >= n - 2:
            break
        keep[pos : pos + length] = False
        n_holes += 1
        if with_event:
            start = t_all[pos] if first_missing else t_all[pos - 1]
            events.append(
                {
                    "kind": "gap",
                    "start_s": start,
                    "end_s": t_all[pos + length],
                    "lost_samples": length,
                }
            )
        pos += length
    path = tmp_path_factory.mktemp("g") / "s"
    t_s, acc, gyr = _signals(n, rate, seed)
    with SessionWriter(path, META, fsync=False) as w:
        w.write_samples(t_s[keep], acc[keep], gyr[keep])
        for ev in events:
            w.add_event(ev)
    s = open_session(path)
    assert s.lost_samples == int((~keep).sum())
    assert len(s.gaps) == n_holes
