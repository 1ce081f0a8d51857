"""The on-disk session format: crash-safe writer, recovering reader, CSV import, CSV/BIDS export.

See docs/sessions.md for the format and docs/architecture.md for the API.
"""

from gaitimu.sessions._format import FORMAT_NAME, FORMAT_VERSION, SUFFIX
from gaitimu.sessions.reader import Session, open_session
from gaitimu.sessions.writer import SessionWriter

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SUFFIX",
    "Session",
    "SessionWriter",
    "open_session",
]
