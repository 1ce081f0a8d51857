"""The WitMotion WT901BLECL / BWT901BLE5.0 adapter over its virtual twin, end to end.

The twin (`gaitimu.sensors.virtual_witmotion`) speaks the device's protocol byte for byte on
the bumble radio; the recorder reaches it through bleak as it would the real sensor. Runs the
twin faster than real time (``speed``) where timing is the source's own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitimu.sensors import protocol as P
from gaitimu.sensors.adapters import adapter_for, decoder_for, kind_of
from gaitimu.sensors.adapters import witmotion as W

REPO = Path(__file__).resolve().parents[1]
RATE = 200


def _frames(raw: np.ndarray) -> list[bytes]:
    return [W.encode_frame(r, a) for r, a in zip(raw, W.angles_lsb(raw), strict=True)]


# =========================================================================== protocol
def test_frame_layout_and_commands_are_the_documented_bytes():
    raw = np.array([[2048, -2048, 0, 16384, -1, 32767]], np.int16)
    f = W.encode_frame(raw[0], np.array([16384, 0, -16384], np.int16))
    assert f.hex() == "5561" "0008" "00f8" "0000" "0040" "ffff" "ff7f" "0040" "0000" "00c0"
    assert len(f) == W.FRAME_SIZE == 20
    acc, gyr = P.raw_to_physical(W.split_frames(f).raw, W.SCALES)
    np.testing.assert_allclose(acc[0], [1.0 * 9.80665, -9.80665, 0], rtol=1e-3)
    np.testing.assert_allclose(gyr[0], [1000.0, -2000 / 32768, 2000 * 32767 / 32768])
    assert W.UNLOCK.hex() == "ffaa6988b5" and W.SAVE.hex() == "ffaa000000"
    assert W.write_register(W.REG_RATE, W.RATE_CODES[200]).hex() == "ffaa030b00"
    assert W.read_register(W.REG_BATTERY).hex() == "ffaa276400"
    a = adapter_for("witmotion")
    assert a.configure_commands(200, 16, 2000) == [W.UNLOCK, bytes.fromhex("ffaa030b00"), W.SAVE]


def test_kind_from_the_advertisement():
    assert kind_of("WT901BLE68", []) == "witmotion"
    assert kind_of(None, [W.SERVICE_UUID]) == "witmotion"
    assert kind_of("gaitimu-1", []) == "gaitimu"
    assert kind_of("Headphones", []) is None


def test_decoder_reassembles_split_and_batched_frames_and_skips_register_replies():
    raw = np.arange(5 * 6, dtype=np.int16).reshape(5, 6)
    stream = b"".join(_frames(raw[:2])) + W.encode_reply(W.REG_BATTERY, [395]) + b"".join(
        _frames(raw[2:]))
    dec = W.WitMotionDecoder(RATE)
    blocks = [dec.feed(stream[i:i + 13], 0.01 * i) for i in range(0, len(stream), 13)]
    got = [b for b in blocks if b is not None]
    np.testing.assert_array_equal(np.concatenate([b.raw for b in got]), raw)
    np.testing.assert_allclose(np.concatenate([b.sensor_t_s for b in got]), np.arange(5) / RATE)
    assert dec.stats.register_replies == 1 and dec.replies[W.REG_BATTERY][0] == 395
    assert dec.stats.samples == 5 and dec.stats.malformed == 0 and dec.stats.junk_bytes == 0


def test_reconnect_or_silence_starts_a_new_epoch():
    f = _frames(np.zeros((3, 6), np.int16))
    dec = W.WitMotionDecoder(RATE)
    assert dec.feed(f[0], 0.0).epoch == 0
    assert dec.feed(f[1], 0.5).epoch == 0
    assert dec.feed(f[2], 2.0).epoch == 1  # 1.5 s of silence
    dec.mark_reconnect()
    b = dec.feed(f[0], 2.01)
    assert b.epoch == 2 and b.sensor_t_s[0] == 0.0 and dec.stats.clock_resets == 2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=12), st.booleans())
def test_fuzzed_notifications_are_counted_never_a_crash(chunks, with_good):
    good = _frames(np.ones((2, 6), np.int16)) if with_good else []
    dec = W.WitMotionDecoder(RATE)
    n = 0
    for i, data in enumerate([*chunks, *good]):
        b = dec.feed(data, i * 0.005)
        if b is not None:
            assert b.raw.shape == (b.n, 6) and b.sensor_t_s.shape == (b.n,)
            n += b.n
    s = dec.stats
    assert s.received == len(chunks) + len(good) and s.samples == n
    assert s.accepted + s.malformed <= s.received
    assert n >= (1 if with_good else 0)  # resynchronises on the next good frame


def test_replay_decoder_follows_the_session_kind():
    assert isinstance(decoder_for({"sensor": {"kind": "witmotion"}}, RATE), W.WitMotionDecoder)
    assert isinstance(decoder_for({"sensor": {"name": "x"}}, RATE), P.StreamDecoder)


# =========================================================================== over the twin
pytest.importorskip("bumble")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """60 s at 200 Hz (the device's highest rate) of a simulated walk from the twin at 6x."""
    from bumble.link import LocalLink

    from gaitimu.sensors.bumble_backend import VirtualRadio, make_backends
    from gaitimu.sensors.client import Recorder, RecordOptions
    from gaitimu.sensors.virtual_witmotion import VIRTUAL_NAME, VirtualWitMotion
    from gaitimu.simulate.source import simulated_factory

    out = tmp_path_factory.mktemp("wit") / "wit.gaitimu"

    async def main():
        link = LocalLink()
        twin = VirtualWitMotion(link, speed=6.0, source_from_stream_start=True,
                                source_factory=simulated_factory(
                                    "walk", duration_s=70, cpd_left_deg=3, cpd_right_deg=7))
        await twin.start()
        S, C = make_backends(VirtualRadio(link))
        try:
            res = await Recorder(RecordOptions(out=out, device=VIRTUAL_NAME, duration_s=60,
                                               rate_hz=RATE, activity="walk"),
                                 scanner_backend=S, client_backend=C).run()
        finally:
            await twin.stop()
        return res, twin

    res, twin = asyncio.run(main())
    return out, res, twin


def test_60s_at_200hz_zero_loss_equal_to_the_source_timing_within_1ms(recorded):
    from gaitimu.sessions import open_session

    out, res, twin = recorded
    s = open_session(out)
    assert s.t_s.size == 60 * RATE and res.stats["lost_samples"] == 0 and s.lost_samples == 0
    idx = np.array([k for k, _ in twin.sent_log])[: s.t_s.size]
    assert np.all(np.diff(idx) == 1)
    origin = twin.sent_log[0][0]  # the source starts with the stream (its quiet standing)
    raw = twin.source.read(int(idx[0] - origin), idx.size)
    acc, gyr = P.raw_to_physical(raw, W.SCALES)
    np.testing.assert_array_equal(s.acc, acc)
    np.testing.assert_array_equal(s.gyr, gyr)
    err = (s.t_s - s.t_s[0]) - (idx - idx[0]) / RATE
    assert np.abs(err).max() < 1e-3
    assert s.meta["sensor"]["kind"] == "witmotion" and s.sample_rate_hz == RATE
    _, packets = s.packets()
    assert len(packets) == res.stats["received"] and all(len(p) == 20 for p in packets)
    assert packets[0][:2] == b"\x55\x61"


def test_replay_decodes_with_the_adapter_identical_to_analyze(recorded):
    from gaitimu.live.replay import replay_session
    from gaitimu.pipeline import analyze_session
    from gaitimu.sessions import open_session
    from test_replay_equivalence import _assert_equivalent

    out, _res, _twin = recorded
    s = open_session(out)
    offline = analyze_session(s).strides
    live = asyncio.run(replay_session(out, speed=None))
    assert live.n_samples == s.n_samples and len(offline) > 20
    _assert_equivalent(offline, live.strides, s.sample_rate_hz)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gaitimu", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def test_scan_virtual_lists_one_twin_per_kind():
    from gaitimu.sensors.bumble_backend import virtual_kinds
    from gaitimu.sensors.client import scan_sensors

    found = asyncio.run(scan_sensors(1.0, include_virtual=True))
    kinds = sorted(f.kind for f in found)
    assert kinds == sorted(virtual_kinds()) and "witmotion" in kinds


def test_absent_witmotion_is_exit_3_in_one_line(tmp_path):
    p = _cli("record", "--device", "WT901BLE00", "--duration", "1",
             "--out", str(tmp_path / "none.gaitimu"))
    assert p.returncode == 3, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_unsupported_rate_for_the_twin_is_exit_2(tmp_path):
    p = _cli("record", "--device", "virtual:witmotion", "--rate", "150", "--duration", "1",
             "--out", str(tmp_path / "r.gaitimu"))
    assert p.returncode == 2 and "50, 100, 125, 200 Hz" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_link_drop_of_3s_reconnects_with_the_gap_recorded(tmp_path):
    from bumble.link import LocalLink

    from gaitimu.sensors.bumble_backend import VirtualRadio, make_backends
    from gaitimu.sensors.client import Recorder, RecordOptions
    from gaitimu.sensors.virtual_witmotion import VIRTUAL_NAME, VirtualWitMotion
    from gaitimu.sessions import open_session

    out = tmp_path / "drop.gaitimu"

    async def main():
        link = LocalLink()
        twin = VirtualWitMotion(link)
        await twin.start()
        S, C = make_backends(VirtualRadio(link))

        async def drop():
            await asyncio.sleep(1.5)
            await twin.drop_link(3.0)

        side = asyncio.ensure_future(drop())
        try:
            return await Recorder(RecordOptions(out=out, device=VIRTUAL_NAME, duration_s=6,
                                                rate_hz=100),
                                  scanner_backend=S, client_backend=C).run(), twin
        finally:
            side.cancel()
            await twin.stop()

    res, twin = asyncio.run(main())
    s = open_session(out)
    assert res.reconnects == 1
    idx = np.array([k for k, _ in twin.sent_log])[: s.t_s.size]
    missing = int(idx[-1] - idx[0] + 1 - idx.size)
    gaps = [e for e in s.events if e["kind"] == "gap"]
    assert len(gaps) == 1 and abs(gaps[0]["lost_samples"] - missing) <= 2
    assert 3.0 <= gaps[0]["duration_s"] < 4.5
    assert {"link_lost", "reconnected", "clock_reset"} <= {e["kind"] for e in s.events}
    assert s.t_s[-1] - s.t_s[0] == pytest.approx(6 - 1 / 100, abs=0.05)
    json.dumps(s.meta)


def test_cli_scan_json_names_the_kinds():
    p = _cli("scan", "--virtual", "--json", "--timeout", "1")
    assert p.returncode == 0, p.stderr
    found = json.loads(p.stdout)
    assert sorted(d["kind"] for d in found) == ["gaitimu", "movesense", "witmotion"]
    assert all(set(d) == {"name", "address", "kind", "rssi"} for d in found)


def test_cli_record_virtual_witmotion_then_info(tmp_path):
    from gaitimu.sessions import open_session

    out = tmp_path / "cli.gaitimu"
    p = _cli("record", "--device", "virtual:witmotion", "--duration", "2", "--rate", "100",
             "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "recorded 200 samples" in p.stdout
    s = open_session(out)
    assert s.meta["sensor"]["kind"] == "witmotion" and s.sample_rate_hz == 100
