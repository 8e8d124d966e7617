"""Directly standardised rates, Poisson and Wilson limits and the slope index of inequality,
each checked against numbers worked by hand, published table values or an independent
calculation (pandas over people, numpy.polyfit, numerical derivatives)."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from integrated_care.health import standardisation as std

# ESP 2013 per 100,000 (Eurostat 2013), typed in here rather than read from the package
ESP = [5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000, 7000, 6500, 6000,
       5500, 5000, 4000, 2500, 1500, 1000]  # fmt: skip


def test_esp2013_file_holds_the_published_weights() -> None:
    esp = std.esp2013()
    assert esp.weights.tolist() == ESP
    assert esp.weights.sum() == 100_000
    assert esp.labels[0] == "0-4" and esp.labels[-1] == "90+"
    assert "Eurostat" in esp.source


def test_poisson_limits_match_published_tables() -> None:
    # exact 95% limits for 0, 5 and 10 events (e.g. Documenta Geigy / Garwood tables)
    lo, hi = std.exact_poisson_limits(np.array([0, 5, 10]))
    np.testing.assert_allclose(lo, [0, 1.6235, 4.7954], atol=1e-4)
    np.testing.assert_allclose(hi, [3.6889, 11.6683, 18.3904], atol=1e-4)
    # Byar's approximation is within 1% of exact from about 10 events
    blo, bhi = std.byars_limits(np.array([10, 100, 1000]))
    elo, ehi = std.exact_poisson_limits(np.array([10, 100, 1000]))
    np.testing.assert_allclose(blo, elo, rtol=0.01)
    np.testing.assert_allclose(bhi, ehi, rtol=0.01)
    # Byar's by hand for O = 100: 100 (1 - 1/900 - 1.96/30)^3 and 101 (1 - 1/909 + 1.96/30.15)^3
    z = 1.959963985
    assert blo[1] == pytest.approx(100 * (1 - 1 / 900 - z / 30) ** 3, rel=1e-9)
    assert bhi[1] == pytest.approx(101 * (1 - 1 / 909 + z / (3 * np.sqrt(101))) ** 3, rel=1e-9)


def test_wilson_interval_matches_the_published_example() -> None:
    # 8 of 10: 0.490 to 0.943 (Newcombe 1998, Table I style; Wilson 1927)
    lo, hi = std.wilson_interval(np.array([8]), np.array([10]))
    assert lo[0] == pytest.approx(0.4902, abs=1e-4)
    assert hi[0] == pytest.approx(0.9433, abs=1e-4)


def test_dsr_by_hand_with_two_bands() -> None:
    # bands with weights 1 and 1: rates 10/1000 and 20/4000 -> DSR 0.0075
    r = std.dsr([10, 20], [1000, 4000], weights=np.array([1.0, 1.0]), multiplier=1, method="exact")
    assert r.dsr == pytest.approx(0.0075)
    assert r.crude_rate == pytest.approx(30 / 5000)
    var = (10 / 1000**2 + 20 / 4000**2) / 4  # sum w^2 O / n^2 / (sum w)^2
    lo_o, hi_o = 20.2409, 42.8269  # exact 95% Poisson limits of 30 events
    assert r.lower == pytest.approx(0.0075 + np.sqrt(var / 30) * (lo_o - 30), rel=1e-4)
    assert r.upper == pytest.approx(0.0075 + np.sqrt(var / 30) * (hi_o - 30), rel=1e-4)


def test_dsr_of_a_constant_rate_is_that_rate_and_fewer_than_ten_events_give_none() -> None:
    pop = np.arange(1, 20) * 100.0
    r = std.dsr(pop * 0.02, pop, multiplier=100)
    assert r.dsr == pytest.approx(2.0)
    assert r.lower < 2.0 < r.upper
    assert std.dsr(np.r_[9, np.zeros(18)], pop).dsr is None
    with pytest.raises(ValueError, match="no population"):
        std.dsr(np.r_[1, np.zeros(18)], np.r_[0, pop[1:]])


def _people(seed: int = 3, n: int = 6000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(0, 101, n)
    area = rng.choice(["young", "old"], n)
    age = np.where(area == "old", np.minimum(age + 25, 100), age)
    events = rng.poisson(0.002 * np.exp(age / 18))
    return pd.DataFrame({"age": age, "area": area, "events": events})


def _by_hand(frame: pd.DataFrame) -> float:
    bins = [*range(0, 95, 5), 1000]
    band = pd.cut(frame["age"], bins=bins, right=False, labels=False)
    per_band = frame.groupby(band)["events"].agg(["sum", "count"]).reindex(range(19), fill_value=0)
    rates = np.where(per_band["count"] > 0, per_band["sum"] / per_band["count"].clip(lower=1), 0)
    return float(np.dot(rates, ESP) / 100_000 * 100_000)


def test_ibis_dsr_per_group_matches_an_independent_pandas_calculation() -> None:
    people = _people()
    result = std.directly_standardised_rates(ibis.memtable(people), ["area"], "events")
    result = result.set_index("area")
    for area, frame in people.groupby("area"):
        assert result.loc[area, "dsr"] == pytest.approx(_by_hand(frame), rel=1e-9)
        assert result.loc[area, "numerator"] == frame["events"].sum()
        assert result.loc[area, "denominator"] == len(frame)
    # the old area's crude rate is far higher; standardising removes most of the age effect
    crude_ratio = result.loc["old", "crude_rate"] / result.loc["young", "crude_rate"]
    dsr_ratio = result.loc["old", "dsr"] / result.loc["young", "dsr"]
    assert crude_ratio > 2 and abs(dsr_ratio - 1) < 0.35


def test_person_count_dsr_is_an_age_standardised_prevalence() -> None:
    people = pd.DataFrame(
        {"age": [2, 2, 50, 50, 50, 95], "g": ["a"] * 6, "flag": [1, 0, 1, 1, 0, 1]}
    )
    counts = std.band_counts(ibis.memtable(people), ["g"], "flag").execute()
    out = std.standardise(counts, ["g"], multiplier=100, min_events=0)
    expected = (0.5 * 5000 + (2 / 3) * 7000 + 1.0 * 1000) / 100_000 * 100
    assert out["dsr"].iloc[0] == pytest.approx(expected)


def test_sii_of_an_exact_linear_gradient() -> None:
    pop = np.array([800, 1200, 900, 1500, 600, 1000, 1100, 700, 1300, 900], dtype=float)
    x = std.cumulative_midpoints(pop)
    assert x[0] == pytest.approx(400 / pop.sum())
    values = 50 - 20 * x  # 50 at the most deprived end, 30 at the least
    s = std.slope_index(values, pop, se=np.full(10, 1.0), n_sim=20_000)
    assert s.sii == pytest.approx(20)
    assert s.rii == pytest.approx(50 / 30)
    slope, intercept = np.polyfit(x, values + np.sin(np.arange(10)), 1, w=np.sqrt(pop))
    noisy = std.slope_index(values + np.sin(np.arange(10)), pop, se=np.ones(10), method="analytic")
    assert noisy.sii == pytest.approx(-slope)
    assert noisy.rii == pytest.approx(intercept / (intercept + slope))


def test_sii_confidence_interval_by_simulation_agrees_with_numerical_derivatives() -> None:
    pop = np.array([800, 1200, 900, 1500, 600, 1000, 1100, 700, 1300, 900], dtype=float)
    values = np.array([31, 29, 27.5, 26, 25, 23, 22.5, 21, 19, 18.0])
    se = np.linspace(0.5, 1.5, 10)
    x = std.cumulative_midpoints(pop)

    def sii_of(y: np.ndarray) -> float:
        return -np.polyfit(x, y, 1, w=np.sqrt(pop))[0]

    grad = np.array([(sii_of(values + 1e-4 * e) - sii_of(values)) / 1e-4 for e in np.eye(10)])
    sd = np.sqrt(((grad * se) ** 2).sum())
    sim = std.slope_index(values, pop, se=se, n_sim=200_000, seed=1)
    assert sim.sii_lower == pytest.approx(sim.sii - 1.959964 * sd, rel=0.01)
    assert sim.sii_upper == pytest.approx(sim.sii + 1.959964 * sd, rel=0.01)
    analytic = std.slope_index(values, pop, se=se, method="analytic")
    assert analytic.sii_upper - analytic.sii == pytest.approx(1.959964 * sd, rel=1e-4)
    assert sim.rii_lower < sim.rii < sim.rii_upper
    assert analytic.rii_lower == pytest.approx(sim.rii_lower, rel=0.03)  # a ratio: skewed
    # the group CIs can stand in for the SEs, as in the PHE tool
    from_ci = std.slope_index(values, pop, lower=values - 1.959964 * se,
                              upper=values + 1.959964 * se, method="analytic")  # fmt: skip
    assert from_ci.sii_upper == pytest.approx(analytic.sii_upper, rel=1e-6)


def test_sii_interval_covers_the_true_slope_at_about_95_percent() -> None:
    rng = np.random.default_rng(8)
    pop = rng.integers(500, 2000, 10).astype(float)
    truth = 50 - 20 * std.cumulative_midpoints(pop)
    se = np.full(10, 2.0)
    hits = sum(
        (
            s := std.slope_index(truth + rng.normal(0, 2, 10), pop, se=se, n_sim=4000, seed=i)
        ).sii_lower
        <= 20
        <= s.sii_upper
        for i in range(400)
    )
    assert 0.92 <= hits / 400 <= 0.98


def test_rii_has_no_finite_limits_when_the_least_deprived_end_can_reach_zero() -> None:
    pop = np.full(10, 100.0)
    values = np.linspace(6, 0.5, 10)  # a percentage falling to near 0 in the least deprived
    for method in ("simulation", "analytic"):
        s = std.slope_index(values, pop, se=np.full(10, 3.0), method=method, n_sim=20_000)
        assert np.isfinite(s.sii_lower) and np.isfinite(s.sii_upper)
        assert np.isnan(s.rii_lower) and np.isnan(s.rii_upper)
        tight = std.slope_index(values, pop, se=np.full(10, 0.05), method=method, n_sim=20_000)
        assert tight.rii_lower < tight.rii < tight.rii_upper
