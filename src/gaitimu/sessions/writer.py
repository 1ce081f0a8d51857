"""`SessionWriter`: crash-safe, append-only writing of a session directory.

Decoded samples and raw packets are buffered in memory and written as framed, checksummed
chunks (`gaitimu.sessions._chunks`) at least every ``flush_interval_s`` (0.5 s by default),
by the calling thread when it writes and by a small background thread when it does not. Each
chunk is one ``write`` call on an unbuffered file, so once written the operating system has it:
a SIGKILL of the writer loses at most the data of the last ``1.25 * flush_interval_s`` (measured:
<= 0.45 s with the default). With ``fsync=True`` (default) every flush is also fsync'ed, so a
power loss costs about the same.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
    dumps,
    json_default,
    write_atomic,
)

log = logging.getLogger(__name__)

_MAX_CHUNK_SAMPLES = 4096
_MAX_CHUNK_PACKET_BYTES = 1 << 20


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
            raise SessionWriteError(
                f"{self.path}: cannot write session data ({e.strerror or e}); free some disk "
                "space or write the session elsewhere"
            ) from e
        self.seq += 1
        self._dirty = True

    def sync(self) -> None:
        if self.fsync and self._dirty:
            try:
                os.fsync(self._fd)
            except OSError as e:
                raise SessionWriteError(
                    f"{self.path}: cannot sync session data to disk ({e.strerror or e})"
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
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise BadInputError(
                f"{self.path}: already exists; choose another output name or remove it first"
            )
        if not flush_interval_s > 0:
            raise ValueError("flush_interval_s must be > 0")
        self.flush_interval_s = float(flush_interval_s)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInputError(
                f"{self.path}: cannot create session directory ({e.strerror})"
            ) from e
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
            raise BadInputError(f"{self.path}: cannot create session ({e.strerror})") from e
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
        self._write_meta()
        self._samples = _Log(self.path / SAMPLES_FILE, _chunks.KIND_SAMPLES, fsync)
        self._packets = _Log(self.path / PACKETS_FILE, _chunks.KIND_PACKETS, fsync)
        self._events = _Log(self.path / EVENTS_FILE, _chunks.KIND_EVENT, fsync)
        self._sample_buf: list[np.ndarray] = []
        self._n_sample_buf = 0
        self._packet_t: list[float] = []
        self._packet_data: list[bytes] = []
        self._n_packet_bytes = 0
        self.n_samples = 0
        self.n_packets = 0
        self.n_events = 0
        self.lost_samples = 0
        self._last_t_s = -np.inf
        self._last_flush = time.monotonic()
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
            self._last_t_s = float(t[-1])
            self._sample_buf.append(block)
            self._n_sample_buf += n
            self._maybe_flush()

    def write_packet(self, t_host_s: float, payload: bytes) -> None:
        """Append one raw packet exactly as received, with its host receive time in s."""
        with self._lock:
            self._check_open()
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
            self._packet_t.extend(t.tolist())
            self._packet_data.extend(bytes(p) for p in payloads)
            self._n_packet_bytes += sum(len(p) for p in payloads)
            self._maybe_flush()

    def add_event(self, event: dict[str, Any]) -> None:
        """Record an event (``kind`` = gap | disconnect | overflow | note | ...), written at once.

        Gap-like events carry ``start_s``, ``end_s`` (session time) and ``lost_samples``.
        """
        if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
            raise ValueError("add_event: event must be a dict with a string 'kind'")
        payload = json.dumps(event, default=json_default, allow_nan=True).encode()
        with self._lock:
            self._check_open()
            self._flush_buffers()  # keep events in order with the data around them
            self._events.append(1, payload)
            self._events.sync()
            self.n_events += 1
            with contextlib.suppress(TypeError, ValueError):
                self.lost_samples += int(event.get("lost_samples") or 0)

    def update_meta(self, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into the metadata and rewrite meta.json atomically."""
        reserved = {"format", "format_version"} & set(changes)
        if reserved:
            raise ValueError(f"update_meta: {sorted(reserved)} are set by the writer")
        with self._lock:
            self._check_open()
            self.meta.update(changes)
            self._write_meta()

    def write_truth(
        self, truth: dict[str, Any], arrays: dict[str, np.ndarray] | None = None
    ) -> None:
        """Store simulator ground truth: a JSON-able dict and named numpy arrays."""
        with self._lock:
            self._check_open()
            write_atomic(self.path / TRUTH_FILE, dumps(truth).encode(), fsync=self._fsync)
            if arrays:
                import io

                bio = io.BytesIO()
                np.savez(bio, **{k: np.asarray(v) for k, v in arrays.items()})
                write_atomic(self.path / TRUTH_ARRAYS_FILE, bio.getvalue(), fsync=self._fsync)

    def flush(self) -> None:
        """Write everything buffered now (normally automatic)."""
        with self._lock:
            if not self._closed:
                self._flush_buffers()

    def close(self) -> None:
        """Flush, sync, and mark the session as closed cleanly (idempotent)."""
        if self._closed:
            return
        self._stop.set()
        self._flusher.join(timeout=5)
        with self._lock:
            self._flush_buffers()
            for lg in (self._samples, self._packets, self._events):
                lg.close()
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
            self._write_meta()
            self._closed = True
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

    def _maybe_flush(self) -> None:
        if (
            self._n_sample_buf >= _MAX_CHUNK_SAMPLES
            or self._n_packet_bytes >= _MAX_CHUNK_PACKET_BYTES
            or time.monotonic() - self._last_flush >= self.flush_interval_s
        ):
            self._flush_buffers()

    def _flush_buffers(self) -> None:
        # Large batches are split so one damaged chunk never costs more than ~4k samples or
        # ~1 MiB of packets.
        if self._sample_buf:
            block = (
                self._sample_buf[0]
                if len(self._sample_buf) == 1
                else np.concatenate(self._sample_buf)
            )
            for i in range(0, block.shape[0], _MAX_CHUNK_SAMPLES):
                part = block[i : i + _MAX_CHUNK_SAMPLES]
                self._samples.append(part.shape[0], part.tobytes())
            self.n_samples += block.shape[0]
            self._sample_buf.clear()
            self._n_sample_buf = 0
        if self._packet_t:
            times = np.asarray(self._packet_t, dtype="<f8")
            lengths = np.fromiter(
                (len(p) for p in self._packet_data), dtype="<u4", count=len(self._packet_data)
            )
            start, n = 0, len(self._packet_data)
            while start < n:
                # as many packets as fit in ~1 MiB (at least one)
                sizes = np.cumsum(lengths[start:], dtype=np.int64)
                stop = start + max(1, int(np.searchsorted(sizes, _MAX_CHUNK_PACKET_BYTES, "right")))
                payload = b"".join(
                    [
                        times[start:stop].tobytes(),
                        lengths[start:stop].tobytes(),
                        *self._packet_data[start:stop],
                    ]
                )
                self._packets.append(stop - start, payload)
                start = stop
            self.n_packets += n
            self._packet_t.clear()
            self._packet_data.clear()
            self._n_packet_bytes = 0
        self._samples.sync()
        self._packets.sync()
        self._last_flush = time.monotonic()

    def _flush_loop(self) -> None:
        period = self.flush_interval_s / 4
        failed = False
        while not self._stop.wait(period):
            try:
                with self._lock:
                    if (
                        not self._closed
                        and time.monotonic() - self._last_flush >= self.flush_interval_s
                    ):
                        self._flush_buffers()
            except Exception as e:  # keep trying; the caller's next write or close raises
                if not failed:
                    log.warning("%s: background flush failed (%s); will retry", self.path, e)
                failed = True
            else:
                failed = False
