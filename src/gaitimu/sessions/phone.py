"""Phone recordings: the exports of Sensor Logger and phyphox (``gaitimu import --format``).

Both apps log the accelerometer and the gyroscope as separate streams, each on its own uneven
clock. `read_phone` reads them, converts them to the session's units (m/s^2 specific force,
deg/s, the phone's own x/y/z axes) and merges them on one time base (`merge_streams`); the
session then stores the merged samples at their own times, and the conditioning stage
resamples them onto the uniform grid as it does for every session. docs/sessions.md,
section 6 has the formats and the rules; docs/coordinate_system.md the phone axes.

* **Sensor Logger** (Kelvin Choi; documented in github.com/tszheichoi/awesome-sensor-logger,
  UNITS.md, COORDINATES.md, CROSSPLATFORM.md): a zip or folder of CSVs with columns
  ``time`` (Unix epoch, ns), ``seconds_elapsed``, ``z``, ``y``, ``x``. Acceleration with gravity
  comes from ``TotalAcceleration.csv`` (Android), else ``Accelerometer.csv`` (without gravity)
  plus ``Gravity.csv`` (iOS logs only those), else ``AccelerometerUncalibrated.csv`` (with
  gravity; in g on iOS). The gyroscope is ``Gyroscope.csv`` (else
  ``GyroscopeUncalibrated.csv``), rad/s. On iOS, unless "Standardise Units & Frames" is on,
  acceleration and gravity have the opposite sign of Android's (and gaitimu's) convention;
  ``Metadata.csv`` names the platform.
* **phyphox** (RWTH Aachen; the experiment definitions in github.com/phyphox/phyphox-experiments,
  ``accelerometer.phyphox`` "Acceleration with g" and ``gyroscope.phyphox``): a CSV (or the
  export's zip, or a folder of exports) with ``Time (s)``, ``Acceleration x (m/s^2)`` ..., and/or
  ``Gyroscope x (rad/s)`` ...; comma, tab, or semicolon with decimal comma.
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitimu.consts import (
    ANALYSIS_MAX_RATE_HZ,
    ANALYSIS_MIN_RATE_HZ,
    MAX_IMPORT_BYTES,
    G,
    check_rate,
)
from gaitimu.errors import BadInputError, clip, quote
from gaitimu.sessions.importer import RATE_TOLERANCE, _check_acc_unit

log = logging.getLogger(__name__)

SENSOR_LOGGER = "sensor-logger"
PHYPHOX = "phyphox"
PHONE_FORMATS = (SENSOR_LOGGER, PHYPHOX)
RAD2DEG = 180.0 / np.pi
#: A hole in the slower stream longer than this many of its median intervals is not bridged by
#: interpolation: the faster stream's samples inside it are dropped, so it becomes a gap.
HOLE_INTERVALS = 3.0
#: Below this median |acc| (m/s^2) the file holds acceleration without gravity.
MIN_GRAVITY_NORM = 3.0


def _fail(path: Path | str, what: str) -> BadInputError:
    return BadInputError(f"{path}: {what}")


# ------------------------------------------------------------------ files: zip, folder, CSV
Opener = Callable[[], bytes]


def _csv_members(path: Path) -> list[tuple[str, str, Opener]]:
    """The CSV files of a zip, a folder (and its subfolders) or one CSV file.

    Returns ``[(lower-case base name, name to show, read the bytes), ...]``; every file is
    checked against `MAX_IMPORT_BYTES` before it is read.
    """
    try:
        st = path.stat()
    except FileNotFoundError as e:
        raise _fail(path, "file or folder not found") from e
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror})") from e

    def too_big(name: str, size: int) -> None:
        if size > MAX_IMPORT_BYTES:
            raise _fail(
                name, f"is {size} bytes, more than the {MAX_IMPORT_BYTES} bytes gaitimu imports"
            )

    out: list[tuple[str, str, Opener]] = []
    if stat.S_ISDIR(st.st_mode):
        for f in sorted(path.rglob("*")):
            if f.suffix.lower() == ".csv" and f.is_file():
                too_big(str(f), f.stat().st_size)
                out.append((f.name.lower(), str(f), f.read_bytes))
        return out
    if not stat.S_ISREG(st.st_mode):
        raise _fail(path, "is not a regular file or folder; pass the app's export (zip or CSV)")
    if zipfile.is_zipfile(path):
        try:
            zf = zipfile.ZipFile(path)
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError) as e:
            raise _fail(path, f"damaged zip file ({e}); export the recording again") from e
        for zi in infos:
            base = zi.filename.rsplit("/", 1)[-1]
            if zi.is_dir() or not base.lower().endswith(".csv") or base.startswith("._"):
                continue
            too_big(f"{path}:{zi.filename}", zi.file_size)
            out.append((base.lower(), f"{path}:{zi.filename}", lambda zi=zi: zf.read(zi)))
        return out
    too_big(str(path), st.st_size)
    out.append((path.name.lower(), str(path), path.read_bytes))
    return out


def _read_csv(name: str, read: Opener) -> pd.DataFrame:
    """A CSV as a table of numbers (names stripped of quotes, as written); one line on error."""
    try:
        data = read()
    except (OSError, zipfile.BadZipFile, RuntimeError) as e:
        raise _fail(name, f"cannot read ({e})") from e
    if b"\0" in data:
        raise _fail(name, "not a text CSV file (NUL byte); export the recording again as CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _fail(name, f"not a text CSV file ({e.reason} at byte {e.start})") from e
    lines = text.splitlines()
    header = next((ln for ln in lines if ln.strip()), "")
    if not header:
        raise _fail(name, "file is empty; export the recording again")
    sep = max(("\t", ";", ","), key=header.count)
    first = next((ln for ln in lines[lines.index(header) + 1 :] if ln.strip()), "")
    decimal = "," if sep != "," and re.search(r"\d,\d", first) and "." not in first else "."
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, decimal=decimal, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise _fail(name, f"malformed CSV ({clip(msg, 120)}); export the recording again") from e
    df.columns = [str(c).strip().strip('"').strip() for c in df.columns]
    return df


def _numbers(name: str, df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """``df[cols]`` as float64; a value that is not a number is one line naming it."""
    out = np.empty((len(df), len(cols)))
    for k, c in enumerate(cols):
        vals = pd.to_numeric(df[c], errors="coerce").to_numpy(np.float64)
        bad = np.isnan(vals) & df[c].notna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise _fail(
                name,
                f"non-numeric value {quote(str(df[c].iloc[i]))} in column {c} at line {i + 2}; "
                "fix or remove that row",
            )
        out[:, k] = vals
    return out


# ------------------------------------------------------------------ streams and merging
@dataclass
class Stream:
    """One sensor's samples: times (s, any origin) and (n, 3) values, with where they came from."""

    t: np.ndarray
    xyz: np.ndarray
    source: str

    @property
    def rate_hz(self) -> float:
        return 1.0 / float(np.median(np.diff(self.t))) if self.t.size > 1 else float("nan")


def _clean(s: Stream, what: str) -> tuple[Stream, int]:
    """Rows with a time and three values, sorted by time, repeated times dropped."""
    ok = np.isfinite(s.t) & np.isfinite(s.xyz).all(axis=1)
    t, xyz = s.t[ok], s.xyz[ok]
    if t.size < 2:
        raise _fail(
            s.source,
            f"has {t.size} {what} sample(s); record again with the {what} switched on",
        )
    order = np.argsort(t, kind="stable")
    t, xyz = t[order], xyz[order]
    keep = np.concatenate([[True], np.diff(t) > 0])
    return Stream(t[keep], xyz[keep], s.source), int(np.count_nonzero(~keep))


def merge_streams(
    acc: Stream, gyr: Stream
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Merge the accelerometer and gyroscope streams on the faster one's times.

    Each stream is sorted and repeated times are dropped. The faster stream (the smaller
    median interval; the accelerometer on a tie) keeps its own times; the other is linearly
    interpolated onto them, over the time both cover. Where the slower stream has a hole
    longer than `HOLE_INTERVALS` of its median intervals, the faster stream's samples inside
    it are dropped rather than interpolated, so the hole becomes a gap of the session.

    Returns ``t, acc, gyr, info`` with ``t`` in the streams' time unit (not shifted).
    """
    acc, dup_a = _clean(acc, "accelerometer")
    gyr, dup_g = _clean(gyr, "gyroscope")
    base_is_acc = acc.rate_hz >= gyr.rate_hz
    base, other = (acc, gyr) if base_is_acc else (gyr, acc)
    t = base.t
    inside = (t >= other.t[0]) & (t <= other.t[-1])
    if np.count_nonzero(inside) < 2:
        raise _fail(
            f"{acc.source} and {gyr.source}",
            "the accelerometer and gyroscope recordings do not overlap in time; export one "
            "recording with both sensors",
        )
    k = np.clip(np.searchsorted(other.t, t, side="right"), 1, other.t.size - 1)
    hole = other.t[k] - other.t[k - 1]
    in_hole = inside & (hole > HOLE_INTERVALS * float(np.median(np.diff(other.t))))
    keep = inside & ~in_hole
    t = t[keep]
    inter = np.column_stack([np.interp(t, other.t, other.xyz[:, i]) for i in range(3)])
    a, g = (base.xyz[keep], inter) if base_is_acc else (inter, base.xyz[keep])
    info = {
        "merged_on": "accelerometer" if base_is_acc else "gyroscope",
        "acc_rate_hz": acc.rate_hz,
        "gyr_rate_hz": gyr.rate_hz,
        "repeated_times_dropped": {"accelerometer": dup_a, "gyroscope": dup_g},
        "outside_overlap_dropped": int(np.count_nonzero(~inside)),
        "in_holes_dropped": int(np.count_nonzero(in_hole)),
    }
    return t, a, g, info


# ------------------------------------------------------------------ Sensor Logger
def _sl_stream(members: list[tuple[str, str, Opener]], base: str) -> Stream | None:
    """A Sensor Logger file as a Stream with times in ns (int64, epoch), or None if absent."""
    found = [(n, r) for b, n, r in members if b == f"{base.lower()}.csv"]
    if not found:
        return None
    name, read = found[0]
    df = _read_csv(name, read)
    cols = {c.lower(): c for c in df.columns}
    missing = [c for c in ("x", "y", "z") if c not in cols]
    if missing or not ({"time", "seconds_elapsed"} & set(cols)):
        need = ", ".join(missing + ([] if {"time", "seconds_elapsed"} & set(cols) else ["time"]))
        raise _fail(
            name,
            f"missing column(s) {need} (found: {clip(', '.join(df.columns), 100)}); Sensor "
            "Logger files have time, seconds_elapsed, z, y, x",
        )
    if len(df) == 0:
        raise _fail(name, "has a header but no data rows; record again with this sensor on")
    xyz = _numbers(name, df, [cols["x"], cols["y"], cols["z"]])
    if "time" in cols:  # integer ns since the epoch: exact in int64, not in float64
        t_ns = pd.to_numeric(df[cols["time"]], errors="coerce")
        if t_ns.isna().any():
            raise _fail(name, f"non-numeric time at line {int(np.argmax(t_ns.isna())) + 2}")
        t = t_ns.to_numpy().astype(np.int64)
    else:
        t = np.round(_numbers(name, df, [cols["seconds_elapsed"]])[:, 0] * 1e9).astype(np.int64)
    return Stream(t, xyz, name)


def _sl_metadata(members: list[tuple[str, str, Opener]]) -> dict[str, str]:
    found = [(n, r) for b, n, r in members if b == "metadata.csv"]
    if not found:
        return {}
    try:
        df = _read_csv(*found[0])
    except BadInputError as e:
        log.warning("Metadata.csv not read (%s); taken as Android", e)
        return {}
    if len(df) == 0:
        return {}
    return {str(c).strip().lower(): str(df[c].iloc[0]).strip() for c in df.columns}


def read_sensor_logger(
    path: Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a Sensor Logger export (zip or folder): module doc; returns ``t_s, acc, gyr, info``."""
    members = _csv_members(path)
    meta = _sl_metadata(members)
    platform = meta.get("platform", "").lower()
    ios = platform == "ios"
    streams = {
        b: _sl_stream(members, b)
        for b in (
            "TotalAcceleration",
            "Accelerometer",
            "Gravity",
            "AccelerometerUncalibrated",
            "Gyroscope",
            "GyroscopeUncalibrated",
        )
    }
    s = {k: v for k, v in streams.items() if v is not None}
    # ns since the epoch are exact in int64 only: seconds from the earliest sample of any file
    origin_ns = min(int(v.t.min()) for v in s.values()) if s else 0
    for v in s.values():
        v.t = (v.t - origin_ns).astype(np.float64) / 1e9
    if not s:
        raise _fail(
            path,
            "no Sensor Logger CSV files (TotalAcceleration.csv, Accelerometer.csv, "
            "Gyroscope.csv, ...); pass the zip Sensor Logger exported, or its folder",
        )
    uncal_in_g = None
    if "AccelerometerUncalibrated" in s:
        norm = float(np.median(np.linalg.norm(s["AccelerometerUncalibrated"].xyz, axis=1)))
        uncal_in_g = 0.5 < norm < 2.0
    if "TotalAcceleration" in s:
        acc, acc_source = s["TotalAcceleration"], "TotalAcceleration.csv"
    elif "Accelerometer" in s and "Gravity" in s:
        lin, grav = s["Accelerometer"], s["Gravity"]
        grav, _ = _clean(grav, "gravity")
        g_at = np.column_stack([np.interp(lin.t, grav.t, grav.xyz[:, i]) for i in range(3)])
        acc = Stream(lin.t, lin.xyz + g_at, lin.source)
        acc_source = "Accelerometer.csv + Gravity.csv"
    elif "AccelerometerUncalibrated" in s:
        u = s["AccelerometerUncalibrated"]
        acc = Stream(u.t, u.xyz * (G if uncal_in_g else 1.0), u.source)
        acc_source = "AccelerometerUncalibrated.csv" + (" (g)" if uncal_in_g else "")
    elif "Accelerometer" in s:
        raise _fail(
            s["Accelerometer"].source,
            "holds acceleration without gravity and there is no TotalAcceleration.csv, "
            "Gravity.csv or AccelerometerUncalibrated.csv; switch on Gravity (iOS) or "
            "Accelerometer with gravity in Sensor Logger and record again",
        )
    else:
        raise _fail(
            path,
            "has no accelerometer file (TotalAcceleration.csv or Accelerometer.csv "
            "with Gravity.csv); switch the accelerometer on in Sensor Logger",
        )
    gyr_s = s.get("Gyroscope") or s.get("GyroscopeUncalibrated")
    if gyr_s is None:
        raise _fail(
            path, "has no Gyroscope.csv; switch the gyroscope on in Sensor Logger and record again"
        )
    # iOS reports acceleration and gravity with the opposite sign of Android (specific force,
    # +g up at rest), unless "Standardise Units & Frames" is on; the uncalibrated accelerometer
    # is then in m/s^2 instead of g, which tells the two apart when it was logged.
    standardised = ios and uncal_in_g is False
    flip = ios and not standardised
    if flip:
        acc = Stream(acc.t, -acc.xyz, acc.source)
    t, a, g, info = merge_streams(acc, Stream(gyr_s.t, gyr_s.xyz * RAD2DEG, gyr_s.source))
    t0 = float(t[0])
    info.update(
        {
            "format": SENSOR_LOGGER,
            "platform": meta.get("platform") or "unknown (no Metadata.csv: taken as Android)",
            "device": meta.get("device name"),
            "acc_source": acc_source,
            "gyr_source": Path(gyr_s.source.split(":")[-1]).name,
            "acc_sign": "negated (iOS convention)" if flip else "as recorded",
            "start_time_ns": origin_ns + round(t0 * 1e9),
        }
    )
    return t - t0, a, g, info


# ------------------------------------------------------------------ phyphox
_PX_ACC = re.compile(r"^(linear )?acceleration ([xyz]) \((.+)\)$")
_PX_GYR = re.compile(r"^gyroscope ([xyz]) \((.+)\)$")
_PX_MS2 = ("m/s^2", "m/s²", "m/s2")


def read_phyphox(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a phyphox CSV export (file, zip or folder): module doc; ``t_s, acc, gyr, info``."""
    members = _csv_members(path)
    acc: Stream | None = None
    gyr: Stream | None = None
    linear = None
    for _, name, read in members:
        df = _read_csv(name, read)
        low = {c.lower(): c for c in df.columns}
        tcol = low.get("time (s)")
        found: dict[str, dict[str, str]] = {"acc": {}, "gyr": {}}
        for c_low, c in low.items():
            if m := _PX_ACC.match(c_low):
                if m.group(1):
                    linear = name
                    continue
                if m.group(3) not in _PX_MS2:
                    raise _fail(
                        name,
                        f"column {quote(c)}: unit {quote(m.group(3))} is not m/s^2; "
                        "export the 'Acceleration with g' experiment as CSV",
                    )
                found["acc"][m.group(2)] = c
            elif m := _PX_GYR.match(c_low):
                if m.group(2) != "rad/s":
                    raise _fail(
                        name,
                        f"column {quote(c)}: unit {quote(m.group(2))} is not rad/s; "
                        "export the 'Gyroscope' experiment as CSV",
                    )
                found["gyr"][m.group(1)] = c
        for kind, cols in found.items():
            if not cols:
                continue
            if len(cols) < 3 or tcol is None:
                need = [f"{kind} {a}" for a in "xyz" if a not in cols]
                raise _fail(
                    name,
                    f"missing column(s) {', '.join(need + ([] if tcol else ['Time (s)']))}"
                    " (a phyphox export has Time (s) and x, y, z); export it again",
                )
            if len(df) == 0:
                raise _fail(name, "has a header but no data rows; record again")
            st_ = Stream(
                _numbers(name, df, [tcol])[:, 0],
                _numbers(name, df, [cols["x"], cols["y"], cols["z"]]),
                name,
            )
            if kind == "acc" and acc is None:
                acc = st_
            elif kind == "gyr" and gyr is None:
                gyr = Stream(st_.t, st_.xyz * RAD2DEG, name)
    if acc is None:
        if linear:
            raise _fail(
                linear,
                "holds linear acceleration (without gravity); record with the "
                "'Acceleration with g' experiment instead",
            )
        raise _fail(
            path,
            "no phyphox acceleration columns (Time (s), Acceleration x (m/s^2), "
            "...); export the 'Acceleration with g' experiment as CSV",
        )
    if gyr is None:
        raise _fail(
            path,
            "no phyphox gyroscope columns (Time (s), Gyroscope x (rad/s), ...); "
            "export the 'Gyroscope' experiment too (a zip or folder may hold both)",
        )
    t, a, g, info = merge_streams(acc, gyr)
    t0 = float(t[0])
    info.update(
        {
            "format": PHYPHOX,
            "acc_source": Path(acc.source.split(":")[-1]).name,
            "gyr_source": Path(gyr.source.split(":")[-1]).name,
            "t_offset_s": t0,
        }
    )
    return t - t0, a, g, info


# ------------------------------------------------------------------ entry point
def read_phone(
    path: str | os.PathLike[str], fmt: str, *, rate_hz: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a phone export (``fmt`` in `PHONE_FORMATS`) like `read_imu_table` reads a CSV.

    Returns ``t_s`` (s from the first merged sample), ``acc`` (m/s^2, specific force) and
    ``gyr`` (deg/s) in the phone's axes, and ``info`` (sources, platform, stream rates, what
    was dropped, ``rate_hz``: the median interval of the merged stream, ``events``). A given
    ``rate_hz`` must agree with that within 2 %.
    """
    path = Path(path)
    if fmt == SENSOR_LOGGER:
        t_s, acc, gyr, info = read_sensor_logger(path)
    elif fmt == PHYPHOX:
        t_s, acc, gyr, info = read_phyphox(path)
    else:
        raise BadInputError(f"--format {quote(fmt)} is not one of csv, {', '.join(PHONE_FORMATS)}")
    if t_s.size < 2:
        raise _fail(path, "fewer than 2 samples where accelerometer and gyroscope overlap")
    _check_acc_unit(path, acc, "m/s2")  # 0.5-2 "m/s^2": values in g
    norm = float(np.median(np.linalg.norm(acc, axis=1)))
    if norm < MIN_GRAVITY_NORM:
        raise _fail(
            path,
            f"median acceleration magnitude is {norm:.2f} m/s^2: the "
            "acceleration has no gravity in it; export acceleration with gravity",
        )
    rate = 1.0 / float(np.median(np.diff(t_s)))
    check_rate(rate, f"{path}: the median sample interval gives a rate of")
    if rate_hz is not None and abs(rate - float(rate_hz)) > RATE_TOLERANCE * float(rate_hz):
        raise _fail(
            path,
            f"the samples are {rate:.4g} Hz (median interval) but --rate is "
            f"{float(rate_hz):g} Hz; leave --rate out for a phone recording",
        )
    if not ANALYSIS_MIN_RATE_HZ <= rate <= ANALYSIS_MAX_RATE_HZ:
        log.warning(
            "%s: %.4g Hz: the session can be stored, but the analysis supports %g-%g Hz",
            path.name,
            rate,
            ANALYSIS_MIN_RATE_HZ,
            ANALYSIS_MAX_RATE_HZ,
        )
    info.update(
        {
            "file": path.name,
            "rate_hz": rate,
            "acc_unit": "m/s2",
            "gyr_unit": "rad/s",
            "layout": fmt,
            "time_source": "phone clock",
            "events": [],
        }
    )
    return t_s, acc, gyr, info


__all__ = ["PHONE_FORMATS", "PHYPHOX", "SENSOR_LOGGER", "merge_streams", "read_phone"]
