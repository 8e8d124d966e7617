"""The portal's "how the system is doing" headlines, read through the other domains' public
functions: the finance summary (the system's position, contract spend by sector), performance
against the constitutional standards (oversight), and population health from the marts.

Only system-level and place-level figures are shown. Counts of 1-9 people are suppressed
(``health.population.suppress``), and so is a rate worked from such a count.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from integrated_care.settings import Settings


class FinanceSummary(BaseModel):
    financial_year: str
    as_at_month: int
    plan_full_year: Decimal
    forecast_outturn: Decimal
    forecast_variance: Decimal
    control_total: Decimal | None
    actual_ytd: Decimal
    plan_ytd: Decimal
    breaks_even: bool
    meets_control_total: bool | None


class SpendSummary(BaseModel):
    financial_year: str
    by_sector: dict[str, Decimal]  # sector label -> spend
    chart: dict[str, Any]


class PerformanceHeadline(BaseModel):
    title: str
    latest_month: date | None
    latest: float | None  # as the /performance page shows it (a percentage, or days)
    standard: float | None
    unit: str  # "%" or "days"
    meets_standard: bool | None
    variation: str


class PopulationHeadline(BaseModel):
    name: str
    value: float | None  # None: suppressed or not known
    england: float | None
    unit: str


class PlacePrevalence(BaseModel):
    place: str
    condition: str
    people: int | None  # None: 1-9, suppressed
    prevalence_pct: float | None


class Headlines(BaseModel):
    finance: FinanceSummary | None
    spend: SpendSummary | None
    performance: list[PerformanceHeadline]
    population: list[PopulationHeadline]
    places: list[PlacePrevalence]


def finance_summary(session: Session) -> FinanceSummary | None:
    """The system's financial position this year, or None before any figures are loaded."""
    from integrated_care.finance import services

    year = services.current_year(session)
    if year is None:
        return None
    system = services.system_view(session, year).system
    return FinanceSummary(
        financial_year=year,
        as_at_month=system.as_at_month,
        plan_full_year=system.plan_full_year,
        forecast_outturn=system.forecast_outturn,
        forecast_variance=system.forecast_variance,
        control_total=system.control_total,
        actual_ytd=system.actual_ytd,
        plan_ytd=system.plan_ytd,
        breaks_even=system.breaks_even,
        meets_control_total=system.meets_control_total,
    )


def spend_summary(session: Session, today: date) -> SpendSummary | None:
    """Contract spend by holder sector in this financial year (what /finance/spending shows)."""
    from integrated_care.finance import contracts, funding_charts

    lines = contracts.register(session, today)
    if not lines:
        return None
    year = contracts.financial_year_of(today)
    rows = contracts.spend_by_sector(lines, until=date(int(year[:4]) + 1, 3, 31))
    this_year = [r for r in rows if r.financial_year == year]
    by_year = contracts.spend_by_year(this_year).get(year, {})
    return SpendSummary(
        financial_year=year,
        by_sector={
            contracts.SECTOR_LABELS[s]: v for s, v in by_year.items() if s != "unknown" or v
        },
        chart=funding_charts.sector_spend_chart(this_year),
    )


def performance(settings: Settings, names: dict[str, str]) -> list[PerformanceHeadline]:
    """The system's latest figure against each constitutional standard (the public
    /performance page's figures), or nothing before the oversight mart is built."""
    from integrated_care.oversight import charts
    from integrated_care.oversight.marts import OversightNotBuilt, read_standards
    from integrated_care.oversight.views import oversight_view, system_code

    try:
        rows = read_standards(settings)
    except OversightNotBuilt:
        return []
    code = system_code(rows)
    view = oversight_view(rows, "system", code, names) if code else None
    if view is None:
        return []
    return [
        PerformanceHeadline(
            title=m.title,
            latest_month=m.latest_month,
            latest=charts.shown(m.latest_value, m.unit),
            standard=charts.shown(m.standard, m.unit),
            unit=charts.unit_title(m.unit),
            meets_standard=m.meets_standard,
            variation=m.variation_label,
        )
        for m in view.measures
    ]


def population(settings: Settings) -> tuple[list[PopulationHeadline], list[PlacePrevalence]]:
    """System indicators (the oversight scorecard's) and recorded prevalence by place, from the
    population-health marts; nothing before the marts are built."""
    from integrated_care.health.marts import MartsNotBuilt, open_marts
    from integrated_care.oversight.scorecard import population_health, rules

    try:
        with open_marts(settings) as con:
            indicators = population_health(con)
            places = _place_prevalence(con, rules()["population_health_conditions"])
    except MartsNotBuilt:
        return [], []
    return [suppressed_headline(i.name, i.value, i.england, i.unit) for i in indicators], places


def suppressed_headline(
    name: str, value: float | None, england: float | None, unit: str
) -> PopulationHeadline:
    """A headline, its value hidden when it counts 1-9 people."""
    from integrated_care.health.population import suppress

    if unit == "people" and value is not None:
        value = suppress(int(value))
    return PopulationHeadline(name=name, value=value, england=england, unit=unit)


def _place_prevalence(con: Any, conditions: list[str]) -> list[PlacePrevalence]:
    from integrated_care.health.population import suppress

    if "registers" not in set(con.list_tables()):
        return []
    reg = con.table("registers")
    rows = (
        reg.filter(reg.level == "place", reg.condition.isin(conditions))
        .select("area_code", "condition", "label", "numerator", "prevalence_pct")
        .to_pyarrow()
        .to_pylist()
    )
    out = []
    for r in sorted(rows, key=lambda r: (conditions.index(r["condition"]), r["area_code"])):
        people = suppress(int(r["numerator"] or 0))
        pct = r["prevalence_pct"]
        out.append(
            PlacePrevalence(
                place=r["area_code"],
                condition=r["label"],
                people=people,
                prevalence_pct=None if people is None or pct is None else round(pct, 2),
            )
        )
    return out


def prevalence_chart(places: list[PlacePrevalence], names: dict[str, str]) -> dict[str, Any]:
    """Recorded prevalence of each condition, a bar per place (suppressed figures left out)."""
    from integrated_care.web.charts import bar_chart

    values = [
        {
            "condition": p.condition,
            "place": names.get(p.place, p.place),
            "prevalence": p.prevalence_pct,
        }
        for p in places
        if p.prevalence_pct is not None
    ]
    spec = bar_chart(
        values,
        "condition",
        "prevalence",
        category_title="Condition",
        value_title="Recorded prevalence (%)",
        colour_field="place",
    )
    spec["encoding"]["yOffset"] = {"field": "place"}
    spec["encoding"]["y"]["sort"] = None
    spec["encoding"]["color"]["title"] = "Place"
    return spec


def headlines(session: Session, settings: Settings, today: date) -> Headlines:
    from integrated_care.governance.views import org_names

    population_rows, places = population(settings)
    return Headlines(
        finance=finance_summary(session),
        spend=spend_summary(session, today),
        performance=performance(settings, org_names(session)),
        population=population_rows,
        places=places,
    )
