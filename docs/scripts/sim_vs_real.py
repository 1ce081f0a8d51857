"""Compare the simulator with the mocap-derived reference signals (docs/simulator.md).

Run manually (matplotlib is not a gaitimu dependency)::

    .venv/bin/pip install matplotlib
    .venv/bin/python docs/scripts/sim_vs_real.py

Reads ../shared/data/virtual_imu_dev/, simulates a session with the same cadence, speed,
standing posture and mean CPD as each reference trial, and writes docs/img/sim_vs_real_walk.png
and docs/img/sim_vs_real_run.png: every channel in the nominal pelvis frame (misalignment
removed), time-normalised to the stride (left IC to left IC), reference strides as thin lines,
simulated strides as mean +- SD band.

It also writes docs/img/sim_ic_locked.png and prints the walking IC-locked timing table of
docs/simulator.md: forward and vertical acceleration averaged around every initial contact
(-300..+300 ms) on real data (IPOL lower back, ../shared/data/ipol_lowerback, first straight
pass of all 110 trials; the OpenSim walk) and on the simulator, and the stride harmonics of
the IPOL mean stride that `gaitimu.simulate._WALK_ACC_HARMONICS` holds.
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
    ic_locked()


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


IPOL = REPO.parent / "shared" / "data" / "ipol_lowerback" / "GaitData"
LAGS_S = np.arange(-0.30, 0.30 + 1e-9, 0.005)


def _ipol_trials():
    """Each IPOL trial as (acc (n, 3) in a gravity-aligned (up, right, forward) frame, meta).

    Axis map x=up, y=left, z=backward; rows are 100 Hz. "Up" is the mean specific force over
    the first straight pass (the mean acceleration of steady walking is zero), "forward" the
    nominal forward axis orthogonalised to it.
    """
    for f in sorted(IPOL.glob("*_lb.txt")):
        meta = json.loads(f.with_name(f.name.replace("_lb.txt", ".json")).read_text())
        d = pd.read_csv(f, sep="\t", skiprows=1)
        acc = d[["Acc_X", "Acc_Y", "Acc_Z"]].to_numpy() * np.array([1.0, -1.0, -1.0])
        start, u_turn = meta["TrialBoundaries"][0], meta["UTurnBoundaries"][0]
        up = acc[start:u_turn].mean(axis=0)
        up /= np.linalg.norm(up)
        fwd = np.array([0.0, 0.0, 1.0]) - up[2] * up
        fwd /= np.linalg.norm(fwd)
        yield np.stack([acc @ up - 9.81, acc @ np.cross(fwd, up), acc @ fwd], axis=1), meta


def ipol_ic_locked():
    """IC-locked mean (up, forward) acceleration over the first straight pass of every trial."""
    lag_rows = np.arange(-30, 31)  # 100 Hz rows, -300..+300 ms
    rows = []
    for acc, meta in _ipol_trials():
        start, u_turn = meta["TrialBoundaries"][0], meta["UTurnBoundaries"][0]
        for steps in (meta["LeftFootEvents"], meta["RightFootEvents"]):
            ic = np.array(steps)[:, 1]  # footstep = [toe-off, heel strike]
            for i in ic[(ic > start + 100) & (ic < u_turn - 60)].tolist():
                rows.append(acc[i + lag_rows][:, [0, 2]])
    m = np.mean(rows, axis=0)  # onto the common 5 ms lag grid for plotting
    return np.stack([np.interp(LAGS_S, lag_rows / 100, m[:, j]) for j in (0, 1)], 1), len(rows)


def ipol_stride_harmonics(n_harmonics=16):
    """Even stride harmonics of the IPOL mean stride (left IC to left IC), up and forward."""
    grid = np.arange(200) / 200
    rows = []
    for acc, meta in _ipol_trials():
        start, u_turn = meta["TrialBoundaries"][0], meta["UTurnBoundaries"][0]
        left, right = np.array(meta["LeftFootEvents"]), np.array(meta["RightFootEvents"])
        for i0, i1 in pairwise(left[:, 1].tolist()):
            one_right = ((right[:, 1] > i0) & (right[:, 1] < i1)).sum() == 1
            if i0 < start + 100 or i1 > u_turn - 30 or not 80 <= i1 - i0 <= 160 or not one_right:
                continue
            tt = i0 + grid * (i1 - i0)
            rows.append([np.interp(tt, np.arange(len(acc)), acc[:, c]) for c in (0, 2)])
    mean = np.mean(rows, axis=0)
    c = np.fft.rfft(mean, axis=1) / grid.size * 2
    out = {}
    for j, name in enumerate(("vertical", "forward")):
        out[name] = [(k, round(float(abs(c[j, k])), 3), round(float(np.angle(c[j, k]) / 2 / np.pi), 3))
                     for k in range(2, n_harmonics + 1, 2)]
    return out, len(rows)


def _sim_ic_locked(seed=1):
    sim = simulate(SimConfig(activity="walk", duration_s=120, seed=seed,
                             misalignment_random_deg=20))
    r = np.array(sim.truth["misalignment"]["R_sensor_to_nominal"])
    acc = sim.ideal["acc"] @ r.T
    t = sim.ideal["t_s"]
    ic = np.array([e["ic_s"] for e in sim.truth["events"]])[2:]
    ic = ic[ic + LAGS_S[-1] < t[-1]]
    rows = [np.stack([np.interp(x + LAGS_S, t, acc[:, 0]) - 9.81,
                      np.interp(x + LAGS_S, t, acc[:, 2])], axis=1) for x in ic]
    return np.mean(rows, axis=0), len(rows)


def _virtual_ic_locked():
    name = TRIALS["walk"]
    d = pd.read_csv(DATA / name / "imu.csv")
    tj = json.loads((DATA / name / "truth.json").read_text())
    r = np.array(tj["mounting_misalignment"]["R_sensor_to_nominal"])
    acc = d[["acc_x", "acc_y", "acc_z"]].to_numpy() @ r.T
    t = d["t_s"].to_numpy()
    ic = np.array(tj["events"]["IC"]["left"] + tj["events"]["IC"]["right"])
    ic = ic[(ic + LAGS_S[0] > tj["time_base"]["gait_start_s"]) & (ic + LAGS_S[-1] < t[-1])]
    rows = [np.stack([np.interp(x + LAGS_S, t, acc[:, 0]) - 9.81,
                      np.interp(x + LAGS_S, t, acc[:, 2])], axis=1) for x in ic]
    return np.mean(rows, axis=0), len(rows)


def ic_locked():
    """Walking: forward and vertical acceleration around IC, real vs simulated."""
    curves = {"IPOL lower back (real IMU)": ipol_ic_locked(),
              "OpenSim walk (virtual IMU)": _virtual_ic_locked(),
              "simulator (105 spm)": _sim_ic_locked()}
    fig, axes = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    colors = ("tab:orange", "tab:green", "tab:blue")
    print("| data | ICs | forward peak (ms) | forward min (ms) | vertical peak (ms) |")
    print("|---|---|---|---|---|")
    for (label, (m, n)), color in zip(curves.items(), colors, strict=True):
        ms = LAGS_S * 1000
        for ax, j in zip(axes, (1, 0), strict=True):
            ax.plot(ms, m[:, j] - m[:, j].mean(), color=color, lw=1.5, label=f"{label}, {n} ICs")
        late = LAGS_S > 0
        print(f"| {label} | {n} | {ms[np.argmax(m[:, 1])]:+.0f} | "
              f"{ms[late][np.argmin(m[late, 1])]:+.0f} | {ms[np.argmax(m[:, 0])]:+.0f} |")
    for ax, lab in zip(axes, ("forward acc − mean (m/s²)", "vertical acc − mean (m/s²)"),
                       strict=True):
        ax.axvline(0, color="grey", lw=0.6, ls=":")
        ax.set_ylabel(lab, fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=7, loc="lower left")
    axes[0].set_title("walking, averaged around every initial contact (IC at 0)", fontsize=9)
    axes[1].set_xlabel("time from IC (ms)")
    fig.tight_layout()
    fig.savefig(OUT / "sim_ic_locked.png", dpi=80)
    plt.close(fig)
    print("wrote", OUT / "sim_ic_locked.png")
    harm, n = ipol_stride_harmonics()
    print(f"IPOL mean-stride harmonics ({n} strides): {harm}")


if __name__ == "__main__":
    main()
