"""`SessionWriter`: crash-safe, append-only writing of a session directory.

Decoded samples and raw packets are buffered in memory and written as framed, checksummed
chunks (`gaitimu.sessions._chunks`) at least every ``flush_interval_s`` (0.5 s by default),
by the calling thread when it writes and by a small background thread when it does not. Each
chunk is one ``write`` call on an unbuffered file, so once written the operating system has it:
a SIGKILL of the writer loses at most the data of the last ``1.25 * flush_interval_s`` (measured:
<= 0.45 s with the default). With ``fsync=True`` (default) every flush is also fsync'ed, so a
power loss costs about the same.

When a write fails (disk full, or any other `OSError`), nothing is dropped: the data stays in
memory, up to ``max_held_bytes`` (`HOLD_LIMIT_BYTES`, 32 MiB: about 38 minutes at 200 Hz,
19 at 400 Hz, samples and raw packets together), and the writer retries every
``flush_interval_s`` until the disk accepts it. What arrives while that memory is full is
counted and recorded as an ``overflow`` event (``reason: "disk full"``, a gap) once writing
works again. `warning` says so while it lasts (the recorder shows it); `write_problems`
and ``meta["write_problems"]`` keep the totals. Only `flush` and `close` raise
`SessionWriteError`, `close` when data could not be saved at the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from gaitimu import __version__
from gaitimu.errors import BadInputError
from gaitimu.sessions import _chunks
from gaitimu.sessions._format import (
    EVENTS_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    META_FILE,
    PACKETS_FILE,
    SAMPLE_FIELDS,
    SAMPLES_FILE,
    TRUTH_ARRAYS_FILE,
    TRUTH_FILE,
    WRITER_LOCK_FILE,
)
from gaitimu.sessions.files import dumps, is_disk_full, json_default, write_atomic

log = logging.getLogger(__name__)

_MAX_CHUNK_SAMPLES = 4096
_MAX_CHUNK_PACKET_BYTES = 1 << 20
#: memory that holds data while writes fail (disk full): 32 MiB ~ 38 min at 200 Hz
HOLD_LIMIT_BYTES = 32 << 20
_PACKET_OVERHEAD = 12  # bytes per packet in a chunk besides the payload (time + length)


class SessionWriteError(BadInputError):
    """The session cannot be written (disk full, permissions, removed directory)."""


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Log:
    """One append-only chunk file."""

    def __init__(self, path: Path, kind: int, fsync: bool) -> None:
        self.path = path
        self.kind = kind
        self.fsync = fsync
        self.seq = 0
        self.bytes_written = 0
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._dirty = False

    def append(self, count: int, payload: bytes | memoryview) -> None:
        data = _chunks.encode_chunk(self.kind, self.seq, count, payload)
        view = memoryview(data)
        try:
            while view:  # os.write may write less than asked on some filesystems
                k = os.write(self._fd, view)
                view = view[k:]
                self.bytes_written += k
        except OSError as e:
            # A partial chunk may be on disk; readers skip it and resync on the next chunk.
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                msg = f"disk full writing {self.path} ({e.strerror or e}): free space and retry"
            else:
                msg = (f"{self.path}: cannot write session data ({e.strerror or e}); free some "
                       "disk space or write the session elsewhere")
            raise SessionWriteError(msg) from e
        self.seq += 1
        self._dirty = True

    def sync(self) -> None:
        if self.fsync and self._dirty:
            try:
                os.fsync(self._fd)
            except OSError as e:
                raise SessionWriteError(
                    f"{self.path}: cannot sync session data to disk ({e.strerror or e}); free "
                    "space and retry"
                ) from e
        self._dirty = False

    def close(self) -> None:
        self.sync()
        os.close(self._fd)


class SessionWriter:
    """Write a session directory (docs/sessions.md); use it as a context manager.

    Parameters
    ----------
    path
        Session directory to create (suffix ``.gaitimu`` suggested, any name accepted). It must
        not exist, or be an empty directory.
    meta
        Session metadata (docs/architecture.md: ``source``, ``sensor``, ``sample_rate_hz``,
        ``acc_range_g``, ``gyr_range_dps``, ``axes``, ``subject``, ``activity``, ``notes``,
        ``calibration``, ...). The writer adds ``format``, ``format_version``,
        ``software_version``, ``created_utc`` and, on `close`, ``closed_cleanly`` and totals.
    flush_interval_s
        Longest time buffered data stays in memory (default 0.5 s).
    fsync
        Also fsync each flush (survives power loss, not only a killed process).

    Examples
    --------
    >>> with SessionWriter("walk.gaitimu", {"sample_rate_hz": 200, "axes": "x=up,y=right,z=forward"}) as w:
    ...     w.write_samples(t_s, acc, gyr)  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        meta: dict[str, Any] | None = None,
        *,
        flush_interval_s: float = 0.5,
        fsync: bool = True,
        max_held_bytes: int = HOLD_LIMIT_BYTES,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise BadInputError(
                f"{self.path}: already exists; choose another output name or remove it first"
            )
        if not flush_interval_s > 0:
            raise ValueError("flush_interval_s must be > 0")
        self.flush_interval_s = float(flush_interval_s)
        self.max_held_bytes = int(max_held_bytes)
        created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SessionWriteError(_open_error(self.path, e)) from e
        # Exclusive claim (O_EXCL): of two writers that both found the path free, one wins and
        # the other stops here instead of mixing its stream into the same files.
        self._claim = self.path / WRITER_LOCK_FILE
        try:
            fd = os.open(self._claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise BadInputError(
                f"{self.path}: another writer is creating a session there; choose another "
                "output name"
            ) from None
        except OSError as e:
            if created:
                with contextlib.suppress(OSError):
                    self.path.rmdir()
            raise SessionWriteError(_open_error(self.path, e)) from e
        with contextlib.suppress(OSError):
            os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        # a writer that finished (and released its claim) between our first check and the
        # claim has left its files: never write into them
        if any(p.name != WRITER_LOCK_FILE for p in self.path.iterdir()):
            with contextlib.suppress(OSError):
                os.unlink(self._claim)
            raise BadInputError(
                f"{self.path}: already exists; choose another output name or remove it first"
            )
        self._fsync = fsync
        self._lock = threading.RLock()
        self._closed = False
        self.meta: dict[str, Any] = dict(meta or {})
        self.meta.update(
            format=FORMAT_NAME,
            format_version=FORMAT_VERSION,
            software_version=__version__,
            created_utc=_utc_now(),
            closed_cleanly=False,
        )
        logs: list[_Log] = []
        try:
            # nothing is kept of a session that cannot even start (e.g. a full disk): no
            # empty session folder is left behind
            self._write_meta()
            for name, kind in ((SAMPLES_FILE, _chunks.KIND_SAMPLES),
                               (PACKETS_FILE, _chunks.KIND_PACKETS),
                               (EVENTS_FILE, _chunks.KIND_EVENT)):
                logs.append(_Log(self.path / name, kind, fsync))
        except OSError as e:
            for lg in logs:
                with contextlib.suppress(OSError):
                    os.close(lg._fd)
            self._remove_created(created)
            raise SessionWriteError(_open_error(self.path / META_FILE, e)) from e
        self._samples, self._packets, self._events = logs
        self._sample_buf: list[np.ndarray] = []
        self._n_sample_buf = 0
        self._packet_t: list[float] = []
        self._packet_data: list[bytes] = []
        self._n_packet_bytes = 0
        self._event_buf: list[bytes] = []
        self._n_event_bytes = 0
        self._meta_dirty = False
        self.n_samples = 0
        self.n_packets = 0
        self.n_events = 0
        self.lost_samples = 0
        self._last_t_s = -np.inf
        self._last_flush = time.monotonic()
        # write failures (disk full): data is held in memory and retried
        self._failure: SessionWriteError | None = None
        self._failing_since: float | None = None
        self._drop = {"samples": 0, "packets": 0, "events": 0, "start_s": None, "end_s": None}
        self.write_problems: dict[str, Any] = {
            "episodes": 0, "failed_s": 0.0, "max_held_bytes": 0, "lost_samples": 0,
            "lost_packets": 0, "lost_events": 0, "last_error": None,
        }
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop, name=f"gaitimu-flush-{self.path.name}", daemon=True
        )
        self._flusher.start()

    # ----------------------------------------------------------------- context manager
    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and not self._closed:
            with contextlib.suppress(Exception):
                self.meta["close_reason"] = f"{type(exc).__name__}: {exc}"
        self.close()

    # ----------------------------------------------------------------- state
    @property
    def held_bytes(self) -> int:
        """Bytes of data waiting in memory to be written."""
        return (self._n_sample_buf * SAMPLE_FIELDS * 8 + self._n_packet_bytes
                + _PACKET_OVERHEAD * len(self._packet_t) + self._n_event_bytes)

    @property
    def disk_full(self) -> bool:
        """True while writes fail (the data is held in memory)."""
        return self._failure is not None

    @property
    def warning(self) -> str | None:
        """One line for a status display while writes fail or after data was lost to it."""
        wp = self.write_problems
        if self._failure is not None:
            what = "disk full" if is_disk_full(self._failure) else "cannot write"
            rate = float(self.meta.get("sample_rate_hz") or 0) or None
            held = (f"{self._n_sample_buf / rate:.1f} s of samples" if rate
                    else f"{self._n_sample_buf} samples")
            line = (f"{what}: holding {held} in memory ({self.held_bytes / 2**20:.1f} of "
                    f"{self.max_held_bytes / 2**20:.0f} MiB); free space")
            lost = wp["lost_samples"] + self._drop["samples"]
            if lost:
                line += f"; memory full, {lost} samples lost"
            return line
        if wp["lost_samples"] or wp["lost_packets"]:
            return (f"disk was full: {wp['lost_samples']} samples lost (recorded as a gap); "
                    "the rest is saved")
        if wp["episodes"]:
            return f"disk was full for {wp['failed_s']:.1f} s; nothing lost"
        return None

    # ----------------------------------------------------------------- writing
    def write_samples(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        """Append decoded samples: ``t_s`` (n,) s, ``acc`` (n, 3) m/s^2, ``gyr`` (n, 3) deg/s."""
        t = np.asarray(t_s, dtype=np.float64).reshape(-1)
        a = np.asarray(acc, dtype=np.float64)
        g = np.asarray(gyr, dtype=np.float64)
        n = t.shape[0]
        if a.shape != (n, 3) or g.shape != (n, 3):
            raise ValueError(
                f"write_samples: expected t_s (n,), acc (n, 3), gyr (n, 3); got {t.shape}, "
                f"{a.shape}, {g.shape}"
            )
        if n == 0:
            return
        block = np.empty((n, SAMPLE_FIELDS), dtype="<f8")
        block[:, 0] = t
        block[:, 1:4] = a
        block[:, 4:7] = g
        with self._lock:
            self._check_open()
            if t[0] < self._last_t_s or (n > 1 and np.any(np.diff(t) < 0)):
                log.warning("%s: sample times go backwards near t=%.3f s", self.path, t[0])
            if self._must_drop(block.nbytes):
                d = self._drop
                if d["start_s"] is None:
                    d["start_s"] = None if not np.isfinite(self._last_t_s) else self._last_t_s
                    d["first_s"] = float(t[0])
                d["samples"] += n
                d["end_s"] = float(t[-1])
                return
            self._last_t_s = float(t[-1])
            self._sample_buf.append(block)
            self._n_sample_buf += n
            self._maybe_flush()

    def write_packet(self, t_host_s: float, payload: bytes) -> None:
        """Append one raw packet exactly as received, with its host receive time in s."""
        with self._lock:
            self._check_open()
            if self._must_drop(len(payload) + _PACKET_OVERHEAD):
                self._drop["packets"] += 1
                return
            self._packet_t.append(float(t_host_s))
            self._packet_data.append(bytes(payload))
            self._n_packet_bytes += len(payload)
            self._maybe_flush()

    def write_packets(self, t_host_s: np.ndarray, payloads: list[bytes]) -> None:
        """Append many raw packets at once (same as calling `write_packet` for each)."""
        t = np.asarray(t_host_s, dtype=np.float64).reshape(-1)
        if len(t) != len(payloads):
            raise ValueError("write_packets: t_host_s and payloads differ in length")
        with self._lock:
            self._check_open()
            size = sum(len(p) for p in payloads)
            if self._must_drop(size + _PACKET_OVERHEAD * len(payloads)):
                self._drop["packets"] += len(payloads)
                return
            self._packet_t.extend(t.tolist())
            self._packet_data.extend(bytes(p) for p in payloads)
            self._n_packet_bytes += size
            self._maybe_flush()

    def add_event(self, event: dict[str, Any]) -> None:
        """Record an event (``kind`` = gap | disconnect | overflow | note | ...), written at once
        (held in memory with the data while writes fail).

        Gap-like events carry ``start_s``, ``end_s`` (session time) and ``lost_samples``.
        """
        if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
            raise ValueError("add_event: event must be a dict with a string 'kind'")
        payload = json.dumps(event, default=json_default, allow_nan=True).encode()
        with self._lock:
            self._check_open()
            if self._must_drop(len(payload)):
                self._drop["events"] += 1
            else:
                self._event_buf.append(payload)
                self._n_event_bytes += len(payload)
            with contextlib.suppress(TypeError, ValueError):
                self.lost_samples += int(event.get("lost_samples") or 0)
            # keep events in order with the data around them: flush that first
            self._try_flush(now=True)

    def update_meta(self, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into the metadata and rewrite meta.json atomically (retried with
        the data while writes fail)."""
        reserved = {"format", "format_version"} & set(changes)
        if reserved:
            raise ValueError(f"update_meta: {sorted(reserved)} are set by the writer")
        with self._lock:
            self._check_open()
            self.meta.update(changes)
            self._meta_dirty = True
            self._try_flush(now=True)

    def write_truth(
        self, truth: dict[str, Any], arrays: dict[str, np.ndarray] | None = None
    ) -> None:
        """Store simulator ground truth: a JSON-able dict and named numpy arrays."""
        with self._lock:
            self._check_open()
            try:
                write_atomic(self.path / TRUTH_FILE, dumps(truth).encode(), fsync=self._fsync)
                if arrays:
                    import io

                    bio = io.BytesIO()
                    np.savez(bio, **{k: np.asarray(v) for k, v in arrays.items()})
                    write_atomic(self.path / TRUTH_ARRAYS_FILE, bio.getvalue(),
                                 fsync=self._fsync)
            except OSError as e:
                raise SessionWriteError(_open_error(self.path / TRUTH_FILE, e)) from e

    def flush(self) -> None:
        """Write everything buffered now (normally automatic); raises `SessionWriteError` when
        it cannot (the data stays in memory and is retried)."""
        with self._lock:
            if not self._closed:
                self._try_flush(now=True)
                if self._failure is not None:
                    raise self._failure

    def close(self) -> None:
        """Flush, sync, and mark the session as closed cleanly (idempotent).

        Raises `SessionWriteError` when the data held in memory cannot be written (the disk is
        still full): the session keeps what was written before and stays readable (not closed
        cleanly); a session folder holding no data at all is removed.
        """
        if self._closed:
            return
        self._stop.set()
        self._flusher.join(timeout=5)
        with self._lock:
            self._meta_dirty = False  # written below, with the totals
            self._try_flush(now=True)
            failure = self._failure
            if failure is None:
                try:
                    for lg in (self._samples, self._packets, self._events):
                        lg.sync()
                except SessionWriteError as e:
                    failure = e
            if failure is None:
                self.meta.update(
                    closed_cleanly=True,
                    closed_utc=_utc_now(),
                    n_samples=self.n_samples,
                    n_packets=self.n_packets,
                    n_events=self.n_events,
                    file_bytes={
                        SAMPLES_FILE: self._samples.bytes_written,
                        PACKETS_FILE: self._packets.bytes_written,
                        EVENTS_FILE: self._events.bytes_written,
                    },
                )
                if self.write_problems["episodes"]:
                    self.meta["write_problems"] = dict(self.write_problems)
                try:
                    self._write_meta()
                except OSError as e:
                    failure = SessionWriteError(_open_error(self.path / META_FILE, e))
                    self.meta["closed_cleanly"] = False
            for lg in (self._samples, self._packets, self._events):
                with contextlib.suppress(OSError):
                    os.close(lg._fd)
            self._closed = True
            if failure is not None:
                self._close_failed(failure)
                return
            with contextlib.suppress(OSError):
                os.unlink(self._claim)  # a crashed writer leaves it: the folder stays claimed
            if self._fsync:
                with contextlib.suppress(OSError):
                    fd = os.open(self.path, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)

    # ----------------------------------------------------------------- internals
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self.path}: session writer is closed")

    def _write_meta(self) -> None:
        write_atomic(self.path / META_FILE, dumps(self.meta).encode(), fsync=self._fsync)

    def _remove_created(self, created: bool) -> None:
        """Remove what this writer put in its folder (and the folder if it made it)."""
        for p in list(self.path.iterdir()) if self.path.is_dir() else []:
            if p.name in (META_FILE, SAMPLES_FILE, PACKETS_FILE, EVENTS_FILE, WRITER_LOCK_FILE,
                          TRUTH_FILE, TRUTH_ARRAYS_FILE) or (
                    p.name.startswith(".") and p.name.endswith(".tmp")):
                with contextlib.suppress(OSError):
                    p.unlink()
        if created:
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def _close_failed(self, failure: SessionWriteError) -> None:
        held_samples = self._n_sample_buf + self._drop["samples"]
        lost = self.write_problems["lost_samples"] + held_samples
        written = self.n_samples
        if written == 0 and self.n_packets == 0:
            # nothing of the session reached the disk: leave no empty session behind
            self._remove_created(created=True)
            raise SessionWriteError(
                f"{failure}; nothing could be saved ({held_samples} samples lost), so "
                f"{self.path} was removed"
            ) from failure
        rate = float(self.meta.get("sample_rate_hz") or 0)
        secs = f" ({lost / rate:.1f} s)" if rate else ""
        raise SessionWriteError(
            f"{failure}; {lost} samples{secs} could not be saved; {self.path} keeps the "
            f"{written} samples written before (readable, not closed cleanly)"
        ) from failure

    def _must_drop(self, nbytes: int) -> bool:
        """While writes fail, data beyond ``max_held_bytes`` is dropped (and counted)."""
        if self._failure is None:
            return False
        if self._drop["samples"] or self._drop["packets"]:
            return True  # one contiguous hole until writing works again
        return self.held_bytes + nbytes > self.max_held_bytes

    def _maybe_flush(self) -> None:
        if (
            self._n_sample_buf >= _MAX_CHUNK_SAMPLES
            or self._n_packet_bytes >= _MAX_CHUNK_PACKET_BYTES
            or time.monotonic() - self._last_flush >= self.flush_interval_s
        ):
            self._try_flush()

    def _try_flush(self, now: bool = False) -> bool:
        """Write what is held; on failure keep it and note the failure (never raises). While
        failing, retries at most every ``flush_interval_s`` unless ``now``."""
        t = time.monotonic()
        if self._failure is not None and not now and t - self._last_flush < self.flush_interval_s:
            return False
        try:
            self._flush_buffers()
        except SessionWriteError as e:
            self._last_flush = time.monotonic()
            self.write_problems["max_held_bytes"] = max(self.write_problems["max_held_bytes"],
                                                        self.held_bytes)
            if self._failure is None:
                self._failing_since = t
                self.write_problems["episodes"] += 1
                self.write_problems["last_error"] = str(e)
                log.info("%s: %s; holding the data in memory (up to %d MiB) and retrying",
                            self.path, e, self.max_held_bytes >> 20)
            self._failure = e
            return False
        if self._failure is not None:
            self.write_problems["failed_s"] += t - (self._failing_since or t)
            log.info("%s: writing works again; the data held in memory is saved", self.path)
            self._failure = None
            self._failing_since = None
        return True

    def _flush_buffers(self) -> None:
        """Write held samples, packets, events, the overflow event and meta.json; each part
        leaves the buffer once written, so a retry never writes it twice."""
        # Large batches are split so one damaged chunk never costs more than ~4k samples or
        # ~1 MiB of packets.
        if self._sample_buf:
            block = (
                self._sample_buf[0]
                if len(self._sample_buf) == 1
                else np.concatenate(self._sample_buf)
            )
            self._sample_buf[:] = [block]
            while block.shape[0]:
                part = block[:_MAX_CHUNK_SAMPLES]
                self._samples.append(part.shape[0], part.tobytes())
                block = block[part.shape[0]:]
                self._sample_buf[:] = [block] if block.shape[0] else []
                self._n_sample_buf = block.shape[0]
                self.n_samples += part.shape[0]
        if self._packet_t:
            times = np.asarray(self._packet_t, dtype="<f8")
            lengths = np.fromiter(
                (len(p) for p in self._packet_data), dtype="<u4", count=len(self._packet_data)
            )
            start, n = 0, len(self._packet_data)
            try:
                while start < n:
                    # as many packets as fit in ~1 MiB (at least one)
                    sizes = np.cumsum(lengths[start:], dtype=np.int64)
                    stop = start + max(1, int(np.searchsorted(sizes, _MAX_CHUNK_PACKET_BYTES,
                                                              "right")))
                    payload = b"".join(
                        [
                            times[start:stop].tobytes(),
                            lengths[start:stop].tobytes(),
                            *self._packet_data[start:stop],
                        ]
                    )
                    self._packets.append(stop - start, payload)
                    self.n_packets += stop - start
                    start = stop
            finally:
                if start:
                    self._n_packet_bytes -= int(lengths[:start].sum())
                    del self._packet_t[:start]
                    del self._packet_data[:start]
        self._samples.sync()
        self._packets.sync()
        d = self._drop
        if d["samples"] or d["packets"] or d["events"]:
            self._write_drop_event()
        while self._event_buf:
            self._events.append(1, self._event_buf[0])
            self._n_event_bytes -= len(self._event_buf.pop(0))
            self.n_events += 1
        self._events.sync()
        if self._meta_dirty:
            try:
                self._write_meta()
            except OSError as e:
                raise SessionWriteError(_open_error(self.path / META_FILE, e)) from e
            self._meta_dirty = False
        self._last_flush = time.monotonic()

    def _write_drop_event(self) -> None:
        """The hole left by data dropped while the held memory was full: an ``overflow``
        event (a gap for readers), written after the held data, before anything newer."""
        d = self._drop
        rate = float(self.meta.get("sample_rate_hz") or 0)
        first = d.get("first_s")
        start = d["start_s"] if d["start_s"] is not None else first
        end = (d["end_s"] + 1.0 / rate) if (rate and d["end_s"] is not None) else d["end_s"]
        event = {"kind": "overflow", "reason": "disk full", "start_s": start, "end_s": end,
                 "lost_samples": int(d["samples"]), "lost_packets": int(d["packets"]),
                 "lost_events": int(d["events"]),
                 "message": "samples dropped while the disk was full and the memory that held "
                            f"the data ({self.max_held_bytes >> 20} MiB) was used up"}
        self._events.append(1, json.dumps(event, default=json_default).encode())
        self.n_events += 1
        self.lost_samples += int(d["samples"])
        wp = self.write_problems
        wp["lost_samples"] += int(d["samples"])
        wp["lost_packets"] += int(d["packets"])
        wp["lost_events"] += int(d["events"])
        self._drop = {"samples": 0, "packets": 0, "events": 0, "start_s": None, "end_s": None}
        if d["samples"]:
            self._last_t_s = max(self._last_t_s, float(d["end_s"]))

    def _flush_loop(self) -> None:
        period = self.flush_interval_s / 4
        while not self._stop.wait(period):
            try:
                with self._lock:
                    if (
                        not self._closed
                        and time.monotonic() - self._last_flush >= self.flush_interval_s
                    ):
                        self._try_flush()
            except Exception as e:  # never let the thread die; the caller's close reports
                log.warning("%s: background flush failed (%s); will retry", self.path, e)


def _open_error(path: Path, e: OSError) -> str:
    from gaitimu.sessions.files import os_error_text

    return os_error_text(path, e)
