"""What a simulation is asked for and what it returns: `SimConfig`, `SimResult`, validation.

The per-activity defaults live here too: every other module of the simulator reads its
parameters from a validated, resolved config (`validate`), never from the caller directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gaitimu.consts import ACTIVITIES, SELF_TESTS
from gaitimu.errors import BadInputError
from gaitimu.sensors.protocol import MAX_SAMPLES_PER_PACKET, Scales

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


#: Default drop (deg) of the unsupported side per self-test when no ``cpd_*_deg`` is given:
#: a small drop, as in people without a Trendelenburg sign (docs/simulator.md, Self-tests).
SELFTEST_CPD_DEG = {"single-leg-stance": 1.0, "single-leg-squat": 2.0}
#: `SimConfig` fields of the self-tests only, and of gait only: each kind of session keeps
#: only its own in the resolved config (the truth's ``config`` and ``meta.simulation``).
SELFTEST_FIELDS = ("hold_s", "reps", "rest_s", "touchdown_at_s", "sway_deg", "squat_depth_m",
                   "squat_down_s", "squat_up_s", "squat_pause_s", "weight_shift_m")
GAIT_FIELDS = ("cadence_spm", "speed_mps", "cpd_sd_deg", "fatigue_cpd_deg", "stride_cv",
               "amplitude_cv", "turn_every_s", "impact_g")


@dataclass(frozen=True)
class SimConfig:
    """Everything `simulate` needs; every field has a sensible default.

    Parameters
    ----------
    activity
        ``"walk"``, ``"run"`` or a self-test (``"single-leg-stance"``, ``"single-leg-squat"``;
        docs/self_tests.md).
    duration_s
        Total session length in s, including the leading quiet standing. Self-tests: ignored,
        the protocol sets the length (`simulate` returns the config with the real length).
    cpd_left_deg, cpd_right_deg
        Mean ``cpd_standing_deg`` of the left / right stances (docs/contracts.md, Signs). None:
        the activity default (walk 3, run 5 deg). Allowed -10..20 deg with a sum >= 0; a
        negative value comes from a gait-long obliquity offset (docs/simulator.md).
        Self-tests: the drop of the unsupported side while standing on that leg (mean over
        the stable part of each hold, or at the bottom of the squats, mean over the reps);
        default 1 deg (stance), 2 deg (squat); -10..20 deg each.
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
        Quiet standing at the end, s (0: the session ends while walking/running). Self-tests:
        more two-legged standing after the protocol's last phase (always >= 3 s).
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
    hold_s, reps, rest_s
        Self-tests (docs/self_tests.md): planned hold per leg (single-leg stance, s), squats
        per leg, and rest between the two legs (s). ``standing_s`` is the two-legged standing
        before each leg, ``first_side`` the first standing leg.
    touchdown_at_s
        Single-leg stance: the lifted foot touches down this many seconds after the first
        lift-off, for 0.5-1 s, then lifts again (None: no early touch-down).
    sway_deg
        Postural sway in single-leg stance: SD of the frontal (obliquity) and sagittal (tilt)
        sway, deg; less on two feet, more right after lift-off (docs/simulator.md).
    squat_depth_m, squat_down_s, squat_up_s, squat_pause_s
        Single-leg squat: mean vertical excursion of the sacrum, and the tempo (down, up,
        pause between reps), s.
    weight_shift_m
        How far the pelvis moves towards the standing leg before lift-off, m.
    """

    activity: Literal["walk", "run", "single-leg-stance", "single-leg-squat"] = "walk"
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
    hold_s: float = 30.0
    reps: int = 5
    rest_s: float = 10.0
    touchdown_at_s: float | None = None
    sway_deg: float = 0.3
    squat_depth_m: float = 0.15
    squat_down_s: float = 1.5
    squat_up_s: float = 1.5
    squat_pause_s: float = 1.0
    weight_shift_m: float = 0.07

    def resolved(self) -> dict[str, Any]:
        """The config as a JSON-able dict with activity defaults filled in."""
        d = dataclasses.asdict(self)
        if self.activity in SELF_TESTS:
            for key in GAIT_FIELDS:
                d.pop(key)
            for key in ("cpd_left_deg", "cpd_right_deg"):
                if d[key] is None:
                    d[key] = SELFTEST_CPD_DEG[self.activity]
            d["samples_per_packet"] = self._samples_per_packet()
            return d
        for key in SELFTEST_FIELDS:
            d.pop(key)
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
        d["samples_per_packet"] = self._samples_per_packet()
        return d

    def _samples_per_packet(self) -> int:
        if self.samples_per_packet is not None:
            return self.samples_per_packet
        return int(np.clip(round(self.sampling_rate_hz / 50.0), 1, MAX_SAMPLES_PER_PACKET))

    @property
    def scales(self) -> Scales:
        """The sensor's full-scale ranges (quantisation step and saturation)."""
        return Scales(acc_range_g=self.acc_range_g, gyr_range_dps=self.gyr_range_dps)


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
        ``lost_packets``, ``gaps``, ``config`` (docs/simulator.md lists everything). A
        self-test has ``self_test`` (holds or reps, the protocol; docs/self_tests.md) and
        no stances.
    truth_arrays
        True signals on the full sample grid: ``t_s``, ``obliquity_deg``, ``tilt_deg``,
        ``rotation_deg``, ``heading_deg``, ``phase``, ``vertical_m``, ``ml_m``, ``ap_m`` (pelvis
        origin, path frame, right/up/forward +), ``sensor_vertical_m``, ``sensor_ml_m``,
        ``sensor_ap_m`` (the sensor point, i.e. the sacrum, relative to quiet standing),
        ``speed_mps``. Self-tests: no ``phase``; ``stance_gate`` (+1 on the left leg, -1 on
        the right, 0 on both feet).
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


def validate(cfg: SimConfig) -> dict[str, Any]:
    """Check every field against its documented range; the config resolved (`SimConfig.resolved`).

    Raises `BadInputError` naming the first field out of range, so the CLI can print one line.
    """
    if cfg.activity not in ACTIVITIES + SELF_TESTS:
        raise BadInputError(f"activity {cfg.activity!r} is not one of "
                            f"{', '.join(ACTIVITIES + SELF_TESTS)}")
    r = cfg.resolved()
    need(50 <= cfg.sampling_rate_hz <= 400, f"sampling_rate_hz {cfg.sampling_rate_hz} outside 50-400 Hz")
    _validate_sensor(cfg, r)
    if cfg.activity in SELF_TESTS:
        _validate_selftest(cfg, r)
        return r
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
    need(0 <= cfg.impact_g <= 10, "impact_g outside 0-10 g")
    need(cfg.turn_every_s is None or cfg.turn_every_s > 0, "turn_every_s must be > 0")
    need(min(r["cpd_sd_deg"], r["stride_cv"], r["amplitude_cv"]) >= 0, "SDs and CVs must be >= 0")
    need(r["stride_cv"] <= 0.1, "stride_cv must be <= 0.1")
    return r


def need(ok: bool, what: str) -> None:
    """Raise `BadInputError` with ``what`` unless ``ok``."""
    if not ok:
        raise BadInputError(what)


def _validate_sensor(cfg: SimConfig, r: dict[str, Any]) -> None:
    """The sensor and radio fields, common to gait and self-tests."""
    need(0 <= cfg.packet_loss < 0.9, f"packet_loss {cfg.packet_loss} outside [0, 0.9)")
    need(cfg.packet_loss_burst >= 1, "packet_loss_burst (mean burst length) must be >= 1")
    need(0 <= cfg.misalignment_random_deg <= 90, "misalignment_random_deg outside 0-90 deg")
    need(cfg.first_side in ("L", "R"), "first_side must be 'L' or 'R'")
    need(1 <= r["samples_per_packet"] <= MAX_SAMPLES_PER_PACKET,
         f"samples_per_packet must be 1..{MAX_SAMPLES_PER_PACKET}")


def _between(value: Any, lo: float, hi: float) -> bool:
    return isinstance(value, (int, float)) and bool(np.isfinite(value)) and lo <= value <= hi


def _validate_selftest(cfg: SimConfig, r: dict[str, Any]) -> None:
    """The self-test fields (docs/self_tests.md); the CLI flag is named with each field."""
    need(_between(cfg.hold_s, 5, 600), f"hold_s (--hold) {cfg.hold_s:g} outside 5-600 s")
    need(isinstance(cfg.reps, (int, np.integer)) and 1 <= cfg.reps <= 30,
         f"reps (--reps) {cfg.reps} outside 1-30")
    need(_between(cfg.rest_s, 0, 600), f"rest_s {cfg.rest_s:g} outside 0-600 s")
    need(_between(cfg.trailing_standing_s, 0, 3600),
         f"trailing_standing_s {cfg.trailing_standing_s:g} outside 0-3600 s")
    need(_between(cfg.standing_s, 1, 600),
         f"standing_s (--standing) {cfg.standing_s:g} outside 1-600 s: the drop needs the "
         "two-legged standing before each leg")
    for side in ("left", "right"):
        v = r[f"cpd_{side}_deg"]
        need(_between(v, -10, 20), f"cpd_{side}_deg (--cpd-{side}) {v:g} outside -10..20 deg")
    need(_between(cfg.sway_deg, 0, 3), f"sway_deg (--sway) {cfg.sway_deg:g} outside 0-3 deg")
    need(_between(cfg.weight_shift_m, 0, 0.15),
         f"weight_shift_m {cfg.weight_shift_m:g} outside 0-0.15 m")
    need(_between(cfg.squat_depth_m, 0.03, 0.4),
         f"squat_depth_m (--depth) {cfg.squat_depth_m:g} outside 0.03-0.4 m")
    need(_between(cfg.squat_down_s, 0.5, 5) and _between(cfg.squat_up_s, 0.5, 5)
         and _between(cfg.squat_pause_s, 0.2, 10),
         "squat tempo outside 0.5-5 s down and up, 0.2-10 s pause")
    td = cfg.touchdown_at_s
    if td is not None:
        need(cfg.activity == "single-leg-stance",
             "touchdown_at_s (--touchdown-at) applies to single-leg-stance only")
        # the hold goes on after the re-lift: settling (2 s) and >= 0.7 s of stable hold
        need(_between(td, 0.5, cfg.hold_s - 6),
             f"touchdown_at_s (--touchdown-at) {td:g} s is not inside the first hold: it must "
             f"be 0.5-{cfg.hold_s - 6:g} s after lift-off (hold {cfg.hold_s:g} s; the foot lifts "
             "again and the hold goes on for a while)")

