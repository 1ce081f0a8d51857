"""Guided self-test recording: ``gaitimu test single-leg-stance|single-leg-squat``.

The person is led through the protocol of docs/self_tests.md while the sensor records:
terminal prompts with the time left (the countdown is in the live status panel on a
terminal), and the recorder's own view of the lifted foot. The parts:

* **Plan** (`SelfTestOptions.plan`): `gaitimu.simulate.selftests.plan_protocol`, the one
  planner the simulator also follows; per leg two-legged standing (5 s), the hold
  (``--hold``) or the squats (3 s to lift the foot, then ``--reps`` x 4 s), ``--rest``
  between the legs, ``--first`` leg first.
* **Timeline** (`Guide`): runs on the SESSION clock (the time of the samples as they
  arrive), so the prompts follow the data even when the virtual sensor runs faster than
  real time. Without ``--yes`` it waits for Enter before each leg and moves the rest of the
  plan by the wait. Ends 3 s after the last phase (`TAIL_S`: the foot comes down).
* **Session**: the record path itself (`gaitimu.sensors.client.Recorder`, the same
  options, status and Ctrl-C handling as ``gaitimu record``; its ``sink_factory`` wraps the
  `SessionWriter` so the test reaches the meta and the events). ``meta.activity`` = the test
  and ``meta.protocol`` = the plan from the first sample; ``meta.protocol`` is rewritten
  with the real times whenever a wait for Enter moves the plan (so it always holds the
  times of the prompts as given); ``meta.self_test_recording`` = ``{"completed",
  "scripted", "seen"}`` (``seen``: per leg ``lift_s``, ``touchdowns`` ``[[down, up]]``,
  ``touch_s`` as the recorder saw them) is rewritten as the test goes on, so a killed
  recording keeps it. What was said and seen is in the session's events, kind
  ``"self_test"`` with
  ``what`` = ``"prompt"`` (``t_s``, ``phase``, ``stance_side``, ``text``, ``rep``),
  ``"wait"`` (``start_s``, ``end_s``), ``"lift_off"``, ``"touch_down"`` (``early``),
  ``"lift_again"`` (``t_s``, ``stance_side``).
* **Virtual sensor** (``--device virtual``): serves
  `gaitimu.simulate.source.simulated_factory` of the same test with the same plan
  (`VIRTUAL_PERSON`: the right standing leg weak), the simulated person following the
  timeline by itself (as with ``--yes``); ``speed`` runs it faster than real time and
  ``touchdown_at_s`` makes the lifted foot touch down during the first hold.

Live foot detector (`FootDetector`): the recorder's own, simple online rule on the raw
samples (no axis map needed; the analysis of ``gaitimu analyze`` finds the real times
offline, this only tells the person what the sensor sees):

1. 25 Hz block means; the direction of "up" in the sensor frame by a complementary filter
   (gyroscope-propagated, pulled to the accelerometer with a 1 s time constant; the
   gyroscope bias is the mean rate on two feet).
2. On two feet (from 1 s into the phase): the posture (mean "up") and the sway (RMS
   angular rate). The tilt ``d`` = the change of "up" from that posture (deg, any
   direction: it needs no axis map).
3. **Lift-off**: for 0.3 s the angular-rate RMS over 0.5 s is >= 3x that of two feet
   (and >= 1 deg/s), or the tilt is >= 2 deg. Its time is the start of those 0.3 s.
4. **Level** of the hold: the mean tilt from 1.5 s after lift-off. **Early touch-down**
   (stance only): the tilt along the level falls below 25 % of it for 0.15 s, having been
   above 75 % within the 0.4 s before (a return to the two-legged posture, not a slow
   sway); looked for only once the level rests on 1.5 s and is >= 1.5 deg and >= 2.5x the
   SD of the tilt along it (the sway). **Lifted again**: above 65 % for 0.2 s. After the
   hold, the foot comes down: below 35 % for 0.3 s.
5. Squats: the lift-off only (the squatting moves the pelvis more than a touch-down).

Checked offline against the simulator's truth (`gaitimu.simulate`, single-leg stance, 30 s
holds, 20 deg random misalignment, 5 seeds x no / early (3.5 s) / late (15 s) touch-down, both
legs; tests/test_test_cli.py runs a few of them): every lift-off of the 300 holds found within
0.3 s. Early touch-downs at the default sway (0.3 deg SD): all 40 found with a drop of 2, 3, 6
or -3 deg, no false alarm; with a 1 deg drop none are claimed (the rule stays silent rather
than warn wrongly: the analysis still counts them from the whole signal). At twice the sway
(0.6 deg): 33 of 40 found, 1 false alarm in 200 holds. Squats: every lift-off found.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
import math
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitimu.consts import SELF_TESTS, SIDES
from gaitimu.errors import BadInputError, quote

if TYPE_CHECKING:  # (bleak is imported when a recording starts)
    from gaitimu.sensors.client import RecordOptions

log = logging.getLogger(__name__)

__all__ = ["Detection", "FootDetector", "Guide", "GuidedTest", "SelfTestOptions", "SelfTestResult",
           "record_self_test"]

# ----------------------------------------------------------------------------- detector
#: The detector works on 25 Hz bins (block means), enough for movements of a second.
BIN_HZ = 25.0
#: Time constant of the accelerometer's pull on the gyro-propagated gravity direction, s.
TILT_TAU_S = 1.0
#: The first part of two-legged standing is not used for its baseline (the person settles).
BASELINE_SKIP_S = 1.0
#: Lift-off: the angular-rate RMS over `SWAY_WINDOW_S` reaches `LIFT_SWAY_X` times the
#: two-legged standing's (and at least `LIFT_SWAY_MIN_DPS`), or the pelvis tilts by
#: `LIFT_TILT_DEG` from its two-legged posture, for `LIFT_SUSTAIN_S`.
SWAY_WINDOW_S = 0.5
LIFT_SWAY_X = 3.0
LIFT_SWAY_MIN_DPS = 1.0
LIFT_TILT_DEG = 2.0
LIFT_SUSTAIN_S = 0.3
#: The hold's level (mean tilt from the two-legged posture) is taken from this long after
#: lift-off; touch-downs are looked for once it rests on `LEVEL_MIN_S` and is at least
#: `LEVEL_MIN_DEG`.
LEVEL_AFTER_S = 1.5
LEVEL_MIN_S = 1.5
LEVEL_MIN_DEG = 1.5
LEVEL_SWAY_X = 2.5
#: Touch-down: the tilt along the level falls below `TOUCH_FRACTION` of it for
#: `TOUCH_SUSTAIN_S`, having been above `TOUCH_FROM_FRACTION` within `TOUCH_FAST_S` before (a
#: return to the two-legged posture, not a slow sway). Lifted again: above `RELIFT_FRACTION`
#: for `RELIFT_SUSTAIN_S`.
TOUCH_FRACTION = 0.25
TOUCH_SUSTAIN_S = 0.15
TOUCH_FROM_FRACTION = 0.75
TOUCH_FAST_S = 0.4
RELIFT_FRACTION = 0.65
RELIFT_SUSTAIN_S = 0.2
#: After the hold the foot comes down as it was told: below `END_FRACTION` for
#: `END_SUSTAIN_S` (no sway condition).
END_FRACTION = 0.35
END_SUSTAIN_S = 0.3


@dataclass(frozen=True)
class Detection:
    """What the detector saw: ``kind`` ``"lift"`` (the foot left the floor), ``"touch"`` (it
    touched down: ``early`` inside the planned hold, else the hold's end) or ``"relift"``;
    ``side`` is the STANCE side (the leg stood on), ``t_s`` session time."""

    kind: str
    side: str
    t_s: float
    early: bool = False


class _Bins:
    """Block means of ``(t, acc, gyr)`` over ``n`` samples, carried across pushes."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._rest = np.empty((0, 7))

    def push(self, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        data = np.concatenate([self._rest, np.column_stack([t, acc, gyr])])
        k = data.shape[0] // self.n
        self._rest = data[k * self.n:]
        return data[: k * self.n].reshape(k, self.n, 7).mean(axis=1)


class FootDetector:
    """Online lift-off and touch-down of the lifted foot from the raw samples (the rule is in
    the module docstring). Tell it the phase with `phase`; `push` returns what it saw."""

    def __init__(self, sampling_rate_hz: float) -> None:
        n = max(1, round(sampling_rate_hz / BIN_HZ))
        self.dt = n / sampling_rate_hz
        self._bins = _Bins(n)
        self._u: np.ndarray | None = None  # unit "up" in the sensor frame
        self._bias = np.zeros(3)
        self._bias_n = 0
        self._base_sum = np.zeros(3)
        self._sway_base = [0.0, 0]  # sum of |w|^2, count on two feet
        self._base_from = -math.inf
        self._u0: np.ndarray | None = None
        self._sway_both = None
        self._recent: deque = deque(maxlen=max(2, round(max(TOUCH_FAST_S, 1.0) / self.dt)))
        self.mode = "start"
        self.side = ""
        self.state = "down"
        self._run_start: float | None = None
        self._lift_t = math.nan
        self._level_sum = np.zeros(3)
        self._level_sq = np.zeros((3, 3))
        self._level_n = 0
        self._in_hold = False

    # ----------------------------------------------------------------- phases
    def phase(self, kind: str, side: str | None = None) -> None:
        """The guide moved to a phase (``both``, ``hold``, ``squats``, ``rest``, ``end``)."""
        if kind == "both":
            self._base_sum[:] = 0.0
            self._sway_base = [0.0, 0]
            self._base_from = -math.inf  # set at the next bin (+ BASELINE_SKIP_S)
        elif kind in ("hold", "squats"):
            if self._base_sum.any():
                self._u0 = self._base_sum / np.linalg.norm(self._base_sum)
            elif self._u is not None:
                self._u0 = self._u.copy()
            if self._sway_base[1]:
                self._sway_both = math.sqrt(self._sway_base[0] / self._sway_base[1])
            self.side = side or ""
            self.state = "down"
            self._run_start = None
            self._level_sum[:] = 0.0
            self._level_sq[:] = 0.0
            self._level_n = 0
        elif self.state != "up" or self.mode == "squats":
            self.state = "done"  # the hold ended with the foot down, or the squats ended
        self._run_start = None
        self._in_hold = kind in ("hold", "squats")
        self.mode = kind

    # ----------------------------------------------------------------- samples
    def push(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> list[Detection]:
        out: list[Detection] = []
        for row in self._bins.push(t_s, acc, gyr):
            out.extend(self._bin(float(row[0]), row[1:4], row[4:7]))
        return out

    def _bin(self, t: float, acc: np.ndarray, gyr: np.ndarray) -> list[Detection]:
        norm = float(np.linalg.norm(acc))
        a = acc / norm if norm > 0 else np.array([1.0, 0.0, 0.0])
        if self._u is None:
            self._u = a
        w = gyr - self._bias
        u = self._u - np.cross(np.radians(w), self._u) * self.dt
        u = u + (a - u) * (self.dt / TILT_TAU_S)
        self._u = u / np.linalg.norm(u)
        w2 = float(w @ w)
        if self.mode in ("start", "both"):
            self._bias_n += 1
            self._bias += (gyr - self._bias) / self._bias_n
        if self.mode == "both":
            if self._base_from == -math.inf:
                self._base_from = t + BASELINE_SKIP_S
            if t >= self._base_from:
                self._base_sum += self._u
                self._sway_base[0] += w2
                self._sway_base[1] += 1
        if self._u0 is None or self.state == "done" or self.mode in ("start", "both"):
            return []
        d = np.degrees(self._u - (self._u @ self._u0) * self._u0)  # tilt from two feet, deg
        self._recent.append((t, d, w2))
        return self._step(t, d)

    def _sustained(self, ok: bool, t: float, need_s: float) -> float | None:
        """The start of a run of bins where ``ok`` held, once it has lasted ``need_s``."""
        if not ok:
            self._run_start = None
            return None
        if self._run_start is None:
            self._run_start = t
        return self._run_start if t - self._run_start >= need_s - 1e-9 else None

    def _sway(self, window_s: float) -> float:
        t_end = self._recent[-1][0]
        w2 = [x[2] for x in self._recent if x[0] > t_end - window_s]
        return math.sqrt(sum(w2) / len(w2))

    def _step(self, t: float, d: np.ndarray) -> list[Detection]:
        if self.state == "down":
            return self._lift_off(t, d) if self._in_hold else []
        if self.state == "up" and t >= self._lift_t + LEVEL_AFTER_S and self._in_hold:
            self._level_sum += d
            self._level_sq += np.outer(d, d)
            self._level_n += 1
        if self.mode == "squats" or self._level_n * self.dt < LEVEL_MIN_S:
            return []  # squats: the lift-off only (the squatting moves the pelvis)
        level = self._level_sum / self._level_n
        size = float(np.linalg.norm(level))
        if size < LEVEL_MIN_DEG:
            return []
        p = float(d @ level) / size**2  # 1 = at the hold's level, 0 = back on two feet
        if self.state == "touched":
            t0 = self._sustained(p > RELIFT_FRACTION, t, RELIFT_SUSTAIN_S)
            if t0 is None:
                return []
            self.state, self._run_start = "up", None
            return [Detection("relift", self.side, t0)]
        if not self._in_hold:  # after the hold: the foot comes down as it was told
            t0 = self._sustained(p < END_FRACTION, t, END_SUSTAIN_S)
            if t0 is None:
                return []
            self.state, self._run_start = "done", None
            return [Detection("touch", self.side, t0)]
        axis = level / size
        sway_sd = math.sqrt(max(0.0, axis @ (self._level_sq / self._level_n) @ axis - size**2))
        if size < LEVEL_SWAY_X * sway_sd:
            return []
        was_up = any(float(x[1] @ level) / size**2 > TOUCH_FROM_FRACTION
                     for x in self._recent if x[0] >= t - TOUCH_FAST_S)
        t0 = self._sustained(p < TOUCH_FRACTION and (was_up or self._run_start is not None),
                             t, TOUCH_SUSTAIN_S)
        if t0 is None:
            return []
        self.state, self._run_start = "touched", None
        return [Detection("touch", self.side, t0, early=True)]

    def _lift_off(self, t: float, d: np.ndarray) -> list[Detection]:
        sway_min = max(LIFT_SWAY_X * (self._sway_both or 0.0), LIFT_SWAY_MIN_DPS)
        ok = self._sway(SWAY_WINDOW_S) >= sway_min or float(np.linalg.norm(d)) >= LIFT_TILT_DEG
        t0 = self._sustained(ok, t, LIFT_SUSTAIN_S)
        if t0 is None:
            return []
        self.state, self._run_start, self._lift_t = "up", None, t0
        return [Detection("lift", self.side, t0)]


# ----------------------------------------------------------------------------- options
#: Bounds of the protocol's options (the simulator accepts the same).
HOLD_RANGE_S = (5.0, 600.0)
REPS_RANGE = (1, 30)
REST_RANGE_S = (0.0, 600.0)
#: Two-legged standing before each leg (the drop's baseline), s.
STANDING_S = 5.0
#: Recording goes on this long after the last phase: the foot comes down, the pelvis settles.
TAIL_S = 3.0
#: A hold without a lift-off seen this long after its prompt gets a question.
NO_LIFT_NOTICE_S = 5.0
#: The virtual sensor's simulated person: the RIGHT standing leg lets the pelvis drop more
#: (6 deg against 2 deg), a pattern the report should flag.
VIRTUAL_PERSON: dict[str, Any] = {"cpd_left_deg": 2.0, "cpd_right_deg": 6.0}
SPEED_RANGE = (0.1, 50.0)
_NAME = {"L": "LEFT", "R": "RIGHT"}
_OTHER = {"L": "R", "R": "L"}


def _between(value: float, lo: float, hi: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi


def _said(value: object) -> str:
    """A user's value in a message: numbers as typed (``0``, not ``0.0``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:g}"
    return quote(value)


@dataclass
class SelfTestOptions:
    """The guided test: which, its protocol (docs/self_tests.md), and how it runs.

    ``scripted`` (``--yes``): no keyboard, the timeline runs by itself. ``speed`` and
    ``touchdown_at_s`` are for the virtual sensor only (its clock speed; the simulated
    person's lifted foot touches down that many seconds into the first hold);
    ``virtual_person`` further `gaitimu.simulate.SimConfig` fields of the simulated person.
    """

    test: str
    hold_s: float = 30.0
    reps: int = 5
    rest_s: float = 10.0
    first: str = "L"
    scripted: bool = False
    speed: float = 1.0
    touchdown_at_s: float | None = None
    virtual_person: dict[str, Any] = field(default_factory=lambda: dict(VIRTUAL_PERSON))

    def validate(self, device: str | None) -> None:
        """`BadInputError` (one line, named as the CLI option) for a value out of range."""
        if self.test not in SELF_TESTS:
            raise BadInputError(f"unknown test {quote(self.test)}: use {' or '.join(SELF_TESTS)}")
        if not _between(self.hold_s, *HOLD_RANGE_S):
            raise BadInputError(f"--hold {_said(self.hold_s)}: must be {HOLD_RANGE_S[0]:g}-"
                                f"{HOLD_RANGE_S[1]:g} s (30 s is the usual clinical hold)")
        if not (isinstance(self.reps, int) and REPS_RANGE[0] <= self.reps <= REPS_RANGE[1]):
            raise BadInputError(f"--reps {_said(self.reps)}: must be a whole number "
                                f"{REPS_RANGE[0]}-{REPS_RANGE[1]} (squats per leg)")
        if not _between(self.rest_s, *REST_RANGE_S):
            raise BadInputError(f"--rest {_said(self.rest_s)}: must be {REST_RANGE_S[0]:g}-"
                                f"{REST_RANGE_S[1]:g} s")
        if self.first not in SIDES:
            raise BadInputError(f"--first {quote(self.first)}: must be L or R (the leg stood on "
                                "first)")
        if device != "virtual" and (self.speed != 1.0 or self.touchdown_at_s is not None):
            raise BadInputError("--speed and --touchdown-at drive the virtual sensor's simulated "
                                "person: use them with --device virtual")
        if not _between(self.speed, *SPEED_RANGE):
            raise BadInputError(f"--speed {_said(self.speed)}: must be {SPEED_RANGE[0]:g}-"
                                f"{SPEED_RANGE[1]:g} (times real time)")
        if self.touchdown_at_s is not None and self.test != "single-leg-stance":
            raise BadInputError("--touchdown-at is for single-leg-stance (a foot put down "
                                "during a hold)")

    def describe(self) -> str:
        """The test in one line, said before it starts."""
        what = (f"a {self.hold_s:g} s hold" if self.test == "single-leg-stance"
                else f"{self.reps} slow squats")
        return (f"{self.test}: {what} on each leg, {_NAME[self.first]} leg first, "
                f"{self.rest_s:g} s rest between; hands on hips, eyes ahead")

    @property
    def order(self) -> tuple[str, str]:
        return (self.first, _OTHER[self.first])

    def plan(self) -> dict[str, Any]:
        """The planned protocol (``meta.protocol``), with the simulator's own planner."""
        from gaitimu.simulate.selftests import plan_protocol

        return plan_protocol(self.test, hold_s=float(self.hold_s), reps=int(self.reps),
                             rest_s=float(self.rest_s), standing_s=STANDING_S, order=self.order)

    def virtual_factory(self) -> Any:
        """The virtual sensor's source: the same test and plan, simulated (looping)."""
        from gaitimu.simulate.source import simulated_factory

        return simulated_factory(self.test, hold_s=float(self.hold_s), reps=int(self.reps),
                                 rest_s=float(self.rest_s), standing_s=STANDING_S,
                                 first_side=self.first, touchdown_at_s=self.touchdown_at_s,
                                 **self.virtual_person)


# ----------------------------------------------------------------------------- guide
def _clock(t_s: float) -> str:
    m, s = divmod(max(0, int(t_s)), 60)
    return f"[{m}:{s:02d}]"


def _starts_leg(phases: list[dict[str, Any]], i: int) -> bool:
    """Phase ``i`` is the two-legged standing that begins a leg (a hold or squats follows)."""
    return (phases[i]["phase"] == "both" and i + 1 < len(phases)
            and phases[i + 1]["phase"] in ("hold", "squats"))


class Guide:
    """The test's timeline on the session clock: prompts, waits for Enter, the foot detector.

    It is the recorder's ``on_samples`` hook (`samples`). Callbacks: ``say(text)`` prints a
    prompt; ``event(dict)`` stores a session event; ``meta(changes)`` updates the session's
    meta (``protocol`` when a wait moved the plan, ``self_test_recording`` as the test goes
    on); ``stop(reason)`` ends the recording (the protocol is done,
    or the keyboard is gone). ``key()`` (thread-safe through the event loop) is an Enter.
    """

    def __init__(self, protocol: dict[str, Any], sampling_rate_hz: float, *, scripted: bool,
                 say: Callable[[str], None] = print,
                 event: Callable[[dict[str, Any]], None] | None = None,
                 meta: Callable[[dict[str, Any]], None] | None = None,
                 stop: Callable[[str], None] | None = None) -> None:
        from gaitimu.simulate.selftests import SQUAT_LEAD_S

        self.protocol = copy.deepcopy(protocol)
        self.phases: list[dict[str, Any]] = self.protocol["phases"]
        self.scripted = scripted
        self.say = say
        self.event = event or (lambda _e: None)
        self.meta = meta or (lambda _m: None)
        self.stop = stop or (lambda _r: None)
        self.detector = FootDetector(sampling_rate_hz)
        self.squat_lead_s = SQUAT_LEAD_S
        self.i = -1  # current phase; len(phases) = the closing standing
        self.now: float | None = None
        self.finished = False
        self.gone = False  # stopped for want of a keyboard
        self.error: BaseException | None = None
        self.seen: dict[str, dict[str, Any]] = {}
        self._waiting: int | None = None  # phase index waiting for Enter
        self._wait_since = 0.0
        self._waited: set[int] = set()
        self._keys = 0
        self._keys_at_wait = 0
        self._eof = False
        self._reps_said = 0
        self._noticed = False

    # ----------------------------------------------------------------- inputs
    def key(self, eof: bool = False) -> None:
        """An Enter from the keyboard (``eof``: the input has ended)."""
        if eof:
            self._eof = True
        else:
            self._keys += 1

    def samples(self, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        """The recorder's ``on_samples`` hook: detector, then the timeline to the block's
        end. A failure here stops the recording (kept) and is raised after it."""
        if self.finished or self.gone or self.error is not None or not len(t_s):
            return
        try:
            for det in self.detector.push(t_s, acc, gyr):
                self._seen(det)
            self.now = float(t_s[-1])
            self._advance(self.now)
        except Exception as e:  # never lose the recording to a bug in the guide
            log.exception("self-test guide failed")
            self.error = e
            self.stop("self-test guide failed")

    # ----------------------------------------------------------------- the timeline
    @property
    def current(self) -> dict[str, Any] | None:
        return self.phases[self.i] if 0 <= self.i < len(self.phases) else None

    @property
    def stopped_in(self) -> str:
        """Where the test stands, in words (for a stop before the end)."""
        if self.finished:
            return ""
        if self._waiting is not None:
            return f"waiting for Enter before the {_NAME[self.phases[self._waiting + 1]['stance_side']]} leg"
        ph = self.current
        if ph is None:
            return "before the first prompt" if self.i < 0 else "in the closing standing"
        side = ph.get("stance_side")
        what = {"both": "the two-legged standing", "rest": "the rest",
                "hold": "the hold", "squats": "the squats"}[ph["phase"]]
        return f"during {what}" + (f" on the {_NAME[side]} leg" if side else "")

    def _advance(self, now: float) -> None:
        """Move the timeline to ``now``: waits, phases, the closing standing, the end."""
        while not (self.finished or self.gone):
            if self._waiting is not None and not self._enter_pressed(now):
                return
            nxt = self.i + 1
            if nxt < len(self.phases):
                start = self.phases[nxt]["start_s"]
                if not self.scripted and nxt not in self._waited and _starts_leg(self.phases, nxt):
                    if nxt and now < start:  # the rest before it is not over
                        break
                    self._begin_wait(nxt, now)
                    continue
                if now < start:
                    break
                self._enter(nxt)
            elif nxt == len(self.phases):
                if now < self.phases[-1]["end_s"]:
                    break
                self._enter_tail()
            else:
                if now >= self.phases[-1]["end_s"] + TAIL_S:
                    self._finish(now)
                return
        self._during(now)

    def _enter_pressed(self, now: float) -> bool:
        """While waiting: True once Enter came (the wait ends); stops when input is gone."""
        if self._keys > self._keys_at_wait:
            self._end_wait(self._waiting, now)
            return True
        if self._eof:
            self.say("no keyboard input (stdin closed): stopping; use --yes to run the test "
                     "without a keyboard")
            self.gone = True
            self.stop("no keyboard input")
        return False

    def _finish(self, now: float) -> None:
        self.finished = True
        self.i = len(self.phases) + 1
        self._recorded()
        self.say(f"{_clock(now)} Done: both legs tested.")
        self.stop("test done")

    def _begin_wait(self, i: int, now: float) -> None:
        self._waiting = i
        self._wait_since = now
        self._keys_at_wait = self._keys
        side = _NAME[self.phases[i + 1]["stance_side"]]
        self.say(f"{_clock(now)} Ready for the {side} leg? Press Enter to start "
                 "(Ctrl-C stops; the recording is kept)")

    def _end_wait(self, i: int, now: float) -> None:
        """Enter pressed at ``now``: phase ``i`` starts now, the plan after it moves with it."""
        self._waiting = None
        self._waited.add(i)
        shift = now - self.phases[i]["start_s"]
        if shift > 0:
            for ph in self.phases[i:]:
                ph["start_s"] = round(ph["start_s"] + shift, 3)
                ph["end_s"] = round(ph["end_s"] + shift, 3)
            if i > 0 and self.phases[i - 1]["phase"] == "rest":
                self.phases[i - 1]["end_s"] = self.phases[i]["start_s"]
            self.meta({"protocol": self.protocol})
        self.event({"kind": "self_test", "what": "wait", "start_s": self._wait_since,
                    "end_s": now})

    def _enter(self, i: int) -> None:
        prev = self.current
        self.i = i
        ph = self.phases[i]
        side = ph.get("stance_side")
        if prev is not None and prev["phase"] in ("hold", "squats"):
            self._summary(prev)
        self.detector.phase(ph["phase"], side)
        dur = ph["end_s"] - ph["start_s"]
        if ph["phase"] == "both":
            text = f"Stand on both feet, hands on hips: {dur:g} s"
        elif ph["phase"] == "rest":
            text = f"Put your {_NAME[_OTHER[prev['stance_side']]]} foot down. Rest: {dur:g} s" \
                if prev is not None and prev.get("stance_side") else f"Rest: {dur:g} s"
        else:
            lift = f"Lift your {_NAME[_OTHER[side]]} foot and stand on your {_NAME[side]} leg"
            text = (f"{lift}: hold {dur:g} s" if ph["phase"] == "hold"
                    else f"{lift}: {self.protocol['reps']} squats")
            self.seen[side] = {"stance_side": side, "lift_s": None, "touchdowns": [],
                               "touch_s": None}
            self._reps_said = 0
            self._noticed = False
        self._prompt(ph["start_s"], text, phase=ph["phase"], stance_side=side)

    def _enter_tail(self) -> None:
        prev = self.current
        self.i = len(self.phases)
        if prev is not None and prev["phase"] in ("hold", "squats"):
            self._summary(prev)
        self.detector.phase("end")
        foot = _NAME[_OTHER[prev["stance_side"]]] if prev and prev.get("stance_side") else ""
        self._prompt(self.phases[-1]["end_s"],
                     f"Put your {foot} foot down and stand still: {TAIL_S:g} s".replace("  ", " "),
                     phase="end")

    def _during(self, now: float) -> None:
        """Within a phase: the squats' rep prompts, the question when no lift-off is seen."""
        ph = self.current
        if ph is None or ph["phase"] not in ("hold", "squats"):
            return
        side = ph["stance_side"]
        if ph["phase"] == "squats":
            reps = int(self.protocol["reps"])
            rep_s = (ph["end_s"] - ph["start_s"] - self.squat_lead_s) / reps
            while self._reps_said < reps:
                t_rep = ph["start_s"] + self.squat_lead_s + self._reps_said * rep_s
                if now < t_rep:
                    break
                self._reps_said += 1
                self._prompt(t_rep, f"Squat slowly on your {_NAME[side]} leg: rep "
                             f"{self._reps_said} of {reps}", phase="squats", stance_side=side,
                             rep=self._reps_said)
        if (not self._noticed and self.seen[side]["lift_s"] is None
                and now >= ph["start_s"] + NO_LIFT_NOTICE_S):
            self._noticed = True
            self.say(f"{_clock(now)}   no lift-off seen yet: is your {_NAME[_OTHER[side]]} "
                     "foot off the floor?")

    def _prompt(self, t_s: float, text: str, **fields: Any) -> None:
        self.say(f"{_clock(t_s)} {text}")
        self.event({"kind": "self_test", "what": "prompt", "t_s": t_s, **fields,
                    "text": text})

    # ----------------------------------------------------------------- what the sensor saw
    def _seen(self, det: Detection) -> None:
        rec = self.seen.get(det.side)
        if rec is None:
            return
        foot = _NAME[_OTHER[det.side]]
        what = {"lift": "lift_off", "touch": "touch_down", "relift": "lift_again"}[det.kind]
        self.event({"kind": "self_test", "what": what, "t_s": det.t_s,
                    "stance_side": det.side, **({"early": True} if det.early else {})})
        if det.kind == "lift":
            rec["lift_s"] = round(det.t_s, 3)
            self.say(f"{_clock(det.t_s)}   {foot.lower()} foot off the floor")
        elif det.kind == "relift":
            rec["touchdowns"][-1][1] = round(det.t_s, 3)
            self.say(f"{_clock(det.t_s)}   {foot.lower()} foot up again")
        elif det.early:
            rec["touchdowns"].append([round(det.t_s, 3), None])
            into = det.t_s - (rec["lift_s"] or det.t_s)
            self.say(f"{_clock(det.t_s)}   {foot} foot touched down {into:.0f} s into the hold: "
                     "lift it again and keep it lifted")
        else:
            rec["touch_s"] = round(det.t_s, 3)
        self._recorded()

    def _recorded(self) -> None:
        self.meta({"self_test_recording": self.summary()})

    def _summary(self, ph: dict[str, Any]) -> None:
        side = ph["stance_side"]
        rec = self.seen.get(side) or {}
        lift = rec.get("lift_s")
        if lift is None:
            self.say(f"  {_NAME[side]} leg: no lift-off seen by the sensor (the analysis looks "
                     "again)")
            return
        if ph["phase"] == "squats":
            return
        down = sum((b if b is not None else ph["end_s"]) - a for a, b in rec["touchdowns"])
        up = max(0.0, ph["end_s"] - lift - down)
        n = len(rec["touchdowns"])
        self.say(f"  {_NAME[side]} leg: foot up {up:.1f} s of the {ph['end_s'] - ph['start_s']:g} "
                 f"s hold, {n} touch-down{'s' if n != 1 else ''}")

    # ----------------------------------------------------------------- the status view
    def status_rows(self) -> dict[str, str]:
        """Rows for the live status panel: the phase and its countdown."""
        if self.now is None:
            return {"self-test": "waiting for the sensor"}
        if self._waiting is not None:
            return {"self-test": "press Enter to start the "
                    f"{_NAME[self.phases[self._waiting + 1]['stance_side']]} leg"}
        ph = self.current
        if ph is None:
            return {"self-test": "done" if self.finished else "closing standing"}
        side = ph.get("stance_side")
        title = {"both": "stand on both feet", "rest": "rest",
                 "hold": f"stand on your {_NAME.get(side, '')} leg",
                 "squats": f"squats on your {_NAME.get(side, '')} leg"}[ph["phase"]]
        rows = {"self-test": title, "time left": f"{max(0.0, ph['end_s'] - self.now):.0f} s"}
        if side and side in self.seen:
            rec = self.seen[side]
            rows["foot"] = ("not seen lifted" if rec["lift_s"] is None else
                            "down" if rec["touchdowns"] and rec["touchdowns"][-1][1] is None
                            else "lifted")
        return rows

    def summary(self) -> dict[str, Any]:
        """``meta.self_test_recording``: completed, scripted, what the sensor saw per leg."""
        return {"completed": self.finished, "scripted": self.scripted,
                "seen": [self.seen[s] for s in self.protocol["order"] if s in self.seen]}


# ----------------------------------------------------------------------------- recording
@dataclass
class SelfTestResult:
    """A finished (or stopped) guided recording: the recorder's `RecordResult`, whether the
    whole protocol ran, where it stopped otherwise, and what the sensor saw per leg."""

    record: Any
    completed: bool
    stopped_in: str
    seen: list[dict[str, Any]]


class _Keyboard:
    """Enter presses from stdin, read in a daemon thread (it never holds up the exit) and
    handed to the guide through the event loop."""

    def __init__(self, guide: Guide, loop: asyncio.AbstractEventLoop) -> None:
        self.guide = guide
        self.loop = loop

    def start(self) -> None:
        threading.Thread(target=self._read, name="gaitimu-test-keys", daemon=True).start()

    def _read(self) -> None:
        try:
            for _line in iter(sys.stdin.readline, ""):
                self.loop.call_soon_threadsafe(self.guide.key)
            self.loop.call_soon_threadsafe(self.guide.key, True)
        except (OSError, ValueError, RuntimeError):  # no stdin, or the loop has closed
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.guide.key, True)


class GuidedTest:
    """One guided self-test recording: `run` it (once) in an event loop.

    ``options`` are `gaitimu.sensors.client.RecordOptions` (device, rate, axes, subject,
    notes, out; ``device="virtual"`` serves the simulated test), ``test`` the
    `SelfTestOptions`; ``say`` prints the prompts; ``keyboard`` reads Enter from stdin
    (without ``scripted`` on a real sensor).
    """

    def __init__(self, options: RecordOptions, test: SelfTestOptions, *,
                 say: Callable[[str], None] = print, keyboard: bool = True) -> None:
        test.validate(options.device)
        options.validate()
        self.options = options
        self.test = test
        self.virtual = options.device == "virtual"
        self.protocol = test.plan()
        self._writer: Any = None
        self.keyboard = keyboard and not (test.scripted or self.virtual)
        self.guide = Guide(self.protocol, float(options.rate_hz),
                           scripted=test.scripted or self.virtual, say=say,
                           event=lambda e: self._writer.add_event(e),
                           meta=lambda m: self._writer.update_meta(m))

    def _sink(self, path: Any, meta: dict[str, Any]) -> Any:
        """The recorder's session writer, with the test's activity and protocol in meta."""
        from gaitimu.sessions import SessionWriter

        self._writer = SessionWriter(
            path, {**meta, "activity": self.test.test, "protocol": self.protocol,
                   "self_test_recording": self.guide.summary()},
            flush_interval_s=self.options.flush_interval_s)
        return self._writer

    async def run(self, *, on_status: Callable[[Any], None] | None = None,
                  install_signal_handlers: bool = False) -> SelfTestResult:
        from gaitimu.sensors.client import Recorder

        async with contextlib.AsyncExitStack() as stack:
            options, backends = self.options, {}
            if self.virtual:
                options, backends = await self._virtual(stack)
            rec = Recorder(options, on_status=on_status, on_samples=self.guide.samples,
                           sink_factory=self._sink, **backends)
            self.guide.stop = rec.stop
            if self.keyboard:
                _Keyboard(self.guide, asyncio.get_running_loop()).start()
            result = await rec.run(install_signal_handlers=install_signal_handlers)
        if self.guide.error is not None:
            raise self.guide.error
        return SelfTestResult(record=result, completed=self.guide.finished,
                              stopped_in=self.guide.stopped_in, seen=self.guide.summary()["seen"])

    async def _virtual(self, stack: contextlib.AsyncExitStack) -> tuple[Any, dict[str, Any]]:
        """The virtual sensor serving this test, for as long as ``stack`` lasts; the record
        options and bleak backends that reach it."""
        from gaitimu.sensors.bumble_backend import virtual_link
        from gaitimu.sensors.virtual import VIRTUAL_NAME

        t = self.test
        scanner, client = await stack.enter_async_context(virtual_link(
            source_factory=t.virtual_factory(), speed=t.speed, source_from_stream_start=True))
        p = t.virtual_person
        notes = self.options.notes or (
            f"virtual sensor: simulated {t.test}, drop {p.get('cpd_left_deg')} deg standing on "
            f"the left leg / {p.get('cpd_right_deg')} deg on the right")
        # a faster virtual clock is not a drifting crystal: no drift correction then
        options = dataclasses.replace(self.options, device=VIRTUAL_NAME, notes=notes,
                                      correct_drift=t.speed == 1.0)
        return options, {"scanner_backend": scanner, "client_backend": client}


def record_self_test(options: RecordOptions, test: SelfTestOptions, *,
                     say: Callable[[str], None] = print) -> SelfTestResult:
    """`GuidedTest` from the command line: the live status panel with the countdown (on a
    terminal), Ctrl-C / SIGTERM stop the recording cleanly and keep it."""
    from gaitimu.live.status import LiveStatus

    guided = GuidedTest(options, test, say=say)
    say(test.describe())
    if guided.virtual and not test.scripted:
        say("virtual sensor: the simulated person follows the timeline by itself (as with "
            "--yes)")
    with LiveStatus(analysis_hook=guided.guide.status_rows) as view:
        return asyncio.run(guided.run(on_status=view, install_signal_handlers=True))
