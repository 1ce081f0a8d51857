"""The Movesense adapter (GATT SensorData Protocol) over its virtual twin, end to end.

The twin (`gaitimu.sensors.virtual_movesense`) speaks GSP byte for byte on the bumble radio;
the recorder reaches it through bleak as it would the real sensor. Runs the twin faster than
real time (``speed``) where timing is the source's own; its ms clock is set to wrap during
the 60 s recording.
"""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitimu.sensors import protocol as P
from gaitimu.sensors.adapters import adapter_for, decoder_for, kind_of
from gaitimu.sensors.adapters import movesense as M

RATE = 208  # the highest rate the analysis takes (50-400 Hz)
N = M.SAMPLES_PER_MESSAGE[RATE]


def _message(ts_ms: int, raw: np.ndarray, ref: int = M.REFERENCE) -> list[bytes]:
    acc, gyr = P.raw_to_physical(raw, M.SCALES)
    return M.data_notifications(ref, M.encode_imu6(ts_ms, acc, gyr))


def _raw(n: int = N, start: int = 0) -> np.ndarray:
    return (np.arange(start * 6, (start + n) * 6) % 2000 - 1000).astype(np.int16).reshape(n, 6)


def _ts(k: int, offset_ms: int = 0) -> int:
    return (k * 1000 // RATE + offset_ms) % M.CLOCK_MODULUS


def _feed(dec, notes: list[bytes], t: float = 0.0) -> list[P.DecodedBlock]:
    return [b for b in (dec.feed(x, t) for x in notes) if b is not None]


# =========================================================================== protocol
def test_commands_and_notifications_are_the_documented_bytes():
    assert M.HELLO == b"\x00\x63"
    assert M.subscribe(208) == b"\x01\x63/Meas/IMU6/208" and M.unsubscribe() == b"\x02\x63"
    assert M.command_result(7, 507).hex() == "0107fb01"
    a = adapter_for("movesense")
    assert a.start_commands(104) == [M.HELLO, b"\x01\x63/Meas/IMU6/104"]
    assert a.configure_commands(104, 16, 2000) == [] and a.write_response
    payload = M.encode_imu6(0x01020304, np.array([[1.0, -2.0, 9.81]]), np.array([[0.5, 0, -1]]))
    assert payload[:4] == b"\x04\x03\x02\x01" and len(payload) == 4 + 24
    assert struct.unpack("<6f", payload[4:]) == pytest.approx((1, -2, 9.81, 0.5, 0, -1))
    # acc of every sample, then gyro of every sample (not interleaved)
    acc, gyr = np.arange(6.0).reshape(2, 3), -np.arange(6.0).reshape(2, 3)
    vals = struct.unpack("<12f", M.encode_imu6(0, acc, gyr)[4:])
    assert vals == (0, 1, 2, 3, 4, 5, 0, -1, -2, -3, -4, -5)
    notes = _message(5, _raw())  # 16 samples: 388 bytes in 3 notifications of <= 155
    assert [len(x) for x in notes] == [155, 155, 84] and [x[0] for x in notes] == [2, 3, 4]
    assert {x[1] for x in notes} == {M.REFERENCE}
    assert [len(x) for x in _message(5, _raw(8))] == [155, 45]  # 104 Hz: DATA + DATA_PART2


def test_kind_from_the_advertisement():
    assert kind_of("Movesense 174630000192", []) == "movesense"
    assert kind_of(None, [M.SERVICE_UUID]) == "movesense"
    assert kind_of("WT901BLE68", []) == "witmotion"


def test_rate_and_range_check():
    a = adapter_for("movesense")
    a.check(208, 16, 2000)
    with pytest.raises(Exception, match="52, 104, 208 Hz"):
        a.check(200, 16, 2000)


# =========================================================================== decoder
def test_decoder_joins_parts_and_returns_the_samples_on_the_sensor_clock():
    dec = M.MovesenseDecoder(RATE)
    assert dec.feed(b"\x01\x63Hello") is None and dec.results[M.REFERENCE] == b"Hello"
    blocks = _feed(dec, _message(_ts(0), _raw()) + _message(_ts(N), _raw(start=N)))
    assert len(blocks) == 2 and all(b.lost_before == 0 and b.epoch == 0 for b in blocks)
    np.testing.assert_array_equal(np.concatenate([b.raw for b in blocks]), _raw(2 * N))
    np.testing.assert_allclose(np.concatenate([b.sensor_t_s for b in blocks]),
                               np.arange(2 * N) / RATE)
    s = dec.stats
    assert (s.received, s.accepted, s.samples, s.command_results, s.malformed) == (7, 2, 32, 1, 0)


def test_loss_is_counted_from_the_timestamps_and_the_clock_wraps():
    offset = M.CLOCK_MODULUS - 100  # the uint32 ms clock wraps after the first message
    dec = M.MovesenseDecoder(RATE)
    notes = [_message(_ts(k, offset), _raw(start=k)) for k in range(0, 6 * N, N)]
    blocks = _feed(dec, [*notes[0], *notes[1], *notes[4], *notes[5]])  # 2 messages lost
    assert [b.lost_before for b in blocks] == [0, 0, 2 * N, 0]
    assert blocks[2].sensor_t_s[0] == pytest.approx(4 * N / RATE)
    assert {b.epoch for b in blocks} == {0}
    assert dec.stats.lost_samples == 2 * N and dec.stats.gaps == 1 and dec.stats.clock_resets == 0


def test_a_reconnection_keeps_the_clock_and_a_restart_is_a_new_epoch():
    dec = M.MovesenseDecoder(RATE)
    _feed(dec, _message(_ts(0, 50_000), _raw()))
    dec.feed(_message(_ts(N, 50_000), _raw())[0])  # cut by the link drop
    dec.mark_reconnect()
    after = _feed(dec, _message(_ts(3 * RATE, 50_000), _raw()))  # 3 s later
    assert after[0].lost_before == 3 * RATE - N and after[0].epoch == 0
    assert dec.stats.fragments_dropped == 1
    assert _feed(dec, _message(_ts(0, 50_000), _raw())) == [] and dec.stats.late == 1
    dec.mark_reconnect()  # the sensor rebooted: its clock began again
    b = _feed(dec, _message(_ts(0), _raw()))[0]
    assert b.epoch == 1 and b.sensor_t_s[0] == 0 and dec.stats.clock_resets == 1


def test_duplicates_and_other_batch_sizes():
    dec = M.MovesenseDecoder(RATE)
    _feed(dec, _message(_ts(0), _raw()))
    assert _feed(dec, _message(_ts(0), _raw())) == [] and dec.stats.duplicates == 1
    dec = M.MovesenseDecoder(RATE)  # a firmware sending 8 samples a message at 208 Hz
    notes = [_message(_ts(k), _raw(8, k)) for k in range(0, 40, 8)]
    blocks = _feed(dec, [x for m in notes for x in m])
    # the first is taken when the second begins, the size learnt, the rest at once
    assert [b.n for b in blocks] == [8] * 5
    np.testing.assert_allclose(np.concatenate([b.sensor_t_s for b in blocks]),
                               np.arange(40) / RATE)
    assert dec.stats.lost_samples == 0 and dec.stats.malformed == 0


#: Notifications: any bytes, or GSP headers (DATA and its parts, for our reference) on any bytes.
_NOTES = st.one_of(st.binary(max_size=160), st.builds(
    lambda code, body: bytes([code, M.REFERENCE]) + body,
    st.sampled_from([1, 2, 3, 4]), st.binary(max_size=153)))


@settings(max_examples=300, deadline=None)
@given(st.lists(_NOTES, max_size=12), st.booleans())
def test_fuzzed_notifications_are_counted_never_a_crash(chunks, with_good):
    good = _message(_ts(0), _raw()) + _message(_ts(N), _raw()) if with_good else []
    dec = M.MovesenseDecoder(RATE)
    blocks = [dec.feed(x, 0.005 * i) for i, x in enumerate(chunks)]
    dec.mark_reconnect()  # the good messages come on a new link
    blocks = [b for b in [*blocks, *(dec.feed(x) for x in good)] if b is not None]
    assert all(b.raw.shape == (b.n, 6) and b.sensor_t_s.shape == (b.n,) for b in blocks)
    s = dec.stats
    assert s.received == len(chunks) + len(good) and s.samples == sum(b.n for b in blocks)
    assert s.accepted + s.malformed + s.command_results + s.foreign <= s.received
    assert s.samples >= (N if with_good else 0)  # resynchronises on the next DATA


def test_replay_decoder_follows_the_session_kind():
    assert isinstance(decoder_for({"sensor": {"kind": "movesense"}}, RATE), M.MovesenseDecoder)


# =========================================================================== over the twin
pytest.importorskip("bumble")

WRAP_OFFSET_US = (M.CLOCK_MODULUS - 20_000) * 1000  # the twin's ms clock wraps 20 s in


async def _record(out, twin_options: dict, drop_at_s: float | None = None, **record_options):
    from bumble.link import LocalLink

    from gaitimu.sensors.bumble_backend import VirtualRadio, make_backends
    from gaitimu.sensors.client import Recorder, RecordOptions
    from gaitimu.sensors.virtual_movesense import VIRTUAL_NAME, VirtualMovesense

    link = LocalLink()
    twin = VirtualMovesense(link, **twin_options)
    await twin.start()
    S, C = make_backends(VirtualRadio(link))

    async def drop():
        await asyncio.sleep(drop_at_s)
        await twin.drop_link(3.0)

    side = asyncio.ensure_future(drop()) if drop_at_s is not None else None
    try:
        res = await Recorder(RecordOptions(out=out, device=VIRTUAL_NAME, rate_hz=RATE,
                                           **record_options),
                             scanner_backend=S, client_backend=C).run()
    finally:
        if side is not None:
            side.cancel()
        await twin.stop()
    return res, twin


def _sent_indices(twin) -> np.ndarray:
    return np.concatenate([np.arange(k, k + n) for k, n in twin.sent_log])


# The same test as the WitMotion twin's, run here on this module's ``recorded`` session.
from test_adapter_witmotion import (  # noqa: E402
    test_replay_decodes_with_the_adapter_identical_to_analyze,  # noqa: F401
)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """60 s at 208 Hz of a simulated walk from the twin at 8x, its clock wrapping 20 s in."""
    from gaitimu.simulate.source import simulated_factory

    out = tmp_path_factory.mktemp("ms") / "ms.gaitimu"
    twin_options = dict(speed=8.0, source_from_stream_start=True, t0_offset_us=WRAP_OFFSET_US,
                        source_factory=simulated_factory("walk", duration_s=70, cpd_left_deg=3,
                                                         cpd_right_deg=7))
    res, twin = asyncio.run(_record(out, twin_options, duration_s=60, activity="walk"))
    return out, res, twin


def test_60s_at_208hz_zero_loss_equal_to_the_source_timing_within_1ms(recorded):
    from gaitimu.sessions import open_session

    out, res, twin = recorded
    s = open_session(out)
    assert s.t_s.size == 60 * RATE and res.stats["lost_samples"] == 0 and s.lost_samples == 0
    assert res.stats["clock_resets"] == 0  # the wrap is not a restart
    idx = _sent_indices(twin)[: s.t_s.size]
    assert np.all(np.diff(idx) == 1)
    first_ts = (idx[0] * 1_000_000 // RATE + WRAP_OFFSET_US) // 1000
    assert first_ts < M.CLOCK_MODULUS < first_ts + 60_000  # it did wrap
    origin = twin.sent_log[0][0]  # the source starts with the stream (its quiet standing)
    source = P.raw_to_physical(twin.source.read(int(idx[0] - origin), idx.size), M.SCALES)
    np.testing.assert_array_equal(np.hstack([s.acc, s.gyr]), np.hstack(source))  # exact
    assert np.abs((s.t_s - s.t_s[0]) - (idx - idx[0]) / RATE).max() < 1e-3
    assert s.meta["sensor"]["kind"] == "movesense" and s.sample_rate_hz == RATE
    _, packets = s.packets()
    assert len(packets) == res.stats["received"]
    assert b"\x01\x63Hello" in packets[:3]  # the HELLO exchange, stored with the data
    assert {p[0] for p in packets[3:]} == {2, 3, 4} and max(len(p) for p in packets) == 155


def test_link_drop_of_3s_reconnects_with_the_gap_counted_from_the_sensor_clock(tmp_path):
    from gaitimu.sessions import open_session

    out = tmp_path / "drop.gaitimu"
    res, twin = asyncio.run(_record(out, {}, drop_at_s=1.5, duration_s=6))
    s = open_session(out)
    assert res.reconnects == 1
    idx = _sent_indices(twin)[: s.t_s.size]
    missing = int(idx[-1] - idx[0] + 1 - idx.size)
    gaps = [e for e in s.events if e["kind"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["lost_samples"] == missing  # exact: the clock went on
    assert 3.0 <= gaps[0]["duration_s"] < 4.5
    kinds = {e["kind"] for e in s.events}
    assert {"link_lost", "reconnected"} <= kinds and "clock_reset" not in kinds
    assert s.t_s[-1] - s.t_s[0] == pytest.approx(6 - 1 / RATE, abs=0.05)


def _fails_in_one_line(code: int, *args: str) -> str:
    from test_adapter_witmotion import _cli

    p = _cli("record", *args)
    assert p.returncode == code and "Traceback" not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    return p.stderr


def test_absent_movesense_is_exit_3_and_a_bad_rate_exit_2_in_one_line(tmp_path):
    _fails_in_one_line(3, "--device", "Movesense 000000000001", "--rate", "208",
                       "--duration", "1", "--out", str(tmp_path / "none.gaitimu"))
    assert "52, 104, 208 Hz" in _fails_in_one_line(
        2, "--device", "virtual:movesense", "--rate", "150", "--out", str(tmp_path / "r.gaitimu"))


def test_cli_record_virtual_movesense_then_info(tmp_path):
    from test_adapter_witmotion import _cli

    out = str(tmp_path / "cli.gaitimu")
    rec = _cli("record", "--device", "virtual:movesense", "--duration", "2", "--rate", "104",
               "--out", out)
    info = _cli("info", out)
    assert (rec.returncode, info.returncode) == (0, 0), rec.stderr + info.stderr
    assert "recorded 208 samples" in rec.stdout and "lost 0 samples" in rec.stdout
    assert "208 at 104 Hz" in info.stdout and "kind movesense" in info.stdout
