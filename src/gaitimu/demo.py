"""``gaitimu demo``: the whole chain with no hardware.

The built-in virtual sensor (a GATT peripheral on Google's bumble BLE stack) serves a simulated
run in which the right hip lets the pelvis drop more than the left; ``record`` streams it through
bleak into a session exactly as from a real sensor, then the session is analysed and the
asymmetry report is written. The sensor runs faster than real time (``speed``) so the demo takes
seconds, not minutes; sample timing comes from the sensor clock, so the session is the same.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaitimu.errors import BadInputError

log = logging.getLogger(__name__)

__all__ = ["DemoOptions", "run_demo"]


@dataclass
class DemoOptions:
    """What the demo simulates and where it writes.

    The defaults describe a runner whose right stance lets the left hemipelvis drop about
    7 deg below standing, against 3 deg on the left: a pattern the report should flag.
    """

    out_dir: Path = Path("gaitimu-demo")
    activity: str = "run"
    duration_s: float = 90.0
    cpd_left_deg: float = 3.0
    cpd_right_deg: float = 7.0
    misalignment_deg: float = 12.0
    speed: float = 6.0
    seed: int = 1
    rate_hz: int = 200


async def _record(opts: DemoOptions, session: Path, on_status: Any) -> Any:
    from gaitimu.sensors.client import RecordOptions, record_session
    from gaitimu.simulate.source import simulated_factory

    factory = simulated_factory(
        opts.activity, duration_s=opts.duration_s + 10.0, seed=opts.seed,
        cpd_left_deg=opts.cpd_left_deg, cpd_right_deg=opts.cpd_right_deg,
        misalignment_random_deg=opts.misalignment_deg,
    )
    return await record_session(
        RecordOptions(
            out=session, device="virtual", duration_s=opts.duration_s,
            subject="demo-runner", activity=opts.activity, rate_hz=opts.rate_hz,
            notes=(f"gaitimu demo: virtual sensor, simulated {opts.activity} with CPD "
                   f"{opts.cpd_left_deg:g} deg left / {opts.cpd_right_deg:g} deg right"),
            # the virtual clock runs `speed` times faster than the host on purpose
            correct_drift=opts.speed == 1.0,
        ),
        virtual_source=factory, virtual_speed=opts.speed, on_status=on_status,
    )


def run_demo(opts: DemoOptions, *, on_status: Any = None) -> dict[str, Any]:
    """Record from the virtual sensor, then analyse and report. Returns the output paths,
    the recording result and the report summary."""
    from gaitimu.workflows import report_sessions

    out = Path(opts.out_dir)
    session = out / "demo.gaitimu"
    if session.exists():
        raise BadInputError(f"{session} already exists; remove it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    rec = asyncio.run(_record(opts, session, on_status))
    paths = {
        "session": session,
        "report": out / "report.html",
        "summary": out / "summary.json",
        "strides": out / "strides.csv",
    }
    summary = report_sessions([session], paths["report"], paths["summary"], paths["strides"])
    return {"paths": paths, "record": rec, "summary": summary}
