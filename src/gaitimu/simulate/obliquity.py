"""The pelvic obliquity, with each stance's contralateral pelvic drop exactly as requested.

Obliquity = standing obliquity + gate(t) x the sum over stances of ``s_j A_j B(phi -
phi_IC_j - p)``: one skewed bump ``B`` per stance (``s_j`` +1 for a left stance, whose swing
side, the right hemipelvis, drops so the obliquity rises; -1 for a right one), peaking ``p``
after the IC. The bump heights ``A_j`` are solved (step 5 of `simulate`) so that every
complete stance's CPD, measured as the definition says on the sample grid plus the exact
values at IC and FC, equals its target (docs/simulator.md, "Obliquity and the exact CPD").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from gaitimu.errors import BadInputError
from gaitimu.simulate.config import ACTIVITY_DEFAULTS, SimConfig
from gaitimu.simulate.jets import Jet, jet_mul
from gaitimu.simulate.timing import GaitTiming, ar1


def solve_obliquity(timing: GaitTiming, gate: Jet, cfg: SimConfig, r: dict[str, Any],
                    rng: np.random.Generator) -> tuple[Jet, dict[str, np.ndarray]]:
    """Obliquity jet (deg) whose complete stances have exactly their per-stance target CPD.

    Returns the jet (standing obliquity included) and the stance rows of ``timing`` with the
    truth added: ``cpd_standing_deg``, ``cpd_ic_deg``, ``target_cpd_deg``,
    ``gait_obliquity_offset_deg``, ``obliquity_at_ic_deg``. Draws one AR(1) series (the
    stance-to-stance variability) from ``rng``.
    """
    p = ACTIVITY_DEFAULTS[cfg.activity]
    rows = timing.stances
    sign = np.where(rows["side"] == "L", 1.0, -1.0)
    # 1. One target CPD per stance; each side's mean over the complete stances is the request
    target, bound, offset = _cpd_targets(rows, cfg, r, rng)
    # 2. The bumps for given heights, and the CPD they realise as the definition measures it
    bumps = partial(_obliquity_bumps, ic_phase=rows["ic_phase"], sign=sign,
                    peak=p["obliquity_peak_phase"],
                    bump=_Bump(p["obliquity_rise"], p["obliquity_fall"]), offset=offset)
    realised = _cpd_meter(timing, gate, bumps, float(cfg.sampling_rate_hz))
    # 3. Bump heights by fixed-point iteration until every complete stance hits its target
    amp, cpd_st, at_ic = _bump_heights(realised, target, bound, rows["complete"])
    # 4. The obliquity with those heights, and the truth of every stance
    o = bumps(timing.phase, gate, amp=amp)
    obl = (o[0] + cfg.standing_obliquity_deg, o[1], o[2])
    rows = dict(rows)
    rows["cpd_standing_deg"] = cpd_st
    rows["cpd_ic_deg"] = cpd_st - sign * at_ic
    rows["target_cpd_deg"] = target
    rows["gait_obliquity_offset_deg"] = offset
    rows["obliquity_at_ic_deg"] = at_ic + cfg.standing_obliquity_deg
    return obl, rows


def _cpd_targets(rows: dict[str, np.ndarray], cfg: SimConfig, r: dict[str, Any],
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-stance target CPD, the lowest CPD a stance can have (``bound``), and the offset.

    Targets: side mean + centred linear fatigue drift + AR(1) variability, then shifted so
    the mean over the complete stances of each side equals the request exactly. Stances after
    the gait stops get no bump (target = bound).
    """
    side = rows["side"]
    complete = rows["complete"]
    k = side.size
    mean = np.where(side == "L", r["cpd_left_deg"], r["cpd_right_deg"])
    # A gait-long obliquity offset (relative to standing) makes negative requests possible:
    # a left stance's CPD is offset + drop_L, a right one's -offset + drop_R, drops >= 0.
    offset = float(np.clip(0.0, -r["cpd_right_deg"], r["cpd_left_deg"]))
    bound = np.where(side == "L", offset, -offset)
    t_ic = rows["ic_s"]
    if complete.any():
        a, b = t_ic[complete].min(), t_ic[complete].max()
        tau = np.clip((t_ic - a) / (b - a), 0, 1) if b > a else np.zeros(k)
    else:
        tau = np.zeros(k)
    excess = (mean - bound + cfg.fatigue_cpd_deg * (tau - 0.5)
              + r["cpd_sd_deg"] * ar1(rng, k, 0.3))
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
    return target, bound, offset


def _cpd_meter(timing: GaitTiming, gate: Jet, bumps: Callable[..., Jet],
               fs: float) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``amp -> (cpd_standing per stance, obliquity at each IC)`` for bump heights ``amp``.

    As the definition measures it: left stance ``max(obl over IC..FC)``, right stance
    ``-min(...)``, on the sample grid plus the exact values at IC and FC (the bumps evaluated
    at the event phases), so the truth is what an ideal analysis at that rate would see.
    """
    t, phase, rows = timing.t, timing.phase, timing.stances
    side = rows["side"]
    k = side.size
    i0 = np.ceil(rows["ic_s"] * fs - 1e-9).astype(np.int64)
    i1 = np.floor(np.minimum(rows["fc_s"], t[-1]) * fs + 1e-9).astype(np.int64) + 1
    ev_t = np.concatenate([rows["ic_s"], np.minimum(rows["fc_s"], t[-1])])
    # IC/FC phases and gate values for exact evaluation at the events
    spl_phase = (np.interp(ev_t, t, phase[0]), np.interp(ev_t, t, phase[1]),
                 np.interp(ev_t, t, phase[2]))
    gate_ev = (np.interp(ev_t, t, gate[0]), np.zeros_like(ev_t), np.zeros_like(ev_t))

    def realised(amp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o = bumps(phase, gate, amp=amp, derivs=False)
        o_ev = bumps(spl_phase, gate_ev, amp=amp, derivs=False)[0]
        at_ic, at_fc = o_ev[:k], o_ev[k:]
        cpd_st = np.full(k, np.nan)
        for s, fn in (("L", np.maximum), ("R", np.minimum)):
            m = np.flatnonzero(side == s)
            ext = _window_extremes(o[0], i0[m], i1[m], fn)
            ext = fn(fn(np.nan_to_num(ext, nan=at_ic[m]), at_ic[m]), at_fc[m])
            cpd_st[m] = ext if s == "L" else -ext
        return cpd_st, at_ic

    return realised


def _bump_heights(realised: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                  target: np.ndarray, bound: np.ndarray,
                  complete: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bump heights whose realised CPD is the target (to 1e-6 deg): ``(amp, cpd, at_ic)``.

    A bump's height moves its stance's CPD one for one except where neighbouring bumps
    overlap, so adding the error converges in a few rounds. Raises `BadInputError` when 12
    rounds leave a stance more than 0.05 deg off (extreme asymmetry).
    """
    amp = target - bound
    for _ in range(12):
        cpd_st, at_ic = realised(amp)
        err = np.where(complete, target - cpd_st, 0.0)
        if np.max(np.abs(err[complete]), initial=0.0) < 1e-6:
            return amp, cpd_st, at_ic
        amp = amp + err
    cpd_st, at_ic = realised(amp)
    worst = float(np.max(np.abs((target - cpd_st)[complete]), initial=0.0))
    if worst > 0.05:
        raise BadInputError(
            f"could not realise the requested CPD (off by {worst:.2f} deg); "
            "try less asymmetric cpd_left/cpd_right"
        )
    return amp, cpd_st, at_ic


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
    return jet_mul((f + offset, f1, f2), gate)


def _window_extremes(x: np.ndarray, i0: np.ndarray, i1: np.ndarray, fn: Any) -> np.ndarray:
    """``fn`` (np.maximum / np.minimum) over x[i0:i1] for non-overlapping, sorted windows."""
    idx = np.empty(2 * i0.size, dtype=np.int64)
    idx[0::2], idx[1::2] = i0, i1
    ok = i1 > i0
    x_ext = np.append(x, x[-1])
    red = fn.reduceat(x_ext, np.minimum(idx, x.size))[0::2]
    return np.where(ok, red, np.nan)

