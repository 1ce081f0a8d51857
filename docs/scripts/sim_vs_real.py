"""Compare the simulator with the mocap-derived reference signals (docs/simulator.md).

Run manually (matplotlib is not a gaitimu dependency)::

    .venv/bin/pip install matplotlib
    .venv/bin/python docs/scripts/sim_vs_real.py

Reads ../shared/data/virtual_imu_dev/, simulates a session with the same cadence, speed,
standing posture and mean CPD as each reference trial, and writes docs/img/sim_vs_real_walk.png
and docs/img/sim_vs_real_run.png: every channel in the nominal pelvis frame (misalignment
removed), time-normalised to the stride (left IC to left IC), reference strides as thin lines,
simulated strides as mean +- SD band.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from gaitimu.simulate import SimConfig, simulate

matplotlib.use("Agg")
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "virtual_imu_dev"
OUT = REPO / "docs" / "img"
TRIALS = {"walk": "gait2354_subject01_walk", "run": "rajagopal_run"}
CHANNELS = [("acc", 0, "acc up (m/s²)"), ("acc", 1, "acc right (m/s²)"),
            ("acc", 2, "acc forward (m/s²)"), ("gyr", 0, "gyr up (deg/s)"),
            ("gyr", 1, "gyr right (deg/s)"), ("gyr", 2, "gyr forward (deg/s)"),
            ("obl", None, "obliquity − standing (deg)")]
GRID = np.linspace(0, 1, 101)


def strides(t, signals, ic_left):
    """Each signal resampled on 0..100 % of each stride (left IC to the next left IC)."""
    out = {k: [] for k in signals}
    for a, b in pairwise(ic_left):
        if b - a > 2.0:
            continue
        tt = a + GRID * (b - a)
        for k, v in signals.items():
            out[k].append(np.interp(tt, t, v))
    return {k: np.array(v) for k, v in out.items()}


def real_trial(name):
    d = pd.read_csv(DATA / name / "imu.csv")
    obl = pd.read_csv(DATA / name / "obliquity.csv")["obliquity_deg"].to_numpy()
    tj = json.loads((DATA / name / "truth.json").read_text())
    r = np.array(tj["mounting_misalignment"]["R_sensor_to_nominal"])
    acc = d[["acc_x", "acc_y", "acc_z"]].to_numpy() @ r.T
    gyr = d[["gyr_x", "gyr_y", "gyr_z"]].to_numpy() @ r.T
    t = d["t_s"].to_numpy()
    sig = {f"acc{i}": acc[:, i] for i in range(3)} | {f"gyr{i}": gyr[:, i] for i in range(3)}
    sig["obl"] = obl - tj["obliquity"]["standing_obliquity_deg"]
    return tj, strides(t, sig, np.array(tj["events"]["IC"]["left"]))


def sim_trial(activity, tj):
    s = tj["summary"]
    st = tj["checks"]["standing_accelerometer"]
    cpd = s["cpd_vs_standing_mean_deg"]
    cfg = SimConfig(
        activity=activity, duration_s=60.0, seed=3, standing_s=3.0,
        cadence_spm=s["cadence_steps_per_min"], speed_mps=tj["speed_mps"]["estimated_from_markers"],
        cpd_left_deg=cpd["left"], cpd_right_deg=cpd["right"],
        standing_obliquity_deg=tj["obliquity"]["standing_obliquity_deg"],
        standing_tilt_deg=st["pelvis_up_axis_to_vertical_standing_deg"],
    )
    sim = simulate(cfg)
    r = np.array(sim.truth["misalignment"]["R_sensor_to_nominal"])
    acc, gyr = sim.acc @ r.T, sim.gyr @ r.T
    ta = sim.truth_arrays
    obl = np.interp(sim.t_s, ta["t_s"], ta["obliquity_deg"]) - cfg.standing_obliquity_deg
    sig = {f"acc{i}": acc[:, i] for i in range(3)} | {f"gyr{i}": gyr[:, i] for i in range(3)}
    sig["obl"] = obl
    ic_left = np.array([e["ic_s"] for e in sim.truth["events"] if e["side"] == "L"])
    return sim, strides(sim.t_s, sig, ic_left[2:])


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for activity, name in TRIALS.items():
        tj, real = real_trial(name)
        sim, simd = sim_trial(activity, tj)
        fig, axes = plt.subplots(len(CHANNELS), 1, figsize=(7, 13), sharex=True)
        for ax, (kind, i, label) in zip(axes, CHANNELS, strict=True):
            key = "obl" if kind == "obl" else f"{kind}{i}"
            for row in real[key]:
                ax.plot(GRID * 100, row, color="tab:orange", lw=1, alpha=0.8)
            m, sd = simd[key].mean(0), simd[key].std(0)
            ax.fill_between(GRID * 100, m - sd, m + sd, color="tab:blue", alpha=0.25, lw=0)
            ax.plot(GRID * 100, m, color="tab:blue", lw=1.5)
            ax.set_ylabel(label, fontsize=8)
            ax.tick_params(labelsize=8)
            duty = sim.truth["duty_factor"] * 100
            for x in (duty, 50.0):
                ax.axvline(x, color="grey", lw=0.5, ls=":")
        axes[0].set_title(
            f"{activity}: reference {name} (orange, one line per stride) vs simulator "
            f"(blue, mean ± SD of {len(simd['obl'])} strides)", fontsize=9)
        axes[-1].set_xlabel("% stride from left initial contact (dotted: left FC, right IC)")
        fig.tight_layout()
        fig.savefig(OUT / f"sim_vs_real_{activity}.png", dpi=80)
        plt.close(fig)
        print("wrote", OUT / f"sim_vs_real_{activity}.png")
        print(f"| {activity} channel | r (mean curves) | range ref | range sim |")
        for kind, i, label in CHANNELS:
            key = "obl" if kind == "obl" else f"{kind}{i}"
            a, b = real[key].mean(0), simd[key].mean(0)
            print(f"| {label} | {np.corrcoef(a, b)[0, 1]:.2f} | {np.ptp(a):.1f} | {np.ptp(b):.1f} |")
    example()


def example():
    """A few strides of a simulated walk and run: obliquity with stances and CPD, and the IMU."""
    fig, axes = plt.subplots(3, 2, figsize=(11, 7), sharex="col")
    for col, activity in enumerate(("walk", "run")):
        sim = simulate(SimConfig(activity=activity, duration_s=12, cpd_left_deg=3,
                                 cpd_right_deg=7, seed=1, standing_s=3.0))
        ta = sim.truth_arrays
        t0, t1 = 2.0, 3.0 + (4.0 if activity == "walk" else 2.5)
        m = (ta["t_s"] >= t0) & (ta["t_s"] <= t1)
        ax = axes[0, col]
        ax.plot(ta["t_s"][m], ta["obliquity_deg"][m], color="k", lw=1.2)
        for e in sim.truth["events"]:
            if e["ic_s"] > t1:
                break
            color = "tab:blue" if e["side"] == "L" else "tab:red"
            ax.axvspan(e["ic_s"], min(e["fc_s"], t1), color=color, alpha=0.12, lw=0)
            sign = 1 if e["side"] == "L" else -1
            ax.annotate(f"{e['side']} {e['cpd_standing_deg']:.1f}°", (e["ic_s"], sign * 7.5),
                        fontsize=7, color=color)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylim(-9.5, 9.5)
        ax.set_ylabel("obliquity (deg)\nleft up > 0", fontsize=8)
        ax.set_title(f"{activity}: CPD request L 3°, R 7° (stances shaded: L blue, R red)",
                     fontsize=9)
        ms = (sim.t_s >= t0) & (sim.t_s <= t1)
        for i, c in enumerate(("tab:green", "tab:orange", "tab:purple")):
            axes[1, col].plot(sim.t_s[ms], sim.acc[ms, i], color=c, lw=0.9, label="xyz"[i])
            axes[2, col].plot(sim.t_s[ms], sim.gyr[ms, i], color=c, lw=0.9, label="xyz"[i])
        axes[1, col].set_ylabel("acc (m/s²)", fontsize=8)
        axes[2, col].set_ylabel("gyr (deg/s)", fontsize=8)
        axes[1, col].legend(fontsize=7, ncol=3, loc="upper left")
        axes[2, col].set_xlabel("t (s): quiet standing, gait initiation, steady gait")
    fig.tight_layout()
    fig.savefig(OUT / "sim_example.png", dpi=80)
    plt.close(fig)
    print("wrote", OUT / "sim_example.png")


if __name__ == "__main__":
    main()
