"""A batch's tables, assembled from the part files at the end and each written atomically:
``sessions.parquet`` (one row per session, `SESSION_COLUMNS`), ``strides.parquet`` (every
stance with its ``session_id``) and ``failed.csv`` (`FAILED_COLUMNS`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gaitimu.batch.task import SESSION_COLUMNS, SESSION_META_KEY, part_path
from gaitimu.errors import BadInputError
from gaitimu.sessions.files import atomic_file, os_error_text

SESSIONS_FILE = "sessions.parquet"
STRIDES_FILE = "strides.parquet"
FAILED_FILE = "failed.csv"
COHORT_FILE = "cohort.html"
FAILED_COLUMNS = ("session", "session_id", "exit_class", "exit_code", "error")


def read_parts(parts: Path, keys: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sessions, strides) of the parts of ``keys``, in that order."""
    import pyarrow.parquet as pq

    rows, frames = [], []
    for key in keys:
        t = pq.read_table(part_path(parts, key))
        rows.append(json.loads(t.schema.metadata[SESSION_META_KEY]))
        frames.append(t.replace_schema_metadata(None).to_pandas())
    sessions = pd.DataFrame(rows, columns=list(SESSION_COLUMNS))
    frames = [f for f in frames if len(f)] or frames[:1]
    strides = (pd.concat(frames, ignore_index=True) if frames
               else pd.DataFrame({"session_id": pd.Series(dtype=str)}))
    return sessions, strides


def _write(path: Path, write: Any) -> None:
    try:
        with atomic_file(path) as f:
            write(f)
    except OSError as e:
        raise BadInputError(os_error_text(path, e)) from e


def write_tables(out: Path, sessions: pd.DataFrame, strides: pd.DataFrame,
                 failed: Sequence[dict[str, Any]]) -> None:
    """Write the three tables into ``out``, each atomically."""
    _write(out / SESSIONS_FILE, lambda f: sessions.to_parquet(f, index=False))
    _write(out / STRIDES_FILE, lambda f: strides.to_parquet(f, index=False))
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(FAILED_COLUMNS)
    for r in failed:
        w.writerow([r.get("source"), r.get("key") or "", r.get("exit_class"),
                    r.get("exit_code"), r.get("error")])
    _write(out / FAILED_FILE, lambda f: f.write(text.getvalue().encode()))


__all__ = ["COHORT_FILE", "FAILED_COLUMNS", "FAILED_FILE", "SESSIONS_FILE", "STRIDES_FILE",
           "read_parts", "write_tables"]
