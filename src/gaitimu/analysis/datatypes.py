"""One validator per kind of data that crosses a stage boundary.

After gaitmap's ``gaitmap.utils.datatype_helper``: each stage states what it takes by
calling the validator of that kind at its entrance, and every caller (pipeline, stream,
validation scripts, a user's notebook) gets the same one-line `BadInputError` naming the
stage, what is wrong and what was expected, instead of a KeyError deep inside.

=================  ======================================================================
kind               what it is
=================  ======================================================================
sensor samples     ``t_s`` (n,) s, ``acc`` (n, 3) m/s^2 and ``gyr`` (n, 3) deg/s in the
                   sensor frame (`check_sensor_samples`)
body frame         a DataFrame of pelvis-frame signals: ``acc_is acc_ml acc_pa`` (m/s^2),
                   ``gyr_is gyr_ml gyr_pa`` (deg/s), optional ``t_s`` and ``valid``
                   (`check_body_frame`)
events             one row per stance: ``side``, ``ic_s`` and optionally ``fc_s``,
                   ``next_ic_s``, ``bout_id``, ``activity`` (`check_events`)
strides            the strides table of `gaitimu.analysis.metrics` (`check_strides`)
=================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from gaitimu.consts import BODY_ACC, BODY_GYR
from gaitimu.errors import BadInputError

__all__ = ["check_body_frame", "check_events", "check_sensor_samples", "check_strides",
           "empty_frame"]

EVENT_COLUMNS_REQUIRED = ("side", "ic_s")
STRIDE_COLUMNS_REQUIRED = ("side", "ic_s", "cpd_ic_deg", "valid")


def empty_frame(dtypes: Mapping[str, str]) -> pd.DataFrame:
    """A table without rows with these columns and dtypes (what a stage returns when it
    finds nothing, so callers never special-case an empty result)."""
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in dtypes.items()})


def _frame(df: object, what: str, kind: str, required: Sequence[str]) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise BadInputError(f"{what}: expected a pandas DataFrame of {kind}, "
                            f"got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise BadInputError(f"{what}: {kind} lack column(s) {', '.join(missing)} "
                            f"(needs {', '.join(required)})")
    return df


def check_sensor_samples(
    t_s: object, acc: object, gyr: object, *, what: str = "samples"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t_s, acc, gyr)`` as float arrays of shapes (n,), (n, 3), (n, 3), or `BadInputError`.

    Times must be finite; signal values may be NaN (lost or unreadable samples: conditioning
    treats them as holes).
    """
    t = np.asarray(t_s, dtype=float)
    a = np.asarray(acc, dtype=float)
    g = np.asarray(gyr, dtype=float)
    if t.ndim != 1 or a.shape != (t.size, 3) or g.shape != (t.size, 3):
        raise BadInputError(f"{what}: t_s {t.shape}, acc {a.shape}, gyr {g.shape}; expected "
                            "(n,), (n, 3), (n, 3)")
    if not np.all(np.isfinite(t)):
        raise BadInputError(f"{what}: {int(np.sum(~np.isfinite(t)))} sample time(s) are not "
                            "finite numbers")
    return t, a, g


def check_body_frame(body: object, *, what: str = "body",
                     required: Sequence[str] = BODY_ACC + BODY_GYR) -> pd.DataFrame:
    """`body` if it is a DataFrame with the pelvis-frame columns `required`, else
    `BadInputError`."""
    return _frame(body, what, "body-frame signals", required)


def check_events(events: object, *, what: str = "events",
                 required: Sequence[str] = EVENT_COLUMNS_REQUIRED) -> pd.DataFrame:
    """`events` if it is a DataFrame of stances with the `required` columns and sides in
    ``L``, ``R`` or ``""`` (withheld), else `BadInputError`."""
    df = _frame(events, what, "events", required)
    if "side" in df.columns and len(df):
        bad = sorted(set(df["side"].fillna("").astype(str)) - {"L", "R", ""})
        if bad:
            raise BadInputError(f"{what}: side must be 'L', 'R' or empty, not "
                                f"{', '.join(map(repr, bad[:3]))}")
    return df


def check_strides(strides: object, *, what: str = "strides",
                  required: Sequence[str] = STRIDE_COLUMNS_REQUIRED) -> pd.DataFrame:
    """`strides` if it is a strides table with the `required` columns, else
    `BadInputError`."""
    return _frame(strides, what, "strides table", required)
