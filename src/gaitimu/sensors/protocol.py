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

The layout is defined once (`HEADER_FIELDS`, `SAMPLE_DTYPE`): `encode_packet`/`decode_packet`
handle one packet (the recorder, the virtual sensor), `encode_packets`/`decode_packets` many
at once with a numpy view of the same layout (the simulator).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

import numpy as np

from gaitimu.consts import G
from gaitimu.errors import BadInputError

PROTOCOL_VERSION = 1
#: The packet layout, defined once: the header fields in order (name, `struct` format code,
#: little-endian), then ``n`` samples of ``SAMPLE_CHANNELS`` values of ``SAMPLE_DTYPE``. The
#: per-packet `struct` codec (`HEADER`) and the many-packet numpy codec (`packet_dtype`) are
#: both built from it.
HEADER_FIELDS = (("version", "B"), ("flags", "B"), ("seq", "H"), ("t0_us", "I"), ("n", "B"),
                 ("reserved", "B"))
SAMPLE_DTYPE = np.dtype("<i2")  # acc_x acc_y acc_z gyr_x gyr_y gyr_z, int16 LSB
SAMPLE_CHANNELS = 6
HEADER = struct.Struct("<" + "".join(code for _, code in HEADER_FIELDS))
HEADER_SIZE = HEADER.size  # 10
SAMPLE_SIZE = SAMPLE_CHANNELS * SAMPLE_DTYPE.itemsize  # 12
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
    if (raw.ndim != 2 or raw.shape[1] != SAMPLE_CHANNELS
            or not 1 <= raw.shape[0] <= MAX_SAMPLES_PER_PACKET):
        raise ValueError(f"raw must be (n, 6) with 1 <= n <= {MAX_SAMPLES_PER_PACKET}")
    header = HEADER.pack(
        PROTOCOL_VERSION, flags & 0xFF, seq & 0xFFFF, t0_us & 0xFFFFFFFF, raw.shape[0], 0
    )
    return header + np.ascontiguousarray(raw, dtype=SAMPLE_DTYPE).tobytes()


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
    raw = np.frombuffer(data, dtype=SAMPLE_DTYPE, offset=HEADER_SIZE,
                        count=SAMPLE_CHANNELS * n).reshape(n, SAMPLE_CHANNELS)
    return Packet(version=version, flags=flags, seq=seq, t0_us=t0_us, raw=raw)


# =========================================================================== many packets
def packet_dtype(n_samples: int) -> np.dtype:
    """numpy structured dtype of one packet of ``n_samples`` samples, from `HEADER_FIELDS`.

    Packed (no padding) and little-endian like `HEADER`, so a record array of it is the byte
    string of consecutive packets: what `encode_packets` writes and `decode_packets` reads.
    """
    return np.dtype([(name, "<" + code) for name, code in HEADER_FIELDS]
                    + [("raw", SAMPLE_DTYPE, (n_samples, SAMPLE_CHANNELS))])


def encode_packets(seq: np.ndarray, t0_us: np.ndarray, raw: np.ndarray,
                   flags: int | np.ndarray = 0) -> list[bytes]:
    """Encode ``k`` packets of ``n`` samples each at once: `encode_packet` for many packets.

    ``seq``, ``t0_us`` (and ``flags``) are (k,) or scalars, wrapped like `encode_packet` does;
    ``raw`` is (k, n, 6) in sensor LSB. Each returned packet equals ``encode_packet(...)`` of
    its row byte for byte (tested); a simulated hour is ~180 000 packets, too many for a loop.
    """
    raw = np.asarray(raw)
    if (raw.ndim != 3 or raw.shape[2] != SAMPLE_CHANNELS
            or not 1 <= raw.shape[1] <= MAX_SAMPLES_PER_PACKET):
        raise ValueError(f"raw must be (k, n, 6) with 1 <= n <= {MAX_SAMPLES_PER_PACKET}")
    k, n = raw.shape[:2]
    rec = np.zeros(k, dtype=packet_dtype(n))
    rec["version"] = PROTOCOL_VERSION
    rec["flags"] = np.asarray(flags) & 0xFF
    rec["seq"] = np.asarray(seq) & 0xFFFF
    rec["t0_us"] = np.asarray(t0_us) & 0xFFFFFFFF
    rec["n"] = n
    rec["raw"] = raw
    buf = rec.tobytes()
    size = rec.dtype.itemsize
    return [buf[i * size:(i + 1) * size] for i in range(k)]


@dataclass(frozen=True)
class PacketBatch:
    """Many decoded packets, in order: header fields per packet, samples of all of them.

    ``flags``, ``seq``, ``t0_us`` and ``n`` are (k,) int64 arrays; ``raw`` is the
    (``n.sum()``, 6) int16 sample block, packet after packet.
    """

    flags: np.ndarray
    seq: np.ndarray
    t0_us: np.ndarray
    n: np.ndarray
    raw: np.ndarray


def decode_packets(payloads: list[bytes]) -> PacketBatch:
    """Decode many packets at once: `decode_packet` for a list of packets.

    Runs of packets of the same size are read with one `packet_dtype` view each. Validation
    is `decode_packet`'s: the first malformed packet is decoded by it, which raises its
    `PacketError` (prefixed with the packet's index).
    """
    if not payloads:
        none = np.zeros(0, dtype=np.int64)
        return PacketBatch(none, none, none, none, np.zeros((0, SAMPLE_CHANNELS), SAMPLE_DTYPE))
    sizes = np.fromiter((len(d) for d in payloads), dtype=np.int64, count=len(payloads))
    run_starts = np.flatnonzero(np.diff(sizes, prepend=-1))
    run_stops = np.append(run_starts[1:], sizes.size)
    recs = [_decode_run(payloads, int(a), int(b)) for a, b in zip(run_starts, run_stops, strict=True)]
    return PacketBatch(
        flags=np.concatenate([r["flags"] for r in recs]).astype(np.int64),
        seq=np.concatenate([r["seq"] for r in recs]).astype(np.int64),
        t0_us=np.concatenate([r["t0_us"] for r in recs]).astype(np.int64),
        n=np.concatenate([r["n"] for r in recs]).astype(np.int64),
        raw=np.concatenate([r["raw"].reshape(-1, SAMPLE_CHANNELS) for r in recs]),
    )


def _decode_run(payloads: list[bytes], start: int, stop: int) -> np.ndarray:
    """Packets ``start:stop`` (all of one size) as a record array of `packet_dtype`."""
    n, rest = divmod(len(payloads[start]) - HEADER_SIZE, SAMPLE_SIZE)
    if rest == 0 and 1 <= n <= MAX_SAMPLES_PER_PACKET:
        rec = np.frombuffer(b"".join(payloads[start:stop]), dtype=packet_dtype(n))
        bad = np.flatnonzero((rec["version"] != PROTOCOL_VERSION) | (rec["n"] != n))
        if not bad.size:
            return rec
        start += int(bad[0])
    try:
        decode_packet(payloads[start])  # raises: the size or a header field is wrong
    except PacketError as e:
        raise PacketError(f"packet {start}: {e}") from None
    raise AssertionError("unreachable: decode_packet accepted a packet the batch refused")


def raw_to_physical(raw: np.ndarray, scales: Scales) -> tuple[np.ndarray, np.ndarray]:
    """(n, 6) int16 -> acc (n, 3) m/s^2 and gyr (n, 3) deg/s, float64."""
    raw = np.asarray(raw, dtype=np.float64)
    return raw[:, :3] * scales.acc_per_lsb, raw[:, 3:] * scales.gyr_per_lsb


def physical_to_raw(acc: np.ndarray, gyr: np.ndarray, scales: Scales) -> np.ndarray:
    """Quantise physical values to int16 LSB, saturating at the range like a real sensor."""
    raw = np.hstack([np.asarray(acc) / scales.acc_per_lsb, np.asarray(gyr) / scales.gyr_per_lsb])
    return np.clip(np.rint(raw), -32768, 32767).astype(np.int16)


# =========================================================================== GATT layout
#: 128-bit UUIDs of the gaitimu service and its characteristics (firmware_notes/PROTOCOL.md).
#: One random base; the 16 bits after the first 4 hex digits name the attribute.
SERVICE_UUID = "6b1e0001-7c3d-4f5a-9a21-3c8e5d0b7f42"
DATA_CHAR_UUID = "6b1e0002-7c3d-4f5a-9a21-3c8e5d0b7f42"  # notify: one v1 packet per notification
CONTROL_CHAR_UUID = "6b1e0003-7c3d-4f5a-9a21-3c8e5d0b7f42"  # write (with response): commands
CONFIG_CHAR_UUID = "6b1e0004-7c3d-4f5a-9a21-3c8e5d0b7f42"  # read (+notify): config and status

#: Standard SIG services and characteristics the sensor also exposes.
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
DEVICE_INFO_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
MANUFACTURER_NAME_UUID = "00002a29-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"

#: Advertised names start with this prefix (the whole name must fit the advertising packet).
NAME_PREFIX = "gaitimu"

MIN_RATE_HZ = 50
MAX_RATE_HZ = 400
ACC_RANGES_G = (2, 4, 8, 16)
GYR_RANGES_DPS = (125, 250, 500, 1000, 2000)
DEFAULT_RATE_HZ = 200
DEFAULT_SCALES = Scales()


# =========================================================================== control commands
class Command:
    """Opcodes of the control characteristic (first byte of a write)."""

    START = 0x01  # no arguments: start streaming data notifications
    STOP = 0x02  # no arguments
    SET_RATE = 0x03  # uint16 rate_hz (50..400)
    SET_RANGES = 0x04  # uint8 acc_range_g, uint16 gyr_range_dps
    IDENTIFY = 0x05  # uint8 seconds: blink the LED
    SET_SAMPLES_PER_PACKET = 0x06  # uint8 n (1..19, 0 = let the sensor choose)


_COMMAND_ARGS = {
    Command.START: struct.Struct("<"),
    Command.STOP: struct.Struct("<"),
    Command.SET_RATE: struct.Struct("<H"),
    Command.SET_RANGES: struct.Struct("<BH"),
    Command.IDENTIFY: struct.Struct("<B"),
    Command.SET_SAMPLES_PER_PACKET: struct.Struct("<B"),
}


class CommandError(BadInputError):
    """A control command that is malformed or out of range."""


def encode_command(opcode: int, *args: int) -> bytes:
    """Encode a control command, e.g. ``encode_command(Command.SET_RATE, 200)``."""
    try:
        fmt = _COMMAND_ARGS[opcode]
        return bytes([opcode]) + fmt.pack(*args)
    except (KeyError, struct.error) as e:
        raise CommandError(f"cannot encode command 0x{opcode:02x} with {args}: {e}") from None


def decode_command(data: bytes) -> tuple[int, tuple[int, ...]]:
    """Decode and validate a control command -> ``(opcode, args)``; raises `CommandError`."""
    if not data:
        raise CommandError("empty control command")
    opcode = data[0]
    fmt = _COMMAND_ARGS.get(opcode)
    if fmt is None:
        raise CommandError(f"unknown control opcode 0x{opcode:02x}")
    if len(data) != 1 + fmt.size:
        raise CommandError(f"command 0x{opcode:02x} needs {fmt.size} argument bytes, got {len(data) - 1}")
    args = fmt.unpack_from(data, 1)
    if opcode == Command.SET_RATE and not MIN_RATE_HZ <= args[0] <= MAX_RATE_HZ:
        raise CommandError(f"rate {args[0]} Hz outside {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz")
    if opcode == Command.SET_RANGES and (args[0] not in ACC_RANGES_G or args[1] not in GYR_RANGES_DPS):
        raise CommandError(f"unsupported ranges ±{args[0]} g / ±{args[1]} deg/s")
    if opcode == Command.SET_SAMPLES_PER_PACKET and args[0] > MAX_SAMPLES_PER_PACKET:
        raise CommandError(f"{args[0]} samples per packet > {MAX_SAMPLES_PER_PACKET}")
    return opcode, args


def default_samples_per_packet(rate_hz: int) -> int:
    """Samples per notification the sensor picks when told 0: ~20 packets/s, 1..19 samples."""
    return int(min(MAX_SAMPLES_PER_PACKET, max(1, rate_hz // 20)))


# =========================================================================== config/status
CONFIG = struct.Struct("<BBHBHBBI")  # 13 bytes (PROTOCOL.md section 5; firmware matches)
#: Size of the value sent by reference firmware built before the layout was fixed at 13 bytes:
#: it sent 12 (``overflow_packets`` cut to its low 3 bytes). Accepted, see `decode_config`.
CONFIG_LEGACY_SIZE = 12
STATUS_STREAMING = 0x01
STATUS_PAIRING_REQUIRED = 0x02
STATUS_OVERFLOWED = 0x04


@dataclass(frozen=True)
class SensorConfig:
    """Content of the config/status characteristic (read).

    ``protocol_version`` is the data-packet version the sensor sends; ``overflow_packets`` counts
    packets the sensor had to discard because its ring buffer was full (never resets while
    powered).
    """

    protocol_version: int = PROTOCOL_VERSION
    status: int = 0
    rate_hz: int = DEFAULT_RATE_HZ
    acc_range_g: int = 16
    gyr_range_dps: int = 2000
    samples_per_packet: int = 10
    overflow_packets: int = 0

    @property
    def scales(self) -> Scales:
        return Scales(float(self.acc_range_g), float(self.gyr_range_dps))

    @property
    def streaming(self) -> bool:
        return bool(self.status & STATUS_STREAMING)


def encode_config(cfg: SensorConfig) -> bytes:
    """Encode the config/status characteristic value."""
    return CONFIG.pack(
        cfg.protocol_version, cfg.status, cfg.rate_hz, cfg.acc_range_g, cfg.gyr_range_dps,
        cfg.samples_per_packet, 0, cfg.overflow_packets,
    )


def decode_config(data: bytes) -> SensorConfig:
    """Decode the config/status value (13 bytes). Longer values are accepted (later minor
    versions append fields). The 12-byte value of reference firmware built before the layout
    was fixed is accepted too: there ``overflow_packets`` holds its low 3 bytes only (exact
    below 16.7 million discarded packets). Shorter values raise `PacketError`."""
    data = bytes(data)
    if len(data) == CONFIG_LEGACY_SIZE:
        data = data + b"\x00"
    if len(data) < CONFIG.size:
        raise PacketError(
            f"config value of {len(data)} bytes is shorter than {CONFIG.size} "
            f"(or the {CONFIG_LEGACY_SIZE} of early reference firmware)"
        )
    v, status, rate, acc_g, gyr_dps, spp, _, overflow = CONFIG.unpack_from(data, 0)
    return SensorConfig(v, status, rate, acc_g, gyr_dps, spp, overflow)


# =========================================================================== stream decoding
_U32 = 1 << 32
_U16 = 1 << 16


def _signed_delta(new: int, old: int, modulus: int) -> int:
    """Shortest signed distance from ``old`` to ``new`` on a counter that wraps at ``modulus``."""
    half = modulus // 2
    return (new - old + half) % modulus - half


@dataclass(frozen=True)
class DecodedBlock:
    """One or more accepted packets, in order, with their place in the stream.

    ``sensor_t_s`` is the sensor-clock time of every sample (unwrapped, seconds, from the first
    sample of the current clock epoch); ``lost_before`` is how many samples are missing between
    the previous accepted block and this one (0 when contiguous); ``epoch`` increments when the
    sensor clock restarted (sensor reboot), after which sensor times restart too. A block holds
    several contiguous packets (``n_packets``) when a jump or a restart had to be confirmed by
    the packets that followed it before they were accepted.
    """

    seq: int
    t_host_s: float
    sensor_t_s: np.ndarray
    raw: np.ndarray
    flags: int
    lost_before: int
    epoch: int
    n_packets: int = 1

    @property
    def n(self) -> int:
        return int(self.raw.shape[0])


@dataclass
class StreamStats:
    """Counters of a `StreamDecoder`. Every fed packet lands in exactly one of ``accepted``,
    ``malformed``, ``duplicates`` (the same packet again), ``late`` (older than the stream,
    reordered) or ``rejected`` (a lone packet whose sequence number and clock do not fit the
    stream: corrupted, or a jump that the following packets did not confirm). A packet that
    waits for confirmation is counted as late/rejected until confirmed, then as accepted."""

    received: int = 0
    accepted: int = 0
    malformed: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0
    samples: int = 0
    lost_samples: int = 0
    lost_packets: int = 0
    gaps: int = 0
    overflow_flags: int = 0
    clock_resets: int = 0

    @property
    def loss_fraction(self) -> float:
        """Lost / (received + lost) samples; 0 before any sample."""
        total = self.samples + self.lost_samples
        return self.lost_samples / total if total else 0.0

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["loss_fraction"] = self.loss_fraction
        return d


@dataclass
class _Held:
    """A decoded packet waiting for confirmation (see `StreamDecoder`)."""

    pkt: Packet
    t_host_s: float
    counted_as: str  # "late" or "rejected" until confirmed
    key: tuple[int, int, int]  # seq, t0_us, hash of the bytes (duplicate detection)


class StreamDecoder:
    """Pure, stateful decoder of a stream of data packets with loss accounting.

    Feed the raw notification bytes in arrival order with `feed`; it returns a `DecodedBlock`
    when packets extend the stream and ``None`` otherwise (malformed, duplicated, late, or held
    for confirmation), everything counted in `stats`. It never raises on packet content. This
    one class decides for the recorder (`gaitimu.sensors.client`) and for replay
    (`gaitimu.live.replay`), so both take the same packets.

    Rules (firmware_notes/PROTOCOL.md, "How the host uses the fields"):

    - A packet that continues the stream with its sequence number and its clock *agreeing*
      (``seq`` +1 and contiguous samples; or ``seq`` +k and between k-1 and 19 (k-1) samples
      missing, never more than the host clock allows) is accepted at once; the missing samples
      are counted as lost.
    - Anything else (a seq or clock jump, a step backwards, a restart) is believed only when
      ``confirm_packets`` consecutive, contiguous packets agree on it. Until then they are held
      (returned later as one block); a packet that the next ones contradict (they continue the
      old stream) is dropped and counted as ``rejected`` (``late`` when it was older than the
      stream). One corrupted packet therefore never moves the stream, and never costs the
      packets after it.
    - Exact repeats (same bytes) of the last 4096 accepted packets are ``duplicates`` (older
      ones are ``late``).
    - A confirmed backwards jump, a forward jump longer than ``max_gap_s`` or longer than the
      host clock allows (when host times are given), is a sensor restart: a new clock epoch,
      loss unknown from the packets (the caller counts it from its own clock). Right after
      `mark_reconnect` a backwards packet is a restart at once (nothing can be reordered across
      a reconnection).
    - Lost samples are never negative and, with host times, never more than the host clock
      elapsed (plus ``host_slack_s``) times the rate.

    Parameters
    ----------
    sampling_rate_hz
        The configured sample rate of the sensor.
    reset_threshold_s
        Kept for compatibility: backwards jumps of any size need confirmation now.
    max_gap_s
        Longest plausible gap; larger forward jumps are treated as a clock restart. Must stay
        below half the wrap period of the microsecond clock (2**31 us = 35.8 min).
    seq_wrap_s
        Gaps longer than this may have wrapped the 16-bit sequence number (65536 packets are
        55 min at 20 packets/s, 2.7 min at 400 packets/s): they need confirmation, and the
        clock alone counts the loss.
    confirm_packets
        Consecutive contiguous packets that must agree before a jump or restart is believed.
    host_slack_s
        How much further the sensor clock may move than the host clock between two accepted
        packets (delivery delays of the earlier one).
    """

    def __init__(self, sampling_rate_hz: float, *, reset_threshold_s: float = 2.0,
                 max_gap_s: float = 2000.0, seq_wrap_s: float = 60.0, confirm_packets: int = 3,
                 host_slack_s: float = 2.0) -> None:
        if not sampling_rate_hz > 0:
            raise ValueError("sampling_rate_hz must be > 0")
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.reset_threshold_s = reset_threshold_s
        self.max_gap_s = min(max_gap_s, 2000.0)
        self.seq_wrap_s = seq_wrap_s
        self.confirm_packets = max(1, int(confirm_packets))
        self.host_slack_s = host_slack_s
        self.stats = StreamStats()
        self._period_us = 1e6 / self.sampling_rate_hz
        self._last: tuple[int, int, float, int, float] | None = None  # seq, t0, t_us, n, host
        self._seq = 0
        self._epoch = 0
        self._new_link = False
        self._held: list[_Held] = []
        self._recent: set[tuple[int, int, int]] = set()  # keys of recent accepted packets
        self._recent_order: deque[tuple[int, int, int]] = deque()
        self._recent_max = 4096

    @property
    def pending(self) -> int:
        """Packets held for confirmation (counted as late/rejected until confirmed)."""
        return len(self._held)

    def mark_reconnect(self) -> None:
        """Tell the decoder a new connection starts here. Nothing can be reordered across a
        reconnection, so if the next packet is older than the last one the sensor restarted
        (its clock began again), however short the outage."""
        self._new_link = True

    # ------------------------------------------------------------------ relations
    def _host_allows(self, forward_us: float, host_last: float, host_now: float) -> bool:
        """Whether the sensor clock may have moved ``forward_us`` while the host clock moved."""
        if not (np.isfinite(host_last) and np.isfinite(host_now)):
            return True
        return forward_us <= ((host_now - host_last) * 1.002 + self.host_slack_s) * 1e6

    def _continues(self, pkt: Packet, t_host: float) -> tuple[bool, int, int, bool]:
        """Does ``pkt`` continue the accepted stream at once? -> (ok, lost, dseq, backwards)."""
        seq_raw, t0_raw, _t_us, last_n, host_last = self._last
        dt_us = _signed_delta(pkt.t0_us, t0_raw, _U32)
        dseq = _signed_delta(pkt.seq, seq_raw, _U16)
        gap = (dt_us - last_n * self._period_us) / self._period_us
        backwards = gap < -0.5
        lost = round(gap)
        ok = (not backwards and dseq >= 1 and dt_us < self.seq_wrap_s * 1e6
              and dseq - 1 <= lost <= (dseq - 1) * MAX_SAMPLES_PER_PACKET
              and self._host_allows(dt_us, host_last, t_host))
        return ok, lost, dseq, backwards

    def _chains(self, prev: Packet, pkt: Packet) -> bool:
        """``pkt`` follows ``prev`` directly: seq +1 and the next sample on the clock."""
        dt_us = _signed_delta(pkt.t0_us, prev.t0_us, _U32)
        return (_signed_delta(pkt.seq, prev.seq, _U16) == 1
                and abs(dt_us - prev.n * self._period_us) < 0.5 * self._period_us)

    # ------------------------------------------------------------------ feed
    def feed(self, data: bytes | bytearray, t_host_s: float = float("nan")) -> DecodedBlock | None:
        """Decode one notification. Returns a block of accepted packets or ``None`` (counted)."""
        st = self.stats
        st.received += 1
        try:
            pkt = decode_packet(bytes(data))
        except PacketError:
            st.malformed += 1
            return None
        key = (pkt.seq, pkt.t0_us, hash(bytes(data)))
        if key in self._recent or (self._held and key == self._held[-1].key):
            st.duplicates += 1
            return None
        if self._last is None:  # the first packet anchors the stream (a bad one is outvoted)
            return self._accept([_Held(pkt, t_host_s, "", key)], t_us=0.0, lost=0, dseq=1)
        ok, lost, dseq, backwards = self._continues(pkt, t_host_s)
        if ok:
            self._held.clear()  # held packets stay counted as late/rejected
            return self._accept([_Held(pkt, t_host_s, "", key)], t_us=None, lost=lost, dseq=dseq)
        if self._new_link and backwards:
            # Nothing is reordered across a reconnection: the sensor restarted.
            self._held.clear()
            return self._restart([_Held(pkt, t_host_s, "", key)])
        held = _Held(pkt, t_host_s, "late" if backwards else "rejected", key)
        setattr(st, held.counted_as, getattr(st, held.counted_as) + 1)
        if self._held and self._chains(self._held[-1].pkt, pkt):
            self._held.append(held)
        else:
            self._held = [held]
        if len(self._held) < self.confirm_packets:
            return None
        return self._confirm()

    def _confirm(self) -> DecodedBlock:
        """``confirm_packets`` held packets agree: believe their jump (or restart)."""
        held, self._held = self._held, []
        for h in held:
            setattr(self.stats, h.counted_as, getattr(self.stats, h.counted_as) - 1)
        first = held[0].pkt
        seq_raw, t0_raw, _t_us, last_n, host_last = self._last
        dt_us = _signed_delta(first.t0_us, t0_raw, _U32)
        lost = round((dt_us - last_n * self._period_us) / self._period_us)
        if (lost < 0 or dt_us > self.max_gap_s * 1e6
                or not self._host_allows(dt_us, host_last, held[0].t_host_s)):
            return self._restart(held)
        dseq = _signed_delta(first.seq, seq_raw, _U16)
        if not (dt_us < self.seq_wrap_s * 1e6 and dseq >= 1
                and dseq - 1 <= lost <= (dseq - 1) * MAX_SAMPLES_PER_PACKET):
            dseq = 1 + round(lost / max(1, last_n))  # seq unreliable here: the clock counts
        return self._accept(held, t_us=None, lost=lost, dseq=dseq)

    def _restart(self, held: list[_Held]) -> DecodedBlock:
        self.stats.clock_resets += 1
        self._epoch += 1
        self._recent.clear()
        self._recent_order.clear()
        return self._accept(held, t_us=0.0, lost=0, dseq=1)

    def _accept(self, held: list[_Held], *, t_us: float | None, lost: int, dseq: int) -> DecodedBlock:
        """Accept contiguous packets; ``t_us`` None = continue the epoch's clock."""
        st = self.stats
        first = held[0].pkt
        if t_us is None:
            _, t0_raw, last_t_us, _, _ = self._last
            t_us = last_t_us + _signed_delta(first.t0_us, t0_raw, _U32)
        lost = max(0, int(lost))
        st.lost_packets += max(0, dseq - 1)
        if lost:
            st.lost_samples += lost
            st.gaps += 1
        times, raws, flags = [], [], 0
        for h in held:
            p = h.pkt
            p_us = t_us + _signed_delta(p.t0_us, first.t0_us, _U32)
            times.append((p_us + np.arange(p.n) * self._period_us) / 1e6)
            raws.append(p.raw)
            flags |= p.flags
            if p.flags & FLAG_OVERFLOW:
                st.overflow_flags += 1
            if h.key not in self._recent:
                self._recent.add(h.key)
                self._recent_order.append(h.key)
            st.accepted += 1
            st.samples += p.n
        while len(self._recent_order) > self._recent_max:
            self._recent.discard(self._recent_order.popleft())
        last = held[-1]
        last_t_us = t_us + _signed_delta(last.pkt.t0_us, first.t0_us, _U32)
        self._last = (last.pkt.seq, last.pkt.t0_us, last_t_us, last.pkt.n, last.t_host_s)
        self._new_link = False
        self._seq += 1
        one = len(held) == 1
        return DecodedBlock(
            seq=self._seq - 1, t_host_s=last.t_host_s,
            sensor_t_s=times[0] if one else np.concatenate(times),
            raw=first.raw if one else np.concatenate(raws), flags=flags, lost_before=lost,
            epoch=self._epoch, n_packets=len(held),
        )


def restart_gap_samples(stats: StreamStats, last_t_s: float | None, first_t_s: float,
                        rate_hz: float) -> int:
    """Samples missing across a sensor restart (a new clock epoch), from session times.

    The packets cannot tell what a restart cost (the sensor clock began again); the session
    clock can: ``round((first_t_s - last_t_s) * rate) - 1``, never negative. Counted in
    ``stats`` (lost samples, one gap). Used by the recorder and by replay alike.
    """
    if last_t_s is None or not np.isfinite(last_t_s) or not np.isfinite(first_t_s):
        return 0
    lost = max(0, round((first_t_s - last_t_s) * rate_hz) - 1)
    stats.lost_samples += lost
    stats.gaps += 1 if lost else 0
    return lost
