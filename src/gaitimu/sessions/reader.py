"""`open_session` and `Session`: reading a session directory, recovering what a crash or a
corruption left behind, and saying so in `Session.problems` (docs/sessions.md)."""

from __future__ import annotations

import bisect
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaitimu.consts import DEFAULT_AXES, is_auto_axes, parse_axes
from gaitimu.errors import BadInputError, GaitimuError
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
    if not meta_path.exists():
        raise _fail(path, f"no {META_FILE}: not a gaitimu session, or its metadata was deleted")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(
            meta_path,
            f"corrupted session metadata ({e}); the session cannot be opened "
            "without it (restore it from a backup)",
        ) from e
    except OSError as e:
        raise _fail(meta_path, f"cannot read session metadata ({e.strerror})") from e
    if not isinstance(meta, dict):
        raise _fail(meta_path, "corrupted session metadata (not a JSON object)")
    if meta.get("format") != FORMAT_NAME:
        raise _fail(
            meta_path,
            f"not a gaitimu session (format {meta.get('format')!r}, expected {FORMAT_NAME!r})",
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(meta_path, f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise _fail(
            path,
            f"session format version {version} is newer than this gaitimu "
            f"understands ({FORMAT_VERSION}); upgrade gaitimu to open it",
        )
    return meta


def _read_log(
    path: Path, problems: list[str], *, required: bool
) -> tuple[bytes, _chunks.ScanResult]:
    if not path.exists():
        if required:
            problems.append(f"{path.name} is missing: no data of this kind recovered")
        return b"", _chunks.ScanResult()
    try:
        buf = path.read_bytes()
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror})") from e
    return buf, _chunks.scan_chunks(buf)


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


def _missing_seq(name: str, chunks: list[_chunks.Chunk], problems: list[str], n_bad: int) -> None:
    if not chunks:
        return
    seqs = np.fromiter((c.seq for c in chunks), dtype=np.int64, count=len(chunks))
    jumps = np.flatnonzero(np.diff(seqs) != 1)
    missing = int(np.sum(np.diff(seqs)[jumps] - 1)) + int(seqs[0])
    if (missing > 0 or jumps.size) and n_bad == 0:
        problems.append(
            f"{name}: {missing} chunk(s) missing from the sequence (file edited or "
            "partly overwritten?)"
        )


def _load_samples(
    path: Path, problems: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    buf, scan = _read_log(path / SAMPLES_FILE, problems, required=True)
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
    buf, scan = _read_log(path / EVENTS_FILE, problems, required=False)
    events: list[dict[str, Any]] = []
    for c in scan.chunks:
        try:
            ev = json.loads(buf[c.start : c.start + c.length])
        except (UnicodeDecodeError, json.JSONDecodeError):
            problems.append(
                f"{EVENTS_FILE}: event chunk at byte {c.start} is not valid JSON, skipped"
            )
            continue
        if isinstance(ev, dict):
            events.append(ev)
    for bad in scan.bad:
        problems.append(
            _bad_range_text(
                EVENTS_FILE, bad, "events", bad.count, None, None, _rewritten(bad, scan.chunks)
            )
        )
    return events, len(scan.bad)


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
            except (TypeError, ValueError):
                continue
    if t_s.size > 1 and rate_hz > 0:
        holes = np.flatnonzero(np.diff(t_s) > 1.5 / rate_hz)
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
        lost += int(np.maximum(0, np.round((ends[new] - starts[new]) * rate_hz) - 1).sum())
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
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        # damaged metadata of an unforeseen shape: still one line naming the session
        raise _fail(path, f"cannot read session ({type(e).__name__}: {e})") from e


def _open(path: Path) -> Session:
    meta = _read_meta(path)
    problems: list[str] = []
    closed = meta.get("closed_cleanly") is True
    t_s, acc, gyr, n_bad = _load_samples(path, problems)
    n = t_s.shape[0]

    if n > 1 and not np.all(np.diff(t_s) > 0):
        k = int(np.argmax(np.diff(t_s) <= 0))
        problems.append(
            f"{SAMPLES_FILE}: sample times are not strictly increasing "
            f"(first at sample {k + 1}, t={t_s[k + 1]:.3f} s)"
        )
    if n and not (np.all(np.isfinite(acc)) and np.all(np.isfinite(gyr))):
        problems.append(
            f"{SAMPLES_FILE}: {int(np.sum(~np.isfinite(acc).all(1) | ~np.isfinite(gyr).all(1)))} "
            "samples contain NaN or infinite values"
        )

    rate = meta.get("sample_rate_hz")
    try:
        rate = float(rate)
        if not (np.isfinite(rate) and rate > 0):
            raise ValueError
    except (TypeError, ValueError):
        dt = np.diff(t_s)
        dt = dt[dt > 0]
        if dt.size == 0:
            raise _fail(
                path,
                f"metadata has no valid sample_rate_hz ({meta.get('sample_rate_hz')!r}) "
                "and there are too few samples to estimate it",
            ) from None
        rate = float(1.0 / np.median(dt))
        problems.append(f"{META_FILE}: no valid sample_rate_hz; estimated {rate:.3f} Hz from t_s")

    axes = meta.get("axes")
    if not axes:
        axes = DEFAULT_AXES
        problems.append(f"{META_FILE}: no axis map; assuming the nominal {DEFAULT_AXES}")
    elif not is_auto_axes(axes):
        try:
            parse_axes(axes)
        except BadInputError as e:
            raise _fail(path / META_FILE, f"invalid axis map: {e}") from e

    pbuf, pscan = _read_log(path / PACKETS_FILE, problems, required=False)
    # (the lengths inside each chunk are checked when packets() decodes them)
    pgood = [c for c in pscan.chunks if c.kind == _chunks.KIND_PACKETS and c.length >= 12 * c.count]
    if len(pgood) != len(pscan.chunks):
        problems.append(
            f"{PACKETS_FILE}: {len(pscan.chunks) - len(pgood)} malformed chunk(s) ignored"
        )
    for bad in pscan.bad:
        problems.append(
            _bad_range_text(
                PACKETS_FILE, bad, "packets", bad.count, None, None, _rewritten(bad, pgood)
            )
        )
    _missing_seq(PACKETS_FILE, pgood, problems, len(pscan.bad))

    events, n_bad_events = _load_events(path, problems)
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


def _load_truth(
    path: Path, problems: list[str]
) -> tuple[dict[str, Any] | None, dict[str, np.ndarray]]:
    truth = None
    arrays: dict[str, np.ndarray] = {}
    tp = path / TRUTH_FILE
    if tp.exists():
        try:
            truth = json.loads(tp.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append(f"{TRUTH_FILE}: unreadable ground truth ignored ({e})")
    ap = path / TRUTH_ARRAYS_FILE
    if ap.exists():
        try:
            with np.load(ap, allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in z.files}
        except (OSError, ValueError) as e:
            problems.append(f"{TRUTH_ARRAYS_FILE}: unreadable ground-truth arrays ignored ({e})")
    return truth, arrays
