"""Positions checked against a hand calculation on two small organisations.

Trust A (control total 150) at month 3. Plan every month: income 100, pay 60, non-pay 30,
efficiency savings 5, so a surplus of 15 a month and 180 for the year (45 to date).
Actuals: income 100, 100, 110 (+ a one-off 20 in May), pay 62, 61, 63, non-pay 30 each,
savings 2 each: surpluses 10, 31, 19 = 60 to date (15 better than plan).
Forecast for July to February: income 100, pay 62, non-pay 31, savings 3 = 10 a month (80);
none for March, so March counts at plan (15). Outturn 60 + 80 + 15 = 155: 25 worse than plan,
5 better than the control total. Without the one-off, the underlying outturn is 135.

Trust B (control total 0) has sent April and May only, and no forecast. Plan: income 50 and
pay 50 a month (break-even). Actual: income 50, pay 55 (-5 a month). June is unreported and
counts at plan (0), as do July to March. Outturn -10: it fails both duties.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from integrated_care.finance.chart import Figure
from integrated_care.finance.positions import (
    latest_actual_month,
    position,
    system_position,
    waterfall,
)
from tests.finance.conftest import D

A, B = "RA1", "RB2"


def figs(org: str, kind: str, months, **lines: object) -> list[Figure]:  # type: ignore[no-untyped-def]
    out = []
    for i, m in enumerate(months):
        for line, amount in lines.items():
            value = amount[i] if isinstance(amount, list | tuple) else amount
            out.append(Figure(org, m, line, kind, D(value)))
    return out


def trust_a() -> list[Figure]:
    year = range(1, 13)
    return [
        *figs(A, "plan", year, income=100, pay=60, non_pay=30, efficiency=5),
        *figs(
            A,
            "actual",
            [1, 2, 3],
            income=[100, 100, 110],
            pay=[62, 61, 63],
            non_pay=30,
            efficiency=2,
        ),
        Figure(A, 2, "income", "actual", D(20), recurrent=False),
        *figs(A, "forecast", range(4, 12), income=100, pay=62, non_pay=31, efficiency=3),
        # An old forecast for a month since reported is ignored.
        *figs(A, "forecast", [3], income=999),
    ]


def trust_b() -> list[Figure]:
    return [
        *figs(B, "plan", range(1, 13), income=50, pay=50),
        *figs(B, "actual", [1, 2], income=50, pay=55),
    ]


def test_one_organisation_against_the_hand_calculation() -> None:
    p = position(trust_a(), D(150), 3, A)
    assert (p.plan_ytd, p.actual_ytd, p.variance_ytd) == (D(45), D(60), D(15))
    assert (p.plan_full_year, p.forecast_outturn, p.forecast_variance) == (D(180), D(155), D(-25))
    assert (p.control_total, p.variance_to_control_total, p.plan_gap_to_control_total) == (
        D(150),
        D(5),
        D(30),
    )
    assert p.breaks_even and p.meets_control_total
    assert (p.underlying_outturn, p.non_recurrent_outturn) == (D(135), D(20))
    assert (p.underlying_plan, p.non_recurrent_plan) == (D(180), D(0))
    assert p.variance_ytd_by_driver == {
        "income": D(30),
        "pay": D(-6),
        "non_pay": D(0),
        "efficiency": D(-9),
        "activity": D(0),
        "inflation": D(0),
        "industrial_action": D(0),
        "other": D(0),
    }
    drivers = p.forecast_variance_by_driver
    assert (drivers["income"], drivers["pay"], drivers["non_pay"], drivers["efficiency"]) == (
        D(30),
        D(-22),
        D(-8),
        D(-25),
    )
    assert sum(drivers.values()) == p.forecast_variance
    # Run-rate over the latest three months: surpluses 10, 31, 19 (mean 20); variances -5, 16,
    # 4 (mean 5), carried through the nine months left: 180 + 15 + 45.
    assert (p.run_rate_monthly, p.run_rate_variance_monthly, p.run_rate_outturn) == (
        D(20),
        D(5),
        D(240),
    )
    assert (p.unreported_months, p.months_at_plan) == ([], [12])
    assert [m.outturn for m in p.months] == [D(v) for v in (10, 31, 19, *[10] * 8, 15)]
    assert [m.actual for m in p.months[:4]] == [D(10), D(31), D(19), None]
    assert [m.forecast for m in p.months[2:4]] == [None, D(10)]


def test_a_late_return_counts_at_plan_and_is_flagged() -> None:
    p = position(trust_b(), D(0), 3, B)
    assert (p.actual_ytd, p.forecast_outturn, p.variance_to_control_total) == (
        D(-10),
        D(-10),
        D(-10),
    )
    assert not p.breaks_even and not p.meets_control_total
    assert p.unreported_months == [3] and p.months_at_plan == list(range(4, 13))
    assert p.run_rate_outturn == D(0) + D(-10) + D(-5) * 9


def test_the_system_is_the_sum_of_its_organisations() -> None:
    sp = system_position("2026/27", trust_a() + trust_b(), {A: D(150), B: D(0)})
    s = sp.system
    assert sp.as_at_month == 3 == latest_actual_month(trust_a() + trust_b())
    assert [o.org_code for o in sp.organisations] == [A, B]
    assert (s.control_total, s.plan_full_year, s.forecast_outturn) == (D(150), D(180), D(145))
    assert (s.actual_ytd, s.variance_ytd) == (D(50), D(5))
    # The system breaks even in aggregate but misses its control total, although A meets its.
    assert s.breaks_even and not s.meets_control_total
    assert s.variance_to_control_total == D(-5)
    for name in ("plan_ytd", "actual_ytd", "forecast_outturn", "underlying_outturn"):
        assert getattr(s, name) == sum(getattr(o, name) for o in sp.organisations)
    assert s.months[0].outturn == D(10) + D(-5)
    assert s.organisations == 2 and s.unreported_months == [3]


def test_an_organisation_with_only_a_control_total_is_in_the_system() -> None:
    sp = system_position("2026/27", trust_a(), {A: D(150), B: D(-40)})
    assert sp.system.control_total == D(110)
    assert sp.organisations[1].forecast_outturn == D(0)


def test_the_waterfall_walks_from_plan_to_outturn() -> None:
    steps = waterfall(position(trust_a(), D(150), 3, A))
    assert [(s.label, s.start, s.end) for s in steps] == [
        ("Plan", D(0), D(180)),
        ("Income", D(180), D(210)),
        ("Pay", D(210), D(188)),
        ("Non-pay", D(188), D(180)),
        ("Efficiency shortfall", D(180), D(155)),
        ("Forecast outturn", D(0), D(155)),
    ]


pence = st.integers(-(10**9), 10**9).map(lambda p: Decimal(p) / 100)
figure = st.builds(
    Figure,
    st.sampled_from(["O1", "O2", "O3"]),
    st.integers(1, 12),
    st.sampled_from(["income", "pay", "non_pay", "efficiency", "industrial_action"]),
    st.sampled_from(["plan", "actual", "forecast"]),
    pence,
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(figure, max_size=60), st.integers(0, 12))
def test_drivers_add_up_and_the_system_sums_exactly(figures: list[Figure], month: int) -> None:
    sp = system_position("2026/27", figures, {"O1": D("1.00")}, month)
    for p in (*sp.organisations, sp.system):
        assert sum(p.forecast_variance_by_driver.values()) == p.forecast_variance
        assert sum(p.variance_ytd_by_driver.values()) == p.variance_ytd
        assert sum(m.outturn for m in p.months) == p.forecast_outturn
        assert p.underlying_outturn + p.non_recurrent_outturn == p.forecast_outturn
    assert sp.system.forecast_outturn == sum(o.forecast_outturn for o in sp.organisations)
    assert sp.system.control_total == D("1.00")
