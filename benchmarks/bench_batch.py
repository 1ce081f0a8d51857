"""`gaitimu batch` throughput: N simulated 10-minute walks, 1 vs 2 workers, local processes
and a Dask LocalCluster (issue 16).

Run from the repo root::

    .venv/bin/python benchmarks/bench_batch.py [--n 200] [--minutes 10] [--dir /tmp/gaitimu-bench-batch]

The sessions are simulated once into ``--dir`` (kept; a second run reuses them) with seeds
0..N-1, CPD and subjects varied. Each configuration then runs `gaitimu.batch.run_batch`
end to end (pool or cluster start, hashing, analysis, parts, the tables and the cohort page)
into a fresh output folder; the wall time gives sessions per second, and the scaling
efficiency is ``rate(2 workers) / (2 x rate(1 worker))``. Also the CPU seconds the run used
(this process and its reaped children) per session and the load average before it: on a
shared machine, a second worker only helps as far as a second core is free. Results as a
markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from gaitimu.batch import run_batch
from gaitimu.sessions.files import is_session_dir
from gaitimu.simulate import SimConfig, simulate, write_session


def _make(args: tuple[Path, int, float]) -> None:
    path, seed, minutes = args
    if is_session_dir(path):
        return
    sim = simulate(SimConfig(activity="walk", duration_s=minutes * 60.0, seed=seed,
                             cpd_left_deg=3.0 + (seed % 3), cpd_right_deg=3.0 + (seed % 5)))
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_session(sim, tmp, subject=f"S{seed % 50:02d}")
    tmp.rename(path)


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the workers)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def make_sessions(root: Path, n: int, minutes: float, workers: int = 2) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"walk{i:04d}.gaitimu" for i in range(n)]
    with ProcessPoolExecutor(workers) as ex:
        list(ex.map(_make, [(p, i, minutes) for i, p in enumerate(paths)]))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="sessions (default 200)")
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes per session")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) /
                    "gaitimu-bench-batch", help="where the sessions are kept")
    ap.add_argument("--no-dask", action="store_true", help="local processes only")
    args = ap.parse_args()

    t0 = time.perf_counter()
    src = args.dir / f"sessions-{args.minutes:g}min"
    paths = make_sessions(src, args.n, args.minutes)
    print(f"{len(paths)} sessions of {args.minutes:g} min ready in "
          f"{time.perf_counter() - t0:.0f} s ({src})")
    configs = [("local", None, 1), ("local", None, 2)]
    if not args.no_dask:
        configs += [("dask LocalCluster", "local", 1), ("dask LocalCluster", "local", 2)]
    rows = []
    for name, dask, workers in configs:
        out = args.dir / f"out-{name.split()[0]}-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        load = os.getloadavg()[0]
        cpu0 = _cpu()
        t = time.perf_counter()
        res = run_batch(paths, out, workers=workers, dask=dask, progress=False,
                        progress_every=10**9)
        wall = time.perf_counter() - t
        cpu = _cpu() - cpu0
        assert res.n_analysed == len(paths) and not res.failed, res.failed[:1]
        rows.append((name, workers, wall, len(paths) / wall, cpu / len(paths), load))
        print(f"{name:18s} {workers} worker(s): {wall:7.1f} s, {len(paths) / wall:6.2f} "
              f"sessions/s, {cpu / len(paths):.3f} CPU s/session, load before {load:.2f}",
              flush=True)
        shutil.rmtree(out, ignore_errors=True)
    print("\n| engine | workers | wall (s) | sessions/s | efficiency vs 1 worker | CPU s per "
          "session | load before |")
    print("|---|---|---|---|---|---|---|")
    for name, workers, wall, rate, cpu, load in rows:
        one = next(r for r in rows if r[0] == name and r[1] == 1)[3]
        print(f"| {name} | {workers} | {wall:.1f} | {rate:.2f} | "
              f"{rate / (workers * one):.2f} | {cpu:.3f} | {load:.2f} |")


if __name__ == "__main__":
    main()
