"""`open_session` and `Session`: reading a session directory, recovering what a crash or a
corruption left behind, and saying so in `Session.problems` (docs/sessions.md)."""

from __future__ import annotations

import bisect
import json
import logging
import math
import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaitimu.consts import (
    ACTIVITIES,
    DEFAULT_AXES,
    MAX_RATE_HZ,
    MAX_SESSION_S,
    MIN_RATE_HZ,
    check_rate,
    is_auto_axes,
    parse_axes,
)
from gaitimu.errors import BadInputError, GaitimuError, quote
from gaitimu.sessions import _chunks
from gaitimu.sessions._format import (
    EVENTS_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    GAP_KINDS,
    META_FILE,
    PACKETS_FILE,
    SAMPLE_BYTES,
    SAMPLE_FIELDS,
    SAMPLES_FILE,
    TRUTH_ARRAYS_FILE,
    TRUTH_FILE,
)

log = logging.getLogger(__name__)

#: Largest meta.json / truth.json read (bytes); the writer's are a few kB.
MAX_META_BYTES = 16 * 1024 * 1024
#: Largest events.bin read (bytes): ~100,000 events.
MAX_EVENTS_BYTES = 64 * 1024 * 1024
#: Largest truth.npz read, on disk and unpacked (bytes).
MAX_TRUTH_BYTES = 1024 * 1024 * 1024
#: Largest count (n_samples, n_packets, n_events) a meta.json may state: 24 h at the max rate.
MAX_COUNT = int(MAX_SESSION_S * MAX_RATE_HZ)


@dataclass
class Session:
    """A session read from disk. Build it with `open_session`.

    Attributes
    ----------
    path : Path
    meta : dict
        Metadata as written (docs/architecture.md, docs/sessions.md).
    t_s, acc, gyr : ndarray
        Decoded samples, float64: (n,) s from session start, (n, 3) m/s^2, (n, 3) deg/s, in the
        sensor frame.
    sample_rate_hz : float
        Nominal rate from the metadata (estimated from ``t_s`` when absent).
    axes : str
        Axis map of the sensor on the body, e.g. ``x=up,y=right,z=forward``.
    events : list of dict
        Events in the order written (gaps, disconnects, overflows, notes).
    gaps : list of (start_s, end_s)
        Holes in the sample stream: gap-like events plus any hole in ``t_s`` longer than 1.5
        sample periods that no event explains.
    lost_samples : int
        Samples missing in those gaps (from the events, else estimated from the hole length).
    truth, truth_arrays
        Simulator ground truth (None / empty when absent).
    problems : list of str
        Human-readable notes on what was recovered: not closed cleanly, truncated or corrupted
        byte ranges (with offsets, sample counts and times), missing chunks, inconsistencies.
    closed_cleanly : bool
    """

    path: Path
    meta: dict[str, Any]
    t_s: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray
    sample_rate_hz: float
    axes: str
    events: list[dict[str, Any]]
    gaps: list[tuple[float, float]]
    lost_samples: int
    truth: dict[str, Any] | None
    truth_arrays: dict[str, np.ndarray]
    problems: list[str]
    closed_cleanly: bool
    _packet_buf: bytes = field(default=b"", repr=False)
    _packet_chunks: list[_chunks.Chunk] = field(default_factory=list, repr=False)

    @property
    def n_samples(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def n_packets(self) -> int:
        return int(sum(c.count for c in self._packet_chunks))

    @property
    def duration_s(self) -> float:
        """Span of the samples: last - first time + one sample period (0 when empty)."""
        if self.n_samples == 0:
            return 0.0
        return float(self.t_s[-1] - self.t_s[0] + 1.0 / self.sample_rate_hz)

    def iter_packets(self) -> Iterator[tuple[float, bytes]]:
        """``(t_host_s, bytes)`` of each raw packet in the order received (for replay)."""
        t_host, data = self.packets()
        yield from zip(t_host.tolist(), data, strict=True)

    def packets(self) -> tuple[np.ndarray, list[bytes]]:
        """Raw packets as received: host receive times (s) and the bytes of each packet."""
        times: list[np.ndarray] = []
        data: list[bytes] = []
        buf = self._packet_buf
        for c in self._packet_chunks:
            n = c.count
            t = np.frombuffer(buf, dtype="<f8", count=n, offset=c.start)
            lengths = np.frombuffer(buf, dtype="<u4", count=n, offset=c.start + 8 * n)
            if int(lengths.sum(dtype=np.int64)) + 12 * n != c.length:
                msg = (
                    f"{PACKETS_FILE}: chunk at byte {c.start - _chunks.HEADER_SIZE} has "
                    "inconsistent packet lengths, skipped"
                )
                if msg not in self.problems:
                    self.problems.append(msg)
                    log.warning("%s: %s", self.path, msg)
                continue
            ends = c.start + 12 * n + np.cumsum(lengths, dtype=np.int64)
            starts = ends - lengths
            times.append(t)
            data.extend(buf[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True))
        t_all = np.concatenate(times) if times else np.empty(0)
        return t_all.astype(np.float64, copy=True), data


def _fail(path: Path, what: str) -> BadInputError:
    return BadInputError(f"{path}: {what}")


def _regular(path: Path) -> os.stat_result | None:
    """``stat`` of ``path`` when it exists; `BadInputError` unless it is a regular file.

    A FIFO, a device (``/dev/zero``) or a directory in place of a session file would hang a
    reader or feed it without end.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror})") from e
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(st.st_mode)
            else "not a regular file (a device, FIFO or socket)"
        )
        raise _fail(path, f"is {kind}; a session holds only regular files (restore or remove it)")
    return st


def _read_bounded(path: Path, limit: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror})") from e


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise _fail(
            path,
            "session not found (expected a session directory written by gaitimu "
            "record, simulate or import)",
        )
    if not path.is_dir():
        raise _fail(
            path,
            "is a file, not a gaitimu session directory (to read a CSV file use 'gaitimu import')",
        )
    meta_path = path / META_FILE
    st = _regular(meta_path)
    if st is None:
        raise _fail(path, f"no {META_FILE}: not a gaitimu session, or its metadata was deleted")
    if st.st_size > MAX_META_BYTES:
        raise _fail(
            meta_path,
            f"corrupted session metadata ({st.st_size} bytes; gaitimu writes a few kB, at most "
            f"{MAX_META_BYTES} are read); restore it from a backup",
        )
    try:
        meta = json.loads(_read_bounded(meta_path, MAX_META_BYTES).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, an int of 5,000 digits
        raise _fail(
            meta_path,
            f"corrupted session metadata ({quote(str(e), 120)[1:-1]}); the session cannot be "
            "opened without it (restore it from a backup)",
        ) from e
    except RecursionError as e:
        raise _fail(
            meta_path,
            "corrupted session metadata (JSON nested too deeply); the session cannot be "
            "opened without it (restore it from a backup)",
        ) from e
    if not isinstance(meta, dict):
        raise _fail(meta_path, "corrupted session metadata (not a JSON object)")
    if meta.get("format") != FORMAT_NAME:
        raise _fail(
            meta_path,
            f"not a gaitimu session (format {quote(meta.get('format'))}, expected {FORMAT_NAME!r})",
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(meta_path, f"invalid format_version {quote(version)}")
    if version > FORMAT_VERSION:
        raise _fail(
            path,
            f"session format version {quote(version)} is newer than this gaitimu "
            f"understands ({FORMAT_VERSION}); upgrade gaitimu to open it",
        )
    _check_meta(meta, meta_path)
    return meta


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT


def _is_range(hi: float):
    return lambda v: _is_num(v) and math.isfinite(v) and 0 < v <= hi


def _is_file_bytes(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**63 for n in v.values()
    )


def _is_between(lo: float, hi: float):
    """A test: a real number (not bool) within ``[lo, hi]``."""
    def ok(v: Any) -> bool:
        return (isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v) and lo <= v <= hi)
    return ok


#: Known meta.json fields: (test, what is expected). Absent or null is always accepted.
_META_FIELDS: dict[str, tuple[Any, str]] = {
    "n_samples": (_is_count, f"a whole number from 0 to {MAX_COUNT}"),
    "n_packets": (_is_count, f"a whole number from 0 to {MAX_COUNT}"),
    "n_events": (_is_count, f"a whole number from 0 to {MAX_COUNT}"),
    "file_bytes": (_is_file_bytes, 'an object of file sizes, e.g. {"samples.bin": 1204}'),
    "closed_cleanly": (lambda v: isinstance(v, bool), "true or false"),
    "acc_range_g": (_is_range(1000.0), "a number of g above 0 and at most 1000"),
    "gyr_range_dps": (_is_range(100000.0), "a number of deg/s above 0 and at most 100000"),
    # documented as walk, run or null; free text from older/hand-made sessions is kept
    "activity": (
        lambda v: isinstance(v, str),
        "text such as " + " or ".join(map(repr, ACTIVITIES)),
    ),
    "axes": (lambda v: isinstance(v, str), "text such as " + repr(DEFAULT_AXES)),
    # body size and treadmill speed (record/import --leg-length, --height, --speed-kmh)
    "leg_length_m": (_is_between(0.3, 1.4), "a leg length in metres, 0.3-1.4"),
    "height_m": (_is_between(0.6, 2.6), "a body height in metres, 0.6-2.6"),
    "speed_kmh": (_is_between(0.1, 40.0), "a treadmill speed in km/h, 0.1-40"),
    "sensor": (lambda v: isinstance(v, dict), "an object (name, model, firmware, ...)"),
    "calibration": (lambda v: isinstance(v, dict), "an object"),
    "import": (lambda v: isinstance(v, dict), "an object"),
    **{
        k: (lambda v: isinstance(v, str), "text")
        for k in (
            "source",
            "subject",
            "notes",
            "created_utc",
            "closed_utc",
            "software_version",
            "close_reason",
        )
    },
}


def _check_meta(meta: dict[str, Any], meta_path: Path) -> None:
    """Type and range of every known field, once, when the session is read (docs/sessions.md).

    A field of the wrong type (``"acc_range_g": "x"``) or out of range (``sample_rate_hz``
    1e308) is `BadInputError` naming the file and the field: the rest of gaitimu relies on
    these types. Unknown fields are kept as they are.
    """
    for key, (ok, expected) in _META_FIELDS.items():
        v = meta.get(key)
        if v is not None and not ok(v):
            raise _fail(
                meta_path,
                f"field {key!r} is {quote(v)}; expected {expected} (or null); "
                "fix the field or remove it",
            )
    rate = meta.get("sample_rate_hz")
    if rate is not None:
        try:
            check_rate(rate, "value")
        except BadInputError as e:
            raise _fail(
                meta_path,
                f"field 'sample_rate_hz' {e}; fix it, or remove it to have the rate "
                "estimated from the sample times",
            ) from None


def _read_log(
    path: Path, problems: list[str], *, required: bool, limit: int
) -> tuple[bytes, _chunks.ScanResult]:
    st = _regular(path)
    if st is None:
        if required:
            problems.append(f"{path.name} is missing: no data of this kind recovered")
        return b"", _chunks.ScanResult()
    if st.st_size > limit:
        msg = (
            f"{path.name}: {st.st_size} bytes on disk, more than this session can hold "
            f"({limit} bytes); only the first {limit} bytes were read"
        )
        problems.append(msg)
        log.warning("%s: %s", path.parent, msg)
    buf = _read_bounded(path, limit)
    return buf, _chunks.scan_chunks(buf)


def _log_limit(meta: dict[str, Any], name: str, rate: float | None, closed: bool) -> int:
    """Most bytes a log file of this session can hold, from the format and the metadata.

    24 h (`MAX_SESSION_S`) of 56-byte samples at the session's rate (the max rate when the
    metadata has none) plus chunk headers; for a cleanly closed session at most twice the size
    the writer recorded at close (+16 MiB for inserted junk that the scanner skips).
    """
    per_s = (rate or MAX_RATE_HZ) * SAMPLE_BYTES + 4 * _chunks.HEADER_SIZE
    limit = int(MAX_SESSION_S * per_s) + (1 << 20)
    if name == EVENTS_FILE:
        limit = MAX_EVENTS_BYTES
    sizes = meta.get("file_bytes")
    if closed and isinstance(sizes, dict) and isinstance(sizes.get(name), int):
        limit = min(limit, 2 * sizes[name] + (16 << 20))
    return limit


def _rewritten(bad: _chunks.BadRange, chunks: list[_chunks.Chunk]) -> bool:
    """A failed write the writer retried: the next good chunk carries the same seq."""
    if bad.seq is None:
        return False
    k = bisect.bisect_left([c.start for c in chunks], bad.offset)
    return k < len(chunks) and chunks[k].seq == bad.seq


def _bad_range_text(
    name: str,
    bad: _chunks.BadRange,
    unit: str,
    count: int | None,
    t_before: float | None,
    t_after: float | None,
    rewritten: bool = False,
) -> str:
    if rewritten:
        return (
            f"{name}: incomplete write at byte {bad.offset} ({bad.length} bytes) that the "
            "writer retried in the next chunk; nothing lost"
        )
    what = "truncated tail" if bad.reason == "truncated" else "corrupted data"
    lost = f", ~{count} {unit} lost" if count is not None else ""
    where = ""
    if t_before is not None and t_after is not None:
        where = f" between t={t_before:.3f} s and t={t_after:.3f} s"
    elif t_before is not None:
        where = f" after t={t_before:.3f} s"
    elif t_after is not None:
        where = f" before t={t_after:.3f} s"
    action = "dropped" if bad.reason == "truncated" else "skipped"
    return f"{name}: {what} at byte {bad.offset} ({bad.length} bytes{lost}){where}, {action}"


def _drop_copies(
    name: str, chunks: list[_chunks.Chunk], buf: bytes, problems: list[str]
) -> list[_chunks.Chunk]:
    """Chunks without exact copies of an earlier chunk (same seq and payload), reported."""
    seen: dict[int, _chunks.Chunk] = {}
    out: list[_chunks.Chunk] = []
    copies = []
    for c in chunks:
        prev = seen.get(c.seq)
        if (
            prev is not None
            and prev.length == c.length
            and buf[prev.start : prev.start + prev.length] == buf[c.start : c.start + c.length]
        ):
            copies.append(c)
            continue
        seen.setdefault(c.seq, c)
        out.append(c)
    if copies:
        problems.append(
            f"{name}: {len(copies)} chunk(s) stored twice (first copy at byte "
            f"{copies[0].start - _chunks.HEADER_SIZE}); the copies were skipped, nothing lost"
        )
    return out


def _missing_seq(name: str, chunks: list[_chunks.Chunk], problems: list[str], n_bad: int) -> None:
    """Report seq numbers absent from 0..max (file edited) and chunks out of order."""
    if not chunks:
        return
    seqs = np.fromiter((c.seq for c in chunks), dtype=np.int64, count=len(chunks))
    distinct = np.unique(seqs)
    missing = int(distinct[-1]) + 1 - int(distinct.size)  # never negative
    if missing > 0 and n_bad == 0:
        problems.append(
            f"{name}: {missing} chunk(s) missing from the sequence (file edited or "
            "partly overwritten?)"
        )
    repeated = int(seqs.size - distinct.size)
    backwards = int(np.count_nonzero(np.diff(seqs) < 0))
    if repeated or backwards:
        problems.append(
            f"{name}: chunks out of order ({repeated} repeated chunk number(s), {backwards} "
            "step(s) back); read in file order"
        )


def _load_samples(
    path: Path, problems: list[str], limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    buf, scan = _read_log(path / SAMPLES_FILE, problems, required=True, limit=limit)
    good = [
        c
        for c in scan.chunks
        if c.kind == _chunks.KIND_SAMPLES and c.length == c.count * SAMPLE_BYTES
    ]
    if len(good) != len(scan.chunks):
        problems.append(
            f"{SAMPLES_FILE}: {len(scan.chunks) - len(good)} chunk(s) of the wrong "
            "kind or size ignored"
        )
    good = _drop_copies(SAMPLES_FILE, good, buf, problems)
    # one C-level join of the payloads, then the source bytes are dropped before the columns
    # are copied out (peak memory ~2x the samples)
    view = memoryview(buf)
    joined = b"".join([view[c.start : c.start + c.length] for c in good])
    view.release()
    del buf
    arr = np.frombuffer(joined, dtype="<f8").reshape(-1, SAMPLE_FIELDS)
    t_s = np.ascontiguousarray(arr[:, 0])
    acc = np.ascontiguousarray(arr[:, 1:4])
    gyr = np.ascontiguousarray(arr[:, 4:7])
    del arr, joined
    if scan.bad:
        # times around each bad range, for the report
        starts = [c.start for c in good]
        cum = np.concatenate([[0], np.cumsum([c.count for c in good])]).astype(np.int64)
        for bad in scan.bad:
            k = bisect.bisect_left(starts, bad.offset)
            t_before = float(t_s[cum[k] - 1]) if k > 0 else None
            t_after = float(t_s[cum[k]]) if k < len(good) else None
            count = bad.count
            if count is None and bad.reason == "truncated":
                count = max(0, (bad.length - _chunks.HEADER_SIZE) // SAMPLE_BYTES)
            problems.append(
                _bad_range_text(
                    SAMPLES_FILE, bad, "samples", count, t_before, t_after, _rewritten(bad, good)
                )
            )
    _missing_seq(SAMPLES_FILE, good, problems, len(scan.bad))
    return t_s, acc, gyr, len(scan.bad)


def _load_events(path: Path, problems: list[str]) -> tuple[list[dict[str, Any]], int]:
    buf, scan = _read_log(path / EVENTS_FILE, problems, required=False, limit=MAX_EVENTS_BYTES)
    events: list[dict[str, Any]] = []
    for c in scan.chunks:
        try:
            ev = json.loads(buf[c.start : c.start + c.length])
        except (UnicodeDecodeError, ValueError, RecursionError):
            problems.append(
                f"{EVENTS_FILE}: event chunk at byte {c.start} is not valid JSON, skipped"
            )
            continue
        if isinstance(ev, dict):
            events.append(ev)
        else:
            problems.append(
                f"{EVENTS_FILE}: event chunk at byte {c.start} is not a JSON object, skipped"
            )
    for bad in scan.bad:
        problems.append(
            _bad_range_text(
                EVENTS_FILE, bad, "events", bad.count, None, None, _rewritten(bad, scan.chunks)
            )
        )
    return events, len(scan.bad)


def _finite(v: Any) -> bool:
    return _is_num(v) and math.isfinite(v) and abs(v) < 1e12


def _check_events(
    events: list[dict[str, Any]], rate: float, t_s: np.ndarray, problems: list[str]
) -> list[dict[str, Any]]:
    """Events as they can be trusted: a damaged one is repaired (or dropped) and reported.

    ``kind`` must be text. A gap-like event's ``start_s``/``end_s`` must be finite with
    ``end_s >= start_s`` (else its interval is dropped); its ``lost_samples`` must be a whole
    number from 0 to the elapsed time x rate (the interval's, or the session's when it has
    none), else it is clamped to that range.
    """
    span = float(np.nanmax(t_s) - np.nanmin(t_s)) if np.isfinite(t_s).any() else 0.0
    out: list[dict[str, Any]] = []
    damaged: list[str] = []
    for i, ev in enumerate(events):
        kind = ev.get("kind")
        if not isinstance(kind, str):
            damaged.append(f"event {i}: kind {quote(kind)} is not text (event dropped)")
            continue
        if kind not in GAP_KINDS:
            out.append(ev)
            continue
        ev = dict(ev)
        start, end = ev.get("start_s"), ev.get("end_s")
        elapsed = span
        if start is not None or end is not None:
            if _finite(start) and _finite(end) and end >= start:
                elapsed = float(end) - float(start)
            else:
                damaged.append(
                    f"event {i} ({kind}): interval {quote(start, 30)}..{quote(end, 30)} "
                    "invalid (interval dropped)"
                )
                ev.pop("start_s", None)
                ev.pop("end_s", None)
        most = int(min(elapsed * rate * 1.05, MAX_SESSION_S * MAX_RATE_HZ)) + 1
        lost = ev.get("lost_samples")
        if lost is not None:
            whole = (isinstance(lost, int) and not isinstance(lost, bool)) or (
                isinstance(lost, float) and math.isfinite(lost) and lost == int(lost)
            )
            if not whole:
                damaged.append(f"event {i} ({kind}): lost_samples {quote(lost, 30)} (set to 0)")
                ev["lost_samples"] = 0
            elif lost < 0:
                damaged.append(f"event {i} ({kind}): lost_samples {quote(lost, 30)} (set to 0)")
                ev["lost_samples"] = 0
            elif lost > most:
                damaged.append(
                    f"event {i} ({kind}): lost_samples {quote(lost, 30)} is more than "
                    f"{elapsed:.6g} s x {rate:g} Hz allows (set to {most})"
                )
                ev["lost_samples"] = most
            else:
                ev["lost_samples"] = int(lost)
        out.append(ev)
    if damaged:
        msg = (
            f"{EVENTS_FILE}: {len(damaged)} damaged event(s) repaired or dropped; first: "
            f"{damaged[0]}"
        )
        problems.append(msg)
        log.warning("%s", msg)
    return out


def _find_gaps(
    t_s: np.ndarray, rate_hz: float, events: list[dict[str, Any]]
) -> tuple[list[tuple[float, float]], int]:
    gaps: list[tuple[float, float]] = []
    lost = 0
    for ev in events:
        if ev.get("kind") in GAP_KINDS:
            try:
                lost += int(ev.get("lost_samples") or 0)
                if ev.get("start_s") is not None and ev.get("end_s") is not None:
                    gaps.append((float(ev["start_s"]), float(ev["end_s"])))
            except (TypeError, ValueError, OverflowError):
                continue
    if t_s.size > 1 and rate_hz > 0:
        with np.errstate(invalid="ignore", over="ignore"):
            dt = np.diff(t_s)
            holes = np.flatnonzero((dt > 1.5 / rate_hz) & np.isfinite(dt))
        starts, ends = t_s[holes], t_s[holes + 1]
        covered = np.zeros(holes.size, dtype=bool)
        if gaps and holes.size:
            # a hole is explained when some event interval overlaps it (half a period slack):
            # with events sorted by start, that is max(end of events starting before the hole
            # ends) >= hole start
            tol = 0.5 / rate_hz
            ev = np.array(sorted(gaps), dtype=np.float64)
            max_end = np.maximum.accumulate(ev[:, 1])
            k = np.searchsorted(ev[:, 0], ends + tol, side="right")
            covered = (k > 0) & (max_end[np.maximum(k - 1, 0)] >= starts - tol)
        new = ~covered
        gaps.extend(zip(starts[new].tolist(), ends[new].tolist(), strict=True))
        per_hole = np.round((ends[new] - starts[new]) * rate_hz) - 1
        lost += int(np.clip(per_hole, 0, MAX_SESSION_S * MAX_RATE_HZ).sum())
    gaps.sort()
    return gaps, lost


def open_session(path: str | os.PathLike[str]) -> Session:
    """Open a session directory; raise `BadInputError` (one clear line) if it is unusable.

    Sessions whose writer did not close them (a crash, SIGKILL, power loss) open too: every
    complete chunk is recovered, and `Session.problems` says what was lost and where.
    """
    path = Path(path)
    try:
        return _open(path)
    except GaitimuError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        ArithmeticError,
        RecursionError,
    ) as e:
        # damaged metadata of an unforeseen shape: still one line naming the session
        raise _fail(path, f"cannot read session ({type(e).__name__}: {quote(str(e), 120)})") from e


def _open(path: Path) -> Session:
    meta = _read_meta(path)
    problems: list[str] = []
    closed = meta.get("closed_cleanly") is True
    meta_rate = meta.get("sample_rate_hz")  # checked by _read_meta: None or a valid rate
    t_s, acc, gyr, n_bad = _load_samples(
        path, problems, _log_limit(meta, SAMPLES_FILE, meta_rate, closed)
    )
    n = t_s.shape[0]

    if n and not np.all(np.isfinite(t_s)):
        problems.append(
            f"{SAMPLES_FILE}: {int(np.sum(~np.isfinite(t_s)))} sample times are NaN or infinite"
        )
    if n > 1 and not np.all(np.diff(t_s) > 0):
        k = int(np.argmax(~(np.diff(t_s) > 0)))
        problems.append(
            f"{SAMPLES_FILE}: sample times are not strictly increasing "
            f"(first at sample {k + 1}, t={t_s[k + 1]:.3f} s)"
        )
    if n and not (np.all(np.isfinite(acc)) and np.all(np.isfinite(gyr))):
        problems.append(
            f"{SAMPLES_FILE}: {int(np.sum(~np.isfinite(acc).all(1) | ~np.isfinite(gyr).all(1)))} "
            "samples contain NaN or infinite values"
        )

    if meta_rate is not None:
        rate = float(meta_rate)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            dt = np.diff(t_s)
            dt = dt[(dt > 0) & np.isfinite(dt)]
        if dt.size == 0:
            raise _fail(
                path,
                f"metadata has no sample_rate_hz and there are too few samples to estimate "
                f'it; add "sample_rate_hz" to {META_FILE}',
            )
        rate = float(1.0 / np.median(dt))
        if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
            raise _fail(
                path,
                f"metadata has no sample_rate_hz and the sample times imply {rate:.4g} Hz, "
                f'outside {MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz; add "sample_rate_hz" to '
                f"{META_FILE}",
            )
        problems.append(f"{META_FILE}: no sample_rate_hz; estimated {rate:.3f} Hz from t_s")

    axes = meta.get("axes")
    if not axes:
        axes = DEFAULT_AXES
        problems.append(f"{META_FILE}: no axis map; assuming the nominal {DEFAULT_AXES}")
    elif not is_auto_axes(axes):
        try:
            parse_axes(axes)
        except BadInputError as e:
            raise _fail(path / META_FILE, f"invalid axis map: {e}") from e

    pbuf, pscan = _read_log(
        path / PACKETS_FILE,
        problems,
        required=False,
        limit=_log_limit(meta, PACKETS_FILE, rate, closed),
    )
    # (the lengths inside each chunk are checked when packets() decodes them)
    pgood = [c for c in pscan.chunks if c.kind == _chunks.KIND_PACKETS and c.length >= 12 * c.count]
    if len(pgood) != len(pscan.chunks):
        problems.append(
            f"{PACKETS_FILE}: {len(pscan.chunks) - len(pgood)} malformed chunk(s) ignored"
        )
    pgood = _drop_copies(PACKETS_FILE, pgood, pbuf, problems)
    for bad in pscan.bad:
        problems.append(
            _bad_range_text(
                PACKETS_FILE, bad, "packets", bad.count, None, None, _rewritten(bad, pgood)
            )
        )
    _missing_seq(PACKETS_FILE, pgood, problems, len(pscan.bad))

    events, n_bad_events = _load_events(path, problems)
    events = _check_events(events, rate, t_s, problems)
    gaps, lost = _find_gaps(t_s, rate, events)
    n_bad_by_file = {SAMPLES_FILE: n_bad, PACKETS_FILE: len(pscan.bad), EVENTS_FILE: n_bad_events}

    if not closed:
        last = f"up to t={t_s[-1]:.3f} s" if n else "no samples"
        problems.insert(
            0,
            f"session was not closed cleanly (the writer was killed or crashed, or "
            f"is still running); recovered {n} samples, {last}",
        )
    else:
        expected = meta.get("n_samples")
        if isinstance(expected, int) and expected != n:
            problems.append(f"metadata says {expected} samples were written but {n} were recovered")
        sizes = meta.get("file_bytes")
        sizes = sizes if isinstance(sizes, dict) else {}
        for name, n_bad_here in n_bad_by_file.items():
            size, p = sizes.get(name), path / name
            if isinstance(size, int) and p.exists() and p.stat().st_size != size and not n_bad_here:
                problems.append(
                    f"{name}: {p.stat().st_size} bytes on disk, {size} written "
                    "(file changed after the session was closed)"
                )

    truth, truth_arrays = _load_truth(path, problems)
    for msg in problems:
        log.info("%s: %s", path, msg)
    return Session(
        path=path,
        meta=meta,
        t_s=t_s,
        acc=acc,
        gyr=gyr,
        sample_rate_hz=rate,
        axes=str(axes),
        events=events,
        gaps=gaps,
        lost_samples=int(lost),
        truth=truth,
        truth_arrays=truth_arrays,
        problems=problems,
        closed_cleanly=closed,
        _packet_buf=pbuf,
        _packet_chunks=pgood,
    )


def _ignored(path: Path, name: str, what: str, problems: list[str]) -> None:
    """An optional file that cannot be used: one problem and one warning, the session opens."""
    msg = f"{name}: {what}; ignored (optional ground truth, the recorded data is unaffected)"
    problems.append(msg)
    log.warning("%s: %s", path, msg)


def _optional_regular(path: Path, name: str, problems: list[str]) -> os.stat_result | None:
    """`_regular` for an optional file: None (reported and ignored) when it is not one."""
    try:
        return _regular(path / name)
    except BadInputError:
        _ignored(path, name, "not a regular file", problems)
        return None


def _load_truth(
    path: Path, problems: list[str]
) -> tuple[dict[str, Any] | None, dict[str, np.ndarray]]:
    """Simulator ground truth, optional: anything wrong with it is reported and ignored."""
    truth = None
    arrays: dict[str, np.ndarray] = {}
    tp = path / TRUTH_FILE
    st = _optional_regular(path, TRUTH_FILE, problems)
    if st is not None:
        try:
            if st.st_size > MAX_META_BYTES:
                raise ValueError(f"{st.st_size} bytes, more than the {MAX_META_BYTES} read")
            truth = json.loads(_read_bounded(tp, MAX_META_BYTES).decode("utf-8"))
            if not isinstance(truth, dict):
                raise ValueError("not a JSON object")
        except (GaitimuError, UnicodeDecodeError, ValueError, RecursionError) as e:
            truth = None
            _ignored(path, TRUTH_FILE, f"unreadable ({quote(str(e), 80)[1:-1]})", problems)
    ap = path / TRUTH_ARRAYS_FILE
    st = _optional_regular(path, TRUTH_ARRAYS_FILE, problems)
    if st is not None:
        try:
            if st.st_size > MAX_TRUTH_BYTES:
                raise ValueError(f"{st.st_size} bytes, more than the {MAX_TRUTH_BYTES} read")
            with zipfile.ZipFile(ap) as zf:  # .npz is a zip: check the unpacked size first
                unpacked = sum(i.file_size for i in zf.infolist())
            if unpacked > MAX_TRUTH_BYTES:
                raise ValueError(f"unpacks to {unpacked} bytes, more than {MAX_TRUTH_BYTES}")
            with np.load(ap, allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in z.files}
        except Exception as e:  # optional file: zip, zlib, npy and OS errors alike
            arrays = {}
            what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            _ignored(path, TRUTH_ARRAYS_FILE, f"unreadable ({quote(what, 80)[1:-1]})", problems)
    return truth, arrays
