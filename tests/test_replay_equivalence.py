"""Replay (packets -> decoder -> streaming driver) gives the strides of offline analysis.

The documented tolerance (`gaitimu.live.stream.EQUIVALENCE_TOLERANCE`, docs/live.md): every
offline row has a streamed row with the same side, bout and validity; IC/FC/next IC within
one sample (within the hole length for contacts placed in a bridged hole: stances excluded
for a data gap, and the FC/next IC of the stance before); CPD within 0.3 deg. Sessions without quiet standing: same events, CPD not
compared tightly (offline uses the acausal VQF there).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from gaitimu.live.replay import replay_session
from gaitimu.live.stream import EQUIVALENCE_TOLERANCE, StreamConfig
from gaitimu.pipeline import analyze_session
from gaitimu.sessions import import_csv, open_session
from gaitimu.simulate import SimConfig, simulate, write_session

CASES = {
    "walk": dict(activity="walk", duration_s=60, cpd_left_deg=4, cpd_right_deg=8, seed=11),
    "run": dict(activity="run", duration_s=50, cpd_left_deg=6, cpd_right_deg=3, seed=12),
    "walk_loss_misaligned": dict(activity="walk", duration_s=50, seed=13, packet_loss=0.02,
                                 misalignment_random_deg=20),
    # turns + misalignment + loss: ambiguous sides (a side flip before the look-ahead rule)
    # and the largest CPD difference seen (0.20 deg, FC one sample apart)
    "walk_turns": dict(activity="walk", duration_s=60, cpd_left_deg=4, cpd_right_deg=8,
                       seed=13, turn_every_s=15.0, misalignment_random_deg=15,
                       packet_loss=0.01),
    # bursty loss at 100 Hz (20 ms packets): holes of every class -- interpolated (<= 50 ms),
    # bridged for the detector (70-190 ms) and long (> 0.2 s: a bout ends mid-stream)
    "walk_bursty_loss": dict(activity="walk", duration_s=50, seed=16, sampling_rate_hz=100.0,
                             packet_loss=0.03, packet_loss_burst=4.0),
}


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay_eq")
    out = {}
    for name, kw in CASES.items():
        path = root / name
        write_session(simulate(SimConfig(**kw)), path)
        out[name] = path
    return out


GAP = "data gap in the stance"


def _assert_equivalent(offline, streamed, fs, *, cpd=True):
    tol_t = EQUIVALENCE_TOLERANCE["time_samples"] / fs + 1e-9
    assert len(streamed) == len(offline)
    off = offline.sort_values("ic_s").reset_index(drop=True)
    live = streamed.sort_values("ic_s").reset_index(drop=True)
    for col in ("side", "valid", "bout_id", "activity"):
        assert (off[col] == live[col]).all(), col
    # Contacts of a stance over a bridged hole are placed on interpolated data: within the
    # hole length; so are the next IC and FC of the stance before (FC = next IC + ...).
    gap = ((off["invalid_reason"] == GAP) | (live["invalid_reason"] == GAP)).to_numpy()
    near_gap = gap | np.r_[gap[1:], False]
    tol_gap = EQUIVALENCE_TOLERANCE["gap_stance_time_s"] + tol_t
    for col, slack in (("ic_s", gap), ("fc_s", near_gap), ("next_ic_s", near_gap)):
        a, b = off[col].to_numpy(), live[col].to_numpy()
        assert (np.isnan(a) == np.isnan(b)).all(), col
        err = np.nan_to_num(np.abs(a - b))
        assert np.all(err <= np.where(slack, tol_gap, tol_t)), col
    if cpd:
        for col in ("cpd_ic_deg", "cpd_standing_deg"):
            a, b = off[col].to_numpy()[~near_gap], live[col].to_numpy()[~near_gap]
            assert (np.isnan(a) == np.isnan(b)).all(), col
            assert np.nanmax(np.abs(a - b), initial=0.0) <= EQUIVALENCE_TOLERANCE["cpd_deg"], col


@pytest.mark.parametrize("name", list(CASES))
def test_replay_max_speed_equals_offline(sessions, name):
    s = open_session(sessions[name])
    offline = analyze_session(s).strides
    res = asyncio.run(replay_session(sessions[name], speed=None))
    assert res.stopped_by == "end"
    assert res.n_samples == s.n_samples
    _assert_equivalent(offline, res.strides, s.sample_rate_hz)


def test_bursty_loss_case_has_every_hole_class(sessions):
    from gaitimu.analysis.conditioning import gap_intervals, resample_uniform

    s = open_session(sessions["walk_bursty_loss"])
    c = resample_uniform(s.t_s, s.acc, s.gyr, sampling_rate_hz=s.sample_rate_hz)
    n_long = len(gap_intervals(c.bridged, c.t_s, c.sampling_rate_hz))
    assert c.n_interpolated > 0 and c.n_bridged > 0 and n_long > 0
    assert len(c.gaps_s) - n_long >= 5  # bridged holes


@pytest.mark.parametrize("name", ["walk", "walk_turns", "walk_bursty_loss"])
def test_live_schedule_gives_the_same_rows(sessions, name):
    """The latency-oriented default schedule (adaptive runs, 0.1 s batches) changes nothing."""
    s = open_session(sessions[name])
    offline = analyze_session(s).strides
    res = asyncio.run(replay_session(sessions[name], speed=None, config=StreamConfig()))
    _assert_equivalent(offline, res.strides, s.sample_rate_hz)
    # rows come out while streaming, not only at the end
    fc_to_emit = np.array([t_end - fc for fc, t_end, _ in res.analyzer.emit_log])
    steady = fc_to_emit[: -4]  # the flush emits the last ones
    if name == "walk_bursty_loss":
        # after a hole the filter restarts from the data after it (`restart_filter`): the
        # rows there wait for up to REINIT_WINDOW_S of it (or the next hole)
        from gaitimu.analysis.orientation import REINIT_WINDOW_S

        assert res.analyzer._pelvis.n_restarts > 5
        assert np.median(steady) < REINIT_WINDOW_S + 1.2
    else:
        assert np.median(steady[steady < 5.0]) < 1.2


def test_strides_csv_matches_offline_csv(sessions, tmp_path):
    from gaitimu.workflows import analyze_path

    off_csv, live_csv = tmp_path / "off.csv", tmp_path / "live.csv"
    analyze_path(str(sessions["run"]), strides_csv=str(off_csv))
    asyncio.run(replay_session(sessions["run"], speed=None, strides_csv=live_csv))
    a, b = pd.read_csv(off_csv), pd.read_csv(live_csv)
    assert list(a.columns) == list(b.columns)  # the speed columns (issue 11) included
    fs = open_session(sessions["run"]).sample_rate_hz
    _assert_equivalent(a, b, fs)


def test_imported_session_synthesized_packets(sessions, tmp_path):
    """Imported CSV sessions keep no packets: synthesized int16 packets replay the same."""
    s = open_session(sessions["walk"])
    assert s.n_packets > 0
    csv = tmp_path / "walk.csv"
    pd.DataFrame(np.column_stack([s.t_s, s.acc, s.gyr]),
                 columns=["t_s", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
                 ).to_csv(csv, index=False)
    imp = tmp_path / "imported"
    import_csv(csv, imp, rate_hz=s.sample_rate_hz, axes=s.axes)
    si = open_session(imp)
    assert si.n_packets == 0
    res = asyncio.run(replay_session(imp, speed=None))
    _assert_equivalent(analyze_session(si).strides, res.strides, si.sample_rate_hz)


def test_session_without_standing_same_events(tmp_path):
    """No quiet standing: offline uses the acausal filter; events still agree exactly."""
    path = tmp_path / "nostand"
    write_session(simulate(SimConfig(activity="walk", duration_s=45, seed=14, standing_s=0)),
                  path)
    s = open_session(path)
    offline = analyze_session(s).strides
    res = asyncio.run(replay_session(path, speed=None))
    _assert_equivalent(offline, res.strides, s.sample_rate_hz, cpd=False)
    assert res.strides["cpd_standing_deg"].isna().all()


def test_live_step_length_equals_offline(tmp_path):
    """With a height in the session, replay's rows carry the same walking step length and
    speed as `gaitimu analyze` (one pipeline: issue 11's speed columns live too)."""
    import json

    path = tmp_path / "w.gaitimu"
    write_session(simulate(SimConfig(activity="walk", duration_s=50, seed=21)), path)
    meta = json.loads((path / "meta.json").read_text())
    meta["height_m"] = 1.75
    (path / "meta.json").write_text(json.dumps(meta))
    s = open_session(path)
    off = analyze_session(s).strides.sort_values("ic_s").reset_index(drop=True)
    live = asyncio.run(replay_session(path, speed=None)).strides
    live = live.sort_values("ic_s").reset_index(drop=True)
    assert len(off) == len(live) and off["step_length_m"].notna().sum() > 20
    for col in ("step_length_m", "speed_mps"):
        a, b = off[col].to_numpy(), live[col].to_numpy()
        assert (np.isnan(a) == np.isnan(b)).all(), col
        assert np.nanmax(np.abs(a - b)) <= 0.01 * np.nanmax(a), col
