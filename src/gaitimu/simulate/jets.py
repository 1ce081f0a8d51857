"""Jets: a signal with its exact first and second time derivatives.

A "jet" is ``(f, df/dt, d2f/dt2)``, each an ndarray on the sample grid. Products and
compositions keep the derivatives exact, so the simulator never differentiates a signal
numerically: positions, velocities and accelerations (and so the IMU signals) agree.
"""

from __future__ import annotations

import numpy as np

Jet = tuple[np.ndarray, np.ndarray, np.ndarray]


def jet_mul(a: Jet, b: Jet) -> Jet:
    """The product ``a * b`` with the product rule for both derivatives."""
    return (a[0] * b[0], a[1] * b[0] + a[0] * b[1], a[2] * b[0] + 2 * a[1] * b[1] + a[0] * b[2])


def jet_const(x: float | np.ndarray, n: int) -> Jet:
    """A constant of ``n`` samples (derivatives zero)."""
    z = np.zeros(n)
    return (np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy(), z, z.copy())


def smootherstep(x: np.ndarray, width: float) -> Jet:
    """C2 step 0 -> 1 over ``x`` in [0, width] (Perlin's quintic): value and d/dx, d2/dx2."""
    u = np.clip(x / width, 0.0, 1.0)
    f = u**3 * (u * (6 * u - 15) + 10)
    d1 = 30 * u**2 * (u - 1) ** 2 / width
    d2 = 60 * u * (u - 1) * (2 * u - 1) / width**2
    return f, d1, d2


def ramp_window(t: np.ndarray, rise_start: float, rise_s: float, fall_start: float,
                fall_s: float) -> Jet:
    """1 between a C2 rise (starting at ``rise_start``) and a C2 fall (starting ``fall_start``)."""
    up = smootherstep(t - rise_start, rise_s)
    if np.isfinite(fall_start):
        dn = smootherstep(t - fall_start, fall_s)
        down = (1.0 - dn[0], -dn[1], -dn[2])
        return jet_mul(up, down)
    return up


def jet_add(*jets: Jet) -> Jet:
    """The sum of jets of the same length."""
    return (sum(j[0] for j in jets), sum(j[1] for j in jets), sum(j[2] for j in jets))  # type: ignore[return-value]


def jet_scale(a: Jet, k: float | np.ndarray) -> Jet:
    """``k * a`` for a constant ``k``."""
    return (k * a[0], k * a[1], k * a[2])


def jet_sin_cos(a: Jet) -> tuple[Jet, Jet]:
    """``sin(a)`` and ``cos(a)`` (``a`` in radians) by the chain rule."""
    s, c = np.sin(a[0]), np.cos(a[0])
    return ((s, c * a[1], c * a[2] - s * a[1] ** 2),
            (c, -s * a[1], -s * a[2] - c * a[1] ** 2))
