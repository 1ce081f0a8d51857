"""Orientation and alignment of a sacral IMU to the pelvis; pelvic obliquity, tilt and yaw.

Method (see docs/coordinate_system.md for frames and signs):

1. Nominal axis map: ``consts.parse_axes(axes)`` gives ``R_nominal_sensor`` (sensor ->
   declared (up, right, forward) frame).
2. Orientation of the sensor in an earth frame (z up, heading arbitrary) by 6D sensor fusion
   with gyroscope bias estimation: VQF (Laidig & Seel, Information Fusion 2023,
   doi:10.1016/j.inffus.2022.10.014). With quiet standing, the gyroscope bias is the mean
   rate in standing and the online filter ``vqf.VQF.updateBatch`` runs (2.5x faster than
   the offline one; dynamic obliquity error on the reference data 0.12/0.14 deg walk/run
   vs 0.07/0.13 offline); without standing, a bias prior from stride-mean horizontal rates
   and ``vqf.offlineVQF`` (acausal, far better in motion: 0.19/0.38 deg vs 1.1/2.2 deg
   online, reference trials cut to their gait part).
3. Mounting correction, up to any rotation (the sensor may sit 30 degrees or more off on any
   axis):

   * *up*: the gravity direction during quiet standing (detected: low gyroscope and
     accelerometer variation for >= `MIN_STANDING_S`); without standing, the mean
     specific-force direction over the movement (then the standing neutral is unknown and
     ``info["standing"]`` is None).
   * *right* (medio-lateral): from the left/right mirror symmetry of gait. One step later
     the same movement happens mirrored in the sagittal plane, so along the ML axis the
     acceleration changes sign from step to step while the angular rate repeats; along the
     AP axis it is the other way round. The horizontal direction that best shows this
     pattern is the ML axis (eigenvector of a 2x2 symmetric matrix built from step-lagged
     products), estimated on straight gait only (turns are not mirror-symmetric), with a
     jackknife standard error over stride-long blocks. An asymmetric gait biases it by a
     few degrees (about 7 deg on the virtual runner with a 3.6 deg CPD asymmetry).
   * *the declared axis map is a prior*: the gait estimate may turn the declared heading by
     at most `HEADING_CONE_DEG`; inside the cone it is applied as a posterior mean
     (Gaussian prior `HEADING_PRIOR_SD_DEG` around the declared heading, the estimate's
     standard error), so an uncertain estimate is mostly not applied. ``info["heading"]``.
   * *which way is forward*: ML is found up to sign, so forward is first taken nearest the
     declared forward. Turning it around (a sensor worn back to front) needs both
     physical cues of `_forward_cues` (the order of forward acceleration and braking around
     the loading peak, walking and running each with its own physics; the phase of lateral
     acceleration against the pelvic rotation) to point backward with |t| >= 3 and the same
     sign in >= 75 % of 8-step clusters (`_decide_forward`). Otherwise the declared direction
     is kept, and trusted when the primary cue (braking order) supports it with t >= 3 or no
     cue contradicts it with t <= -3; else ``info["side_trust"]`` is "uncertain" and no
     stance gets a side. ``axes="auto"``
     (unknown mounting) and a sensor upside down relative to its map: the primary cue
     decides, and the sides are withheld unless its |t| >= 3 and no cue contradicts it as
     strongly. ``info["forward"]``.

4. Obliquity is the elevation of the pelvis ML axis: ``asin(unit(left) . up)`` in degrees,
   > 0 when the LEFT hemipelvis is higher. It does not depend on heading, so heading drift
   of 6D fusion and turns do not leak into it. Tilt and yaw are the other two angles of the
   Cardan sequence yaw -> obliquity -> tilt.

Because the standing pose defines the body frame, angles are relative to the standing
neutral: a pelvis that is (anatomically) 3 degrees oblique in quiet standing reads 0 there.
A sensor cannot tell its own mounting error from a standing obliquity; the CPD definitions
only use differences, so they are unaffected.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import vqf

from gaitimu.analysis.bouts import StepSettings, StepStructure, find_steps
from gaitimu.analysis.conditioning import DEFAULT_MAX_BRIDGE_GAP_S
from gaitimu.analysis.filters import bandpass, moving_mean, runs
from gaitimu.consts import BODY_ACC, BODY_GYR, DEFAULT_AXES, G, is_auto_axes, parse_axes
from gaitimu.errors import BadInputError, NoGaitError

log = logging.getLogger(__name__)

__all__ = [
    "ONLINE_TAU_ACC_S",
    "SIGNAL_COLUMNS",
    "Alignment",
    "AlignmentSettings",
    "OnlinePelvisSignals",
    "align_to_pelvis",
    "detect_standing",
    "online_fusion",
    "pelvis_angles",
]

# Accelerometer time constant of the online fusion (VQF default 3 s). Gait accelerations
# average out within a stride, but turns and speed changes push the specific force off the
# vertical for seconds; a longer constant lets the (bias-corrected) gyroscope carry the
# attitude through them. Simulated 90 s sessions with a turn every 15 s: dynamic obliquity
# error 0.75 -> 0.29 deg (run), 0.26 -> 0.21 deg (walk); reference trials unchanged
# (0.10-0.15 deg).
ONLINE_TAU_ACC_S = 8.0
# Heading (see `align_to_pelvis`): the declared axis map is a prior. Gait may turn the heading
# by at most HEADING_CONE_DEG: a sensor declared correctly may sit 45 deg off by how it was
# put on, plus up to 20 deg by how a sensor sits on a sacrum (mounting model of the
# virtual_imu_dev data); an estimate further off (towards 90 deg, the other horizontal axis)
# is not trusted. Inside the cone the estimate is applied as the posterior mean under a
# Gaussian prior of HEADING_PRIOR_SD_DEG around the declared heading with the estimate's
# jackknife standard error (stride-long blocks), so an uncertain estimate is mostly not
# applied. Both are priors stated up front, not fitted to data.
HEADING_CONE_DEG = 65.0
HEADING_PRIOR_SD_DEG = 15.0
# Forward direction (`_forward_cues`, `_decide_forward`): reversing the declared forward needs
# every cue at |t| >= FORWARD_REVERSE_T with the same sign in >= FORWARD_AGREE_FRACTION of
# the clusters of CUE_CLUSTER_STEPS steps.
FORWARD_REVERSE_T = 3.0
FORWARD_AGREE_FRACTION = 0.75
CUE_CLUSTER_STEPS = 8
# Quiet standing (`detect_standing`): every gyroscope axis varies less than
# STANDING_GYR_STD_MAX_DPS and every accelerometer axis less than STANDING_ACC_STD_MAX_MPS2
# over 0.5 s, for at least MIN_STANDING_S, with the gravity direction within
# STANDING_MAX_TILT_DEG of the run's median. They admit real standing sway (pelvis rates
# of a few deg/s in the IPOL recordings) and are far below gait (tens of deg/s, m/s^2).
MIN_STANDING_S = 1.0
STANDING_GYR_STD_MAX_DPS = 5.0
STANDING_ACC_STD_MAX_MPS2 = 0.25
STANDING_MAX_TILT_DEG = 2.0
# A quiet period whose gravity is further than this from the declared up axis is not
# standing (a sensor lying on a table is quiet too); ignored with ``axes="auto"``.
STANDING_MAX_OFF_UP_DEG = 60.0
#: Data on each side of a gap that the restart of the filter looks at (`restart_filter`):
#: the acausal estimate of the inclination after the gap needs some seconds. 8 s is as
#: good as 20 s on simulated walks and runs (0.62 / 0.45 deg vs 0.60 / 0.66 deg largest
#: difference from the undamaged session in the 10 s after a 0.15 s hole; 4 s: 1.0 / 0.75)
#: and is the extra delay of the live view after a hole.
REINIT_WINDOW_S = 8.0
#: Stances within this many accelerometer time constants after the online filter restarted
#: at a gap are not used (see `fuse_segments`).
SETTLE_TAU = 2.0
#: Only a restart at a gap longer than this (s) starts a settling interval: the longest
#: hole the event detector bridges. After shorter holes (a lossy link) the restart error
#: is small and decays within seconds (`fuse_segments`).
SETTLE_AFTER_GAP_S = DEFAULT_MAX_BRIDGE_GAP_S


@dataclass(frozen=True)
class AlignmentSettings:
    """Parameters of the alignment (`align_to_pelvis`) and of the orientation fusion
    (`fuse_segments`, `OnlinePelvisSignals`); defaults: the module constants.

    Attributes
    ----------
    min_standing_s, standing_gyr_std_max_dps, standing_acc_std_max_mps2, standing_max_tilt_deg
        Quiet standing (`detect_standing`; `MIN_STANDING_S`, `STANDING_GYR_STD_MAX_DPS`,
        `STANDING_ACC_STD_MAX_MPS2`, `STANDING_MAX_TILT_DEG`).
    standing_max_off_up_deg : float
        Largest angle between standing gravity and the declared up axis
        (`STANDING_MAX_OFF_UP_DEG`).
    heading_cone_deg, heading_prior_sd_deg : float
        Largest heading correction from gait, and the prior's SD around the declared
        heading (`HEADING_CONE_DEG`, `HEADING_PRIOR_SD_DEG`).
    forward_reverse_t, forward_agree_fraction : float; cue_cluster_steps : int
        Turning the declared forward around (`_decide_forward`; `FORWARD_REVERSE_T`,
        `FORWARD_AGREE_FRACTION`, `CUE_CLUSTER_STEPS`).
    online_tau_acc_s : float
        Accelerometer time constant of the online VQF (`ONLINE_TAU_ACC_S`).
    reinit_window_s : float
        Data on each side of a gap for the filter restart (`REINIT_WINDOW_S`).
    settle_tau, settle_after_gap_s : float
        Settling interval after a restart, in accelerometer time constants, and the
        shortest gap that starts one, s (`SETTLE_TAU`, `SETTLE_AFTER_GAP_S`).
    steps : StepSettings
        Of `gaitimu.analysis.bouts.find_steps`, which gives the gait the heading and the
        forward cues are estimated on.
    """

    min_standing_s: float = MIN_STANDING_S
    standing_gyr_std_max_dps: float = STANDING_GYR_STD_MAX_DPS
    standing_acc_std_max_mps2: float = STANDING_ACC_STD_MAX_MPS2
    standing_max_tilt_deg: float = STANDING_MAX_TILT_DEG
    standing_max_off_up_deg: float = STANDING_MAX_OFF_UP_DEG
    heading_cone_deg: float = HEADING_CONE_DEG
    heading_prior_sd_deg: float = HEADING_PRIOR_SD_DEG
    forward_reverse_t: float = FORWARD_REVERSE_T
    forward_agree_fraction: float = FORWARD_AGREE_FRACTION
    cue_cluster_steps: int = CUE_CLUSTER_STEPS
    online_tau_acc_s: float = ONLINE_TAU_ACC_S
    reinit_window_s: float = REINIT_WINDOW_S
    settle_tau: float = SETTLE_TAU
    settle_after_gap_s: float = SETTLE_AFTER_GAP_S
    steps: StepSettings = field(default_factory=StepSettings)


_DEFAULTS = AlignmentSettings()

# Column order is relied on: `OnlinePelvisSignals.update` and live/stream.py fill blocks of
# this layout by position.
SIGNAL_COLUMNS = (
    "t_s",
    *BODY_ACC,
    *BODY_GYR,
    "obliquity_deg",
    "tilt_deg",
    "yaw_deg",
)


class Alignment(NamedTuple):
    """Result of `align_to_pelvis`.

    Attributes
    ----------
    body : DataFrame
        One row per sample: ``t_s``; ``acc_is, acc_ml, acc_pa`` (m/s^2, specific force
        incl. gravity, so ``acc_is`` ~ +9.81 at rest); ``gyr_is, gyr_ml, gyr_pa`` (deg/s,
        gyroscope bias removed as estimated by the fusion); ``obliquity_deg`` (> 0 = left
        hemipelvis higher), ``tilt_deg`` (> 0 = anterior tilt, forward axis below the
        horizontal), ``yaw_deg`` (heading, unwrapped, relative to the first sample; drifts,
        6D fusion has no absolute heading).
    info : dict
        ``R_body_sensor`` (3x3 list, v_body = R @ v_sensor, the full map incl. the
        declared axes), ``R_correction`` (3x3 list, declared frame -> pelvis frame),
        ``correction_deg`` {"angle", "about_is", "about_ml", "about_pa"} (the correction
        as a rotation angle and as its rotation vector in degrees, pelvis frame),
        ``standing`` ({"start_s", "end_s"} or None), ``standing_obliquity_deg``,
        ``standing_tilt_deg`` (NaN without standing), ``up_source`` ("standing" or "gait"),
        ``heading_source`` ("gait symmetry", "declared axes" or "gait (axes auto)"),
        ``step_s`` (median step time used for the heading), ``heading_confidence`` (0-1),
        ``heading`` ({source, estimate_deg, se_deg, applied_deg, cone_deg, note}: the gait
        estimate of the heading relative to the declared forward, its standard error and
        what was applied), ``forward`` ({decision, reversed, margin, cues, why}: each
        forward cue with its mean, t statistic, steps and cluster agreement),
        ``side_trust`` ("ok", or "uncertain": the forward direction is not established and
        no side may be given), ``forward_hint`` (-1 when the kept forward axis most likely
        points backward, for event timing only; else 1), ``forward_evidence`` (combined t of the forward cues for the
        final direction), ``gyr_bias_prior_dps`` (bias removed before fusion:
        the standing mean, or stride-mean horizontal rate without standing), ``fusion``
        ("online" or "offline" VQF), ``warnings`` (list of str).
    """

    body: pd.DataFrame
    info: dict


# --------------------------------------------------------------------------- helpers
def _moving_std(x: np.ndarray, n: int) -> np.ndarray:
    m = moving_mean(x, n)
    m2 = moving_mean(x * x, n)
    return np.sqrt(np.maximum(m2 - m * m, 0.0))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(n, 4) quaternions [w, x, y, z] -> (n, 3, 3) rotation matrices."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    r = np.empty((q.shape[0], 3, 3))
    r[:, 0, 0] = 1 - 2 * (y * y + z * z)
    r[:, 0, 1] = 2 * (x * y - w * z)
    r[:, 0, 2] = 2 * (x * z + w * y)
    r[:, 1, 0] = 2 * (x * y + w * z)
    r[:, 1, 1] = 1 - 2 * (x * x + z * z)
    r[:, 1, 2] = 2 * (y * z - w * x)
    r[:, 2, 0] = 2 * (x * z - w * y)
    r[:, 2, 1] = 2 * (y * z + w * x)
    r[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return r


def _rotate_axes(q: np.ndarray, s_axes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Earth-frame z of the up axis, the right axis, and z of the forward axis.

    ``q`` (n, 4) [w, x, y, z] rotates sensor -> earth (z up); ``s_axes`` columns are the
    pelvis up, right and forward axes in sensor coordinates. Only the rotation-matrix
    entries that are needed are formed (no (n, 3, 3) array).
    """
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    # third row of R (earth z of each sensor axis)
    r20 = 2 * (x * z - w * y)
    r21 = 2 * (y * z + w * x)
    r22 = 1 - 2 * (x * x + y * y)
    up_z = r20 * s_axes[0, 0] + r21 * s_axes[1, 0] + r22 * s_axes[2, 0]
    fwd_z = r20 * s_axes[0, 2] + r21 * s_axes[1, 2] + r22 * s_axes[2, 2]
    sr = s_axes[:, 1]
    right = np.empty((q.shape[0], 3))
    right[:, 2] = r20 * sr[0] + r21 * sr[1] + r22 * sr[2]
    del r20, r21, r22
    right[:, 0] = (
        (1 - 2 * (y * y + z * z)) * sr[0]
        + 2 * (x * y - w * z) * sr[1]
        + 2 * (x * z + w * y) * sr[2]
    )
    right[:, 1] = (
        2 * (x * y + w * z) * sr[0]
        + (1 - 2 * (x * x + z * z)) * sr[1]
        + 2 * (y * z - w * x) * sr[2]
    )
    return up_z, right, fwd_z


def _rotvec_deg(r: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, degrees) of a 3x3 rotation matrix."""
    cos_a = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos_a)
    if angle < 1e-9:
        return np.zeros(3)
    if np.pi - angle < 1e-6:
        # 180 degrees: axis from the symmetric part.
        axis = np.sqrt(np.maximum((np.diag(r) + 1.0) / 2.0, 0.0))
        k = int(np.argmax(axis))
        axis[np.arange(3) != k] = np.sign(r[k, np.arange(3) != k] + 1e-12) * axis[np.arange(3) != k]
        return np.degrees(angle) * _unit(axis)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    return np.degrees(angle) * axis / (2.0 * np.sin(angle))


# --------------------------------------------------------------------------- standing
def detect_standing(
    acc: np.ndarray,
    gyr: np.ndarray,
    *,
    sampling_rate_hz: float,
    valid: np.ndarray | None = None,
    settings: AlignmentSettings | None = None,
) -> tuple[int, int] | None:
    """Find quiet standing: low gyroscope and accelerometer variation for >= ``min_standing_s``.

    Quiet = every gyroscope axis varies less than ``standing_gyr_std_max_dps`` and every
    accelerometer axis less than ``standing_acc_std_max_mps2`` over a centred 0.5 s window
    (`AlignmentSettings`; None: the defaults), and the specific force is within 1.5 m/s^2
    of g. The longest quiet run wins (ties: the earliest); within it, only the longest
    stretch whose 0.5 s mean gravity direction stays within ``standing_max_tilt_deg`` of
    the run's median direction is kept (postural sway passes, a slow posture change does
    not). The thresholds admit real standing sway (pelvis rates of a few deg/s in the IPOL
    recordings) and are far below gait (tens of deg/s, m/s^2). The caller checks that
    gravity is near the declared up axis (a sensor lying on a table is quiet too).

    Returns
    -------
    (start, end) sample indices (end exclusive) of the quiet run trimmed by 0.25 s at each
    end, or None.
    """
    cfg = _DEFAULTS if settings is None else settings
    fs = float(sampling_rate_hz)
    win = max(round(0.5 * fs), 3)
    quiet = (_moving_std(gyr, win).max(axis=1) < cfg.standing_gyr_std_max_dps) & (
        _moving_std(acc, win).max(axis=1) < cfg.standing_acc_std_max_mps2
    )
    acc_mean = moving_mean(acc, win)
    quiet &= np.abs(np.linalg.norm(acc_mean, axis=1) - G) < 1.5
    if valid is not None:
        quiet &= np.asarray(valid, dtype=bool)
    starts, ends = runs(quiet)
    if starts.size == 0:
        return None
    lengths = ends - starts
    k = int(np.argmax(lengths))
    if lengths[k] < cfg.min_standing_s * fs:
        return None
    # Sway is allowed, a slow posture change is not: keep the part of the run whose
    # (0.5 s mean) gravity direction stays within the tilt limit of the run's median.
    s0, e0 = int(starts[k]), int(ends[k])
    direction = _unit(acc_mean[s0:e0])
    ref = _unit(np.median(direction, axis=0))
    steady = np.zeros_like(quiet)
    steady[s0:e0] = direction @ ref > np.cos(np.radians(cfg.standing_max_tilt_deg))
    starts, ends = runs(steady)
    lengths = ends - starts
    k = int(np.argmax(lengths))
    if lengths[k] < cfg.min_standing_s * fs:
        return None
    trim = round(0.25 * fs)
    s, e = int(starts[k]), int(ends[k])
    if e - s > 2 * trim + win:
        s, e = s + trim, e - trim
    return s, e


# --------------------------------------------------------------------------- heading
def _step_lag(vertical: np.ndarray, fs: float) -> int | None:
    """Step period (samples) of a window of vertical acceleration from its autocorrelation."""
    x = vertical - vertical.mean()
    n = x.size
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    if ac[0] <= 0:
        return None
    ac = ac / ac[0]
    lo, hi = int(0.22 * fs), min(int(1.1 * fs), n // 3)
    if hi <= lo + 2:
        return None
    seg = ac[lo:hi]
    peaks = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])) + 1
    if peaks.size == 0:
        return None
    best = seg[peaks].max()
    if best < 0.2:
        return None
    first = peaks[seg[peaks] >= 0.5 * best][0]
    return lo + int(first)


def _gait_segments(st, fs: float, ok: np.ndarray, window_s: float = 8.0) -> list[tuple[int, int]]:
    """Straight-gait stretches (gait, not turning, valid) of >= 2 s, cut into <= `window_s`."""
    mask = st.gait_mask & ~st.turning & ok
    w = round(window_s * fs)
    out: list[tuple[int, int]] = []
    for s0, e0 in zip(*runs(mask), strict=True):
        if e0 - s0 < int(2.0 * fs):
            continue
        k = max(int(np.ceil((e0 - s0) / w)), 1)
        bounds = np.linspace(s0, e0, k + 1).astype(int)
        out.extend((int(a), int(b)) for a, b in itertools.pairwise(bounds))
    return out


def _ml_axis_from_symmetry(
    acc_h: np.ndarray,
    gyr_h: np.ndarray,
    vertical: np.ndarray,
    chunks: list[tuple[int, int]],
    fs: float,
    max_chunks: int = 64,
) -> tuple[np.ndarray | None, float, float, float]:
    """ML direction in a 2D horizontal basis from step-to-step mirror symmetry.

    Returns (unit 2-vector or None, confidence 0-1, median step time s, jackknife standard
    error of the direction in degrees over stride-long blocks; inf with fewer than 2).
    """
    if len(chunks) > max_chunks:
        # The mounting is one fixed rotation: a spread sample of the gait estimates it as
        # well as all of it (64 chunks = up to ~8.5 min of gait) and keeps 1 h cheap.
        pick = np.unique(np.linspace(0, len(chunks) - 1, max_chunks).round().astype(int))
        chunks = [chunks[i] for i in pick]
    mats = []  # one matrix per stride-long block, normalised by its chunk's energy
    steps = []
    for c0, c1 in chunks:
        sl = slice(c0, c1)
        lag = _step_lag(vertical[sl], fs)
        if lag is None:
            continue
        a = acc_h[sl] - acc_h[sl].mean(axis=0)
        g = gyr_h[sl] - gyr_h[sl].mean(axis=0)
        a_s, a_d = a[:-lag] + a[lag:], a[:-lag] - a[lag:]
        g_s, g_d = g[:-lag] + g[lag:], g[:-lag] - g[lag:]
        ta = float(np.sum(a_s * a_s) + np.sum(a_d * a_d))
        tg = float(np.sum(g_s * g_s) + np.sum(g_d * g_d))
        if ta <= 0 or tg <= 0:
            continue
        # ML: acceleration anti-repeats (d), rotation rate repeats (s). Per sample:
        # outer products, summed per stride-long block.
        m = a_s.shape[0]
        blk = max(2 * lag, 1)
        nb = max(m // blk, 1)
        edges = np.linspace(0, m, nb + 1).astype(int)
        for b0, b1 in itertools.pairwise(edges):
            ad, as_, gs, gd = a_d[b0:b1], a_s[b0:b1], g_s[b0:b1], g_d[b0:b1]
            mats.append(
                ((ad.T @ ad - as_.T @ as_) / ta + (gs.T @ gs - gd.T @ gd) / tg) * (nb / 1.0)
            )
        steps.append(lag / fs)
    if not steps:
        return None, 0.0, float("nan"), float("inf")
    mm = np.asarray(mats)
    k = mm.shape[0]
    evals, evecs = np.linalg.eigh(mm.mean(axis=0))
    ml = evecs[:, 1]
    conf = float(np.clip((evals[1] - evals[0]) / 4.0, 0.0, 1.0))
    if k < 2:
        return ml, conf, float(np.median(steps)), float("inf")
    # Jackknife over stride-long blocks: the spread of the leave-one-out directions (an axis
    # is defined mod 180 deg).
    loo = (mm.sum(axis=0)[None] - mm) / (k - 1)
    vecs = np.linalg.eigh(loo)[1][:, :, 1]
    d = np.arctan2(ml[0] * vecs[:, 1] - ml[1] * vecs[:, 0], vecs @ ml)
    d = (d + np.pi / 2) % np.pi - np.pi / 2
    se = float(np.degrees(np.sqrt((k - 1) / k * np.sum((d - d.mean()) ** 2))))
    return ml, conf, float(np.median(steps)), se


def _signed_angle_deg(a: np.ndarray, b: np.ndarray, axis: np.ndarray) -> float:
    """Angle (deg) from unit vector `a` to `b` about `axis` (right-handed)."""
    return float(np.degrees(np.arctan2(np.cross(a, b) @ axis, a @ b)))


def _forward_cues(
    acc_n: np.ndarray,
    gyr_n: np.ndarray,
    up: np.ndarray,
    fwd: np.ndarray,
    st,
    fs: float,
    cfg: AlignmentSettings,
) -> dict[str, dict]:
    """Physical evidence that `fwd` points forward rather than backward.

    Two cues, each invariant to the sensor's heading error and to left/right, each flipping
    sign when forward and right are turned around (180 deg about the vertical). Per step
    (anchor to anchor, turns left out), on 0.3-8 Hz band-passed signals z-scored per bout,
    with a lag of a quarter step (tau):

    * ``braking_order``: the order of forward acceleration and braking around the loading
      peak of the vertical acceleration, ``mean(a_is(t) * (a_fwd(t - tau) - a_fwd(t + tau)))``.
      Walking vaults over the stance leg: the body accelerates forward while it falls onto
      the new foot and brakes right after the loading peak (> 0 when `fwd` is forward on
      all 110 IPOL walks). Running bounces on a spring: braking before mid-stance (the
      loading peak), propulsion after it; the sign is reversed for running bouts.
    * ``rotation_lateral``: the phase of the lateral acceleration against the pelvis
      rotation rate about the vertical, ``mean(g_is(t) * (a_ml(t - tau) - a_ml(t + tau)))``.

    Bouts are taken in segments of <= 48 steps, at most 40 segments spread over the
    recording. Returns ``{name: {"value": mean per-step value, "t": its t statistic over
    steps (> 0 supports `fwd`), "n": steps, "agree": fraction of step clusters (of
    ``cfg.cue_cluster_steps``) with the sign of the mean, "clusters": number of clusters}}``.
    """
    right = np.cross(fwd, up)

    def band(x: np.ndarray) -> np.ndarray:
        return bandpass(x, 0.3, 8.0, sampling_rate_hz=fs, order=2)

    sig = {
        "a_is": acc_n @ up,
        "a_fwd": acc_n @ fwd,
        "a_ml": acc_n @ right,
        "g_is": gyr_n @ up,
    }
    vals: dict[str, list[np.ndarray]] = {"braking_order": [], "rotation_lateral": []}
    # bouts in segments of <= 48 steps; a spread sample of <= 40 segments (~30 min of
    # walking) is plenty to tell forward from backward and keeps 1 h cheap
    segments = []
    for b, act in enumerate(st.activity):
        an_b = st.anchors[st.bout_of_anchor == b]
        k = max(int(np.ceil((an_b.size - 1) / 48)), 1)
        cuts = np.linspace(0, an_b.size - 1, k + 1).round().astype(int)
        segments.extend((act, an_b[c0 : c1 + 1]) for c0, c1 in itertools.pairwise(cuts))
    if len(segments) > 40:
        pick = np.unique(np.linspace(0, len(segments) - 1, 40).round().astype(int))
        segments = [segments[i] for i in pick]
    for act, an in segments:
        if an.size < 3:
            continue
        s0, s1 = int(an[0]), int(an[-1])
        step = float(np.median(np.diff(an)))
        tau = max(round(0.25 * step), 1)
        if s1 - s0 < 4 * tau or s0 - tau < 0 or s1 + tau > acc_n.shape[0]:
            lo, hi = max(s0 - tau, 0), min(s1 + tau, acc_n.shape[0])
            s0, s1 = lo + tau, hi - tau
            if s1 - s0 < 4 * tau:
                continue
        lo, hi = s0 - tau, s1 + tau
        z = {}
        for k, v in sig.items():
            x = band(v[lo:hi]) if hi - lo > 15 else v[lo:hi] - v[lo:hi].mean()
            sd = x[tau:-tau].std()
            z[k] = (x - x[tau:-tau].mean()) / (sd if sd > 0 else 1.0)
        sign = -1.0 if act == "run" else 1.0
        p1 = sign * z["a_is"][tau:-tau] * (z["a_fwd"][: -2 * tau] - z["a_fwd"][2 * tau :])
        p2 = z["g_is"][tau:-tau] * (z["a_ml"][: -2 * tau] - z["a_ml"][2 * tau :])
        # per-step means (anchor to anchor), straight steps only
        rel = an - s0
        keep = ~st.turning[an[:-1]]
        c = np.concatenate([[0.0], np.cumsum(p1)]), np.concatenate([[0.0], np.cumsum(p2)])
        a0 = np.clip(rel[:-1], 0, p1.size - 1)
        a1 = np.clip(rel[1:], a0 + 1, p1.size)
        for name, cs in zip(("braking_order", "rotation_lateral"), c, strict=True):
            v = (cs[a1] - cs[a0]) / (a1 - a0)
            vals[name].append(v[keep])
    out: dict[str, dict] = {}
    for name, parts in vals.items():
        parts = [p for p in parts if p.size]
        v = np.concatenate(parts) if parts else np.zeros(0)
        n = int(v.size)
        if n < 3:
            out[name] = {"value": 0.0, "t": 0.0, "n": n, "agree": 0.0, "clusters": 0}
            continue
        mean = float(v.mean())
        sd = float(v.std(ddof=1))
        t = mean / (sd / np.sqrt(n)) if sd > 0 else 0.0
        # clusters of ~8 consecutive steps within a bout: does every part of the recording
        # say the same?
        cl = []
        for p in parts:
            k = max(round(p.size / cfg.cue_cluster_steps), 1)
            cl.extend(float(q.mean()) for q in np.array_split(p, k) if q.size)
        cl_arr = np.asarray(cl)
        agree = float(np.mean(np.sign(cl_arr) == np.sign(mean))) if cl_arr.size else 0.0
        out[name] = {
            "value": round(mean, 4),
            "t": round(float(t), 2),
            "n": n,
            "agree": round(agree, 3),
            "clusters": int(cl_arr.size),
        }
    return out


def _decide_forward(
    cues: dict[str, dict], *, auto: bool, settings: AlignmentSettings | None = None
) -> tuple[bool, str, float, str]:
    """Whether to turn the forward axis around, from the forward cues.

    ``braking_order`` is the primary cue (physics common to every walker and runner: on
    IPOL it supports the declared forward in 107 of 110 walks); ``rotation_lateral`` differs
    between people (negative in 15 % of IPOL walks) and only corroborates.

    Declared axes are a prior: turning them around needs every cue to point backward with
    t <= -``forward_reverse_t`` (3) and the same sign in >= ``forward_agree_fraction`` of the
    step clusters, over >= 2 clusters (`AlignmentSettings`). Otherwise the declared direction
    is kept; it is trusted
    when the primary cue supports it with t >= 3 or no cue contradicts it with t <= -3, else
    trust is "uncertain" (no side may be given): a primary cue near zero does not outvote a
    clearly contradicting secondary one. With ``auto`` the primary cue decides; trust needs |t| >= 3 and no cue
    contradicting it with |t| >= 3.

    Returns ``(reverse, decision, margin, trust)``: ``margin`` is the primary cue's t in
    favour of the final direction; ``trust`` is "ok" or "uncertain".
    """
    cfg = _DEFAULTS if settings is None else settings
    reverse_t = cfg.forward_reverse_t
    if not cues:
        return False, "declared", 0.0, "uncertain" if auto else "ok"
    primary = cues.get("braking_order") or next(iter(cues.values()))
    t_p = float(primary["t"])
    if auto:
        reverse = t_p < 0
        sign = -1.0 if reverse else 1.0
        contradicted = any(sign * c["t"] <= -reverse_t for c in cues.values())
        trust = "ok" if abs(t_p) >= reverse_t and not contradicted else "uncertain"
        return reverse, "from gait cues (axes auto)", abs(t_p), trust
    strong_back = [
        c["t"] <= -reverse_t
        and c["agree"] >= cfg.forward_agree_fraction
        and c["clusters"] >= 2
        for c in cues.values()
    ]
    if all(strong_back):
        return True, "reversed by gait cues", -t_p, "ok"
    # Keep the declared direction. Trust it when the primary cue clearly supports it, or when
    # no cue clearly contradicts it; otherwise withhold the sides.
    contradicted = any(c["t"] <= -reverse_t for c in cues.values())
    trust = "ok" if t_p >= reverse_t or not contradicted else "uncertain"
    return False, "declared", t_p, trust


# --------------------------------------------------------------------------- angles
def pelvis_angles(r_earth_body: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Obliquity, tilt and yaw (degrees) from pelvis orientations.

    Parameters
    ----------
    r_earth_body : ndarray, shape (n, 3, 3)
        Columns are the pelvis up, right and forward axes in an earth frame with z up.

    Returns
    -------
    obliquity_deg : > 0 when the left hemipelvis is higher (``asin(left . up)``).
    tilt_deg : > 0 for anterior tilt (Cardan yaw -> obliquity -> tilt).
    yaw_deg : heading of the pelvis, unwrapped, arbitrary zero.
    """
    return _angles(r_earth_body[:, 2, 0], r_earth_body[:, :, 1], r_earth_body[:, 2, 2])


def _angles(
    up_z: np.ndarray, right: np.ndarray, fwd_z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    deg = 180.0 / np.pi
    obliquity = np.clip(right[:, 2], -1.0, 1.0)
    np.arcsin(obliquity, out=obliquity)
    obliquity *= -deg
    tilt = np.arctan2(-fwd_z, up_z)
    tilt *= deg
    # Heading of the (horizontal projection of the) right axis; forward = right rotated +90.
    # Unwrapped with whole turns counted from the sample-to-sample steps (as np.unwrap).
    yaw = np.arctan2(right[:, 1], right[:, 0])
    if yaw.size > 1:
        turns = np.cumsum(np.round(np.diff(yaw) / (2 * np.pi)))
        yaw[1:] -= 2 * np.pi * turns
    yaw += np.pi / 2
    yaw *= deg
    return obliquity, tilt, yaw


#: An accelerometer at rest or in gait reads gravity on average: a median specific force
#: below this (m/s^2) means no gravity (a dead axis, all zeros, or the wrong unit).
MIN_GRAVITY_MPS2 = 0.3 * G


def check_gravity(acc: np.ndarray) -> None:
    """Refuse an accelerometer that does not see gravity.

    Constant without gravity (e.g. all zeros): `BadInputError`, the sensor is not
    measuring. Moving but without gravity (median specific force under `MIN_GRAVITY_MPS2`): `NoGaitError`, not a
    body-worn recording (or the wrong unit).
    """
    if acc.size == 0:
        return
    norm = np.linalg.norm(acc, axis=1)
    med = float(np.median(norm))
    if not np.isfinite(med) or (
        med < MIN_GRAVITY_MPS2 and float(np.ptp(acc, axis=0).max()) < 1e-6
    ):
        raise BadInputError(
            f"the accelerometer reads a constant {med:.3g} m/s^2: the sensor is not measuring"
        )
    if med < MIN_GRAVITY_MPS2:
        raise NoGaitError(
            f"the accelerometer does not see gravity ({med:.3g} m/s^2 in the median, "
            "9.81 expected): not a recording of a body-worn sensor, or the unit is wrong "
            "(expected m/s^2)"
        )


# --------------------------------------------------------------------------- main
class _Estimation(NamedTuple):
    """The signals the alignment is estimated on: a ~50-100 Hz subsample in the declared
    frame (gait content is far below 25 Hz; this keeps a 1 h session fast)."""

    acc: np.ndarray
    gyr: np.ndarray
    ok: np.ndarray
    fs: float
    dec: int  #: decimation factor: estimation sample k is full-rate sample k * dec


def _estimation_view(
    acc: np.ndarray, gyr: np.ndarray, ok: np.ndarray, fs: float, r_nom: np.ndarray
) -> _Estimation:
    dec = max(int(fs // 50), 1)
    fs_d = fs / dec
    return _Estimation(acc[::dec] @ r_nom.T, gyr[::dec] @ r_nom.T, ok[::dec], fs_d, dec)


class _Up(NamedTuple):
    up: np.ndarray  #: pelvis up in the declared frame (unit)
    standing: tuple[int, int] | None  #: quiet standing, full-rate samples (end exclusive)
    source: str  #: "standing" or "gait"
    moving: np.ndarray  #: estimation samples in movement (and valid)
    warnings: list[str]


def _find_up(est: _Estimation, n: int, *, auto: bool, cfg: AlignmentSettings) -> _Up:
    """Up: the gravity direction in quiet standing, else the mean specific force over the
    movement (then the standing neutral is unknown)."""
    warnings: list[str] = []
    standing = detect_standing(
        est.acc, est.gyr, sampling_rate_hz=est.fs, valid=est.ok, settings=cfg
    )
    if standing is not None and not auto:
        g_dir = _unit(est.acc[standing[0] : standing[1]].mean(axis=0))
        if abs(g_dir[0]) < np.cos(np.radians(cfg.standing_max_off_up_deg)):
            log.info(
                "quiet period with gravity %.0f deg off the declared up axis ignored",
                np.degrees(np.arccos(np.clip(g_dir[0], -1, 1))),
            )
            standing = None
    win = max(round(0.5 * est.fs), 3)
    moving = (_moving_std(est.acc, win).max(axis=1) > 0.5) & est.ok
    if standing is not None:
        up = _unit(est.acc[standing[0] : standing[1]].mean(axis=0))
        standing = (standing[0] * est.dec, min(standing[1] * est.dec, n))
        source = "standing"
    else:
        sel = moving if moving.sum() > est.fs else est.ok
        up = _unit(est.acc[sel].mean(axis=0))
        source = "gait"
        warnings.append(
            "no quiet standing found: pelvis vertical taken from the mean over the movement; "
            "standing neutral unknown (cpd_standing_deg is NaN)"
        )
    if up[0] < 0 and not auto:
        warnings.append(
            "sensor upside down relative to its declared axis map "
            f"({np.degrees(np.arccos(np.clip(up[0], -1, 1))):.0f} deg between measured and "
            "declared up); corrected"
        )
    return _Up(up, standing, source, moving, warnings)


def _horizontal_basis(up: np.ndarray, *, auto: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(e1, basis)``: e1 = the declared forward made horizontal (auto: the most horizontal
    sensor axis); ``basis`` (3, 2) = columns e1 and up x e1 (= left)."""
    if auto:
        e1 = np.eye(3)[int(np.argmin(np.abs(up)))]
    else:
        e1 = np.array([0.0, 0.0, 1.0])
        if np.linalg.norm(e1 - up * (up @ e1)) < 0.3:  # declared forward nearly vertical
            e1 = np.cross(np.array([0.0, 1.0, 0.0]), up)
    e1 = _unit(e1 - up * (up @ e1))
    e2 = np.cross(up, e1)
    return e1, np.column_stack([e1, e2])


class _GaitAxis(NamedTuple):
    steps: StepStructure  #: of the estimation samples
    ml2: np.ndarray | None  #: ML direction in the horizontal basis (None: no periodic gait)
    confidence: float
    step_s: float  #: median step time
    se_deg: float  #: jackknife standard error of the ML direction


def _gait_ml_axis(
    est: _Estimation, up: np.ndarray, basis: np.ndarray, cfg: AlignmentSettings
) -> _GaitAxis:
    """Gait structure from the vertical signals only (independent of the heading), and the
    ML axis from the mirror symmetry of the straight gait in it."""
    vertical = est.acc @ up
    st = find_steps(
        pd.DataFrame({"acc_is": vertical, "gyr_is": est.gyr @ up}),
        sampling_rate_hz=est.fs,
        valid=est.ok,
        settings=cfg.steps,
    )
    chunks = _gait_segments(st, est.fs, est.ok)
    ml2, conf, step_s, se = _ml_axis_from_symmetry(
        est.acc @ basis, est.gyr @ basis, vertical, chunks, est.fs
    )
    return _GaitAxis(st, ml2, conf, step_s, se)


def _heading(
    up: np.ndarray,
    e1: np.ndarray,
    basis: np.ndarray,
    gait: _GaitAxis,
    *,
    auto: bool,
    cfg: AlignmentSettings,
) -> tuple[np.ndarray, dict, list[str]]:
    """Forward (horizontal unit vector, up to sign) and ``info["heading"]``: the declared
    axis map is the prior; gait symmetry corrects it within ``cfg.heading_cone_deg``."""
    warnings: list[str] = []
    heading = {
        "source": "declared axes",
        "estimate_deg": None,
        "se_deg": None,
        "applied_deg": 0.0,
        "cone_deg": None if auto else cfg.heading_cone_deg,
        "note": "",
    }
    fwd = e1
    cone, prior_sd, se = cfg.heading_cone_deg, cfg.heading_prior_sd_deg, gait.se_deg
    if gait.ml2 is not None:
        right_est = basis @ gait.ml2
        fwd_est = np.cross(up, right_est)
        if fwd_est @ e1 < 0:  # ML is found up to sign: the forward nearest the declared one
            fwd_est = -fwd_est
        delta = _signed_angle_deg(e1, fwd_est, up)  # (-90, 90]
        heading["estimate_deg"] = round(delta, 2)
        heading["se_deg"] = round(se, 2) if np.isfinite(se) else None
        se_use = se if np.isfinite(se) else prior_sd
        if auto:
            applied = delta
            heading["source"] = "gait (axes auto)"
            heading["note"] = (
                f"no declared axes: heading measured from sensor axis "
                f"{'xyz'[int(np.argmin(np.abs(up)))]}"
            )
        elif abs(delta) > cone:
            applied = 0.0
            heading["note"] = (
                f"gait symmetry puts forward {delta:+.0f} deg from the declared axis map, "
                f"outside the +-{cone:.0f} deg cone: not applied"
            )
            warnings.append(
                f"sensor heading: gait suggests {delta:+.0f} deg from the declared axes, more "
                f"than {cone:.0f} deg; declared axes kept (check the axis map or "
                "use --axes auto)"
            )
        else:
            # posterior mean with a Gaussian prior around the declared heading
            w = prior_sd**2 / (prior_sd**2 + se_use**2)
            applied = w * delta
            heading["source"] = "gait symmetry"
            if w < 0.5:
                heading["note"] = (
                    f"gait estimate uncertain (+-{se_use:.0f} deg): mostly the declared "
                    "heading kept"
                )
        heading["applied_deg"] = round(float(applied), 2)
        c, s_ = np.cos(np.radians(applied)), np.sin(np.radians(applied))
        fwd = c * e1 + s_ * np.cross(up, e1)
        if gait.confidence < 0.1:
            warnings.append(
                f"sensor heading uncertain (gait symmetry confidence {gait.confidence:.2f})")
    else:
        heading["note"] = "no periodic straight gait to estimate the heading"
        warnings.append(
            "no periodic gait found to estimate the sensor heading: "
            + (
                "forward direction unknown (--axes auto)"
                if auto
                else "declared forward axis used (yaw mounting error not corrected)"
            )
        )
    return _unit(fwd - up * (up @ fwd)), heading, warnings


class _Forward(NamedTuple):
    fwd: np.ndarray  #: the final forward axis
    info: dict  #: ``info["forward"]``
    side_trust: str  #: "ok" or "uncertain"
    hint: int  #: ``info["forward_hint"]``
    evidence: float  #: ``info["forward_evidence"]``
    warnings: list[str]


def _forward_direction(
    est: _Estimation,
    up: np.ndarray,
    fwd: np.ndarray,
    gait: _GaitAxis,
    *,
    auto: bool,
    cfg: AlignmentSettings,
) -> _Forward:
    """Which way is forward: turning the declared forward around needs every cue to agree
    (`_forward_cues`, `_decide_forward`)."""
    cues = _forward_cues(est.acc, est.gyr, up, fwd, gait.steps, est.fs, cfg)
    # A sensor upside down relative to its declared map shows the map is wrong: it is no
    # longer a prior, and the gait decides as with --axes auto.
    upside_down = bool(up[0] < 0) and not auto
    reverse, decision, margin, side_trust = _decide_forward(
        cues, auto=auto or upside_down, settings=cfg
    )
    if upside_down:
        decision = "reversed by gait cues" if reverse else "declared"
    if auto and gait.ml2 is None:
        side_trust = "uncertain"
    if reverse:
        fwd = -fwd
        for c_ in cues.values():
            c_["value"], c_["t"] = -c_["value"], -c_["t"]
    why, warnings = _forward_why(
        cues, reverse=reverse, side_trust=side_trust, margin=margin, auto=auto,
        upside_down=upside_down,
    )
    # The kept forward axis most likely points backward (the primary cue clearly says so but
    # the bar to turn the map around was not met): event timing may use the reversed axis.
    t_primary = float(cues.get("braking_order", {}).get("t", 0.0))
    hint = -1 if (side_trust == "uncertain" and t_primary <= -cfg.forward_reverse_t) else 1
    forward = {
        "decision": decision,
        "reversed": bool(reverse),
        "margin": round(float(margin), 2),
        "cues": cues,
        "why": why,
    }
    return _Forward(fwd, forward, side_trust, hint, float(margin), warnings)


def _forward_why(
    cues: dict[str, dict],
    *,
    reverse: bool,
    side_trust: str,
    margin: float,
    auto: bool,
    upside_down: bool,
) -> tuple[str, list[str]]:
    """``info["forward"]["why"]`` and the warnings of the forward decision."""
    warnings: list[str] = []
    cue_text = ", ".join(f"{k} t={v['t']:+.1f}" for k, v in cues.items())
    if upside_down:
        why = f"upside down: the declared map is no prior; gait cues ({cue_text})"
        if reverse:
            warnings.append(f"sensor back to front as well; corrected from the gait ({cue_text})")
        if side_trust == "uncertain":
            warnings.append(
                "sensor upside down and the gait does not establish which way is forward "
                f"({cue_text}): left and right are withheld"
            )
    elif reverse and not auto:
        why = f"every gait cue points backward ({cue_text})"
        warnings.append(
            "sensor back to front relative to its declared axis map; corrected from the gait "
            f"({cue_text})"
        )
    elif auto:
        why = f"gait cues ({cue_text}), margin {margin:.1f}"
        if side_trust == "uncertain":
            warnings.append(
                f"--axes auto: the gait does not establish which way is forward ({cue_text}); "
                "left and right are withheld"
            )
    elif side_trust == "uncertain":
        why = f"gait cues contradict the declared axes, not every cue agrees ({cue_text})"
        warnings.append(
            "gait cues suggest the sensor may be back to front relative to its declared axis "
            f"map ({cue_text}); declared axes kept and left/right withheld: check how it was "
            "worn, or use --axes auto"
        )
    else:
        # the secondary cue alone differs between people: no warning (it is in "why")
        why = "declared axes kept" + (f" ({cue_text})" if cues else "")
    return why, warnings


def _gyr_bias_prior(
    gyr: np.ndarray,
    est: _Estimation,
    upf: _Up,
    step_s: float,
    r_nom: np.ndarray,
) -> np.ndarray:
    """Gyroscope bias (deg/s, sensor frame) removed before the fusion.

    At rest the gyroscope reads its bias: the mean in standing. Without standing: VQF learns
    the bias fastest at rest; in gait, the angular rate about any horizontal axis averages
    to zero over a stride, so the median stride-mean of the horizontal rate is the bias
    (turns are about the vertical and do not enter). The vertical component is left to VQF.
    """
    bias_prior = np.zeros(3)
    if upf.standing is not None:
        bias_prior = gyr[upf.standing[0] : upf.standing[1]].mean(axis=0)
    elif np.isfinite(step_s):
        stride_n = max(round(2.0 * step_s * est.fs), 3)
        sm = moving_mean(est.gyr, stride_n)
        sel = upf.moving.copy()
        sel[: stride_n // 2] = False
        sel[-(stride_n // 2) :] = False
        if sel.sum() >= stride_n:
            b = np.median(sm[sel], axis=0)
            b_nom = b - upf.up * (upf.up @ b)
            bias_prior = r_nom.T @ b_nom  # back to the sensor frame
    return bias_prior


def _fusion_variant(fusion: str, standing: tuple[int, int] | None) -> str:
    """The VQF variant: "auto" = online when standing gave the gyroscope bias (~2.5x faster
    and as good then), else offline (acausal: the more accurate without a standing bias)."""
    if fusion == "auto":
        fusion = "online" if standing is not None else "offline"
    if fusion not in ("online", "offline"):
        raise BadInputError(f"fusion must be 'auto', 'online' or 'offline', not {fusion!r}")
    return fusion


class _Fused(NamedTuple):
    body: pd.DataFrame  #: columns `SIGNAL_COLUMNS`
    obliquity: np.ndarray
    tilt: np.ndarray
    settling: list[tuple[int, int]]  #: sample ranges after filter restarts
    warnings: list[str]


def _fused_pelvis_signals(
    t: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    ok: np.ndarray,
    *,
    bias_prior: np.ndarray,
    r_body_sensor: np.ndarray,
    fs: float,
    fusion: str,
    cfg: AlignmentSettings,
) -> _Fused:
    """Orientation (6D VQF with gyro bias estimation, in the sensor frame, never through a
    hole: `fuse_segments`) and the pelvis signals in the pelvis frame."""
    n = t.size
    warnings: list[str] = []
    # The output block doubles as scratch space to keep the peak memory of 1 h data low.
    block = np.empty((n, len(SIGNAL_COLUMNS)))
    gyr_rad = np.empty((n, 3))  # C-contiguous, as VQF needs
    np.subtract(gyr, bias_prior, out=gyr_rad)
    np.radians(gyr_rad, out=gyr_rad)
    fused = fuse_segments(
        gyr_rad, np.ascontiguousarray(acc), sampling_rate_hz=fs, fusion=fusion, valid=ok,
        settings=cfg,
    )
    s_axes = r_body_sensor.T  # columns: pelvis up, right, forward in sensor coordinates
    up_z, right_e, fwd_z = _rotate_axes(fused.quat, s_axes)
    block[:, 7], block[:, 8], block[:, 9] = _angles(up_z, right_e, fwd_z)
    del up_z, right_e, fwd_z
    _continuous_yaw(block[:, 9], ok)
    block[:, 9] -= block[0, 9]

    # bias-free rate in deg/s, reusing the radian buffer
    gyr_rad -= fused.bias
    np.degrees(gyr_rad, out=gyr_rad)
    settling = fused.settling
    if fused.n_restarts:
        warnings.append(
            f"orientation filter restarted after {fused.n_restarts} data gap(s) (never run "
            "through a hole)"
            + (
                f"; stances within {cfg.settle_tau * cfg.online_tau_acc_s:.0f} s after the "
                f"{len(settling)} gap(s) longer than {cfg.settle_after_gap_s:g} s not used "
                "while it settles"
                if settling
                else ""
            )
        )
    del fused

    block[:, 0] = t
    block[:, 1:4] = acc @ r_body_sensor.T  # (a strided matmul output is slow: copy)
    block[:, 4:7] = gyr_rad @ r_body_sensor.T
    del gyr_rad
    body = pd.DataFrame(block, columns=list(SIGNAL_COLUMNS), copy=False)
    return _Fused(body, block[:, 7], block[:, 8], settling, warnings)


def _alignment_info(
    *,
    axes: str,
    t: np.ndarray,
    r_corr: np.ndarray,
    r_body_sensor: np.ndarray,
    upf: _Up,
    gait: _GaitAxis,
    heading: dict,
    fwd: _Forward,
    bias_prior: np.ndarray,
    fusion: str,
    fused: _Fused,
    warnings: list[str],
) -> dict:
    """`Alignment.info` (see there)."""
    rv = _rotvec_deg(r_corr)
    standing = upf.standing
    if standing is not None:
        st_sl = slice(*standing)
        standing_info = {"start_s": float(t[standing[0]]), "end_s": float(t[standing[1] - 1])}
        st_obl = float(np.mean(fused.obliquity[st_sl]))
        st_tilt = float(np.mean(fused.tilt[st_sl]))
    else:
        standing_info, st_obl, st_tilt = None, float("nan"), float("nan")
    return {
        "axes": axes,
        "R_body_sensor": r_body_sensor.round(6).tolist(),
        "R_correction": r_corr.round(6).tolist(),
        "correction_deg": {
            "angle": float(np.linalg.norm(rv)),
            "about_is": float(rv[0]),
            "about_ml": float(rv[1]),
            "about_pa": float(rv[2]),
        },
        "standing": standing_info,
        "standing_obliquity_deg": st_obl,
        "standing_tilt_deg": st_tilt,
        "up_source": upf.source,
        "heading_source": heading["source"],
        "heading_confidence": gait.confidence,
        "step_s": gait.step_s,
        "forward_evidence": fwd.evidence,
        "heading": heading,
        "forward": fwd.info,
        "side_trust": fwd.side_trust,
        "forward_hint": fwd.hint,
        "gyr_bias_prior_dps": bias_prior.round(4).tolist(),
        "fusion": fusion,
        # after a data gap the online filter restarts; stances here are not used
        "settling_s": [[float(t[a]), float(t[b - 1])] for a, b in fused.settling],
        "warnings": warnings,
    }


def align_to_pelvis(
    t_s: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    *,
    sampling_rate_hz: float,
    axes: str = DEFAULT_AXES,
    valid: np.ndarray | None = None,
    fusion: str = "auto",
    settings: AlignmentSettings | None = None,
) -> Alignment:
    """Express sacral IMU signals in the pelvis frame and compute pelvis angles.

    Data requirements: uniform sampling (see `conditioning.resample_uniform`), sensor-frame
    ``acc`` in m/s^2 (specific force) and ``gyr`` in deg/s, 50-400 Hz. Best with >= 1 s of
    quiet standing (usually at the start) and some gait.

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Uniform time grid, seconds.
    acc, gyr : ndarray, shape (n, 3)
        Sensor-frame accelerometer (m/s^2) and gyroscope (deg/s).
    sampling_rate_hz : float
        Rate of the grid.
    axes : str
        Declared axis map of the session, e.g. ``x=up,y=right,z=forward``.
    valid : ndarray of bool, optional
        False in unbridged gaps (excluded from standing and heading estimation).
    fusion : {"auto", "online", "offline"}
        VQF variant: ``vqf.VQF`` (online, causal) or ``vqf.offlineVQF`` (acausal, better
        bias estimation in motion). "auto": online when a standing period gave the
        gyroscope bias, else offline.
    settings : AlignmentSettings, optional
        Standing detection, step finding, heading prior, forward cues and fusion
        parameters; None: the defaults (`AlignmentSettings`).

    Returns
    -------
    Alignment
        ``(body, info)``; see `Alignment`.
    """
    cfg = _DEFAULTS if settings is None else settings
    t = np.asarray(t_s, dtype=float)
    acc = np.asarray(acc, dtype=float)
    gyr = np.asarray(gyr, dtype=float)
    n = t.size
    if acc.shape != (n, 3) or gyr.shape != (n, 3):
        raise BadInputError(f"align_to_pelvis: acc {acc.shape}, gyr {gyr.shape}, t_s ({n},)")
    fs = float(sampling_rate_hz)
    if n < int(fs):
        raise BadInputError(f"only {n} samples ({n / fs:.2f} s); need at least 1 s of data")
    ok = np.ones(n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    check_gravity(acc[ok] if ok.any() else acc)

    # 1. the estimation view: declared (up, right, forward) <- sensor ("auto": no declared
    # frame, the sensor's own), subsampled; indices are mapped back to the full rate
    auto = is_auto_axes(axes)
    r_nom = np.eye(3) if auto else parse_axes(axes)
    est = _estimation_view(acc, gyr, ok, fs, r_nom)
    # 2. up: standing gravity, else mean specific force over the movement
    upf = _find_up(est, n, auto=auto, cfg=cfg)
    up = upf.up
    # 3. heading: ML axis from the mirror symmetry of gait, the declared axes as the prior
    e1, basis = _horizontal_basis(up, auto=auto)
    gait = _gait_ml_axis(est, up, basis, cfg)
    fwd, heading, heading_warnings = _heading(up, e1, basis, gait, auto=auto, cfg=cfg)
    # 4. forward sign from the gait cues
    fw = _forward_direction(est, up, fwd, gait, auto=auto, cfg=cfg)
    right = np.cross(fw.fwd, up)
    r_corr = np.vstack([up, right, fw.fwd])  # pelvis <- declared
    r_body_sensor = r_corr @ r_nom
    # 5. fusion (gyroscope bias prior removed) and the pelvis signals
    bias_prior = _gyr_bias_prior(gyr, est, upf, gait.step_s, r_nom)
    del est
    fusion = _fusion_variant(fusion, upf.standing)
    fused = _fused_pelvis_signals(
        t, acc, gyr, ok, bias_prior=bias_prior, r_body_sensor=r_body_sensor, fs=fs,
        fusion=fusion, cfg=cfg,
    )
    # 6. what was found and corrected
    warnings = upf.warnings + heading_warnings + fw.warnings + fused.warnings
    info = _alignment_info(
        axes=axes, t=t, r_corr=r_corr, r_body_sensor=r_body_sensor, upf=upf, gait=gait,
        heading=heading, fwd=fw, bias_prior=bias_prior, fusion=fusion, fused=fused,
        warnings=warnings,
    )
    for w_ in warnings:
        log.info(w_)  # also in info["warnings"], printed by the caller
    return Alignment(fused.body, info)


# --------------------------------------------------------------------------- streaming
def online_fusion(
    sampling_rate_hz: float, *, settings: AlignmentSettings | None = None
) -> vqf.VQF:
    """The causal 6D VQF exactly as `align_to_pelvis` configures it (``fusion="online"``;
    accelerometer time constant ``settings.online_tau_acc_s``)."""
    cfg = _DEFAULTS if settings is None else settings
    return vqf.VQF(1.0 / float(sampling_rate_hz), tauAcc=cfg.online_tau_acc_s)


class OnlinePelvisSignals:
    """Pelvis signals computed causally, block by block, from a fixed calibration.

    The incremental counterpart of `align_to_pelvis` for a streaming driver
    (`gaitimu.live.stream`): the mounting correction and gyroscope-bias prior come from a
    calibration (the ``info`` of `align_to_pelvis` on the first seconds of data: quiet
    standing + some gait); every `update` then runs the online VQF (`online_fusion`) on the
    new samples and forms the pelvis signals exactly as `align_to_pelvis` does with
    ``fusion="online"``. Feeding a session in blocks of any size gives the same values as
    one block.

    Parameters
    ----------
    calibration : dict
        `Alignment.info`; uses ``R_body_sensor`` and ``gyr_bias_prior_dps`` (as stored
        there, i.e. rounded to 1e-6 and 1e-4 deg/s).
    sampling_rate_hz : float
        Rate of the uniform grid the samples are on.
    settings : AlignmentSettings, optional
        The fusion parameters (online time constant, restart window, settling); None: the
        defaults. Give the ones the calibration's `align_to_pelvis` had (`calibrate` does).

    Examples
    --------
    >>> ps = OnlinePelvisSignals.calibrate(t[:n], acc[:n], gyr[:n],  # doctest: +SKIP
    ...                                    sampling_rate_hz=200.0, axes="x=up,y=right,z=forward")
    >>> block = ps.update(t_block, acc_block, gyr_block)  # doctest: +SKIP
    """

    def __init__(
        self,
        calibration: dict,
        *,
        sampling_rate_hz: float,
        settings: AlignmentSettings | None = None,
    ) -> None:
        self.calibration = calibration
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.settings = _DEFAULTS if settings is None else settings
        self.r_body_sensor = np.asarray(calibration["R_body_sensor"], dtype=float)
        self.gyr_bias_prior_dps = np.asarray(calibration["gyr_bias_prior_dps"], dtype=float)
        self._fusion = online_fusion(self.sampling_rate_hz, settings=self.settings)
        self._yaw0: float | None = None  # yaw of the first sample (the zero, as offline)
        self._yaw_last = 0.0
        self._yaw_offset = 0.0  # whole turns carried across blocks
        # `push` (data gaps): rows waiting for the data after a hole, the stretch's recent
        # measured samples, the filter's last output
        self._queue: list[tuple[np.ndarray, ...]] = []
        self._hist = (np.zeros((0, 3)), np.zeros((0, 3)))
        self._awaiting = False
        self._hole_n = 0
        self._join_yaw = False
        self._prev_q: np.ndarray | None = None
        self._last_row: np.ndarray | None = None
        self._last_bias = np.zeros(3)
        #: ``[start_s, end_s]`` after each filter restart at a gap longer than
        #: ``settings.settle_after_gap_s`` (0.2 s): stances there are not used (as
        #: ``info["settling_s"]`` of `align_to_pelvis`)
        self.settling_s: list[list[float]] = []
        self.n_restarts = 0

    @classmethod
    def calibrate(
        cls,
        t_s: np.ndarray,
        acc: np.ndarray,
        gyr: np.ndarray,
        *,
        sampling_rate_hz: float,
        axes: str = DEFAULT_AXES,
        valid: np.ndarray | None = None,
        settings: AlignmentSettings | None = None,
    ) -> OnlinePelvisSignals:
        """Calibrate on a window of grid samples (`align_to_pelvis` on it, with `settings`;
        its ``info`` is `calibration`). The window's samples are not consumed: pass them to
        `update`."""
        info = align_to_pelvis(
            t_s, acc, gyr, sampling_rate_hz=sampling_rate_hz, axes=axes, valid=valid,
            settings=settings,
        ).info
        return cls(info, sampling_rate_hz=sampling_rate_hz, settings=settings)

    def update(
        self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray, *, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Pelvis signals of the next samples (consecutive grid points).

        Parameters
        ----------
        t_s : ndarray, shape (m,)
            Grid times, s.
        acc, gyr : ndarray, shape (m, 3)
            Sensor-frame accelerometer (m/s^2) and gyroscope (deg/s).
        out : ndarray, shape (m, k >= len(SIGNAL_COLUMNS)), optional
            Written in its first ``len(SIGNAL_COLUMNS)`` columns (the rest untouched).

        Returns
        -------
        ndarray, shape (m, len(SIGNAL_COLUMNS))
            Columns `SIGNAL_COLUMNS` (``yaw_deg`` relative to the very first sample).
        """
        t = np.asarray(t_s, dtype=float)
        n = t.size
        k = len(SIGNAL_COLUMNS)
        block = np.empty((n, k)) if out is None else out
        if n == 0:
            return block[:, :k]
        acc = np.ascontiguousarray(acc, dtype=float)
        gyr_rad = np.radians(np.asarray(gyr, dtype=float) - self.gyr_bias_prior_dps)
        self._fused_rows(t, acc, gyr_rad, block)
        return block if out is None else block[:, :k]

    def _fused_rows(
        self, t: np.ndarray, acc: np.ndarray, gyr_rad: np.ndarray, block: np.ndarray
    ) -> None:
        """Run the filter on measured samples and write their pelvis signals into `block`."""
        res = self._fusion.updateBatch(np.ascontiguousarray(gyr_rad), acc)
        r = self.r_body_sensor
        up_z, right_e, fwd_z = _rotate_axes(res["quat6D"], r.T)
        obl, tilt, yaw = _angles(up_z, right_e, fwd_z)
        # continue the unwrapped yaw across blocks; zero at the first sample (as offline)
        if self._yaw0 is None:
            self._yaw0 = float(yaw[0])
        else:
            jump = yaw[0] + self._yaw_offset - self._yaw_last
            self._yaw_offset -= 360.0 * np.round(jump / 360.0)
            if self._join_yaw:  # after a gap: continue from the heading before it
                self._yaw_offset += self._yaw_last - (yaw[0] + self._yaw_offset)
        self._join_yaw = False
        yaw = yaw + self._yaw_offset
        self._yaw_last = float(yaw[-1])
        gyr_b = np.degrees(gyr_rad - res["bias"])
        block[:, 0] = t
        block[:, 1:4] = acc @ r.T
        block[:, 4:7] = gyr_b @ r.T
        block[:, 7], block[:, 8], block[:, 9] = obl, tilt, yaw - self._yaw0
        self._prev_q = res["quat6D"][-1].copy()
        self._last_row = block[-1, 7:10].copy()
        self._last_bias = res["bias"][-1].copy()

    def push(
        self,
        t_s: np.ndarray,
        acc: np.ndarray,
        gyr: np.ndarray,
        valid: np.ndarray,
        extra: np.ndarray | None = None,
        *,
        final: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pelvis signals of the next grid samples, never running the filter through a
        hole: the streaming counterpart of `fuse_segments` (the same restarts, so a stream
        gives the values of the offline analysis).

        Inside a hole (``valid`` False) the orientation is held. The samples after a hole
        are held back until ``settings.reinit_window_s`` (`REINIT_WINDOW_S`) of data after
        it (or the next hole, or `final`) has arrived, since the restart takes the
        inclination from them (`restart_filter`). Returns ``(block, extra)``: the rows done so far, in order, with
        the matching rows of `extra` (e.g. validity columns; may be fewer or more rows than
        were passed in).
        """
        fs = self.sampling_rate_hz
        cfg = self.settings
        t = np.asarray(t_s, dtype=float)
        if t.size:
            ex = np.zeros((t.size, 0)) if extra is None else np.asarray(extra, dtype=float)
            self._queue.append((
                t,
                np.ascontiguousarray(acc, dtype=float),
                np.radians(np.asarray(gyr, dtype=float) - self.gyr_bias_prior_dps),
                np.asarray(valid, dtype=bool),
                ex.reshape(t.size, -1),
            ))
        k = len(SIGNAL_COLUMNS)
        if not self._queue:
            return np.zeros((0, k)), np.zeros((0, 0))
        qt, qa, qg, qok, qx = (np.concatenate(c) for c in zip(*self._queue, strict=True))
        self._queue = []
        w = max(int(cfg.reinit_window_s * fs), 1)
        done: list[np.ndarray] = []
        i, n = 0, qt.size
        while i < n:
            if self._awaiting:
                bad = np.flatnonzero(~qok[i:])
                nxt = int(bad[0]) if bad.size else n - i
                m = min(nxt, w)
                if m < w and nxt == n - i and not final:
                    break  # wait for more data after the hole
                self._fusion = restart_filter(
                    self._fusion, self._prev_q, self._hist,
                    (qg[i : i + m], qa[i : i + m]), fs, settings=cfg,
                )
                if self._hole_n > cfg.settle_after_gap_s * fs:
                    end_s = float(qt[i]) + (settle_n(fs, settings=cfg) - 1) / fs
                    self.settling_s.append([float(qt[i]), end_s])
                self.n_restarts += 1
                self._hist = (np.zeros((0, 3)), np.zeros((0, 3)))
                self._awaiting, self._hole_n, self._join_yaw = False, 0, True
            bad = np.flatnonzero(qok[i:] != qok[i])
            j = i + (int(bad[0]) if bad.size else n - i)
            block = np.empty((j - i, k))
            if qok[i] or self._prev_q is None:
                self._fused_rows(qt[i:j], qa[i:j], qg[i:j], block)
                hg = np.concatenate([self._hist[0], qg[i:j]])[-w:]
                ha = np.concatenate([self._hist[1], qa[i:j]])[-w:]
                self._hist = (hg, ha)
            else:  # a hole: the orientation before it is held
                block[:, 0] = qt[i:j]
                block[:, 1:4] = qa[i:j] @ self.r_body_sensor.T
                block[:, 4:7] = np.degrees(qg[i:j] - self._last_bias) @ self.r_body_sensor.T
                block[:, 7:10] = self._last_row
                self._hole_n += j - i
                if j < n:
                    self._awaiting = True
            done.append(np.column_stack([block, qx[i:j]]))
            i = j
        if i < n:
            self._queue.append((qt[i:], qa[i:], qg[i:], qok[i:], qx[i:]))
        if not done:
            return np.zeros((0, k)), np.zeros((0, qx.shape[1]))
        rows = np.concatenate(done)
        return rows[:, :k], rows[:, k:]


# --------------------------------------------------------------------------- fusion
def _quat_mul(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product of two [w, x, y, z] quaternions."""
    pw, px, py, pz = p
    qw, qx, qy, qz = q
    return np.array([
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    ])


def _sensor_up(q: np.ndarray) -> np.ndarray:
    """Earth up (z) in sensor coordinates for a sensor -> earth quaternion."""
    return _quat_to_matrix(q[None, :])[0][2]


def _min_rotation_quat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (quaternion) taking unit vector `a` to unit vector `b`."""
    c = np.cross(a, b)
    w = 1.0 + float(a @ b)
    if w < 1e-9:  # opposite: any perpendicular axis
        axis = np.cross(a, np.eye(3)[int(np.argmin(np.abs(a)))])
        return np.concatenate([[0.0], _unit(axis)])
    q = np.concatenate([[w], c])
    return q / np.linalg.norm(q)


def _offline_up(g: np.ndarray, x: np.ndarray, fs: float, at: int) -> np.ndarray:
    """Earth up in sensor coordinates at sample `at` of the acausal VQF of a stretch."""
    q = vqf.offlineVQF(np.ascontiguousarray(g), np.ascontiguousarray(x), None, 1.0 / fs)
    return _sensor_up(q["quat6D"][at])


def restart_filter(
    filt: vqf.VQF,
    prev_q: np.ndarray,
    pre: tuple[np.ndarray, np.ndarray],
    post: tuple[np.ndarray, np.ndarray],
    fs: float,
    *,
    settings: AlignmentSettings | None = None,
) -> vqf.VQF:
    """A new online filter that continues `filt` after a data gap.

    It keeps `filt`'s gyroscope bias, low-passed acceleration and heading; its inclination
    is the acausal filter's for the first sample after the gap (from `post`, the
    ``(gyr_rad, acc)`` of up to ``settings.reinit_window_s`` after it), plus the online
    filter's own slowly varying error just before the gap (its difference from the acausal
    filter at the end of `pre`, up to ``settings.reinit_window_s`` before the gap, carried
    across in the earth frame). `prev_q` is `filt`'s last 6D quaternion; the new filter is
    `online_fusion` with `settings` (None: the defaults). Shared by `fuse_segments` (offline)
    and `OnlinePelvisSignals` (streaming), so both restart identically.
    """
    up_prev = _sensor_up(prev_q)
    err_earth = _quat_to_matrix(prev_q[None, :])[0] @ (
        up_prev - _offline_up(pre[0], pre[1], fs, -1)
    )
    up_off = _offline_up(post[0], post[1], fs, 0)
    q1 = _quat_mul(prev_q, _min_rotation_quat(up_off, up_prev))
    up_target = _unit(up_off + _quat_to_matrix(q1[None, :])[0].T @ err_earth)
    r_s = _min_rotation_quat(up_target, up_prev)
    new = online_fusion(fs, settings=settings)
    state = filt.state
    # quat6D = accQuat * gyrQuat; the low-passed acceleration lives in the gyrQuat frame,
    # so the correction goes to gyrQuat (sensor side)
    state["gyrQuat"] = _quat_mul(state["gyrQuat"], r_s)
    new.state = state
    return new


class Fusion(NamedTuple):
    """What `fuse_segments` gives: orientation, gyroscope bias and where it is not usable."""

    quat: np.ndarray  #: (n, 4) [w, x, y, z], sensor -> earth (z up)
    bias: np.ndarray  #: (n, 3) gyroscope bias estimate, rad/s
    settling: list[tuple[int, int]]  #: (start, end) sample ranges after filter restarts
    n_restarts: int  #: restarts of the filter after a data gap


def fuse_segments(
    gyr_rad: np.ndarray,
    acc: np.ndarray,
    *,
    sampling_rate_hz: float,
    fusion: str,
    valid: np.ndarray,
    settings: AlignmentSettings | None = None,
) -> Fusion:
    """6D orientation (VQF) that never integrates a held or invented rate through a gap.

    The filter is not run across a hole (``valid`` False); each stretch between holes is
    fused on its own. The online filter restarts after a hole with the gyroscope bias, the
    low-passed acceleration and the heading it had, and the inclination that the acausal
    filter estimates for the first sample after the hole plus the online filter's own
    slowly varying error just before it (`_reinit_rotation`). The offline filter runs per
    stretch. Inside holes the orientation is held (those samples are invalid).
    (Filling a short hole with the same phase of the stride before it was tried: 0.43 vs
    0.6 deg on a 0.15 s hole, and it needs seconds of clean periodic gait before the hole,
    which a lossy link does not give.)

    The restarted online filter differs from one that had seen the missing samples by
    0.2-0.7 deg (measured on simulated walks and runs with 0.15-5 s gaps), decaying with the
    accelerometer time constant (``settings.online_tau_acc_s``, `ONLINE_TAU_ACC_S`):
    ``settle_tau`` (`SETTLE_TAU`) time constants after a restart at a gap longer than
    ``settle_after_gap_s`` (`SETTLE_AFTER_GAP_S`: the longest hole the event detector
    bridges, 0.2 s) are *settling* intervals in which no stance
    is used (e^-2 x 0.7 < 0.1 deg). After shorter holes (a lossy link) the difference is up
    to 0.6 deg and decays below 0.2 deg within 10 s; those stances are kept, since a
    settling interval after every lost packet would leave a lossy session with none.

    `gyr_rad` and `acc` are not modified. `settings`: `AlignmentSettings` (None: the
    defaults).
    """
    cfg = _DEFAULTS if settings is None else settings
    fs = float(sampling_rate_hz)
    n = gyr_rad.shape[0]
    ok = np.asarray(valid, dtype=bool)
    starts, ends = runs(ok)
    quat = np.empty((n, 4))
    bias = np.zeros((n, 3))
    settling: list[tuple[int, int]] = []
    if starts.size == 0:
        quat[:] = [1.0, 0.0, 0.0, 0.0]
        return Fusion(quat, bias, settling, 0)
    if starts.size == 1 and starts[0] == 0 and ends[0] == n:
        if fusion == "online":
            out = online_fusion(fs, settings=cfg).updateBatch(gyr_rad, acc)
        else:
            out = vqf.offlineVQF(gyr_rad, acc, None, 1.0 / fs)
        return Fusion(out["quat6D"], out["bias"], settling, 0)
    filt: vqf.VQF | None = None
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        g = np.ascontiguousarray(gyr_rad[a:b])
        x = np.ascontiguousarray(acc[a:b])
        if fusion == "offline":
            out = vqf.offlineVQF(g, x, None, 1.0 / fs)
        else:
            if filt is None:
                filt = online_fusion(fs, settings=cfg)
            else:
                g0, w = ends[k - 1], max(int(cfg.reinit_window_s * fs), 1)
                lo, hi = max(starts[k - 1], g0 - w), min(b, a + w)
                filt = restart_filter(
                    filt, quat[g0 - 1], (gyr_rad[lo:g0], acc[lo:g0]),
                    (gyr_rad[a:hi], acc[a:hi]), fs, settings=cfg,
                )
                if a - g0 > cfg.settle_after_gap_s * fs:
                    settling.append((int(a), int(min(n, a + settle_n(fs, settings=cfg)))))
            out = filt.updateBatch(g, x)
        quat[a:b] = out["quat6D"]
        bias[a:b] = out["bias"]
    # holes: hold the orientation before them (a leading one: the first fused sample)
    src = np.where(ok, np.arange(n), -1)
    np.maximum.accumulate(src, out=src)
    src[src < 0] = starts[0]
    return Fusion(quat[src], bias[src], settling, int(starts.size - 1))


def _continuous_yaw(yaw: np.ndarray, valid: np.ndarray) -> None:
    """Join the heading across data gaps (in place): each stretch after a gap starts at the
    heading the previous one ended with (a turn inside a gap is not measured)."""
    starts, ends = runs(np.asarray(valid, dtype=bool))
    for a, b_prev in zip(starts[1:], ends[:-1], strict=True):
        yaw[a:] += yaw[b_prev - 1] - yaw[a]


def settle_n(fs: float, *, settings: AlignmentSettings | None = None) -> int:
    """Samples of the settling interval after a filter restart (``settle_tau`` x the online
    accelerometer time constant; `SETTLE_TAU` x `ONLINE_TAU_ACC_S` by default)."""
    cfg = _DEFAULTS if settings is None else settings
    return int(cfg.settle_tau * cfg.online_tau_acc_s * fs)
