"""Speed against mobgap on the same 30 minutes of walking (issue 15's speed target).

gaitimu: the whole ``gaitimu analyze SESSION --strides F`` process (start-up, imports,
reading, conditioning, orientation, events, metrics, speed, turns, CSV). mobgap 1.x: its
Mobilise-D pipeline for healthy walkers (``MobilisedPipelineHealthy``: gait sequences,
initial contacts, laterality, cadence, stride length, walking speed, turns, DMO
aggregation) IN-PROCESS, i.e. the call alone, after its imports and with the data already in
memory, on the pelvis-frame signals gaitimu computes from the same session (the sacral
sensor's ``acc_is .. gyr_pa``, as `compare_mobgap.py` gives them). Also mobgap's event chain
alone (GsdIluz -> IcdIonescu -> LrcUllrich, what `compare_mobgap.py` scores).

Two recordings of 30 minutes (cached in --dir): ``sim``, one long walk simulated by
`gaitimu simulate --activity walk --duration 1800 --rate 100 --turn-every 60` (one walking
bout for mobgap), and ``ipol``, real lower-back recordings: the IPOL trials
(../shared/data/ipol_lowerback, 100 Hz) one after the other, each a stand, 10 m walk, U-turn,
10 m back and stop, imported as one session (many short bouts, as in daily life). mobgap is
optional (the ``compare`` extra; it needs ``numpydoc`` too):

    .venv/bin/python benchmarks/bench_vs_mobgap.py [--data sim ipol] [--repeat 3] [--dir /tmp]

Times are wall and CPU seconds, median of ``--repeat`` runs; on a loaded machine compare the
CPU times.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GAITIMU = Path(sys.executable).with_name("gaitimu")


def _session(folder: Path, minutes: float, rate: float) -> Path:
    path = folder / f"bench_vs_mobgap_walk_{minutes:g}min_{rate:g}hz.gaitimu"
    if not path.exists():
        subprocess.run([str(GAITIMU), "simulate", "--activity", "walk", "--duration",
                        str(60 * minutes), "--rate", str(rate), "--turn-every", "60",
                        "--seed", "3", "--out", str(path)], check=True, capture_output=True)
    return path


def _ipol_session(folder: Path, minutes: float) -> Path:
    """The IPOL trials back to back (sensor frame, their own axis map) as one session."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from validate_events import IPOL_AXES, IPOL_FS, ipol_names, load_ipol

    path = folder / f"bench_vs_mobgap_ipol_{minutes:g}min.gaitimu"
    if path.exists():
        return path
    parts, t_end = [], 0.0
    for name in ipol_names():
        t, acc, gyr, _ = load_ipol(name)
        parts.append(np.column_stack([t - t[0] + t_end, acc, gyr]))
        t_end = parts[-1][-1, 0] + 1.0 / IPOL_FS
        if t_end >= 60 * minutes:
            break
    csv = folder / "bench_vs_mobgap_ipol.csv"
    np.savetxt(csv, np.concatenate(parts), delimiter=",", fmt="%.6f",
               header="t_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", comments="")
    subprocess.run([str(GAITIMU), "import", str(csv), "--rate", str(IPOL_FS), "--axes",
                    IPOL_AXES, "--activity", "walk", "--out", str(path)], check=True,
                   capture_output=True)
    csv.unlink()
    return path


def time_gaitimu(session: Path, repeat: int) -> dict:
    """Whole process, wall and CPU (children's user + sys) seconds."""
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            before = os.times()
            t0 = time.perf_counter()
            subprocess.run([str(GAITIMU), "analyze", str(session), "--strides",
                            str(Path(tmp) / "s.csv"), "--force"], check=True,
                           capture_output=True)
            walls.append(time.perf_counter() - t0)
            after = os.times()
            cpus.append(after.children_user - before.children_user
                        + after.children_system - before.children_system)
    return {"wall_s": float(np.median(walls)), "cpu_s": float(np.median(cpus))}


def _body(session: Path):
    from gaitimu.pipeline import pelvis_signals
    from gaitimu.sessions import open_session

    s = open_session(session)
    body, cond, _ = pelvis_signals(s.t_s, s.acc, s.gyr, sampling_rate_hz=s.sample_rate_hz,
                                   axes=s.axes)
    cols = ["acc_is", "acc_ml", "acc_pa", "gyr_is", "gyr_ml", "gyr_pa"]
    return body[cols].reset_index(drop=True), cond.sampling_rate_hz


def _timed(fn, repeat: int) -> dict:
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall_s": float(np.median(walls)), "cpu_s": float(np.median(cpus))}


def time_mobgap(session: Path, repeat: int) -> dict:
    try:
        from mobgap.pipeline import MobilisedPipelineHealthy
    except ImportError as e:
        return {"error": f"mobgap not installed ({e}): pip install mobgap numpydoc"}
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compare_mobgap import mobgap_events

    data, fs = _body(session)
    out = {"events_chain": _timed(lambda: mobgap_events(data, fs), repeat)}

    def full() -> None:
        MobilisedPipelineHealthy().safe_run(
            _MobgapDatapoint(data, fs))

    try:
        out["pipeline_healthy"] = _timed(full, repeat)
    except Exception as e:  # report, don't hide: the table says what could not run
        out["pipeline_healthy"] = {"error": f"{type(e).__name__}: {e}"}
    return out


class _MobgapDatapoint:
    """The minimal datapoint mobgap's pipelines read: data, rate, participant metadata."""

    def __init__(self, data, fs: float) -> None:
        # mobgap's sensor-frame names (its `to_body_frame`: x -> is, y -> ml, z -> pa)
        self.data_ss = data.set_axis([c[:4] + {"is": "x", "ml": "y", "pa": "z"}[c[4:]]
                                      for c in data.columns], axis=1)
        self.sampling_rate_hz = fs
        self.group_label = ("bench",)
        self.participant_metadata = {"height_m": 1.75, "sensor_height_m": 0.93,
                                     "cohort": "HA", "foot_length_cm": 27}
        self.recording_metadata = {"measurement_condition": "free_living"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--data", nargs="+", choices=("sim", "ipol"), default=["sim", "ipol"])
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    results = {}
    for kind in a.data:
        session = (_session(Path(a.dir), a.minutes, a.rate) if kind == "sim"
                   else _ipol_session(Path(a.dir), a.minutes))
        res = {"session": session.name,
               "gaitimu_whole_process": time_gaitimu(session, a.repeat),
               "mobgap_in_process": time_mobgap(session, a.repeat)}
        results[kind] = res
        g = res["gaitimu_whole_process"]
        print(f"{kind}: {session.name}, median of {a.repeat}")
        print(f"  gaitimu analyze, whole process: {g['wall_s']:.2f} s wall, "
              f"{g['cpu_s']:.2f} s CPU")
        for k, v in res["mobgap_in_process"].items():
            if isinstance(v, dict) and "wall_s" in v:
                print(f"  mobgap {k}, in-process: {v['wall_s']:.2f} s wall, {v['cpu_s']:.2f} s"
                      f" CPU = {v['wall_s'] / g['wall_s']:.1f}x gaitimu's wall,"
                      f" {v['cpu_s'] / g['cpu_s']:.1f}x its CPU")
            else:
                print(f"  mobgap {k}: {v}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
