"""Outputs and faults (issue 17): every verb's outputs are checked first and written
atomically; a full disk or a read-only folder is one line and exit 2 with nothing left
behind; the session writer holds data in memory while the disk is full and loses nothing once
space returns. Everything runs through `gaitimu.cli.main` unless the point is the writer.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gaitimu.cli import main
from gaitimu.sessions import SessionWriter, open_session
from gaitimu.sessions.writer import SessionWriteError

REPO = Path(__file__).resolve().parents[1]
AXES = "x=up,y=right,z=forward"


# --------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    """A simulated 30 s walk (module-wide, read-only for the tests)."""
    d = tmp_path_factory.mktemp("s")
    assert main(["simulate", "--activity", "walk", "--duration", "30", "--seed", "3",
                 "--out", str(d / "walk.gaitimu")]) == 0
    return d / "walk.gaitimu"


@pytest.fixture
def csv_file(tmp_path, session) -> Path:
    assert main(["export", str(session), "--format", "csv", "--out", str(tmp_path / "x")]) == 0
    return tmp_path / "x" / "walk_samples.csv"


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def _run(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _one_line(err: str, *needles: str, internal: bool = False) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and ("internal error" in err) == internal, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _leftovers(folder: Path) -> list[str]:
    """Hidden temporaries (``.x.tmp``, ``.x.writing-PID``, ``.x.exporting-PID``...)."""
    return sorted(p.name for p in folder.rglob(".*") if p.name not in (".writing",))


def _under(fd_or_path, root: Path) -> bool:
    try:
        p = (os.readlink(f"/proc/self/fd/{fd_or_path}") if isinstance(fd_or_path, int)
             else os.fspath(fd_or_path))
    except OSError:
        return False
    return os.path.realpath(p).startswith(os.path.realpath(root) + os.sep)


class DiskFull:
    """Injected ENOSPC for every write and fsync under ``root`` while ``on`` is True.

    ``os.write`` (the session writer's chunk logs) and ``os.fsync`` (every atomic output and
    the writer's syncs) raise ``OSError(ENOSPC)``: what a full disk does to them."""

    def __init__(self, monkeypatch, root: Path, on: bool = True) -> None:
        self.root, self.on, self.hits = root, on, 0
        real_write, real_fsync = os.write, os.fsync

        def write(fd, data):
            if self.on and _under(fd, self.root):
                self.hits += 1
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(fd, data)

        def fsync(fd):
            if self.on and _under(fd, self.root):
                self.hits += 1
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_fsync(fd)

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "fsync", fsync)


def _read_only(monkeypatch, root: Path) -> None:
    """``root`` behaves as a read-only folder (EACCES), also for root (chmod is no help)."""
    root.mkdir(exist_ok=True)
    os.chmod(root, 0o555)

    def deny(real):
        def f(path, *a, **k):
            if not isinstance(path, int) and _under(path, root):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real(path, *a, **k)
        return f

    for name in ("open", "mkdir", "rename", "replace"):
        monkeypatch.setattr(os, name, deny(getattr(os, name)))
    import builtins

    monkeypatch.setattr(builtins, "open", deny(builtins.open))
    monkeypatch.setattr(io, "open", deny(io.open))


# --------------------------------------------------------------------------- overwrites
@pytest.mark.parametrize("argv", [
    ["analyze", "{S}", "--strides", "{S}/samples.bin"],
    ["analyze", "{S}", "--info", "{S}/meta.json"],
    ["analyze", "{S}", "--signals", "{S}/new.csv"],
    ["report", "{S}", "--json", "{S}/meta.json", "--out", "{T}/r.html"],
    ["report", "{S}", "--out", "{S}/report.html"],
    ["report", "{S}", "--out", "{T}/r.html", "--csv", "{S}/events.bin"],
    ["report", "{S}", "--out", "{S}"],
    ["export", "{S}", "--format", "csv", "--out", "{S}"],
    ["export", "{S}", "--format", "bids", "--out", "{S}/bids"],
    ["simulate", "--activity", "walk", "--duration", "10", "--out", "{S}"],
    ["simulate", "--activity", "walk", "--duration", "10", "--out", "{S}/inner"],
    ["record", "--device", "virtual", "--duration", "1", "--out", "{S}"],
    ["record", "--device", "virtual", "--duration", "1", "--out", "{S}/inner"],
    ["replay", "--max", "{S}", "--strides", "{S}/strides.csv"],
])
@pytest.mark.parametrize("force", [False, True])
def test_outputs_never_go_into_a_session(argv, force, session, tmp_path, capsys):
    before = _digest(session)
    args = [a.replace("{S}", str(session)).replace("{T}", str(tmp_path)) for a in argv]
    if force and (args[0] == "record" or args[-1] == str(session)) and args[0] != "report" \
            and args[0] != "export":
        pytest.skip("record has no --force; simulate --force may replace a session (legit)")
    if force:
        args.append("--force")
    code, _, err = _run(args, capsys)
    assert code == 2, err
    _one_line(err)
    assert _digest(session) == before  # byte for byte
    assert sorted(p.name for p in session.iterdir()) == sorted(before)
    assert _leftovers(tmp_path) == [] and _leftovers(session.parent) == []


def test_import_onto_its_own_input_or_a_session(tmp_path, session, csv_file, capsys):
    base = ["import", csv_file, "--rate", "200", "--axes", AXES, "--force"]
    before = csv_file.read_bytes()
    code, _, err = _run([*base, "--out", csv_file], capsys)
    assert code == 2
    _one_line(err, str(csv_file))
    assert csv_file.read_bytes() == before
    digest = _digest(session)
    for out in (session / "inner", session / "samples.bin"):
        code, _, err = _run([*base, "--out", out], capsys)
        assert code == 2
        _one_line(err, "session")
    assert _digest(session) == digest


def test_existing_outputs_need_force(tmp_path, session, csv_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # analyze
    a = ["analyze", session, "--strides", tmp_path / "a.csv", "--info", tmp_path / "a.json"]
    assert _run(a, capsys)[0] == 0
    (tmp_path / "a.csv").write_text("mine\n")
    code, _, err = _run(a, capsys)
    assert code == 2
    _one_line(err, "a.csv already exists; use --force to replace it")
    assert (tmp_path / "a.csv").read_text() == "mine\n"
    assert _run([*a, "--force"], capsys)[0] == 0
    assert (tmp_path / "a.csv").read_text().startswith("side,")
    # report: the default outputs (report.html, report_strides.csv in the current folder)
    assert _run(["report", session], capsys)[0] == 0
    assert (tmp_path / "report.html").exists() and (tmp_path / "report_strides.csv").exists()
    html = (tmp_path / "report.html").read_bytes()
    code, _, err = _run(["report", session], capsys)
    assert code == 2
    _one_line(err, "report.html already exists; use --force to replace it")
    (tmp_path / "report.html").unlink()  # the default CSV beside it is protected the same way
    code, _, err = _run(["report", session], capsys)
    assert code == 2
    _one_line(err, "report_strides.csv already exists; use --force")
    assert not (tmp_path / "report.html").exists()  # nothing written when refused
    assert _run(["report", session, "--force"], capsys)[0] == 0
    assert (tmp_path / "report.html").read_bytes()[:200] == html[:200]
    # export
    e = ["export", session, "--format", "csv", "--out", tmp_path / "exp"]
    assert _run(e, capsys)[0] == 0
    code, _, err = _run(e, capsys)
    assert code == 2
    _one_line(err, "walk_samples.csv already exists; use --force")
    assert _run([*e, "--force"], capsys)[0] == 0
    # simulate and import: an existing session is replaced only with --force
    s = ["simulate", "--activity", "walk", "--duration", "10", "--out", tmp_path / "sim"]
    assert _run(s, capsys)[0] == 0
    code, _, err = _run([*s[:-2], "--seed", "5", "--out", tmp_path / "sim"], capsys)
    assert code == 2
    _one_line(err, "sim already exists; use --force")
    assert open_session(tmp_path / "sim").meta["simulation"]["seed"] == 0
    assert _run([*s[:-2], "--seed", "5", "--out", tmp_path / "sim", "--force"], capsys)[0] == 0
    assert open_session(tmp_path / "sim").meta["simulation"]["seed"] == 5
    i = ["import", csv_file, "--rate", "200", "--axes", AXES, "--out", tmp_path / "sim"]
    code, _, err = _run(i, capsys)
    assert code == 2
    _one_line(err, "already exists; use --force")
    assert _run([*i, "--force"], capsys)[0] == 0
    assert open_session(tmp_path / "sim").meta["source"] == "import"
    # a file or a folder that is not a session is never replaced, even with --force
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("keep")
    code, _, err = _run([*s[:-2], "--out", tmp_path / "notes", "--force"], capsys)
    assert code == 2
    _one_line(err, "not a gaitimu session", "never replaced")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "keep"
    assert _leftovers(tmp_path) == []


def test_record_never_replaces_an_existing_session(tmp_path, session, capsys):
    before = _digest(session)
    code, _, err = _run(["record", "--device", "virtual", "--duration", "1", "--out", session],
                        capsys)
    assert code == 2
    _one_line(err, "already exists; record never replaces a session")
    assert _digest(session) == before


@pytest.mark.parametrize("argv,needle", [
    (["analyze", "{S}", "--strides", "{T}/x.csv", "--info", "{T}/x.csv"], "--strides"),
    (["analyze", "{S}", "--strides", "{T}/x.csv", "--signals", "{T}/sub/../x.csv"], "the same"),
    (["report", "{S}", "--out", "{T}/r.html", "--json", "{T}/r.html"], "the same file as --out"),
    (["report", "{S}", "--out", "{T}/r.html", "--json", "{T}/r_strides.csv"], "--csv"),
    (["report", "{S}", "--out", "{T}/r.html", "--csv", "{T}/link.csv", "--json", "{T}/r.json"],
     "the same file"),
])
def test_one_commands_outputs_never_collide(argv, needle, session, tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(tmp_path / "r.html")  # dangling: resolves to r.html
    args = [a.replace("{S}", str(session)).replace("{T}", str(tmp_path)) for a in argv]
    code, _, err = _run(args, capsys)
    assert code == 2
    _one_line(err, needle)
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "r.html").exists()


# --------------------------------------------------------------------------- read-only, loops
@pytest.mark.parametrize("argv", [
    ["export", "{S}", "--format", "csv", "--out", "{R}/x"],
    ["export", "{S}", "--format", "bids", "--out", "{R}"],
    ["report", "{S}", "--out", "{R}/r.html"],
    ["analyze", "{S}", "--strides", "{R}/s.csv"],
    ["simulate", "--activity", "walk", "--duration", "10", "--out", "{R}/sim"],
])
def test_read_only_folder_is_one_line_exit_2(argv, session, tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    _read_only(monkeypatch, ro)
    args = [a.replace("{S}", str(session)).replace("{R}", str(ro)) for a in argv]
    try:
        code, _, err = _run(args, capsys)
    finally:
        monkeypatch.undo()
        os.chmod(ro, 0o755)
    assert code == 2, err
    _one_line(err, "cannot write there", "writable")
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize("argv", [
    ["export", "{S}", "--format", "csv", "--out", "{L}"],
    ["report", "{S}", "--out", "{L}"],
    ["report", "{S}", "--out", "{T}/r.html", "--json", "{L}"],
    ["analyze", "{S}", "--strides", "{L}"],
    ["simulate", "--activity", "walk", "--duration", "10", "--out", "{L}"],
    ["import", "{C}", "--rate", "200", "--axes", AXES, "--out", "{L}"],
])
def test_symlink_loop_is_one_line_exit_2(argv, session, csv_file, tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    args = [a.replace("{S}", str(session)).replace("{L}", str(loop))
            .replace("{T}", str(tmp_path)).replace("{C}", str(csv_file)) for a in argv]
    for extra in ([], ["--force"]):
        code, _, err = _run(args + extra, capsys)
        assert code == 2
        _one_line(err, "symbolic link loop")
    assert loop.is_symlink() and _leftovers(tmp_path) == []


# --------------------------------------------------------------------------- full disk: verbs
@pytest.mark.parametrize("argv,gone", [
    (["analyze", "{S}", "--strides", "{T}/s.csv", "--info", "{T}/i.json"], "s.csv"),
    (["report", "{S}", "--out", "{T}/r.html", "--json", "{T}/r.json"], "r.html"),
    (["export", "{S}", "--format", "csv", "--out", "{T}/exp"], "exp"),
    (["export", "{S}", "--format", "bids", "--out", "{T}/bids"], "bids"),
    (["simulate", "--activity", "walk", "--duration", "10", "--out", "{T}/sim"], "sim"),
    (["import", "{C}", "--rate", "200", "--axes", AXES, "--out", "{T}/imp"], "imp"),
])
def test_full_disk_is_one_line_and_leaves_nothing(argv, gone, session, csv_file, tmp_path,
                                                  capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    args = [a.replace("{S}", str(session)).replace("{T}", str(out))
            .replace("{C}", str(csv_file)) for a in argv]
    disk = DiskFull(monkeypatch, out)
    code, _, err = _run(args, capsys)
    assert disk.hits > 0
    assert code == 2, err
    _one_line(err, "disk full writing", "free space and retry")
    assert list(out.iterdir()) == [], list(out.iterdir())  # no .tmp, no empty session folder
    disk.on = False  # space is back: the same command works
    assert _run(args, capsys)[0] == 0
    assert (out / gone).exists()


def test_record_on_a_full_disk_leaves_no_session(tmp_path, capsys, monkeypatch):
    pytest.importorskip("bumble")
    out = tmp_path / "out"
    out.mkdir()
    DiskFull(monkeypatch, out)
    code, _, err = _run(["record", "--device", "virtual", "--duration", "1", "--out",
                         out / "rec.gaitimu"], capsys)
    assert code == 2
    _one_line(err, "disk full writing", "free space and retry")
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- full disk: writer
def _stream(n=6000, rate=200.0, block=20):
    """A deterministic sample/packet stream in blocks (like a recorder's)."""
    rng = np.random.default_rng(7)
    t = np.arange(n) / rate
    acc, gyr = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    for i in range(0, n, block):
        yield (t[i:i + block], acc[i:i + block], gyr[i:i + block],
               bytes(rng.integers(0, 255, 10 + 12 * block, dtype=np.uint8)))


def _write_stream(path: Path) -> None:
    """The undisturbed reference: the same stream, events and writer settings."""
    meta = {"sample_rate_hz": 200.0, "axes": AXES, "source": "record"}
    with SessionWriter(path, meta, flush_interval_s=0.01) as w:
        for k, (t, a, g, pk) in enumerate(_stream()):
            w.write_packet(float(t[0]), pk)
            w.write_samples(t, a, g)
            if k % 50 == 0:
                w.add_event({"kind": "note", "t_s": float(t[0])})


def test_writer_holds_data_while_the_disk_is_full_and_loses_nothing(tmp_path, monkeypatch):
    ref = tmp_path / "ref.gaitimu"
    _write_stream(ref)
    path = tmp_path / "full.gaitimu"
    disk = DiskFull(monkeypatch, path.parent, on=False)
    seen = []

    def full(k):
        return 40 <= k < 160 or 200 <= k < 205  # 12 s, then 0.5 s of a full disk

    meta = {"sample_rate_hz": 200.0, "axes": AXES, "source": "record"}
    with SessionWriter(path, meta, flush_interval_s=0.01) as w:
        for k, (t, a, g, pk) in enumerate(_stream()):
            disk.on = full(k)
            w.write_packet(float(t[0]), pk)
            w.write_samples(t, a, g)
            if k % 50 == 0:
                w.add_event({"kind": "note", "t_s": float(t[0])})
            seen.append(w.warning)
            time.sleep(0.0002)
        disk.on = False
    assert disk.hits > 0
    assert any(s and s.startswith("disk full: holding") for s in seen)
    assert seen[-1] and "nothing lost" in seen[-1]
    a, b = open_session(ref), open_session(path)
    np.testing.assert_array_equal(a.t_s, b.t_s)
    np.testing.assert_array_equal(a.acc, b.acc)
    np.testing.assert_array_equal(a.gyr, b.gyr)
    assert a.packets()[1] == b.packets()[1]
    assert [e["t_s"] for e in a.events] == [e["t_s"] for e in b.events]
    assert b.problems == [] and b.closed_cleanly and b.lost_samples == 0
    wp = b.meta["write_problems"]
    assert wp["episodes"] == 2 and wp["lost_samples"] == 0 and wp["max_held_bytes"] > 0


def test_writer_beyond_its_memory_records_the_loss_as_a_gap(tmp_path, monkeypatch):
    path = tmp_path / "full.gaitimu"
    disk = DiskFull(monkeypatch, tmp_path, on=False)
    cap = 200 * 56 * 2  # 2 s of samples (packets count too)
    meta = {"sample_rate_hz": 200.0, "axes": AXES, "source": "record"}
    with SessionWriter(path, meta, flush_interval_s=0.01, max_held_bytes=cap) as w:
        for k, (t, a, g, pk) in enumerate(_stream()):
            disk.on = 40 <= k < 120  # 8 s full: about 2 s held, the rest dropped
            w.write_packet(float(t[0]), pk)
            w.write_samples(t, a, g)
            time.sleep(0.001)  # flushes (and retries) happen meanwhile
        disk.on = False
        warning = w.warning
    s = open_session(path)
    assert "samples lost" in warning
    ev = [e for e in s.events if e["kind"] == "overflow"]
    assert len(ev) == 1 and ev[0]["reason"] == "disk full"
    lost = ev[0]["lost_samples"]
    assert 6000 - lost == s.n_samples and 1000 < lost < 1600
    assert s.lost_samples == lost and len(s.gaps) == 1
    start, end = s.gaps[0]
    assert end - start == pytest.approx((lost + 1) / 200, abs=1e-9)
    assert s.meta["write_problems"]["lost_samples"] == lost
    # what was kept is the stream, in order, without duplicates
    ref = np.concatenate([t for t, *_ in _stream()])
    assert np.isin(s.t_s, ref).all() and np.all(np.diff(s.t_s) > 0)


def test_writer_disk_still_full_at_close(tmp_path, monkeypatch):
    path = tmp_path / "rec.gaitimu"
    disk = DiskFull(monkeypatch, tmp_path, on=False)
    meta = {"sample_rate_hz": 200.0, "axes": AXES, "source": "record"}
    w = SessionWriter(path, meta, flush_interval_s=0.01)
    stream = list(_stream(n=2000))
    for t, a, g, _pk in stream[:50]:
        w.write_samples(t, a, g)
    w.flush()
    disk.on = True
    for t, a, g, _pk in stream[50:]:
        w.write_samples(t, a, g)
    with pytest.raises(SessionWriteError, match=r"disk full writing .* 1000 samples .5.0 s. "
                                                r"could not be saved.*keeps the 1000 samples"):
        w.close()
    disk.on = False
    s = open_session(path)  # what was written before stays readable
    assert s.n_samples == 1000 and not s.closed_cleanly
    # nothing written at all: no session folder is left
    disk.on = False
    w = SessionWriter(tmp_path / "empty.gaitimu", meta, flush_interval_s=0.01)
    disk.on = True
    w.write_samples(*stream[0][:3])
    with pytest.raises(SessionWriteError, match="nothing could be saved"):
        w.close()
    assert not (tmp_path / "empty.gaitimu").exists()


# --------------------------------------------------------------------------- full disk: record
async def _record(out: Path, *, duration_s: float, speed: float, during=None, on_status=None,
                  sink_factory=None):
    from bumble.link import LocalLink

    from gaitimu.sensors.bumble_backend import VirtualRadio, make_backends
    from gaitimu.sensors.client import Recorder, RecordOptions
    from gaitimu.sensors.virtual import VIRTUAL_NAME, VirtualSensor

    link = LocalLink()
    sensor = VirtualSensor(link, speed=speed)
    await sensor.start()
    scanner_cls, client_cls = make_backends(VirtualRadio(link))
    rec = Recorder(RecordOptions(out=out, device=VIRTUAL_NAME, duration_s=duration_s,
                                 correct_drift=False, activity="walk"),
                   scanner_backend=scanner_cls, client_backend=client_cls,
                   on_status=on_status, sink_factory=sink_factory)
    side = asyncio.ensure_future(during(rec)) if during else None
    try:
        return await rec.run(), sensor
    finally:
        if side:
            side.cancel()
        await sensor.stop()


def _source(sensor, n):
    from gaitimu.sensors import protocol as P

    idx = np.concatenate([np.arange(k, k + m) for k, m in sensor.sent_log])[:n]
    raw = np.concatenate([sensor.source.read(int(k), 1) for k in idx])
    return P.raw_to_physical(raw, sensor.config.scales)


def test_record_with_a_temporary_full_disk_loses_nothing(tmp_path, monkeypatch):
    """The recorder keeps going while the disk is full (status warns), and once space is back
    the session equals the sensor's stream, sample for sample, as an undisturbed one does."""
    pytest.importorskip("bumble")
    out = tmp_path / "rec.gaitimu"
    disk = DiskFull(monkeypatch, tmp_path, on=False)
    statuses = []

    async def full_for_a_while(rec):
        while rec._writer is None or rec._writer.n_samples < 200:
            await asyncio.sleep(0.01)
        disk.on = True
        await asyncio.sleep(1.0)  # 10 s of data at speed 10
        disk.on = False

    res, sensor = asyncio.run(_record(
        out, duration_s=20, speed=10.0, during=full_for_a_while,
        on_status=lambda st: statuses.append(dict(st.extra))))
    assert disk.hits > 0
    s = open_session(out)
    assert s.n_samples == res.n_samples == 4000
    assert s.lost_samples == 0 and s.gaps == [] and s.problems == [] and s.closed_cleanly
    acc, gyr = _source(sensor, s.n_samples)
    np.testing.assert_array_equal(s.acc, acc)
    np.testing.assert_array_equal(s.gyr, gyr)
    assert np.all(np.diff(s.t_s) > 0)
    assert len(s.packets()[1]) == res.stats["received"]
    assert any(str(x.get("disk", "")).startswith("disk full: holding") for x in statuses)
    assert s.meta["write_problems"]["lost_samples"] == 0


def test_record_cli_reports_samples_lost_to_a_full_disk(tmp_path, monkeypatch, capsys):
    """Beyond the memory bound the loss is a gap, the summary says so and the exit is 2."""
    pytest.importorskip("bumble")
    import threading

    out = tmp_path / "rec.gaitimu"
    disk = DiskFull(monkeypatch, tmp_path, on=False)
    kw = dict(SessionWriter.__init__.__kwdefaults__)
    monkeypatch.setattr(SessionWriter.__init__, "__kwdefaults__",
                        {**kw, "max_held_bytes": 50 * 56})  # < 0.5 s with the packets

    def toggle():
        while not (out / "samples.bin").exists() or (out / "samples.bin").stat().st_size < 5000:
            time.sleep(0.01)
        disk.on = True
        time.sleep(1.5)
        disk.on = False

    th = threading.Thread(target=toggle, daemon=True)
    th.start()
    code, outp, err = _run(["record", "--device", "virtual", "--duration", "4", "--rate", "100",
                            "--out", out], capsys)
    th.join(5)
    assert code == 2, err
    assert "recorded" in outp
    _one_line(err, "disk full while writing", "samples lost", "the rest is saved")
    s = open_session(out)
    ev = [e for e in s.events if e["kind"] == "overflow"]
    assert len(ev) == 1 and ev[0]["lost_samples"] > 30
    assert s.n_samples + s.lost_samples == 400 and s.closed_cleanly


# --------------------------------------------------------------------------- kill
_KILL_CHILD = r"""
import sys
from gaitimu.cli import main
sys.exit(main(["simulate", "--activity", "walk", "--duration", "900", "--out", sys.argv[1]]))
"""


@pytest.mark.parametrize("seed", [0, 1])
def test_killed_simulate_leaves_no_partial_session(tmp_path, seed):
    """A session verb killed at a random moment leaves either nothing at --out or a complete
    session (it is written in a hidden folder and renamed into place)."""
    out = tmp_path / "sim.gaitimu"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(np.random.default_rng(seed).uniform(0.8, 3.2))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    if out.exists():
        s = open_session(out)
        assert s.closed_cleanly and s.problems == [] and s.n_samples == 180000
    hidden = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert all(h.startswith(".sim.gaitimu.writing-") for h in hidden), hidden


# --------------------------------------------------------------------------- messages
def test_error_messages_are_one_bounded_line(tmp_path, capsys, monkeypatch):
    from gaitimu.errors import BadInputError

    def boom(path):
        raise BadInputError("first line\n" + "x" * 10_000_000 + "\r\nlast")

    monkeypatch.setattr("gaitimu.sessions.open_session", boom)
    code, _, err = _run(["info", tmp_path], capsys)
    assert code == 2
    _one_line(err, "gaitimu info: first line")
    assert len(err.strip()) <= 300 and err.strip().endswith("…")

    def crash(path):
        raise RuntimeError("y\n" * 1_000_000)

    monkeypatch.setattr("gaitimu.sessions.open_session", crash)
    code, _, err = _run(["info", tmp_path], capsys)
    assert code == 70
    _one_line(err, "internal error", "rerun with --debug", internal=True)
    assert len(err.strip()) < 400


def test_analyze_never_prints_nan(tmp_path, capsys):
    out = tmp_path / "lossy.gaitimu"
    assert main(["simulate", "--activity", "walk", "--duration", "30", "--loss", "0.5",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    code, text, _ = _run(["analyze", out], capsys)
    assert code in (0, 1)
    if code == 0:
        numbers = "\n".join(ln for ln in text.splitlines() if not ln.startswith("warning:"))
        assert not re.search(r"\bnan\b", numbers, re.IGNORECASE), text
        assert "cadence: not measured (" in text or "steps/min" in text
        assert json.dumps(text)  # printable
