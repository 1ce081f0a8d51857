"""What a recording looks like right now: the snapshot the recorder (and replay) hand to
the live views (`gaitimu.live.status.LiveStatus`, the dashboard) about 4 times a second.

A plain data record, below the views: the recorder produces it, the views draw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Status:
    """A snapshot for the live views (recording and replay)."""

    device: str = ""
    state: str = "starting"
    elapsed_s: float = 0.0
    samples: int = 0
    rate_hz: float = 0.0
    lost_samples: int = 0
    loss_fraction: float = 0.0
    gaps: int = 0
    battery_pct: int | None = None
    reconnects: int = 0
    extra: dict[str, str] = field(default_factory=dict)
