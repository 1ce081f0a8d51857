"""Column names, frames and axis maps: defined once, used everywhere.

Sensor frame columns: ``acc_x acc_y acc_z`` (m/s^2, specific force) and ``gyr_x gyr_y gyr_z``
(deg/s). Pelvis (body) frame columns, as mobgap names them: ``acc_is`` (inferior->superior,
positive up), ``acc_ml`` (medio-lateral, positive towards the participant's RIGHT), ``acc_pa``
(posterior->anterior, positive forward). (up, right, forward) is right-handed:
up x right = forward. See docs/coordinate_system.md.
"""

from __future__ import annotations

import numpy as np

from gaitimu.errors import BadInputError, quote

G = 9.80665  # standard gravity, m/s^2

# ---------------------------------------------------------------- bounds on what is read
#: Sample rates a session may have (what ``import`` accepts and every reader accepts), in Hz.
#: The analysis supports a narrower range (`ANALYSIS_MIN_RATE_HZ`..`ANALYSIS_MAX_RATE_HZ`),
#: the sensor protocol 50-400 Hz (`gaitimu.sensors.protocol`).
MIN_RATE_HZ = 1.0
MAX_RATE_HZ = 2000.0
#: Rates the analysis (conditioning, events, metrics) supports, in Hz.
ANALYSIS_MIN_RATE_HZ = 50.0
ANALYSIS_MAX_RATE_HZ = 400.0
#: Longest session a file may hold (24 h): bounds what readers read (samples.bin at the
#: session's rate, CSV rows at --rate) before reading it.
MAX_SESSION_S = 24 * 3600.0
#: Largest CSV/TSV ``gaitimu import`` reads (bytes), and the longest line in it.
MAX_IMPORT_BYTES = 8 * 1024**3
MAX_CSV_LINE_BYTES = 64 * 1024


def check_rate(value: object, what: str = "sample rate") -> float:
    """``value`` as a rate in Hz, or `BadInputError` unless a number in MIN..MAX_RATE_HZ.

    ``what`` names the value in the message (``--rate``, ``meta.json: field
    'sample_rate_hz'``). Booleans and strings are refused, as are NaN, inf and 1e308.
    """
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    rate = float(value) if ok else float("nan")  # type: ignore[arg-type]
    if not (np.isfinite(rate) and MIN_RATE_HZ <= rate <= MAX_RATE_HZ):
        raise BadInputError(
            f"{what} {quote(value)} is not a valid sampling rate (a number of Hz from "
            f"{MIN_RATE_HZ:g} to {MAX_RATE_HZ:g})"
        )
    return rate


def finite_or_none(value: object) -> float | None:
    """``value`` as a finite float, or None (missing, null, NaN, inf, not a number): how
    optional numbers from metadata and results are read."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


SENSOR_ACC = ("acc_x", "acc_y", "acc_z")
SENSOR_GYR = ("gyr_x", "gyr_y", "gyr_z")
SENSOR_COLS = SENSOR_ACC + SENSOR_GYR
BODY_ACC = ("acc_is", "acc_ml", "acc_pa")
BODY_GYR = ("gyr_is", "gyr_ml", "gyr_pa")
BODY_COLS = BODY_ACC + BODY_GYR

SIDES = ("L", "R")
#: One colour per side everywhere (report, dashboard, plots): neutral and colour-blind safe
#: (Okabe & Ito's blue and orange). Red is kept for flags (`FLAG_COLOR`) and never means a side.
SIDE_COLORS = {"L": "#0072B2", "R": "#E69F00"}
SIDE_BANDS = {"L": "rgba(0,114,178,0.18)", "R": "rgba(230,159,0,0.20)"}
FLAG_COLOR = "#C62828"
ACTIVITIES = ("walk", "run")
#: The self-tests of the clinical notes, measured by the sensor (docs/self_tests.md).
SELF_TESTS = ("single-leg-stance", "single-leg-squat")

# Body directions an axis may point to, as unit vectors in the (up, right, forward) body frame.
DIRECTIONS = {
    "up": (1, 0, 0),
    "down": (-1, 0, 0),
    "right": (0, 1, 0),
    "left": (0, -1, 0),
    "forward": (0, 0, 1),
    "backward": (0, 0, -1),
}
DIRECTION_ALIASES = {"front": "forward", "back": "backward", "fwd": "forward", "bwd": "backward"}

DEFAULT_AXES = "x=up,y=right,z=forward"
#: Named axis maps (``--axes NAME``), stored as the map they stand for. A phone worn upright
#: in a running belt at the sacrum, in the Android/iOS device frame (x to the right of the
#: screen, y up along it, z out of the screen): screen facing out (backward), x = y cross z =
#: up x backward = right; screen facing in (forward), x = up x forward = left
#: (docs/coordinate_system.md, "Phones").
AXIS_PRESETS = {
    "phone-screen-out": "x=right,y=up,z=backward",
    "phone-screen-in": "x=left,y=up,z=forward",
}
# Axis map of a sensor whose mounting is unknown: gravity gives up, the gait gives the heading
# and which way is forward (`gaitimu.analysis.orientation.align_to_pelvis`).
AUTO_AXES = "auto"


def is_auto_axes(spec: object) -> bool:
    """True for the axis map ``auto`` (unknown mounting)."""
    return isinstance(spec, str) and spec.strip().lower() == AUTO_AXES


def parse_axes(spec: str) -> np.ndarray:
    """Parse an axis map such as ``x=up,y=right,z=forward`` or a name of `AXIS_PRESETS`.

    Returns the 3x3 rotation matrix ``R_body_sensor`` with ``v_body = R @ v_sensor``, where the
    body frame is (up, right, forward). Raises `BadInputError` unless the map names each of
    x, y, z once and forms a proper right-handed rotation.
    """
    if not isinstance(spec, str):
        raise BadInputError(f"axis map {quote(spec)} is not text; expected e.g. {DEFAULT_AXES}")
    spec = AXIS_PRESETS.get(spec.strip().lower(), spec)
    if not spec.strip():
        raise BadInputError(f"axis map {quote(spec)} is empty; expected e.g. {DEFAULT_AXES}")
    cols: dict[str, np.ndarray] = {}
    for part in spec.replace(" ", "").lower().split(","):
        if "=" not in part:
            raise BadInputError(
                f"axis map {quote(spec)}: item {quote(part)} is not AXIS=DIRECTION; expected e.g. {DEFAULT_AXES}"
            )
        axis, direction = part.split("=", 1)
        direction = DIRECTION_ALIASES.get(direction, direction)
        if axis not in ("x", "y", "z"):
            raise BadInputError(
                f"axis map {quote(spec)}: unknown sensor axis {quote(axis)} (use x, y, z)"
            )
        if direction not in DIRECTIONS:
            raise BadInputError(
                f"axis map {quote(spec)}: unknown direction {quote(direction)} "
                f"(use one of {', '.join(DIRECTIONS)})"
            )
        if axis in cols:
            raise BadInputError(f"axis map {quote(spec)}: axis {axis!r} given twice")
        cols[axis] = np.array(DIRECTIONS[direction], dtype=float)
    if set(cols) != {"x", "y", "z"}:
        missing = sorted({"x", "y", "z"} - set(cols))
        raise BadInputError(f"axis map {quote(spec)}: missing axis {', '.join(missing)}")
    rot = np.column_stack([cols["x"], cols["y"], cols["z"]])
    det = float(np.linalg.det(rot))
    if abs(det) < 0.5:
        raise BadInputError(f"axis map {quote(spec)}: two axes point the same way")
    if det < 0:
        raise BadInputError(
            f"axis map {quote(spec)} is left-handed (a mirror image); a real IMU is right-handed, "
            "check the sign of one axis"
        )
    return rot


def format_axes(rot: np.ndarray) -> str:
    """Inverse of `parse_axes` for axis-aligned maps."""
    names = {v: k for k, v in DIRECTIONS.items()}
    out = []
    for i, axis in enumerate("xyz"):
        key = tuple(round(c) for c in rot[:, i])
        out.append(f"{axis}={names[key]}")
    return ",".join(out)
