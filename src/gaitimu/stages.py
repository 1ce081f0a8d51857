"""The stage chain after the pelvis signals, shared by offline analysis and the stream.

`gaitimu.pipeline.analyze` (a whole session) and `gaitimu.live.stream.StreamingAnalyzer`
(a trailing window of a live or replayed stream) run the SAME two calls, so a fix here
reaches both:

1. `gait_events`: the event detector on the detection view of the pelvis signals (short
   holes bridged, `detection_body`), with the forward-direction trust that the alignment
   reported;
2. `stride_table`: the declared activity where the detector gives none, the stance
   metrics (strict validity), and the walking step length and speed per stance.

What differs between the two drivers is only which samples they hand in (the session, or
the window) and which rows they keep (all, or the newly final ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gaitimu.analysis.events import EventSettings, GaitEvents, detect_events
from gaitimu.analysis.metrics import MetricSettings, empty_strides, stance_metrics
from gaitimu.analysis.orientation import AlignmentSettings
from gaitimu.analysis.selftests import SelfTestSettings
from gaitimu.analysis.speed import SPEED_COLUMNS, SpeedSettings, step_speed

__all__ = ["AnalysisSettings", "detection_body", "gait_events", "stride_table"]


@dataclass(frozen=True)
class AnalysisSettings:
    """Every algorithm setting of the analysis, one frozen object per stage (defaults:
    the documented module constants). `gaitimu.pipeline.analyze` and
    `gaitimu.live.stream.StreamingAnalyzer` take one, so offline and live run with the same.

    Attributes
    ----------
    alignment
        `gaitimu.analysis.orientation.AlignmentSettings`: standing, heading, forward, fusion.
    events
        `gaitimu.analysis.events.EventSettings` (with the step finder's ``steps``).
    metrics
        `gaitimu.analysis.metrics.MetricSettings`: stance limits, gap guard, turns.
    self_tests
        `gaitimu.analysis.selftests.SelfTestSettings`: phases and measures of the
        single-leg stance and squat (docs/self_tests.md).
    """

    alignment: AlignmentSettings = field(default_factory=AlignmentSettings)
    events: EventSettings = field(default_factory=EventSettings)
    metrics: MetricSettings = field(default_factory=MetricSettings)
    self_tests: SelfTestSettings = field(default_factory=SelfTestSettings)


def detection_body(body: pd.DataFrame, bridged: np.ndarray) -> pd.DataFrame:
    """The pelvis signals as the event detector sees them: ``valid`` = `bridged` (short
    holes, interpolated, count as valid so that bouts continue across them).

    The returned frame shares its signal columns with `body` (no copy of the data);
    ``body["valid"]`` is left as it is (strict, for the metrics).
    """
    return body.assign(valid=np.asarray(bridged, dtype=bool))


def gait_events(
    body: pd.DataFrame, bridged: np.ndarray, *, sampling_rate_hz: float,
    alignment: Mapping[str, Any], settings: EventSettings | None = None,
) -> GaitEvents:
    """Stage 1: gait events of the pelvis signals `body` (strict ``valid``) whose short
    holes `bridged` marks as usable for detection.

    ``alignment`` is what `align_to_pelvis` (or the stream's calibration) reported: sides
    are withheld when it could not trust the sensor's forward direction
    (``side_trust == "uncertain"``), and ``forward_hint`` is its forward sign. ``settings``:
    the detector's parameters (None: its defaults).
    """
    return detect_events(
        detection_body(body, bridged),
        sampling_rate_hz=sampling_rate_hz,
        forward_trusted=alignment.get("side_trust", "ok") != "uncertain",
        forward_sign=float(alignment.get("forward_hint", 1)),
        settings=settings,
    )


def stride_table(
    events: pd.DataFrame,
    body: pd.DataFrame,
    *,
    sampling_rate_hz: float,
    standing_obliquity_deg: float,
    settling_s: Sequence[tuple[float, float]] = (),
    speed: SpeedSettings,
    activity: str | None = None,
    settings: MetricSettings | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Stage 2: one row per stance (`gaitimu.analysis.metrics.STRIDE_COLUMNS` plus
    `SPEED_COLUMNS`) and the speed stage's info.

    ``activity`` (the declared one) fills the events' activity when the detector gave none
    (given reference events). ``settings``: the stance metrics' parameters (None: defaults).
    """
    if "activity" not in events and activity:
        events = events.assign(activity=activity)
    strides = (
        stance_metrics(
            events, body, standing_obliquity_deg=standing_obliquity_deg,
            sampling_rate_hz=sampling_rate_hz, settling_s=settling_s, settings=settings,
        )
        if len(events)
        else empty_strides()
    )
    speed_cols, speed_info = step_speed(
        strides, body, sampling_rate_hz=sampling_rate_hz, settings=speed)
    return pd.concat([strides, speed_cols[list(SPEED_COLUMNS)]], axis=1), speed_info
