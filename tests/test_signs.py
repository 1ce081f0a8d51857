"""One test per row of the sign table in docs/coordinate_system.md, plus the mirror invariant.

Synthetic movements are generated from exact rigid-body kinematics: the pelvis starts level
(3 s quiet standing, the static calibration), then rotates about one body axis or
accelerates along one direction. The sensor is mounted as declared (x=up, y=right,
z=forward) unless a row is about the axis map.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data_dir
from gaitimu.analysis.metrics import stance_metrics
from gaitimu.analysis.orientation import align_to_pelvis
from gaitimu.consts import G, parse_axes

FS = 200.0
# world (X forward, Y left, Z up) <- body (up, right, forward) for a level pelvis
R_WORLD_BODY0 = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
UP, RIGHT, FORWARD = 0, 1, 2


def _smooth_step(t: np.ndarray, t0: float, dur: float) -> np.ndarray:
    x = np.clip((t - t0) / dur, 0.0, 1.0)
    return x * x * x * (10 - 15 * x + 6 * x * x)  # minimum-jerk 0 -> 1


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r = np.zeros((angle.size, 3, 3))
    r[:, axis, axis] = 1.0
    r[:, i, i] = c
    r[:, j, j] = c
    r[:, i, j] = -s
    r[:, j, i] = s
    return r


def _movement(
    body_axis: int | None = None,
    angle_deg: float = 0.0,
    world_acc_dir: tuple[float, float, float] | None = None,
    axes: str = "x=up,y=right,z=forward",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sensor samples of: 3 s standing, then a 1 s rotation or an acceleration pulse, 0.5 s."""
    t = np.arange(0, 4.5, 1 / FS)
    prof = _smooth_step(t, 3.0, 1.0)
    dprof = np.gradient(prof, 1 / FS)
    angle = np.radians(angle_deg) * prof
    r_body = np.tile(np.eye(3), (t.size, 1, 1)) if body_axis is None else _rot(body_axis, angle)
    r_wb = R_WORLD_BODY0 @ r_body
    gyr_body = np.zeros((t.size, 3))
    if body_axis is not None:
        gyr_body[:, body_axis] = np.degrees(np.radians(angle_deg) * dprof)
    a_world = np.zeros((t.size, 3))
    if world_acc_dir is not None:
        a_world = np.outer(np.sin(np.pi * np.clip(t - 3.0, 0, 1)) ** 2, world_acc_dir) * 2.0
    f_world = a_world + np.array([0.0, 0.0, G])
    acc_body = np.einsum("nji,nj->ni", r_wb, f_world)
    r_bs = parse_axes(axes)  # body <- sensor
    return t, acc_body @ r_bs, gyr_body @ r_bs, prof


def _align(t, acc, gyr, axes="x=up,y=right,z=forward"):
    body, info = align_to_pelvis(t, acc, gyr, sampling_rate_hz=FS, axes=axes)
    moving = (t > 3.3) & (t < 3.7)
    end = t > 4.2
    return body, info, moving, end


# --------------------------------------------------------------------------- table rows
def test_row_rest_upright_acc_is_plus_g() -> None:
    t, acc, gyr, _ = _movement()
    body, *_ = _align(t, acc, gyr)
    assert body["acc_is"].mean() == pytest.approx(G, abs=0.01)


def test_row_left_hemipelvis_rises_gyr_pa_positive_obliquity_increases() -> None:
    t, acc, gyr, _ = _movement(FORWARD, +5.0)
    body, _, moving, end = _align(t, acc, gyr)
    assert (body.loc[moving, "gyr_pa"] > 0).all()
    assert body.loc[end, "obliquity_deg"].mean() == pytest.approx(5.0, abs=0.2)


def test_row_left_higher_at_rest_acc_ml_negative() -> None:
    t, acc, gyr, _ = _movement(FORWARD, +5.0)
    body, _, _, end = _align(t, acc, gyr)
    assert body.loc[end, "acc_ml"].mean() == pytest.approx(-G * np.sin(np.radians(5)), abs=0.02)


def test_row_anterior_tilt_gyr_ml_negative_tilt_increases_acc_pa_negative() -> None:
    t, acc, gyr, _ = _movement(RIGHT, -5.0)  # about +right by -5 deg: forward axis dips
    body, _, moving, end = _align(t, acc, gyr)
    assert (body.loc[moving, "gyr_ml"] < 0).all()
    assert body.loc[end, "tilt_deg"].mean() == pytest.approx(5.0, abs=0.2)
    assert body.loc[end, "acc_pa"].mean() < -0.5
    assert abs(body.loc[end, "obliquity_deg"].mean()) < 0.2


def test_row_turn_left_gyr_is_positive_yaw_increases() -> None:
    t, acc, gyr, _ = _movement(UP, +30.0)
    body, _, moving, end = _align(t, acc, gyr)
    assert (body.loc[moving, "gyr_is"] > 0).all()
    assert body.loc[end, "yaw_deg"].mean() == pytest.approx(30.0, abs=1.0)
    assert abs(body.loc[end, "obliquity_deg"]).max() < 0.2  # heading does not leak


def test_row_speeding_up_forward_acc_pa_positive() -> None:
    t, acc, gyr, _ = _movement(world_acc_dir=(1.0, 0.0, 0.0))  # world X = forward
    body, _, moving, _ = _align(t, acc, gyr)
    assert body.loc[moving, "acc_pa"].mean() > 1.0
    assert abs(body.loc[moving, "acc_ml"].mean()) < 0.05


def test_row_accelerating_to_the_right_acc_ml_positive() -> None:
    t, acc, gyr, _ = _movement(world_acc_dir=(0.0, -1.0, 0.0))  # world Y = left
    body, _, moving, _ = _align(t, acc, gyr)
    assert body.loc[moving, "acc_ml"].mean() > 1.0


def test_row_declared_axis_map_is_honoured() -> None:
    axes = "x=down,y=forward,z=right"  # a sensor clipped on sideways and upside down
    t, acc, gyr, _ = _movement(FORWARD, +5.0, axes=axes)
    body, info, moving, end = _align(t, acc, gyr, axes=axes)
    assert (body.loc[moving, "gyr_pa"] > 0).all()
    assert body.loc[end, "obliquity_deg"].mean() == pytest.approx(5.0, abs=0.2)
    assert info["correction_deg"]["angle"] < 1.0  # nothing left to correct


def test_row_right_stance_left_side_drops_positive_cpd() -> None:
    t = np.arange(0, 3, 0.01)
    obl = np.interp(t, [0, 1.0, 1.2, 1.6, 2.0, 2.2, 2.6, 3], [0, 0, -3, 0, 0, 4, 0, 0])
    ev = pd.DataFrame({"side": ["R", "L"], "ic_s": [1.0, 2.0], "fc_s": [1.6, 2.6]})
    st = stance_metrics(
        ev,
        pd.DataFrame({"t_s": t, "obliquity_deg": obl}),
        standing_obliquity_deg=0.0,
        sampling_rate_hz=100.0,
    )
    assert st["cpd_ic_deg"].tolist() == pytest.approx([3.0, 4.0])
    assert st["cpd_standing_deg"].tolist() == pytest.approx([3.0, 4.0])


# --------------------------------------------------------------------------- invariant
@pytest.mark.parametrize("trial", ["gait2354_subject01_walk", "rajagopal_run"])
def test_mirroring_the_ml_axis_swaps_sides_and_flips_obliquity(trial: str) -> None:
    d = shared_data_dir("virtual_imu_dev", trial)
    imu = pd.read_csv(d / "imu.csv")
    truth = json.loads((d / "truth.json").read_text())
    t = imu["t_s"].to_numpy()
    acc = imu[["acc_x", "acc_y", "acc_z"]].to_numpy()
    gyr = imu[["gyr_x", "gyr_y", "gyr_z"]].to_numpy()
    # mirror in the sagittal plane: a vector's y flips; an angular rate (axial vector) keeps y
    # and flips x and z
    acc_m = acc * [1, -1, 1]
    gyr_m = gyr * [-1, 1, -1]
    body, info = align_to_pelvis(t, acc, gyr, sampling_rate_hz=200.0)
    body_m, info_m = align_to_pelvis(t, acc_m, gyr_m, sampling_rate_hz=200.0)
    assert np.max(np.abs(body_m["obliquity_deg"] + body["obliquity_deg"])) < 0.3
    assert np.allclose(body_m["acc_ml"], -body["acc_ml"], atol=0.3)
    ev = pd.DataFrame(
        {
            "side": [s["side"][0].upper() for s in truth["stances"]],
            "ic_s": [s["ic_s"] for s in truth["stances"]],
            "fc_s": [s["fc_s"] for s in truth["stances"]],
        }
    )
    ev_m = ev.assign(side=ev["side"].map({"L": "R", "R": "L"}))
    st = stance_metrics(ev, body, standing_obliquity_deg=info["standing_obliquity_deg"])
    st_m = stance_metrics(ev_m, body_m, standing_obliquity_deg=info_m["standing_obliquity_deg"])
    assert (st_m["side"] != st["side"]).all()
    assert np.allclose(st_m["cpd_ic_deg"], st["cpd_ic_deg"], atol=0.3)
    assert np.allclose(st_m["cpd_standing_deg"], st["cpd_standing_deg"], atol=0.3)
