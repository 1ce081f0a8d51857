"""`simulate`: the model's steps in order, each a function of the modules beside this one."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gaitimu.consts import SELF_TESTS
from gaitimu.simulate.config import SimConfig, SimResult, validate
from gaitimu.simulate.imu import ideal_imu, measure
from gaitimu.simulate.kinematics import gait_window, pelvis_motion
from gaitimu.simulate.obliquity import solve_obliquity
from gaitimu.simulate.packets import transmit
from gaitimu.simulate.selftests import simulate_self_test
from gaitimu.simulate.timing import gait_timing
from gaitimu.simulate.truth import truth_arrays, truth_record


def simulate(config: SimConfig | None = None, **overrides: Any) -> SimResult:
    """Simulate a sacral IMU session with ground truth.

    Parameters
    ----------
    config
        A `SimConfig` (default: all defaults).
    **overrides
        Fields to replace in ``config``, e.g. ``simulate(activity="run", duration_s=30)``.

    Returns
    -------
    SimResult
        Samples, packets and truth (docs/architecture.md). A self-test
        (``activity="single-leg-stance"`` or ``"single-leg-squat"``, `selftests`) comes back
        with the config's ``duration_s`` set to the protocol's length.

    Raises
    ------
    BadInputError
        A parameter outside its documented range.
    """
    cfg = dataclasses.replace(config or SimConfig(), **overrides)
    # 1. VALIDATE: every field in its range, activity defaults filled in. One generator seeded
    #    by the config draws everything below, in the order of the steps, so the same config
    #    gives the same session bit for bit.
    r = validate(cfg)
    rng = np.random.default_rng(cfg.seed)
    if cfg.activity in SELF_TESTS:  # docs/self_tests.md: a protocol instead of gait
        return simulate_self_test(cfg, r, rng)
    # 2. GAIT TIMING: AR(1) stride durations -> a smooth, positive stride phase -> stances
    timing = gait_timing(cfg, r, rng)
    # 3. GAIT WINDOW AND PATH: the oscillations fade in after standing (and out before it),
    #    180-degree turns, the speed along the path
    window = gait_window(timing, cfg, r, rng)
    # 4. PELVIS MOTION: stride templates x per-stride envelopes (translations, rotation, tilt)
    motion = pelvis_motion(timing, window, cfg, r, rng)
    # 5. OBLIQUITY: one bump per stance, heights solved for each stance's exact CPD
    obliquity, stances = solve_obliquity(timing, window.gate, cfg, r, rng)
    # 6. IDEAL IMU: rigid-body kinematics of the sacrum, then the mounting misalignment
    ideal = ideal_imu(motion, obliquity, window, cfg, rng)
    # 7. SENSOR: biases, noise, heel-strike vibrations, int16 quantisation and saturation
    measured = measure(ideal, timing.t, stances["ic_s"], window.gate[0], cfg, rng)
    # 8. RADIO: protocol-v1 packets, loss, host times; decoded as a recorder stores them
    link = transmit(measured.raw, cfg, r["samples_per_packet"], rng)
    # 9. GROUND TRUTH: true signals on the full grid, events with their CPD, what was lost
    return SimResult(
        t_s=link.t_s, acc=link.acc, gyr=link.gyr, packets=link.packets,
        truth=truth_record(cfg, r, timing, window, stances, ideal, measured, link),
        truth_arrays=truth_arrays(timing, window, motion, obliquity, cfg),
        ideal={"t_s": timing.t, "acc": ideal.acc, "gyr": ideal.gyr}, config=cfg,
    )
