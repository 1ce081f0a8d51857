"""From pelvis kinematics to what the sensor measures (steps 6 and 7 of `simulate`).

Rigid-body kinematics: ``R_world_pelvis`` from Cardan angles (heading + rotation about
vertical, then obliquity about the pelvis forward axis, then tilt about the pelvis right
axis); ``omega_body = vee(R^T dR/dt)`` and its derivative in closed form; specific force
``R^T (a_world(sensor point) - g_world)`` including the lever arm of the sensor from the
pelvis origin; then the mounting misalignment. The sensor adds constant biases, white noise,
optional heel-strike vibrations, int16 quantisation and saturation
(`gaitimu.sensors.protocol.physical_to_raw`).

Frames: world X forward (initial heading), Y left, Z up, ``g_world = (0, 0, -g)``. Pelvis
(body) frame (up, right, forward) = sensor frame ``x=up,y=right,z=forward`` before the
misalignment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitimu.sensors.protocol import physical_to_raw
from gaitimu.simulate.config import SimConfig
from gaitimu.simulate.jets import Jet, smootherstep
from gaitimu.simulate.kinematics import GaitWindow, PelvisMotion


@dataclass(frozen=True)
class IdealImu:
    """Noise-free sensor-frame signals on the full sample grid (step 6 of `simulate`).

    ``acc`` (n, 3) specific force, m/s^2; ``gyr`` (n, 3) deg/s; ``r_sensor_to_nominal`` the
    mounting misalignment (``v_nominal = R @ v_sensor``).
    """

    acc: np.ndarray
    gyr: np.ndarray
    r_sensor_to_nominal: np.ndarray


def ideal_imu(motion: PelvisMotion, obliquity: Jet, window: GaitWindow, cfg: SimConfig,
              rng: np.random.Generator) -> IdealImu:
    """Rigid-body kinematics of the sensor point, then the mounting misalignment.

    Without a fixed ``misalignment_deg`` it draws a random axis from ``rng``, also for a
    0-degree ``misalignment_random_deg`` (the draws after it do not depend on the angle).
    """
    acc_b, gyr_b = _imu_body(obliquity, motion.tilt, motion.rotation, window.heading, motion.up,
                             motion.forward, motion.right, window.speed,
                             np.asarray(cfg.sensor_offset_m, float), float(cfg.gravity_mps2))
    r_sn = _misalignment(cfg, rng)
    # R^T v for each row: v_sensor = R_sn^T v_nominal
    return IdealImu(acc=acc_b @ r_sn, gyr=gyr_b @ r_sn, r_sensor_to_nominal=r_sn)


@dataclass(frozen=True)
class Measured:
    """What the sensor measured (step 7 of `simulate`): int16 samples and their errors.

    ``raw`` (n, 6) int16 in sensor LSB (acc then gyr); the constant biases that went in;
    ``n_clipped`` values at the range limit.
    """

    raw: np.ndarray
    acc_bias_mps2: np.ndarray
    gyr_bias_dps: np.ndarray
    n_clipped: int


def measure(ideal: IdealImu, t: np.ndarray, ic_s: np.ndarray, gate: np.ndarray,
            cfg: SimConfig, rng: np.random.Generator) -> Measured:
    """Biases, white noise and heel-strike vibrations (after each IC in ``ic_s``, scaled by
    the gait ``gate``), then int16 quantisation and saturation.

    Draws from ``rng`` in this order: gyro bias, accelerometer bias (when not given),
    accelerometer noise, gyro noise.
    """
    n = t.size
    gyr_bias = (np.asarray(cfg.gyr_bias_dps, float) if cfg.gyr_bias_dps is not None
                else rng.normal(0, cfg.gyr_bias_sd_dps, 3))
    acc_bias = (np.asarray(cfg.acc_bias_mps2, float) if cfg.acc_bias_mps2 is not None
                else rng.normal(0, cfg.acc_bias_sd_mps2, 3))
    acc = ideal.acc + acc_bias + rng.normal(0, 1, (n, 3)) * cfg.acc_noise_mps2
    if cfg.impact_g > 0:
        acc += _impacts(t, ic_s, gate, cfg) @ ideal.r_sensor_to_nominal
    gyr = ideal.gyr + gyr_bias + rng.normal(0, 1, (n, 3)) * cfg.gyr_noise_dps
    raw = physical_to_raw(acc, gyr, cfg.scales)
    n_clipped = int(np.count_nonzero((raw == 32767) | (raw == -32768)))
    return Measured(raw=raw, acc_bias_mps2=acc_bias, gyr_bias_dps=gyr_bias, n_clipped=n_clipped)

def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


#: Pelvis frame (up, right, forward) in world axes (X forward, Y left, Z up) at zero angles.
R_WORLD_PELVIS0 = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])


def rotation_world_pelvis(obliquity_deg: np.ndarray, tilt_deg: np.ndarray,
                          yaw_deg: np.ndarray) -> np.ndarray:
    """``R_world_pelvis`` (n, 3, 3) from the Cardan angles (yaw = heading + rotation).

    ``R = Rz_world(yaw) @ R0 @ R_forward(obliquity) @ R_right(-tilt)``: yaw about the vertical,
    then obliquity about the pelvis forward axis (left hemipelvis up > 0), then tilt about the
    pelvis right axis (anterior > 0). ``v_world = R @ v_pelvis``.
    """
    yaw, obl, tilt = (np.deg2rad(np.asarray(a, dtype=float)) for a in (yaw_deg, obliquity_deg,
                                                                        tilt_deg))
    # In pelvis coordinates (x=up, y=right, z=forward): forward axis = z, right axis = y.
    return _rot_z(yaw) @ R_WORLD_PELVIS0 @ _rot_z(obl) @ _rot_y(-tilt)


def rotation_world_sensor(truth_arrays: dict[str, np.ndarray],
                          r_sensor_to_nominal: np.ndarray) -> np.ndarray:
    """True ``R_world_sensor`` (n, 3, 3) of a simulation, from its truth arrays and misalignment."""
    r_wp = rotation_world_pelvis(
        truth_arrays["obliquity_deg"], truth_arrays["tilt_deg"],
        truth_arrays["heading_deg"] + truth_arrays["rotation_deg"],
    )
    return r_wp @ np.asarray(r_sensor_to_nominal, dtype=float)


def _misalignment(cfg: SimConfig, rng: np.random.Generator) -> np.ndarray:
    """``R_sensor_to_nominal`` (v_nominal = R @ v_sensor)."""
    if cfg.misalignment_deg is not None:
        a, b, c = np.deg2rad(np.asarray(cfg.misalignment_deg, dtype=float))
        return (_rot_x(np.array(a)) @ _rot_y(np.array(b)) @ _rot_z(np.array(c))).reshape(3, 3)
    angle = np.deg2rad(cfg.misalignment_random_deg)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    if angle == 0:
        return np.eye(3)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _imu_body(obl: Jet, tilt: Jet, rot: Jet, heading: Jet, d_up: Jet, d_fwd: Jet, d_right: Jet,
              speed: Jet, r_sensor: np.ndarray, g: float) -> tuple[np.ndarray, np.ndarray]:
    """Specific force (m/s^2) and angular velocity (deg/s) in the pelvis frame (up, right, fwd).

    The pelvis orientation relative to the path frame (forward along the heading, left, up) is
    ``Rz(rotation) R0 R_fwd(obliquity) R_right(-tilt)``; the path frame turns with the heading.
    """
    th, dth, d2th = (np.deg2rad(x) for x in obl)
    be, dbe, d2be = (-np.deg2rad(x) for x in tilt)  # rotation about +right = posterior tilt
    ps, dps, d2ps = (np.deg2rad(x) for x in rot)
    dps = dps + heading[1]
    d2ps = d2ps + heading[2]
    c, s = np.cos(th), np.sin(th)
    cb, sb = np.cos(be), np.sin(be)
    # omega_body = psi_dot * Rr^T Rf^T e_up + theta_dot * Rr^T e_fwd + beta_dot * e_right
    w = np.stack([dps * cb * c - dth * sb, -dps * s + dbe, dps * sb * c + dth * cb], axis=1)
    wd = np.stack([
        d2ps * cb * c + dps * (-sb * dbe * c - cb * s * dth) - d2th * sb - dth * cb * dbe,
        -d2ps * s - dps * c * dth + d2be,
        d2ps * sb * c + dps * (cb * dbe * c - sb * s * dth) + d2th * cb - dth * sb * dbe,
    ], axis=1)
    # Acceleration of the pelvis origin in path-frame axes (forward, left, up).
    hd, hdd = heading[1], heading[2]
    df, dl, du = d_fwd, tuple(-x for x in d_right), d_up
    ax = (speed[1] + df[2] - 2 * hd * dl[1] - hdd * dl[0] - hd**2 * df[0])
    ay = (speed[0] * hd + dl[2] + 2 * hd * df[1] + hdd * df[0] - hd**2 * dl[0])
    az = du[2]
    f_path = np.stack([ax, ay, az + g], axis=1)  # a - g_world, g_world = (0, 0, -g)
    # Into the pelvis frame: R_path_pelvis^T = Rr^T Rf^T R0^T Rz(psi)^T.
    cp, sp = np.cos(ps), np.sin(ps)
    v1 = np.stack([cp * f_path[:, 0] + sp * f_path[:, 1], -sp * f_path[:, 0] + cp * f_path[:, 1],
                   f_path[:, 2]], axis=1)
    v2 = v1 @ R_WORLD_PELVIS0  # R0^T v for row vectors
    v3 = np.stack([c * v2[:, 0] + s * v2[:, 1], -s * v2[:, 0] + c * v2[:, 1], v2[:, 2]], axis=1)
    f_b = np.stack([cb * v3[:, 0] - sb * v3[:, 2], v3[:, 1], sb * v3[:, 0] + cb * v3[:, 2]], axis=1)
    # Lever arm of the sensor point.
    f_b += np.cross(wd, r_sensor) + np.cross(w, np.cross(w, r_sensor))
    return f_b, np.rad2deg(w)


def _impacts(t: np.ndarray, ic_s: np.ndarray, gate: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Damped heel-strike vibration after each IC in the pelvis frame (up, right, forward)."""
    freq_hz, decay_s = (25.0, 0.015) if cfg.activity == "walk" else (18.0, 0.025)
    out = np.zeros((t.size, 3))
    fs = float(cfg.sampling_rate_hz)
    n_win = int(np.ceil(8 * decay_s * fs))
    k = np.arange(n_win)

    def shape(tau: np.ndarray) -> np.ndarray:
        return (smootherstep(tau, 0.004)[0] * np.exp(-tau / decay_s)
                * np.sin(2 * np.pi * freq_hz * tau))

    peak = np.abs(shape(np.linspace(0, 4 * decay_s, 4001))).max()
    for ic in ic_s[np.isfinite(ic_s) & (ic_s < t[-1])].tolist():
        i0 = int(np.ceil(ic * fs))
        idx = i0 + k
        idx = idx[idx < t.size]
        tau = t[idx] - ic
        w = shape(tau) / peak
        amp = cfg.impact_g * cfg.gravity_mps2 * np.interp(ic, t, gate)
        out[idx, 0] += amp * w
        out[idx, 2] -= 0.5 * amp * w  # braking component
    return out

