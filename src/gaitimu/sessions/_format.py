"""Names and constants of the on-disk session format (docs/sessions.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "gaitimu-session"
FORMAT_VERSION = 1  # bump on incompatible changes; readers refuse newer versions
SUFFIX = ".gaitimu"

META_FILE = "meta.json"
SAMPLES_FILE = "samples.bin"
PACKETS_FILE = "packets.bin"
EVENTS_FILE = "events.bin"
TRUTH_FILE = "truth.json"
TRUTH_ARRAYS_FILE = "truth.npz"
#: held (O_EXCL) while a writer creates the session; removed on a clean close
WRITER_LOCK_FILE = ".writing"

# One decoded sample on disk: t_s, acc_x..z (m/s^2), gyr_x..z (deg/s), float64 little-endian.
SAMPLE_DTYPE = np.dtype("<f8")
SAMPLE_FIELDS = 7
SAMPLE_BYTES = SAMPLE_FIELDS * SAMPLE_DTYPE.itemsize  # 56

# Events whose interval is a hole in the sample stream.
GAP_KINDS = ("gap", "disconnect", "overflow")


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


def write_atomic(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` via a temporary file and `os.replace` (never half-written)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    os.replace(tmp, path)
