"""Movesense (MD, Flash, ...) over the open GATT SensorData Protocol (GSP), with its clock.

The protocol (firmware_notes/movesense.md; Movesense's own sample ``gatt_sensordata_app``,
its ``GATTSensorDataClient.cpp`` and Python client, and the GSP specification page):

- GATT: service ``34802252-7185-4d5d-b431-630e7050e8f0``; ``34800001-...`` write (commands),
  ``34800002-...`` notify (command results and data), one 128-bit root UUID.
- Commands: ``command, reference`` then the command's data. HELLO (0) is answered
  ``01 ref 'Hello'``; SUBSCRIBE (1) carries the resource path as UTF-8, here
  ``/Meas/IMU6/<rate>`` (acc + gyro); UNSUBSCRIBE (2) names the reference subscribed with.
  The reference is the client's choice (not 0) and tags every DATA notification.
- Notifications: ``response code, reference`` then: COMMAND_RESULT (1) a uint16 HTTP-like
  status (or ``Hello``); DATA (2) the subscription's SBEM payload. A payload larger than one
  notification (the sensor's MTU is 158: 155-byte values) continues in DATA_PART2 (3) and
  DATA_PART3 (4) notifications whose 2 header bytes are dropped when joining.
- IMU6 payload, little-endian: uint32 timestamp (ms, sensor clock, of the first sample),
  ``n`` acc vectors (3 float32, m/s^2) then ``n`` gyro vectors (3 float32, deg/s): the two
  arrays one after the other, not interleaved per sample. ``n`` follows the rate
  (`SAMPLES_PER_MESSAGE`: 8 at 104 Hz as Movesense's sample reads it).

Timing and loss from the sensor clock (`MovesenseDecoder`): the timestamp places each
message in the stream: consecutive messages ``d`` ms apart hold ``round(d * rate / 1000)``
sample periods, so a larger step is that many samples lost (also across a reconnection: the
sensor keeps its clock, so an outage is counted exactly, with no new clock epoch). Within a
message the samples are ``1 / rate`` apart. Sample ``k`` of the stream is at ``k / rate`` on
the sensor clock (the ms timestamp places messages, the count places samples to better than
its 1 ms step), and the recorder's `ClockMap` maps that to the host clock with its drift
correction. The uint32 ms clock wraps after 49.7 days: steps are taken modulo 2**32. A step
backwards (the sensor rebooted) or of more than ``max_step_s`` starts a new clock epoch.

The samples arrive as float32 in physical units; the decoder quantises them to int16 at
+-16 g and +-2000 deg/s (`SCALES`: the sensor's widest ranges), the blocks the ingest step
and replay share. The step (0.0048 m/s^2, 0.061 deg/s) is below the sensor's noise.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from gaitimu.errors import BadInputError
from gaitimu.sensors import protocol as P

KIND = "movesense"
LABEL = "Movesense MD / Flash (GATT SensorData Protocol)"
SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
WRITE_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"
NOTIFY_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"
NAME_PREFIX = "Movesense"  # advertised "Movesense <serial>"

# Commands and response codes (GSP v1).
CMD_HELLO = 0
CMD_SUBSCRIBE = 1
CMD_UNSUBSCRIBE = 2
RESP_COMMAND_RESULT = 1
RESP_DATA = 2
RESP_DATA_PART2 = 3
RESP_DATA_PART3 = 4
HELLO_REPLY = b"Hello"
#: The client reference gaitimu subscribes with (any non-zero byte).
REFERENCE = 99
MAX_NOTIFICATION = 155  # ATT MTU 158 - 3: the longest value the sensor sends

#: IMU sample rates of the sensor (Hz) and samples per DATA message at each.
SAMPLES_PER_MESSAGE = {13: 1, 26: 2, 52: 4, 104: 8, 208: 16, 416: 32, 833: 64, 1666: 128}
#: Rates the analysis accepts (50-400 Hz) that the sensor runs at.
RECORD_RATES_HZ = tuple(r for r in SAMPLES_PER_MESSAGE if P.MIN_RATE_HZ <= r <= P.MAX_RATE_HZ)
ACC_RANGE_G = 16
GYR_RANGE_DPS = 2000
SCALES = P.Scales(float(ACC_RANGE_G), float(GYR_RANGE_DPS))
TIMESTAMP = struct.Struct("<I")
VECTOR_SIZE = 12  # 3 float32
SAMPLE_SIZE = 2 * VECTOR_SIZE  # acc + gyro
CLOCK_MODULUS = 1 << 32  # the ms clock wraps after 49.7 days


def imu6_path(rate_hz: int) -> str:
    return f"/Meas/IMU6/{rate_hz}"


def command(cmd: int, reference: int, data: bytes = b"") -> bytes:
    """``command, reference, data``."""
    return bytes([cmd & 0xFF, reference & 0xFF]) + bytes(data)


HELLO = command(CMD_HELLO, REFERENCE)


def subscribe(rate_hz: int, reference: int = REFERENCE) -> bytes:
    return command(CMD_SUBSCRIBE, reference, imu6_path(rate_hz).encode())


def unsubscribe(reference: int = REFERENCE) -> bytes:
    return command(CMD_UNSUBSCRIBE, reference)


def command_result(reference: int, status: int) -> bytes:
    """``01 ref`` and a uint16 status (e.g. 507 when no subscription slot is free)."""
    return bytes([RESP_COMMAND_RESULT, reference & 0xFF]) + struct.pack("<H", status)


def encode_imu6(timestamp_ms: int, acc: np.ndarray, gyr: np.ndarray) -> bytes:
    """The IMU6 payload: uint32 ms timestamp, then all acc vectors, then all gyro vectors."""
    return (TIMESTAMP.pack(int(timestamp_ms) % CLOCK_MODULUS)
            + np.ascontiguousarray(acc, dtype="<f4").tobytes()
            + np.ascontiguousarray(gyr, dtype="<f4").tobytes())


def data_notifications(reference: int, payload: bytes,
                       max_len: int = MAX_NOTIFICATION) -> list[bytes]:
    """``payload`` as the sensor sends it: DATA, then DATA_PART2 and DATA_PART3 for what does
    not fit one notification of ``max_len`` bytes (each with its 2-byte header)."""
    room = max_len - 2
    parts = [payload[i:i + room] for i in range(0, len(payload), room)] or [b""]
    if len(parts) > 3:
        raise ValueError(f"a {len(payload)}-byte payload needs more than DATA_PART3")
    codes = (RESP_DATA, RESP_DATA_PART2, RESP_DATA_PART3)
    return [bytes([code, reference & 0xFF]) + part
            for code, part in zip(codes[:len(parts)], parts, strict=True)]


@dataclass(frozen=True)
class Imu6:
    """A decoded IMU6 message: sensor timestamp (ms) and (n, 3) acc [m/s^2], gyr [deg/s]."""

    timestamp_ms: int
    acc: np.ndarray
    gyr: np.ndarray


def decode_imu6(payload: bytes) -> Imu6 | None:
    """An IMU6 payload, or None when it is not one (wrong length, non-finite values)."""
    size = len(payload) - TIMESTAMP.size
    if size < SAMPLE_SIZE or size % SAMPLE_SIZE:
        return None
    n = size // SAMPLE_SIZE
    values = np.frombuffer(payload, dtype="<f4", offset=TIMESTAMP.size).astype(np.float64)
    if not np.isfinite(values).all():
        return None
    acc, gyr = values[: 3 * n].reshape(n, 3), values[3 * n:].reshape(n, 3)
    return Imu6(TIMESTAMP.unpack_from(payload)[0], acc, gyr)


@dataclass
class MovesenseStats(P.StreamStats):
    """`StreamStats` plus what only this stream has: command results (not samples),
    notifications for another reference, and message parts dropped unfinished."""

    command_results: int = 0
    foreign: int = 0
    fragments_dropped: int = 0


class MovesenseDecoder:
    """Stream decoder of GSP notifications with `protocol.StreamDecoder`'s interface.

    Joins DATA, DATA_PART2 and DATA_PART3 into messages (complete at the size the rate's
    batch gives; a message of another whole number of samples is taken when the next DATA
    begins, and its size learnt), decodes IMU6, and places the samples by the sensor clock
    (module docstring). Never raises on content. Counters: a notification is ``malformed``
    (not GSP, a continuation with nothing to continue, a message that is not IMU6), a
    command result, ``foreign`` (another reference) or part of a message; a message is
    ``accepted``, a ``duplicate`` (the same timestamp again), ``late`` (older) or
    ``rejected`` (overlapping the previous one).

    Parameters
    ----------
    sampling_rate_hz
        The rate subscribed to.
    reference
        The client reference of the subscription.
    max_step_s
        A forward step of the sensor clock longer than this is taken for a restart of the
        sensor (a new clock epoch; the session clock counts the loss) rather than a gap.
    """

    def __init__(self, sampling_rate_hz: float, *, reference: int = REFERENCE,
                 max_step_s: float = 3600.0) -> None:
        if not sampling_rate_hz > 0:
            raise ValueError("sampling_rate_hz must be > 0")
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.reference = reference
        self.max_step_s = max_step_s
        self.stats = MovesenseStats()
        self.results: dict[int, bytes] = {}  # last command result per reference
        n = SAMPLES_PER_MESSAGE.get(round(sampling_rate_hz), 8)
        self._message_size = TIMESTAMP.size + n * SAMPLE_SIZE
        self._buf: bytes | None = None  # the message being joined
        self._last_ts: int | None = None
        self._last_n = 0
        self._k = 0  # stream index of the next sample
        self._epoch = 0
        self._seq = 0
        self._new_link = False

    def mark_reconnect(self) -> None:
        """A new link starts with the next notification: a message cut by the drop is
        dropped. The sensor clock goes on, so the outage is counted from it."""
        self._new_link = True
        if self._buf is not None:
            self.stats.fragments_dropped += 1
            self._buf = None

    def feed(self, data: bytes | bytearray, t_host_s: float = math.nan) -> P.DecodedBlock | None:
        st = self.stats
        st.received += 1
        data = bytes(data)
        if len(data) < 2:
            st.malformed += 1
            return None
        code, ref = data[0], data[1]
        if code == RESP_COMMAND_RESULT:
            st.command_results += 1
            self.results[ref] = data[2:]
            return None
        if code not in (RESP_DATA, RESP_DATA_PART2, RESP_DATA_PART3):
            st.malformed += 1
            return None
        if ref != self.reference:
            st.foreign += 1
            return None
        if code == RESP_DATA:
            previous, self._buf = self._buf, data[2:]
            if previous is not None:  # not complete at the expected size: another batch size?
                return self._message(previous, t_host_s, learn=True)
        elif self._buf is None:
            st.malformed += 1  # a continuation of nothing (the link began mid-message)
            return None
        else:
            self._buf += data[2:]
        if len(self._buf) >= self._message_size:
            message, self._buf = self._buf, None
            return self._message(message, t_host_s)
        return None

    def _message(self, payload: bytes, t_host_s: float, *, learn: bool = False,
                 ) -> P.DecodedBlock | None:
        imu = decode_imu6(payload)
        if imu is None:
            self.stats.malformed += 1
            if learn:
                self.stats.fragments_dropped += 1
            return None
        if learn:
            self._message_size = len(payload)
        return self._place(imu, t_host_s)

    def _place(self, imu: Imu6, t_host_s: float) -> P.DecodedBlock | None:
        """Where the message sits in the stream, from its timestamp (module docstring)."""
        st = self.stats
        n = imu.acc.shape[0]
        rate = self.sampling_rate_hz
        lost = 0
        if self._last_ts is None:
            k = 0
        else:
            step_ms = (imu.timestamp_ms - self._last_ts) % CLOCK_MODULUS
            periods = round(step_ms * rate / 1000.0)
            backwards = step_ms >= CLOCK_MODULUS // 2
            if backwards and not self._new_link:
                st.late += 1  # older than the stream (a reordered or repeated message)
                return None
            if backwards or step_ms > self.max_step_s * 1000.0:
                self._epoch += 1  # the sensor restarted: only the session clock can tell
                st.clock_resets += 1
                k = 0
            elif step_ms == 0:
                st.duplicates += 1
                return None
            elif periods < self._last_n:
                st.rejected += 1  # overlaps the previous message
                return None
            else:
                lost = periods - self._last_n
                k = self._k + lost
        self._new_link = False
        self._last_ts, self._last_n, self._k = imu.timestamp_ms, n, k + n
        if lost:
            st.lost_samples += lost
            st.lost_packets += max(1, round(lost / n))
            st.gaps += 1
        st.accepted += 1
        st.samples += n
        self._seq += 1
        return P.DecodedBlock(seq=self._seq - 1, t_host_s=t_host_s,
                              sensor_t_s=(k + np.arange(n)) / rate,
                              raw=P.physical_to_raw(imu.acc, imu.gyr, SCALES), flags=0,
                              lost_before=lost, epoch=self._epoch)


class MovesenseAdapter:
    """The Movesense adapter (interface: `gaitimu.sensors.adapters`)."""

    kind = KIND
    label = LABEL
    data_char_uuid = NOTIFY_UUID
    control_char_uuid = WRITE_UUID
    write_response = True  # the command characteristic is "write"

    def matches(self, name: str | None, service_uuids: list[str]) -> bool:
        return (name or "").startswith(NAME_PREFIX) or SERVICE_UUID in service_uuids

    def check(self, rate_hz: int, acc_range_g: int, gyr_range_dps: int) -> None:
        if rate_hz not in RECORD_RATES_HZ:
            rates = ", ".join(str(r) for r in RECORD_RATES_HZ)
            raise BadInputError(f"--rate {rate_hz}: a Movesense sensor runs at {rates} Hz")
        if acc_range_g > ACC_RANGE_G or gyr_range_dps > GYR_RANGE_DPS:
            raise BadInputError(f"a Movesense sensor measures up to +-{ACC_RANGE_G} g and "
                                f"+-{GYR_RANGE_DPS} deg/s")

    def scales(self, acc_range_g: int, gyr_range_dps: int) -> P.Scales:
        return SCALES

    def configure_commands(self, rate_hz: int, acc_range_g: int,
                           gyr_range_dps: int) -> list[bytes]:
        return []  # the rate is in the subscription (start_commands)

    def start_commands(self, rate_hz: int) -> list[bytes]:
        return [HELLO, subscribe(rate_hz)]

    def stop_commands(self) -> list[bytes]:
        return [unsubscribe()]

    def new_decoder(self, rate_hz: float) -> MovesenseDecoder:
        return MovesenseDecoder(rate_hz)
