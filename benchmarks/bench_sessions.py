"""Session write/load throughput for 1 h at 200 Hz (720,000 samples + 72,000 raw packets).

Run from the repo root::

    .venv/bin/python benchmarks/bench_sessions.py [--hours 1] [--rate 200] [--dir /tmp]

Write: the recorder's call pattern, one ``write_samples`` of 10 samples and one
``write_packet`` (the 130-byte protocol-v1 packet carrying them) per call, as fast as possible;
with and without fsync. Load (of a session chunked as a live recording is, one chunk per 0.5 s):
``open_session`` (samples, events, packet index, checks),
then ``Session.packets()``; CSV and BIDS export of it and the import of that CSV. Peak memory of a load is measured with tracemalloc (numpy reports its
allocations to it) in a separate pass so it does not slow the timed one.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from gaitimu.sessions import SessionWriter, export_session, import_csv, open_session

BLOCK = 10


def _write(path: Path, n: int, rate_hz: float, fsync: bool, realtime_chunks: bool = False) -> float:
    rng = np.random.default_rng(0)
    acc = rng.normal(0, 3, (n, 3))
    gyr = rng.normal(0, 100, (n, 3))
    t_s = np.arange(n) / rate_hz
    packet = bytes(10 + 12 * BLOCK)
    meta = {"sample_rate_hz": rate_hz, "axes": "x=up,y=right,z=forward", "source": "record"}
    t0 = time.perf_counter()
    with SessionWriter(path, meta, fsync=fsync) as w:
        for i in range(0, n, BLOCK):
            w.write_samples(t_s[i : i + BLOCK], acc[i : i + BLOCK], gyr[i : i + BLOCK])
            w.write_packet(t_s[i], packet)
            if realtime_chunks and (i + BLOCK) % int(rate_hz / 2) == 0:
                w.flush()  # the chunking a real-time recording gets: one chunk per 0.5 s
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--dir", default=None, help="where to write (default: system temp)")
    ap.add_argument("--repeat", type=int, default=5, help="timed loads (best is reported)")
    args = ap.parse_args()
    n = int(args.hours * 3600 * args.rate)
    n -= n % BLOCK
    recorded_s = n / args.rate
    root = Path(tempfile.mkdtemp(prefix="bench_sessions_", dir=args.dir))
    try:
        print(
            f"{n} samples ({recorded_s / 3600:.2f} h at {args.rate:g} Hz), {n // BLOCK} packets, "
            f"in {root}"
        )
        for fsync in (True, False):
            path = root / f"fsync_{fsync}.gaitimu"
            dt = _write(path, n, args.rate, fsync)
            size = sum(p.stat().st_size for p in path.iterdir()) / 1e6
            print(
                f"write (fsync={fsync!s:5}): {dt:6.2f} s  = {recorded_s / dt:8.0f}x real time, "
                f"{n / dt / 1e6:.2f} M samples/s, {size:.1f} MB on disk"
            )
        path = root / "realtime.gaitimu"
        dt = _write(path, n, args.rate, False, realtime_chunks=True)
        print(
            f"write (fsync=False, one chunk per 0.5 s of data as when recording live): {dt:.2f} s"
        )
        loads, cpus, packs = [], [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            s = open_session(path)
            loads.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            t0 = time.perf_counter()
            t_host, data = s.packets()
            packs.append(time.perf_counter() - t0)
            assert s.n_samples == n and len(data) == n // BLOCK and not s.problems
            del s, t_host, data
        print(
            f"open_session: best {min(loads):.3f} s, median {np.median(loads):.3f} s wall "
            f"({n / min(loads) / 1e6:.1f} M samples/s); CPU best {min(cpus):.3f} s"
        )
        print(f"Session.packets(): best {min(packs):.3f} s for {n // BLOCK} packets")
        s = open_session(path)
        t0 = time.perf_counter()
        export_session(s, root / "csv", "csv")
        t_csv = time.perf_counter() - t0
        t0 = time.perf_counter()
        export_session(s, root / "bids", "bids")
        t_bids = time.perf_counter() - t0
        csv = root / "csv" / "realtime_samples.csv"
        t0 = time.perf_counter()
        back = open_session(import_csv(csv, root / "back.gaitimu", rate_hz=args.rate, axes=s.axes))
        t_imp = time.perf_counter() - t0
        assert np.array_equal(back.gyr, s.gyr)
        print(
            f"export csv {t_csv:.2f} s ({csv.stat().st_size / 1e6:.0f} MB), export bids "
            f"{t_bids:.2f} s, import of that csv {t_imp:.2f} s (exact round trip)"
        )
        del s, back
        tracemalloc.start()
        s = open_session(path)
        _, peak_open = tracemalloc.get_traced_memory()
        s.packets()
        _, peak_all = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        arrays = (s.t_s.nbytes + s.acc.nbytes + s.gyr.nbytes) / 1e6
        print(
            f"peak memory: open_session {peak_open / 1e6:.0f} MB (result arrays {arrays:.0f} MB), "
            f"with packets() {peak_all / 1e6:.0f} MB"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
