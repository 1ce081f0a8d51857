"""The live status view of `gaitimu record` and the recorder's status callbacks."""

from __future__ import annotations

import asyncio
import io

import pytest
from rich.console import Console

from gaitimu.live.status import LiveStatus, render
from gaitimu.sensors.client import Recorder, RecordOptions, Status, default_session_path, is_address


def _text(renderable) -> str:
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_render_shows_the_recording_state():
    st = Status(device="gaitimu-virtual", state="recording", elapsed_s=75.2, samples=15040,
                rate_hz=200.0, lost_samples=12, loss_fraction=12 / 15052, gaps=1, battery_pct=80,
                reconnects=1)
    text = _text(render(st, {"CPD L/R": "4.1° / 7.9°"}))
    for expected in ("gaitimu-virtual", "recording", "1:15", "15,040", "200 Hz", "12 samples",
                     "0.08 %", "80 %", "CPD L/R", "7.9°"):
        assert expected in text


def test_live_status_draws_and_survives_a_failing_hook():
    console = Console(file=io.StringIO(), force_terminal=True, width=80)

    def bad_hook():
        raise RuntimeError("analysis not ready")

    with LiveStatus(console, enabled=True, analysis_hook=bad_hook) as view:
        view(Status(device="s", state="recording", samples=10))
    assert "recording" in console.file.getvalue()
    quiet = LiveStatus(Console(file=io.StringIO()), enabled=None)
    assert not quiet.enabled  # not a terminal: nothing drawn
    with quiet:
        quiet(Status())
    assert quiet.last is not None


def test_recorder_publishes_status_through_a_fast_recording(tmp_path):
    pytest.importorskip("bumble")
    from bumble.link import LocalLink

    from gaitimu.sensors.bumble_backend import VirtualRadio, make_backends
    from gaitimu.sensors.virtual import VIRTUAL_NAME, VirtualSensor

    states: list[str] = []
    seen: list[int] = []

    async def main():
        link = LocalLink()
        sensor = VirtualSensor(link, speed=10.0)
        await sensor.start()
        s, c = make_backends(VirtualRadio(link))
        rec = Recorder(RecordOptions(out=tmp_path / "s.gaitimu", device=VIRTUAL_NAME,
                                     duration_s=10, correct_drift=False),
                       scanner_backend=s, client_backend=c,
                       on_status=lambda st: states.append(st.state),
                       on_samples=lambda t, acc, gyr: seen.append(t.size))
        try:
            return await rec.run()
        finally:
            await sensor.stop()

    res = asyncio.run(main())
    assert res.n_samples == 2000
    assert states[0] == "connecting" and "recording" in states and states[-1] == "stopped"
    assert sum(seen) == 2000  # the live-analysis hook sees every written sample


def test_options_validation_and_helpers(tmp_path):
    from gaitimu.errors import BadInputError

    for bad in ({"rate_hz": 20}, {"rate_hz": 1000}, {"duration_s": 0}, {"activity": "swim"},
                {"acc_range_g": 3}):
        with pytest.raises(BadInputError):
            RecordOptions(out=tmp_path / "x", **bad).validate()
    assert is_address("C0:FF:EE:1A:17:01") and is_address("12345678-1234-1234-1234-123456789abc")
    assert not is_address("gaitimu-3F2A")
    p = default_session_path("P 07/x")
    assert p.suffix == ".gaitimu" and p.name.startswith("P_07_x_")
    assert len(default_session_path("x" * 500).name) < 100  # a file name the OS accepts
