"""Protocol v1: packets, commands, config, the streaming decoder and the clock map.

Decoders are property-tested with hypothesis: random, truncated, duplicated and reordered
packets never crash them; every packet is counted exactly once.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitimu.sensors import protocol as P
from gaitimu.sensors.clock import ClockMap, lower_envelope_slope

RATE = 200


def _stream(n_packets: int, spp: int = 10, *, seq0: int = 0, t0_us: int = 0, seed: int = 0):
    """A clean packet stream: (list of bytes, (N, 6) raw samples)."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(-32768, 32767, size=(n_packets * spp, 6), dtype=np.int16)
    pkts = [
        P.encode_packet(seq0 + i, t0_us + round(i * spp * 1e6 / RATE), raw[i * spp:(i + 1) * spp])
        for i in range(n_packets)
    ]
    return pkts, raw


# ---------------------------------------------------------------------------- packets
@given(seq=st.integers(0, 2**16 - 1), t0=st.integers(0, 2**32 - 1),
       n=st.integers(1, P.MAX_SAMPLES_PER_PACKET), flags=st.integers(0, 255), seed=st.integers(0, 99))
def test_packet_roundtrip(seq, t0, n, flags, seed):
    raw = np.random.default_rng(seed).integers(-32768, 32767, size=(n, 6), dtype=np.int16)
    data = P.encode_packet(seq, t0, raw, flags)
    assert len(data) == P.HEADER_SIZE + 12 * n <= P.MAX_ATT_PAYLOAD
    pkt = P.decode_packet(data)
    assert (pkt.seq, pkt.t0_us, pkt.flags, pkt.n) == (seq, t0, flags, n)
    np.testing.assert_array_equal(pkt.raw, raw)


@given(st.binary(max_size=300))
def test_decode_packet_random_bytes_only_raises_packet_error(data):
    try:
        P.decode_packet(data)
    except P.PacketError:
        pass


def test_packet_dtype_is_the_header_struct():
    d = P.packet_dtype(7)
    assert d.itemsize == P.HEADER_SIZE + 7 * P.SAMPLE_SIZE
    assert d.fields["raw"][1] == P.HEADER_SIZE  # samples right after the header
    head = np.zeros(1, d)
    for i, (name, _) in enumerate(P.HEADER_FIELDS):
        head[name] = i + 1
    assert head.tobytes()[:P.HEADER_SIZE] == P.HEADER.pack(*range(1, len(P.HEADER_FIELDS) + 1))


@given(k=st.integers(0, 20), n=st.integers(1, P.MAX_SAMPLES_PER_PACKET), seq0=st.integers(0, 2**17),
       t0=st.integers(0, 2**34), seed=st.integers(0, 99))
def test_encode_packets_equals_encode_packet_byte_for_byte(k, n, seq0, t0, seed):
    rng = np.random.default_rng(seed)
    raw = rng.integers(-32768, 32767, size=(k, n, 6), dtype=np.int16)
    seq = seq0 + np.arange(k)
    t0_us = t0 + 12_345 * np.arange(k)
    flags = rng.integers(0, 256, k)
    many = P.encode_packets(seq, t0_us, raw, flags)
    assert many == [P.encode_packet(int(seq[i]), int(t0_us[i]), raw[i], int(flags[i]))
                    for i in range(k)]


@given(sizes=st.lists(st.integers(1, P.MAX_SAMPLES_PER_PACKET), max_size=30), seed=st.integers(0, 99))
def test_decode_packets_equals_decode_packet(sizes, seed):
    rng = np.random.default_rng(seed)
    data = [P.encode_packet(int(rng.integers(0, 2**16)), int(rng.integers(0, 2**32)),
                            rng.integers(-32768, 32767, size=(n, 6), dtype=np.int16),
                            int(rng.integers(0, 256))) for n in sizes]
    batch = P.decode_packets(data)
    one = [P.decode_packet(d) for d in data]
    assert batch.seq.tolist() == [p.seq for p in one]
    assert batch.t0_us.tolist() == [p.t0_us for p in one]
    assert batch.flags.tolist() == [p.flags for p in one]
    assert batch.n.tolist() == sizes
    np.testing.assert_array_equal(batch.raw, np.concatenate([p.raw for p in one])
                                  if one else np.zeros((0, 6), np.int16))


@pytest.mark.parametrize("damage", ["version", "count", "short", "long"])
def test_decode_packets_rejects_a_malformed_packet_naming_it(damage):
    data, _ = _stream(5, spp=4)
    bad = bytearray(data[3])
    if damage == "version":
        bad[0] = 2
    elif damage == "count":
        bad[8] = 3
    elif damage == "short":
        bad = bad[:-1]
    else:
        bad += b"\x00" * 12
    data[3] = bytes(bad)
    with pytest.raises(P.PacketError, match=r"^packet 3: "):
        P.decode_packets(data)


def test_physical_roundtrip_and_saturation():
    sc = P.Scales(16, 2000)
    acc = np.array([[9.81, 0, -9.81], [1000, -1000, 0]])
    gyr = np.array([[100, -250, 0], [5000, 0, -5000]])
    raw = P.physical_to_raw(acc, gyr, sc)
    assert raw.dtype == np.int16
    a, g = P.raw_to_physical(raw, sc)
    np.testing.assert_allclose(a[0], acc[0], atol=sc.acc_per_lsb)
    np.testing.assert_allclose(g[0], gyr[0], atol=sc.gyr_per_lsb)
    assert raw[1, 0] == 32767 and raw[1, 1] == -32768  # saturates like a sensor


# ---------------------------------------------------------------------------- commands, config
@pytest.mark.parametrize("opcode,args", [
    (P.Command.START, ()), (P.Command.STOP, ()), (P.Command.SET_RATE, (400,)),
    (P.Command.SET_RANGES, (8, 500)), (P.Command.IDENTIFY, (5,)),
    (P.Command.SET_SAMPLES_PER_PACKET, (19,)),
])
def test_command_roundtrip(opcode, args):
    assert P.decode_command(P.encode_command(opcode, *args)) == (opcode, args)


@pytest.mark.parametrize("data", [b"", b"\x99", b"\x03\x10", b"\x03\x10\x00\x00",
                                  P.encode_command(P.Command.SET_RATE, 49),
                                  P.encode_command(P.Command.SET_RATE, 401),
                                  P.encode_command(P.Command.SET_RANGES, 3, 2000),
                                  P.encode_command(P.Command.SET_SAMPLES_PER_PACKET, 20)])
def test_bad_commands_are_refused(data):
    with pytest.raises(P.CommandError):
        P.decode_command(data)


@given(st.binary(max_size=8))
def test_decode_command_random_bytes(data):
    try:
        P.decode_command(data)
    except P.CommandError:
        pass


def test_config_roundtrip_and_forward_compatible():
    cfg = P.SensorConfig(status=P.STATUS_STREAMING, rate_hz=400, acc_range_g=8,
                         gyr_range_dps=1000, samples_per_packet=19, overflow_packets=7)
    data = P.encode_config(cfg)
    assert P.decode_config(data) == cfg
    assert P.decode_config(data + b"\x01\x02") == cfg  # later minor versions append fields
    assert cfg.streaming and cfg.scales == P.Scales(8.0, 1000.0)
    with pytest.raises(P.PacketError):
        P.decode_config(data[:-2])


def test_config_layout_is_one_definition_in_spec_firmware_and_host():
    """PROTOCOL.md section 5, the reference firmware and the decoder agree on 13 bytes."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "firmware_notes"
    spec = (root / "PROTOCOL.md").read_text()
    sec = spec[spec.index("## 5. Config/status"):spec.index("## 6.")]
    rows = re.findall(r"^(\d+)\s+(\d+)\s+\w", sec, flags=re.M)
    end = max(int(o) + int(n) for o, n in rows)
    assert end == P.CONFIG.size == 13
    assert f"{P.CONFIG.size} bytes." in sec
    ino = (root / "xiao_nrf52840" / "gaitimu_sensor" / "gaitimu_sensor.ino").read_text()
    body = ino[ino.index("static void updateConfigChar()"):]
    body = body[:body.index("\n}\n")]
    assert int(re.search(r"uint8_t v\[(\d+)\]", body).group(1)) == P.CONFIG.size
    assert int(re.search(r"configChar\.setFixedLen\((\d+)\)", ino).group(1)) == P.CONFIG.size
    # the bytes that firmware writes, field by field as in updateConfigChar()
    overflow = 70_000
    v = bytes([1, 0x01 | 0x04, 200 & 0xFF, 200 >> 8, 16, 2000 & 0xFF, 2000 >> 8, 10, 0])
    v += overflow.to_bytes(4, "little")
    cfg = P.decode_config(v)
    assert (cfg.rate_hz, cfg.acc_range_g, cfg.gyr_range_dps, cfg.samples_per_packet,
            cfg.overflow_packets, cfg.streaming) == (200, 16, 2000, 10, overflow, True)
    # early firmware sent the first 12 of them: still decoded (overflow from 3 bytes)
    assert P.decode_config(v[:12]).overflow_packets == overflow


def test_default_samples_per_packet_fits_and_keeps_packet_rate_low():
    for rate in range(P.MIN_RATE_HZ, P.MAX_RATE_HZ + 1):
        spp = P.default_samples_per_packet(rate)
        assert 1 <= spp <= P.MAX_SAMPLES_PER_PACKET
        assert rate / spp <= 30


# ---------------------------------------------------------------------------- stream decoder
def _feed_all(dec, pkts):
    blocks = [dec.feed(p, float(i)) for i, p in enumerate(pkts)]
    return [b for b in blocks if b is not None]


def _check_invariants(dec, blocks, n_fed):
    s = dec.stats
    assert s.received == n_fed
    assert s.accepted + s.malformed + s.duplicates + s.late + s.rejected == n_fed
    assert s.accepted == sum(b.n_packets for b in blocks)
    assert s.samples == sum(b.n for b in blocks)
    if blocks:  # in order, no duplicated sample time within an epoch
        for e in {b.epoch for b in blocks}:
            t = np.concatenate([b.sensor_t_s for b in blocks if b.epoch == e])
            assert np.all(np.diff(t) > 0)


def test_clean_stream_with_wraparounds():
    # seq wraps at 65536 and the microsecond clock at 2**32 inside this stream
    pkts, raw = _stream(300, seq0=2**16 - 100, t0_us=2**32 - 5_000_000)
    dec = P.StreamDecoder(RATE)
    blocks = _feed_all(dec, pkts)
    _check_invariants(dec, blocks, len(pkts))
    assert dec.stats.lost_samples == 0 and dec.stats.lost_packets == 0 and dec.stats.clock_resets == 0
    np.testing.assert_array_equal(np.concatenate([b.raw for b in blocks]), raw)
    t = np.concatenate([b.sensor_t_s for b in blocks])
    np.testing.assert_allclose(np.diff(t), 1 / RATE, atol=1e-6)


def test_lost_packets_are_counted_as_gaps():
    pkts, _ = _stream(100)
    keep = [p for i, p in enumerate(pkts) if i not in (10, 11, 50)]
    dec = P.StreamDecoder(RATE)
    blocks = _feed_all(dec, keep)
    _check_invariants(dec, blocks, len(keep))
    assert dec.stats.lost_samples == 30 and dec.stats.lost_packets == 3 and dec.stats.gaps == 2
    assert [b.lost_before for b in blocks if b.lost_before] == [20, 10]
    assert dec.stats.loss_fraction == pytest.approx(30 / 1000)


def test_duplicates_and_late_packets_are_dropped_and_counted():
    pkts, _ = _stream(20)
    order = [0, 1, 1, 2, 4, 3, 5, 5, 6, 7, 8, 9]
    dec = P.StreamDecoder(RATE)
    blocks = _feed_all(dec, [pkts[i] for i in order])
    _check_invariants(dec, blocks, len(order))
    assert dec.stats.duplicates == 2 and dec.stats.late == 1
    # packet 3 arrived after 4: it is reported as lost (a gap), never inserted out of order
    assert dec.stats.lost_samples == 10


def test_long_gap_that_wraps_the_sequence_number_is_accepted():
    # 30 min away at 20 packets/s: 36000 packets, so seq moved "backwards" mod 2**16
    a, _ = _stream(10, seq0=0, t0_us=0)
    gap_packets = 36000
    b, _ = _stream(10, seq0=gap_packets + 10, t0_us=round((10 + gap_packets) * 10 * 1e6 / RATE))
    dec = P.StreamDecoder(RATE)
    host = [P.decode_packet(p).t0_us / 1e6 + 0.05 for p in a + b]  # the host saw the 30 min
    blocks = [x for x in (dec.feed(p, h) for p, h in zip(a + b, host, strict=True)) if x]
    _check_invariants(dec, blocks, 20)
    assert dec.stats.accepted == 20 and dec.stats.clock_resets == 0
    assert dec.stats.lost_samples == gap_packets * 10
    assert dec.stats.lost_packets == gap_packets
    # the same packets 1 s apart on the host clock: a restart, never 30 min of loss
    dec2 = P.StreamDecoder(RATE)
    _check_invariants(dec2, _feed_all(dec2, a + b), 20)
    assert dec2.stats.clock_resets == 1 and dec2.stats.lost_samples == 0


def test_seq_inconsistent_with_time_is_dropped():
    raw = np.zeros((10, 6), np.int16)
    dec = P.StreamDecoder(RATE)
    dec.feed(P.encode_packet(5, 0, raw))
    assert dec.feed(P.encode_packet(5, 50_000, raw)) is None  # same seq, later time
    assert dec.stats.rejected == 1  # a lone packet that does not fit: rejected


def test_sensor_restart_starts_a_new_epoch():
    a, _ = _stream(20, t0_us=50_000_000)
    b, _ = _stream(20, t0_us=0)
    dec = P.StreamDecoder(RATE)
    blocks = _feed_all(dec, a + b)
    _check_invariants(dec, blocks, 40)
    assert dec.stats.clock_resets == 1 and {x.epoch for x in blocks} == {0, 1}


def test_restart_during_a_short_outage_is_recognised_after_reconnect():
    a, _ = _stream(20, t0_us=1_000_000)  # sensor time 1.0 .. 2.0 s
    b, _ = _stream(20, t0_us=300_000)  # rebooted: 0.3 s, i.e. "only" 1.7 s backwards
    dec = P.StreamDecoder(RATE)
    _feed_all(dec, a)
    dec.mark_reconnect()
    blocks = [x for x in (dec.feed(p) for p in b) if x is not None]
    assert len(blocks) == 20 and dec.stats.clock_resets == 1 and dec.stats.late == 0
    # without the reconnect mark the restart is believed once 3 packets agree on it; the
    # packets held meanwhile are accepted too (nothing late, nothing lost)
    dec2 = P.StreamDecoder(RATE)
    blocks2 = _feed_all(dec2, a + b)
    _check_invariants(dec2, blocks2, 40)
    assert dec2.stats.clock_resets == 1 and dec2.stats.late == 0 and dec2.stats.accepted == 40


def test_overflow_flag_counted():
    raw = np.zeros((2, 6), np.int16)
    dec = P.StreamDecoder(RATE)
    dec.feed(P.encode_packet(0, 0, raw, flags=P.FLAG_OVERFLOW))
    assert dec.stats.overflow_flags == 1


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_stream_decoder_never_crashes_and_counts_everything(data):
    pkts, _ = _stream(40, spp=data.draw(st.integers(1, 19)),
                      seq0=data.draw(st.integers(0, 2**16 - 1)),
                      t0_us=data.draw(st.integers(0, 2**32 - 1)))
    ops = data.draw(st.lists(st.tuples(st.sampled_from(["ok", "drop", "dup", "swap", "cut", "junk", "link"]),
                                       st.binary(max_size=40)), min_size=40, max_size=40))
    fed: list[bytes | None] = []  # None = a reconnection happened here
    for p, (op, junk) in zip(pkts, ops, strict=True):
        if op == "drop":
            continue
        if op == "link":
            fed += [None, p]
            continue
        if op == "dup":
            fed += [p, p]
        elif op == "swap" and fed:
            fed.insert(len(fed) - 1, p)
        elif op == "cut":
            fed.append(p[: len(p) // 2])
        elif op == "junk":
            fed += [junk, p]
        else:
            fed.append(p)
    dec = P.StreamDecoder(RATE)
    blocks = []
    for p in fed:
        if p is None:
            dec.mark_reconnect()
        elif (b := dec.feed(p)) is not None:
            blocks.append(b)
    _check_invariants(dec, blocks, sum(p is not None for p in fed))


# ---------------------------------------------------------------------------- clock map
def test_lower_envelope_slope_ignores_delays():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 60, 121)
    y = 0.02 - 50e-6 * x + rng.exponential(0.002, x.size) * (rng.random(x.size) < 0.3)
    assert lower_envelope_slope(x, y + 1e-5 * rng.random(x.size)) == pytest.approx(-50e-6, abs=3e-6)


@pytest.mark.parametrize("drift_ppm", [-80.0, 0.0, 120.0])
def test_clock_map_corrects_drift_and_stays_monotonic(drift_ppm):
    rng = np.random.default_rng(7)
    cm = ClockMap()
    spp, rate = 10, 200.0
    out = []
    for i in range(1200):  # 60 s of 10-sample packets
        sensor_t = (i * spp + np.arange(spp)) / rate
        true_t = sensor_t / (1 + drift_ppm * 1e-6)
        host = true_t[-1] + 0.004 + rng.exponential(0.003)  # always-positive latency
        out.append(cm.map_block(0, sensor_t, host))
    t = np.concatenate(out)
    assert np.all(np.diff(t) > 0)
    true_all = np.arange(t.size) / rate / (1 + drift_ppm * 1e-6)
    err = (t - t[0]) - true_all
    assert np.abs(err).max() < 1e-3
    assert cm.drift_ppm == pytest.approx(-drift_ppm, abs=10)


def test_clock_map_refuses_implausible_drift():
    cm = ClockMap()
    for i in range(800):  # sensor clock 10x faster than the host: a faster-than-real-time replay
        sensor_t = np.array([i * 0.05])
        cm.map_block(0, sensor_t, sensor_t[-1] / 10)
    assert cm.unreliable and cm.drift_ppm == 0.0


@pytest.mark.parametrize("stall_at_s", [1.0, 2.0, 3.0, 4.5])
def test_clock_map_survives_an_early_host_stall(stall_at_s):
    """A loaded host (another process, GC) delays every packet for a while early in the
    recording: the drift estimate must not lock a wrong slope into the map (the map is
    re-anchored at each refit, so an early error would stay in every later time)."""
    rng = np.random.default_rng(11)
    cm = ClockMap()
    spp, rate, drift_ppm = 10, 200.0, 60.0
    out = []
    for i in range(1200):
        sensor_t = (i * spp + np.arange(spp)) / rate
        true_t = sensor_t / (1 + drift_ppm * 1e-6)
        stall = 0.004 if stall_at_s <= true_t[-1] < stall_at_s + 0.6 else 0.0
        host = true_t[-1] + 0.004 + stall + rng.exponential(0.001)
        out.append(cm.map_block(0, sensor_t, host))
    t = np.concatenate(out)
    true_all = np.arange(t.size) / rate / (1 + drift_ppm * 1e-6)
    err = (t - t[0]) - true_all
    assert np.abs(err).max() < 0.5e-3, f"{1e3 * np.abs(err).max():.2f} ms"
