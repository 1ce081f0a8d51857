"""The self-tests (docs/self_tests.md): single-leg stance and single-leg squat, with truth.

``simulate(SimConfig(activity="single-leg-stance" | "single-leg-squat", ...))`` comes here.
The protocol is planned as the guided recorder plans it (`plan_protocol`); a simulated
person follows it with reaction times and a tempo of their own (`_timeline`); the pelvis
moves as described in docs/simulator.md (Self-tests): quiet two-legged standing with
postural sway, a weight shift towards the standing leg, lift-off (the unsupported side
drops to its hold value with a settling transient, the pelvis turning about the standing
hip), the hold with sway, or squats (sacrum down, pelvis tilting forward, the drop growing
with depth), touch-down (back to level), rest, the other leg. Those kinematics go through
the same rigid-body IMU, sensor and radio steps as gait (`imu.ideal_imu`, `imu.measure`,
`packets.transmit`). The drop of each side is solved so that its realised mean is exactly
the requested ``cpd_*_deg``; the truth records the drops as realised in the true obliquity.

Signs (docs/self_tests.md): standing on the LEFT leg the RIGHT side drops, so the obliquity
(> 0 = left hemipelvis higher) rises by the drop; standing on the RIGHT leg it falls.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gaitimu.simulate.config import SimConfig, SimResult
from gaitimu.simulate.imu import ideal_imu, measure
from gaitimu.simulate.jets import (
    Jet,
    jet_add,
    jet_const,
    jet_mul,
    jet_scale,
    jet_sin_cos,
    smootherstep,
)
from gaitimu.simulate.kinematics import GaitWindow, PelvisMotion
from gaitimu.simulate.packets import transmit
from gaitimu.simulate.truth import sensor_displacement, sensor_truth

# Timing of the simulated person (docs/simulator.md, Self-tests, says where they come from).
REACTION_S = (0.2, 0.5)  # prompt -> start of the movement, uniform
SHIFT_S = (0.6, 1.0)  # duration of the weight shift before lift-off (and back after touch-down)
LIFT_S = 0.3  # the unsupported side drops over this after lift-off (C2 step)
TOUCH_S = 0.3  # and comes back to level over this after a touch-down
SETTLE = {"overshoot": 0.35, "hz": 1.0, "tau_s": 0.5}  # damped oscillation after a lift-off
TOUCHDOWN_S = (0.5, 1.0)  # an early touch-down lasts this long, uniform
#: The truth's stable part of a hold starts this long after a lift-off (and after an early
#: touch-down's re-lift); the settling transient is < 1 % of the drop by then.
STABLE_AFTER_S = 2.0
# Postural sway: SD on one leg = sway_deg; on two feet this fraction of it; right after a
# lift-off up to (1 + SWAY_EXTRA) times it, decaying with SWAY_EXTRA_TAU_S.
SWAY_BOTH_FRACTION = 0.4
SWAY_EXTRA = 1.5
SWAY_EXTRA_TAU_S = 0.7
SWAY_HZ = (0.1, 1.0)  # sway frequencies, log-uniform
SWAY_COMPONENTS = 8
SWAY_M_PER_DEG = 0.01  # translational sway of the pelvis: 3 mm SD at 0.3 deg
SWAY_ROTATION_FRACTION = 0.5  # yaw sway relative to the frontal/sagittal one
HIP_HALF_WIDTH_M = 0.09  # stance hip centre to the pelvis origin (mid hip centres)
# Squats
SQUAT_LEAD_S = 3.0  # planned: from the prompt to lift the foot to the first rep
SQUAT_FIRST_REP_S = (1.5, 2.0)  # lift-off -> first rep starts, uniform
SQUAT_STANDING_DROP = 0.5  # drop between reps (on one leg, upright), fraction of the bottom's
SQUAT_TILT_DEG_PER_M = 80.0  # anterior tilt per metre of sacrum descent (12 deg at 0.15 m)
SQUAT_BACK_PER_DOWN = 0.4  # the pelvis moves back 0.4 m per metre down (sitting back)
SQUAT_TEMPO_CV = 0.08  # rep-to-rep variation of down/up times
SQUAT_PAUSE_CV = 0.15
SQUAT_DEPTH_CV = 0.05
SQUAT_FINISH_S = 0.5  # last rep end -> touch-down, at the earliest
END_S = 3.0  # the session goes on this long after the last planned phase


def squat_rep_s(cfg: SimConfig) -> float:
    """Planned duration of one squat rep (down, up, pause), s."""
    return cfg.squat_down_s + cfg.squat_up_s + cfg.squat_pause_s


def plan_protocol(test: str, *, hold_s: float = 30.0, reps: int = 5, rest_s: float = 10.0,
                  standing_s: float = 5.0, order: tuple[str, ...] = ("L", "R"),
                  rep_s: float = 4.0) -> dict[str, Any]:
    """The planned protocol (``meta.protocol``, docs/self_tests.md): the prompts' times.

    Per leg: two-legged standing ``standing_s``, then the hold (``hold_s``) or the squats
    (`SQUAT_LEAD_S` to lift the foot and settle, then ``reps`` x ``rep_s``); ``rest_s``
    between the legs (no rest phase when 0). Times in session seconds from 0.
    """
    stance = test == "single-leg-stance"
    phases: list[dict[str, Any]] = []
    t = 0.0

    def add(phase: str, dur: float, side: str | None = None) -> None:
        nonlocal t
        row: dict[str, Any] = {"phase": phase}
        if side is not None:
            row["stance_side"] = side
        row.update(start_s=round(t, 6), end_s=round(t + dur, 6))
        phases.append(row)
        t += dur

    for i, side in enumerate(order):
        if i and rest_s > 0:
            add("rest", rest_s)
        add("both", standing_s)
        if stance:
            add("hold", hold_s, side)
        else:
            add("squats", SQUAT_LEAD_S + reps * rep_s, side)
    return {"test": test, "hold_s": float(hold_s) if stance else None,
            "reps": None if stance else int(reps), "rest_s": float(rest_s),
            "order": list(order), "phases": phases}


def protocol_for(cfg: SimConfig) -> dict[str, Any]:
    """The protocol a config asks for (`plan_protocol` with its fields)."""
    order = ("L", "R") if cfg.first_side == "L" else ("R", "L")
    return plan_protocol(cfg.activity, hold_s=cfg.hold_s, reps=cfg.reps, rest_s=cfg.rest_s,
                         standing_s=cfg.standing_s, order=order, rep_s=squat_rep_s(cfg))


def session_length_s(protocol: dict[str, Any], trailing_s: float = 0.0) -> float:
    """The simulated session's length: the last planned phase, `END_S` and ``trailing_s``."""
    return float(protocol["phases"][-1]["end_s"]) + END_S + trailing_s


@dataclass
class Bout:
    """What the simulated person does on one leg, from the weight shift to the shift back.

    ``up``: the intervals with the foot lifted (lift-off .. touch-down; an early touch-down
    splits the hold in two); ``reps``: ``(start, bottom, end, depth_m)`` of each squat;
    ``baseline``: the two-legged standing the drop is measured from (the planned phase before,
    from the moment the pelvis is level again after the previous leg's touch-down).
    """

    side: str
    phase: dict[str, Any]
    baseline: tuple[float, float]
    shift_on: float
    shift_on_s: float
    lift: float
    touch: float
    shift_off_s: float
    touchdowns: list[tuple[float, float]] = field(default_factory=list)
    reps: list[tuple[float, float, float, float]] = field(default_factory=list)

    @property
    def sign(self) -> float:
        """+1 standing on the left leg (the obliquity rises with the drop), -1 on the right."""
        return 1.0 if self.side == "L" else -1.0

    @property
    def up(self) -> list[tuple[float, float]]:
        starts = [self.lift] + [b for _, b in self.touchdowns]
        ends = [a for a, _ in self.touchdowns] + [self.touch]
        return list(zip(starts, ends, strict=True))


def _timeline(cfg: SimConfig, protocol: dict[str, Any], rng: np.random.Generator) -> list[Bout]:
    """The person's real times, following the plan (draws from ``rng``, bout by bout)."""
    phases = protocol["phases"]
    bouts = []
    for k, ph in enumerate(phases):
        if ph["phase"] not in ("hold", "squats"):
            continue
        shift_on = ph["start_s"] + rng.uniform(*REACTION_S)
        shift_on_s = rng.uniform(*SHIFT_S)
        lift = shift_on + shift_on_s
        both = phases[k - 1]
        level_again = bouts[-1].touch + TOUCH_S if bouts else -np.inf
        baseline = (max(both["start_s"], min(level_again, both["end_s"] - 0.5)), both["end_s"])
        b = Bout(side=ph["stance_side"], phase=ph, baseline=baseline, shift_on=shift_on,
                 shift_on_s=shift_on_s, lift=lift, touch=np.nan, shift_off_s=np.nan)
        done = lift
        if ph["phase"] == "hold" and cfg.touchdown_at_s is not None and not bouts:
            td0 = lift + cfg.touchdown_at_s
            done = td0 + rng.uniform(*TOUCHDOWN_S)
            b.touchdowns.append((td0, done))
        if ph["phase"] == "squats":
            t = lift + rng.uniform(*SQUAT_FIRST_REP_S)
            for _ in range(cfg.reps):
                down = cfg.squat_down_s * max(0.5, 1 + SQUAT_TEMPO_CV * rng.normal())
                up = cfg.squat_up_s * max(0.5, 1 + SQUAT_TEMPO_CV * rng.normal())
                depth = cfg.squat_depth_m * max(0.5, 1 + SQUAT_DEPTH_CV * rng.normal())
                b.reps.append((t, t + down, t + down + up, depth))
                done = t + down + up
                t = done + cfg.squat_pause_s * max(0.2, 1 + SQUAT_PAUSE_CV * rng.normal())
            done += SQUAT_FINISH_S
        b.touch = max(ph["end_s"] + rng.uniform(*REACTION_S), done + 1.0)
        b.shift_off_s = rng.uniform(*SHIFT_S)
        bouts.append(b)
    return bouts


# ----------------------------------------------------------------------------- signals
def _step(t: np.ndarray, start: float, width: float) -> Jet:
    """C2 step 0 -> 1 over ``[start, start + width]`` as a time jet."""
    return smootherstep(t - start, width)


def _one_minus(a: Jet) -> Jet:
    return (1.0 - a[0], -a[1], -a[2])


def _decay(t: np.ndarray, start: float, tau: float, hz: float | None = None) -> Jet:
    """``exp(-u / tau)`` (or ``exp(-u / tau) sin(2 pi hz u)``), ``u = max(t - start, 0)``.

    Only used multiplied by a step starting at ``start`` (zero to second order there), so
    the clamp does not break the smoothness of the product.
    """
    u = np.maximum(t - start, 0.0)
    e = np.exp(-u / tau)
    if hz is None:
        return e, -e / tau, e / tau**2
    w = 2 * np.pi * hz
    s, c = np.sin(w * u), np.cos(w * u)
    return e * s, e * (w * c - s / tau), e * ((1 / tau**2 - w**2) * s - 2 * w / tau * c)


def _foot_up(t: np.ndarray, b: Bout, settle: bool) -> Jet:
    """1 while the foot is lifted (C2 transitions; with the settling transient if asked)."""
    out = jet_const(0.0, t.size)
    for a, z in b.up:
        on = _step(t, a, LIFT_S)
        if settle:
            osc = _decay(t, a, SETTLE["tau_s"], SETTLE["hz"])
            on = jet_mul(on, jet_add(jet_const(1.0, t.size), jet_scale(osc, SETTLE["overshoot"])))
        out = jet_add(out, jet_mul(on, _one_minus(_step(t, z, TOUCH_S))))
    return out


def _after_lift(t: np.ndarray, b: Bout) -> Jet:
    """A bump after each lift-off decaying with `SWAY_EXTRA_TAU_S` (the extra sway)."""
    return jet_add(*(jet_mul(_step(t, a, LIFT_S), _decay(t, a, SWAY_EXTRA_TAU_S))
                     for a, _ in b.up))


def _rep_profile(t: np.ndarray, rep: tuple[float, float, float, float]) -> Jet:
    """0 -> 1 (at the bottom) -> 0 over one squat rep."""
    start, bottom, end, _ = rep
    return jet_mul(_step(t, start, bottom - start), _one_minus(_step(t, bottom, end - bottom)))


def _noise(t: np.ndarray, rng: np.random.Generator) -> Jet:
    """Unit-RMS slow noise: `SWAY_COMPONENTS` sinusoids, log-uniform in `SWAY_HZ`."""
    f = np.exp(rng.uniform(*np.log(SWAY_HZ), SWAY_COMPONENTS))
    ph = rng.uniform(0, 2 * np.pi, SWAY_COMPONENTS)
    a = f**-0.5
    a /= np.sqrt(np.sum(a**2) / 2)
    w = 2 * np.pi * f
    arg = np.outer(t, w) + ph
    s, c = np.sin(arg), np.cos(arg)
    return s @ a, c @ (a * w), -(s @ (a * w**2))


def _sum_or_zero(jets: list[Jet], n: int) -> Jet:
    return jet_add(*jets) if jets else jet_const(0.0, n)


@dataclass(frozen=True)
class Kinematics:
    """The pelvis of a self-test: motion, obliquity, and what the truth needs."""

    motion: PelvisMotion
    obliquity: Jet
    levels: list[float]  # solved drop level per bout, deg
    stance_gate: np.ndarray  # +1 on the left leg, -1 on the right, 0 on both feet


def _kinematics(t: np.ndarray, bouts: list[Bout], cfg: SimConfig, r: dict[str, Any],
                rng: np.random.Generator) -> Kinematics:
    """Pelvis angles and displacements (jets) of the whole session.

    Draws the sway from ``rng`` in the order obliquity, tilt, rotation, ML, AP.
    """
    n = t.size
    sway_n = {k: _noise(t, rng) for k in ("obl", "tilt", "rot", "ml", "ap")}
    gate = [_foot_up(t, b, settle=True) for b in bouts]
    on_leg = [_foot_up(t, b, settle=False) for b in bouts]
    # Sway envelope (deg): two feet, one leg, and more right after each lift-off.
    sd = cfg.sway_deg
    env = jet_add(jet_const(sd * SWAY_BOTH_FRACTION, n),
                  jet_scale(_sum_or_zero(on_leg, n), sd * (1 - SWAY_BOTH_FRACTION)),
                  jet_scale(_sum_or_zero([_after_lift(t, b) for b in bouts], n), sd * SWAY_EXTRA))
    sway = {k: jet_mul(env, v) for k, v in sway_n.items()}
    # Drop shape per bout (1 = the level): the hold, or the squats' standing part plus depth.
    squat = cfg.activity == "single-leg-squat"
    profiles = [[_rep_profile(t, rep) for rep in b.reps] for b in bouts]
    shapes = []
    for b, g, prof in zip(bouts, gate, profiles, strict=True):
        if squat:
            deep = _sum_or_zero([jet_scale(p, rep[3] / cfg.squat_depth_m)
                                 for p, rep in zip(prof, b.reps, strict=True)], n)
            g = jet_add(jet_scale(g, SQUAT_STANDING_DROP), jet_scale(deep, 1 - SQUAT_STANDING_DROP))
        shapes.append(g)
    # Solved leg by leg: a drop never reaches back, but the previous one may still be
    # returning to level at the start of the next baseline.
    obl = jet_add(jet_const(cfg.standing_obliquity_deg, n), sway["obl"])
    levels, drops = [], []
    for b, shape in zip(bouts, shapes, strict=True):
        levels.append(_solve_level(t, b, shape[0], obl[0], r, squat))
        drops.append(jet_scale(shape, levels[-1]))
        obl = jet_add(obl, jet_scale(drops[-1], b.sign))
    # Squat depth of the sacrum (m) over time, the anterior tilt and the pelvis moving back.
    depth = _sum_or_zero([jet_scale(p, rep[3]) for b, prof in zip(bouts, profiles, strict=True)
                          for p, rep in zip(prof, b.reps, strict=True)], n)
    tilt = jet_add(jet_const(cfg.standing_tilt_deg, n), sway["tilt"],
                   jet_scale(depth, SQUAT_TILT_DEG_PER_M))
    rot = jet_scale(sway["rot"], SWAY_ROTATION_FRACTION)
    # Medio-lateral: the weight shift towards the standing leg (right +), and sway.
    shift = [jet_scale(jet_mul(_step(t, b.shift_on, b.shift_on_s),
                               _one_minus(_step(t, b.touch, b.shift_off_s))),
                       -b.sign * cfg.weight_shift_m) for b in bouts]
    ml = jet_add(jet_scale(sway["ml"], SWAY_M_PER_DEG), *shift)
    ap = jet_add(jet_scale(sway["ap"], SWAY_M_PER_DEG), jet_scale(depth, -SQUAT_BACK_PER_DOWN))
    up = _origin_vertical(t, bouts, drops, profiles, obl, tilt, cfg)
    motion = PelvisMotion(up=up, forward=ap, right=ml, rotation=rot, tilt=tilt)
    stance_gate = sum((b.sign * g[0] for b, g in zip(bouts, on_leg, strict=True)), np.zeros(n))
    return Kinematics(motion=motion, obliquity=obl, levels=levels, stance_gate=stance_gate)


def _solve_level(t: np.ndarray, b: Bout, shape: np.ndarray, other: np.ndarray,
                 r: dict[str, Any], squat: bool) -> float:
    """The drop level that makes the realised mean drop exactly the requested one.

    The drop is ``sign * (obliquity - baseline)``, linear in the level: over the stable part
    of the hold (stance) or at the reps' bottoms (squats), against the mean over the
    baseline. ``other`` is the obliquity without this leg's drop (standing posture, sway, the
    legs before).
    """
    target = r["cpd_left_deg" if b.side == "L" else "cpd_right_deg"]
    base = float(np.mean(other[_baseline_mask(t, b)]))
    idx = _bottom_idx(t, b) if squat else _stable_mask(t, b)
    return float((target - b.sign * (np.mean(other[idx]) - base)) / np.mean(shape[idx]))


def _baseline_mask(t: np.ndarray, b: Bout) -> np.ndarray:
    return (t >= b.baseline[0]) & (t < b.baseline[1])


def _stable_windows(b: Bout) -> list[tuple[float, float]]:
    """The stable part of a hold: `STABLE_AFTER_S` after each lift-off to the next touch-down."""
    return [(a + STABLE_AFTER_S, z) for a, z in b.up if z > a + STABLE_AFTER_S]


def _stable_mask(t: np.ndarray, b: Bout) -> np.ndarray:
    m = np.zeros(t.size, dtype=bool)
    for a, z in _stable_windows(b):
        m |= (t >= a) & (t <= z)
    return m


def _bottom_idx(t: np.ndarray, b: Bout) -> np.ndarray:
    fs = 1.0 / (t[1] - t[0])
    return np.array([round(rep[1] * fs) for rep in b.reps], dtype=int)


def _origin_vertical(t: np.ndarray, bouts: list[Bout], drops: list[Jet],
                     profiles: list[list[Jet]], obl: Jet, tilt: Jet, cfg: SimConfig) -> Jet:
    """Vertical displacement of the pelvis origin, so that the SACRUM (sensor point) moves
    as intended: down by each rep's depth (from its start to its bottom, exactly on the
    sample grid), and down by ``h sin(drop)`` when the pelvis turns about the standing hip.
    The sensor's lever arm (tilt and obliquity move it) is taken out of the origin."""
    n = t.size
    fs = 1.0 / (t[1] - t[0])
    pivot = _sum_or_zero([jet_scale(jet_sin_cos(jet_scale(d, np.pi / 180))[0],
                                    -HIP_HALF_WIDTH_M) for d in drops], n)
    parts = [pivot]
    for b, prof in zip(bouts, profiles, strict=True):
        for p, (start, bottom, _, depth) in zip(prof, b.reps, strict=True):
            i0, i1 = int(np.floor(start * fs)), round(bottom * fs)
            amp = depth - (pivot[0][i0] - pivot[0][i1])
            parts.append(jet_scale(p, -amp))
    sensor_v = jet_add(*parts)
    lever = _lever_vertical(obl, tilt, np.asarray(cfg.sensor_offset_m, float))
    lever0 = _lever_vertical(jet_const(cfg.standing_obliquity_deg, 1),
                             jet_const(cfg.standing_tilt_deg, 1),
                             np.asarray(cfg.sensor_offset_m, float))[0][0]
    return (sensor_v[0] - (lever[0] - lever0), sensor_v[1] - lever[1], sensor_v[2] - lever[2])


def _lever_vertical(obl: Jet, tilt: Jet, r: np.ndarray) -> Jet:
    """Height of the sensor above the pelvis origin: the up component of ``R_world_pelvis r``
    (`imu.rotation_world_pelvis`), ``r`` in (up, right, forward), angles in deg."""
    s_o, c_o = jet_sin_cos(jet_scale(obl, np.pi / 180))
    s_t, c_t = jet_sin_cos(jet_scale(tilt, np.pi / 180))
    # up . R r = cos(obl) (r_up cos(tilt) - r_fwd sin(tilt)) - sin(obl) r_right
    inner = jet_add(jet_scale(c_t, r[0]), jet_scale(s_t, -r[2]))
    return jet_add(jet_mul(c_o, inner), jet_scale(s_o, -r[1]))


# ----------------------------------------------------------------------------- the session
def simulate_self_test(cfg: SimConfig, r: dict[str, Any],
                       rng: np.random.Generator) -> SimResult:
    """A self-test session (``cfg`` validated, ``r`` resolved): steps as for gait.

    Draws from ``rng``: the timeline, the sway, the misalignment axis, biases and noise,
    the radio.
    """
    protocol = protocol_for(cfg)
    total = session_length_s(protocol, cfg.trailing_standing_s)
    cfg = dataclasses.replace(cfg, duration_s=total)
    r = {**r, "duration_s": total}
    fs = float(cfg.sampling_rate_hz)
    t = np.arange(round(total * fs)) / fs
    bouts = _timeline(cfg, protocol, rng)
    kin = _kinematics(t, bouts, cfg, r, rng)
    zero = jet_const(0.0, t.size)
    still = GaitWindow(gate=zero, ramp_s=0.0, heading=zero, turns=[], speed=zero)
    ideal = ideal_imu(kin.motion, kin.obliquity, still, cfg, rng)
    measured = measure(ideal, t, np.empty(0), zero, cfg, rng)
    link = transmit(measured.raw, cfg, r["samples_per_packet"], rng)
    arrays = _truth_arrays(t, kin, cfg)
    truth = {
        "source": "gaitimu.simulate",
        "activity": cfg.activity,
        "self_test": _self_test_truth(cfg, protocol, bouts, kin, arrays),
        "events": [],
        "standing_obliquity_deg": cfg.standing_obliquity_deg,
        "standing_tilt_deg": cfg.standing_tilt_deg,
        "standing_s": [0.0, float(cfg.standing_s)],
        **sensor_truth(cfg, t.size, ideal, measured, link),
        "config": r,
    }
    return SimResult(t_s=link.t_s, acc=link.acc, gyr=link.gyr, packets=link.packets,
                     truth=truth, truth_arrays=arrays,
                     ideal={"t_s": t, "acc": ideal.acc, "gyr": ideal.gyr}, config=cfg)


def _truth_arrays(t: np.ndarray, kin: Kinematics, cfg: SimConfig) -> dict[str, np.ndarray]:
    m = kin.motion
    zero = np.zeros(t.size)
    arrays = {"t_s": t, "obliquity_deg": kin.obliquity[0], "tilt_deg": m.tilt[0],
              "rotation_deg": m.rotation[0], "heading_deg": zero, "vertical_m": m.up[0],
              "ml_m": m.right[0], "ap_m": m.forward[0], "speed_mps": zero,
              "stance_gate": kin.stance_gate}
    arrays.update(sensor_displacement(arrays, np.asarray(cfg.sensor_offset_m, float),
                                      cfg.standing_obliquity_deg, cfg.standing_tilt_deg))
    return arrays


def _r6(x: float) -> float:
    return round(float(x), 6)


def _self_test_truth(cfg: SimConfig, protocol: dict[str, Any], bouts: list[Bout],
                     kin: Kinematics, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Holds or reps as realised in the true obliquity and sacrum height (docs/self_tests.md)."""
    t = arrays["t_s"]
    obl = arrays["obliquity_deg"]
    sacrum = arrays["sensor_vertical_m"]
    holds, reps, sets = [], [], []
    count = {"L": 0, "R": 0}
    for b, level in zip(bouts, kin.levels, strict=True):
        base = float(np.mean(obl[_baseline_mask(t, b)]))
        drop = b.sign * (obl - base)
        common = {"stance_side": b.side, "baseline_obliquity_deg": _r6(base),
                  "baseline_s": [_r6(b.baseline[0]), _r6(b.baseline[1])]}
        if not b.reps:
            stable = drop[_stable_mask(t, b)]
            holds.append({
                **common, "index": 1, "lift_s": _r6(b.lift), "touch_s": _r6(b.touch),
                "hold_s": _r6(b.touch - b.lift),
                "drop_mean_deg": _r6(np.mean(stable)),
                "drop_worst_deg": _r6(np.percentile(stable, 95)),
                "touchdowns": [[_r6(a), _r6(z)] for a, z in b.touchdowns],
                "stable_s": [[_r6(a), _r6(z)] for a, z in _stable_windows(b)],
                "weight_shift_s": [_r6(b.shift_on), _r6(b.lift)],
                "drop_level_deg": _r6(level),
            })
            continue
        sets.append({**common, "lift_s": _r6(b.lift), "touch_s": _r6(b.touch),
                     "weight_shift_s": [_r6(b.shift_on), _r6(b.lift)],
                     "drop_level_deg": _r6(level)})
        fs = float(cfg.sampling_rate_hz)
        for (start, bottom, end, _), ib in zip(b.reps, _bottom_idx(t, b), strict=True):
            count[b.side] += 1
            i0 = int(np.floor(start * fs))
            reps.append({
                **common, "index": count[b.side], "start_s": _r6(start),
                "bottom_s": _r6(bottom), "end_s": _r6(end),
                "depth_m": _r6(sacrum[i0] - sacrum[ib]),
                "drop_bottom_deg": _r6(drop[ib]),
                "tilt_bottom_deg": _r6(arrays["tilt_deg"][ib] - cfg.standing_tilt_deg),
            })
    out: dict[str, Any] = {"test": cfg.activity, "holds": holds, "reps": reps}
    if sets:
        out["sets"] = sets
    out["protocol"] = protocol
    out["definitions"] = DEFINITIONS
    return out


DEFINITIONS = {
    "drop": "stance side L: obliquity - baseline; R: baseline - obliquity (deg, > 0 = the "
            "unsupported side lower); baseline = mean true obliquity over baseline_s (the "
            "two-legged standing phase planned right before, from when the pelvis is level "
            "again after the previous leg's touch-down)",
    "lift_s": "the lifted foot leaves the ground: the unsupported side starts to drop "
              f"(C2 step over {LIFT_S} s, then a damped settling oscillation)",
    "touch_s": f"the foot is put down: the drop returns to 0 over {TOUCH_S} s",
    "touchdowns": "early touch-downs inside the hold, [[touch, lift again]]",
    "drop_mean_deg": f"mean drop over stable_s (from {STABLE_AFTER_S} s after each lift-off "
                     "to the next touch-down), on the sample grid",
    "drop_worst_deg": "95th percentile of the drop over stable_s",
    "depth_m": "sacrum (sensor point) height at the rep start minus at its bottom sample",
    "drop_bottom_deg": "drop at the rep's bottom sample (the deepest sacrum position)",
}
