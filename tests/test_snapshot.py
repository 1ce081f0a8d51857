"""Every output stays identical through refactoring (issue 15): a snapshot of the analysis.

Cases: the committed recording and simulated sessions of each kind (walk with turns and packet
loss, a misaligned run, a walk without standing). For each: the strides table (every column),
the events, the per-column statistics of the pelvis signals, the turns table, the analysis
numbers of ``info`` and the decision numbers of the summary, and the simulator's own output
(samples and truth), compared with ``tests/snapshots/outputs.json``.

Regenerate ONLY for an intended change of results, and say why in the commit:

    GAITIMU_UPDATE_SNAPSHOT=1 .venv/bin/pytest tests/test_snapshot.py
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitimu.pipeline import analyze_session
from gaitimu.report.summary import summarize
from gaitimu.sessions import open_session
from gaitimu.simulate import SimConfig, simulate, write_session

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).with_name("snapshots") / "outputs.json"
UPDATE = os.environ.get("GAITIMU_UPDATE_SNAPSHOT") == "1"
SIM_CASES = {
    "walk_turns_loss": SimConfig(activity="walk", duration_s=45.0, seed=11, turn_every_s=15.0,
                                 packet_loss=0.02, cpd_left_deg=3.0, cpd_right_deg=6.0),
    "run_misaligned": SimConfig(activity="run", duration_s=40.0, seed=12,
                                misalignment_deg=(5.0, -8.0, 30.0), cpd_left_deg=6.0),
    "walk_no_standing": SimConfig(activity="walk", duration_s=30.0, seed=13, standing_s=0.0),
}
# summary numbers that are results (not wording): per side CPD, the asymmetry and counts
SUMMARY_KEYS = ("cpd_deg", "cpd_ic_deg", "cpd_standing_deg", "asymmetry", "strides",
                "ml_sway", "obliquity_range_deg", "temporal", "distance_m", "speed_mps",
                "cadence_spm")


def _num(x):
    """JSON-safe, rounded: equal within float noise across machines."""
    if isinstance(x, (bool, np.bool_)) or x is None or isinstance(x, str):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(f"{float(x):.9g}")
    if isinstance(x, dict):
        return {str(k): _num(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_num(v) for v in x]
    return str(x)


def _table(df: pd.DataFrame) -> dict:
    return {c: _num(df[c].tolist()) for c in df.columns}


def _stats(df: pd.DataFrame) -> dict:
    out = {}
    for c in df.columns:
        v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        f = v[np.isfinite(v)]
        out[c] = _num([v.size, f.size, f.mean(), f.std(), f.min(), f.max()] if f.size
                      else [v.size, 0])
    return out


def _outputs(path: Path) -> dict:
    s = open_session(path)
    res = analyze_session(s)
    info = {k: v for k, v in res.info.items() if k != "session"}  # (the tmp path)
    summ = summarize(res.strides, s.meta, res.info)
    return {
        "strides": _table(res.strides),
        "signals": _stats(res.signals),
        "info": _num(info),
        "summary": _num({k: summ.get(k) for k in SUMMARY_KEYS}),
    }


def _sim_outputs(name: str, tmp: Path) -> dict:
    sim = simulate(SIM_CASES[name])
    path = tmp / f"{name}.gaitimu"
    write_session(sim, path)
    out = _outputs(path)
    samples = np.column_stack([sim.t_s, sim.acc, sim.gyr])
    out["sim_samples"] = _stats(pd.DataFrame(samples))
    out["sim_packets"] = [len(sim.packets), int(sum(len(p) for _, p in sim.packets)),
                          int(sum(sum(p) for _, p in sim.packets[:50]))]
    out["sim_truth"] = _num({k: v for k, v in sim.truth.items() if k != "config"})
    out["sim_truth_arrays"] = _stats(pd.DataFrame(
        {k: np.asarray(v, dtype=float) for k, v in sim.truth_arrays.items()}))
    return out


def _compare(got, want, where: str) -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        # every snapshot value must be there and equal; a NEW key (a feature adding an
        # output) does not change the existing ones
        missing = sorted(set(want) - set(got))
        assert not missing, f"{where}: missing {missing}"
        for k in want:
            _compare(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: length"
        if want and all(isinstance(v, (int, float)) or v is None for v in want) and not any(
                isinstance(v, bool) for v in want):
            a = np.array([np.nan if v is None else v for v in got], dtype=float)
            b = np.array([np.nan if v is None else v for v in want], dtype=float)
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True,
                                       err_msg=where)
        else:
            for i, (g, w) in enumerate(zip(got, want, strict=True)):
                _compare(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and isinstance(got, (int, float)):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6), where
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def _all_outputs(tmp: Path) -> dict:
    out = {"example_run": _outputs(ROOT / "recordings" / "example_run.gaitimu")}
    for name in SIM_CASES:
        out[name] = _sim_outputs(name, tmp)
    return out


def test_outputs_identical_to_snapshot(tmp_path):
    got = json.loads(json.dumps(_all_outputs(tmp_path)))  # the same JSON round trip
    if UPDATE:
        SNAPSHOT.write_text(json.dumps(got, separators=(",", ":"), sort_keys=True) + "\n")
        pytest.skip("snapshot rewritten")
    assert SNAPSHOT.is_file(), "no snapshot: run with GAITIMU_UPDATE_SNAPSHOT=1"
    want = json.loads(SNAPSHOT.read_text())
    for case in want:
        _compare(got[case], want[case], case)
