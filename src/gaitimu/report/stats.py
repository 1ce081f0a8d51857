"""Summary statistics for per-stance metrics: means with autocorrelation-aware confidence
intervals, Welch differences, symmetry indices and within-session trends.

Consecutive strides of one session are not independent: a runner who drops the pelvis more on
one stride tends to do so on the next (slow drifts, fatigue, speed changes). A plain
t-interval on n strides is then too narrow. Every interval here uses an *effective* sample
size from the lag-1 autocorrelation of the series in time order (AR(1) approximation, e.g.
Wilks, Statistical Methods in the Atmospheric Sciences, 3rd ed., section 5.2.4)::

    n_eff = n * (1 - r1) / (1 + r1)        (r1 > 0; otherwise n_eff = n)

and a Student t quantile with ``n_eff - 1`` degrees of freedom. For white noise this is the
ordinary t-interval; for positively correlated strides it widens. All functions are pure numpy
and ignore NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

CONFIDENCE = 0.95


@dataclass(frozen=True)
class MeanCI:
    """Mean of a series with a confidence interval that allows for autocorrelation."""

    n: int
    mean: float
    sd: float
    ci95_low: float
    ci95_high: float
    n_eff: float
    r1: float

    def as_dict(self) -> dict:
        return {k: _num(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class DiffCI:
    """Difference of two means (b - a) with a Welch interval on effective sample sizes."""

    diff: float
    ci95_low: float
    ci95_high: float
    df: float
    p_value: float

    def as_dict(self) -> dict:
        return {k: _num(v) for k, v in asdict(self).items()}


def _num(v: float | int) -> float | int | None:
    """JSON-friendly number: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    return v if math.isfinite(v) else None


def lag1_autocorrelation(x: np.ndarray) -> float:
    """Lag-1 autocorrelation of a series (NaN dropped first); 0.0 when it cannot be estimated."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 4:
        return 0.0
    d = x - x.mean()
    den = float(d @ d)
    if den <= 0:
        return 0.0
    return float((d[:-1] @ d[1:]) / den)


def effective_n(x: np.ndarray) -> tuple[float, float]:
    """Effective sample size of a time-ordered series under an AR(1) approximation.

    Returns
    -------
    n_eff, r1
        ``n_eff`` in ``[min(n, 2), n]``; ``r1`` the lag-1 autocorrelation used.
    """
    x = np.asarray(x, dtype=float)
    n = int(np.isfinite(x).sum())
    r1 = lag1_autocorrelation(x)
    if n < 2:
        return float(n), r1
    r = min(max(r1, 0.0), 0.95)
    n_eff = n * (1.0 - r) / (1.0 + r)
    return float(min(max(n_eff, 2.0), n)), r1


def mean_ci(x: np.ndarray, confidence: float = CONFIDENCE) -> MeanCI:
    """Mean, SD and an autocorrelation-aware t confidence interval of a time-ordered series."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return MeanCI(0, math.nan, math.nan, math.nan, math.nan, 0.0, 0.0)
    mean = float(x.mean())
    if n < 2:
        return MeanCI(1, mean, math.nan, math.nan, math.nan, 1.0, 0.0)
    sd = float(x.std(ddof=1))
    n_eff, r1 = effective_n(x)
    half = t_half_width(sd, n_eff, confidence)
    return MeanCI(n, mean, sd, mean - half, mean + half, n_eff, r1)


def t_half_width(sd: float, n_eff: float, confidence: float = CONFIDENCE) -> float:
    """Half-width of the Student t interval of a mean: ``t(n_eff - 1) * sd / sqrt(n_eff)``."""
    return float(_st.t.ppf(0.5 + confidence / 2, n_eff - 1)) * sd / math.sqrt(n_eff)


def welch_diff(a: MeanCI, b: MeanCI, confidence: float = CONFIDENCE) -> DiffCI:
    """``b.mean - a.mean`` with a Welch-Satterthwaite interval using effective sample sizes."""
    if a.n < 2 or b.n < 2 or not (math.isfinite(a.sd) and math.isfinite(b.sd)):
        return DiffCI(b.mean - a.mean, math.nan, math.nan, math.nan, math.nan)
    va = a.sd**2 / a.n_eff
    vb = b.sd**2 / b.n_eff
    se = math.sqrt(va + vb)
    diff = b.mean - a.mean
    if se == 0:
        return DiffCI(diff, diff, diff, math.inf, 0.0 if diff else 1.0)
    df = (va + vb) ** 2 / (va**2 / max(a.n_eff - 1, 1) + vb**2 / max(b.n_eff - 1, 1))
    half = float(_st.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * _st.t.sf(abs(diff) / se, df))
    return DiffCI(diff, diff - half, diff + half, df, p)


def format_p_value(p: float | None) -> str:
    """A p value for text: "p < 0.001" below 0.001 (never "p = 0.000"), else "p = 0.012";
    "p n/a" when missing."""
    if p is None or not math.isfinite(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def symmetry_index(left: float, right: float) -> float:
    """Robinson symmetry index in percent, ``100 * (R - L) / (0.5 * (R + L))``.

    Positive when the right value is larger; 0 is perfect symmetry. NaN when the mean of the two
    is not clearly positive (the index is meaningless for quantities that can be near zero or
    negative, such as a CPD close to 0 degrees).
    """
    m = 0.5 * (left + right)
    if not (math.isfinite(m) and m > 1e-9):
        return math.nan
    return 100.0 * (right - left) / m


def linear_trend(t: np.ndarray, y: np.ndarray, confidence: float = CONFIDENCE) -> dict:
    """Least-squares slope of ``y`` against ``t`` with an autocorrelation-aware interval.

    The residuals' lag-1 autocorrelation shrinks the degrees of freedom (same AR(1) rule as
    `effective_n`), so slow oscillations are not mistaken for a significant trend.

    Returns
    -------
    dict
        ``slope``, ``ci95_low``, ``ci95_high`` (units of y per unit of t), ``intercept``, ``n``,
        ``n_eff``; NaN entries when fewer than 3 finite points.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    n = int(t.size)
    nan = {"slope": math.nan, "ci95_low": math.nan, "ci95_high": math.nan,
           "intercept": math.nan, "n": n, "n_eff": float(n)}
    if n < 3 or np.ptp(t) <= 0:
        return nan
    tc = t - t.mean()
    slope = float((tc @ (y - y.mean())) / (tc @ tc))
    intercept = float(y.mean() - slope * t.mean())
    resid = y - (intercept + slope * t)
    n_eff, _ = effective_n(resid)
    dof = max(n_eff - 2, 1.0)
    s2 = float(resid @ resid) / max(n - 2, 1)
    se = math.sqrt(s2 / float(tc @ tc)) * math.sqrt(n / n_eff)
    half = float(_st.t.ppf(0.5 + confidence / 2, dof)) * se
    return {"slope": slope, "ci95_low": slope - half, "ci95_high": slope + half,
            "intercept": intercept, "n": n, "n_eff": n_eff}
