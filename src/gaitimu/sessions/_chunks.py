"""Framed, checksummed chunks: the append-only log files of a session (docs/sessions.md).

Every chunk is a 28-byte little-endian header followed by its payload::

    offset size  field
    0      4     magic b"\\xabGIC"
    4      1     kind (1 samples, 2 packets, 3 event)
    5      1     chunk layout version (1)
    6      2     reserved (0)
    8      4     payload length in bytes
    12     4     count (samples, packets or events in the payload)
    16     4     seq: chunk number in this file, 0, 1, 2, ...
    20     4     CRC32 of the payload
    24     4     CRC32 of header bytes 0..23

A writer emits each chunk with a single ``write`` call, so a killed writer leaves at most one
partial chunk at the end of a file. `scan_chunks` walks a file, keeps every chunk whose two
checksums match, and describes every byte range it had to skip (truncated tail, corrupted
middle) so the reader can report it; after a bad range it resynchronises on the next magic
that starts a header with a valid checksum.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

MAGIC = b"\xabGIC"
CHUNK_VERSION = 1
HEADER = struct.Struct("<4sBBHIIII")  # without the trailing header CRC
HEADER_SIZE = HEADER.size + 4  # 28
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024

KIND_SAMPLES = 1
KIND_PACKETS = 2
KIND_EVENT = 3
KIND_NAMES = {KIND_SAMPLES: "samples", KIND_PACKETS: "packets", KIND_EVENT: "event"}


def encode_chunk(kind: int, seq: int, count: int, payload: bytes | memoryview) -> bytes:
    """Frame one payload as a chunk (header + payload) ready for a single ``write``."""
    head = HEADER.pack(
        MAGIC, kind, CHUNK_VERSION, 0, len(payload), count, seq & 0xFFFFFFFF, zlib.crc32(payload)
    )
    return head + struct.pack("<I", zlib.crc32(head)) + bytes(payload)


@dataclass(frozen=True)
class Chunk:
    """A chunk that passed both checksums; ``start`` is the payload offset in the file."""

    kind: int
    seq: int
    count: int
    start: int
    length: int


@dataclass(frozen=True)
class BadRange:
    """A byte range `scan_chunks` could not use.

    ``reason`` is ``"truncated"`` (the file ends inside a chunk) or ``"corrupted"``;
    ``count`` and ``seq`` are those of the lost chunk when its header was valid, else None.
    """

    offset: int
    length: int
    reason: str
    count: int | None = None
    seq: int | None = None


@dataclass
class ScanResult:
    chunks: list[Chunk] = field(default_factory=list)
    bad: list[BadRange] = field(default_factory=list)


_CRC = struct.Struct("<I")


def _header_at(
    buf: bytes, pos: int, view: memoryview | None = None
) -> tuple[int, int, int, int, int] | None:
    """(kind, length, count, seq, payload_crc) if a checksummed header starts at ``pos``."""
    if pos + HEADER_SIZE > len(buf):
        return None
    view = view if view is not None else memoryview(buf)
    (crc_head,) = _CRC.unpack_from(buf, pos + HEADER.size)
    if zlib.crc32(view[pos : pos + HEADER.size]) != crc_head:
        return None
    magic, kind, version, _, length, count, seq, crc_payload = HEADER.unpack_from(buf, pos)
    if magic != MAGIC or version != CHUNK_VERSION or length > MAX_PAYLOAD_BYTES:
        return None
    return kind, length, count, seq, crc_payload


def _next_header(buf: bytes, pos: int) -> int:
    """Offset of the next valid header at or after ``pos``, or ``len(buf)``."""
    while True:
        pos = buf.find(MAGIC, pos)
        if pos < 0:
            return len(buf)
        if _header_at(buf, pos) is not None:
            return pos
        pos += 1


def scan_chunks(buf: bytes) -> ScanResult:
    """Split a log file's bytes into good chunks and bad byte ranges (see module doc)."""
    out = ScanResult()
    view = memoryview(buf)
    pos, n = 0, len(buf)
    while pos < n:
        head = _header_at(buf, pos, view)
        if head is None:
            if n - pos < HEADER_SIZE and buf[pos : pos + 4] == MAGIC[: min(4, n - pos)]:
                out.bad.append(BadRange(pos, n - pos, "truncated"))  # header cut short
                break
            nxt = _next_header(buf, pos + 1)
            out.bad.append(BadRange(pos, nxt - pos, "corrupted"))
            pos = nxt
            continue
        kind, length, count, seq, crc_payload = head
        start = pos + HEADER_SIZE
        end = start + length
        if end > n:
            nxt = _next_header(buf, pos + 1)
            if nxt == n:  # the file ends inside this chunk: a writer stopped mid-write
                out.bad.append(BadRange(pos, n - pos, "truncated", count, seq))
                break
            out.bad.append(BadRange(pos, nxt - pos, "corrupted", count, seq))
            pos = nxt
            continue
        if zlib.crc32(view[start:end]) != crc_payload:
            # the header checksum held, so its length is trusted when a chunk follows it
            nxt = (
                end if end == n or _header_at(buf, end) is not None else _next_header(buf, pos + 1)
            )
            out.bad.append(BadRange(pos, nxt - pos, "corrupted", count, seq))
            pos = nxt
            continue
        out.chunks.append(Chunk(kind, seq, count, start, length))
        pos = end
    return out
