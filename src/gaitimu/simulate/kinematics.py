"""How the pelvis moves: stride templates, the gait window and the walking path.

Pelvis kinematics are smooth periodic functions of the stride phase (`timing`), scaled by
smooth per-stride amplitude envelopes: tilt, rotation (yaw), and the medio-lateral, vertical
and forward acceleration of the pelvis origin (mid hip-joint centres). Walking uses an
inverted-pendulum vertical pattern (height highest at midstance, double support, no flight);
running a spring-mass pattern (vertical force pulse in stance, free fall in flight, lowest
point at midstance). Positions are the exact double integrals of these accelerations, so
positions, velocities and accelerations agree. The obliquity is in `obliquity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.interpolate import make_interp_spline

from gaitimu.simulate.config import ACTIVITY_DEFAULTS, SimConfig
from gaitimu.simulate.jets import Jet, jet_const, jet_mul, ramp_window, smootherstep
from gaitimu.simulate.timing import GaitTiming, ar1

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
class GaitWindow:
    """When the pelvis oscillates and where it goes (step 3 of `simulate`).

    Attributes
    ----------
    gate
        0 in quiet standing, 1 in gait: the oscillations fade in over ``ramp_s`` (0.4 stride)
        before the first IC, and out after the last FC when the session ends standing.
    ramp_s
        Length of those fades, s.
    heading
        Heading of the walking path (rad, > 0 turned left) with its 180-degree turns.
    turns
        One dict per turn: ``start_s``, ``end_s``, ``direction``.
    speed
        Walking/running speed along the path (m/s): ramped in over 1.5 strides, reduced in
        turns.
    """

    gate: Jet
    ramp_s: float
    heading: Jet
    turns: list[dict[str, Any]]
    speed: Jet


def gait_window(timing: GaitTiming, cfg: SimConfig, r: dict[str, Any],
                rng: np.random.Generator) -> GaitWindow:
    """The gate of the oscillations, the turns of the path and the speed along it.

    Draws the turn directions from ``rng``.
    """
    p = ACTIVITY_DEFAULTS[cfg.activity]
    t, stride0, t_stop = timing.t, timing.stride_s, timing.t_stop
    ramp_s = 0.4 * stride0
    gate = ramp_window(t, timing.t_gait0 - ramp_s, ramp_s, t_stop, ramp_s)
    speed_gate = ramp_window(t, timing.t_gait0 - 0.5 * stride0, 1.5 * stride0, t_stop,
                             1.5 * stride0)
    heading, turn_window, turns = _turns(t, cfg, p, timing.t_gait0,
                                         min(timing.t_gait1, t_stop), rng)
    slower = 1 - p["turn_speed_factor"]
    speed = jet_mul(jet_mul(jet_const(r["speed_mps"], t.size), speed_gate),
                    (1 - slower * turn_window[0], -slower * turn_window[1],
                     -slower * turn_window[2]))
    return GaitWindow(gate=gate, ramp_s=ramp_s, heading=heading, turns=turns, speed=speed)


@dataclass(frozen=True)
class PelvisMotion:
    """Pelvis kinematics apart from the obliquity (step 4 of `simulate`).

    ``up``, ``forward``, ``right``: displacement jets of the pelvis origin in the path frame
    (m); ``rotation`` (yaw relative to the path, > 0 turned left) and ``tilt`` (anterior > 0,
    around the standing tilt) jets in degrees.
    """

    up: Jet
    forward: Jet
    right: Jet
    rotation: Jet
    tilt: Jet


def pelvis_motion(timing: GaitTiming, window: GaitWindow, cfg: SimConfig, r: dict[str, Any],
                  rng: np.random.Generator) -> PelvisMotion:
    """Stride templates at the stride phase, times the gate and per-stride envelopes.

    Translational templates are phase-domain accelerations: ``x(t) = A(t) X(phi) / phi_dot^2``
    keeps the acceleration the template's at any cadence. Draws one envelope per channel
    from ``rng``, in the order up, forward, right, rotation, tilt.
    """
    walk = cfg.activity == "walk"
    phase = timing.phase
    tpl = _templates(cfg.activity, timing.duty, r["speed_mps"])
    cv = r["amplitude_cv"]
    # 1 / phi_dot^2 turns a phase-domain acceleration template into a time-domain one.
    inv2 = (1 / phase[1] ** 2, -2 * phase[2] / phase[1] ** 3,
            -2 * timing.d3phase / phase[1] ** 3 + 6 * phase[2] ** 2 / phase[1] ** 4)

    def translational(name: str, amp_cv: float, scale: float = 1.0) -> Jet:
        env = jet_mul(jet_mul(_envelope(timing, amp_cv, rng), window.gate), inv2)
        env = (env[0] * scale, env[1] * scale, env[2] * scale)
        return jet_mul(env, _at_phase(tpl[name], phase))

    def angular(name: str) -> Jet:
        return jet_mul(jet_mul(_envelope(timing, cv, rng), window.gate), _at_phase(tpl[name], phase))

    # Running vertical: amplitude exactly 1 (cv 0: variability would break the impulse
    # balance) and its template is in units of g.
    up = translational("vertical", cv if walk else 0.0, 1.0 if walk else float(cfg.gravity_mps2))
    forward = translational("forward", cv)
    right = translational("ml", cv)
    rotation = angular("rotation")
    tilt_osc = angular("tilt")
    tilt = (tilt_osc[0] + cfg.standing_tilt_deg, tilt_osc[1], tilt_osc[2])
    return PelvisMotion(up=up, forward=forward, right=right, rotation=rotation, tilt=tilt)


def _envelope(timing: GaitTiming, cv: float, rng: np.random.Generator) -> Jet:
    """Smooth per-stride amplitude envelope, mean 1: quintic spline through ``1 + cv * AR(1)``."""
    knots_t, t = timing.knots_t, timing.t
    vals = 1 + cv * ar1(rng, knots_t.size, 0.3)
    mid = 0.5 * (knots_t[:-1] + knots_t[1:])
    e = make_interp_spline(mid, vals[:-1], k=5)
    return (e(t), e.derivative(1)(t), e.derivative(2)(t))


def _at_phase(template: _PeriodicTemplate, phase: Jet) -> Jet:
    """A phase template as a time jet (chain rule through the phase jet)."""
    f0, f1, f2 = template(phase[0])
    return (f0, f1 * phase[1], f2 * phase[1] ** 2 + f1 * phase[2])

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
    edge = smootherstep(xc, taper)[0] * smootherstep(1 - xc, taper)[0]
    return np.where(inside, np.sin(np.pi * xc) * (1 + skew * (1 - 2 * xc)) * edge, 0.0)


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
        edge_l = smootherstep(np.clip(xl, 0, 1), 0.12)[0] * smootherstep(1 - np.clip(xl, 0, 1), 0.12)[0]
        edge_r = smootherstep(np.clip(xr, 0, 1), 0.12)[0] * smootherstep(1 - np.clip(xr, 0, 1), 0.12)[0]
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
            f = smootherstep(tl - ts, dur)
            w = ramp_window(tl, ts - edge, edge, ts + dur, edge)
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

