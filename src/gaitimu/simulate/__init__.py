"""Synthetic sacral IMU for walking, running and the self-tests, with ground truth.

``simulate(SimConfig(...))`` runs the model's steps in order (`model`; docs/simulator.md has
the full description, parameters and sources). One module per concern:

- `config`: `SimConfig` (what is asked), `SimResult` (what comes back), validation and the
  per-activity defaults.
- `timing`: **gait timing**. A continuous stride phase ``phi(t)`` (0 at a left initial
  contact, 0.5 at the right one): the integral of a smooth, positive stride frequency through
  strides whose durations vary from stride to stride (AR(1) noise). Final contacts sit at
  ``phi_IC + duty_factor``.
- `kinematics`: **pelvis and sacrum kinematics** as smooth periodic functions of the phase,
  scaled by smooth per-stride amplitude envelopes: tilt, rotation (yaw), and the
  medio-lateral, vertical and forward acceleration of the pelvis origin (walking: inverted
  pendulum; running: spring-mass); the gait window, turns and speed.
- `obliquity`: the pelvic obliquity, one bump per stance whose height is solved so that each
  stance has exactly its target ``cpd_standing_deg``.
- `imu`: **rigid-body kinematics to IMU signals** (exact angular velocity and specific force
  with the sensor's lever arm, then the mounting misalignment) and the **sensor**: biases,
  white noise, heel-strike vibrations, int16 quantisation and saturation.
- `packets`: the **radio**: protocol-v1 packets (`gaitimu.sensors.protocol`'s codec), packet
  loss and host-timestamp jitter. ``sim.t_s/acc/gyr`` are decoded from the surviving packets,
  as a recorder would store them.
- `truth`: the ground truth; `jets`: signals with exact derivatives (nothing is differentiated
  numerically); `session`: `write_session` and the CLI `summary`; `source`: a simulated
  session as the virtual sensor's sample source (`source.simulated_factory`).
- `selftests`: the **self-tests** (``activity="single-leg-stance"`` or
  ``"single-leg-squat"``, docs/self_tests.md): the planned protocol, a person following it
  (weight shift, lift-off, sway, squats, touch-down) and the truth of each hold or rep,
  through the same IMU, sensor and radio steps.

Frames: world X forward (initial heading), Y left, Z up, ``g_world = (0, 0, -g)``. Pelvis
(body) frame (up, right, forward) = sensor frame ``x=up,y=right,z=forward`` before the
misalignment. Signs: ``obliquity_deg > 0`` = left hemipelvis higher; ``tilt_deg > 0`` =
anterior tilt; ``rotation_deg > 0`` = pelvis turned to the left (counter-clockwise seen from
above, so the right hemipelvis is forward).
"""

from __future__ import annotations

from gaitimu.simulate.config import ACTIVITY_DEFAULTS, SimConfig, SimResult
from gaitimu.simulate.imu import rotation_world_pelvis, rotation_world_sensor
from gaitimu.simulate.model import simulate
from gaitimu.simulate.session import summary, write_session

__all__ = ["ACTIVITY_DEFAULTS", "SimConfig", "SimResult", "rotation_world_pelvis",
           "rotation_world_sensor", "simulate", "summary", "write_session"]
