"""Benchmark the record path: CPU at 200 Hz and the highest notification rate it sustains.

Everything runs in one process: the virtual sensor (bumble peripheral), bumble's emulated
controllers and the host stack, bleak (through `gaitimu.sensors.bumble_backend`), the
recorder (decoder, clock map, consumer) and the crash-safe `SessionWriter` (fsync every
0.5 s). So the CPU figure is an upper bound for the recorder: with a real sensor the radio and
the peripheral are elsewhere, and the host stack is BlueZ/CoreBluetooth/WinRT instead of bumble.

    .venv/bin/python benchmarks/bench_record.py [--cpu-seconds 30] [--burst-seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import tempfile
import time
from pathlib import Path

from gaitimu.sensors.bumble_backend import VirtualRadio, make_backends
from gaitimu.sensors.client import Recorder, RecordOptions
from gaitimu.sensors.virtual import VIRTUAL_NAME, VirtualSensor


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _run(out: Path, *, seconds: float, rate_hz: int, spp: int, speed: float,
               correct_drift: bool) -> dict:
    from bumble.link import LocalLink

    link = LocalLink()
    sensor = VirtualSensor(link, speed=speed)
    await sensor.start()
    scanner_cls, client_cls = make_backends(VirtualRadio(link))
    rec = Recorder(RecordOptions(out=out, device=VIRTUAL_NAME, rate_hz=rate_hz,
                                 samples_per_packet=spp, correct_drift=correct_drift),
                   scanner_backend=scanner_cls, client_backend=client_cls)
    task = asyncio.ensure_future(rec.run())
    while sensor.packets_sent == 0:  # measure the steady state only
        await asyncio.sleep(0.01)
    c0, t0, p0 = _cpu_s(), time.perf_counter(), sensor.packets_sent
    b0 = rec.consumer_busy_s
    k0 = sensor.sent_log[-1][0]
    await asyncio.sleep(seconds)
    c1, t1, p1 = _cpu_s(), time.perf_counter(), sensor.packets_sent
    b1 = rec.consumer_busy_s
    k1 = sensor.sent_log[-1][0]
    rec.stop("benchmark")
    res = await task
    await sensor.stop()
    wall = t1 - t0
    requested_pps = rate_hz / spp * speed
    return {
        "wall_s": wall, "cpu_pct": 100 * (c1 - c0) / wall, "consumer_pct": 100 * (b1 - b0) / wall,
        "requested_pps": requested_pps, "achieved_pps": (p1 - p0) / wall,
        "sensor_time_ratio": (k1 - k0) / rate_hz / (wall * speed),
        "lost_samples": res.stats["lost_samples"], "malformed": res.stats["malformed"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-seconds", type=float, default=30.0)
    ap.add_argument("--burst-seconds", type=float, default=3.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="bench_record_"))

    print(f"## CPU, 200 Hz real time, {args.cpu_seconds:g} s")
    for spp in (10, 1):
        r = asyncio.run(_run(tmp / f"cpu{spp}.gaitimu", seconds=args.cpu_seconds, rate_hz=200,
                             spp=spp, speed=1.0, correct_drift=True))
        print(f"spp={spp:2d} ({r['requested_pps']:.0f} packets/s): whole process "
              f"{r['cpu_pct']:.1f} % of one core, consumer (decode+clock+write) "
              f"{r['consumer_pct']:.2f} %, lost {r['lost_samples']}")

    print("\n## Highest sustained notification rate (sensor clock sped up)")
    print("| samples/packet | requested packets/s | achieved packets/s | kept up | lost | CPU % |")
    print("|---|---|---|---|---|---|")
    for spp in (1, 19):
        for speed in (1, 2, 4, 8, 16, 32):
            r = asyncio.run(_run(tmp / f"burst{spp}_{speed}.gaitimu", seconds=args.burst_seconds,
                                 rate_hz=400, spp=spp, speed=float(speed), correct_drift=False))
            kept = r["achieved_pps"] >= 0.98 * r["requested_pps"]
            print(f"| {spp} | {r['requested_pps']:.0f} | {r['achieved_pps']:.0f} | "
                  f"{'yes' if kept else 'no'} | {r['lost_samples']} | {r['cpu_pct']:.0f} |")
            if not kept:
                break


if __name__ == "__main__":
    main()
