"""Writing output files safely, shared by every command that writes one.

* `atomic_file` / `write_atomic`: a temporary file beside the target, fsync, `os.replace`:
  an output is never half-written, and a failure leaves the old file as it was;
* `check_output` / `check_outputs`: refuse, before any work, an output that would land
  inside a session folder, overwrite an input, clash with another output, or replace an
  existing file without ``--force`` (`OutputError`, one line, exit 2);
* `os_error_text`: one line for a failed write (which path, why, what to do);
* `jsonable` / `dumps`: numpy, pandas and dates as plain JSON values;
* `replace_session`: write a whole session into a hidden folder beside the target and
  rename it into place (``--force`` replaces an old one only once the new one is complete).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import math
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from gaitimu.errors import BadInputError, GaitimuError
from gaitimu.sessions._format import (
    EVENTS_FILE,
    META_FILE,
    PACKETS_FILE,
    SAMPLES_FILE,
    WRITER_LOCK_FILE,
)


def jsonable(obj: Any, *, finite: bool = True, strict: bool = True) -> Any:
    """Plain Python values (dict, list, float, int, bool, str, None) for JSON.

    Mappings and sequences (lists, tuples, numpy arrays, pandas Series) recursively; numpy
    scalars as Python ones; dates as ISO text. ``finite``: NaN and inf become None (strict
    JSON, for files); else they stay floats (in-memory results). ``strict``: any other
    object becomes its ``str``; else it is left as it is.
    """
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v, finite=finite, strict=strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or (hasattr(obj, "tolist") and np.ndim(obj) > 0):
        return [jsonable(v, finite=finite, strict=strict) for v in list(obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return None if finite and not math.isfinite(v) else v
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    return str(obj) if strict else obj


def json_default(obj: Any) -> Any:
    """`json.dumps` fallback for numpy scalars/arrays and paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    return json.dumps(obj, indent=indent, default=json_default, allow_nan=True)


def _tmp_name(path: Path) -> Path:
    """A hidden temporary name beside ``path`` (same folder, so `os.replace` is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")


def write_atomic(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync and
    `os.replace` (never half-written). The temporary file is removed on any failure; the
    `OSError` is re-raised."""
    with atomic_file(path, fsync=fsync) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, fsync: bool = True,
                text: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it is flushed, fsync'ed
    and renamed onto ``path`` (`os.replace`), on any exception removed. ``text``: a UTF-8
    text handle (``newline=""``, for csv writers) instead of a binary one."""
    path = Path(path)
    tmp = _tmp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with (open(fd, "w", encoding="utf-8", newline="") if text else open(fd, "wb")) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- output guard
_SESSION_MARKERS = (SAMPLES_FILE, PACKETS_FILE, EVENTS_FILE, WRITER_LOCK_FILE)


def is_session_dir(path: str | os.PathLike[str]) -> bool:
    """A folder that holds a session (meta.json plus a chunk log or a writer's claim)."""
    p = Path(path)
    try:
        return (p / META_FILE).exists() and any((p / m).exists() for m in _SESSION_MARKERS)
    except OSError:
        return False


def enclosing_session(path: str | os.PathLike[str]) -> Path | None:
    """The session folder that ``path`` is (a folder) or lies inside, else None. ``path`` is
    resolved first (symbolic links followed), so a link into a session counts."""
    try:
        p = Path(os.path.realpath(path))
    except (OSError, RuntimeError, ValueError):
        return None
    for d in (p, *p.parents):
        if is_session_dir(d):
            return d
    return None


def os_error_text(path: str | os.PathLike[str], e: OSError) -> str:
    """One line for a failed write of ``path``: which path, why, what to do."""
    code = e.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full writing {path}: free space and retry"
    if code == errno.ELOOP:
        return (f"{path}: symbolic link loop (a link that points back to itself); remove the "
                "link or choose another output name")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = Path(path).parent if not Path(path).is_dir() else Path(path)
        return (f"{path}: cannot write there ({e.strerror or 'permission denied'}); make "
                f"{where} writable or choose another folder")
    if code == errno.ENOENT:
        return f"{path}: folder {Path(path).parent} does not exist; create it or choose another"
    if code == errno.ENAMETOOLONG:
        return f"{path}: file name too long; choose a shorter output name"
    if code in (errno.EISDIR, errno.ENOTDIR):
        return f"{path}: {e.strerror}; choose another output name"
    return f"{path}: cannot write ({e.strerror or e}); choose another output path"


class OutputError(BadInputError):
    """An output path that must not be written (`check_output`): one line, exit 2."""


def check_output(path: str | os.PathLike[str], *, force: bool = False, option: str = "--out",
                 kind: str = "file", inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Check that ``path`` may be written as an output; return it with its links resolved.

    Refused (`OutputError`, one line): a symbolic link loop; a path inside (or equal to) a
    session folder; the same file as one of ``inputs``; an existing output without ``force``
    ("X already exists; use --force to replace it"); for ``kind="file"`` an existing
    directory, and for ``kind="session"`` an existing path that is neither a session nor an
    empty folder (never replaced, even with ``force``). ``kind="dir"`` (export) accepts an existing folder (files are added to it).
    A missing parent folder is refused too.
    """
    p = Path(path)
    try:
        os.stat(p)
        exists = True
    except FileNotFoundError:
        exists = False  # (a dangling link is written through, to its target)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OutputError(f"{option} {path}: symbolic link loop (a link that points back "
                              "to itself); remove the link or choose another name") from None
        raise OutputError(f"{option} {os_error_text(path, e)}") from None
    real = Path(os.path.realpath(p))
    if not real.parent.is_dir():
        raise OutputError(f"{option} {path}: folder {p.parent} does not exist; create it "
                          "first or choose another")
    for src in inputs:
        try:
            same = os.path.exists(src) and exists and os.path.samefile(src, real)
        except OSError:
            same = False
        if same or Path(os.path.realpath(src)) == real:
            raise OutputError(f"{option} {path}: is an input of this command ({src}); choose "
                              "another output name")
    sess = enclosing_session(real.parent if kind == "session" and exists and is_session_dir(real)
                             else real)
    if sess is not None:
        raise OutputError(f"{option} {path}: is inside the session {sess}; outputs never go into "
                          "a session folder: write it elsewhere")
    if kind == "dir":
        if exists and not real.is_dir():
            raise OutputError(f"{option} {path}: exists and is not a directory; choose "
                              f"another {option}")
        return real
    if exists and kind == "file" and real.is_dir():
        raise OutputError(f"{option} {path}: is a folder; give a file name")
    if exists and kind == "session":
        empty_dir = real.is_dir() and not any(real.iterdir())
        if not empty_dir and not is_session_dir(real):
            raise OutputError(f"{option} {path}: exists and is not a gaitimu session; it is "
                              "never replaced: choose another name")
    if exists and not force:
        raise OutputError(f"{path} already exists; use --force to replace it")
    return real


def check_outputs(outputs: Iterable[tuple[str, str | os.PathLike[str] | None]], *,
                  inputs: Iterable[str | os.PathLike[str]] = (), force: bool = False,
                  kind: str = "file") -> dict[Any, Path]:
    """`check_output` for each ``(option, path)`` given (``None`` paths skipped), and no two
    of them on the same file. Returns ``{path: resolved path}``."""
    inputs = list(inputs)
    seen: dict[Path, str] = {}
    out: dict[Any, Path] = {}
    for option, path in outputs:
        if path is None or path == "":
            continue
        real = check_output(path, force=force, option=option, kind=kind, inputs=inputs)
        if real in seen:
            raise OutputError(f"{option} {path}: the same file as {seen[real]}; give each output "
                              "its own name")
        seen[real] = f"{option} {path}"
        out[path] = real
    return out


def is_disk_full(e: BaseException | None) -> bool:
    """True when ``e`` or an exception it was raised from is a full disk (or quota)."""
    while e is not None:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        e = e.__cause__
    return False


def replace_session(out: str | os.PathLike[str], force: bool,
                    write: Callable[[Path], object], *,
                    inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Write a session with ``write(tmp)`` into a hidden temporary folder beside ``out`` and
    rename it into place (``--force``: an existing session is replaced only once the new one is
    complete). On any failure the temporary folder is removed; errors are one line."""
    out = Path(out)
    real = check_output(out, option="--out", kind="session", force=force, inputs=inputs)
    tmp = real.with_name(f".{real.name}.writing-{os.getpid()}")
    old = real.with_name(f".{real.name}.replaced-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            write(tmp)
        except GaitimuError as e:  # name the output, not the temporary folder
            if is_disk_full(e):
                raise BadInputError(f"disk full writing {out}: free space and retry") from e
            raise type(e)(str(e).replace(str(tmp), str(out))) from e
        try:
            if os.path.lexists(real):
                os.rename(real, old)
                try:
                    os.rename(tmp, real)
                except OSError:
                    os.rename(old, real)
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, real)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise BadInputError(f"{out} already exists (written meanwhile by another "
                                    "process?); choose another --out") from e
            raise BadInputError(os_error_text(out, e)) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
