"""When the feet strike: the stride clock of a simulated session (step 2 of `simulate`).

A continuous stride phase ``phi(t)`` (0 at a left initial contact, 0.5 at the right one) is
the integral of a smooth, positive stride frequency through strides whose durations vary
from stride to stride (AR(1) noise). Initial contacts are where ``phi`` crosses multiples of
0.5, final contacts ``duty_factor`` later. Every stance, its side and whether it is complete
inside the gait window (the truth) follow from the phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.interpolate import make_interp_spline

from gaitimu.simulate.config import ACTIVITY_DEFAULTS, SimConfig
from gaitimu.simulate.jets import Jet


@dataclass(frozen=True)
class GaitTiming:
    """The stride clock of one session.

    Attributes
    ----------
    t
        Sample grid, s (``n = round(duration_s * rate)`` samples).
    phase
        Stride-phase jet (cycles, /s, /s^2); ``d3phase`` its third derivative (a phase-domain
        acceleration template needs it for its second time derivative).
    phase0
        Phase of the first truth IC: 0 (left foot first) or 0.5 (right).
    stride_s, duty
        Nominal stride time (s) and duty factor (stance / stride).
    knots_t
        Nominal IC times of the first side, one per stride (knots of the amplitude envelopes).
    t_gait0, t_gait1
        The gait window between the leading and the trailing quiet standing, s.
    t_stop
        The last complete FC when the session ends standing (the gait fades out after it);
        ``inf`` when it ends in gait.
    stances
        Every stance from the first IC on, one entry per stance: ``ic_phase``, ``ic_s``,
        ``fc_s``, ``next_ic_s`` (either foot), ``stride_end_s`` (same foot), ``side``,
        ``complete`` (inside the gait window: the truth; the rest only shape the signal).
    """

    t: np.ndarray
    phase: Jet
    d3phase: np.ndarray
    phase0: float
    stride_s: float
    duty: float
    knots_t: np.ndarray
    t_gait0: float
    t_gait1: float
    t_stop: float
    stances: dict[str, np.ndarray]


def gait_timing(cfg: SimConfig, r: dict[str, Any], rng: np.random.Generator) -> GaitTiming:
    """Draw the stride durations and build the phase, the stances and the end of the gait.

    ``r`` is the resolved config (`config.validate`). Draws one AR(1) series from ``rng``.
    """
    fs = float(cfg.sampling_rate_hz)
    t = np.arange(round(cfg.duration_s * fs)) / fs
    stride0 = 120.0 / r["cadence_spm"]
    duty = _duty_factor(cfg.activity, r["cadence_spm"], r["speed_mps"])
    t_gait0 = cfg.standing_s
    t_gait1 = cfg.duration_s - cfg.trailing_standing_s
    phase0 = 0.0 if cfg.first_side == "L" else 0.5
    # Strides from well before the first IC (the phase must exist on the whole grid) to 15 %
    # beyond the end; the first truth IC ends the standing.
    n_pre = int(np.ceil(t_gait0 / stride0)) + 3
    n_str = int(np.ceil((cfg.duration_s - t_gait0) / stride0 * 1.15)) + 8
    durs = stride0 * (1 + r["stride_cv"] * ar1(rng, n_pre + n_str))
    cum = np.concatenate([[0.0], np.cumsum(durs)])
    knots_t = t_gait0 + cum - cum[n_pre]
    phase, d3phase = phase_from_strides(t, knots_t, durs, t_gait0, phase0)
    stances = _stances(t, phase, phase0, duty, t_gait0, t_gait1, cfg.duration_s, fs)
    t_stop = np.inf
    if cfg.trailing_standing_s > 0:
        done = stances["complete"]
        t_stop = float(stances["fc_s"][done].max()) if done.any() else t_gait1
    return GaitTiming(t=t, phase=phase, d3phase=d3phase, phase0=phase0, stride_s=stride0,
                      duty=duty, knots_t=knots_t, t_gait0=t_gait0, t_gait1=t_gait1,
                      t_stop=t_stop, stances=stances)


def ar1(rng: np.random.Generator, n: int, rho: float = 0.5) -> np.ndarray:
    """Unit-variance AR(1) noise (stride-to-stride series are autocorrelated)."""
    e = rng.normal(size=n)
    out = np.empty(n)
    out[0] = e[0]
    k = np.sqrt(1 - rho**2)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + k * e[i]
    return out


def phase_from_strides(t: np.ndarray, knots_t: np.ndarray, durs: np.ndarray, t0: float,
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
    """Stance / stride: walking from the speed, running from a contact time (~speed^-0.7)."""
    p = ACTIVITY_DEFAULTS[activity]
    if activity == "walk":
        # Stance ~60 % of the stride at normal speed; a little longer when slower.
        return float(np.clip(p["duty_factor"] - 0.04 * (speed_mps - p["speed_mps"]), 0.55, 0.68))
    contact_s = p["contact_time_s"] * (p["speed_mps"] / speed_mps) ** 0.7
    return float(np.clip(contact_s / (120.0 / cadence_spm), 0.22, 0.45))


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


def edge_stances(timing: GaitTiming, t_fade_in: float, t_fade_out: float) -> list[dict[str, Any]]:
    """Partial stances during the fade-in/out of the gait: visible in the signals, no truth CPD."""
    t, ph, phase0, duty, rows = timing.t, timing.phase[0], timing.phase0, timing.duty, timing.stances
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
