"""The ingest step (`gaitimu.sensors.ingest`): decode -> session time -> gaps -> physical
units -> sink, with a fake clock and sink; and the recorder and replay both run it."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gaitimu.sensors import protocol as P
from gaitimu.sensors.ingest import Ingest, gap_event

RATE = 100.0
SPP = 4  # samples per packet
SCALES = P.Scales(acc_range_g=16.0, gyr_range_dps=2000.0)


class _Clock:
    """Session time = sensor time + the offset of the block's clock epoch."""

    def __init__(self, offsets=(0.0,), keep_first: int | None = None):
        self.offsets = offsets
        self.keep_first = keep_first

    def session_times(self, block):
        return (block.sensor_t_s + self.offsets[block.epoch])[: self.keep_first]


class _Sink:
    def __init__(self):
        self.events, self.t, self.acc, self.gyr = [], [], [], []

    def event(self, event):
        self.events.append(event)

    def samples(self, t_s, acc, gyr):
        self.t.append(t_s)
        self.acc.append(acc)
        self.gyr.append(gyr)

    def kinds(self):
        return [e["kind"] for e in self.events]


def _raw(k: int) -> np.ndarray:
    """Packet k's samples: acc x = k g on a 16 g range (2048 LSB per g), gyr z = k deg/s."""
    raw = np.zeros((SPP, 6), np.int16)
    raw[:, 0] = 2048 * (k % 8)
    raw[:, 5] = round(k * 32768 / 2000) % 32768
    return raw


def _packets(n: int, *, value0: int = 0) -> list[bytes]:
    """``n`` contiguous packets from sequence number 0 and sensor time 0 (a sensor that
    starts), carrying the samples of packets ``value0``, ``value0 + 1``, ..."""
    return [P.encode_packet(k, round(k * SPP / RATE * 1e6), _raw(value0 + k)) for k in range(n)]


def _ingest(clock=None, **kw):
    sink = _Sink()
    return Ingest(P.StreamDecoder(RATE), clock or _Clock(), sink, SCALES, **kw), sink


def test_lost_packet_is_one_gap_of_its_length():
    ing, sink = _ingest()
    pkts = _packets(10)
    n = [ing.feed(k * SPP / RATE, d) for k, d in enumerate(pkts) if k != 5]
    assert n == [SPP] * 9
    assert sink.kinds() == ["gap"]
    gap = sink.events[0]
    assert gap["lost_samples"] == SPP and gap["duration_s"] == pytest.approx(SPP / RATE)
    assert gap["start_s"] == pytest.approx(5 * SPP / RATE)  # the first missing sample
    assert gap["end_s"] == pytest.approx(6 * SPP / RATE)  # the first sample after it
    t = np.concatenate(sink.t)
    np.testing.assert_allclose(t, np.delete(np.arange(40), np.arange(20, 24)) / RATE)
    s = ing.decoder.stats
    assert (s.lost_samples, s.gaps, s.accepted) == (SPP, 1, 9)


def test_sensor_restart_is_a_gap_on_the_session_clock():
    """The sensor reboots (clock and sequence from 0) and comes back 1 s later on the
    session clock: a clock_reset, then a gap of the samples the session clock says are
    missing."""
    ing, sink = _ingest(_Clock(offsets=(0.0, 1.2)))
    for k, d in enumerate(_packets(5)):  # samples 0..19: last at 0.19 s
        ing.feed(k * SPP / RATE, d)
    ing.mark_reconnect()  # a new link: an older packet is a restart at once
    for k, d in enumerate(_packets(3, value0=5)):
        assert ing.feed(1.2 + k * SPP / RATE, d) == SPP
    assert sink.kinds() == ["clock_reset", "gap"]
    assert sink.events[0]["t_host_s"] == 1.2
    gap = sink.events[1]
    lost = round((1.2 - 0.19) * RATE) - 1
    assert gap["lost_samples"] == lost == 100
    assert (gap["start_s"], gap["end_s"]) == (pytest.approx(0.20), pytest.approx(1.2))
    s = ing.decoder.stats
    assert (s.clock_resets, s.lost_samples, s.gaps) == (1, lost, 1)
    assert ing.last_t_s == pytest.approx(1.2 + 11 / RATE)


def test_samples_come_out_in_physical_units():
    ing, sink = _ingest()
    for k, d in enumerate(_packets(8)):
        ing.feed(k * SPP / RATE, d)
    acc, gyr = np.concatenate(sink.acc), np.concatenate(sink.gyr)
    k = np.repeat(np.arange(8), SPP)
    np.testing.assert_allclose(acc[:, 0], k * P.G)  # m/s^2
    np.testing.assert_allclose(gyr[:, 2], k, atol=2000 / 32768)  # deg/s, within one LSB
    assert not acc[:, 1:].any() and not gyr[:, :2].any()
    assert all(a.dtype == np.float64 for a in (acc, gyr))


def test_clock_and_keep_decide_how_much_is_handed_on():
    """A clock may hand on fewer samples than the block holds (replay's cut); ``keep`` trims
    the gap and the block (the recorder's duration)."""
    ing, sink = _ingest(_Clock(keep_first=3))
    assert ing.feed(0.0, _packets(1)[0]) == 3
    assert np.concatenate(sink.acc).shape == (3, 3)
    ing, sink = _ingest(keep=lambda lost, n: (min(lost, 2), 0 if lost else n))
    pkts = _packets(3)
    assert [ing.feed(0.0, pkts[0]), ing.feed(0.08, pkts[2])] == [SPP, 0]
    assert sink.events == [gap_event(2, 3 / RATE, 8 / RATE, 0, RATE)]
    assert sink.events[0]["end_s"] == pytest.approx(6 / RATE)  # 2 periods after its start


def test_recorder_and_replay_run_the_same_ingest_step(tmp_path, monkeypatch):
    """Every packet the recorder stores and every packet replay reads goes through
    `Ingest.feed` (a spy on the class), and the replay hands on what was recorded."""
    pytest.importorskip("bumble")
    from gaitimu.live.replay import replay_session
    from gaitimu.sensors import ingest
    from gaitimu.sensors.bumble_backend import VirtualRadio, make_backends
    from gaitimu.sensors.client import Recorder, RecordOptions
    from gaitimu.sensors.virtual import VIRTUAL_NAME, VirtualSensor
    from gaitimu.sessions import open_session

    calls: list[str] = []
    feed = ingest.Ingest.feed

    def spy(self, t_host_s, data):
        calls.append(type(self.clock).__name__)
        return feed(self, t_host_s, data)

    monkeypatch.setattr(ingest.Ingest, "feed", spy)

    async def record(out):
        from bumble.link import LocalLink

        link = LocalLink()
        sensor = VirtualSensor(link, speed=10.0)
        await sensor.start()
        scanner_cls, client_cls = make_backends(VirtualRadio(link))
        try:
            return await Recorder(RecordOptions(out=out, device=VIRTUAL_NAME, duration_s=3,
                                                correct_drift=False),
                                  scanner_backend=scanner_cls, client_backend=client_cls).run()
        finally:
            await sensor.stop()

    out = tmp_path / "s.gaitimu"
    asyncio.run(record(out))
    session = open_session(out)
    n_packets = len(session.packets()[1])
    assert n_packets > 0 and calls == ["MappedClock"] * n_packets
    calls.clear()
    res = asyncio.run(replay_session(out, speed=None))
    assert calls == ["_Decode"] * n_packets
    assert res.n_samples == session.n_samples
