"""Synthetic sacral IMU for walking and running, with ground truth.

The model (docs/simulator.md has the full description, parameters and sources):

1. **Gait timing.** A continuous stride phase ``phi(t)`` (0 at a left initial contact, 0.5 at
   the right one): the integral of a smooth, positive stride frequency through strides whose
   durations vary from stride to stride (AR(1) noise). Final contacts sit at
   ``phi_IC + duty_factor``.
2. **Pelvis and sacrum kinematics** as smooth periodic functions of the phase, scaled by
   smooth per-stride amplitude envelopes: pelvic obliquity (one bump per stance whose height
   is set so that each stance has exactly its target ``cpd_standing_deg``), tilt, rotation
   (yaw), and the medio-lateral, vertical and forward acceleration of the pelvis origin (mid
   hip-joint centres). Walking uses an inverted-pendulum vertical pattern (height highest at
   midstance, double support, no flight); running a spring-mass pattern (vertical force pulse
   in stance, free fall in flight, lowest point at midstance). Positions are the exact double
   integrals of these accelerations, so positions, velocities and accelerations agree.
3. **Rigid-body kinematics to IMU signals.** ``R_world_pelvis`` from Cardan angles
   (heading + rotation about vertical, then obliquity about the pelvis forward axis, then
   tilt about the pelvis right axis); ``omega_body = vee(R^T dR/dt)`` and its derivative in
   closed form; specific force ``R^T (a_world(sensor point) - g_world)`` including the lever
   arm of the sensor from the pelvis origin; then the mounting misalignment.
4. **Sensor and radio.** White noise, constant biases, int16 quantisation and saturation via
   `gaitimu.sensors.protocol`, protocol-v1 packets, packet loss and host-timestamp jitter.
   ``sim.t_s/acc/gyr`` are decoded from the surviving packets, as a recorder would store them.

Frames: world X forward (initial heading), Y left, Z up, ``g_world = (0, 0, -g)``. Pelvis
(body) frame (up, right, forward) = sensor frame ``x=up,y=right,z=forward`` before the
misalignment. Signs: ``obliquity_deg > 0`` = left hemipelvis higher; ``tilt_deg > 0`` =
anterior tilt; ``rotation_deg > 0`` = pelvis turned to the left (counter-clockwise seen from
above, so the right hemipelvis is forward).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.interpolate import make_interp_spline

from gaitimu.consts import ACTIVITIES, DEFAULT_AXES
from gaitimu.errors import BadInputError
from gaitimu.sensors.protocol import (
    MAX_SAMPLES_PER_PACKET,
    PROTOCOL_VERSION,
    Scales,
    decode_packet,
    encode_packet,
    physical_to_raw,
    raw_to_physical,
)

log = logging.getLogger(__name__)

__all__ = ["ACTIVITY_DEFAULTS", "SimConfig", "SimResult", "rotation_world_pelvis",
           "rotation_world_sensor", "simulate", "summary", "write_session"]

# --------------------------------------------------------------------------- parameters
#: Per-activity defaults (docs/simulator.md gives the sources). Amplitudes are at the nominal
#: speed; translational amplitudes scale with speed as documented there.
ACTIVITY_DEFAULTS: dict[str, dict[str, float]] = {
    "walk": {
        "cadence_spm": 105.0,  # self-selected adult walking, ~100-115 spm
        "speed_mps": 1.3,  # ~1.2-1.4 m/s
        "cpd_deg": 3.0,  # healthy CPD vs standing, a few degrees
        "cpd_sd_deg": 0.5,  # stance-to-stance SD of CPD
        "duty_factor": 0.60,  # stance / stride (double support 2 x 10 %)
        "stride_cv": 0.02,  # stride-time coefficient of variation
        "amplitude_cv": 0.08,  # stride-to-stride CV of the other amplitudes
        "obliquity_peak_phase": 0.14,  # peak contralateral drop after IC, fraction of stride
        "obliquity_rise": 0.07,  # bump SD before the peak, fraction of stride
        "obliquity_fall": 0.16,  # bump SD after the peak
        "rotation_amp_deg": 5.0,  # +-5 deg pelvic rotation
        "rotation_peak_phase": 0.12,  # left hemipelvis furthest forward 0.12 stride after left IC
        "tilt_amp_deg": 1.5,  # +-1.5 deg pelvic tilt, two cycles per stride
        # 2nd-harmonic amplitudes of the vertical / forward acceleration at nominal speed (the
        # shapes are in _WALK_ACC_HARMONICS)
        "vertical_acc_mps2": 2.34,
        "forward_acc_mps2": 1.49,
        "ml_acc_mps2": 0.9,
        "turn_s": 2.0,  # duration of a 180-degree turn
        "turn_speed_factor": 0.5,  # walking speed during a turn, fraction of the speed
    },
    "run": {
        "cadence_spm": 165.0,  # recreational running, ~160-175 spm
        "speed_mps": 3.3,
        "cpd_deg": 5.0,  # healthy runners ~4-7 deg
        "cpd_sd_deg": 0.7,
        "contact_time_s": 0.25,  # at 3.3 m/s; scales with speed^-0.7
        "stride_cv": 0.02,
        "amplitude_cv": 0.06,
        "obliquity_peak_phase": 0.10,
        "obliquity_rise": 0.10,
        "obliquity_fall": 0.14,
        "rotation_amp_deg": 8.0,
        "tilt_amp_deg": 1.5,
        "forward_acc_mps2": 6.0,  # braking peak at nominal speed
        "ml_acc_mps2": 2.5,
        "turn_s": 3.0,
        "turn_speed_factor": 0.4,
    },
}


#: Walking vertical and forward acceleration of the pelvis as stride harmonics
#: ``(k, amplitude_mps2, phase_cycles)``: ``sum_k a_k cos(2 pi (k phi + phase_k))``, phi = 0 at
#: the left IC. Measured (docs/simulator.md, docs/scripts/sim_vs_real.py): the mean stride of
#: 613 straight-walking strides of the 19 IPOL subjects (real L5 IMU, foot-sensor events,
#: gravity-aligned, time-normalised left IC to left IC), even harmonics 2-16 (both steps
#: alike). The OpenSim walk agrees on the 2nd and 6th harmonics. The forward acceleration
#: peaks ~1 % of the stride before each IC and brakes after it; the vertical one rises steeply
#: at IC (loading response) to a peak ~3 % of the stride after it.
_WALK_ACC_HARMONICS: dict[str, tuple[tuple[int, float, float], ...]] = {
    "vertical": ((2, 2.338, -0.105), (4, 0.312, 0.029), (6, 0.774, -0.022), (8, 0.730, -0.253),
                 (10, 0.557, -0.404), (12, 0.286, -0.472), (14, 0.105, -0.469),
                 (16, 0.087, -0.463)),
    "forward": ((2, 1.485, 0.190), (4, 0.783, 0.129), (6, 0.775, 0.028), (8, 0.408, -0.028),
                (10, 0.192, 0.035), (12, 0.123, 0.020), (14, 0.072, 0.095), (16, 0.078, 0.094)),
}


@dataclass(frozen=True)
class SimConfig:
    """Everything `simulate` needs; every field has a sensible default.

    Parameters
    ----------
    activity
        ``"walk"`` or ``"run"``.
    duration_s
        Total session length in s, including the leading quiet standing.
    cpd_left_deg, cpd_right_deg
        Mean ``cpd_standing_deg`` of the left / right stances (DESIGN.md section 3). None:
        the activity default (walk 3, run 5 deg). Allowed -10..20 deg with a sum >= 0; a
        negative value comes from a gait-long obliquity offset (docs/simulator.md).
    cadence_spm, speed_mps
        Steps per minute and walking/running speed; None: activity default (walk 105 spm,
        1.3 m/s; run 165 spm, 3.3 m/s).
    seed
        Seed of every random choice; the same config gives the same session bit for bit.
    sampling_rate_hz
        IMU sample rate, 50..400 Hz.
    standing_s
        Leading quiet standing (the pipeline's static calibration), s.
    trailing_standing_s
        Quiet standing at the end, s (0: the session ends while walking/running).
    standing_obliquity_deg, standing_tilt_deg
        Pelvis posture in quiet standing (the CPD reference). The gait oscillates around it.
    cpd_sd_deg
        Stance-to-stance SD of the CPD (None: activity default). The side mean stays exact.
    fatigue_cpd_deg
        CPD grows linearly by this many degrees from the first to the last stance (centred, so
        the mean is still the requested one).
    stride_cv, amplitude_cv
        Stride-time and amplitude coefficients of variation (None: activity default).
    first_side
        Side of the first initial contact, ``"L"`` or ``"R"``.
    turn_every_s
        A 180-degree turn (walking back and forth) every this many seconds of gait; None: none.
    gyr_noise_dps, acc_noise_mps2
        White-noise RMS per axis (deg/s, m/s^2).
    gyr_bias_dps, acc_bias_mps2
        Constant biases per axis; None: drawn at random with SD ``gyr_bias_sd_dps`` /
        ``acc_bias_sd_mps2``.
    misalignment_deg
        Mounting misalignment as rotations about the sensor's nominal x, y, z axes in that order
        (intrinsic), degrees. ``R`` with ``v_nominal = R @ v_sensor`` goes into the truth.
    misalignment_random_deg
        When ``misalignment_deg`` is None: a rotation of exactly this angle about a uniformly
        random axis (0: none).
    sensor_offset_m
        Sensor position from the pelvis origin (mid hip-joint centres) in the pelvis frame
        (up, right, forward), m. Default: 5 cm up, 10 cm back (sacrum).
    acc_range_g, gyr_range_dps
        Full-scale ranges (quantisation step and saturation).
    samples_per_packet
        Samples in one protocol-v1 packet (None: about 50 packets/s).
    packet_loss
        Fraction of packets lost over the radio.
    packet_loss_burst
        Mean length of a run of lost packets (1: independent losses; larger: bursty losses
        from a two-state Markov chain with the same overall fraction).
    host_latency_s, host_jitter_s
        Mean host-timestamp latency after the last sample of a packet, and the mean of the
        extra exponential jitter. Host times stay non-decreasing.
    gravity_mps2
        Gravitational acceleration.
    impact_g
        Peak (in g) of a damped heel-strike vibration of the sensor after every IC (soft
        tissue and impact; it does not move the pelvis, so the truth is unchanged). 0: off.
        Realistic values at the sacrum: walking ~0.2-0.5 g, running ~1-3 g.
    """

    activity: Literal["walk", "run"] = "walk"
    duration_s: float = 60.0
    cpd_left_deg: float | None = None
    cpd_right_deg: float | None = None
    cadence_spm: float | None = None
    speed_mps: float | None = None
    seed: int = 0
    sampling_rate_hz: float = 200.0
    standing_s: float = 5.0
    trailing_standing_s: float = 0.0
    standing_obliquity_deg: float = 0.0
    standing_tilt_deg: float = 0.0
    cpd_sd_deg: float | None = None
    fatigue_cpd_deg: float = 0.0
    stride_cv: float | None = None
    amplitude_cv: float | None = None
    first_side: Literal["L", "R"] = "L"
    turn_every_s: float | None = None
    gyr_noise_dps: float = 0.1
    acc_noise_mps2: float = 0.05
    gyr_bias_dps: tuple[float, float, float] | None = None
    acc_bias_mps2: tuple[float, float, float] | None = None
    gyr_bias_sd_dps: float = 1.0
    acc_bias_sd_mps2: float = 0.05
    misalignment_deg: tuple[float, float, float] | None = None
    misalignment_random_deg: float = 0.0
    sensor_offset_m: tuple[float, float, float] = (0.05, 0.0, -0.10)
    acc_range_g: float = 16.0
    gyr_range_dps: float = 2000.0
    samples_per_packet: int | None = None
    packet_loss: float = 0.0
    packet_loss_burst: float = 1.0
    host_latency_s: float = 0.015
    host_jitter_s: float = 0.003
    gravity_mps2: float = 9.81
    impact_g: float = 0.0

    def resolved(self) -> dict[str, Any]:
        """The config as a JSON-able dict with activity defaults filled in."""
        d = dataclasses.asdict(self)
        p = ACTIVITY_DEFAULTS.get(self.activity, ACTIVITY_DEFAULTS["walk"])
        for key, default in (
            ("cpd_left_deg", p["cpd_deg"]),
            ("cpd_right_deg", p["cpd_deg"]),
            ("cadence_spm", p["cadence_spm"]),
            ("speed_mps", p["speed_mps"]),
            ("cpd_sd_deg", p["cpd_sd_deg"]),
            ("stride_cv", p["stride_cv"]),
            ("amplitude_cv", p["amplitude_cv"]),
        ):
            if d[key] is None:
                d[key] = float(default)
        if d["samples_per_packet"] is None:
            d["samples_per_packet"] = int(
                np.clip(round(self.sampling_rate_hz / 50.0), 1, MAX_SAMPLES_PER_PACKET)
            )
        return d


@dataclass
class SimResult:
    """What `simulate` returns (docs/architecture.md).

    Attributes
    ----------
    t_s, acc, gyr
        Sensor-frame samples decoded from the surviving packets: (n,) s, (n, 3) m/s^2,
        (n, 3) deg/s.
    packets
        ``[(t_host_s, payload_bytes), ...]`` protocol-v1 packets that survived the radio.
    truth
        JSON-able ground truth: ``events`` (one dict per complete stance: ``side``, ``ic_s``,
        ``fc_s``, ``next_ic_s`` (next IC of either foot, as in strides.csv), ``stance_s``,
        ``step_s``, ``stride_s``, ``cpd_ic_deg``, ``cpd_standing_deg``, ``target_cpd_deg``,
        ``obliquity_at_ic_deg``, ``in_turn``), ``edge_stances`` (partial stances of the gait
        fade-in/out: no CPD), ``cpd_mean_deg``, ``standing_obliquity_deg``, ``misalignment``
        (``R_sensor_to_nominal``, convention ``v_nominal = R @ v_sensor``), biases,
        ``lost_packets``, ``gaps``, ``config`` (docs/simulator.md lists everything).
    truth_arrays
        True signals on the full sample grid: ``t_s``, ``obliquity_deg``, ``tilt_deg``,
        ``rotation_deg``, ``heading_deg``, ``phase``, ``vertical_m``, ``ml_m``, ``ap_m`` (pelvis
        origin, path frame, right/up/forward +), ``sensor_vertical_m``, ``sensor_ml_m``,
        ``sensor_ap_m`` (the sensor point, i.e. the sacrum, relative to quiet standing),
        ``speed_mps``.
    ideal
        Noise-free sensor-frame signals on the full grid before bias, noise, quantisation and
        loss: ``{"t_s", "acc", "gyr"}`` (for tests and validation).
    config
        The `SimConfig` used.
    """

    t_s: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray
    packets: list[tuple[float, bytes]]
    truth: dict[str, Any]
    truth_arrays: dict[str, np.ndarray]
    ideal: dict[str, np.ndarray] = field(repr=False)
    config: SimConfig

    @property
    def sample_rate_hz(self) -> float:
        return float(self.config.sampling_rate_hz)

    @property
    def duration_s(self) -> float:
        return float(self.config.duration_s)

    @property
    def stances(self) -> list[dict[str, Any]]:
        return self.truth["events"]


# --------------------------------------------------------------------------- small maths
# A "jet" is (f, df/dt, d2f/dt2), each an ndarray; products and compositions keep exact
# first and second derivatives so that no signal is ever differentiated numerically.
Jet = tuple[np.ndarray, np.ndarray, np.ndarray]


def _jet_mul(a: Jet, b: Jet) -> Jet:
    return (a[0] * b[0], a[1] * b[0] + a[0] * b[1], a[2] * b[0] + 2 * a[1] * b[1] + a[0] * b[2])


def _jet_const(x: float | np.ndarray, n: int) -> Jet:
    z = np.zeros(n)
    return (np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy(), z, z.copy())


def _smootherstep(x: np.ndarray, width: float) -> Jet:
    """C2 step 0 -> 1 over ``x`` in [0, width] (Perlin's quintic): value and d/dx, d2/dx2."""
    u = np.clip(x / width, 0.0, 1.0)
    f = u**3 * (u * (6 * u - 15) + 10)
    d1 = 30 * u**2 * (u - 1) ** 2 / width
    d2 = 60 * u * (u - 1) * (2 * u - 1) / width**2
    return f, d1, d2


def _ramp_window(t: np.ndarray, rise_start: float, rise_s: float, fall_start: float,
                 fall_s: float) -> Jet:
    """1 between a C2 rise (starting at ``rise_start``) and a C2 fall (starting ``fall_start``)."""
    up = _smootherstep(t - rise_start, rise_s)
    if np.isfinite(fall_start):
        dn = _smootherstep(t - fall_start, fall_s)
        down = (1.0 - dn[0], -dn[1], -dn[2])
        return _jet_mul(up, down)
    return up


class _PeriodicTemplate:
    """A 1-periodic function of the stride phase with its first two phase derivatives.

    Built from its second derivative (an acceleration profile) or from its value, sampled on a
    uniform grid; the other two are exact FFT (anti)derivatives of the trigonometric
    interpolant, truncated at ``n_harmonics``. Evaluated by linear interpolation on a fine grid.
    """

    GRID = 4096

    def __init__(self, samples: np.ndarray, *, kind: Literal["value", "second"],
                 n_harmonics: int = 40) -> None:
        c = np.fft.rfft(samples) / samples.size
        c[n_harmonics + 1:] = 0.0
        c[0] = 0.0  # zero-mean periodic signal (a constant goes elsewhere)
        k = np.arange(c.size)
        w = 2j * np.pi * k
        if kind == "second":
            c2 = c
            with np.errstate(divide="ignore", invalid="ignore"):
                c0 = np.where(k > 0, c2 / w**2, 0.0)
        else:
            c0 = c
        c1, c2 = c0 * w, c0 * w**2
        m = self.GRID
        self.tables = [np.fft.irfft(ci * m, n=m) for ci in (c0, c1, c2)]
        self._grid = np.arange(m + 1) / m
        self.tables = [np.append(tb, tb[0]) for tb in self.tables]

    def __call__(self, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u = np.mod(phase, 1.0)
        return tuple(np.interp(u, self._grid, tb) for tb in self.tables)  # type: ignore[return-value]


def _grid(m: int = _PeriodicTemplate.GRID) -> np.ndarray:
    return np.arange(m) / m


def _stance_pulse(x: np.ndarray, skew: float, taper: float = 0.12) -> np.ndarray:
    """A C2 force-like pulse over the stance fraction ``x`` in [0, 1], zero outside.

    Half sine, skewed towards early stance by ``skew``, with C2 smootherstep edges.
    """
    inside = (x > 0) & (x < 1)
    xc = np.clip(x, 0, 1)
    edge = _smootherstep(xc, taper)[0] * _smootherstep(1 - xc, taper)[0]
    return np.where(inside, np.sin(np.pi * xc) * (1 + skew * (1 - 2 * xc)) * edge, 0.0)


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


# --------------------------------------------------------------------------- validation
def _validate(cfg: SimConfig) -> dict[str, Any]:
    if cfg.activity not in ACTIVITIES:
        raise BadInputError(f"activity {cfg.activity!r} is not one of {', '.join(ACTIVITIES)}")
    r = cfg.resolved()

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise BadInputError(what)

    need(50 <= cfg.sampling_rate_hz <= 400, f"sampling_rate_hz {cfg.sampling_rate_hz} outside 50-400 Hz")
    need(cfg.standing_s >= 0 and cfg.trailing_standing_s >= 0, "standing times must be >= 0")
    cad = r["cadence_spm"]
    need(cad > 0 and r["speed_mps"] > 0, "cadence and speed must be > 0")
    lo, hi = (60, 140) if cfg.activity == "walk" else (120, 220)
    need(lo <= cad <= hi, f"cadence {cad:g} spm outside {lo}-{hi} spm for {cfg.activity}")
    stride_s = 120.0 / cad
    gait_s = cfg.duration_s - cfg.standing_s - cfg.trailing_standing_s
    need(np.isfinite(cfg.duration_s) and gait_s >= 2 * stride_s,
         f"duration {cfg.duration_s:g} s leaves {gait_s:.2f} s of gait after standing; "
         f"need at least 2 strides ({2 * stride_s:.2f} s)")
    need(cfg.duration_s <= 6 * 3600, f"duration {cfg.duration_s:g} s exceeds 6 h")
    for side in ("left", "right"):
        v = r[f"cpd_{side}_deg"]
        need(-10.0 <= v <= 20.0, f"cpd_{side}_deg {v:g} outside -10..20 deg")
    need(r["cpd_left_deg"] + r["cpd_right_deg"] >= 0,
         "cpd_left_deg + cpd_right_deg must be >= 0 (both swing sides cannot stay above "
         "their standing height)")
    need(abs(cfg.fatigue_cpd_deg) <= 10, "fatigue_cpd_deg must be within +-10 deg")
    need(0 <= cfg.packet_loss < 0.9, f"packet_loss {cfg.packet_loss} outside [0, 0.9)")
    need(cfg.packet_loss_burst >= 1, "packet_loss_burst (mean burst length) must be >= 1")
    need(0 <= cfg.misalignment_random_deg <= 90, "misalignment_random_deg outside 0-90 deg")
    need(0 <= cfg.impact_g <= 10, "impact_g outside 0-10 g")
    need(cfg.first_side in ("L", "R"), "first_side must be 'L' or 'R'")
    need(1 <= r["samples_per_packet"] <= MAX_SAMPLES_PER_PACKET,
         f"samples_per_packet must be 1..{MAX_SAMPLES_PER_PACKET}")
    need(cfg.turn_every_s is None or cfg.turn_every_s > 0, "turn_every_s must be > 0")
    need(min(r["cpd_sd_deg"], r["stride_cv"], r["amplitude_cv"]) >= 0, "SDs and CVs must be >= 0")
    need(r["stride_cv"] <= 0.1, "stride_cv must be <= 0.1")
    return r


# --------------------------------------------------------------------------- the model
def _ar1(rng: np.random.Generator, n: int, rho: float = 0.5) -> np.ndarray:
    """Unit-variance AR(1) noise (stride-to-stride series are autocorrelated)."""
    e = rng.normal(size=n)
    out = np.empty(n)
    out[0] = e[0]
    k = np.sqrt(1 - rho**2)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + k * e[i]
    return out


def _phase_from_strides(t: np.ndarray, knots_t: np.ndarray, durs: np.ndarray, t0: float,
                        phase0: float) -> tuple[Jet, np.ndarray]:
    """Stride phase jet and its third derivative from per-stride durations.

    The stride frequency is ``exp`` of a quintic spline through ``-log(duration)`` at the
    stride midpoints, so it is positive and C4 for any stride series (an interpolating
    spline of the phase itself rings, and for irregular strides its rate can go negative
    near its ends). The phase is its integral on the uniform grid ``t`` (trapezoid with the
    Euler-Maclaurin end correction, O(dt^4): < 1e-9 cycles at 200 Hz), shifted so that
    ``phase(t0) = phase0`` exactly; its rate and higher derivatives are closed form.
    """
    mids = 0.5 * (knots_t[:-1] + knots_t[1:])
    log_f = make_interp_spline(mids, -np.log(durs), k=5)

    def jets(tt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        s0, s1, s2 = log_f(tt), log_f.derivative(1)(tt), log_f.derivative(2)(tt)
        f = np.exp(s0)
        return f, f * s1, f * (s2 + s1**2), s1

    f, df, d2f, _ = jets(t)
    dt = np.diff(t)
    steps = 0.5 * dt * (f[1:] + f[:-1]) - dt**2 / 12.0 * (df[1:] - df[:-1])
    phi = np.concatenate([[0.0], np.cumsum(steps)])
    # Integral from the grid point at or before t0 to t0, the same way.
    i = int(np.clip(np.searchsorted(t, t0, side="right") - 1, 0, t.size - 1))
    h = t0 - t[i]
    f0, df0, _, _ = jets(np.array([t0]))
    at_t0 = phi[i] + 0.5 * h * (f[i] + f0[0]) - h**2 / 12.0 * (df0[0] - df[i])
    return (phi - at_t0 + phase0, f, df), d2f


def _duty_factor(activity: str, cadence_spm: float, speed_mps: float) -> float:
    p = ACTIVITY_DEFAULTS[activity]
    if activity == "walk":
        # Stance ~60 % of the stride at normal speed; a little longer when slower.
        return float(np.clip(p["duty_factor"] - 0.04 * (speed_mps - p["speed_mps"]), 0.55, 0.68))
    contact_s = p["contact_time_s"] * (p["speed_mps"] / speed_mps) ** 0.7
    return float(np.clip(contact_s / (120.0 / cadence_spm), 0.22, 0.45))


def _templates(activity: str, duty: float, speed_mps: float) -> dict[str, _PeriodicTemplate]:
    """Periodic stride templates (phase 0 = left IC). Translational ones are accelerations."""
    p = ACTIVITY_DEFAULTS[activity]
    x = _grid()
    two_pi = 2 * np.pi
    tpl: dict[str, _PeriodicTemplate] = {}
    v = speed_mps / p["speed_mps"]
    if activity == "walk":
        # Vertical: highest at midstance (inverted pendulum) -> acceleration lowest at
        # midstance, rising steeply at each IC to a loading-response peak just after it.
        # Forward: propulsion peaking just before each IC, braking right after it.
        # Both from measured harmonics (_WALK_ACC_HARMONICS), scaled with speed.
        def harmonics(name: str) -> np.ndarray:
            rows = _WALK_ACC_HARMONICS[name]
            out = sum(a * np.cos(two_pi * (k * x + ph)) for k, a, ph in rows)
            return np.asarray(out) / rows[0][1]  # unit 2nd harmonic

        av = p["vertical_acc_mps2"] * v * harmonics("vertical")
        af = p["forward_acc_mps2"] * v * harmonics("forward")
        # Medio-lateral: pelvis furthest over the stance foot at midstance (acceleration towards
        # the other side then), one cycle per stride; right = +.
        # Not scaled with speed: the ML excursion shrinks as speed (and frequency) grows.
        am = p["ml_acc_mps2"] * (np.cos(two_pi * (x - 0.30)) + 0.25 * np.cos(3 * two_pi * (x - 0.25)))
        # Left hemipelvis furthest forward in the left loading response (yaw rate measured on
        # IPOL and the OpenSim walk: first harmonic 0.12 stride later than a peak at IC).
        rot = -p["rotation_amp_deg"] * np.cos(two_pi * (x - p["rotation_peak_phase"]))
        # Anterior tilt highest late in each single support (gyro about +right peaks after IC).
        tilt = p["tilt_amp_deg"] * np.cos(2 * two_pi * (x - 0.445))
    else:
        step = 0.5
        d = duty  # stance as a fraction of the stride
        xl, xr = x / d, (x - step) / d
        pulse_l, pulse_r = _stance_pulse(xl, 0.6), _stance_pulse(xr, 0.6)
        pulse = pulse_l + pulse_r
        # Vertical specific force: g * pulse / mean(pulse) -> zero in flight, mean exactly g
        # (impulse balance), lowest COM at midstance.
        av = 1.0 * (pulse / pulse.mean() - 1.0)  # multiplied by g later
        # Forward: braking in the first part of stance, propulsion after; zero net impulse.
        brake_l = -np.sin(two_pi * np.clip(xl, 0, 1) ** 0.6) * (pulse_l > 0)
        brake_r = -np.sin(two_pi * np.clip(xr, 0, 1) ** 0.6) * (pulse_r > 0)
        edge_l = _smootherstep(np.clip(xl, 0, 1), 0.12)[0] * _smootherstep(1 - np.clip(xl, 0, 1), 0.12)[0]
        edge_r = _smootherstep(np.clip(xr, 0, 1), 0.12)[0] * _smootherstep(1 - np.clip(xr, 0, 1), 0.12)[0]
        fw = brake_l * edge_l + brake_r * edge_r
        fw = fw - fw.mean() * pulse / pulse.mean()  # no net impulse over the stride
        af = p["forward_acc_mps2"] * v * fw / np.abs(fw).max()
        # Medio-lateral: force from the stance foot towards the midline (left stance -> +right).
        am = p["ml_acc_mps2"] * (pulse_l - pulse_r) / pulse.max()
        rot = p["rotation_amp_deg"] * np.cos(two_pi * x)  # running: opposite phase to walking
        tilt = p["tilt_amp_deg"] * np.cos(2 * two_pi * (x - 0.325))
    tpl["vertical"] = _PeriodicTemplate(av, kind="second")
    tpl["forward"] = _PeriodicTemplate(af, kind="second")
    tpl["ml"] = _PeriodicTemplate(am, kind="second")
    tpl["rotation"] = _PeriodicTemplate(rot, kind="value", n_harmonics=8)
    tpl["tilt"] = _PeriodicTemplate(tilt, kind="value", n_harmonics=8)
    return tpl


class _Bump:
    """A skewed, C-infinity bump of height 1 at ``u = 0`` (u in stride phase), tabulated.

    ``exp(-u^2 / (2 sigma(u)^2))`` with ``sigma`` blending smoothly from ``rise`` (before the
    peak: the fast drop in loading response) to ``fall`` (after it: the slow return).
    """

    HALF = 1.0
    N = 16001

    def __init__(self, rise: float, fall: float) -> None:
        u = np.linspace(-self.HALF, self.HALF, self.N)
        sig = rise + (fall - rise) * 0.5 * (1 + np.tanh(u / (0.5 * min(rise, fall))))
        b = np.exp(-0.5 * (u / sig) ** 2)
        b[[0, -1]] = 0.0
        h = u[1] - u[0]
        self.u = u
        self.tables = (b, np.gradient(b, h, edge_order=2),
                       np.gradient(np.gradient(b, h, edge_order=2), h, edge_order=2))

    def __call__(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(np.interp(u, self.u, tb, left=0.0, right=0.0) for tb in self.tables)  # type: ignore[return-value]


def _obliquity_bumps(phase: Jet, gate: Jet, ic_phase: np.ndarray, sign: np.ndarray,
                     amp: np.ndarray, peak: float, bump: _Bump, derivs: bool = True,
                     offset: float = 0.0) -> Jet:
    """Sum of bumps (one per stance, in phase) times the gait gate, with time derivatives.

    Stance ``j`` starts at phase ``ic_phase[j] = ic_phase[0] + j / 2``; its bump peaks
    ``peak`` later. ``offset`` is a constant added before the gate (gait-long offset).
    """
    ph, dph, d2ph = phase
    j0 = np.floor((ph - ic_phase[0] - peak) * 2.0).astype(np.int64)
    f = np.zeros_like(ph)
    f1 = np.zeros_like(ph)
    f2 = np.zeros_like(ph)
    reach = int(np.ceil(bump.HALF * 2)) + 1
    n = amp.size
    for off in range(-reach, reach + 2):
        j = j0 + off
        ok = (j >= 0) & (j < n)
        if not ok.any():
            continue
        jj = np.where(ok, j, 0)
        u = ph - (ic_phase[0] + 0.5 * jj + peak)
        a = np.where(ok, sign[jj] * amp[jj], 0.0)
        if not derivs:
            f += a * np.interp(u, bump.u, bump.tables[0], left=0.0, right=0.0)
            continue
        b0, b1, b2 = bump(u)
        g, db, d2b = a * b0, a * b1, a * b2
        f += g
        f1 += db * dph
        f2 += d2b * dph**2 + db * d2ph
    return _jet_mul((f + offset, f1, f2), gate)


def _window_extremes(x: np.ndarray, i0: np.ndarray, i1: np.ndarray, fn: Any) -> np.ndarray:
    """``fn`` (np.maximum / np.minimum) over x[i0:i1] for non-overlapping, sorted windows."""
    idx = np.empty(2 * i0.size, dtype=np.int64)
    idx[0::2], idx[1::2] = i0, i1
    ok = i1 > i0
    x_ext = np.append(x, x[-1])
    red = fn.reduceat(x_ext, np.minimum(idx, x.size))[0::2]
    return np.where(ok, red, np.nan)


def simulate(config: SimConfig | None = None, **overrides: Any) -> SimResult:
    """Simulate a sacral IMU session with ground truth.

    Parameters
    ----------
    config
        A `SimConfig` (default: all defaults).
    **overrides
        Fields to replace in ``config``, e.g. ``simulate(activity="run", duration_s=30)``.

    Returns
    -------
    SimResult
        Samples, packets and truth (docs/architecture.md).

    Raises
    ------
    BadInputError
        A parameter outside its documented range.
    """
    cfg = dataclasses.replace(config or SimConfig(), **overrides)
    r = _validate(cfg)
    rng = np.random.default_rng(cfg.seed)
    p = ACTIVITY_DEFAULTS[cfg.activity]
    fs = float(cfg.sampling_rate_hz)
    n = round(cfg.duration_s * fs)
    t = np.arange(n) / fs
    g = float(cfg.gravity_mps2)
    cadence, speed = r["cadence_spm"], r["speed_mps"]
    stride0 = 120.0 / cadence
    duty = _duty_factor(cfg.activity, cadence, speed)

    # ---- timing: strides with AR(1) durations -> a smooth, positive stride frequency
    t_gait0 = cfg.standing_s
    t_gait1 = cfg.duration_s - cfg.trailing_standing_s
    phase0 = 0.0 if cfg.first_side == "L" else 0.5
    n_pre = int(np.ceil(t_gait0 / stride0)) + 3
    n_str = int(np.ceil((cfg.duration_s - t_gait0) / stride0 * 1.15)) + 8
    durs = stride0 * (1 + r["stride_cv"] * _ar1(rng, n_pre + n_str))
    cum = np.concatenate([[0.0], np.cumsum(durs)])
    # Nominal ICs of the first side (the first truth IC at the end of standing), for envelopes.
    knots_t = t_gait0 + cum - cum[n_pre]
    phase, d3phi = _phase_from_strides(t, knots_t, durs, t_gait0, phase0)

    # ---- gait window: gate for oscillations, speed ramp
    # Oscillations fade in over 0.4 stride before the first IC (and out after the last FC when
    # the session ends standing). The stance in progress during the fade-in is partial: it is
    # listed in truth["edge_stances"], not in truth["events"].
    ramp_s = 0.4 * stride0
    stance_rows = _stances(t, phase, phase0, duty, t_gait0, t_gait1, cfg.duration_s, fs)
    t_stop = np.inf
    if cfg.trailing_standing_s > 0:
        done = stance_rows["complete"]
        t_stop = float(stance_rows["fc_s"][done].max()) if done.any() else t_gait1
    gate = _ramp_window(t, t_gait0 - ramp_s, ramp_s, t_stop, ramp_s)
    speed_gate = _ramp_window(t, t_gait0 - 0.5 * stride0, 1.5 * stride0, t_stop, 1.5 * stride0)

    # ---- turns: heading jets and speed reduction
    heading, turn_window, turns = _turns(t, cfg, p, t_gait0, min(t_gait1, t_stop), rng)
    speed_jet = _jet_mul(_jet_mul(_jet_const(speed, n), speed_gate),
                         (1 - (1 - p["turn_speed_factor"]) * turn_window[0],
                          -(1 - p["turn_speed_factor"]) * turn_window[1],
                          -(1 - p["turn_speed_factor"]) * turn_window[2]))

    # ---- per-stride amplitude envelopes (smooth, mean 1)
    def envelope(cv: float) -> Jet:
        vals = 1 + cv * _ar1(rng, knots_t.size, 0.3)
        mid = 0.5 * (knots_t[:-1] + knots_t[1:])
        e = make_interp_spline(mid, vals[:-1], k=5)
        return (e(t), e.derivative(1)(t), e.derivative(2)(t))

    tpl = _templates(cfg.activity, duty, speed)
    cv = r["amplitude_cv"]
    # 1 / phi_dot^2 turns a phase-domain acceleration template into a time-domain one.
    inv2 = (1 / phase[1] ** 2, -2 * phase[2] / phase[1] ** 3,
            -2 * d3phi / phase[1] ** 3 + 6 * phase[2] ** 2 / phase[1] ** 4)

    def compose(name: str) -> Jet:
        f0, f1, f2 = tpl[name](phase[0])
        return (f0, f1 * phase[1], f2 * phase[1] ** 2 + f1 * phase[2])

    def translational(name: str, amp_cv: float, scale: float = 1.0) -> Jet:
        env = _jet_mul(_jet_mul(envelope(amp_cv), gate), inv2)
        env = (env[0] * scale, env[1] * scale, env[2] * scale)
        return _jet_mul(env, compose(name))

    d_up = translational("vertical", cv if cfg.activity == "walk" else 0.0,
                         1.0 if cfg.activity == "walk" else g)
    d_fwd = translational("forward", cv)
    d_right = translational("ml", cv)
    rot = _jet_mul(_jet_mul(envelope(cv), gate), compose("rotation"))
    tilt_osc = _jet_mul(_jet_mul(envelope(cv), gate), compose("tilt"))
    tilt = (tilt_osc[0] + cfg.standing_tilt_deg, tilt_osc[1], tilt_osc[2])

    # ---- obliquity: one bump per stance, heights solved for the exact per-stance CPD
    obl, stance_rows = _solve_obliquity(t, phase, gate, stance_rows, cfg, r, p, rng)

    # ---- rigid-body kinematics
    ideal_acc_b, ideal_gyr_b = _imu_body(obl, tilt, rot, heading, d_up, d_fwd, d_right,
                                        speed_jet, np.asarray(cfg.sensor_offset_m, float), g)
    r_sn = _misalignment(cfg, rng)
    acc_ideal = ideal_acc_b @ r_sn  # R^T v for each row: v_sensor = R_sn^T v_nominal
    gyr_ideal = ideal_gyr_b @ r_sn

    # ---- sensor imperfections and radio
    gyr_bias = (np.asarray(cfg.gyr_bias_dps, float) if cfg.gyr_bias_dps is not None
                else rng.normal(0, cfg.gyr_bias_sd_dps, 3))
    acc_bias = (np.asarray(cfg.acc_bias_mps2, float) if cfg.acc_bias_mps2 is not None
                else rng.normal(0, cfg.acc_bias_sd_mps2, 3))
    acc_meas = acc_ideal + acc_bias + rng.normal(0, 1, (n, 3)) * cfg.acc_noise_mps2
    if cfg.impact_g > 0:
        acc_meas += _impacts(t, stance_rows["ic_s"], gate[0], cfg) @ r_sn
    gyr_meas = gyr_ideal + gyr_bias + rng.normal(0, 1, (n, 3)) * cfg.gyr_noise_dps
    scales = Scales(acc_range_g=cfg.acc_range_g, gyr_range_dps=cfg.gyr_range_dps)
    raw = physical_to_raw(acc_meas, gyr_meas, scales)
    n_clipped = int(np.count_nonzero((raw == 32767) | (raw == -32768)))
    packets, lost = _packetise(raw, fs, r["samples_per_packet"], cfg, rng)
    t_dec, acc_dec, gyr_dec = _decode(packets, fs, scales)
    gaps = _gaps(t_dec, fs)

    truth_arrays = {
        "t_s": t,
        "obliquity_deg": obl[0],
        "tilt_deg": tilt[0],
        "rotation_deg": rot[0],
        "heading_deg": np.rad2deg(heading[0]),
        "phase": phase[0],
        "vertical_m": d_up[0],
        "ml_m": d_right[0],
        "ap_m": d_fwd[0],
        "speed_mps": speed_jet[0],
    }
    truth_arrays.update(_sensor_displacement(truth_arrays, np.asarray(cfg.sensor_offset_m, float),
                                             cfg.standing_obliquity_deg, cfg.standing_tilt_deg))
    truth = {
        "source": "gaitimu.simulate",
        "activity": cfg.activity,
        "events": _events_list(stance_rows, turns),
        "edge_stances": _edge_stances(t, phase0, duty, phase, t_gait0 - ramp_s, stance_rows,
                                      t_stop + ramp_s),
        "standing_obliquity_deg": cfg.standing_obliquity_deg,
        "standing_tilt_deg": cfg.standing_tilt_deg,
        "gait_obliquity_offset_deg": stance_rows["gait_obliquity_offset_deg"],
        "standing_s": [0.0, float(min(cfg.standing_s, cfg.duration_s))],
        "gait_s": [float(t_gait0), float(min(t_gait1, t_stop))],
        "turns": turns,
        "cadence_spm": cadence,
        "speed_mps": speed,
        "duty_factor": duty,
        "cpd_definition": (
            "stance of side S (IC_S..FC_S), from the true obliquity on the sample grid plus the "
            "exact values at IC and FC: left stance max(obl) - ref, right stance ref - min(obl); "
            "ref = obliquity at IC_S (cpd_ic_deg) or the standing obliquity (cpd_standing_deg)"
        ),
        "cpd_mean_deg": {
            side: _mean(stance_rows["cpd_standing_deg"][stance_rows["complete"]
                                                        & (stance_rows["side"] == side)])
            for side in ("L", "R")
        },
        "misalignment": {
            "R_sensor_to_nominal": r_sn.tolist(),
            "angle_deg": float(np.rad2deg(np.arccos(np.clip((np.trace(r_sn) - 1) / 2, -1, 1)))),
            "convention": "v_nominal = R_sensor_to_nominal @ v_sensor; nominal = (x up, y right, "
                          "z forward) pelvis frame",
        },
        "sensor_offset_m": list(cfg.sensor_offset_m),
        "gyr_bias_dps": gyr_bias.tolist(),
        "acc_bias_mps2": acc_bias.tolist(),
        "noise": {"gyr_white_rms_dps": cfg.gyr_noise_dps, "acc_white_rms_mps2": cfg.acc_noise_mps2},
        "n_samples_clipped": n_clipped,
        "n_samples_generated": n,
        "lost_packets": lost,
        "lost_samples": int(n - t_dec.size),
        "gaps": gaps,
        "frames": {
            "sensor": DEFAULT_AXES + " (nominal, before the misalignment)",
            "world": "X forward (initial heading), Y left, Z up; g_world = (0, 0, -g)",
            "angles": "obliquity > 0 left hemipelvis up; tilt > 0 anterior; rotation > 0 "
                      "pelvis turned left (right hemipelvis forward); heading > 0 turned left",
        },
        "config": r,
    }
    return SimResult(
        t_s=t_dec, acc=acc_dec, gyr=gyr_dec, packets=packets, truth=truth,
        truth_arrays=truth_arrays, ideal={"t_s": t, "acc": acc_ideal, "gyr": gyr_ideal},
        config=cfg,
    )


def _mean(x: np.ndarray) -> float | None:
    return float(np.mean(x)) if x.size else None


def _stances(t: np.ndarray, phase: Jet, phase0: float, duty: float, t_gait0: float,
             t_gait1: float, duration_s: float, fs: float) -> dict[str, np.ndarray]:
    """Every stance from the first IC to the end: IC/FC times and sample index windows."""
    ph = phase[0]
    ic_phase = phase0 + 0.5 * np.arange(int((ph[-1] - phase0) * 2) + 1)
    ic_phase = ic_phase[ic_phase <= ph[-1]]
    ic_s = np.interp(ic_phase, ph, t)
    fc_s = np.interp(ic_phase + duty, ph, t, right=np.inf)
    next_ic_s = np.interp(ic_phase + 0.5, ph, t, right=np.inf)  # next IC of either foot
    stride_end_s = np.interp(ic_phase + 1.0, ph, t, right=np.inf)  # same foot
    side = np.where(np.isclose(np.mod(ic_phase, 1.0), 0.0), "L", "R")
    # Complete stances inside the gait window are the truth; the rest only shape the signal.
    complete = (ic_s >= t_gait0 - 1e-4) & (fc_s <= min(t_gait1, duration_s - 1 / fs))
    return {"ic_phase": ic_phase, "ic_s": ic_s, "fc_s": fc_s, "next_ic_s": next_ic_s,
            "stride_end_s": stride_end_s,
            "side": side, "complete": complete}


def _edge_stances(t: np.ndarray, phase0: float, duty: float, phase: Jet, t_fade_in: float,
                  rows: dict[str, np.ndarray], t_fade_out: float) -> list[dict[str, Any]]:
    """Partial stances during the fade-in/out of the gait: visible in the signals, no truth CPD."""
    ph = phase[0]
    out = []
    j = -1  # the stances just before the first truth IC (phase phase0 - 0.5, - 1.0)
    while True:
        icp = phase0 + 0.5 * j
        fc_s = float(np.interp(icp + duty, ph, t, left=-np.inf))
        if fc_s <= t_fade_in:
            break
        ic_s = float(np.interp(icp, ph, t, left=-np.inf))
        side = "L" if np.isclose(np.mod(icp, 1.0), 0.0) else "R"
        out.append({"side": side, "ic_s": round(ic_s, 6) if np.isfinite(ic_s) else None,
                    "fc_s": round(fc_s, 6), "where": "fade-in"})
        j -= 1
    if np.isfinite(t_fade_out):
        late = (~rows["complete"]) & (rows["ic_s"] < t_fade_out) & (rows["ic_s"] > t_fade_in)
        for k in np.flatnonzero(late).tolist():
            fc = float(rows["fc_s"][k])
            out.append({"side": str(rows["side"][k]), "ic_s": round(float(rows["ic_s"][k]), 6),
                        "fc_s": round(fc, 6) if np.isfinite(fc) else None, "where": "fade-out"})
    return sorted(out, key=lambda e: e["fc_s"] if e["fc_s"] is not None else np.inf)


def _solve_obliquity(t: np.ndarray, phase: Jet, gate: Jet, rows: dict[str, np.ndarray],
                     cfg: SimConfig, r: dict[str, Any], p: dict[str, float],
                     rng: np.random.Generator) -> tuple[Jet, dict[str, np.ndarray]]:
    """Obliquity jets whose stances have exactly their per-stance target CPD."""
    side = rows["side"]
    complete = rows["complete"]
    k = side.size
    sign = np.where(side == "L", 1.0, -1.0)
    mean = np.where(side == "L", r["cpd_left_deg"], r["cpd_right_deg"])
    # A gait-long obliquity offset (relative to standing) makes negative requests possible:
    # a left stance's CPD is offset + drop_L, a right one's -offset + drop_R, drops >= 0.
    offset = float(np.clip(0.0, -r["cpd_right_deg"], r["cpd_left_deg"]))
    bound = np.where(side == "L", offset, -offset)
    # Targets: side mean + centred linear fatigue drift + AR(1) variability, then shifted so
    # the mean over the complete stances of each side equals the request exactly.
    t_ic = rows["ic_s"]
    if complete.any():
        a, b = t_ic[complete].min(), t_ic[complete].max()
        tau = np.clip((t_ic - a) / (b - a), 0, 1) if b > a else np.zeros(k)
    else:
        tau = np.zeros(k)
    excess = (mean - bound + cfg.fatigue_cpd_deg * (tau - 0.5)
              + r["cpd_sd_deg"] * _ar1(rng, k, 0.3))
    for s in ("L", "R"):
        m = (side == s) & complete
        if m.any():
            excess[m] += (mean - bound)[m][0] - excess[m].mean()
    excess = np.maximum(excess, 0.0)  # a stance's drop below the offset cannot be negative
    for s in ("L", "R"):  # re-centre after the clip (a no-op unless the clip bit)
        m = (side == s) & complete
        if m.any() and excess[m].mean() > 0:
            excess[m] *= (mean - bound)[m][0] / excess[m].mean()
    target = bound + excess
    # Stances after the gait stops get no bump; before the gate opens none exist.
    active = rows["ic_s"] < (rows["fc_s"][complete].max() + 1e-9 if cfg.trailing_standing_s > 0
                             and complete.any() else np.inf)
    target = np.where(active, target, bound)  # no bump: inactive stances have amplitude 0
    fs = float(cfg.sampling_rate_hz)
    i0 = np.ceil(rows["ic_s"] * fs - 1e-9).astype(np.int64)
    i1 = np.floor(np.minimum(rows["fc_s"], t[-1]) * fs + 1e-9).astype(np.int64) + 1
    ev_t = np.concatenate([rows["ic_s"], np.minimum(rows["fc_s"], t[-1])])
    peak = p["obliquity_peak_phase"]
    width = _Bump(p["obliquity_rise"], p["obliquity_fall"])
    # IC/FC phases and gate values for exact evaluation at the events
    spl_phase = (np.interp(ev_t, t, phase[0]), np.interp(ev_t, t, phase[1]),
                 np.interp(ev_t, t, phase[2]))
    gate_ev = (np.interp(ev_t, t, gate[0]), np.zeros_like(ev_t), np.zeros_like(ev_t))
    ic_phase = rows["ic_phase"]

    def realised(amp: np.ndarray) -> tuple[np.ndarray, np.ndarray, Jet]:
        o = _obliquity_bumps(phase, gate, ic_phase, sign, amp, peak, width, derivs=False,
                             offset=offset)
        o_ev = _obliquity_bumps(spl_phase, gate_ev, ic_phase, sign, amp, peak, width,
                                derivs=False, offset=offset)[0]
        at_ic, at_fc = o_ev[:k], o_ev[k:]
        cpd_st = np.full(k, np.nan)
        for s, fn in (("L", np.maximum), ("R", np.minimum)):
            m = np.flatnonzero(side == s)
            ext = _window_extremes(o[0], i0[m], i1[m], fn)
            ext = fn(fn(np.nan_to_num(ext, nan=at_ic[m]), at_ic[m]), at_fc[m])
            cpd_st[m] = ext if s == "L" else -ext
        return cpd_st, at_ic, o

    amp = target - bound
    for _ in range(12):
        cpd_st, at_ic, o = realised(amp)
        err = np.where(complete, target - cpd_st, 0.0)
        if np.max(np.abs(err[complete]), initial=0.0) < 1e-6:
            break
        amp = amp + err
    else:
        cpd_st, at_ic, _ = realised(amp)
        worst = float(np.max(np.abs((target - cpd_st)[complete]), initial=0.0))
        if worst > 0.05:
            raise BadInputError(
                f"could not realise the requested CPD (off by {worst:.2f} deg); "
                "try less asymmetric cpd_left/cpd_right"
            )
    o = _obliquity_bumps(phase, gate, ic_phase, sign, amp, peak, width, offset=offset)
    obl = (o[0] + cfg.standing_obliquity_deg, o[1], o[2])
    rows = dict(rows)
    rows["cpd_standing_deg"] = cpd_st
    rows["cpd_ic_deg"] = cpd_st - sign * at_ic
    rows["target_cpd_deg"] = target
    rows["gait_obliquity_offset_deg"] = offset
    rows["obliquity_at_ic_deg"] = at_ic + cfg.standing_obliquity_deg
    return obl, rows


def _impacts(t: np.ndarray, ic_s: np.ndarray, gate: np.ndarray, cfg: SimConfig) -> np.ndarray:
    """Damped heel-strike vibration after each IC in the pelvis frame (up, right, forward)."""
    freq_hz, decay_s = (25.0, 0.015) if cfg.activity == "walk" else (18.0, 0.025)
    out = np.zeros((t.size, 3))
    fs = float(cfg.sampling_rate_hz)
    n_win = int(np.ceil(8 * decay_s * fs))
    k = np.arange(n_win)

    def shape(tau: np.ndarray) -> np.ndarray:
        return (_smootherstep(tau, 0.004)[0] * np.exp(-tau / decay_s)
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


def _sensor_displacement(ta: dict[str, np.ndarray], r_sensor: np.ndarray, obl0: float,
                         tilt0: float) -> dict[str, np.ndarray]:
    """Sensor-point (sacrum) displacement in the path frame, relative to quiet standing."""
    zero = np.zeros(1)
    lever = rotation_world_pelvis(ta["obliquity_deg"], ta["tilt_deg"], ta["rotation_deg"]) @ r_sensor
    lever0 = (rotation_world_pelvis(zero + obl0, zero + tilt0, zero) @ r_sensor)[0]
    d = lever - lever0  # path axes: forward, left, up
    return {"sensor_ap_m": ta["ap_m"] + d[:, 0], "sensor_ml_m": ta["ml_m"] - d[:, 1],
            "sensor_vertical_m": ta["vertical_m"] + d[:, 2]}


def _turns(t: np.ndarray, cfg: SimConfig, p: dict[str, float], t0: float, t1: float,
           rng: np.random.Generator) -> tuple[Jet, Jet, list[dict[str, float]]]:
    """Heading jet (rad) with 180-degree turns, and a 0..1 window that is 1 during turns."""
    n = t.size
    head = [np.zeros(n), np.zeros(n), np.zeros(n)]
    win = [np.zeros(n), np.zeros(n), np.zeros(n)]
    steps = np.zeros(n)
    turns: list[dict[str, float]] = []
    if cfg.turn_every_s:
        dur, edge = p["turn_s"], 0.7
        ts = t0 + cfg.turn_every_s
        while ts + dur + 1.0 < t1:
            direction = float(rng.choice([-1.0, 1.0]))
            i0, i1 = np.searchsorted(t, [ts - edge, ts + dur + edge])
            tl = t[i0:i1]
            f = _smootherstep(tl - ts, dur)
            w = _ramp_window(tl, ts - edge, edge, ts + dur, edge)
            for i in range(3):
                head[i][i0:i1] += direction * np.pi * f[i]
                win[i][i0:i1] += w[i]
            if i1 < n:
                steps[i1] += direction * np.pi
            turns.append({"start_s": float(ts), "end_s": float(ts + dur),
                          "direction": "left" if direction > 0 else "right"})
            ts += cfg.turn_every_s
        head[0] += np.cumsum(steps)
    return (head[0], head[1], head[2]), (win[0], win[1], win[2]), turns


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


def _packet_dtype(n_samples: int) -> np.dtype:
    """numpy layout of one protocol-v1 packet of ``n_samples`` samples (HEADER '<BBHIBB')."""
    return np.dtype([("version", "u1"), ("flags", "u1"), ("seq", "<u2"), ("t0_us", "<u4"),
                     ("n", "u1"), ("reserved", "u1"), ("raw", "<i2", (n_samples, 6))])


def _encode_many(seq: np.ndarray, t0_us: np.ndarray, raw: np.ndarray) -> list[bytes]:
    """Vectorised `protocol.encode_packet` for packets of equal size; ``raw`` (k, n, 6)."""
    k, n_s, _ = raw.shape
    rec = np.zeros(k, dtype=_packet_dtype(n_s))
    rec["version"] = PROTOCOL_VERSION
    rec["seq"] = seq & 0xFFFF
    rec["t0_us"] = t0_us & 0xFFFFFFFF
    rec["n"] = n_s
    rec["raw"] = raw
    buf = rec.tobytes()
    size = rec.dtype.itemsize
    return [buf[i * size:(i + 1) * size] for i in range(k)]


def _loss_mask(n: int, fraction: float, burst: float, rng: np.random.Generator) -> np.ndarray:
    """Which of ``n`` packets are lost: independent, or alternating geometric good/bad runs."""
    if fraction <= 0:
        return np.zeros(n, dtype=bool)
    if burst <= 1.0:
        return rng.random(n) < fraction
    mean_good = burst * (1 - fraction) / fraction
    mask = np.zeros(0, dtype=bool)
    while mask.size < n:  # about 2 n packets per round: one round in practice
        k = int(2 * n / (burst + mean_good)) + 16
        good = rng.geometric(1 / (mean_good + 1), k) - 1  # good runs may be empty
        bad = rng.geometric(1 / burst, k)
        runs = np.empty(2 * k, dtype=np.int64)
        runs[0::2], runs[1::2] = good, bad
        mask = np.concatenate([mask, np.repeat(np.tile([False, True], k), runs)])
    return mask[:n]


def _packetise(raw: np.ndarray, fs: float, spp: int, cfg: SimConfig,
               rng: np.random.Generator) -> tuple[list[tuple[float, bytes]], list[dict[str, Any]]]:
    """Protocol-v1 packets of ``spp`` samples; lose a fraction; host times with jitter."""
    n = raw.shape[0]
    starts = np.arange(0, n, spp)
    n_pk = starts.size
    t_last = (np.minimum(starts + spp, n) - 1) / fs
    host = t_last + cfg.host_latency_s
    if cfg.host_jitter_s > 0:
        host = host + rng.exponential(cfg.host_jitter_s, n_pk)
    lost_mask = _loss_mask(n_pk, cfg.packet_loss, cfg.packet_loss_burst, rng)
    # The first and last packets always arrive, so every loss is a gap between good samples.
    lost_mask[[0, -1]] = False
    keep = np.flatnonzero(~lost_mask)
    host_kept = np.maximum.accumulate(host[keep])
    t0_us = np.rint(starts * 1e6 / fs).astype(np.int64)
    n_full = n // spp
    payloads = _encode_many(np.arange(n_full), t0_us[:n_full],
                            raw[: n_full * spp].reshape(n_full, spp, 6))
    if n_full < n_pk:  # a shorter last packet
        payloads.append(encode_packet(n_full, int(t0_us[-1]), raw[n_full * spp:]))
    packets = [(h, payloads[i]) for h, i in zip(host_kept.tolist(), keep.tolist(), strict=True)]
    lost = [{"seq": int(i & 0xFFFF), "index": int(i), "first_sample": int(starts[i]),
             "n_samples": int(min(spp, n - starts[i])), "t_s": float(starts[i] / fs)}
            for i in np.flatnonzero(lost_mask).tolist()]
    return packets, lost


def _decode(packets: list[tuple[float, bytes]], fs: float,
            scales: Scales) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode packets as a recorder does: sensor clock (unwrapped) + i / rate.

    Runs of equal-size packets are decoded in one go with the protocol's layout (checked
    against `protocol.decode_packet` in the tests); anything else goes through
    `decode_packet` itself.
    """
    if not packets:
        return np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3))
    sizes = np.array([len(d) for _, d in packets])
    t0s, raws = [], []
    start = 0
    while start < len(packets):
        size = sizes[start]
        stop = start + int(np.argmax(sizes[start:] != size)) if (sizes[start:] != size).any() \
            else len(packets)
        n_s = (size - 10) // 12
        if (size - 10) % 12 == 0 and 1 <= n_s <= MAX_SAMPLES_PER_PACKET and stop - start > 1:
            rec = np.frombuffer(b"".join(d for _, d in packets[start:stop]),
                                dtype=_packet_dtype(n_s))
            if (rec["version"] != PROTOCOL_VERSION).any() or (rec["n"] != n_s).any():
                raise BadInputError("internal packet encoding error")
            t0s.append(np.repeat(rec["t0_us"].astype(np.int64)[:, None], n_s, axis=1))
            raws.append(rec["raw"].reshape(-1, 6))
        else:
            for _, data in packets[start:stop]:
                pk = decode_packet(data)
                t0s.append(np.full((1, pk.n), pk.t0_us, dtype=np.int64))
                raws.append(pk.raw)
        start = stop
    t0_us = np.concatenate([x.ravel() for x in t0s])
    idx = np.concatenate([np.tile(np.arange(x.shape[1]), x.shape[0]) for x in t0s])
    # Unwrap the 32-bit microsecond clock.
    wraps = np.cumsum(np.concatenate([[0], np.diff(t0_us) < -(2**31)]))
    t_s = (t0_us + wraps * 2**32) / 1e6 + idx / fs
    acc, gyr = raw_to_physical(np.concatenate(raws), scales)
    return t_s, acc, gyr


def _gaps(t: np.ndarray, fs: float) -> list[dict[str, Any]]:
    """Holes in the decoded stream as session gap events (start/end = good samples around)."""
    if t.size < 2:
        return []
    dt = np.diff(t)
    holes = np.flatnonzero(dt > 1.5 / fs)
    return [{"kind": "gap", "start_s": float(t[i]), "end_s": float(t[i + 1]),
             "lost_samples": round((t[i + 1] - t[i]) * fs) - 1} for i in holes.tolist()]


def _events_list(rows: dict[str, np.ndarray], turns: list[dict[str, float]]) -> list[dict[str, Any]]:
    out = []
    for j in np.flatnonzero(rows["complete"]).tolist():
        ic, fc = float(rows["ic_s"][j]), float(rows["fc_s"][j])
        nxt = float(rows["next_ic_s"][j])
        nxt_same = float(rows["stride_end_s"][j])
        out.append({
            "side": str(rows["side"][j]),
            "ic_s": round(ic, 6),
            "fc_s": round(fc, 6),
            "next_ic_s": round(nxt, 6) if np.isfinite(nxt) else None,
            "stance_s": round(fc - ic, 6),
            "step_s": round(nxt - ic, 6) if np.isfinite(nxt) else None,
            "stride_s": round(nxt_same - ic, 6) if np.isfinite(nxt_same) else None,
            "cpd_ic_deg": round(float(rows["cpd_ic_deg"][j]), 6),
            "cpd_standing_deg": round(float(rows["cpd_standing_deg"][j]), 6),
            "target_cpd_deg": round(float(rows["target_cpd_deg"][j]), 6),
            "obliquity_at_ic_deg": round(float(rows["obliquity_at_ic_deg"][j]), 6),
            "in_turn": any(tr["start_s"] - 0.5 < fc and ic < tr["end_s"] + 0.5 for tr in turns),
        })
    return out


# --------------------------------------------------------------------------- session output
def write_session(sim: SimResult, path: str | os.PathLike[str], *, subject: str | None = None,
                  notes: str | None = None) -> None:
    """Write a simulation as a session (gaitimu.sessions): packets, samples, gaps, truth."""
    from gaitimu.sessions import SessionWriter

    cfg = sim.config
    meta = {
        "source": "simulate",
        "sensor": {"name": "gaitimu-sim", "address": None, "model": "simulated sacral IMU",
                   "firmware": None, "protocol_version": PROTOCOL_VERSION},
        "sample_rate_hz": float(cfg.sampling_rate_hz),
        "acc_range_g": float(cfg.acc_range_g),
        "gyr_range_dps": float(cfg.gyr_range_dps),
        "axes": DEFAULT_AXES,
        "subject": subject or f"sim-{cfg.activity}-seed{cfg.seed}",
        "activity": cfg.activity,
        "notes": notes,
        "calibration": None,
        "simulation": sim.truth["config"],
    }
    with SessionWriter(path, meta) as w:
        if sim.packets:
            w.write_packets(np.array([p[0] for p in sim.packets]), [p[1] for p in sim.packets])
        for gap in sim.truth["gaps"]:
            w.add_event(gap)
        w.write_samples(sim.t_s, sim.acc, sim.gyr)
        w.write_truth(sim.truth, sim.truth_arrays)


def summary(sim: SimResult) -> str:
    """One paragraph describing a simulation (for the CLI)."""
    tr = sim.truth
    ev = tr["events"]
    n_l = sum(e["side"] == "L" for e in ev)
    n_r = len(ev) - n_l
    cpd = tr["cpd_mean_deg"]
    mis = tr["misalignment"]["angle_deg"]

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    return (
        f"Simulated {sim.duration_s:g} s of {tr['activity']} at {sim.sample_rate_hz:g} Hz "
        f"({tr['cadence_spm']:g} spm, {tr['speed_mps']:g} m/s, duty factor {tr['duty_factor']:.2f}, "
        f"{tr['standing_s'][1]:g} s standing first): {n_l} left and {n_r} right stances, true mean "
        f"CPD vs standing L {fmt(cpd['L'])} deg, R {fmt(cpd['R'])} deg; {len(tr['turns'])} turns; "
        f"{len(sim.packets)} packets kept, {len(tr['lost_packets'])} lost "
        f"({tr['lost_samples']} samples); mounting misalignment {mis:.1f} deg; "
        f"{tr['n_samples_clipped']} clipped values."
    )
