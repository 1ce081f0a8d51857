"""The pipeline end to end: conditioning -> alignment -> events -> metrics, and `analyze`."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from conftest import shared_data_dir
from gaitimu.analysis.metrics import STRIDE_COLUMNS
from gaitimu.analysis.speed import SPEED_COLUMNS
from gaitimu.errors import NoGaitError
from gaitimu.pipeline import AnalysisResult, analyze, analyze_session
from gaitimu.sessions.importer import read_imu_table

HAS_EVENTS = importlib.util.find_spec("gaitimu.analysis.events") is not None
HAS_SIM = importlib.util.find_spec("gaitimu.simulate") is not None


def _virtual(trial: str) -> dict:
    d = shared_data_dir("virtual_imu_dev", trial)
    imu = pd.read_csv(d / "imu.csv")
    truth = json.loads((d / "truth.json").read_text())
    ev = pd.DataFrame(
        {
            "side": [s["side"][0].upper() for s in truth["stances"]],
            "ic_s": [s["ic_s"] for s in truth["stances"]],
            "fc_s": [s["fc_s"] for s in truth["stances"]],
        }
    )
    return {
        "t_s": imu["t_s"].to_numpy(),
        "acc": imu[["acc_x", "acc_y", "acc_z"]].to_numpy(),
        "gyr": imu[["gyr_x", "gyr_y", "gyr_z"]].to_numpy(),
        "events": ev,
        "truth": truth,
    }


@pytest.mark.parametrize("trial", ["gait2354_subject01_walk", "rajagopal_run"])
def test_cpd_with_reference_events_within_1_deg(trial: str) -> None:
    v = _virtual(trial)
    res = analyze(
        v["t_s"],
        v["acc"],
        v["gyr"],
        sampling_rate_hz=200.0,
        events=v["events"],
        activity=v["truth"]["activity"],
    )
    assert isinstance(res, AnalysisResult)
    ref = pd.DataFrame(v["truth"]["stances"])
    err_ic = (res.strides["cpd_ic_deg"] - ref["cpd_from_ic_deg"]).abs()
    err_st = (res.strides["cpd_standing_deg"] - ref["cpd_vs_standing_deg"]).abs()
    assert err_ic.median() <= 1.0 and err_st.median() <= 1.0
    assert list(res.strides.columns) == list(STRIDE_COLUMNS) + list(SPEED_COLUMNS)
    assert {"t_s", "obliquity_deg", "tilt_deg", "yaw_deg", "acc_is", "valid"} <= set(
        res.signals.columns
    )
    assert res.info["activity"] == v["truth"]["activity"]
    assert res.info["alignment"]["up_source"] == "standing"
    json.dumps(res.info)  # JSON-ready


def test_analyze_session_reads_rate_axes_and_activity(tmp_path) -> None:
    from gaitimu.sessions import SessionWriter, open_session

    v = _virtual("gait2354_subject01_walk")
    meta = {
        "source": "import",
        "sample_rate_hz": 200.0,
        "axes": "x=up,y=right,z=forward",
        "activity": "walk",
    }
    with SessionWriter(tmp_path / "walk.gaitimu", meta) as w:
        w.write_samples(v["t_s"], v["acc"], v["gyr"])
    session = open_session(tmp_path / "walk.gaitimu")
    res = analyze_session(session, events=v["events"])
    assert res.info["n_strides"] == {"L": 2, "R": 1}
    assert res.info["sampling_rate_hz"] == 200.0
    assert res.strides["activity"].eq("walk").all()


def test_data_gap_is_masked_and_voids_overlapping_stances() -> None:
    v = _virtual("rajagopal_run")
    t = v["t_s"]
    keep = ~((t > 5.2) & (t < 5.45))  # 250 ms lost inside the 5th stance (5.16-5.40 s)
    res = analyze(
        t[keep], v["acc"][keep], v["gyr"][keep], sampling_rate_hz=200.0, events=v["events"]
    )
    sig = res.signals
    assert len(sig) == len(t)
    assert not sig.loc[(sig.t_s > 5.21) & (sig.t_s < 5.44), "valid"].any()
    bad = res.strides[~res.strides["valid"]]
    assert bad["ic_s"].iloc[0] == pytest.approx(5.1623)
    assert bad["invalid_reason"].iloc[0] == "data gap in the stance"
    # the orientation filter restarted after the hole: the stances after it, while it
    # settles (2 x 8 s), are not used; all of them, and none before the gap
    settle = res.info["alignment"]["settling_s"]
    assert len(settle) == 1 and settle[0][0] == pytest.approx(5.45, abs=0.01)
    assert (bad["invalid_reason"].iloc[1:] == "orientation settling after a data gap").all()
    assert bad["ic_s"].iloc[1:].min() > 5.45
    assert res.strides.loc[res.strides.ic_s > 5.45, "valid"].sum() == 0
    assert res.strides.loc[res.strides.ic_s < 5.1, "valid"].all()
    assert any("gap" in w for w in res.info["warnings"])


def test_no_gait_raises_no_gait_error() -> None:
    fs = 100.0
    n = int(20 * fs)
    rng = np.random.default_rng(0)
    acc = np.tile([9.81, 0, 0], (n, 1)) + rng.normal(0, 0.02, (n, 3))
    gyr = rng.normal(0, 0.1, (n, 3))
    with pytest.raises(NoGaitError):
        analyze(
            np.arange(n) / fs,
            acc,
            gyr,
            sampling_rate_hz=fs,
            events=pd.DataFrame(columns=["side", "ic_s", "fc_s"]),
        )
    if HAS_EVENTS:
        with pytest.raises(NoGaitError):
            analyze(np.arange(n) / fs, acc, gyr, sampling_rate_hz=fs)


@pytest.mark.skipif(not HAS_SIM, reason="gaitimu.simulate not available")
@pytest.mark.parametrize("activity", ["walk", "run"])
def test_simulated_misaligned_sensor_cpd_per_stance(activity: str) -> None:
    from gaitimu.simulate import SimConfig, simulate

    cfg = SimConfig(
        activity=activity,
        duration_s=30.0,
        cpd_left_deg=4.0,
        cpd_right_deg=8.0,
        seed=0,
        misalignment_random_deg=28.0,
    )
    sim = simulate(cfg)
    ev = pd.DataFrame(sim.truth["events"])
    res = analyze(
        sim.t_s,
        sim.acc,
        sim.gyr,
        sampling_rate_hz=cfg.sampling_rate_hz,
        events=ev[["side", "ic_s", "fc_s"]],
        activity=activity,
    )
    m = res.strides.merge(ev, on=["side", "ic_s"], suffixes=("", "_true"))
    assert len(m) == len(ev)
    err = (m["cpd_standing_deg"] - m["cpd_standing_deg_true"]).abs()
    assert err.median() <= 1.0
    ta = sim.truth_arrays
    obl = np.interp(ta["t_s"], res.signals["t_s"], res.signals["obliquity_deg"])
    g0, g1 = sim.truth["gait_s"]
    gait = (ta["t_s"] > g0) & (ta["t_s"] < g1)
    e = obl - ta["obliquity_deg"]
    assert np.std(e[gait]) <= 1.0


@pytest.mark.skipif(not (HAS_SIM and HAS_EVENTS), reason="simulator or event detector missing")
def test_cli_analyze_writes_strides_and_signals(tmp_path, capsys) -> None:
    from gaitimu.cli import main
    from gaitimu.simulate import SimConfig, simulate, write_session

    sim = simulate(SimConfig(activity="walk", duration_s=25.0, seed=2))
    session = tmp_path / "s.gaitimu"
    write_session(sim, session)
    strides, signals = tmp_path / "strides.csv", tmp_path / "signals.csv"
    code = main(["analyze", str(session), "--strides", str(strides), "--signals", str(signals)])
    out = capsys.readouterr().out
    assert code == 0
    assert "CPD" in out and "cadence" in out
    st = pd.read_csv(strides)
    assert {"side", "ic_s", "cpd_ic_deg", "cpd_standing_deg", "valid"} <= set(st.columns)
    sig = pd.read_csv(signals)
    assert {"t_s", "obliquity_deg"} <= set(sig.columns)


def test_cli_analyze_without_gait_exits_1_with_one_line(tmp_path, capsys) -> None:
    from gaitimu.cli import main
    from gaitimu.sessions import SessionWriter

    n = 2000
    rng = np.random.default_rng(0)
    path = tmp_path / "standing.gaitimu"
    meta = {"source": "import", "sample_rate_hz": 100.0, "axes": "x=up,y=right,z=forward"}
    with SessionWriter(path, meta) as w:
        w.write_samples(
            np.arange(n) / 100,
            np.tile([9.81, 0, 0], (n, 1)) + rng.normal(0, 0.02, (n, 3)),
            rng.normal(0, 0.1, (n, 3)),
        )
    if not HAS_EVENTS:
        pytest.skip("event detector (gaitimu.analysis.events) not available")
    code = main(["analyze", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "no usable gait" in err[0] and "standing.gaitimu" in err[0]


@pytest.mark.skipif(not HAS_SIM, reason="gaitimu.simulate not available")
@pytest.mark.parametrize("rate_hz", [50.0, 400.0])
def test_rates_50_to_400_hz_with_packet_loss(rate_hz: float) -> None:
    from gaitimu.simulate import SimConfig, simulate

    cfg = SimConfig(
        activity="run",
        duration_s=20.0,
        seed=3,
        sampling_rate_hz=rate_hz,
        misalignment_random_deg=25.0,
        packet_loss=0.02,
    )
    sim = simulate(cfg)
    ev = pd.DataFrame(sim.truth["events"])
    res = analyze(
        sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=rate_hz, events=ev[["side", "ic_s", "fc_s"]]
    )
    assert res.info["conditioning"]["n_interpolated"] > 0  # lost packets were bridged
    ta = sim.truth_arrays
    g0, g1 = sim.truth["gait_s"]
    gait = (ta["t_s"] > g0) & (ta["t_s"] < g1)
    obl = np.interp(ta["t_s"], res.signals["t_s"], res.signals["obliquity_deg"])
    assert np.std(obl[gait] - ta["obliquity_deg"][gait]) <= 1.0
    m = res.strides.merge(ev, on=["side", "ic_s"], suffixes=("", "_true"))
    assert (m["cpd_standing_deg"] - m["cpd_standing_deg_true"]).abs().median() <= 1.0


def _drop_holes(t: np.ndarray, holes: list[tuple[float, float]]) -> np.ndarray:
    """Keep-mask of the samples outside the holes ``(centre_s, length_s)``."""
    drop = np.zeros(t.size, dtype=bool)
    for c, d in holes:
        drop |= (t > c - d / 2 - 1e-9) & (t < c + d / 2)
    return ~drop


@pytest.mark.skipif(not (HAS_SIM and HAS_EVENTS), reason="simulator or event detector missing")
def test_short_holes_do_not_split_the_walk_long_gap_does() -> None:
    """Lossy link: 60-200 ms holes (some on an IC) are bridged for the event detector, so the
    walk stays one bout with (nearly) all its steps; stances containing a hole are excluded
    ("data gap in the stance"). A 1 s gap still splits the bout."""
    from gaitimu.simulate import SimConfig, simulate

    fs = 100.0
    sim = simulate(SimConfig(activity="walk", duration_s=40, seed=21, sampling_rate_hz=fs))
    t = sim.t_s
    true_ic = np.array([e["ic_s"] for e in sim.truth["events"]])
    rng = np.random.default_rng(3)
    centres = np.concatenate([true_ic[3:-3:5], np.arange(8.0, 38.0, 2.7)])  # ~1 hole / 1.2 s
    holes = list(zip(centres, rng.uniform(0.06, 0.2, centres.size), strict=True))

    def run(hs):
        keep = _drop_holes(t, hs)
        return analyze(t[keep], sim.acc[keep], sim.gyr[keep], sampling_rate_hz=fs)

    full = run([])
    res = run(holes)
    s, sig = res.strides, res.signals
    assert res.info["conditioning"]["n_bridged"] > 0
    assert len(res.info["gaps"]) >= 20  # the bridged holes are still gaps for the metrics
    assert s["bout_id"].nunique() == full.strides["bout_id"].nunique() == 1
    assert len(s) >= len(full.strides) - 1  # nearly all steps found across the holes
    err = np.min(np.abs(s["ic_s"].to_numpy()[:, None] - true_ic[None, :]), axis=0)
    hidden = np.array([any(abs(ic - c) < d / 2 + 0.02 for c, d in holes) for ic in true_ic])
    assert np.all(err[~hidden] <= 0.05)  # measured contacts: found, on time
    assert np.mean(err[hidden] <= 0.2) >= 0.9  # contacts lost in a hole: found nearby
    # stances over a hole are excluded with the gap reason; the others stay valid
    assert (s["invalid_reason"] == "data gap in the stance").sum() >= 15
    good = s[s["valid"]]
    assert len(good) >= 25
    # timing of valid stances never uses a contact placed next to a hole (TIMING_GAP_GUARD_S)
    truth = pd.DataFrame(sim.truth["events"]).sort_values("ic_s")
    m = pd.merge_asof(
        good, truth, on="ic_s", direction="nearest", tolerance=0.05, suffixes=("", "_true")
    )
    for col in ("step_s", "stride_s"):
        assert m[col].notna().sum() >= 10
        assert np.nanmax(np.abs(m[col] - m[col + "_true"])) <= 0.04, col
    # an IC placed inside a bridged hole: its stance is excluded, with the gap reason
    k = np.round((s["ic_s"].to_numpy() - sig["t_s"].iloc[0]) * fs).astype(int)
    on_hole = ~sig["valid"].to_numpy()[k]
    assert on_hole.any()
    assert (s.loc[on_hole, "invalid_reason"] == "data gap in the stance").all()
    # signals.valid stays strict: False in every bridged hole
    for c, d in holes:
        inside = (sig["t_s"] > c - d / 2 + 0.011) & (sig["t_s"] < c + d / 2 - 0.011)
        assert not sig.loc[inside, "valid"].any()

    split = run([*holes, (20.3, 1.0)])
    assert split.strides["bout_id"].nunique() == 2
    assert any("split gait bouts" in w for w in split.info["warnings"])


@pytest.mark.skipif(not HAS_EVENTS, reason="event detector (gaitimu.analysis.events) missing")
@pytest.mark.parametrize("trial", ["1-1", "10-4", "14-1"])
def test_real_lower_back_walking_end_to_end(trial: str) -> None:
    # IPOL (Voisard et al. 2023): Xsens at L5, 100 Hz, gyro in rad/s; axes not documented,
    # x=up,y=left,z=backward assumed (x reads ~+8 m/s^2 at rest). 10-4 and 14-1 stand with
    # visible sway (gyro SD up to ~4 deg/s) before walking.
    d = shared_data_dir("ipol_lowerback", "GaitData")
    t_s, acc, gyr, _ = read_imu_table(d / f"{trial}_lb.txt", rate_hz=100.0, gyr_unit="rad/s")
    res = analyze(
        t_s,
        acc,
        gyr,
        sampling_rate_hz=100.0,
        axes="x=up,y=left,z=backward",
        activity="walk",
    )
    assert res.info["alignment"]["up_source"] == "standing"
    assert res.info["alignment"]["forward_evidence"] > 0.2
    good = res.strides[res.strides["valid"]]
    n_l, n_r = (good["side"] == "L").sum(), (good["side"] == "R").sum()
    assert n_l >= 8 and n_r >= 8 and abs(n_l - n_r) <= 3
    # healthy adults: CPD of a few degrees, sacrum ML excursion of a few cm
    assert 0.5 < good["cpd_ic_deg"].median() < 15.0
    assert 0.005 < good["ml_excursion_m"].median() < 0.12


def test_one_settings_object_reaches_offline_and_stream_alike():
    """`AnalysisSettings` is passed to every stage, offline and live: a stricter stance
    limit voids stances in both, and both still agree row for row."""
    from gaitimu.analysis.metrics import MetricSettings
    from gaitimu.live.stream import StreamingAnalyzer
    from gaitimu.simulate import SimConfig, simulate
    from gaitimu.stages import AnalysisSettings

    sim = simulate(SimConfig(activity="walk", duration_s=40.0, seed=21))
    default = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=200.0)
    limit = float(default.strides["stance_s"].median())  # about half the stances longer
    strict = AnalysisSettings(metrics=MetricSettings(max_stance_s=limit))
    off = analyze(sim.t_s, sim.acc, sim.gyr, sampling_rate_hz=200.0, settings=strict)
    n_default, n_strict = default.strides["valid"].sum(), off.strides["valid"].sum()
    assert n_default > 20 and 0 < n_strict < 0.8 * n_default
    sa = StreamingAnalyzer(sampling_rate_hz=200.0, settings=strict)
    for i in range(0, sim.t_s.size, 400):
        sa.push(sim.t_s[i : i + 400], sim.acc[i : i + 400], sim.gyr[i : i + 400])
    sa.flush()
    live = sa.strides
    assert len(live) == len(off.strides)
    assert (live["valid"].to_numpy() == off.strides["valid"].to_numpy()).all()
