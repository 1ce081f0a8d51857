"""Import a CSV/TSV of IMU samples into a session (``gaitimu import``).

Accepted layouts (docs/sessions.md, "Import"):

- gaitimu CSV: columns ``acc_x acc_y acc_z gyr_x gyr_y gyr_z`` and optional ``t_s``.
- Xsens export (e.g. the IPOL lower-back files): comment/preamble lines, then a header with
  ``PacketCounter Acc_X Acc_Y Acc_Z Gyr_X Gyr_Y Gyr_Z [Mag_X ...]``. Column names are matched
  case-insensitively (``Acc_X`` -> ``acc_x``); extra columns are ignored. The ``PacketCounter``
  is the clock (one count per sample at ``--rate``): skipped values are lost packets and become
  gaps in the session, as a ``t_s`` column with missing rows would (docs/sessions.md).

Tab, comma or semicolon separated; lines before the header that start with ``#``, ``//``, ``%``
or carry no column names are skipped. A preamble line such as ``Acquisition frequency: 100 Hz``
is checked against ``--rate``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitimu.consts import (
    ANALYSIS_MAX_RATE_HZ,
    ANALYSIS_MIN_RATE_HZ,
    AUTO_AXES,
    MAX_CSV_LINE_BYTES,
    MAX_IMPORT_BYTES,
    MAX_SESSION_S,
    SENSOR_COLS,
    G,
    check_rate,
    format_axes,
    is_auto_axes,
    parse_axes,
)
from gaitimu.errors import BadInputError, clip, quote
from gaitimu.sessions.writer import SessionWriter

log = logging.getLogger(__name__)

ACC_UNITS = {"m/s2": 1.0, "m/s^2": 1.0, "g": G}
GYR_UNITS = {"deg/s": 1.0, "rad/s": 180.0 / np.pi}
_CHUNK_ROWS = 200_000  # rows parsed at a time: bounds the parser's memory beyond the result
_SCAN_BLOCK = 4 << 20  # bytes read at a time by the pre-scan
MAX_COUNTER_JUMP_S = 60.0  # a larger counter jump is a reset, not lost packets
RATE_TOLERANCE = 0.02  # relative disagreement allowed between --rate and the file's own timing
_HEADER_SCAN_LINES = 200
_FREQ_RE = re.compile(r"(?:frequency|rate)\D{0,20}?([0-9]+(?:\.[0-9]+)?)\s*hz", re.IGNORECASE)
_COUNTER_NAMES = ("packetcounter", "packet_counter", "samplecounter", "sample_counter")


def _fail(path: Path, what: str) -> BadInputError:
    return BadInputError(f"{path}: {what}")


def _split(line: str, sep: str) -> list[str]:
    return [c.strip().strip('"').strip().lower() for c in line.rstrip("\r\n").split(sep)]


def _prescan(path: Path, rate: float) -> str:
    """Check the file before parsing it and return its sha256 (one bounded pass).

    Refuses, each with one line: a path that is not a regular file (``/dev/zero``, a FIFO: they
    never end), a file larger than `MAX_IMPORT_BYTES`, NUL bytes (a binary file, or a sparse
    hole), a line longer than `MAX_CSV_LINE_BYTES`, and more rows than 24 h at ``--rate``.
    """
    try:
        st = path.stat()
    except FileNotFoundError as e:
        raise _fail(path, "file not found") from e
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror})") from e
    if stat.S_ISDIR(st.st_mode):
        raise _fail(path, "is a directory, not a CSV file")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(
            path, "is not a regular file (a device, FIFO or socket); save the data to a CSV file"
        )
    if st.st_size > MAX_IMPORT_BYTES:
        raise _fail(
            path,
            f"is {st.st_size} bytes, more than the {MAX_IMPORT_BYTES} bytes gaitimu imports; "
            "split it into shorter recordings",
        )
    max_lines = int(MAX_SESSION_S * rate) + _HEADER_SCAN_LINES + 1
    h = hashlib.sha256()
    offset = 0
    n_lines = 0  # newlines seen before the current block
    run = 0  # bytes since the last newline
    try:
        with open(path, "rb") as f:
            while block := f.read(_SCAN_BLOCK):
                h.update(block)
                nul = block.find(b"\0")
                if nul >= 0:
                    line = n_lines + block.count(b"\n", 0, nul) + 1
                    raise _fail(
                        path,
                        f"not a text CSV file (NUL byte at byte {offset + nul}, line "
                        f"{line}); export it as UTF-8 CSV",
                    )
                nl = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
                if nl.size:
                    lengths = np.diff(nl, prepend=-1) - 1
                    lengths[0] += run
                    run = len(block) - int(nl[-1]) - 1
                else:
                    lengths = np.empty(0, dtype=np.int64)
                    run += len(block)
                if run > MAX_CSV_LINE_BYTES or (
                    lengths.size and lengths.max() > MAX_CSV_LINE_BYTES
                ):
                    k = (
                        int(np.argmax(lengths > MAX_CSV_LINE_BYTES))
                        if (lengths.size and lengths.max() > MAX_CSV_LINE_BYTES)
                        else int(nl.size)
                    )
                    raise _fail(
                        path,
                        f"line {n_lines + k + 1} is longer than {MAX_CSV_LINE_BYTES} bytes; not a "
                        "CSV of numbers (one row per sample)",
                    )
                n_lines += int(nl.size)
                offset += len(block)
                if n_lines > max_lines:
                    raise _fail(
                        path,
                        f"has more than {max_lines} lines, more than {MAX_SESSION_S / 3600:g} h "
                        f"at --rate {rate:g} Hz; split it into shorter recordings",
                    )
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror})") from e
    return h.hexdigest()


def _find_header(path: Path) -> tuple[int, str, list[str], float | None]:
    """(line index, separator, lower-case column names, rate from a preamble or None)."""
    try:
        with open(path, encoding="utf-8-sig", errors="strict") as f:
            lines = [f.readline() for _ in range(_HEADER_SCAN_LINES)]
    except UnicodeDecodeError as e:
        raise _fail(
            path, f"not a text CSV file ({e.reason} at byte {e.start}); export it as UTF-8 CSV"
        ) from e
    except IsADirectoryError as e:
        raise _fail(path, "is a directory, not a CSV file") from e
    except FileNotFoundError as e:
        raise _fail(path, "file not found") from e
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror})") from e
    if not any(line.strip() for line in lines):
        raise _fail(
            path,
            "file is empty; expected a header with columns acc_x..gyr_z "
            "(optional t_s) and one row per sample",
        )
    preamble_rate = None
    for i, line in enumerate(lines):
        if not line:
            break
        for sep in ("\t", ",", ";"):
            cols = _split(line, sep)
            if "acc_x" in cols or "gyr_x" in cols:
                return i, sep, cols, preamble_rate
        m = _FREQ_RE.search(line)
        if m and preamble_rate is None:
            preamble_rate = float(m.group(1))
    raise _fail(
        path,
        "no header line with columns acc_x, acc_y, acc_z, gyr_x, gyr_y, gyr_z "
        "found (tab, comma or semicolon separated; names are case-insensitive); add one",
    )


def _read_table(path: Path) -> tuple[pd.DataFrame, int, str, float | None, list[str]]:
    header_idx, sep, cols, preamble_rate = _find_header(path)
    missing = [c for c in SENSOR_COLS if c not in cols]
    if missing:
        raise _fail(
            path,
            f"missing column(s) {', '.join(missing)} in the header (found: "
            f"{clip(', '.join(cols), 120)}); columns acc_x..gyr_z are required",
        )
    dupes = sorted({c for c in cols if c and cols.count(c) > 1} & set((*SENSOR_COLS, "t_s")))
    if dupes:
        raise _fail(path, f"column(s) {', '.join(dupes)} appear more than once in the header")
    wanted = {*SENSOR_COLS, "t_s", *_COUNTER_NAMES}
    names = [c if c and cols.index(c) == i else f"{c}__col{i}" for i, c in enumerate(cols)]
    keep = [c for c in names if c in wanted]
    values_cols = [c for c in keep if c not in _COUNTER_NAMES]
    # Both paths parse _CHUNK_ROWS rows at a time and keep only the wanted columns as float64,
    # so memory is the result plus one chunk, whatever the file holds.
    try:  # fast path: a clean numeric table (ragged rows still raise, then the slow path)
        parts = []
        with pd.read_csv(
            path,
            sep=sep,
            skiprows=header_idx + 1,
            header=None,
            names=names,
            engine="c",
            dtype={c: np.float64 for c in keep},
            skip_blank_lines=True,
            encoding="utf-8-sig",
            chunksize=_CHUNK_ROWS,
        ) as reader:
            for chunk in reader:
                if not np.isfinite(chunk[values_cols].to_numpy()).all():
                    raise ValueError("non-finite value")
                parts.append(chunk[keep])
        if parts and sum(len(p) for p in parts):
            return pd.concat(parts, ignore_index=True), header_idx, sep, preamble_rate, cols
    except (pd.errors.ParserError, ValueError):
        pass
    # slow path: read as text to say exactly which value on which line is wrong
    first_line = header_idx + 2
    parts = []
    try:
        with pd.read_csv(
            path,
            sep=sep,
            skiprows=header_idx,
            header=0,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
            engine="c",
            encoding="utf-8-sig",
            chunksize=_CHUNK_ROWS,
        ) as reader:
            for chunk in reader:
                chunk.columns = [str(c).strip().strip('"').strip().lower() for c in chunk.columns]
                chunk = chunk.loc[:, ~chunk.columns.duplicated()]
                part = {}
                for c in chunk.columns:
                    if c in _COUNTER_NAMES:
                        part[c] = pd.to_numeric(chunk[c], errors="coerce").to_numpy(np.float64)
                    elif c in wanted:
                        part[c] = _numeric(path, chunk, c, first_line)
                first_line += len(chunk)
                parts.append(pd.DataFrame(part))
    except BadInputError:
        raise
    except (pd.errors.ParserError, ValueError) as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise _fail(
            path,
            f"malformed table ({clip(msg, 120)}); every row needs the same columns as the header",
        ) from e
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(wanted))
    return df, header_idx, sep, preamble_rate, cols


def _numeric(path: Path, df: pd.DataFrame, col: str, first_line: int) -> np.ndarray:
    if df[col].dtype == np.float64:  # fast path, already checked finite
        return df[col].to_numpy()
    raw = df[col].str.strip()
    vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(vals)
    if bad.any():
        k = int(np.argmax(bad))
        text = raw.iloc[k] if isinstance(raw.iloc[k], str) else ""
        what = (
            "empty value"
            if text == ""
            else (
                "NaN/missing value"
                if text.lower() in ("nan", "na", "n/a", "null", "none")
                else f"non-numeric value {quote(text)}"
                if np.isnan(vals[k])
                else f"infinite value {quote(text)}"
            )
        )
        raise _fail(
            path,
            f"{what} in column {col} at line {first_line + k} "
            f"({int(bad.sum())} bad value(s) in this column in lines {first_line}-"
            f"{first_line + len(vals) - 1}); fix or remove those rows",
        )
    return vals


def read_imu_table(
    path: str | os.PathLike[str],
    *,
    rate_hz: float,
    acc_unit: str = "m/s2",
    gyr_unit: str = "deg/s",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Read and validate a CSV/TSV of samples (module doc for the layouts).

    Parameters
    ----------
    path
        The file.
    rate_hz
        Nominal sampling rate. Used for the times when the file has no ``t_s``; checked against
        ``t_s`` / ``PacketCounter`` / a preamble when it has (within 2 %).
    acc_unit, gyr_unit
        Units of the acc and gyr columns: ``m/s2`` or ``g``; ``deg/s`` or ``rad/s``.

    Returns
    -------
    t_s, acc, gyr, info
        Times from 0 s, acc in m/s^2 and gyr in deg/s (sensor frame), and a dict describing
        the source (layout, columns, time source, dropped samples as gap events).

    Raises
    ------
    BadInputError
        With one line naming the file and the problem.
    """
    path = Path(path)
    rate = _check_rate(rate_hz)
    if acc_unit not in ACC_UNITS:
        raise BadInputError(f"--acc-unit {quote(acc_unit)} is not one of m/s2, g")
    if gyr_unit not in GYR_UNITS:
        raise BadInputError(f"--gyr-unit {quote(gyr_unit)} is not one of deg/s, rad/s")
    sha256 = _prescan(path, rate)
    df, header_idx, sep, preamble_rate, header_cols = _read_table(path)
    first_line = header_idx + 2  # 1-based line number of the first data row
    if len(df) == 0:
        raise _fail(path, "has a header but no data rows")
    if preamble_rate is not None and abs(preamble_rate - rate) > RATE_TOLERANCE * rate:
        raise _fail(
            path,
            f"the file says it was sampled at {preamble_rate:g} Hz but --rate is "
            f"{rate:g} Hz; pass --rate {preamble_rate:g}",
        )
    data = np.column_stack([_numeric(path, df, c, first_line) for c in SENSOR_COLS])
    acc = data[:, :3] * ACC_UNITS[acc_unit]
    gyr = data[:, 3:] * GYR_UNITS[gyr_unit]
    counter_col = next((c for c in _COUNTER_NAMES if c in df.columns), None)
    layout = (
        "xsens" if counter_col and any(c.startswith("mag_") for c in header_cols) else "gaitimu"
    )
    events: list[dict[str, Any]] = []
    counter_info: dict[str, Any] | None = None
    if "t_s" in df.columns:
        t_s = _numeric(path, df, "t_s", first_line)
        time_source = "t_s"
        _check_times(path, t_s, first_line, "t_s")
        _check_rate_matches(path, np.diff(t_s), rate, "t_s")
    else:
        # Without t_s the clock is the sample counter when there is one (Xsens PacketCounter,
        # 16 bit, wraps at 65536): a skipped counter value is a packet the receiver lost, so
        # the samples after it are later than their row number says. In the IPOL files the
        # reference event indices count packets, not rows (docs/sessions.md). Without a
        # counter, rows are taken as evenly sampled at --rate.
        t_s = np.arange(len(df), dtype=np.float64) / rate
        time_source = "rate"
        if counter_col:
            counter = pd.to_numeric(df[counter_col], errors="coerce").to_numpy(np.float64)
            steps = np.mod(np.diff(counter), 65536)
            jumps = np.isfinite(steps) & (steps != 1)
            counter_info = {
                "column": counter_col,
                "irregular_steps": int(jumps.sum()),
                "skipped_values": int(np.nansum(np.where(jumps & (steps > 1), steps - 1, 0))),
                "repeated_values": int(np.count_nonzero(steps == 0)),
            }
            usable = np.all(np.isfinite(steps)) and not np.any(steps > MAX_COUNTER_JUMP_S * rate)
            if usable:
                keep = np.concatenate([[True], steps > 0])  # a repeated counter is a duplicate
                t_s = np.concatenate([[0.0], np.cumsum(steps)])[keep] / rate
                acc, gyr = acc[keep], gyr[keep]
                time_source = counter_col
            else:
                log.warning(
                    "%s: %s is not a usable clock (missing values or a jump of more than %g s); "
                    "rows are taken as evenly sampled at %g Hz",
                    path.name,
                    counter_col,
                    MAX_COUNTER_JUMP_S,
                    rate,
                )
    t0 = float(t_s[0])
    t_s = t_s - t0
    _check_acc_unit(path, acc, acc_unit)
    info = {
        "file": path.name,
        "sha256": sha256,
        "layout": layout,
        "separator": {"\t": "tab", ",": "comma", ";": "semicolon"}[sep],
        "header_line": header_idx + 1,
        "columns": header_cols,
        "time_source": time_source,
        "counter": counter_info,
        "t_offset_s": t0,
        "acc_unit": acc_unit,
        "gyr_unit": gyr_unit,
        "events": events,
    }
    return t_s, acc, gyr, info


def _check_rate(rate_hz: float) -> float:
    """``--rate`` checked against the one session rate range (`gaitimu.consts.check_rate`)."""
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError, OverflowError):
        raise BadInputError(f"--rate {quote(rate_hz)} is not a number of Hz") from None
    check_rate(rate, "--rate")
    if not ANALYSIS_MIN_RATE_HZ <= rate <= ANALYSIS_MAX_RATE_HZ:
        log.warning(
            "--rate %g Hz: the session can be stored, inspected and exported, but the analysis "
            "supports %g-%g Hz",
            rate,
            ANALYSIS_MIN_RATE_HZ,
            ANALYSIS_MAX_RATE_HZ,
        )
    return rate


def _check_times(path: Path, t_s: np.ndarray, first_line: int, name: str) -> None:
    dt = np.diff(t_s)
    if np.any(dt <= 0):
        k = int(np.argmax(dt <= 0))
        kind = "duplicate" if dt[k] == 0 else "decreasing"
        raise _fail(
            path,
            f"{kind} time in column {name} at line {first_line + k + 1} "
            f"({t_s[k + 1]:g} s after {t_s[k]:g} s); times must strictly increase",
        )


def _check_rate_matches(path: Path, dt: np.ndarray, rate: float, name: str) -> None:
    if dt.size == 0:
        return
    implied = 1.0 / float(np.median(dt))
    if abs(implied - rate) > RATE_TOLERANCE * rate:
        raise _fail(
            path,
            f"column {name} implies {implied:.4g} Hz (median interval) but --rate "
            f"is {rate:g} Hz; fix --rate or the {name} column",
        )


def _check_acc_unit(path: Path, acc: np.ndarray, acc_unit: str) -> None:
    """Catch the common unit mix-up (g read as m/s^2 or the reverse) from the median |acc|."""
    norm = float(np.median(np.linalg.norm(acc, axis=1)))
    if acc_unit != "g" and 0.5 < norm < 2.0:
        raise _fail(
            path,
            f"median acceleration magnitude is {norm:.2f} m/s^2, which looks like "
            "values in g; pass --acc-unit g",
        )
    if acc_unit == "g" and norm > 40.0:
        raise _fail(
            path,
            f"median acceleration magnitude is {norm / G:.1f} g ({norm:.0f} m/s^2), "
            "which looks like values already in m/s^2; pass --acc-unit m/s2",
        )


def import_csv(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    rate_hz: float | None,
    axes: str,
    acc_unit: str = "m/s2",
    gyr_unit: str = "deg/s",
    subject: str | None = None,
    activity: str | None = None,
    notes: str | None = None,
    leg_length_m: float | None = None,
    height_m: float | None = None,
    speed_kmh: float | None = None,
    fmt: str = "csv",
) -> Path:
    """Import a CSV/TSV of samples (or, with ``fmt``, a phone export) into a new session ``out``.

    ``fmt``: ``csv`` (this module; ``rate_hz`` required) or ``sensor-logger`` / ``phyphox``
    (`gaitimu.sessions.phone.read_phone`: the rate is the median sample interval; a given
    ``rate_hz`` is checked against it; ``acc_unit``/``gyr_unit`` are the apps' own).

    ``leg_length_m``, ``height_m`` (m) and ``speed_kmh`` (a treadmill speed) are checked
    (`gaitimu.analysis.speed.body_meta`) and stored in the session's meta.json when given.

    The session is written to a temporary directory next to ``out`` and renamed into place at
    the end, so a failed import never leaves something that looks like a valid session.

    Returns
    -------
    Path
        The session written.
    """
    from gaitimu.analysis.speed import body_meta

    src = Path(path)
    out = Path(out)
    body = body_meta(leg_length_m, height_m, speed_kmh)
    try:
        axes_stored = AUTO_AXES if is_auto_axes(axes) else format_axes(parse_axes(axes))
    except BadInputError as e:
        raise BadInputError(
            f"--axes: {e}; say where each sensor axis points on the body, "
            "e.g. x=up,y=right,z=forward, or 'auto' when the mounting is unknown"
        ) from e
    if out.exists():
        raise BadInputError(f"{out}: already exists; choose another --out or remove it first")
    if not out.parent.exists():
        raise BadInputError(f"{out}: parent directory {out.parent} does not exist")
    if fmt == "csv":
        if rate_hz is None:
            raise BadInputError("--rate HZ is required with --format csv (the sampling rate)")
        t_s, acc, gyr, info = read_imu_table(
            src, rate_hz=rate_hz, acc_unit=acc_unit, gyr_unit=gyr_unit
        )
    else:
        from gaitimu.sessions.phone import read_phone

        t_s, acc, gyr, info = read_phone(src, fmt, rate_hz=rate_hz)
        rate_hz = info["rate_hz"]
    events = info.pop("events")
    from gaitimu.analysis.conditioning import find_saturation

    _, sat_warnings, saturation = find_saturation(acc, gyr)
    for w_ in sat_warnings:  # clipped at the sensor's range: said now, not at analysis only
        log.warning("%s: %s", src.name, w_)
    if saturation:
        info["saturation"] = saturation
    meta: dict[str, Any] = {
        "source": "import",
        "sensor": {
            "name": "imported" if fmt == "csv" else f"phone ({fmt})",
            "model": "Xsens (from the column layout)"
            if info["layout"] == "xsens"
            else info.get("device"),
            "firmware": None,
            "address": None,
            "protocol_version": None,
        },
        "sample_rate_hz": float(rate_hz),
        "acc_range_g": None,
        "gyr_range_dps": None,
        "axes": axes_stored,
        "subject": subject,
        "activity": activity,
        "notes": notes,
        **body,
        "calibration": None,
        "import": info,
    }
    tmp = out.with_name(f".{out.name}.importing-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        with SessionWriter(tmp, meta, fsync=False) as w:
            w.write_samples(t_s, acc, gyr)
            for ev in events:
                w.add_event(ev)
        try:
            os.rename(tmp, out)  # atomic; fails when another import got there first
        except OSError as e:
            raise BadInputError(
                f"{out}: already exists (written meanwhile by another process?); choose "
                "another --out"
            ) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("imported %d samples from %s into %s", len(t_s), src, out)
    return out


__all__ = ["import_csv", "read_imu_table"]
