"""Faulty input of every kind through the real CLI (issue 17, items 8, 9, 12): exit 2 and ONE
stderr line naming the file (or success with a warning when the bad file is optional), never
exit 70 ("internal error") and never a traceback. Size bounds are checked on sparse files
(no real multi-GB data): the test asserts the check, not the memory."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaitimu.cli import main
from gaitimu.consts import MAX_RATE_HZ, MIN_RATE_HZ, SENSOR_COLS
from gaitimu.errors import BadInputError, quote
from gaitimu.sessions import SessionWriter, _chunks, open_session

AXES = "x=up,y=right,z=forward"
RATE = 100.0


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err.strip()


def _one_line(err: str, *needles: str) -> None:
    assert err, "nothing on stderr"
    assert len(err.splitlines()) == 1, err[:2000]
    assert len(err) < 1200, len(err)
    assert "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle.lower() in err.lower(), (needle, err)


@pytest.fixture(scope="module")
def base_session(tmp_path_factory) -> Path:
    """A small closed session with events and a truth.npz/truth.json, like simulate writes."""
    path = tmp_path_factory.mktemp("base") / "s.gaitimu"
    n = 600
    t = np.arange(n) / RATE
    t[300:] += 0.5  # a gap of 50 samples
    rng = np.random.default_rng(1)
    acc = rng.normal(0, 0.1, (n, 3)) + np.array([9.81, 0, 0])
    gyr = rng.normal(0, 1, (n, 3))
    meta = {
        "sample_rate_hz": RATE,
        "axes": AXES,
        "activity": "walk",
        "acc_range_g": 16.0,
        "gyr_range_dps": 2000.0,
        "subject": "S1",
        "source": "simulate",
    }
    with SessionWriter(path, meta, fsync=False) as w:
        w.write_samples(t[:300], acc[:300], gyr[:300])
        w.add_event(
            {"kind": "gap", "start_s": float(t[299]), "end_s": float(t[300]), "lost_samples": 50}
        )
        w.write_samples(t[300:], acc[300:], gyr[300:])
        w.write_packets(t[:10], [bytes([i]) * 20 for i in range(10)])
        w.write_truth({"events": []}, {"obliquity_deg": np.zeros(n)})
    return path


def _copy(base: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "s.gaitimu"
    shutil.copytree(base, dst)
    return dst


def _meta(path: Path, **changes) -> None:
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))


def _verbs(path: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "info": ["info", str(path)],
        "info_json": ["info", "--json", str(path)],
        "export": ["export", str(path), "--format", "csv", "--out", str(tmp_path / "x")],
        "bids": ["export", str(path), "--format", "bids", "--out", str(tmp_path / "b")],
    }


# ------------------------------------------------------------------ item 8: meta.json fields
META_CASES = {
    "rate_1e308": ({"sample_rate_hz": 1e308}, "sample_rate_hz"),
    "rate_string": ({"sample_rate_hz": "x"}, "sample_rate_hz"),
    "rate_list": ({"sample_rate_hz": [200]}, "sample_rate_hz"),
    "rate_tiny": ({"sample_rate_hz": 1e-9}, "sample_rate_hz"),
    "rate_negative": ({"sample_rate_hz": -200}, "sample_rate_hz"),
    "rate_bool": ({"sample_rate_hz": True}, "sample_rate_hz"),
    "n_samples_string": ({"n_samples": "x"}, "n_samples"),
    "n_samples_negative": ({"n_samples": -1}, "n_samples"),
    "n_samples_huge": ({"n_samples": 10**30}, "n_samples"),
    "acc_range_string": ({"acc_range_g": "x"}, "acc_range_g"),
    "acc_range_negative": ({"acc_range_g": -16}, "acc_range_g"),
    "gyr_range_huge": ({"gyr_range_dps": 1e300}, "gyr_range_dps"),
    "activity_list": ({"activity": [1]}, "activity"),
    "axes_list": ({"axes": ["x=up"]}, "axes"),
    "sensor_list": ({"sensor": [1, 2]}, "sensor"),
    "closed_string": ({"closed_cleanly": "yes"}, "closed_cleanly"),
    "file_bytes_list": ({"file_bytes": [1]}, "file_bytes"),
    "file_bytes_negative": ({"file_bytes": {"samples.bin": -5}}, "file_bytes"),
    "subject_dict": ({"subject": {"a": 1}}, "subject"),
    "long_value": ({"acc_range_g": "y" * 10_000_000}, "acc_range_g"),
}


@pytest.mark.parametrize("case", sorted(META_CASES))
def test_bad_meta_field_is_one_line_exit_2(case, base_session, tmp_path, capsys):
    path = _copy(base_session, tmp_path)
    changes, field = META_CASES[case]
    _meta(path, **changes)
    for verb, argv in _verbs(path, tmp_path).items():
        code, err = _run(argv, capsys)
        assert code == 2, (verb, err)
        _one_line(err, "meta.json", field)
    assert not (tmp_path / "x").exists() and not (tmp_path / "b").exists()


def test_bad_meta_field_analyze_replay_report(base_session, tmp_path, capsys):
    path = _copy(base_session, tmp_path)
    _meta(path, sample_rate_hz=1e308)
    for argv in (
        ["analyze", str(path)],
        ["replay", "--max", str(path)],
        ["report", str(path), "--out", str(tmp_path / "r.html")],
    ):
        code, err = _run(argv, capsys)
        assert code == 2, (argv, err)
        _one_line(err, "meta.json", "sample_rate_hz")


def test_missing_rate_is_estimated_not_refused(base_session, tmp_path, capsys):
    path = _copy(base_session, tmp_path)
    meta = json.loads((path / "meta.json").read_text())
    del meta["sample_rate_hz"]
    (path / "meta.json").write_text(json.dumps(meta))
    s = open_session(path)
    assert s.sample_rate_hz == pytest.approx(RATE)
    assert any("estimated" in p for p in s.problems)


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "gaitimu-session", "format_version": 1, "x": '
        + "[" * 100_000
        + "]" * 100_000
        + "}",
        '{"format": "gaitimu-session", "format_version": 1, "n": ' + "9" * 5000 + "}",
        '{"format": "gaitimu-session", "format_version": 1, "sample_rate_hz": NaN}',
        '{"format": "gaitimu-session", "format_version": 1, "sample_rate_hz": Infinity}',
        '{"format": "' + "z" * 1_000_000 + '", "format_version": 1}',
    ],
    ids=["deeply_nested", "huge_int", "nan_rate", "inf_rate", "long_format"],
)
def test_damaged_meta_json_is_one_line(text, base_session, tmp_path, capsys):
    path = _copy(base_session, tmp_path)
    (path / "meta.json").write_text(text)
    for verb, argv in _verbs(path, tmp_path).items():
        code, err = _run(argv, capsys)
        assert code == 2, (verb, err)
        _one_line(err, "s.gaitimu")


def test_meta_json_fifo_or_directory_is_refused(base_session, tmp_path, capsys):
    path = _copy(base_session, tmp_path)
    (path / "meta.json").unlink()
    os.mkfifo(path / "meta.json")
    code, err = _run(["info", str(path)], capsys)
    assert code == 2
    _one_line(err, "meta.json", "not a regular file")


# ------------------------------------------------------ item 8: truth.npz is optional
@pytest.mark.parametrize("damage", ["empty", "junk", "truncated", "json_empty", "json_deep"])
def test_damaged_truth_is_ignored_with_a_warning(damage, base_session, tmp_path, capsys, caplog):
    path = _copy(base_session, tmp_path)
    npz, tj = path / "truth.npz", path / "truth.json"
    if damage == "empty":
        npz.write_bytes(b"")
    elif damage == "junk":
        npz.write_bytes(b"PK\x03\x04" + b"junk" * 100)
    elif damage == "truncated":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    elif damage == "json_empty":
        tj.write_bytes(b"")
    else:
        tj.write_text("[" * 100_000 + "]" * 100_000)
    name = "truth.json" if damage.startswith("json") else "truth.npz"
    with caplog.at_level(logging.WARNING):
        s = open_session(path)
    assert s.n_samples == 600
    assert any(name in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert any(name in p and "ignored" in p for p in s.problems)
    for verb, argv in _verbs(path, tmp_path).items():
        code, err = _run(argv, capsys)
        assert code == 0, (verb, err)
        assert "Traceback" not in err and "internal error" not in err
    code, _ = _run(["replay", "--max", str(path)], capsys)
    assert code in (0, 1)  # no gait in this tiny session is fine; no crash


# ------------------------------------------------------------------ item 12: events.bin
def _add_event(path: Path, ev: object, seq: int = 1) -> None:
    payload = json.dumps(ev).encode() if not isinstance(ev, bytes) else ev
    with open(path / "events.bin", "ab") as f:
        f.write(_chunks.encode_chunk(_chunks.KIND_EVENT, seq, 1, payload))


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        ({"kind": "gap", "start_s": 1.0, "end_s": 2.0, "lost_samples": -1000}, "set to 0"),
        ({"kind": "gap", "start_s": 1.0, "end_s": 2.0, "lost_samples": 10**300}, "set to 106"),
        ({"kind": "gap", "start_s": 1.0, "end_s": 2.0, "lost_samples": 1e300}, "set to 106"),
        ({"kind": "gap", "start_s": 1.0, "end_s": 2.0, "lost_samples": "many"}, "set to 0"),
        ({"kind": "overflow", "lost_samples": 10**9}, "allows"),
        ({"kind": "gap", "start_s": "NaN", "end_s": 2.0, "lost_samples": 3}, "interval"),
        ({"kind": "disconnect", "start_s": 5.0, "end_s": 1.0}, "interval"),
        ({"kind": 7}, "kind 7"),
    ],
)
def test_damaged_event_is_repaired_and_reported(event, needle, base_session, tmp_path, capsys):
    path = _copy(base_session, tmp_path)
    _add_event(path, event)
    s = open_session(path)
    assert 0 <= s.lost_samples <= 50 + s.duration_s * RATE * 1.05 + 1
    assert any("damaged event" in p and needle in p for p in s.problems), s.problems
    code, err = _run(["info", "--json", str(path)], capsys)
    assert code == 0 and "Traceback" not in err


def test_info_never_shows_negative_loss(base_session, tmp_path, capsys):
    path = _copy(base_session, tmp_path)
    _add_event(path, {"kind": "gap", "start_s": 1.0, "end_s": 1.2, "lost_samples": -(10**6)})
    code = main(["info", "--json", str(path)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["lost_samples"] >= 0 and out["loss_pct"] >= 0


# ------------------------------------------------------- item 12: missing-chunk count
def test_repeated_chunk_never_gives_a_negative_missing_count(base_session, tmp_path):
    path = _copy(base_session, tmp_path)
    buf = (path / "samples.bin").read_bytes()
    scan = _chunks.scan_chunks(buf)
    first = scan.chunks[0]
    whole = buf[first.start - _chunks.HEADER_SIZE : first.start + first.length]
    (path / "samples.bin").write_bytes(buf + whole)  # chunk 0 stored twice
    s = open_session(path)
    assert s.n_samples == 600  # the copy is skipped, the samples are unchanged
    assert not any("-1 chunk" in p or "chunk(s) missing" in p for p in s.problems), s.problems
    assert any("stored twice" in p for p in s.problems)
    # a chunk with an out-of-order seq that is not a copy
    head = bytearray(whole)
    payload = bytes(head[_chunks.HEADER_SIZE :])
    (path / "samples.bin").write_bytes(
        buf + _chunks.encode_chunk(_chunks.KIND_SAMPLES, 0, first.count, payload[::-1])
    )
    s = open_session(path)
    assert not any(p.startswith("samples.bin: -") or " -1 " in p for p in s.problems)
    assert any("out of order" in p for p in s.problems), s.problems


# ------------------------------------------------------------------ item 9: bounds
def test_sparse_samples_bin_is_read_only_up_to_what_the_session_holds(
    base_session, tmp_path, capsys
):
    path = _copy(base_session, tmp_path)
    size = (path / "samples.bin").stat().st_size
    with open(path / "samples.bin", "r+b") as f:
        f.truncate(2 * 1024**3)  # sparse: no disk space used
    s = open_session(path)
    assert s.n_samples == 600
    assert any("more than this session can hold" in p for p in s.problems)
    assert any(f"corrupted data at byte {size}" in p for p in s.problems)
    code, err = _run(["info", str(path)], capsys)
    assert code == 0 and "Traceback" not in err


def test_non_regular_session_file_is_one_line(base_session, tmp_path, capsys):
    path = _copy(base_session, tmp_path)
    (path / "events.bin").unlink()
    os.mkfifo(path / "events.bin")  # would block a reader forever
    code, err = _run(["info", str(path)], capsys)
    assert code == 2
    _one_line(err, "events.bin", "not a regular file")


def _csv(tmp_path: Path, text: str | bytes, name: str = "a.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def _import(src: Path | str, tmp_path: Path, capsys, rate: str = "100") -> tuple[int, str]:
    out = tmp_path / "o.gaitimu"
    code, err = _run(
        ["import", str(src), "--rate", rate, "--axes", AXES, "--out", str(out)], capsys
    )
    if code:
        assert not out.exists()
    return code, err


HEADER = ",".join(SENSOR_COLS) + "\n"


@pytest.mark.parametrize(("gib", "needle"), [(1, "NUL byte at byte 36, line 2"), (10, "more than")])
def test_import_sparse_csv_is_refused_early(gib, needle, tmp_path, capsys):
    src = _csv(tmp_path, HEADER)
    with open(src, "r+b") as f:
        f.truncate(gib * 1024**3)  # sparse: used to take minutes and > 8 GB of memory
    code, err = _import(src, tmp_path, capsys)
    assert code == 2
    _one_line(err, "a.csv", needle)


def test_import_too_large_file_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    import gaitimu.sessions.importer as imp

    monkeypatch.setattr(imp, "MAX_IMPORT_BYTES", 1000)
    src = _csv(tmp_path, HEADER + "9.8,0,0,0,0,0\n" * 200)
    code, err = _import(src, tmp_path, capsys)
    assert code == 2
    _one_line(err, "a.csv", "more than the 1000 bytes")


def test_import_more_rows_than_24h_is_refused(tmp_path, capsys, monkeypatch):
    import gaitimu.sessions.importer as imp

    monkeypatch.setattr(imp, "MAX_SESSION_S", 1.0)  # 100 rows at 100 Hz
    src = _csv(tmp_path, HEADER + "9.8,0,0,0,0,0\n" * 400)
    code, err = _import(src, tmp_path, capsys)
    assert code == 2
    _one_line(err, "a.csv", "lines", "--rate 100")


@pytest.mark.parametrize("src", ["/dev/zero", "/dev/null", "fifo"])
def test_import_non_regular_file_is_refused(src, tmp_path, capsys):
    if src == "fifo":
        src = tmp_path / "f.csv"
        os.mkfifo(src)
    code, err = _import(src, tmp_path, capsys)
    assert code == 2
    _one_line(err, str(src), "not a regular file")


def test_import_absurd_line_and_long_value_are_clipped(tmp_path, capsys):
    src = _csv(tmp_path, HEADER + "9.8,0,0,0,0," + "x" * 10_000_000 + "\n")
    code, err = _import(src, tmp_path, capsys)
    assert code == 2
    _one_line(err, "a.csv", "line 2", "longer than")
    src = _csv(tmp_path, HEADER + "9.8,0,0,0,0," + "x" * 60_000 + "\n", "b.csv")
    code, err = _import(src, tmp_path, capsys)
    assert code == 2
    _one_line(err, "b.csv", "non-numeric", "...")
    assert len(err) < 400


@pytest.mark.parametrize("rate", ["1e-9", "0.5", "1e308", "100000"])
def test_import_rate_range_is_the_readers(rate, tmp_path, capsys):
    src = _csv(tmp_path, HEADER + "9.8,0,0,0,0,0\n" * 20)
    code, err = _import(src, tmp_path, capsys, rate=rate)
    assert code == 2
    _one_line(err, "--rate", "not a valid sampling rate", f"{MAX_RATE_HZ:g}")


def test_import_and_reader_share_one_rate_range(tmp_path):
    from gaitimu.sessions import import_csv

    for rate in (MIN_RATE_HZ, MAX_RATE_HZ):
        src = _csv(tmp_path, HEADER + "9.8,0,0,0,0,0\n" * 20, f"r{rate:g}.csv")
        out = import_csv(src, tmp_path / f"r{rate:g}", rate_hz=rate, axes=AXES)
        assert open_session(out).sample_rate_hz == rate


# ------------------------------------------------------------------ item 12: clipping
def test_quote_clips_long_values():
    q = quote("a" * 10_000_000)
    assert len(q) == 60 and q.endswith("...")
    assert str(BadInputError("x\ny" + "z" * 10_000)).count("\n") == 0
    assert len(str(BadInputError("z" * 10_000))) <= 1000


def test_long_axes_value_is_clipped(base_session, tmp_path, capsys):
    path = _copy(base_session, tmp_path)
    _meta(path, axes="x=up," * 2_000_000)
    code, err = _run(["info", str(path)], capsys)
    assert code == 2
    _one_line(err, "meta.json", "axis map")
    assert len(err) < 400


# ------------------------------------------------------------- hypothesis: random damage
FILES = ["meta.json", "samples.bin", "packets.bin", "events.bin", "truth.npz"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(FILES),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_random_damage_never_crashes(name, flips, cut, base_session, tmp_path_factory, capsys):
    tmp = tmp_path_factory.mktemp("h")
    path = _copy(base_session, tmp)
    f = path / name
    data = bytearray(f.read_bytes())
    for where, value in flips:
        if data:
            data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    f.write_bytes(bytes(data))
    for argv in (["info", "--json", str(path)], ["analyze", str(path)]):
        code, err = _run(argv, capsys)
        assert code in (0, 1, 2), (argv, code, err)
        assert "Traceback" not in err and "internal error" not in err, err
        if code == 2:
            _one_line(err)
    try:
        s = open_session(path)
    except BadInputError as e:
        assert name == "meta.json" and str(path) in str(e)
        return
    if name != "samples.bin":  # the samples survive: read unchanged
        ref = open_session(base_session)
        np.testing.assert_array_equal(s.t_s, ref.t_s)
        np.testing.assert_array_equal(s.acc, ref.acc)
        np.testing.assert_array_equal(s.gyr, ref.gyr)
    else:  # what is read is a subset of what was written, unchanged
        ref = open_session(base_session)
        rows = {tuple(r) for r in np.column_stack([ref.t_s, ref.acc, ref.gyr]).tolist()}
        got = np.column_stack([s.t_s, s.acc, s.gyr]).tolist()
        assert all(tuple(r) in rows for r in got)


def test_info_with_an_infinite_sample_time(tmp_path, capsys):
    path = tmp_path / "inf.gaitimu"
    t = np.append(np.arange(100) / RATE, np.inf)
    with SessionWriter(path, {"sample_rate_hz": RATE, "axes": AXES}, fsync=False) as w:
        w.write_samples(t, np.tile([9.81, 0, 0], (101, 1)), np.zeros((101, 3)))
    code, err = _run(["info", str(path)], capsys)
    assert code == 0 and "internal error" not in err
    assert any("NaN or infinite" in p for p in open_session(path).problems)
