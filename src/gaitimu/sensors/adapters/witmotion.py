"""WitMotion WT901BLECL / BWT901BLE (Bluetooth 5.0): serial-over-BLE frames, no sample counter.

The protocol (firmware_notes/witmotion_wt901ble.md, from WitMotion's own SDK and datasheet):

- GATT: service ``0000ffe5-...-00805f9a34fb`` (note ``9a``: WitMotion's base, not the SIG
  ``9b``), notify ``ffe4`` (the data), write-without-response ``ffe9`` (commands).
- Data: one 20-byte frame per notification, ``0x55 0x61`` then 9 int16 little-endian
  values: acc x y z (raw * 16 g / 32768), gyr x y z (raw * 2000 deg/s / 32768), angle
  roll pitch yaw (raw * 180 deg / 32768). No checksum, no counter, no timestamp. A register
  read (``FF AA 27 reg 00``) is answered on the same characteristic by a ``0x55 0x71`` frame
  (start register, 8 registers). Hosts (and WitMotion's SDK) treat the notifications as a
  byte stream and resynchronise on ``0x55 0x61``.
- Commands: ``FF AA reg valueL valueH``; a register write needs the unlock ``FF AA 69 88 B5``
  within the previous 10 s, ``FF AA 00 00 00`` saves. The output rate is register 0x03
  (`RATE_CODES`; default 10 Hz). Ranges are fixed at +-16 g, +-2000 deg/s in the BLE frame.

Timing and loss without a counter (`WitMotionDecoder`): each frame is the next sample, at
``k / rate`` on the sensor's own (crystal) clock; the recorder's `ClockMap` maps that onto the
host clock with its drift correction, as for the gaitimu protocol. Within a link BLE delivers
every notification in order (link-layer acknowledgements), so a link is contiguous. Across a
reconnection, or a silence longer than ``silence_s`` within one, the sample count is unknown:
the decoder starts a new clock epoch and the ingest step counts the samples lost from the
session clock (`protocol.restart_gap_samples`), with a ``clock_reset`` and a ``gap`` event.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from gaitimu.errors import BadInputError
from gaitimu.sensors import protocol as P

KIND = "witmotion"
LABEL = "WitMotion WT901BLECL / BWT901BLE5.0"
SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"
NAME_PREFIX = "WT"  # advertised names such as "WT901BLE68" (WitMotion's SDK filters on "WT")

HEADER = 0x55
FLAG_IMU = 0x61  # acc, gyr, angle
FLAG_REGISTERS = 0x71  # reply to a register read
FRAME_SIZE = 20
FRAME = struct.Struct("<BB9h")
REPLY = struct.Struct("<BBH8h")
ACC_RANGE_G = 16
GYR_RANGE_DPS = 2000
ANGLE_RANGE_DEG = 180.0
SCALES = P.Scales(float(ACC_RANGE_G), float(GYR_RANGE_DPS))

# Registers and commands (WIT standard protocol).
CMD_PREFIX = b"\xff\xaa"
REG_SAVE = 0x00
REG_RATE = 0x03
REG_READ = 0x27
REG_UNLOCK = 0x69
UNLOCK_VALUE = 0xB588
REG_BATTERY = 0x64  # supply voltage in 0.01 V
UNLOCK_WINDOW_S = 10.0
#: Output rate register codes (Hz -> code); 0x0C single, 0x0D off.
RATE_CODES = {0.2: 0x01, 0.5: 0x02, 1: 0x03, 2: 0x04, 5: 0x05, 10: 0x06, 20: 0x07, 50: 0x08,
              100: 0x09, 125: 0x0A, 200: 0x0B}
CODE_RATES = {code: hz for hz, code in RATE_CODES.items()}
DEFAULT_RATE_HZ = 10
MAX_RATE_HZ = 200
#: Rates the analysis accepts (50-400 Hz) that the device can be set to.
RECORD_RATES_HZ = tuple(int(hz) for hz in RATE_CODES if P.MIN_RATE_HZ <= hz <= P.MAX_RATE_HZ)


class CommandError(BadInputError):
    """A command frame that is not ``FF AA reg lo hi``."""


def write_register(reg: int, value: int) -> bytes:
    """``FF AA reg valueL valueH``."""
    return CMD_PREFIX + struct.pack("<BH", reg & 0xFF, value & 0xFFFF)


def read_register(reg: int) -> bytes:
    """``FF AA 27 reg 00``: the sensor answers with a ``0x55 0x71`` frame."""
    return write_register(REG_READ, reg)


UNLOCK = write_register(REG_UNLOCK, UNLOCK_VALUE)
SAVE = write_register(REG_SAVE, 0)


def decode_command(data: bytes) -> tuple[int, int]:
    """``(register, value)`` of a command frame; `CommandError` otherwise."""
    data = bytes(data)
    if len(data) != 5 or data[:2] != CMD_PREFIX:
        raise CommandError(f"not a WitMotion command frame: {data.hex()}")
    reg, value = struct.unpack_from("<BH", data, 2)
    return reg, value


def encode_frame(raw: np.ndarray, angles: np.ndarray | None = None) -> bytes:
    """One ``0x55 0x61`` frame from 6 int16 (acc, gyr in LSB) and 3 int16 angles (LSB)."""
    ang = (0, 0, 0) if angles is None else (int(a) for a in angles)
    return FRAME.pack(HEADER, FLAG_IMU, *(int(v) for v in raw), *ang)


def angles_lsb(raw: np.ndarray) -> np.ndarray:
    """Roll and pitch from the accelerometer (yaw 0) as the frame's int16 angles: what a
    sensor at rest reports (the twin's stand-in for WitMotion's on-board fusion)."""
    acc = np.asarray(raw, dtype=float)[:, :3]
    roll = np.degrees(np.arctan2(acc[:, 1], acc[:, 2]))
    pitch = np.degrees(np.arctan2(-acc[:, 0], np.hypot(acc[:, 1], acc[:, 2])))
    deg = np.column_stack([roll, pitch, np.zeros_like(roll)])
    return np.clip(np.rint(deg / ANGLE_RANGE_DEG * 32768), -32768, 32767).astype(np.int16)


def encode_reply(start_reg: int, values: list[int]) -> bytes:
    """A ``0x55 0x71`` register reply: start register and 8 register values."""
    vals = [*values[:8], *[0] * (8 - len(values[:8]))]
    return REPLY.pack(HEADER, FLAG_REGISTERS, start_reg & 0xFFFF,
                      *(int(np.int16(np.uint16(v & 0xFFFF))) for v in vals))


@dataclass
class SplitFrames:
    """What a byte stream held: IMU samples (n, 6) int16, register replies, discarded bytes,
    and the unfinished frame left for the next notification."""

    raw: np.ndarray
    replies: list[tuple[int, tuple[int, ...]]]
    junk: int
    rest: bytes


def split_frames(buf: bytes) -> SplitFrames:
    """Cut a byte stream into frames, resynchronising on ``0x55 0x61|0x71`` (never raises)."""
    samples: list[tuple[int, ...]] = []
    replies: list[tuple[int, tuple[int, ...]]] = []
    junk = 0
    i, n = 0, len(buf)
    while i < n:
        if buf[i] != HEADER or (i + 1 < n and buf[i + 1] not in (FLAG_IMU, FLAG_REGISTERS)):
            junk += 1
            i += 1
            continue
        if i + FRAME_SIZE > n:
            break  # an unfinished frame (or a lone header byte): wait for the rest
        if buf[i + 1] == FLAG_IMU:
            samples.append(FRAME.unpack_from(buf, i)[2:8])
        else:
            _, _, reg, *vals = REPLY.unpack_from(buf, i)
            replies.append((reg, tuple(v & 0xFFFF for v in vals)))
        i += FRAME_SIZE
    raw = (np.array(samples, dtype=np.int16).reshape(-1, 6) if samples
           else np.zeros((0, 6), np.int16))
    return SplitFrames(raw, replies, junk, bytes(buf[i:]))


@dataclass
class WitMotionStats(P.StreamStats):
    """`StreamStats` plus what only this stream has: bytes discarded while resynchronising
    and register replies (not samples)."""

    junk_bytes: int = 0
    register_replies: int = 0


class WitMotionDecoder:
    """Stream decoder of WitMotion notifications with `protocol.StreamDecoder`'s interface.

    Every notification is counted once in `stats`: ``accepted`` (it completed at least one
    sample frame), ``malformed`` (bytes discarded and no sample), or neither (a register
    reply, or the first part of a frame). It never raises on content. See the module
    docstring for timing and loss.

    Parameters
    ----------
    sampling_rate_hz
        The rate the sensor was set to.
    silence_s
        A longer pause between notifications within one link starts a new clock epoch (the
        samples in it are counted from the session clock). Longer than any connection
        interval or host scheduling hiccup; a real silence that long is a stalled sensor.
    """

    def __init__(self, sampling_rate_hz: float, *, silence_s: float = 1.0) -> None:
        if not sampling_rate_hz > 0:
            raise ValueError("sampling_rate_hz must be > 0")
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.silence_s = silence_s
        self.stats = WitMotionStats()
        self.replies: dict[int, tuple[int, ...]] = {}  # last reply per start register
        self._rest = b""
        self._k = 0  # samples of the current epoch so far
        self._epoch = 0
        self._seq = 0
        self._last_host = math.nan
        self._new_link = False

    def mark_reconnect(self) -> None:
        """A new link starts with the next notification: its samples start a new epoch (no
        counter tells what the outage cost) and a frame cut by the drop is dropped."""
        self._new_link = True
        if self._rest:
            self.stats.junk_bytes += len(self._rest)
            self._rest = b""

    def feed(self, data: bytes | bytearray, t_host_s: float = math.nan) -> P.DecodedBlock | None:
        st = self.stats
        st.received += 1
        cut = split_frames(self._rest + bytes(data))
        self._rest = cut.rest[-(FRAME_SIZE - 1):]
        st.junk_bytes += cut.junk + (len(cut.rest) - len(self._rest))
        for reg, vals in cut.replies:
            self.replies[reg] = vals
        st.register_replies += len(cut.replies)
        n = cut.raw.shape[0]
        if not n:
            st.malformed += 1 if cut.junk else 0
            return None
        silent = (np.isfinite(t_host_s) and np.isfinite(self._last_host)
                  and t_host_s - self._last_host > self.silence_s)
        if self._seq and (self._new_link or silent):
            self._epoch += 1
            self._k = 0
            st.clock_resets += 1
        self._new_link = False
        if np.isfinite(t_host_s):
            self._last_host = float(t_host_s)
        t = (self._k + np.arange(n)) / self.sampling_rate_hz
        self._k += n
        st.accepted += 1
        st.samples += n
        self._seq += 1
        return P.DecodedBlock(seq=self._seq - 1, t_host_s=t_host_s, sensor_t_s=t, raw=cut.raw,
                              flags=0, lost_before=0, epoch=self._epoch)


class WitMotionAdapter:
    """The WitMotion adapter (interface: `gaitimu.sensors.adapters`)."""

    kind = KIND
    label = LABEL
    data_char_uuid = NOTIFY_UUID
    control_char_uuid = WRITE_UUID
    write_response = False  # ffe9 is write-without-response

    def matches(self, name: str | None, service_uuids: list[str]) -> bool:
        return (name or "").startswith(NAME_PREFIX) or SERVICE_UUID in service_uuids

    def check(self, rate_hz: int, acc_range_g: int, gyr_range_dps: int) -> None:
        if rate_hz not in RECORD_RATES_HZ:
            rates = ", ".join(str(r) for r in RECORD_RATES_HZ)
            raise BadInputError(f"--rate {rate_hz}: a WitMotion sensor runs at {rates} Hz")
        if (acc_range_g, gyr_range_dps) != (ACC_RANGE_G, GYR_RANGE_DPS):
            raise BadInputError(f"a WitMotion sensor streams +-{ACC_RANGE_G} g and "
                                f"+-{GYR_RANGE_DPS} deg/s only")

    def scales(self, acc_range_g: int, gyr_range_dps: int) -> P.Scales:
        return SCALES

    def configure_commands(self, rate_hz: int, acc_range_g: int,
                           gyr_range_dps: int) -> list[bytes]:
        return [UNLOCK, write_register(REG_RATE, RATE_CODES[rate_hz]), SAVE]

    def start_commands(self, rate_hz: int) -> list[bytes]:
        return []  # streams as soon as notifications are enabled

    def stop_commands(self) -> list[bytes]:
        return []

    def new_decoder(self, rate_hz: float) -> WitMotionDecoder:
        return WitMotionDecoder(rate_hz)
