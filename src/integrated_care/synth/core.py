"""Shared plumbing: seeded random streams, the simulation calendar, small vectorised helpers."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np

NEVER = np.iinfo(np.int32).max  # "no date" in int32 day arrays (alive, condition absent, ...)
EPOCH = date(1970, 1, 1)
DAYS_PER_YEAR = 365.25


def rng(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent random stream for one named part of the generator.

    Each stage draws from its own stream, so changing one stage never perturbs another and the
    same seed always gives the same output.
    """
    spawn = tuple(k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=spawn)))


def day(d: date) -> int:
    return (d - EPOCH).days


def to_date(days: int) -> date:
    return date.fromordinal(EPOCH.toordinal() + int(days))


@dataclass(frozen=True)
class Calendar:
    """The simulated window: ``years`` whole financial years ending on ``end`` (31 March)."""

    years: int
    end_year: int = 2026

    @property
    def start(self) -> int:
        return day(date(self.end_year - self.years, 4, 1))

    @property
    def end(self) -> int:
        return day(date(self.end_year, 3, 31))

    def year_bounds(self, t: int) -> tuple[int, int]:
        """First and last day of simulated year t (0-based)."""
        y = self.end_year - self.years + t
        return day(date(y, 4, 1)), day(date(y + 1, 3, 31))

    def financial_year(self, t: int) -> str:
        y = self.end_year - self.years + t
        return f"{y}/{(y + 1) % 100:02d}"


def first_of_month(days: np.ndarray) -> np.ndarray:
    """Round int day numbers down to the first of their month."""
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int32)


def age_years(dob: np.ndarray, at: int | np.ndarray) -> np.ndarray:
    return (np.asarray(at, dtype=np.float64) - dob) / DAYS_PER_YEAR


def choice(r: np.random.Generator, p: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn from probabilities p (vectorised inverse-CDF)."""
    cdf = np.cumsum(p, dtype=np.float64)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, r.random(size), side="right"), len(p) - 1)


def uniform_day(r: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A uniformly random day in [lo, hi] (inclusive) for each pair."""
    span = np.maximum(hi - lo + 1, 1).astype(np.float64)
    return (lo + np.floor(r.random(len(lo)) * span)).astype(np.int32)


def group_mean(values: np.ndarray, groups: np.ndarray, n_groups: int, weights=None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Weighted mean of values within each group (NaN-free: empty groups give 1)."""
    w = np.ones_like(values) if weights is None else weights
    num = np.bincount(groups, weights=values * w, minlength=n_groups)
    den = np.bincount(groups, weights=w, minlength=n_groups)
    return np.where(den > 0, num / np.where(den > 0, den, 1), 1.0)


def logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def solve_intercepts(
    eta: np.ndarray, groups: np.ndarray, targets: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Intercepts a_g with sum_i w_i * logistic(a_g + eta_i) = targets[g] within each group g.

    Damped Newton on each group's (monotone) expected count; groups with no members or a zero
    target get a very low intercept.
    """
    n_groups = len(targets)
    a = np.zeros(n_groups)
    have = np.bincount(groups, weights=weights, minlength=n_groups)
    share = np.clip(targets / np.where(have > 0, have, 1), 1e-6, 1 - 1e-6)
    a = np.log(share / (1 - share)) - group_mean(eta, groups, n_groups, weights)
    for _ in range(30):
        p = logistic(a[groups] + eta)
        wp = weights * p
        f = np.bincount(groups, weights=wp, minlength=n_groups) - targets
        if np.all(np.abs(f) <= 1e-4 * np.maximum(targets, 1.0)):
            break
        d = np.bincount(groups, weights=wp * (1 - p), minlength=n_groups)
        a -= np.clip(f / np.maximum(d, 1e-9), -2.0, 2.0)
    return np.where((have > 0) & (targets > 0), a, -30.0)
