"""Benchmark replay and the live path: speed at --max, latency and CPU at 1x, memory over 2 h.

1. **Max speed**: a simulated session (default 2 h walk at 200 Hz) replayed with
   ``speed=None`` (packets -> StreamDecoder -> StreamingAnalyzer, throughput schedule).
   Reports data seconds per wall second, and the process RSS sampled during the replay
   (memory must stay flat once the session is loaded).
2. **Live (1x)**: 90 s walk and run sessions replayed at the original pace with the default
   (latency) schedule: process CPU over the wall time, and per stride row the latency from
   the end of its stance (FC) and from its next same-side IC (the last sample the row needs)
   to the moment the row was emitted, compared with the stride duration.

    .venv/bin/python benchmarks/bench_replay.py [--hours 2] [--live-seconds 90] [--skip-live]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from gaitimu.live.replay import replay_session
from gaitimu.live.stream import StreamConfig
from gaitimu.simulate import SimConfig, simulate, write_session


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def bench_max(root: Path, hours: float, activity: str) -> dict:
    path = root / f"{activity}_{hours:g}h"
    t0 = time.perf_counter()
    sim = simulate(SimConfig(activity=activity, duration_s=hours * 3600, cpd_left_deg=4,
                             cpd_right_deg=7, seed=1, turn_every_s=60.0))
    write_session(sim, path)
    del sim
    t_sim = time.perf_counter() - t0
    samples: list[tuple[float, float]] = []

    def on_status(st):
        samples.append((st.samples, _rss_mb()))

    rss0 = _rss_mb()
    res = asyncio.run(replay_session(path, speed=None, on_status=on_status, status_every_s=1.0))
    n = res.n_samples
    mem = np.array(samples)
    at = {}
    for frac in (0.1, 0.25, 0.5, 0.75, 1.0):
        k = int(np.searchsorted(mem[:, 0], frac * n)) if mem.size else 0
        at[frac] = float(mem[min(k, len(mem) - 1), 1]) if mem.size else float("nan")
    return {
        "activity": activity, "hours": hours, "simulate_s": t_sim, "wall_s": res.wall_s,
        "speedup": res.speedup, "rows": len(res.strides), "runs": res.analyzer.n_runs,
        "rss_before_mb": rss0, "rss_mb": at,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
    }


def bench_live(root: Path, seconds: float, activity: str) -> dict:
    path = root / f"live_{activity}"
    write_session(simulate(SimConfig(activity=activity, duration_s=seconds, cpd_left_deg=4,
                                     cpd_right_deg=7, seed=2)), path)
    box = {}

    def hook(analyzer):
        box["wall0"] = time.perf_counter()

    c0 = _cpu_s()
    w0 = time.perf_counter()
    res = asyncio.run(replay_session(path, speed=1.0, config=StreamConfig(),
                                     analyzer_hook=hook))
    wall = time.perf_counter() - w0
    cpu = _cpu_s() - c0
    a = res.analyzer
    strides = res.strides
    from gaitimu.sessions import open_session

    t_first = float(open_session(path).t_s[0])
    # emission wall time vs the wall time at which the sample at FC / next same IC arrived
    # (1x pacing: the sample at session time x arrives at wall0 + (x - t_first)).
    emit = np.array([w for _, _, w in a.emit_log]) - box["wall0"]
    fc = strides["fc_s"].fillna(strides["ic_s"]).to_numpy() - t_first
    nxt = (strides["ic_s"] + strides["stride_s"]).to_numpy() - t_first
    stride = strides["stride_s"].to_numpy()
    ok = np.isfinite(stride) & (emit < wall - 0.5)  # rows streamed, not flushed at the end
    ok[: np.searchsorted(strides["ic_s"].to_numpy() - t_first, 22.0)] = False  # calibration
    lat_fc = emit[ok] - fc[ok]
    lat_next = emit[ok] - nxt[ok]
    return {
        "activity": activity, "seconds": seconds, "wall_s": wall, "cpu_pct": 100 * cpu / wall,
        "analysis_busy_pct": 100 * a.busy_s / wall, "rows": len(strides), "n": int(ok.sum()),
        "stride_s": float(np.nanmedian(stride)),
        "lat_fc_median": float(np.median(lat_fc)), "lat_fc_p95": float(np.percentile(lat_fc, 95)),
        "lat_fc_max": float(lat_fc.max()),
        "lat_fc_over_stride_max": float(np.max(lat_fc / stride[ok])),
        "within_one_stride": float(np.mean(lat_fc <= stride[ok])),
        "lat_next_median": float(np.median(lat_next)), "lat_next_max": float(lat_next.max()),
        "first_row_s": float(emit.min()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument("--live-seconds", type=float, default=90.0)
    p.add_argument("--skip-live", action="store_true")
    p.add_argument("--skip-max", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        if not args.skip_max:
            for act in ("walk", "run"):
                r = bench_max(root, args.hours, act)
                mem = " ".join(f"{int(100 * k)}%:{v:.0f}" for k, v in r["rss_mb"].items())
                print(f"max {act} {r['hours']:g} h: simulate+write {r['simulate_s']:.0f} s; "
                      f"replay {r['wall_s']:.1f} s = {r['speedup']:.0f}x real time; "
                      f"{r['rows']} rows, {r['runs']} detector runs; RSS MB before "
                      f"{r['rss_before_mb']:.0f}, during {mem}; peak {r['peak_rss_mb']:.0f}",
                      flush=True)
        if not args.skip_live:
            for act in ("walk", "run"):
                r = bench_live(root, args.live_seconds, act)
                print(f"live {act} {r['seconds']:g} s at 1x: CPU {r['cpu_pct']:.1f} % of one "
                      f"core (analysis {r['analysis_busy_pct']:.1f} %); stride "
                      f"{r['stride_s']:.2f} s; latency FC->row median {r['lat_fc_median']:.2f} "
                      f"p95 {r['lat_fc_p95']:.2f} max {r['lat_fc_max']:.2f} s "
                      f"(max {r['lat_fc_over_stride_max']:.2f} strides; {100 * r['within_one_stride']:.0f} % "
                      f"of rows within one stride); next same-side IC->row "
                      f"median {r['lat_next_median']:.2f} max {r['lat_next_max']:.2f} s; "
                      f"first row after {r['first_row_s']:.1f} s; n={r['n']}", flush=True)


if __name__ == "__main__":
    main()
