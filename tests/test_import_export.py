"""CSV/Xsens import and CSV/BIDS-Motion export, through the library and the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import shared_data_dir
from gaitimu.cli import main
from gaitimu.consts import SENSOR_COLS, G, parse_axes
from gaitimu.errors import BadInputError
from gaitimu.sessions import SessionWriter, export_session, import_csv, open_session
from gaitimu.sessions.importer import read_imu_table

IPOL_AXES = "x=up,y=left,z=backward"  # documented in docs/sessions.md


def _frame(n: int = 400, rate_hz: float = 100.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(0, 2, (n, 6)), columns=list(SENSOR_COLS))
    df["acc_x"] += 9.81
    df.insert(0, "t_s", np.arange(n) / rate_hz)
    return df


def _session(tmp_path: Path, **meta) -> Path:
    rng = np.random.default_rng(3)
    n = 600
    t_s = np.arange(n) / 200.0
    keep = np.ones(n, bool)
    keep[300:310] = False
    path = tmp_path / "walk.gaitimu"
    m = {
        "sample_rate_hz": 200.0,
        "axes": "x=up,y=right,z=forward",
        "subject": "S-01",
        "activity": "walk",
        "sensor": {"name": "gaitimu-A1", "model": "v1", "firmware": "1.2"},
    }
    m.update(meta)
    with SessionWriter(path, m, fsync=False) as w:
        acc = rng.normal(size=(keep.sum(), 3)) + np.array([9.81, 0.0, 0.0])
        w.write_samples(t_s[keep], acc, rng.normal(size=(keep.sum(), 3)))
        w.add_event({"kind": "gap", "start_s": t_s[299], "end_s": t_s[310], "lost_samples": 10})
    return path


# ------------------------------------------------------------------------ import
def test_import_gaitimu_csv_round_trip(tmp_path):
    df = _frame()
    df.to_csv(tmp_path / "a.csv", index=False)
    out = import_csv(
        tmp_path / "a.csv", tmp_path / "a.gaitimu", rate_hz=100, axes="x=up,y=right,z=forward"
    )
    s = open_session(out)
    np.testing.assert_allclose(s.t_s, df.t_s, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(s.acc, df[["acc_x", "acc_y", "acc_z"]].to_numpy())
    np.testing.assert_array_equal(s.gyr, df[["gyr_x", "gyr_y", "gyr_z"]].to_numpy())
    assert s.meta["source"] == "import" and s.sample_rate_hz == 100 and s.problems == []
    assert s.meta["import"]["time_source"] == "t_s" and len(s.meta["import"]["sha256"]) == 64


def test_import_units_and_times_from_rate(tmp_path):
    df = _frame().drop(columns="t_s")
    g_df = df.copy()
    g_df[["acc_x", "acc_y", "acc_z"]] /= G
    g_df[["gyr_x", "gyr_y", "gyr_z"]] = np.deg2rad(g_df[["gyr_x", "gyr_y", "gyr_z"]])
    g_df.to_csv(tmp_path / "g.csv", index=False)
    s = open_session(
        import_csv(
            tmp_path / "g.csv",
            tmp_path / "g",
            rate_hz=50,
            acc_unit="g",
            gyr_unit="rad/s",
            axes="x=down,y=left,z=forward",
        )
    )
    np.testing.assert_allclose(s.acc, df[["acc_x", "acc_y", "acc_z"]], rtol=1e-12)
    np.testing.assert_allclose(s.gyr, df[["gyr_x", "gyr_y", "gyr_z"]], rtol=1e-12)
    np.testing.assert_allclose(s.t_s, np.arange(len(df)) / 50)
    assert s.axes == "x=down,y=left,z=forward"


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sep=st.sampled_from(["\t", ",", ";"]),
    upper=st.booleans(),
    preamble=st.lists(
        st.sampled_from(["# recorded by x", "// comment", "Device: MTw", ""]), max_size=3
    ),
    extra=st.booleans(),
    with_t=st.booleans(),
    n=st.integers(2, 50),
)
def test_import_layout_variants(tmp_path_factory, sep, upper, preamble, extra, with_t, n):
    tmp = tmp_path_factory.mktemp("v")
    df = _frame(n)
    if not with_t:
        df = df.drop(columns="t_s")
    if extra:
        df["PacketCounter"] = np.arange(n)
        df["Mag_X"] = 0.5
    if upper:
        df.columns = [c.upper() if c != "t_s" else c for c in df.columns]
    text = "\n".join([*preamble, df.to_csv(sep=sep, index=False)])
    (tmp / "f.txt").write_text(text)
    s = open_session(
        import_csv(tmp / "f.txt", tmp / "s", rate_hz=100, axes="x=up,y=right,z=forward")
    )
    assert s.n_samples == n
    ref = _frame(n)
    np.testing.assert_array_equal(s.gyr, ref[["gyr_x", "gyr_y", "gyr_z"]].to_numpy())
    np.testing.assert_array_equal(s.acc, ref[["acc_x", "acc_y", "acc_z"]].to_numpy())


def test_import_ipol_file_via_cli_then_info(tmp_path, capsys):
    src = shared_data_dir("ipol_lowerback", "GaitData") / "1-1_lb.txt"
    out = tmp_path / "ipol.gaitimu"
    assert (
        main(
            [
                "import",
                str(src),
                "--rate",
                "100",
                "--axes",
                IPOL_AXES,
                "--gyr-unit",
                "rad/s",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    raw = pd.read_csv(src, sep="\t", skiprows=1)
    counter = raw["PacketCounter"].to_numpy()
    n_rows = len(raw)
    # the PacketCounter is the clock: skipped values are lost packets, i.e. gaps
    skipped = int(np.sum(np.diff(counter) - 1))
    assert skipped > 0  # this file has lost packets
    assert info["n_samples"] == n_rows
    assert info["sample_rate_hz"] == 100 and info["axes"] == IPOL_AXES
    assert info["duration_s"] == pytest.approx((counter[-1] - counter[0] + 1) / 100)
    assert info["lost_samples"] == skipped and len(info["gaps"]) > 0
    assert info["problems"] == []
    for key in (
        "duration_s",
        "sample_rate_hz",
        "n_samples",
        "lost_samples",
        "gaps",
        "activity",
        "axes",
    ):
        assert key in info
    s = open_session(out)
    np.testing.assert_allclose(s.t_s, (counter - counter[0]) / 100)
    np.testing.assert_allclose(s.gyr, np.rad2deg(raw[["Gyr_X", "Gyr_Y", "Gyr_Z"]].to_numpy()))
    # at rest the up axis carries most of gravity
    up = s.acc[:50] @ parse_axes(IPOL_AXES).T
    assert np.median(up[:, 0]) > 7.0


def test_import_rejects_preamble_rate_mismatch(tmp_path):
    src = shared_data_dir("ipol_lowerback", "GaitData") / "1-1_lb.txt"
    with pytest.raises(BadInputError, match="sampled at 100 Hz but --rate is 200 Hz"):
        import_csv(src, tmp_path / "x", rate_hz=200, axes=IPOL_AXES, gyr_unit="rad/s")
    assert not (tmp_path / "x").exists()


def test_ipol_axis_map_matches_pelvic_roll_in_early_stance(tmp_path):
    """The documented IPOL axis map: in early stance the swing-side hemipelvis drops (healthy
    pelvic list), so the body-frame roll rate about the forward axis is positive (right side
    going down) after a LEFT initial contact and negative after a RIGHT one."""
    gait = shared_data_dir("ipol_lowerback", "GaitData")
    rot = parse_axes(IPOL_AXES)
    diffs = []
    for name in ("1-1", "4-2", "7-3", "10-5", "13-2", "16-4", "19-1"):
        if not (gait / f"{name}_lb.txt").exists():
            continue
        s = open_session(
            import_csv(
                gait / f"{name}_lb.txt",
                tmp_path / name,
                rate_hz=100,
                axes=IPOL_AXES,
                gyr_unit="rad/s",
            )
        )
        gyr_pa = (s.gyr @ rot.T)[:, 2]
        ref = json.loads((gait / f"{name}.json").read_text())

        def early(events, gyr=gyr_pa):
            return np.mean([gyr[ic : ic + 15].mean() for _, ic in events if ic + 15 < len(gyr)])

        diffs.append(early(ref["LeftFootEvents"]) - early(ref["RightFootEvents"]))
    assert len(diffs) >= 5
    assert np.mean(np.array(diffs) > 0) >= 0.8, diffs


# ------------------------------------------------------------------------ export
def test_export_csv_round_trips_through_import(tmp_path, capsys):
    path = _session(tmp_path)
    assert main(["export", str(path), "--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    s = open_session(path)
    df = pd.read_csv(tmp_path / "csv" / "walk_samples.csv")
    assert list(df.columns) == ["t_s", *SENSOR_COLS]
    np.testing.assert_array_equal(df.t_s, s.t_s)  # full precision
    np.testing.assert_array_equal(df[list(SENSOR_COLS[:3])].to_numpy(), s.acc)
    meta = json.loads((tmp_path / "csv" / "walk_meta.json").read_text())
    assert meta["subject"] == "S-01" and meta["events"][0]["kind"] == "gap"
    assert meta["summary"]["lost_samples"] == 10
    back = open_session(
        import_csv(
            tmp_path / "csv" / "walk_samples.csv", tmp_path / "back", rate_hz=200, axes=s.axes
        )
    )
    np.testing.assert_array_equal(back.gyr, s.gyr)
    assert back.lost_samples == 10  # the hole in t_s is found again


def test_export_bids_layout_and_content(tmp_path):
    path = _session(tmp_path)
    s = open_session(path)
    files = export_session(s, tmp_path / "bids", "bids")
    base = tmp_path / "bids" / "sub-S01" / "motion" / "sub-S01_task-walk_tracksys-gaitimuA1"
    assert {p.name for p in files} >= {
        f"{base.name}_motion.tsv",
        f"{base.name}_channels.tsv",
        f"{base.name}_motion.json",
        "dataset_description.json",
    }
    motion = pd.read_csv(f"{base}_motion.tsv", sep="\t", header=None)  # no header row
    channels = pd.read_csv(f"{base}_channels.tsv", sep="\t")
    assert list(channels.columns[:5]) == ["name", "component", "type", "tracked_point", "units"]
    assert motion.shape == (s.n_samples, len(channels))
    assert set(channels.type) == {"LATENCY", "ACCEL", "GYRO"}
    gyr_cols = channels.index[channels.type == "GYRO"]
    np.testing.assert_array_equal(motion[gyr_cols].to_numpy(), s.gyr)
    np.testing.assert_allclose(motion[0].to_numpy(), s.t_s, rtol=0, atol=5e-7)  # s.000000
    chj = json.loads(Path(f"{base}_channels.json").read_text())
    assert chj["reference_frame"]["Levels"]["sensor"]["SpatialAxes"] == "SRA"  # up,right,fwd
    assert (channels.units[channels.type == "ACCEL"] == "m/s^2").all()
    side = json.loads(Path(f"{base}_motion.json").read_text())
    assert side["SamplingFrequency"] == 200.0 and side["TaskName"] == "walk"
    assert side["TrackingSystemName"] == "gaitimuA1"
    assert side["ACCELChannelCount"] == 3 and side["GYROChannelCount"] == 3
    desc = json.loads((tmp_path / "bids" / "dataset_description.json").read_text())
    assert desc["BIDSVersion"] and desc["Name"]
    events = pd.read_csv(f"{base}_events.tsv", sep="\t")
    assert list(events.columns[:3]) == ["onset", "duration", "trial_type"]


def test_export_refuses_to_overwrite_and_adds_to_existing_dataset(tmp_path):
    a = _session(tmp_path)
    export_session(open_session(a), tmp_path / "bids", "bids")
    with pytest.raises(BadInputError, match="already exists"):
        export_session(open_session(a), tmp_path / "bids", "bids")
    (tmp_path / "b").mkdir()
    b = _session(tmp_path / "b", subject="S02", activity="run")
    export_session(open_session(b), tmp_path / "bids", "bids")
    assert (tmp_path / "bids" / "sub-S02" / "motion").is_dir()
    (tmp_path / "c").mkdir()
    c = _session(tmp_path / "c", subject="S02", activity="walk")
    export_session(open_session(c), tmp_path / "bids", "bids")
    scans = pd.read_csv(tmp_path / "bids" / "sub-S02" / "sub-S02_scans.tsv", sep="\t")
    assert list(scans.columns) == ["filename", "acq_time"]
    assert sorted(scans.filename) == [
        "motion/sub-S02_task-run_tracksys-gaitimuA1_motion.tsv",
        "motion/sub-S02_task-walk_tracksys-gaitimuA1_motion.tsv",
    ]
    assert not [p for p in tmp_path.iterdir() if "exporting" in p.name]


def test_packet_counter_is_the_clock_with_wrap_loss_and_repeats(tmp_path):
    """Xsens PacketCounter (16 bit): lost packets become holes, the wrap at 65536 is not a
    jump back, a repeated value is a duplicate row; an unusable counter falls back to rows."""
    df = _frame(8).drop(columns="t_s")
    df.insert(0, "PacketCounter", [65533, 65534, 65535, 0, 3, 4, 4, 5])
    (tmp_path / "x.txt").write_text(df.to_csv(sep="\t", index=False))
    t, acc, _, info = read_imu_table(tmp_path / "x.txt", rate_hz=100)
    np.testing.assert_allclose(t, np.array([0, 1, 2, 3, 6, 7, 8]) / 100)
    kept = _frame(8)[["acc_x", "acc_y", "acc_z"]].to_numpy()[[0, 1, 2, 3, 4, 5, 7]]
    np.testing.assert_array_equal(acc, kept)
    assert info["time_source"] == "packetcounter"
    assert info["counter"]["skipped_values"] == 2 and info["counter"]["repeated_values"] == 1
    # a counter with a hole of more than a minute is a reset, not lost packets: rows
    df["PacketCounter"] = [0, 1, 2, 3, 9000, 9001, 9002, 9003]
    (tmp_path / "y.txt").write_text(df.to_csv(sep="\t", index=False))
    t2, _, _, info2 = read_imu_table(tmp_path / "y.txt", rate_hz=100)
    np.testing.assert_allclose(t2, np.arange(8) / 100)
    assert info2["time_source"] == "rate"


def test_export_bids_long_free_text_labels_are_capped(tmp_path):
    """A long free-text subject/activity (found by hypothesis: a nested dict) must not make
    a file name longer than the file system allows (OSError ENAMETOOLONG)."""
    path = _session(tmp_path, subject="Subject " * 60, activity="walking " * 60)
    files = export_session(open_session(path), tmp_path / "bids", "bids")
    assert files and all(len(p.name) < 255 for p in files)
    assert any(p.name.startswith("sub-" + "Subject" * 9 + "S_task-") for p in files)
