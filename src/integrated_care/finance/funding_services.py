"""What the pages and API ask of conditional funding and allocations: the rules applied to the
system position, and the ICB budget split by weighted capitation from the marts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.finance import allocations, services
from integrated_care.finance import conditional_funding as cf
from integrated_care.finance.positions import SystemPosition
from integrated_care.settings import Settings


@dataclass(frozen=True)
class FundingView:
    financial_year: str
    as_at_month: int
    provisional: bool  # judged on a forecast, not year-end actuals
    result: cf.FundingResult


def conditional_funding_view(
    session: Session,
    financial_year: str,
    as_at_month: int | None,
    rule: cf.FundingRule,
    allocation: dict[str, Decimal] | None = None,
) -> tuple[SystemPosition, FundingView]:
    """The rule applied to every organisation with a control total (the ICB only if the rule
    includes it), judged on the forecast outturn at the month (year-end actuals at month 12)."""
    view = services.system_view(session, financial_year, as_at_month)
    turnover = services.planned_income(session, financial_year)
    icb = services.icb_code(session)
    allocation = allocation or {}
    orgs = {
        p.org_code: cf.Delivery(
            p.forecast_outturn,
            p.control_total,
            turnover.get(p.org_code, Decimal(0)),
            allocation.get(p.org_code, Decimal(0)),
        )
        for p in view.organisations
        if p.org_code and p.control_total is not None and (rule.include_icb or p.org_code != icb)
    }
    system = view.system
    result = cf.apply(rule, orgs, system.forecast_outturn, system.control_total or Decimal("0.00"))
    provisional = view.as_at_month < 12 or bool(system.unreported_months)
    return view, FundingView(financial_year, view.as_at_month, provisional, result)


@dataclass(frozen=True)
class AllocationView:
    level: str
    parameters_version: str
    as_of: date | None
    budget: Decimal
    budget_source: str
    population: int
    without_unit: int  # registered people with no unit at this level, left out
    lines: list[allocations.AllocationLine]


def unit_names(session: Session, level: str) -> dict[str, str]:
    from integrated_care.footprint.models import FootprintPcn, FootprintPlace, FootprintPractice

    model = {"place": FootprintPlace, "pcn": FootprintPcn, "practice": FootprintPractice}[level]
    rows = session.execute(select(model.code, model.name)).all()  # type: ignore[attr-defined]
    return {code: name for code, name in rows}


def icb_budget(session: Session) -> tuple[Decimal, str] | None:
    """The ICB's planned income for the latest year held (its allocation), if there is one."""
    year = services.current_year(session)
    icb = services.icb_code(session)
    if year is None or icb is None:
        return None
    income = services.planned_income(session, year).get(icb)
    if not income:
        return None
    return income, f"the ICB's planned income for {year}"


def allocation_view(
    session: Session,
    settings: Settings,
    level: str,
    budget: Decimal | None = None,
    params: allocations.CapitationParameters | None = None,
) -> AllocationView:
    """The budget (by default the ICB's planned income) split across `level` units, weighted
    and crude. Raises MartsNotBuilt without marts, LookupError without a budget."""
    from integrated_care.health.marts import open_marts

    params = params or allocations.parameters()
    if budget is None:
        found = icb_budget(session)
        if found is None:
            raise LookupError("no budget given and no ICB plan held to take one from")
        budget, source = found
    else:
        source = "as given"
    with open_marts(settings) as con:
        costs, cells, missing, as_of = allocations.read_cells(con, level, params)
    index = allocations.age_sex_index(costs, params.min_cell_size)
    people, weighted = allocations.weighted_population(cells, index, params)
    lines = allocations.allocate(budget, people, weighted, unit_names(session, level))
    return AllocationView(
        level=level,
        parameters_version=params.version,
        as_of=as_of.date() if hasattr(as_of, "date") else as_of,
        budget=budget,
        budget_source=source,
        population=sum(people.values()),
        without_unit=missing,
        lines=lines,
    )
