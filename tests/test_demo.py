"""The README's first command: `gaitimu demo` runs the whole chain on the virtual BLE sensor."""

from __future__ import annotations

import json

from gaitimu.cli import main
from gaitimu.sessions import open_session


def test_demo_records_analyses_and_flags_the_weak_side(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--duration", "40", "--speed", "10"])
    assert rc == 0, capsys.readouterr().err
    session = open_session(out / "demo.gaitimu")
    assert session.meta["source"] == "record"  # it came over BLE, not from a file
    assert abs(session.duration_s - 40.0) < 0.05
    assert session.lost_samples == 0
    assert len(session.packets()[1]) > 0  # raw packets kept for replay
    summary = json.loads((out / "summary.json").read_text())
    verdict = {side: summary["verdict"][side]["status"] for side in ("L", "R")}
    assert verdict == {"L": "not_flagged", "R": "flagged"}, (
        summary["verdict"], summary["cpd_deg"], session.lost_samples, session.problems)
    html = (out / "report.html").read_text()
    assert "Not a medical device" in html or "not a medical device" in html
    assert (out / "strides.csv").stat().st_size > 0


def test_demo_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    (out / "demo.gaitimu").mkdir(parents=True)
    assert main(["demo", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already exists" in err
