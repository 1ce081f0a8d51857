"""Bad input through the real CLI: exit code 2, ONE stderr line naming the file and the problem,
no traceback, and no half-written output that could later look valid
(docs/contracts.md#exit-codes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitimu.cli import main
from gaitimu.consts import SENSOR_COLS
from gaitimu.sessions import SessionWriter

AXES = "x=up,y=right,z=forward"


def _good_csv(n: int = 50, with_t: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(0, 1, (n, 6)), columns=list(SENSOR_COLS))
    df["acc_x"] += 9.81
    if with_t:
        df.insert(0, "t_s", np.arange(n) / 100.0)
    return df


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out = capsys.readouterr()
    return code, out.err.strip()


def _assert_one_line(err: str, *needles: str) -> None:
    assert err, "nothing on stderr"
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle.lower() in err.lower(), (needle, err)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _csv_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


def _nan_csv() -> str:
    df = _good_csv()
    df.loc[7, "gyr_y"] = np.nan
    return _csv_text(df)


def _text_csv() -> str:
    df = _good_csv().astype(object)
    df.loc[3, "acc_z"] = "abc"
    return _csv_text(df)


def _nonmono_csv() -> str:
    df = _good_csv()
    df.loc[10, "t_s"] = 0.05
    return _csv_text(df)


def _dup_csv() -> str:
    df = _good_csv()
    df.loc[10, "t_s"] = df.loc[9, "t_s"]
    return _csv_text(df)


def _ragged_csv() -> str:
    lines = _csv_text(_good_csv()).splitlines()
    lines[5] += ",1.0,2.0"
    return "\n".join(lines) + "\n"


def _short_row_csv() -> str:
    lines = _csv_text(_good_csv()).splitlines()
    lines[5] = ",".join(lines[5].split(",")[:4])
    return "\n".join(lines) + "\n"


CSV_CASES = {
    "empty": ("", ["empty"]),
    "blank_lines": ("\n\n  \n", ["empty"]),
    "no_header": ("1,2,3,4,5,6\n7,8,9,10,11,12\n", ["no header"]),
    "header_only": (",".join(SENSOR_COLS) + "\n", ["no data rows"]),
    "missing_columns": ("t_s,acc_x,acc_y,acc_z,gyr_x\n0,1,2,3,4\n", ["missing column", "gyr_y"]),
    "nan": (_nan_csv(), ["gyr_y", "line 9"]),
    "text_value": (_text_csv(), ["non-numeric", "'abc'", "acc_z", "line 5"]),
    "non_monotonic": (_nonmono_csv(), ["decreasing time", "line 12"]),
    "duplicate_time": (_dup_csv(), ["duplicate time", "line 12"]),
    "ragged_long_row": (_ragged_csv(), ["malformed"]),
    "ragged_short_row": (_short_row_csv(), ["gyr_x", "line 6"]),
    "rate_mismatch": (_csv_text(_good_csv()), ["implies 100 Hz", "--rate is 200 Hz"]),
    "g_as_ms2": (_csv_text(_good_csv().assign(acc_x=1.0)), ["--acc-unit g"]),
    "binary": (None, ["not a text csv"]),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_csv_import(case, tmp_path, capsys):
    text, needles = CSV_CASES[case]
    src = tmp_path / f"{case}.csv"
    if text is None:
        src.write_bytes(b"\xff\xfe\x00\x81" * 100)
    else:
        src.write_text(text)
    rate = "200" if case == "rate_mismatch" else "100"
    out = tmp_path / "out.gaitimu"
    code, err = _run(
        ["import", str(src), "--rate", rate, "--axes", AXES, "--out", str(out)], capsys
    )
    assert code == 2
    _assert_one_line(err, f"{case}.csv", *needles)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]  # no temp leftovers


@pytest.mark.parametrize(
    ("rate", "needle"),
    [
        ("0", "not a valid sampling rate"),
        ("-5", "not a valid sampling rate"),
        ("nan", "not a valid sampling rate"),
        ("inf", "not a valid sampling rate"),
        ("abc", "invalid float value"),
    ],
)
def test_bad_rate(rate, needle, tmp_path, capsys):
    src = _write(tmp_path, "a.csv", _csv_text(_good_csv(with_t=False)))
    code, err = _run(
        ["import", str(src), "--rate", rate, "--axes", AXES, "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2
    _assert_one_line(err, needle)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("axes", "needle"),
    [
        ("x=up,y=up,z=forward", "same way"),
        ("x=up", "missing axis"),
        ("nonsense", "not AXIS=DIRECTION"),
        ("x=up,y=left,z=forward", "left-handed"),
        ("x=sideways,y=right,z=forward", "unknown direction"),
    ],
)
def test_bad_axis_map(axes, needle, tmp_path, capsys):
    src = _write(tmp_path, "a.csv", _csv_text(_good_csv()))
    code, err = _run(
        ["import", str(src), "--rate", "100", "--axes", axes, "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2
    _assert_one_line(err, "--axes", needle)
    assert not (tmp_path / "o").exists()


def test_import_missing_file_dir_and_existing_out(tmp_path, capsys):
    base = ["--rate", "100", "--axes", AXES]
    code, err = _run(
        ["import", str(tmp_path / "nope.csv"), *base, "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2
    _assert_one_line(err, "nope.csv", "not found")
    code, err = _run(["import", str(tmp_path), *base, "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    _assert_one_line(err, "directory")
    src = _write(tmp_path, "a.csv", _csv_text(_good_csv()))
    (tmp_path / "taken").mkdir()
    code, err = _run(["import", str(src), *base, "--out", str(tmp_path / "taken")], capsys)
    assert code == 2
    _assert_one_line(err, "taken", "already exists")


def _session(tmp_path: Path) -> Path:
    path = tmp_path / "s.gaitimu"
    with SessionWriter(path, {"sample_rate_hz": 100.0, "axes": AXES}, fsync=False) as w:
        d = _good_csv()
        w.write_samples(
            d.t_s.to_numpy(),
            d[list(SENSOR_COLS[:3])].to_numpy(),
            d[list(SENSOR_COLS[3:])].to_numpy(),
        )
    return path


def _damage(path: Path, how: str) -> None:
    meta_path = path / "meta.json"
    if how == "missing_meta":
        meta_path.unlink()
    elif how == "corrupted_meta":
        meta_path.write_bytes(meta_path.read_bytes()[:40])
    elif how == "binary_meta":
        meta_path.write_bytes(b"\x00\xff" * 30)
    elif how == "not_object_meta":
        meta_path.write_text("[1, 2]")
    elif how in ("future_version", "wrong_format", "bad_axes"):
        meta = json.loads(meta_path.read_text())
        meta.update(
            {
                "future_version": {"format_version": 7},
                "wrong_format": {"format": "something-else"},
                "bad_axes": {"axes": "x=up,y=up,z=up"},
            }[how]
        )
        meta_path.write_text(json.dumps(meta))


SESSION_CASES = {
    "missing_meta": "no meta.json",
    "corrupted_meta": "corrupted session metadata",
    "binary_meta": "corrupted session metadata",
    "not_object_meta": "not a JSON object",
    "future_version": "format version 7 is newer",
    "wrong_format": "not a gaitimu session",
    "bad_axes": "invalid axis map",
}


@pytest.mark.parametrize("verb", ["info", "export"])
@pytest.mark.parametrize("case", sorted(SESSION_CASES))
def test_bad_session(case, verb, tmp_path, capsys):
    path = _session(tmp_path)
    _damage(path, case)
    argv = [verb, str(path)] + (
        ["--format", "csv", "--out", str(tmp_path / "x")] if verb == "export" else []
    )
    code, err = _run(argv, capsys)
    assert code == 2
    _assert_one_line(err, "s.gaitimu", SESSION_CASES[case])
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("verb", ["info", "export"])
def test_missing_session_and_file_instead_of_session(verb, tmp_path, capsys):
    extra = ["--format", "bids", "--out", str(tmp_path / "x")] if verb == "export" else []
    code, err = _run([verb, str(tmp_path / "gone.gaitimu"), *extra], capsys)
    assert code == 2
    _assert_one_line(err, "gone.gaitimu", "not found")
    f = _write(tmp_path, "data.csv", "a,b\n")
    code, err = _run([verb, str(f), *extra], capsys)
    assert code == 2
    _assert_one_line(err, "data.csv", "gaitimu import")


def test_export_to_a_file_or_missing_parent(tmp_path, capsys):
    path = _session(tmp_path)
    f = _write(tmp_path, "file.txt", "x")
    code, err = _run(["export", str(path), "--format", "csv", "--out", str(f)], capsys)
    assert code == 2
    _assert_one_line(err, "file.txt", "not a directory")
    code, err = _run(
        ["export", str(path), "--format", "csv", "--out", str(tmp_path / "no" / "such" / "dir")],
        capsys,
    )
    assert code == 2
    _assert_one_line(err, "does not exist")


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "s", "--bogus"],
        ["export", "s", "--format", "xml", "--out", "d"],
        ["export", "s", "--out", "d"],
        ["import", "f.csv", "--rate", "100", "--out", "o"],
        ["import", "f.csv", "--rate", "100", "--axes", AXES, "--out", "o", "--acc-unit", "mg"],
        ["import", "f.csv", "--rate", "100", "--axes", AXES, "--out", "o", "--frobnicate"],
    ],
)
def test_unknown_or_missing_flags(argv, capsys):
    code, err = _run(argv, capsys)
    assert code == 2
    _assert_one_line(err, "gaitimu", "error")


# ------------------------------------------------------------------------ fuzzing
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gaitimu.errors import BadInputError  # noqa: E402
from gaitimu.sessions import import_csv, open_session  # noqa: E402

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    changes=st.dictionaries(
        st.sampled_from(
            [
                "format_version",
                "sample_rate_hz",
                "axes",
                "closed_cleanly",
                "n_samples",
                "file_bytes",
                "activity",
                "sensor",
                "subject",
                "notes",
            ]
        ),
        _json_values,
        max_size=4,
    )
)
def test_damaged_meta_values_never_crash(tmp_path_factory, changes):
    path = _session(tmp_path_factory.mktemp("m"))
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))
    try:
        s = open_session(path)
    except BadInputError as e:
        assert str(path) in str(e)
        return
    from gaitimu.sessions import export_session, format_info, session_info

    json.dumps(session_info(s), default=str)
    format_info(session_info(s))
    for fmt in ("csv", "bids"):
        files = export_session(s, path.parent / fmt, fmt)
        assert all(f.exists() for f in files)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("acgtxyzs_,;\t\n 0123456789.-eE#naAGTXYZ")), max_size=400
    ),
    header=st.booleans(),
)
def test_random_csv_text_is_imported_or_rejected_cleanly(tmp_path_factory, text, header):
    tmp = tmp_path_factory.mktemp("c")
    src = tmp / "f.csv"
    src.write_text((",".join(["t_s", *SENSOR_COLS]) + "\n" if header else "") + text)
    try:
        import_csv(src, tmp / "o", rate_hz=100, axes=AXES)
    except BadInputError as e:
        assert "f.csv" in str(e) and "\n" not in str(e).strip()
        assert not (tmp / "o").exists()
        return
    assert open_session(tmp / "o").n_samples > 0
