"""A simulated session as the virtual sensor's sample source.

`gaitimu.sensors.virtual.VirtualSensor` serves whatever source factory it is given and knows
nothing of the simulator; the demo and ``record --device virtual`` hand it this one.
"""

from __future__ import annotations

from typing import Any

from gaitimu.sensors.protocol import Scales, physical_to_raw
from gaitimu.sensors.virtual import ArraySource, SourceFactory
from gaitimu.simulate.config import SimConfig
from gaitimu.simulate.model import simulate


def simulated_factory(activity: str = "walk", duration_s: float = 120.0, seed: int = 0,
                      **sim_options: Any) -> SourceFactory:
    """A `SourceFactory` serving a simulated session, looping, at the rate the host sets.

    ``sim_options`` are further `SimConfig` fields (e.g. ``cpd_right_deg``). The session is
    simulated at the rate the host configures (again whenever it changes the rate or the
    ranges) and quantised with those ranges. Errors are not caught: a bad option raises
    `gaitimu.errors.BadInputError` when the sensor builds its first source, and a simulator
    bug fails loudly instead of becoming some other signal.
    """

    def make(rate_hz: int, scales: Scales) -> ArraySource:
        sim = simulate(SimConfig(activity=activity, duration_s=duration_s, seed=seed,
                                 sampling_rate_hz=float(rate_hz), **sim_options))
        return ArraySource(physical_to_raw(sim.acc, sim.gyr, scales))

    return make
