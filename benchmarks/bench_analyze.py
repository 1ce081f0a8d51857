"""Benchmark and validation of the analysis pipeline (``gaitimu analyze``).

Speed (default): simulates a session (1 h walk at 200 Hz by default, cached in --dir), then

1. runs ``gaitimu analyze SESSION --strides F`` as a separate process (whole process: start,
   imports, reading, analysis, CSV) and reports wall time, CPU time and peak RSS;
2. times each stage in-process (open, conditioning, alignment + fusion, events, metrics);
3. times the in-process analysis for 1/4, 1/2 and all of the session (linearity).

Accuracy (``--accuracy``): obliquity and per-stance CPD errors on the reference data
(../shared/data/virtual_imu_dev) and on simulated sessions with misaligned sensors, with the
reference events and with the detected events.

    .venv/bin/python benchmarks/bench_analyze.py [--hours 1] [--rate 200] [--dir DIR]
    .venv/bin/python benchmarks/bench_analyze.py --accuracy
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "virtual_imu_dev"


# --------------------------------------------------------------------------- speed
def _session(hours: float, rate: float, folder: Path) -> Path:
    from gaitimu.simulate import SimConfig, simulate, write_session

    path = folder / f"bench_analyze_walk_{hours:g}h_{rate:g}hz.gaitimu"
    if not path.exists():
        print(f"simulating {hours:g} h at {rate:g} Hz into {path} ...", flush=True)
        sim = simulate(
            SimConfig(
                activity="walk",
                duration_s=hours * 3600.0,
                sampling_rate_hz=rate,
                seed=0,
                misalignment_random_deg=20.0,
                turn_every_s=60.0,
            )
        )
        write_session(sim, path)
        # A recording carries no simulator ground truth: drop it so that reading the session
        # costs what reading a real recording costs.
        for name in ("truth.json", "truth.npz"):
            (path / name).unlink(missing_ok=True)
    return path


def _whole_process(session: Path, out: Path, repeat: int) -> list[tuple[float, float, float]]:
    """(wall s, cpu s, peak RSS MB) of ``gaitimu analyze`` in a fresh process.

    Peak RSS comes from GNU time (``/usr/bin/time -f %M``): ``getrusage(RUSAGE_CHILDREN)``
    would also count the pre-exec copy of this (large) benchmark process.
    """
    runs = []
    gnu_time = Path("/usr/bin/time")
    for _ in range(repeat):
        cmd = [sys.executable, "-m", "gaitimu", "analyze", str(session), "--strides", str(out),
               "--force", "--height", "1.75"]  # (--force: the repeats rewrite the same file)
        if gnu_time.exists():
            cmd = [str(gnu_time), "-f", "%M %U %S", *cmd]
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        wall = time.perf_counter() - t0
        if gnu_time.exists():
            rss_kb, user, sys_ = proc.stderr.strip().splitlines()[-1].split()
            runs.append((wall, float(user) + float(sys_), float(rss_kb) / 1024.0))
        else:
            runs.append((wall, float("nan"), float("nan")))
    return runs


def _stages(session: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """Best-of-`repeat` (wall s, CPU s) per stage, in-process."""
    from gaitimu.analysis.conditioning import resample_uniform
    from gaitimu.analysis.events import detect_events
    from gaitimu.analysis.metrics import stance_metrics
    from gaitimu.analysis.orientation import align_to_pelvis
    from gaitimu.sessions import open_session

    best: dict[str, tuple[float, float]] = {}

    def timed(name, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        w, c = time.perf_counter() - w, time.process_time() - c
        old = best.get(name, (np.inf, np.inf))
        best[name] = (min(old[0], w), min(old[1], c))
        return out

    for _ in range(repeat):
        s = timed("open_session", lambda: open_session(session))
        c = timed(
            "conditioning",
            lambda s=s: resample_uniform(s.t_s, s.acc, s.gyr, sampling_rate_hz=s.sample_rate_hz),
        )
        body, info = timed(
            "align_to_pelvis (incl. VQF)",
            lambda s=s, c=c: align_to_pelvis(
                c.t_s, c.acc, c.gyr, sampling_rate_hz=c.sampling_rate_hz, axes=s.axes, valid=c.valid
            ),
        )
        body["valid"] = c.valid
        ev = timed(
            "detect_events",
            lambda body=body, c=c: detect_events(body, sampling_rate_hz=c.sampling_rate_hz),
        )
        timed(
            "stance_metrics",
            lambda ev=ev, body=body, info=info, c=c: stance_metrics(
                ev.events,
                body,
                standing_obliquity_deg=info["standing_obliquity_deg"],
                sampling_rate_hz=c.sampling_rate_hz,
            ),
        )
    return best


def _imports(repeat: int) -> dict[str, tuple[float, float]]:
    """Best (wall s, CPU s) of a fresh interpreter importing the analyze path."""
    out = {}
    for name, mods in (
        (
            "python + imports (cli, sessions, pipeline)",
            "gaitimu.cli, gaitimu.sessions, gaitimu.pipeline",
        ),
        (
            "... + analysis.events",
            "gaitimu.cli, gaitimu.sessions, gaitimu.pipeline, gaitimu.analysis.events",
        ),
    ):
        best_w, best_c = np.inf, np.inf
        for _ in range(repeat):
            before = os.times()
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import {mods}"], check=True)
            w = time.perf_counter() - t0
            after = os.times()
            c = (after.children_user - before.children_user) + (
                after.children_system - before.children_system
            )
            best_w, best_c = min(best_w, w), min(best_c, c)
        out[name] = (best_w, best_c)
    return out


def _linearity(session: Path) -> list[tuple[float, float]]:
    from gaitimu.pipeline import analyze
    from gaitimu.sessions import open_session

    s = open_session(session)
    rows = []
    for frac in (0.25, 0.5, 1.0):
        n = int(s.n_samples * frac)
        best = np.inf
        for _ in range(2):
            t = time.perf_counter()
            analyze(s.t_s[:n], s.acc[:n], s.gyr[:n], sampling_rate_hz=s.sample_rate_hz, axes=s.axes)
            best = min(best, time.perf_counter() - t)
        rows.append((n / s.sample_rate_hz / 60.0, best))
    return rows


def run_speed(args: argparse.Namespace) -> None:
    folder = Path(args.dir or tempfile.gettempdir())
    session = _session(args.hours, args.rate, folder)
    n = int(args.hours * 3600 * args.rate)
    raw_mb = n * 7 * 8 / 1e6  # t_s + acc + gyr as float64
    print(f"session {session} ({n:,} samples, raw float64 samples {raw_mb:.1f} MB)")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        runs = _whole_process(session, Path(tmp) / "strides.csv", args.repeat)
    for wall, cpu, rss in runs:
        print(
            f"whole process: wall {wall:.2f} s, cpu {cpu:.2f} s, peak RSS {rss:.0f} MB "
            f"({rss / raw_mb:.1f}x raw)"
        )
    print(f"imports (best of {args.repeat}, wall / CPU):")
    for name, (w, c) in _imports(args.repeat).items():
        print(f"  {name:<48} {w:6.3f} s / {c:6.3f} s")
    print(f"stages (in-process, best of {args.repeat}, wall / CPU):")
    for name, (w, c) in _stages(session, args.repeat).items():
        print(f"  {name:<48} {w:6.3f} s / {c:6.3f} s")
    print("linearity (in-process analyze, best of 2):")
    for minutes, sec in _linearity(session):
        print(f"  {minutes:6.1f} min  {sec:6.3f} s  ({sec / minutes * 60:.3f} s per hour)")


# --------------------------------------------------------------------------- accuracy
def _virtual(trial: str) -> dict:
    d = SHARED / trial
    imu = pd.read_csv(d / "imu.csv")
    truth = json.loads((d / "truth.json").read_text())
    ev = pd.DataFrame(
        {
            "side": [s["side"][0].upper() for s in truth["stances"]],
            "ic_s": [s["ic_s"] for s in truth["stances"]],
            "fc_s": [s["fc_s"] for s in truth["stances"]],
            "cpd_ic_true": [s["cpd_from_ic_deg"] for s in truth["stances"]],
            "cpd_st_true": [s["cpd_vs_standing_deg"] for s in truth["stances"]],
        }
    )
    obl = pd.read_csv(d / "obliquity.csv")["obliquity_deg"].to_numpy()
    return {
        "t_s": imu["t_s"].to_numpy(),
        "acc": imu[["acc_x", "acc_y", "acc_z"]].to_numpy(),
        "gyr": imu[["gyr_x", "gyr_y", "gyr_z"]].to_numpy(),
        "events": ev,
        "obl": obl,
        "gait0": truth["time_base"]["gait_start_s"],
        "gait1": truth["time_base"]["gait_end_s"],
        "activity": truth["activity"],
    }


def _obl_errors(res, t_true, obl_true, g0, g1) -> tuple[float, float, float]:
    obl = np.interp(t_true, res.signals["t_s"], res.signals["obliquity_deg"])
    gait = (t_true >= g0) & (t_true <= g1)
    e = obl[gait] - obl_true[gait]
    return float(np.sqrt(np.mean(e**2))), float(np.std(e)), float(np.mean(e))


def _match(strides: pd.DataFrame, ref: pd.DataFrame, tol_s: float = 0.1) -> pd.DataFrame:
    """Pair detected stances with reference ones of the same side (nearest IC within tol)."""
    out = []
    for side in ("L", "R"):
        a = strides[(strides["side"] == side) & strides["valid"]].sort_values("ic_s")
        b = ref[ref["side"] == side].sort_values("ic_s")
        if a.empty or b.empty:
            continue
        m = pd.merge_asof(
            b, a, on="ic_s", direction="nearest", tolerance=tol_s, suffixes=("_ref", "")
        )
        out.append(m.dropna(subset=["cpd_ic_deg"]))
    return pd.concat(out) if out else pd.DataFrame()



def _analyze_both_ways(sim, ev_true: pd.DataFrame, activity: str):
    """``("reference", result)`` with the simulator's true events, then ``("detected",
    result)`` with the pipeline's own: the same session analysed both ways."""
    from gaitimu.pipeline import analyze

    for label, events in (("reference", ev_true[["side", "ic_s", "fc_s"]]), ("detected", None)):
        yield label, analyze(
            sim.t_s,
            sim.acc,
            sim.gyr,
            sampling_rate_hz=sim.sample_rate_hz,
            activity=activity,
            events=events,
        )

def run_accuracy(args: argparse.Namespace) -> None:
    from gaitimu.pipeline import analyze

    print(
        "| data | events | obliquity RMSE | dynamic RMSE | offset | stances matched | "
        "median abs err cpd_ic | median abs err cpd_standing |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for trial in ("gait2354_subject01_walk", "rajagopal_run"):
        if not (SHARED / trial).exists():
            print(f"(skipped {trial}: {SHARED} not found)")
            continue
        v = _virtual(trial)
        for label, events in (
            ("reference", v["events"][["side", "ic_s", "fc_s"]]),
            ("detected", None),
        ):
            res = analyze(
                v["t_s"],
                v["acc"],
                v["gyr"],
                sampling_rate_hz=200.0,
                activity=v["activity"],
                events=events,
            )
            rmse, dyn, off = _obl_errors(res, v["t_s"], v["obl"], v["gait0"], v["gait1"])
            ref = v["events"].rename(columns={"cpd_ic_true": "ref_ic", "cpd_st_true": "ref_st"})
            m = _match(res.strides, ref)
            e_ic = (m["cpd_ic_deg"] - m["ref_ic"]).abs().median() if len(m) else np.nan
            e_st = (m["cpd_standing_deg"] - m["ref_st"]).abs().median() if len(m) else np.nan
            print(
                f"| {trial} | {label} | {rmse:.2f} | {dyn:.2f} | {off:+.2f} | "
                f"{len(m)}/{len(ref)} | {e_ic:.2f} | {e_st:.2f} |"
            )

    try:
        from gaitimu.simulate import SimConfig, simulate
    except ImportError:
        print("(simulator not available)")
        return
    for activity in ("walk", "run"):
        for seed in range(args.seeds):
            cfg = SimConfig(
                activity=activity,
                duration_s=60.0,
                cpd_left_deg=4.0,
                cpd_right_deg=8.0,
                seed=seed,
                misalignment_random_deg=30.0,
            )
            try:
                sim = simulate(cfg)
            except Exception as e:  # the simulator is someone else's work in progress
                print(f"| sim {activity} seed {seed} | - | simulator failed: {e} |")
                continue
            ev_true = pd.DataFrame(sim.truth["events"])
            ta = sim.truth_arrays
            g0, g1 = sim.truth["gait_s"]
            for label, res in _analyze_both_ways(sim, ev_true, activity):
                rmse, dyn, off = _obl_errors(res, ta["t_s"], ta["obliquity_deg"], g0, g1)
                ref = ev_true.rename(columns={"cpd_standing_deg": "ref_st", "cpd_ic_deg": "ref_ic"})[
                    ["side", "ic_s", "ref_st", "ref_ic"]
                ]
                m = _match(res.strides, ref)
                e_st = (m["cpd_standing_deg"] - m["ref_st"]).abs().median() if len(m) else np.nan
                e_ic = (m["cpd_ic_deg"] - m["ref_ic"]).abs().median() if len(m) else np.nan
                print(
                    f"| sim {activity} 60 s, 30 deg misaligned, seed {seed} | {label} | "
                    f"{rmse:.2f} | {dyn:.2f} | {off:+.2f} | {len(m)}/{len(ref)} | {e_ic:.2f} | "
                    f"{e_st:.2f} |"
                )

    print()
    print(
        "| sim with turns (90 s, 180 deg turn every 15 s, 30 deg misaligned) | events | "
        "dynamic RMSE | max abs dyn err | valid stances | mean cpd_standing L/R (true 3/7) |"
    )
    print("|---|---|---|---|---|---|")
    for activity in ("walk", "run"):
        cfg = SimConfig(
            activity=activity,
            duration_s=90.0,
            cpd_left_deg=3.0,
            cpd_right_deg=7.0,
            seed=4,
            misalignment_random_deg=30.0,
            turn_every_s=15.0,
        )
        sim = simulate(cfg)
        ev_true = pd.DataFrame(sim.truth["events"])
        ta = sim.truth_arrays
        g0, g1 = sim.truth["gait_s"]
        for label, res in _analyze_both_ways(sim, ev_true, activity):
            obl = np.interp(ta["t_s"], res.signals["t_s"], res.signals["obliquity_deg"])
            gait = (ta["t_s"] >= g0) & (ta["t_s"] <= g1)
            e = obl[gait] - ta["obliquity_deg"][gait]
            good = res.strides[res.strides["valid"]]
            means = good.groupby("side")["cpd_standing_deg"].mean()
            print(
                f"| {activity} | {label} | {np.std(e):.2f} | {np.max(np.abs(e - e.mean())):.2f}"
                f" | {len(good)}/{len(res.strides)} | {means.get('L', np.nan):.2f} / "
                f"{means.get('R', np.nan):.2f} |"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--dir", default=None, help="where to cache the simulated session")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--accuracy", action="store_true", help="accuracy tables instead of speed")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    if args.accuracy:
        run_accuracy(args)
    else:
        run_speed(args)


if __name__ == "__main__":
    main()
