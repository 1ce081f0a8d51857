"""The gaitimu sensor data packet (protocol version 1): pure encode/decode functions.

One BLE notification of the data characteristic carries one packet, little-endian::

    offset size  field
    0      1     protocol version (1)
    1      1     flags (bit 0: the sensor's buffer overflowed before this packet)
    2      2     seq, uint16, +1 per packet, wraps at 65536
    4      4     t0_us, uint32, sensor clock at the first sample in microseconds, wraps
    8      1     n, number of samples in this packet (1..MAX_SAMPLES_PER_PACKET)
    9      1     reserved (0)
    10     12*n  samples: acc_x acc_y acc_z gyr_x gyr_y gyr_z as int16

Physical values: acc [m/s^2] = raw * acc_range_g * G / 32768, gyr [deg/s] =
raw * gyr_range_dps / 32768. The full specification, GATT layout and sizing live in
firmware_notes/PROTOCOL.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from gaitimu.consts import G
from gaitimu.errors import BadInputError

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBHIBB")
HEADER_SIZE = HEADER.size  # 10
SAMPLE_SIZE = 12
MAX_ATT_PAYLOAD = 244  # ATT MTU 247 - 3
MAX_SAMPLES_PER_PACKET = (MAX_ATT_PAYLOAD - HEADER_SIZE) // SAMPLE_SIZE  # 19
FLAG_OVERFLOW = 0x01


@dataclass(frozen=True)
class Scales:
    """Full-scale ranges the sensor was configured with."""

    acc_range_g: float = 16.0
    gyr_range_dps: float = 2000.0

    @property
    def acc_per_lsb(self) -> float:
        return self.acc_range_g * G / 32768.0

    @property
    def gyr_per_lsb(self) -> float:
        return self.gyr_range_dps / 32768.0


@dataclass(frozen=True)
class Packet:
    """A decoded data packet; ``raw`` is the (n, 6) int16 sample block."""

    version: int
    flags: int
    seq: int
    t0_us: int
    raw: np.ndarray

    @property
    def n(self) -> int:
        return int(self.raw.shape[0])


class PacketError(BadInputError):
    """A packet that cannot be decoded (too short, wrong version, wrong length)."""


def encode_packet(seq: int, t0_us: int, raw: np.ndarray, flags: int = 0) -> bytes:
    """Encode one packet. ``raw`` is an (n, 6) integer array already in sensor LSB."""
    raw = np.asarray(raw)
    if raw.ndim != 2 or raw.shape[1] != 6 or not 1 <= raw.shape[0] <= MAX_SAMPLES_PER_PACKET:
        raise ValueError(f"raw must be (n, 6) with 1 <= n <= {MAX_SAMPLES_PER_PACKET}")
    header = HEADER.pack(
        PROTOCOL_VERSION, flags & 0xFF, seq & 0xFFFF, t0_us & 0xFFFFFFFF, raw.shape[0], 0
    )
    return header + np.ascontiguousarray(raw, dtype="<i2").tobytes()


def decode_packet(data: bytes) -> Packet:
    """Decode one packet; raises `PacketError` (never anything else) on malformed bytes."""
    if len(data) < HEADER_SIZE:
        raise PacketError(f"packet of {len(data)} bytes is shorter than the {HEADER_SIZE}-byte header")
    version, flags, seq, t0_us, n, _ = HEADER.unpack_from(data, 0)
    if version != PROTOCOL_VERSION:
        raise PacketError(f"packet protocol version {version} is not supported (expected 1)")
    if n == 0 or n > MAX_SAMPLES_PER_PACKET:
        raise PacketError(f"packet declares {n} samples (allowed 1..{MAX_SAMPLES_PER_PACKET})")
    if len(data) != HEADER_SIZE + SAMPLE_SIZE * n:
        raise PacketError(
            f"packet declares {n} samples ({HEADER_SIZE + SAMPLE_SIZE * n} bytes) but has {len(data)}"
        )
    raw = np.frombuffer(data, dtype="<i2", offset=HEADER_SIZE, count=6 * n).reshape(n, 6)
    return Packet(version=version, flags=flags, seq=seq, t0_us=t0_us, raw=raw)


def raw_to_physical(raw: np.ndarray, scales: Scales) -> tuple[np.ndarray, np.ndarray]:
    """(n, 6) int16 -> acc (n, 3) m/s^2 and gyr (n, 3) deg/s, float64."""
    raw = np.asarray(raw, dtype=np.float64)
    return raw[:, :3] * scales.acc_per_lsb, raw[:, 3:] * scales.gyr_per_lsb


def physical_to_raw(acc: np.ndarray, gyr: np.ndarray, scales: Scales) -> np.ndarray:
    """Quantise physical values to int16 LSB, saturating at the range like a real sensor."""
    raw = np.hstack([np.asarray(acc) / scales.acc_per_lsb, np.asarray(gyr) / scales.gyr_per_lsb])
    return np.clip(np.rint(raw), -32768, 32767).astype(np.int16)
