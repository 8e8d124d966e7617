"""Financial positions: year to date and forecast outturn, against plan and control total.

Pure functions over the figures in force (:class:`~integrated_care.finance.chart.Figure`);
every amount is a ``Decimal`` and every total is an exact sum. A position is a surplus (+) or
deficit (-): income and savings add, costs take away (the chart's signs). A variance is
favourable when positive.

How each month counts, for an organisation at month M of the year:

- a month up to M with any actual figure is *reported*: its actuals count (a line with no
  actual counts as 0);
- a month up to M with no actuals yet (a late return) counts at its forecast, or its plan if
  there is no forecast, and is listed in ``unreported_months``;
- a month after M counts at its forecast if the organisation gave one for that month (lines
  left out count as 0), otherwise at plan, listed in ``months_at_plan``.

The forecast outturn is the sum of the twelve months so counted. The system's position is the
sum of its organisations' positions, figure by figure, and its control total is the sum of
theirs, so no view can disagree with another. Two duties are shown: each organisation breaking
even on its own (outturn >= 0) and the system breaking even in aggregate; and, for each, whether
the control total is delivered (outturn >= control total).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from integrated_care.finance.chart import Figure, chart

ZERO = Decimal("0.00")
RUN_RATE_MONTHS = 3


@dataclass(frozen=True)
class MonthPosition:
    month: int
    plan: Decimal
    actual: Decimal | None  # reported months only
    forecast: Decimal | None  # months after the position's month, as counted
    outturn: Decimal  # what the month counts for in the forecast outturn


@dataclass(frozen=True)
class Position:
    """One organisation's position (``org_code``) or the system's (``org_code`` None)."""

    org_code: str | None
    as_at_month: int
    plan_ytd: Decimal
    actual_ytd: Decimal
    variance_ytd: Decimal
    plan_full_year: Decimal
    forecast_outturn: Decimal
    forecast_variance: Decimal  # outturn - plan for the year
    control_total: Decimal | None
    plan_gap_to_control_total: Decimal | None  # plan - control total
    variance_to_control_total: Decimal | None  # outturn - control total
    breaks_even: bool
    meets_control_total: bool | None
    underlying_outturn: Decimal  # recurrent figures only
    non_recurrent_outturn: Decimal
    underlying_plan: Decimal
    non_recurrent_plan: Decimal
    run_rate_monthly: Decimal | None  # mean surplus of the latest reported months
    run_rate_variance_monthly: Decimal | None  # their mean variance against plan
    run_rate_outturn: Decimal | None  # plan + variance to date + that variance carried on
    variance_ytd_by_driver: dict[str, Decimal]
    forecast_variance_by_driver: dict[str, Decimal]
    months: list[MonthPosition]
    unreported_months: list[int] = field(default_factory=list)
    months_at_plan: list[int] = field(default_factory=list)
    organisations: int = 1


def _effect(figs: Iterable[Figure], *, recurrent: bool | None = None) -> Decimal:
    total = ZERO
    for f in figs:
        if recurrent is None or f.recurrent == recurrent:
            total += f.surplus_effect
    return total


def _by_driver(figs: Iterable[Figure], sign: int) -> dict[str, Decimal]:
    lines = chart().lines
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for f in figs:
        out[lines[f.line].driver] += sign * f.surplus_effect
    return out


def latest_actual_month(figures: Iterable[Figure]) -> int:
    """The latest month with any actual figure (0 if none yet)."""
    return max((f.month for f in figures if f.kind == "actual"), default=0)


def _counted(
    by_kind: dict[str, dict[int, list[Figure]]], as_at_month: int
) -> tuple[dict[int, list[Figure]], dict[int, str]]:
    """Each month's figures as counted in the outturn, and where they came from."""
    counted, source = {}, {}
    for m in range(1, 13):
        if m <= as_at_month and by_kind["actual"].get(m):
            source[m] = "actual"
        elif by_kind["forecast"].get(m):
            source[m] = "forecast"
        else:
            source[m] = "plan"
        counted[m] = by_kind[source[m]].get(m, [])
    return counted, source


def position(
    figures: Sequence[Figure],
    control_total: Decimal | None,
    as_at_month: int,
    org_code: str | None = None,
) -> Position:
    """One organisation's position at `as_at_month` (0: before any month has closed)."""
    if not 0 <= as_at_month <= 12:
        raise ValueError("as_at_month should be 0 to 12")
    by_kind: dict[str, dict[int, list[Figure]]] = {k: defaultdict(list) for k in
                                                   ("plan", "actual", "forecast")}  # fmt: skip
    for f in figures:
        by_kind[f.kind][f.month].append(f)
    counted, source = _counted(by_kind, as_at_month)
    plan = by_kind["plan"]
    months = range(1, 13)
    to_date = range(1, as_at_month + 1)
    plan_ytd = sum((_effect(plan[m]) for m in to_date), ZERO)
    actual_ytd = sum((_effect(counted[m]) for m in to_date), ZERO)
    plan_fy = sum((_effect(plan[m]) for m in months), ZERO)
    outturn = sum((_effect(counted[m]) for m in months), ZERO)
    underlying = sum((_effect(counted[m], recurrent=True) for m in months), ZERO)
    underlying_plan = sum((_effect(plan[m], recurrent=True) for m in months), ZERO)
    ytd_drivers = _merge(
        _by_driver((f for m in to_date for f in counted[m]), 1),
        _by_driver((f for m in to_date for f in plan[m]), -1),
    )
    fy_drivers = _merge(
        _by_driver((f for m in months for f in counted[m]), 1),
        _by_driver((f for m in months for f in plan[m]), -1),
    )
    reported = [m for m in to_date if source[m] == "actual"]
    recent = reported[-RUN_RATE_MONTHS:]
    run_rate = run_var = run_outturn = None
    if recent:
        run_rate = _mean([_effect(counted[m]) for m in recent])
        run_var = _mean([_effect(counted[m]) - _effect(plan[m]) for m in recent])
        run_outturn = plan_fy + (actual_ytd - plan_ytd) + run_var * (12 - as_at_month)
    return Position(
        org_code=org_code,
        as_at_month=as_at_month,
        plan_ytd=plan_ytd,
        actual_ytd=actual_ytd,
        variance_ytd=actual_ytd - plan_ytd,
        plan_full_year=plan_fy,
        forecast_outturn=outturn,
        forecast_variance=outturn - plan_fy,
        control_total=control_total,
        plan_gap_to_control_total=None if control_total is None else plan_fy - control_total,
        variance_to_control_total=None if control_total is None else outturn - control_total,
        breaks_even=outturn >= 0,
        meets_control_total=None if control_total is None else outturn >= control_total,
        underlying_outturn=underlying,
        non_recurrent_outturn=outturn - underlying,
        underlying_plan=underlying_plan,
        non_recurrent_plan=plan_fy - underlying_plan,
        run_rate_monthly=run_rate,
        run_rate_variance_monthly=run_var,
        run_rate_outturn=run_outturn,
        variance_ytd_by_driver=ytd_drivers,
        forecast_variance_by_driver=fy_drivers,
        months=[
            MonthPosition(
                m,
                _effect(plan[m]),
                _effect(counted[m]) if source[m] == "actual" else None,
                _effect(counted[m]) if m > as_at_month else None,
                _effect(counted[m]),
            )
            for m in months
        ],
        unreported_months=[m for m in to_date if source[m] != "actual"],
        months_at_plan=[m for m in months if m > as_at_month and source[m] == "plan"],
    )


def _mean(values: list[Decimal]) -> Decimal:
    return (sum(values, ZERO) / len(values)).quantize(Decimal("0.01"))


def _merge(*parts: dict[str, Decimal]) -> dict[str, Decimal]:
    """Driver totals in the chart's reporting order, every driver present."""
    return {d: sum((p.get(d, ZERO) for p in parts), ZERO) for d in chart().drivers}


@dataclass(frozen=True)
class SystemPosition:
    financial_year: str
    as_at_month: int
    system: Position
    organisations: list[Position]


_SUMMED = {
    "plan_ytd", "actual_ytd", "variance_ytd", "plan_full_year", "forecast_outturn",
    "forecast_variance", "underlying_outturn", "non_recurrent_outturn", "underlying_plan",
    "non_recurrent_plan",
}  # fmt: skip
_SUMMED_OPTIONAL = {"run_rate_monthly", "run_rate_variance_monthly", "run_rate_outturn"}


def _add_optional(values: list[Decimal | None]) -> Decimal | None:
    present = [v for v in values if v is not None]
    return sum(present, ZERO) if present else None


def aggregate(positions: Sequence[Position], as_at_month: int) -> Position:
    """The system's position: the sum of its organisations', with the duties recomputed."""
    totals: dict[str, object] = {name: sum((getattr(p, name) for p in positions), ZERO)
                                 for name in _SUMMED}  # fmt: skip
    for name in _SUMMED_OPTIONAL:
        totals[name] = _add_optional([getattr(p, name) for p in positions])
    with_ct = [p.control_total for p in positions if p.control_total is not None]
    control = sum(with_ct, ZERO) if with_ct else None
    outturn: Decimal = totals["forecast_outturn"]  # type: ignore[assignment]
    plan_fy: Decimal = totals["plan_full_year"]  # type: ignore[assignment]
    months = [
        MonthPosition(
            m,
            sum((p.months[m - 1].plan for p in positions), ZERO),
            _add_optional([p.months[m - 1].actual for p in positions]),
            _add_optional([p.months[m - 1].forecast for p in positions]),
            sum((p.months[m - 1].outturn for p in positions), ZERO),
        )
        for m in range(1, 13)
    ]
    return Position(
        org_code=None,
        as_at_month=as_at_month,
        control_total=control,
        plan_gap_to_control_total=None if control is None else plan_fy - control,
        variance_to_control_total=None if control is None else outturn - control,
        breaks_even=outturn >= 0,
        meets_control_total=None if control is None else outturn >= control,
        variance_ytd_by_driver=_merge(*(p.variance_ytd_by_driver for p in positions)),
        forecast_variance_by_driver=_merge(*(p.forecast_variance_by_driver for p in positions)),
        months=months,
        unreported_months=sorted({m for p in positions for m in p.unreported_months}),
        months_at_plan=sorted({m for p in positions for m in p.months_at_plan}),
        organisations=len(positions),
        **totals,  # type: ignore[arg-type]
    )


def system_position(
    financial_year: str,
    figures: Sequence[Figure],
    control_totals: dict[str, Decimal],
    as_at_month: int | None = None,
) -> SystemPosition:
    """Every organisation's position and the system's, at one month for all (by default the
    latest month any organisation has reported)."""
    month = latest_actual_month(figures) if as_at_month is None else as_at_month
    by_org: dict[str, list[Figure]] = defaultdict(list)
    for f in figures:
        by_org[f.org_code].append(f)
    orgs = sorted(set(by_org) | set(control_totals))
    positions = [position(by_org[o], control_totals.get(o), month, o) for o in orgs]
    return SystemPosition(financial_year, month, aggregate(positions, month), positions)


@dataclass(frozen=True)
class WaterfallStep:
    label: str
    start: Decimal
    end: Decimal
    kind: str  # "total" | "driver"


def waterfall(p: Position) -> list[WaterfallStep]:
    """From the plan for the year to the forecast outturn, one step per driver of variance."""
    steps = [WaterfallStep("Plan", ZERO, p.plan_full_year, "total")]
    level = p.plan_full_year
    labels = chart().drivers
    for driver, amount in p.forecast_variance_by_driver.items():
        if amount:
            steps.append(WaterfallStep(labels[driver], level, level + amount, "driver"))
            level += amount
    steps.append(WaterfallStep("Forecast outturn", ZERO, p.forecast_outturn, "total"))
    return steps
