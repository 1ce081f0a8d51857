"""A simulation as a session on disk, and as one paragraph for the CLI."""

from __future__ import annotations

import os

import numpy as np

from gaitimu.consts import DEFAULT_AXES
from gaitimu.sensors.protocol import PROTOCOL_VERSION
from gaitimu.simulate.config import SimResult


def write_session(sim: SimResult, path: str | os.PathLike[str], *, subject: str | None = None,
                  notes: str | None = None) -> None:
    """Write a simulation as a session (gaitimu.sessions): packets, samples, gaps, truth.

    A self-test also gets ``meta.protocol``, the planned phases as the guided recorder
    stores them (docs/self_tests.md).
    """
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
    if "self_test" in sim.truth:
        meta["protocol"] = sim.truth["self_test"]["protocol"]
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
    if "self_test" in tr:
        return _self_test_summary(sim)
    ev = tr["events"]
    n_l = sum(e["side"] == "L" for e in ev)
    n_r = len(ev) - n_l
    cpd = tr["cpd_mean_deg"]

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    return (
        f"Simulated {sim.duration_s:g} s of {tr['activity']} at {sim.sample_rate_hz:g} Hz "
        f"({tr['cadence_spm']:g} spm, {tr['speed_mps']:g} m/s, duty factor {tr['duty_factor']:.2f}, "
        f"{tr['standing_s'][1]:g} s standing first): {n_l} left and {n_r} right stances, true mean "
        f"CPD vs standing L {fmt(cpd['L'])} deg, R {fmt(cpd['R'])} deg; {len(tr['turns'])} turns; "
    ) + _radio_text(sim)


def _radio_text(sim: SimResult) -> str:
    tr = sim.truth
    return (f"{len(sim.packets)} packets kept, {len(tr['lost_packets'])} lost "
            f"({tr['lost_samples']} samples); mounting misalignment "
            f"{tr['misalignment']['angle_deg']:.1f} deg; {tr['n_samples_clipped']} clipped values.")


def _self_test_summary(sim: SimResult) -> str:
    """The self-test paragraph: what each leg did and its true drop."""
    st = sim.truth["self_test"]
    parts = []
    for h in st["holds"]:
        td = f", {len(h['touchdowns'])} early touch-down(s)" if h["touchdowns"] else ""
        parts.append(f"on {h['stance_side']} {h['hold_s']:.1f} s, drop {h['drop_mean_deg']:.2f} "
                     f"deg{td}")
    for side in ("L", "R"):
        reps = [r for r in st["reps"] if r["stance_side"] == side]
        if reps:
            parts.append(
                f"on {side} {len(reps)} squats, depth {np.mean([r['depth_m'] for r in reps]):.3f}"
                f" m, drop at the bottom {np.mean([r['drop_bottom_deg'] for r in reps]):.2f} deg")
    return (f"Simulated {st['test']} ({sim.duration_s:g} s at {sim.sample_rate_hz:g} Hz, "
            f"true values): {'; '.join(parts)}; " + _radio_text(sim))
