"""Directly age-standardised rates and the slope index of inequality, as PHE/OHID Fingertips
computes them (PHEindicatormethods ``phe_dsr``, ``phe_proportion`` and the PHE SII tool).

Counting happens in Ibis (one small aggregate per group and 5-year age band, so it runs on DuckDB
and Spark alike); the statistics are numpy/scipy over those counts.

- **DSR**: ``sum_i w_i * O_i / n_i / sum_i w_i * multiplier`` with the 2013 European Standard
  Population (``data/esp2013.csv``) weights ``w_i``.
- **95% CI** (Dobson et al. 1991): ``DSR + sqrt(var(DSR) / O) * (O_limit - O)`` where
  ``var(DSR) = sum_i w_i^2 O_i / n_i^2 / (sum_i w_i)^2`` and ``O_limit`` are the limits of a
  Poisson count ``O = sum_i O_i``: Byar's approximation (as ``phe_dsr``) or exact (chi-square).
  Fingertips does not publish a DSR from fewer than 10 events; neither do we (``min_events``).
- **Proportions**: Wilson score interval (as ``phe_proportion``).
- **SII / RII**: weighted least squares of the group values on the midpoints of the groups'
  cumulative population shares, most deprived at 0, weights = population; the CI by simulating
  each group's value from its own CI (as the PHE SII tool) or analytically.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import ibis
import numpy as np
import pandas as pd
from ibis.expr.types import Table
from scipy import stats

DATA = Path(__file__).parent / "data"
PoissonMethod = Literal["byar", "exact"]
_DSR_COLUMNS = ["numerator", "denominator", "crude_rate", "dsr", "lower", "upper"]


@dataclass(frozen=True)
class StandardPopulation:
    labels: tuple[str, ...]
    age_from: tuple[int, ...]
    weights: np.ndarray
    source: str

    @property
    def bands(self) -> int:
        return len(self.labels)


@cache
def esp2013() -> StandardPopulation:
    with (DATA / "esp2013.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return StandardPopulation(
        labels=tuple(r["age_band"] for r in rows),
        age_from=tuple(int(r["age_from"]) for r in rows),
        weights=np.array([float(r["weight"]) for r in rows]),
        source=rows[0]["source"],
    )


def age_band(age: ibis.Value) -> ibis.Value:
    """The ESP 2013 band index (0 = 0-4 ... 18 = 90+) of an Ibis age in whole years."""
    last = esp2013().bands - 1
    return ibis.least((age // 5).cast("int64"), last)


def z_value(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def byars_limits(observed: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation to the exact Poisson limits of a count."""
    o = np.asarray(observed, dtype=float)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(o > 0, o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0)
    o1 = o + 1
    upper = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
    return lower, upper


def exact_poisson_limits(
    observed: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) Poisson limits from the chi-square distribution."""
    o = np.asarray(observed, dtype=float)
    alpha = 1 - confidence
    lower = np.where(o > 0, stats.chi2.ppf(alpha / 2, 2 * np.maximum(o, 1e-300)) / 2, 0.0)
    upper = stats.chi2.ppf(1 - alpha / 2, 2 * o + 2) / 2
    return lower, upper


def poisson_limits(
    observed: np.ndarray, confidence: float = 0.95, method: PoissonMethod = "byar"
) -> tuple[np.ndarray, np.ndarray]:
    if method == "byar":
        return byars_limits(observed, confidence)
    if method == "exact":
        return exact_poisson_limits(observed, confidence)
    raise ValueError(f"unknown Poisson method {method!r}")


def wilson_interval(
    numerator: np.ndarray, denominator: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score limits of a proportion (0-1); NaN where the denominator is 0."""
    x = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (2 * x + z**2) / (2 * (n + z**2))
        half = z * np.sqrt(z**2 + 4 * x * (1 - p)) / (2 * (n + z**2))
    return centre - half, centre + half


@dataclass(frozen=True)
class DirectlyStandardisedRate:
    events: float
    population: float
    crude_rate: float
    dsr: float | None  # None below min_events, as Fingertips
    lower: float | None
    upper: float | None
    multiplier: float
    confidence: float
    method: str


def dsr(
    events: Sequence[float] | np.ndarray,
    population: Sequence[float] | np.ndarray,
    *,
    weights: np.ndarray | None = None,
    multiplier: float = 100_000,
    confidence: float = 0.95,
    method: PoissonMethod = "byar",
    min_events: int = 10,
) -> DirectlyStandardisedRate:
    """The DSR of one group from its events and population per standard age band.

    A band with no population contributes a rate of 0 (it has no events either); a band with
    events but no population is an error.
    """
    w = esp2013().weights if weights is None else np.asarray(weights, dtype=float)
    o = np.asarray(events, dtype=float)
    n = np.asarray(population, dtype=float)
    if not (len(o) == len(n) == len(w)):
        raise ValueError("events, population and weights need one value per age band")
    if np.any((n == 0) & (o > 0)):
        raise ValueError("events in an age band with no population")
    total_o, total_n = float(o.sum()), float(n.sum())
    crude = total_o / total_n * multiplier if total_n > 0 else float("nan")
    if total_o < min_events or total_n == 0:
        return DirectlyStandardisedRate(
            total_o, total_n, crude, None, None, None, multiplier, confidence, method
        )
    safe_n = np.where(n > 0, n, 1.0)
    rate = np.where(n > 0, o / safe_n, 0.0)
    value = float((w * rate).sum() / w.sum())
    var = float((w**2 * o / safe_n**2).sum() / w.sum() ** 2)
    lo_o, hi_o = poisson_limits(np.array(total_o), confidence, method)
    scale = np.sqrt(var / total_o)
    return DirectlyStandardisedRate(
        events=total_o,
        population=total_n,
        crude_rate=crude,
        dsr=value * multiplier,
        lower=float(value + scale * (lo_o - total_o)) * multiplier,
        upper=float(value + scale * (hi_o - total_o)) * multiplier,
        multiplier=multiplier,
        confidence=confidence,
        method=f"Dobson with {'Byar' if method == 'byar' else 'exact Poisson'} limits",
    )


def band_counts(table: Table, by: Sequence[str], events: str | None = None) -> Table:
    """Events and population per group and ESP band, from a one-row-per-person table with
    ``age``; ``events`` names a numeric (or boolean) column to sum, else each person counts 1."""
    people = table.filter(table.age.notnull()).mutate(esp_band=age_band(table.age))
    measure = (people[events].cast("int64").sum() if events is not None else people.count()).name(
        "events"
    )
    return people.group_by([*by, "esp_band"]).aggregate(events=measure, population=people.count())


def standardise(
    counts: pd.DataFrame,
    by: Sequence[str],
    *,
    multiplier: float = 100_000,
    confidence: float = 0.95,
    method: PoissonMethod = "byar",
    min_events: int = 10,
) -> pd.DataFrame:
    """One DSR row per group from ``band_counts`` output (missing bands count as empty)."""
    bands = esp2013().bands
    rows = []
    keys = list(by)
    grouped = counts.groupby(keys, dropna=False, sort=True) if keys else [((), counts)]
    for key, frame in grouped:
        o = np.zeros(bands)
        n = np.zeros(bands)
        idx = frame["esp_band"].to_numpy(dtype=int)
        np.add.at(o, idx, frame["events"].to_numpy(dtype=float))
        np.add.at(n, idx, frame["population"].to_numpy(dtype=float))
        r = dsr(
            o,
            n,
            multiplier=multiplier,
            confidence=confidence,
            method=method,
            min_events=min_events,
        )
        key = key if isinstance(key, tuple) else (key,)
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "numerator": r.events,
                "denominator": r.population,
                "crude_rate": r.crude_rate,
                "dsr": r.dsr,
                "lower": r.lower,
                "upper": r.upper,
            }
        )
    return pd.DataFrame(rows, columns=[*keys, *_DSR_COLUMNS])


def directly_standardised_rates(
    table: Table,
    by: Sequence[str],
    events: str | None = None,
    **options: object,
) -> pd.DataFrame:
    """DSRs per group of a one-row-per-person Ibis table (``age`` plus the ``by`` columns)."""
    counts = band_counts(table, by, events).execute()
    return standardise(counts, by, **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SlopeIndex:
    sii: float  # fitted value at the most deprived end minus at the least deprived end
    sii_lower: float
    sii_upper: float
    rii: float  # fitted value at the most deprived end / at the least deprived end
    rii_lower: float
    rii_upper: float
    method: str


def cumulative_midpoints(population: np.ndarray) -> np.ndarray:
    """Midpoint of each group's share of the cumulative population (groups most deprived first)."""
    p = np.asarray(population, dtype=float)
    share = p / p.sum()
    return np.cumsum(share) - share / 2


def _operator(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The 2 x k matrix taking group values to the WLS (intercept, slope)."""
    design = np.column_stack([np.ones_like(x), x])
    xtw = design.T * w
    return np.linalg.solve(xtw @ design, xtw)


def slope_index(
    values: Sequence[float] | np.ndarray,
    population: Sequence[float] | np.ndarray,
    *,
    se: Sequence[float] | np.ndarray | None = None,
    lower: Sequence[float] | np.ndarray | None = None,
    upper: Sequence[float] | np.ndarray | None = None,
    confidence: float = 0.95,
    method: Literal["simulation", "analytic"] = "simulation",
    n_sim: int = 100_000,
    seed: int = 0,
) -> SlopeIndex:
    """SII and RII of group values ordered most deprived first (e.g. IMD decile 1 ... 10).

    Each group's standard error is ``se`` or, as the PHE tool does, taken from its CI
    ``(upper - lower) / (2 z)``.
    """
    y = np.asarray(values, dtype=float)
    pop = np.asarray(population, dtype=float)
    if len(y) < 3 or len(pop) != len(y):
        raise ValueError("need a value and a population for at least three groups")
    z = z_value(confidence)
    if se is None:
        if lower is None or upper is None:
            raise ValueError("give se, or lower and upper")
        se = (np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)) / (2 * z)
    sd = np.asarray(se, dtype=float)
    op = _operator(cumulative_midpoints(pop), pop)
    intercept, slope = op @ y
    sii = -slope
    least = intercept + slope
    rii = intercept / least if least > 0 else float("nan")
    if method == "analytic":
        sii_se = float(np.sqrt(((op[1] * sd) ** 2).sum()))
        least_se = float(np.sqrt(((op.sum(axis=0) * sd) ** 2).sum()))
        rii_se = float("nan")
        if least - z * least_se > 0:
            grad = np.array([slope, -intercept]) / least**2  # d rii / d (a, b)
            rii_se = float(np.sqrt((((grad @ op) * sd) ** 2).sum()))
        return SlopeIndex(
            sii, sii - z * sii_se, sii + z * sii_se, rii, rii - z * rii_se, rii + z * rii_se, method
        )
    rng = np.random.default_rng(seed)
    sims = y + rng.standard_normal((n_sim, len(y))) * sd
    coef = sims @ op.T
    sim_sii = -coef[:, 1]
    q = [50 * (1 - confidence), 50 * (1 + confidence)]
    s_lo, s_hi = np.percentile(sim_sii, q)
    r_lo = r_hi = float("nan")
    sim_least = coef[:, 0] + coef[:, 1]
    # A ratio whose denominator can reach 0 within the CI has no finite limits.
    if np.percentile(sim_least, q[0]) > 0:
        r_lo, r_hi = np.percentile(coef[:, 0] / sim_least, q)
    return SlopeIndex(
        float(sii), float(s_lo), float(s_hi), float(rii), float(r_lo), float(r_hi), method
    )
