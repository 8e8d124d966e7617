"""Funnel-plot control limits: how far an area's figure may sit from the ICS mean by chance alone.

The limits are the **exact** quantiles of the count an area of that size would show if its true
rate were the ICS mean, with Spiegelhalter's interpolation between whole counts so the funnel is a
smooth curve rather than a staircase (Spiegelhalter DJ, *Funnel plots for comparing
institutional performance*, Stat Med 2005;24:1185-1202; the method of the PHE/OHID funnel plot
tools):

- a proportion (a register's prevalence): the count is Binomial(n, p0);
- a rate (emergency admissions per 1,000 people): the count is Poisson(r0 x n).

For a tail probability ``q`` (0.025 and 0.975 for the 95% limits, 0.001 and 0.999 for 99.8%),
with ``F`` the distribution function and ``r`` the smallest count with ``F(r) >= q``::

    alpha = (F(r) - q) / (F(r) - F(r - 1))
    limit = (r - alpha) / n

The limits are exact at any size, including small lists and rare conditions, where the normal
approximation ``p0 +/- z sqrt(p0 (1 - p0) / n)`` goes below zero or is too narrow; they converge
to it for large expected counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

# (label, lower tail probability): 95% and 99.8% two-sided limits.
LIMITS: tuple[tuple[str, float], ...] = (("95", 0.025), ("99.8", 0.001))


@dataclass(frozen=True)
class FunnelLimits:
    """Control limits (as proportions or per-person rates) for each denominator ``n``."""

    n: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray
    lower_998: np.ndarray
    upper_998: np.ndarray


def _interpolated_quantile(dist, q: float, n: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    r = dist.ppf(q)
    f_r = dist.cdf(r)
    f_below = np.where(r > 0, dist.cdf(r - 1), 0.0)
    step = f_r - f_below
    alpha = np.divide(f_r - q, step, out=np.zeros_like(step, dtype=float), where=step > 0)
    return np.clip((r - alpha) / n, 0.0, None)


def _limits(dist, n: np.ndarray, cap: float | None) -> FunnelLimits:  # type: ignore[no-untyped-def]
    values = {}
    for label, tail in LIMITS:
        key = label.replace(".", "")
        lower = _interpolated_quantile(dist, tail, n)
        upper = _interpolated_quantile(dist, 1 - tail, n)
        if cap is not None:
            upper = np.minimum(upper, cap)
        values[f"lower_{key}"] = lower
        values[f"upper_{key}"] = upper
    return FunnelLimits(n=n, **values)


def proportion_limits(p0: float, n: Sequence[float] | np.ndarray) -> FunnelLimits:
    """Exact binomial limits around the proportion ``p0`` (0-1) for denominators ``n``."""
    if not 0 <= p0 <= 1:
        raise ValueError(f"p0 must be a proportion in [0, 1], not {p0}")
    sizes = np.asarray(n, dtype=float)
    if (sizes <= 0).any():
        raise ValueError("every denominator must be positive")
    return _limits(stats.binom(sizes.astype(np.int64), p0), sizes, cap=1.0)


def rate_limits(r0: float, n: Sequence[float] | np.ndarray) -> FunnelLimits:
    """Exact Poisson limits around the per-person rate ``r0`` for populations ``n``."""
    if r0 < 0:
        raise ValueError(f"r0 must not be negative, not {r0}")
    sizes = np.asarray(n, dtype=float)
    if (sizes <= 0).any():
        raise ValueError("every population must be positive")
    return _limits(stats.poisson(r0 * sizes), sizes, cap=None)


def classify(
    value: float, lower_95: float, upper_95: float, lower_998: float, upper_998: float
) -> str:
    """Where a point sits: ``high_998``, ``high_95``, ``within``, ``low_95`` or ``low_998``.

    A point exactly on a limit is within it."""
    if value > upper_998:
        return "high_998"
    if value > upper_95:
        return "high_95"
    if value < lower_998:
        return "low_998"
    if value < lower_95:
        return "low_95"
    return "within"


FLAG_LABELS = {
    "high_998": "Above the 99.8% limit",
    "high_95": "Above the 95% limit",
    "within": "Within the limits",
    "low_95": "Below the 95% limit",
    "low_998": "Below the 99.8% limit",
}


def curve_sizes(smallest: float, largest: float, points: int = 60) -> np.ndarray:
    """Denominators at which to draw the funnel: log-spaced whole numbers across the range."""
    lo = max(1.0, float(smallest) * 0.8)
    hi = max(lo + 1, float(largest) * 1.1)
    return np.unique(np.round(np.geomspace(lo, hi, points)))
