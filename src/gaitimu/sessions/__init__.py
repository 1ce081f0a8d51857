"""The on-disk session format: crash-safe writer, recovering reader, CSV import, CSV/BIDS export.

See docs/sessions.md for the format and docs/architecture.md for the API::

    from gaitimu.sessions import SessionWriter, open_session
    from gaitimu.sessions import import_csv, export_session, session_info, format_info
"""

from typing import Any

from gaitimu.sessions._format import FORMAT_NAME, FORMAT_VERSION, SUFFIX
from gaitimu.sessions.reader import Session, open_session
from gaitimu.sessions.writer import SessionWriter

_LAZY = {  # these pull in pandas; import on first use
    "import_csv": "gaitimu.sessions.importer",
    "read_imu_table": "gaitimu.sessions.importer",
    "export_session": "gaitimu.sessions.export",
    "session_info": "gaitimu.sessions.info",
    "format_info": "gaitimu.sessions.info",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gaitimu.sessions' has no attribute {name!r}")


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SUFFIX",
    "Session",
    "SessionWriter",
    "export_session",
    "format_info",
    "import_csv",
    "open_session",
    "read_imu_table",
    "session_info",
]
