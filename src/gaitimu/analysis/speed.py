"""Walking step length, speed and distance from the sacral sensor (inverted pendulum model).

Data requirements: pelvis-frame signals on a uniform grid (50-400 Hz): ``acc_is``, ``acc_ml``,
``acc_pa`` (m/s^2, specific force), ``obliquity_deg`` and ``tilt_deg`` (the pelvis attitude
relative to quiet standing, from `gaitimu.analysis.orientation.align_to_pelvis`), ``valid``;
and the strides table (``ic_s``, ``next_ic_s``, ``step_s``, ``bout_id``, ``activity``,
``turn``, ``valid``). The leg length of the participant (m).

Method
------
Zijlstra & Hof (2003) [1]_: during walking the centre of mass moves over the stance leg like
an inverted pendulum of length ``l`` (the leg length), so the vertical excursion ``h`` of the
sacrum during a step gives the step length

    step_length = K * 2 * sqrt(2 * l * h - h^2)

``h`` comes from the double-integrated vertical acceleration of the sacrum, ``K`` corrects
for what the simple model leaves out (foot roll, double support; Zijlstra & Hof used 1.25).

* **Vertical acceleration**: the specific force projected on the earth vertical with the
  pelvis attitude (``acc_is cos(obl) cos(tilt) - acc_ml sin(obl) - acc_pa cos(obl)
  sin(tilt)``), not the pelvis ``acc_is`` (it also senses forward acceleration when the
  pelvis tilts).
* **Per-step integration, drift removed per step** (departure from [1]_, which high-passes
  the whole signal at 0.1 Hz): each step, from one initial contact to the next, is integrated
  on its own with the boundary conditions of level, periodic walking: the mean acceleration
  over the step is removed (vertical velocity ends where it began; this also removes gravity
  and any bias), and the linear trend of the integrated position is removed (the sacrum is at
  the same height at both contacts). ``h`` is the range of the resulting position. Nothing
  depends on the neighbouring steps or on a filter's start-up, so a step's length is the
  same in a bout of 4 steps or of 4000.
* **K** (`DEFAULT_K`) was fitted on the odd-numbered IPOL subjects (distance walked per
  trial against the protocol's 20 m) and is reported on the even-numbered ones
  (docs/VALIDATION.md, "Walking speed and distance (issue 11)";
  benchmarks/validate_speed.py).
* **Leg length** given (``--leg-length``) or ``0.53 x body height`` (``--height``): the
  height of the greater trochanter in Winter's anthropometric table [2]_, the ratio mobgap
  uses for the sensor height of Mobilise-D [3]_. Without either, nothing is estimated (NaN
  and a warning): a default leg length would be a guess about the person (a 1.50 m and a
  1.90 m tall adult differ by 12 % in step length, a child by far more).

What is estimated
-----------------
``step_length_m`` and ``speed_mps`` (= ``step_length_m / step_s``) of a stance row belong to
the step that ends at its initial contact, as ``step_s`` (from the previous contralateral
contact to ``ic_s``: the swing of the stance leg that lands at ``ic_s``). They are NaN for
running (the pendulum does not hold: the body bounces on a spring; a treadmill speed can be
given with ``--speed-kmh`` instead), in turns (the model is for straight walking), for
stances that are not ``valid`` and for steps whose step time or vertical excursion is
implausible (`MIN_STEP_S`, `MAX_STEP_S`, `MAX_EXCURSION_FRACTION`).

The **distance** of a walking bout is the sum of its step lengths; steps without an estimate
(turn steps, excluded stances) are bridged with the median step length of the bout's estimated
steps times their number... see `bout_distances`. The **speed** of a bout is its distance over
its duration from the first to the last initial contact plus one step time.

References
----------
.. [1] W. Zijlstra and A. L. Hof, "Assessment of spatio-temporal gait parameters from trunk
   accelerations during human walking", Gait & Posture 18(2):1-10, 2003.
.. [2] D. A. Winter, "Biomechanics and Motor Control of Human Movement", 4th ed., Wiley,
   2009, Fig. 4.1 (segment lengths as fractions of body height: greater trochanter 0.530 H).
.. [3] mobgap (Mobilise-D), ``SlZijlstra`` and the ``sensor_height_m = 0.53 * height``
   convention; A. Soltani et al., IEEE TNSRE 29:1955-1964, 2021.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gaitimu.errors import BadInputError

__all__ = [
    "DEFAULT_K",
    "LEG_LENGTH_PER_HEIGHT",
    "SPEED_COLUMNS",
    "SpeedSettings",
    "body_meta",
    "bout_distances",
    "check_body_size",
    "check_speed_kmh",
    "leg_length_from",
    "pendulum_step_length",
    "step_excursion",
    "step_speed",
    "vertical_acceleration",
]

#: Zijlstra & Hof correction factor, fitted on the odd-numbered IPOL subjects
#: (benchmarks/validate_speed.py --fit).
DEFAULT_K = 1.28
#: Columns this module adds to the strides table.
SPEED_COLUMNS = ("step_length_m", "speed_mps")
#: Leg length (greater trochanter height) / body height, Winter 2009.
LEG_LENGTH_PER_HEIGHT = 0.53
#: Plausible leg lengths and heights (m): outside them the value is refused (a unit mix-up,
#: e.g. centimetres or feet, is the usual cause).
LEG_LENGTH_RANGE_M = (0.3, 1.4)
HEIGHT_RANGE_M = (0.6, 2.6)
#: Steps outside these times (s) get no length.
MIN_STEP_S = 0.25
MAX_STEP_S = 1.5
#: ``invalid_reason`` prefixes of stances excluded from the CPD statistics whose step is
#: still measured well: the side was withheld, or the final contact is missing.
STEP_OK_REASONS = ("no side", "end of a walk", "fc_s missing")
#: A vertical excursion above this fraction of the leg length is no pendulum step.
MAX_EXCURSION_FRACTION = 0.25


@dataclass(frozen=True)
class SpeedSettings:
    """Parameters of the step-length model.

    Attributes
    ----------
    leg_length_m : float or None
        Leg length (m); None: nothing is estimated.
    k : float
        Correction factor of the pendulum model (`DEFAULT_K`).
    leg_length_source : str
        Where the leg length came from ("given", "height 1.75 m x 0.53", ...), for the report.
    """

    leg_length_m: float | None = None
    k: float = DEFAULT_K
    leg_length_source: str = ""


def check_body_size(value: Any, name: str) -> float | None:
    """A leg length or height in metres (``name`` "leg_length_m" or "height_m"), or None.

    Raises `BadInputError` naming the option for anything that is not a finite number in the
    plausible range (`LEG_LENGTH_RANGE_M`, `HEIGHT_RANGE_M`).
    """
    lo, hi = LEG_LENGTH_RANGE_M if name == "leg_length_m" else HEIGHT_RANGE_M
    opt = "--leg-length" if name == "leg_length_m" else "--height"
    return _in_range(value, opt, "metres", f"m is outside {lo:g}-{hi:g} m (give metres)", lo, hi)


def _in_range(value: Any, opt: str, unit: str, outside: str, lo: float, hi: float
              ) -> float | None:
    """``value`` as a finite float in ``[lo, hi]``, None for None, else `BadInputError`
    naming ``opt`` (``unit`` for a non-number, ``outside`` after the value otherwise)."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{opt}: {value!r} is not a number ({unit})") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise BadInputError(f"{opt}: {value!r} {outside}")
    return v


#: Plausible treadmill speeds (km/h) for ``--speed-kmh``.
SPEED_KMH_RANGE = (0.1, 40.0)


def check_speed_kmh(value: Any) -> float | None:
    """A given (treadmill) speed in km/h, or None; `BadInputError` naming ``--speed-kmh``
    when it is not a finite number in `SPEED_KMH_RANGE`."""
    lo, hi = SPEED_KMH_RANGE
    return _in_range(value, "--speed-kmh", "km/h", f"is outside {lo:g}-{hi:g} km/h", lo, hi)


def body_meta(leg_length_m: Any = None, height_m: Any = None,
              speed_kmh: Any = None) -> dict[str, float]:
    """The session meta.json fields for ``--leg-length``, ``--height`` and ``--speed-kmh``
    (checked; only the given ones): ``leg_length_m``, ``height_m``, ``speed_kmh``."""
    out = {"leg_length_m": check_body_size(leg_length_m, "leg_length_m"),
           "height_m": check_body_size(height_m, "height_m"),
           "speed_kmh": check_speed_kmh(speed_kmh)}
    return {k: v for k, v in out.items() if v is not None}


def leg_length_from(
    leg_length_m: float | None = None, height_m: float | None = None
) -> tuple[float | None, str]:
    """The leg length to use and where it came from: the given one, else
    `LEG_LENGTH_PER_HEIGHT` x height, else ``(None, "")``."""
    if leg_length_m is not None and math.isfinite(leg_length_m):
        return float(leg_length_m), f"given leg length {leg_length_m:.3g} m"
    if height_m is not None and math.isfinite(height_m):
        return (LEG_LENGTH_PER_HEIGHT * float(height_m),
                f"{LEG_LENGTH_PER_HEIGHT:g} x height {height_m:.3g} m (Winter 2009)")
    return None, ""


def vertical_acceleration(body: pd.DataFrame) -> np.ndarray:
    """Specific force along the earth vertical (m/s^2, ~ +9.81 at rest) from the pelvis-frame
    accelerations and the pelvis obliquity and tilt (``acc_is`` alone when the angles are
    missing)."""
    a_is = body["acc_is"].to_numpy(dtype=float)
    if "obliquity_deg" not in body or "tilt_deg" not in body:
        return a_is
    o = np.radians(body["obliquity_deg"].to_numpy(dtype=float))
    t = np.radians(body["tilt_deg"].to_numpy(dtype=float))
    co = np.cos(o)
    return (a_is * co * np.cos(t) - body["acc_ml"].to_numpy(dtype=float) * np.sin(o)
            - body["acc_pa"].to_numpy(dtype=float) * co * np.sin(t))


def step_excursion(a_vert: np.ndarray, start: np.ndarray, end: np.ndarray,
                   sampling_rate_hz: float) -> np.ndarray:
    """Vertical excursion (m, peak to peak) of the sacrum over each step ``[start, end)``
    (sample indices, half-open: the contact at ``end`` belongs to the next step, so each
    heel-strike impulse is counted once), integrated per step with the drift removed per
    step (module docstring). NaN for steps shorter than 3 samples or outside the signal."""
    a_vert = np.asarray(a_vert, dtype=float)
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    out = np.full(start.size, np.nan)
    ok = (end - start >= 3) & (start >= 0) & (end <= a_vert.size)
    if not ok.any():
        return out
    s, e = start[ok], end[ok]
    lengths = e - s
    seg = np.repeat(np.arange(s.size), lengths)
    first = np.cumsum(lengths) - lengths  # position of each segment in the flat array
    pos = np.arange(seg.size) - first[seg]  # sample number within its step
    x = a_vert[s[seg] + pos]
    dt = 1.0 / sampling_rate_hz

    def seg_cumsum(y: np.ndarray) -> np.ndarray:
        c = np.cumsum(y)
        base = c[first] - y[first]
        return c - base[seg]

    # trapezoid-free rectangle rule; the mean is taken over the samples the velocity uses
    x = x - (np.bincount(seg, x) / lengths)[seg]
    v = seg_cumsum(x) * dt
    v = v - (np.bincount(seg, v) / lengths)[seg]  # v(start) unknown: position detrended below
    p = seg_cumsum(v) * dt
    p0 = p[first]
    slope = (p[first + lengths - 1] - p0) / (lengths - 1)
    p = p - p0[seg] - slope[seg] * pos
    hi = np.maximum.reduceat(p, first)
    lo = np.minimum.reduceat(p, first)
    out[ok] = hi - lo
    return out


def pendulum_step_length(h: np.ndarray, leg_length_m: float, k: float = DEFAULT_K) -> np.ndarray:
    """Zijlstra & Hof step length ``k * 2 * sqrt(2 l h - h^2)`` (m) for excursions ``h`` (m);
    NaN where ``h`` is not finite, negative or above `MAX_EXCURSION_FRACTION` of ``l``."""
    h = np.asarray(h, dtype=float)
    ok = np.isfinite(h) & (h >= 0) & (h <= MAX_EXCURSION_FRACTION * leg_length_m)
    hh = np.where(ok, h, 0.0)
    return np.where(ok, k * 2.0 * np.sqrt(2.0 * leg_length_m * hh - hh * hh), np.nan)


def step_speed(
    strides: pd.DataFrame,
    body: pd.DataFrame,
    *,
    sampling_rate_hz: float,
    settings: SpeedSettings,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Step length and speed of every stance row's step, and the per-bout distance.

    Parameters
    ----------
    strides : DataFrame
        The strides table (`gaitimu.analysis.metrics.STRIDE_COLUMNS`).
    body : DataFrame
        Pelvis signals on the uniform grid (``t_s`` first sample = index 0).
    sampling_rate_hz : float
        Rate of `body`.
    settings : SpeedSettings
        Leg length and K.

    Returns
    -------
    columns : DataFrame
        ``step_length_m``, ``speed_mps`` aligned with `strides` (same index).
    info : dict
        ``estimated`` (bool), ``reason`` (why not, "" when estimated), ``leg_length_m``,
        ``leg_length_source``, ``k``, ``n_steps`` (steps with a length), ``bouts`` (list of
        `bout_distances` rows), ``distance_m``, ``speed_mps`` (walking, all bouts with
        estimated steps: distance over time), ``step_length_m`` (median).
    """
    n = len(strides)
    sl = np.full(n, np.nan)
    info: dict[str, Any] = {
        "estimated": False, "reason": "", "leg_length_m": settings.leg_length_m,
        "leg_length_source": settings.leg_length_source, "k": settings.k, "n_steps": 0,
        "bouts": [], "distance_m": None, "speed_mps": None, "step_length_m": None,
    }

    def done(reason: str = "") -> tuple[pd.DataFrame, dict[str, Any]]:
        info["reason"] = reason
        cols = pd.DataFrame({"step_length_m": sl, "speed_mps": sl / step_s if n else sl},
                            index=strides.index)
        return cols, info

    step_s = strides["step_s"].to_numpy(dtype=float) if n else np.zeros(0)
    activity = strides["activity"].astype(str).to_numpy() if n else np.zeros(0, dtype=object)
    walk = activity == "walk"
    if n == 0 or not walk.any():
        return done("running: the pendulum model holds for walking only" if n else "no steps")
    if settings.leg_length_m is None or not np.isfinite(settings.leg_length_m):
        return done("no leg length (give --leg-length or --height)")

    fs = float(sampling_rate_hz)
    t0 = float(body["t_s"].iloc[0]) if "t_s" in body else 0.0
    ic = strides["ic_s"].to_numpy(dtype=float)
    prev = ic - step_s  # the previous contralateral contact: the step ends at this IC
    turn = strides["turn"].to_numpy(dtype=bool) if "turn" in strides else np.zeros(n, bool)
    valid = strides["valid"].to_numpy(dtype=bool)
    if "invalid_reason" in strides:  # excluded for CPD only (no side, no FC): step still fine
        why = strides["invalid_reason"].fillna("").astype(str)
        valid = valid | why.str.startswith(STEP_OK_REASONS).to_numpy(dtype=bool)
    timed = np.isfinite(ic) & np.isfinite(step_s) & (step_s >= MIN_STEP_S) & (step_s <= MAX_STEP_S)
    # every timed walking step is integrated (turn and excluded steps too: bout distance)
    cand = walk & timed
    start = np.round((np.where(cand, prev, 0.0) - t0) * fs).astype(np.int64)
    end = np.round((np.where(cand, ic, 0.0) - t0) * fs).astype(np.int64)
    a = vertical_acceleration(body)
    h = np.full(n, np.nan)
    h[cand] = step_excursion(a, start[cand], end[cand], fs)
    if "valid" in body:  # a data gap inside the step: no excursion
        bad = np.concatenate([[0], np.cumsum(~body["valid"].to_numpy(dtype=bool))])
        s_ = np.clip(start, 0, len(a))
        e_ = np.clip(end, 0, len(a))
        h[cand & (bad[e_] - bad[s_] > 0)] = np.nan
    raw = pendulum_step_length(h, settings.leg_length_m, settings.k)
    reported = cand & valid & ~turn
    sl[reported] = raw[reported]
    bouts = bout_distances(strides, raw, reported)
    info["bouts"] = bouts
    info["n_steps"] = int(np.isfinite(sl).sum())
    good = [b for b in bouts if b["n_estimated"] > 0]
    if not good:
        return done("no straight, valid walking step with a plausible vertical excursion")
    info["estimated"] = True
    dist = float(sum(b["distance_m"] for b in good))
    dur = float(sum(b["duration_s"] for b in good))
    info["distance_m"] = dist
    info["speed_mps"] = dist / dur if dur > 0 else None
    info["step_length_m"] = float(np.nanmedian(sl))
    return done()


def bout_distances(strides: pd.DataFrame, raw_length: np.ndarray,
                   reported: np.ndarray) -> list[dict[str, Any]]:
    """Distance walked per walking bout (list of dicts: ``bout_id``, ``start_s``, ``end_s``,
    ``duration_s``, ``n_steps``, ``n_estimated``, ``n_bridged``, ``distance_m``,
    ``speed_mps``, ``step_length_m``).

    A bout's steps are its contacts; each step without a reported length (turn, excluded
    stance, last contact of the bout) counts the pendulum length of that step when one was
    computed (turn steps: the model gives their shorter length), else the median reported
    step length of the bout (``n_bridged``). The half steps from standing to the first contact
    and from the last contact back to standing add one more median step. Duration: first to
    last contact plus one median step time.
    """
    out: list[dict[str, Any]] = []
    df = pd.DataFrame({
        "bout": strides["bout_id"].to_numpy(), "ic": strides["ic_s"].to_numpy(dtype=float),
        "step": strides["step_s"].to_numpy(dtype=float),
        "walk": strides["activity"].astype(str).to_numpy() == "walk",
        "raw": raw_length, "rep": reported,
    })
    for b, g in df[df["walk"]].groupby("bout", sort=True):
        rep = g["raw"].where(g["rep"])
        n_est = int(rep.notna().sum())
        med = float(rep.median()) if n_est else float("nan")
        # the first contact of a bout ends no step: the start/stop half steps replace it
        length = g["raw"].to_numpy().copy()
        fill = ~np.isfinite(length)
        fill[0] = False
        length[fill] = med
        length[0] = med
        step_med = float(np.nanmedian(g["step"])) if g["step"].notna().any() else float("nan")
        dist = float(np.sum(length)) if n_est else float("nan")
        dur = float(g["ic"].iloc[-1] - g["ic"].iloc[0] + step_med)
        out.append({
            "bout_id": int(b), "start_s": float(g["ic"].iloc[0]),
            "end_s": float(g["ic"].iloc[-1]), "duration_s": dur, "n_steps": len(g),
            "n_estimated": n_est, "n_bridged": int(fill.sum()), "distance_m": dist,
            "speed_mps": dist / dur if n_est and dur > 0 else float("nan"),
            "step_length_m": med,
        })
    return out
