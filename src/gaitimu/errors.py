"""One error base class for the package; the CLI turns each into one line and an exit code.

Exit codes (docs/contracts.md#exit-codes): 0 success, 1 nothing usable found (e.g. no gait),
2 bad input or usage, 3 device or connection failure.
"""

from __future__ import annotations

#: Longest user value (a CSV cell, a metadata field) quoted in a message, in characters.
MAX_QUOTED_CHARS = 60
#: Longest message `str(GaitimuError)` returns (a backstop: quote values with `quote`).
MAX_MESSAGE_CHARS = 1000

_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\x00": "\\x00"})


def clip(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with ``...`` (on one line)."""
    text = str(text).translate(_LINE_BREAKS)
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def quote(value: object, limit: int = MAX_QUOTED_CHARS) -> str:
    """``repr(value)`` for an error message, clipped to ``limit`` characters with ``...``.

    Every message that quotes a value from a user's file or argument goes through this, so a
    10 MB cell or a deeply nested JSON value gives a short line, e.g. ``'aaaaaaaa...``.
    """
    if isinstance(value, (str, bytes)) and len(value) > 4 * limit:
        value = value[: 4 * limit]  # repr of a huge string costs its size; only the head is shown
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # deeply nested, or an int too long for repr
        text = f"<{type(value).__name__}>"
    return clip(text, limit)


class GaitimuError(Exception):
    """Base class of every error gaitimu raises on purpose.

    The message must say what is wrong, where (file, column, line) and, when there is one,
    what to do about it. The CLI prints it as a single line: `str` of the error never holds a
    line break and is at most `MAX_MESSAGE_CHARS` long (quote values with `quote`).
    """

    exit_code = 2

    def __str__(self) -> str:
        return clip(super().__str__(), MAX_MESSAGE_CHARS)


class BadInputError(GaitimuError, ValueError):
    """Invalid input: a file, an argument or a session that cannot be used as it is."""

    exit_code = 2


class NoGaitError(GaitimuError):
    """The input is valid but the analysis found nothing usable in it (no gait)."""

    exit_code = 1


class DeviceError(GaitimuError):
    """A sensor could not be found, connected to or configured."""

    exit_code = 3


