"""A FABRICATED AnalysisResult for report tests (a fixture, not a simulator).

`fabricate_result` builds what `gaitimu.pipeline.analyze_session` returns (strides, signals,
info) plus session meta, with known per-side CPD, so the report and its statistics can be
tested on their own. The end-to-end tests (simulate -> analyze -> report) live in
test_report_e2e.py. The tests in this file only check that the fixture is self-consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class FakeResult:
    strides: pd.DataFrame
    signals: pd.DataFrame
    info: dict = field(default_factory=dict)


@dataclass
class FakeSession:
    meta: dict
    duration_s: float
    lost_samples: int = 0
    gaps: list = field(default_factory=list)
    problems: list = field(default_factory=list)


def _ar1(rng: np.random.Generator, n: int, sd: float, r: float) -> np.ndarray:
    e = rng.normal(0.0, sd * np.sqrt(1 - r**2), n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        x[i] = r * x[i - 1] + e[i]
    return x


def fabricate_result(
    *,
    activity: str = "walk",
    duration_s: float = 120.0,
    cpd_left_deg: float = 4.0,
    cpd_right_deg: float = 4.0,
    cadence_spm: float | None = None,
    seed: int = 0,
    sd_deg: float = 1.0,
    r1: float = 0.3,
    fatigue_deg: dict | None = None,
    sample_rate_hz: float = 100.0,
    invalid_fraction: float = 0.05,
    standing: bool = True,
) -> tuple[FakeSession, FakeResult]:
    """Session-like object and AnalysisResult-like object with known CPD per side.

    ``fatigue_deg`` = {"L": x} adds a linear rise of x degrees over the session to that side.
    """
    rng = np.random.default_rng(seed)
    cadence = cadence_spm or (110.0 if activity == "walk" else 170.0)
    step = 60.0 / cadence
    t0 = 3.0  # quiet standing first
    n = int((duration_s - t0 - 2 * step) / step)
    ic = t0 + np.cumsum(np.r_[0.0, step + rng.normal(0, 0.01 * step, n - 1)])
    side = np.where(np.arange(n) % 2 == 0, "L", "R")
    stride = np.full(n, 2 * step)
    stride[:-2] = ic[2:] - ic[:-2]
    stance_frac = 0.62 if activity == "walk" else 0.38
    stance = stance_frac * stride * (1 + rng.normal(0, 0.02, n))
    fatigue = fatigue_deg or {}
    cpd_st = np.empty(n)
    for s, mu in (("L", cpd_left_deg), ("R", cpd_right_deg)):
        m = side == s
        cpd_st[m] = mu + _ar1(rng, int(m.sum()), sd_deg, r1)
        cpd_st[m] += fatigue.get(s, 0.0) * (ic[m] - ic[0]) / (ic[-1] - ic[0])
    cpd_ic = cpd_st - 0.4 + rng.normal(0, 0.2, n)

    # obliquity: + when the left hemipelvis is higher. Left stance: the right side drops,
    # obliquity rises by cpd during stance; right stance: falls by cpd.
    t = np.arange(0.0, duration_s, 1.0 / sample_rate_hz)
    obl = rng.normal(0, 0.15, t.size)
    sign = np.where(side == "L", 1.0, -1.0)
    for k in range(n):
        a, b = ic[k], ic[k] + stance[k]
        i0, i1 = np.searchsorted(t, [a, b])
        ph = (t[i0:i1] - a) / (b - a)
        obl[i0:i1] += sign[k] * cpd_st[k] * np.sin(np.pi * np.clip(ph / 0.6, 0, 1)) ** 2 * (
            ph < 0.6) + sign[k] * cpd_st[k] * 0
    valid = rng.random(n) > invalid_fraction
    valid[-2:] = False
    reasons = np.where(valid, "", rng.choice(["turn", "event_uncertain"], n))
    reasons[-2:] = "last_stride"
    flight = np.full(n, np.nan) if activity == "walk" else step - stance
    strides = pd.DataFrame({
        "side": side, "ic_s": ic, "fc_s": ic + stance,
        "next_ic_s": np.r_[ic[1:], ic[-1] + step],  # next IC of EITHER foot (engine's rule)
        "stance_s": stance, "step_s": np.full(n, step),
        "stride_s": stride, "activity": activity,
        "obliquity_ic_deg": rng.normal(0, 0.5, n), "peak_drop_t_s": ic + 0.3 * stance,
        "cpd_ic_deg": cpd_ic, "cpd_standing_deg": cpd_st if standing else np.nan,
        "obliquity_range_deg": np.abs(cpd_st) * 1.6 + 1.0,
        "flight_s": flight, "ml_excursion_m": 0.03 + 0.002 * cpd_st + rng.normal(0, .003, n),
        "valid": valid, "invalid_reason": reasons,
    })
    signals = pd.DataFrame({"t_s": t, "obliquity_deg": obl})
    info = {"activity": activity, "cadence_spm": cadence,
            "alignment": {"roll_deg": 4.2, "pitch_deg": -7.9, "yaw_deg": 1.1},
            "warnings": [], "excluded_strides": int((~valid).sum())}
    meta = {"subject": "FIXTURE-01", "activity": activity, "sample_rate_hz": sample_rate_hz,
            "created_utc": "2026-01-01T10:00:00Z", "source": "fixture",
            "sensor": {"name": "fixture"}}
    session = FakeSession(meta=meta, duration_s=duration_s, lost_samples=12,
                          gaps=[[50.0, 50.12]])
    return session, FakeResult(strides, signals, info)


def test_fixture_means_match_request():
    _, res = fabricate_result(duration_s=300, cpd_left_deg=3.0, cpd_right_deg=7.0, seed=1)
    s = res.strides[res.strides.valid]
    m = s.groupby("side")["cpd_standing_deg"].mean()
    assert abs(m["L"] - 3.0) < 0.5 and abs(m["R"] - 7.0) < 0.5


def test_fixture_obliquity_sign_convention():
    # Left stance: right hemipelvis drops -> obliquity (left higher) rises.
    _, res = fabricate_result(duration_s=60, cpd_left_deg=6.0, cpd_right_deg=6.0, seed=2)
    st = res.strides.iloc[4]
    t, o = res.signals.t_s.to_numpy(), res.signals.obliquity_deg.to_numpy()
    mid = (t > st.ic_s) & (t < st.fc_s)
    assert (o[mid].max() > 3.0) == (st.side == "L")
