"""A simulated session as the virtual sensor's sample source.

`gaitimu.sensors.virtual.VirtualSensor` serves whatever source factory it is given and knows
nothing of the simulator; the demo and ``record --device virtual`` hand it this one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from gaitimu.consts import SELF_TESTS
from gaitimu.sensors.protocol import Scales, physical_to_raw
from gaitimu.sensors.virtual import ArraySource
from gaitimu.simulate.config import SimConfig
from gaitimu.simulate.model import simulate
from gaitimu.simulate.selftests import protocol_for

#: Two-legged standing the simulated person keeps up after a self-test's last phase (unless
#: ``trailing_standing_s`` is given), before the source loops back to the protocol's start.
SELF_TEST_TRAILING_S = 60.0


@dataclass(frozen=True)
class SimulatedFactory:
    """A `gaitimu.sensors.virtual.SourceFactory` serving one simulated session, looping.

    ``protocol`` is the planned self-test protocol the simulated person follows (None for
    walk and run): its times are seconds from the source's first sample, so with the virtual
    sensor's ``source_from_stream_start`` they are seconds from the stream's start.
    """

    config: SimConfig

    def __call__(self, rate_hz: int, scales: Scales) -> ArraySource:
        sim = simulate(replace(self.config, sampling_rate_hz=float(rate_hz)))
        return ArraySource(physical_to_raw(sim.acc, sim.gyr, scales))

    @property
    def protocol(self) -> dict[str, Any] | None:
        return protocol_for(self.config) if self.config.activity in SELF_TESTS else None


def simulated_factory(activity: str = "walk", duration_s: float = 120.0, seed: int = 0,
                      **sim_options: Any) -> SimulatedFactory:
    """A `SourceFactory` serving a simulated session, looping, at the rate the host sets.

    ``sim_options`` are further `SimConfig` fields (e.g. ``cpd_right_deg``; for a self-test
    ``hold_s``, ``reps``, ``touchdown_at_s``, ...). The session is simulated at the rate the
    host configures (again whenever it changes the rate or the ranges) and quantised with
    those ranges. A self-test (``activity`` in `gaitimu.consts.SELF_TESTS`) ignores
    ``duration_s``: the protocol (`SimulatedFactory.protocol`) starts at the source's first
    sample and is followed by `SELF_TEST_TRAILING_S` of standing. Errors are not caught: a
    bad option raises `gaitimu.errors.BadInputError` when the sensor builds its first source,
    and a simulator bug fails loudly instead of becoming some other signal.
    """
    if activity in SELF_TESTS:
        sim_options.setdefault("trailing_standing_s", SELF_TEST_TRAILING_S)
    return SimulatedFactory(SimConfig(activity=activity, duration_s=duration_s, seed=seed,
                                      **sim_options))
