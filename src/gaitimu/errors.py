"""One error base class for the package; the CLI turns each into one line and an exit code.

Exit codes (DESIGN.md section 4): 0 success, 1 nothing usable found (e.g. no gait),
2 bad input or usage, 3 device or connection failure.
"""

from __future__ import annotations


class GaitimuError(Exception):
    """Base class of every error gaitimu raises on purpose.

    The message must say what is wrong, where (file, column, line) and, when there is one,
    what to do about it. The CLI prints it as a single line.
    """

    exit_code = 2


class BadInputError(GaitimuError, ValueError):
    """Invalid input: a file, an argument or a session that cannot be used as it is."""

    exit_code = 2


class NoGaitError(GaitimuError):
    """The input is valid but the analysis found nothing usable in it (no gait)."""

    exit_code = 1


class DeviceError(GaitimuError):
    """A sensor could not be found, connected to or configured."""

    exit_code = 3


class NotReadyError(GaitimuError):
    """A verb whose implementation has not landed yet."""

    exit_code = 2
