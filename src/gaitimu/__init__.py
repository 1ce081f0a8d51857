"""gaitimu: pelvic control (contralateral pelvic drop) in gait from one sacral IMU."""

__version__ = "0.1.0"

from gaitimu.errors import (
    BadInputError,
    DeviceError,
    GaitimuError,
    NoGaitError,
)

__all__ = [
    "BadInputError",
    "DeviceError",
    "GaitimuError",
    "NoGaitError",
    "__version__",
]
