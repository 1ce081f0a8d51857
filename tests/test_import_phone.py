"""Phone recordings (issue 14): Sensor Logger and phyphox exports, the phone axis presets.

Every sample file is written here, in each app's documented format, from a simulated walk
(`gaitimu.simulate`): the sensor-frame signal is turned into the phone frame of a preset,
given the app's units, clock and sign conventions, and sampled on two uneven clocks (the
accelerometer and the gyroscope at different rates, with jitter). Formats: Sensor Logger,
github.com/tszheichoi/awesome-sensor-logger (UNITS.md, COORDINATES.md, CROSSPLATFORM.md);
phyphox, github.com/phyphox/phyphox-experiments (accelerometer.phyphox, gyroscope.phyphox).
"""

from __future__ import annotations

import json
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitimu.cli import main
from gaitimu.consts import AXIS_PRESETS, DEFAULT_AXES, G, parse_axes
from gaitimu.sessions import import_csv, open_session
from gaitimu.simulate import simulate, write_session
from gaitimu.workflows import analyze_path

EPOCH_NS = 1_717_171_717_000_000_000  # a recording start in 2024, ns since the epoch
ACC_HZ, GYR_HZ = 100.0, 90.0  # different rates: the faster (acc) stream is the time base
JITTER_S = 0.0015


@cache
def _walk():
    return simulate(activity="walk", duration_s=40.0, seed=4)


def _phone_frame(preset: str) -> np.ndarray:
    """``v_phone = M @ v_sensor`` for the simulated sensor (nominal map) worn as ``preset``."""
    return parse_axes(preset).T @ parse_axes(DEFAULT_AXES)


def _clock(rate: float, t_end: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.clip(1.0 / rate + rng.normal(0.0, JITTER_S, int(t_end * rate) + 10), 0.3 / rate, None)
    t = 0.013 + np.cumsum(dt)
    return t[t < t_end - 0.05]


def _phone_streams(preset: str):
    """(t_acc, acc m/s^2, t_gyr, gyr rad/s) in the phone frame, on two uneven clocks."""
    sim = _walk()
    m = _phone_frame(preset)
    ta, tg = _clock(ACC_HZ, sim.t_s[-1], 1), _clock(GYR_HZ, sim.t_s[-1], 2)
    acc = np.column_stack([np.interp(ta, sim.t_s, (sim.acc @ m.T)[:, i]) for i in range(3)])
    gyr = np.column_stack([np.interp(tg, sim.t_s, (sim.gyr @ m.T)[:, i]) for i in range(3)])
    return ta, acc, tg, np.deg2rad(gyr)


def _sl_csv(t: np.ndarray, xyz: np.ndarray) -> str:
    """A Sensor Logger CSV: time (epoch ns), seconds_elapsed, z, y, x."""
    return pd.DataFrame(
        {
            "time": EPOCH_NS + np.round(t * 1e9).astype(np.int64),
            "seconds_elapsed": t,
            "z": xyz[:, 2],
            "y": xyz[:, 1],
            "x": xyz[:, 0],
        }
    ).to_csv(index=False)


def _sensor_logger(dest: Path, preset: str, platform: str, *, as_zip: bool) -> Path:
    """Android: TotalAcceleration.csv (with gravity). iOS (default settings): Accelerometer.csv
    (without gravity) and Gravity.csv, both with the opposite sign; AccelerometerUncalibrated.csv
    in g (which tells gaitimu the units were not standardised)."""
    ta, acc, tg, gyr = _phone_streams(preset)
    files = {"Gyroscope.csv": _sl_csv(tg, gyr)}
    if platform == "android":
        files["TotalAcceleration.csv"] = _sl_csv(ta, acc)
    else:
        up = parse_axes(preset).T @ np.array([1.0, 0.0, 0.0])  # body up in the phone frame
        tgrav = ta[::2] + 0.002  # the gravity stream has its own clock too
        files["Gravity.csv"] = _sl_csv(tgrav, -G * np.tile(up, (tgrav.size, 1)))
        files["Accelerometer.csv"] = _sl_csv(ta, -(acc - G * up))
        files["AccelerometerUncalibrated.csv"] = _sl_csv(ta, -acc / G)
    files["Metadata.csv"] = f"version,device name,recording time,platform\n3,test phone,x,{platform}\n"
    if as_zip:
        with zipfile.ZipFile(dest, "w") as z:
            for name, text in files.items():
                z.writestr(f"walk_2024-05-31/{name}", text)
    else:
        dest.mkdir()
        for name, text in files.items():
            (dest / name).write_text(text)
    return dest


def _px_table(t: np.ndarray, xyz: np.ndarray, kind: str) -> pd.DataFrame:
    if kind == "acc":
        names = [f"Acceleration {a} (m/s^2)" for a in "xyz"] + ["Absolute acceleration (m/s^2)"]
    else:
        names = [f"Gyroscope {a} (rad/s)" for a in "xyz"] + ["Absolute (rad/s)"]
    df = pd.DataFrame(xyz, columns=names[:3])
    df[names[3]] = np.linalg.norm(xyz, axis=1)
    df.insert(0, "Time (s)", t)
    return df


def _phyphox(dest: Path, preset: str, layout: str) -> Path:
    """phyphox "Raw Data.csv" exports: ``zip`` of the two experiments' exports (Acceleration
    with g, Gyroscope), or ``combined``: one semicolon/decimal-comma CSV with both sets."""
    ta, acc, tg, gyr = _phone_streams(preset)
    a, g = _px_table(ta, acc, "acc"), _px_table(tg, gyr, "gyr")
    if layout == "zip":
        with zipfile.ZipFile(dest, "w") as z:
            z.writestr("Acceleration with g 2024-05-31/Raw Data.csv", a.to_csv(index=False))
            z.writestr("Gyroscope 2024-05-31/Raw Data.csv", g.to_csv(index=False))
            z.writestr("Acceleration with g 2024-05-31/meta/device.csv", "property,value\n")
    else:
        both = pd.concat([a, g.rename(columns={"Time (s)": "Time (s) gyr"})], axis=1)
        both = both[[*a.columns[:4], *g.columns[1:4]]]  # one time column: gyr rows re-timed
        both.iloc[:, 4:] = np.column_stack(
            [np.interp(ta, tg, gyr[:, i]) for i in range(3)]
        )  # a combined experiment samples both on one clock
        dest.write_text(both.to_csv(index=False, sep=";", decimal=","))
    return dest


def _expected(t_s: np.ndarray, t_offset: float):
    """The simulated sensor-frame signal at the imported sample times (m/s^2, deg/s)."""
    sim = _walk()
    t = t_s + t_offset
    acc = np.column_stack([np.interp(t, sim.t_s, sim.acc[:, i]) for i in range(3)])
    gyr = np.column_stack([np.interp(t, sim.t_s, sim.gyr[:, i]) for i in range(3)])
    return acc, gyr


CASES = [
    ("sensor-logger", "phone-screen-out", "android", "zip"),
    ("sensor-logger", "phone-screen-in", "ios", "dir"),
    ("phyphox", "phone-screen-in", None, "zip"),
    ("phyphox", "phone-screen-out", None, "combined"),
]


def _write(tmp_path: Path, fmt: str, preset: str, platform: str | None, layout: str) -> Path:
    if fmt == "sensor-logger":
        name = "rec.zip" if layout == "zip" else "rec"
        return _sensor_logger(tmp_path / name, preset, platform or "", as_zip=layout == "zip")
    return _phyphox(tmp_path / ("px.zip" if layout == "zip" else "px.csv"), preset, layout)


# ------------------------------------------------------------------ presets
def test_presets_are_right_handed_and_point_where_the_docs_say():
    up, right, fwd = np.eye(3)
    out, inn = parse_axes("phone-screen-out"), parse_axes("phone-screen-in")
    for r in (out, inn):
        assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1.0)
        # phone axes: x right of the screen, y up along it, z out of it; x = y cross z
        assert np.allclose(r[:, 0], np.cross(r[:, 1], r[:, 2]))
        assert np.allclose(r[:, 1], up)
    assert np.allclose(out[:, 2], -fwd) and np.allclose(out[:, 0], right)  # screen backward
    assert np.allclose(inn[:, 2], fwd) and np.allclose(inn[:, 0], -right)  # screen forward
    assert set(AXIS_PRESETS) == {"phone-screen-out", "phone-screen-in"}


# ------------------------------------------------------------------ units, axes, timing
@pytest.mark.parametrize(("fmt", "preset", "platform", "layout"), CASES)
def test_import_units_axes_timing_match_the_simulated_signal(tmp_path, fmt, preset, platform,
                                                             layout):
    src = _write(tmp_path, fmt, preset, platform, layout)
    out = import_csv(src, tmp_path / "p.gaitimu", rate_hz=None, axes=preset, fmt=fmt)
    s = open_session(out)
    ta, _, tg, _ = _phone_streams(preset)
    if layout == "combined":
        tg = ta  # one clock for both sets
    assert s.meta["axes"] == AXIS_PRESETS[preset]
    assert s.meta["import"]["merged_on"] == "accelerometer"
    # timing: the accelerometer's own (uneven) times inside the gyroscope's span, shifted to
    # start at 0, to 1 us
    k = int(np.searchsorted(ta, tg[0]))
    n = s.n_samples
    assert n >= ta.size - k - 3
    assert np.allclose(s.t_s, ta[k : k + n] - ta[k], atol=1e-6)
    assert s.meta["sample_rate_hz"] == pytest.approx(
        1.0 / np.median(np.diff(ta[k : k + n])), rel=1e-6
    )
    # units and axes: phone frame back to the sensor frame through the preset
    m = _phone_frame(preset)
    acc_sensor, gyr_sensor = s.acc @ m, s.gyr @ m  # v_sensor = M.T @ v_phone
    exp_acc, exp_gyr = _expected(s.t_s, ta[k])
    # the accelerometer is not resampled: exact up to the CSV's float text
    assert np.abs(acc_sensor - exp_acc).max() < 1e-4
    # the gyroscope is interpolated from 90 Hz onto the accelerometer's times: the error is
    # the linear interpolation error of a walk's rotation rate (RMS ~1 % of its RMS; the
    # signal itself has 0.1 deg/s noise, whose interpolation is not recoverable)
    err = np.sqrt(np.mean((gyr_sensor - exp_gyr) ** 2, axis=0))
    assert np.all(err < 0.05 * np.sqrt(np.mean(exp_gyr**2, axis=0)) + 0.2), err
    # gravity is +9.81 along body up in standing (specific force; iOS sign undone)
    up_phone = s.acc[s.t_s < 3.0].mean(axis=0) @ parse_axes(preset).T
    assert up_phone[0] == pytest.approx(G, abs=0.3)


# ------------------------------------------------------------------ analysis equivalence
@pytest.mark.parametrize(("fmt", "preset", "platform", "layout"), [CASES[1], CASES[2]])
def test_analyze_imported_phone_session_matches_the_original(tmp_path, fmt, preset, platform,
                                                             layout):
    orig = tmp_path / "orig.gaitimu"
    write_session(_walk(), orig)
    src = _write(tmp_path, fmt, preset, platform, layout)
    out = import_csv(src, tmp_path / "p.gaitimu", rate_hz=None, axes=preset, fmt=fmt)
    a, b = analyze_path(str(orig)), analyze_path(str(out))
    sa, sb = a.strides[a.strides.valid], b.strides[b.strides.valid]
    for side in ("L", "R"):
        na, nb = (sa.side == side).sum(), (sb.side == side).sum()
        assert na >= 20 and abs(na - nb) <= 1
        ca = sa[sa.side == side].cpd_standing_deg.mean()
        cb = sb[sb.side == side].cpd_standing_deg.mean()
        assert abs(ca - cb) < 0.3, (side, ca, cb)
    # contacts within one 100 Hz sample (+ the phone clock's jitter) of the original's
    ic_a, ic_b = np.sort(sa.ic_s.to_numpy()), np.sort(sb.ic_s.to_numpy())
    t0 = _phone_streams(preset)[0][0]
    d = np.abs(ic_b[:, None] + t0 - ic_a[None, :]).min(axis=1)
    assert np.median(d) < 0.015 and np.quantile(d, 0.9) < 0.03


# ------------------------------------------------------------------ CLI and info
def test_cli_import_then_info_shows_rate_and_jitter(tmp_path, capsys):
    src = _sensor_logger(tmp_path / "rec.zip", "phone-screen-out", "android", as_zip=True)
    out = tmp_path / "p.gaitimu"
    rc = main(["import", str(src), "--format", "sensor-logger", "--axes", "phone-screen-out",
               "--out", str(out)])
    assert rc == 0
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["median_rate_hz"] == pytest.approx(ACC_HZ, rel=0.03)
    assert 0.5 < info["jitter_ms"] < 4.0  # IQR of N(0, 1.5 ms) intervals: ~2 ms
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Hz (median), jitter" in text and "ms (IQR of intervals)" in text


def _bad(tmp_path: Path, what: str) -> Path:
    ta, acc, tg, gyr = _phone_streams("phone-screen-out")
    d = tmp_path / what
    d.mkdir()
    if what == "missing-column":
        (d / "TotalAcceleration.csv").write_text(_sl_csv(ta, acc).replace(",x\n", ",w\n", 1))
        (d / "Gyroscope.csv").write_text(_sl_csv(tg, gyr))
    elif what == "empty":
        (d / "TotalAcceleration.csv").write_text("")
        (d / "Gyroscope.csv").write_text(_sl_csv(tg, gyr))
    elif what == "header-only":
        (d / "TotalAcceleration.csv").write_text("time,seconds_elapsed,z,y,x\n")
        (d / "Gyroscope.csv").write_text(_sl_csv(tg, gyr))
    elif what == "acc-in-g":
        (d / "TotalAcceleration.csv").write_text(_sl_csv(ta, acc / G))
        (d / "Gyroscope.csv").write_text(_sl_csv(tg, gyr))
    elif what == "no-gravity":
        (d / "Accelerometer.csv").write_text(_sl_csv(ta, acc - acc.mean(axis=0)))
        (d / "Gyroscope.csv").write_text(_sl_csv(tg, gyr))
    elif what == "no-gyroscope":
        (d / "TotalAcceleration.csv").write_text(_sl_csv(ta, acc))
    elif what == "not-sensor-logger":
        (d / "notes.csv").write_text("a,b\n1,2\n")
    return d


@pytest.mark.parametrize(
    ("what", "says"),
    [
        ("missing-column", "missing column(s) x"),
        ("empty", "file is empty"),
        ("header-only", "no data rows"),
        ("acc-in-g", "looks like values in g"),
        ("no-gravity", "without gravity"),
        ("no-gyroscope", "no Gyroscope.csv"),
        ("not-sensor-logger", "no Sensor Logger CSV files"),
    ],
)
def test_bad_sensor_logger_exports_are_one_line_exit_2(tmp_path, capsys, what, says):
    src = _bad(tmp_path, what)
    rc = main(["import", str(src), "--format", "sensor-logger", "--axes", "phone-screen-out",
               "--out", str(tmp_path / "x.gaitimu")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert says in err and "\n" not in err and "Traceback" not in err, err
    assert not (tmp_path / "x.gaitimu").exists()


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("Time (s),Acceleration x (m/s^2),Acceleration y (m/s^2)", "missing column(s) acc z"),
        ("Time (s),Gyroscope x (deg/s),Gyroscope y (deg/s),Gyroscope z (deg/s)", "is not rad/s"),
        ("Time (s),Linear Acceleration x (m/s^2),Linear Acceleration y (m/s^2),"
         "Linear Acceleration z (m/s^2)", "linear acceleration"),
        ("Time (s),Acceleration x (g),Acceleration y (g),Acceleration z (g)", "is not m/s^2"),
    ],
)
def test_bad_phyphox_files_are_one_line_exit_2(tmp_path, capsys, header, says):
    n = header.count(",")
    rows = "\n".join(",".join(["0.01"] * (n + 1)) for _ in range(5))
    src = tmp_path / "Raw Data.csv"
    src.write_text(header + "\n" + rows + "\n")
    rc = main(["import", str(src), "--format", "phyphox", "--axes", "phone-screen-in",
               "--out", str(tmp_path / "x.gaitimu")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and says in err and "\n" not in err, err


def test_csv_import_still_needs_rate_and_phone_rate_is_checked(tmp_path, capsys):
    src = _sensor_logger(tmp_path / "rec.zip", "phone-screen-out", "android", as_zip=True)
    rc = main(["import", str(src), "--format", "sensor-logger", "--rate", "200", "--axes",
               "phone-screen-out", "--out", str(tmp_path / "x.gaitimu")])
    assert rc == 2 and "leave --rate out" in capsys.readouterr().err
    (tmp_path / "a.csv").write_text("acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n9.8,0,0,0,0,0\n")
    rc = main(["import", str(tmp_path / "a.csv"), "--axes", DEFAULT_AXES, "--out",
               str(tmp_path / "y.gaitimu")])
    assert rc == 2 and "--rate HZ is required" in capsys.readouterr().err
