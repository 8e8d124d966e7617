"""What pages, the API and the command line ask of finance: positions from the ledger, the
organisations' names, and who may enter figures for whom."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from integrated_care.finance import ledger, risk_share
from integrated_care.finance.positions import Position, SystemPosition, system_position


def icb_code(session: Session) -> str | None:
    """The ICB's organisation code: control totals and plan agreements are its to record."""
    from integrated_care.footprint.services import list_organisations

    icbs = list_organisations(session, org_type="icb")
    return icbs[0].org_code if icbs else None


def organisation_names(session: Session) -> dict[str, str]:
    from integrated_care.footprint.services import list_organisations

    return {o.org_code: o.name for o in list_organisations(session)}


def current_year(session: Session) -> str | None:
    years = ledger.financial_years(session)
    return years[0] if years else None


def system_view(
    session: Session, financial_year: str, as_at_month: int | None = None
) -> SystemPosition:
    """Every organisation's position and the system's, from the figures in force."""
    return system_position(
        financial_year,
        ledger.figures(session, financial_year),
        ledger.control_totals(session, financial_year),
        as_at_month,
    )


@dataclass(frozen=True)
class OrganisationView:
    org_code: str
    name: str
    financial_year: str
    position: Position
    plan_versions: list[ledger.PlanVersionSummary]


def organisation_view(
    session: Session, org_code: str, financial_year: str, as_at_month: int | None = None
) -> OrganisationView | None:
    """One organisation's position, at the system's month so the figures match the system's."""
    names = organisation_names(session)
    if org_code not in names:
        return None
    view = system_view(session, financial_year, as_at_month)
    found = [p for p in view.organisations if p.org_code == org_code]
    if found:
        position = found[0]
    else:
        from integrated_care.finance.positions import position as make_position

        position = make_position([], None, view.as_at_month, org_code)
    return OrganisationView(
        org_code,
        names[org_code],
        financial_year,
        position,
        ledger.plan_versions(session, org_code, financial_year),
    )


def planned_income(session: Session, financial_year: str) -> dict[str, Decimal]:
    """Each organisation's turnover: the income in its plan of record for the year."""
    from integrated_care.finance.chart import chart

    lines = chart().lines
    out: dict[str, Decimal] = {}
    for f in ledger.figures(session, financial_year):
        if f.kind == "plan" and lines[f.line].section == "income":
            out[f.org_code] = out.get(f.org_code, Decimal("0.00")) + f.amount
    return out


def share_inputs(
    view: SystemPosition,
    basis: str,
    turnover: dict[str, Decimal],
    allocation: dict[str, Decimal],
) -> dict[str, risk_share.OrgInput]:
    """Each organisation's forecast variance (against control total, or plan) with its
    turnover and allocation, for sharing. Organisations without a control total are left out
    when sharing variance against control totals."""
    out = {}
    for p in view.organisations:
        code = p.org_code or ""
        variance = p.forecast_variance if basis == "plan" else p.variance_to_control_total
        if variance is not None:
            out[code] = risk_share.OrgInput(
                variance, turnover.get(code, Decimal(0)), allocation.get(code, Decimal(0))
            )
    return out


def risk_share_view(
    session: Session,
    financial_year: str,
    as_at_month: int | None,
    agreement: risk_share.Agreement,
    scenarios: list[risk_share.Scenario],
    allocation: dict[str, Decimal] | None = None,
) -> tuple[SystemPosition, list[risk_share.ShareResult]]:
    """The forecast position, and the agreement applied to it under each scenario. Turnover
    is each organisation's planned income for the year."""
    view = system_view(session, financial_year, as_at_month)
    turnover = planned_income(session, financial_year)
    orgs = share_inputs(view, agreement.basis, turnover, allocation or {})
    return view, risk_share.run_scenarios(agreement, orgs, scenarios)


@dataclass(frozen=True)
class AgreementView:
    """A stored agreement applied to the forecast: the position, each scenario's sharing, and
    the parties with no variance to share (no control total yet, when sharing against it)."""

    position: SystemPosition
    results: list[risk_share.ShareResult]
    parties_without_variance: list[str]


def agreement_view(
    session: Session,
    agreement: risk_share.Agreement,
    financial_year: str,
    as_at_month: int | None,
    scenarios: list[risk_share.Scenario],
) -> AgreementView:
    """`agreement` applied to the year's forecast under each scenario."""
    view, results = risk_share_view(session, financial_year, as_at_month, agreement, scenarios)
    shared = {x.org_code for r in results for x in r.lines}
    missing = [p for p in agreement.parties if p not in shared]
    return AgreementView(view, results, missing)


def pounds(value: Decimal | None) -> str:
    """£1,234,567 (whole pounds), -£1,234 for a deficit, a dash for nothing."""
    if value is None:
        return "–"
    whole = value.quantize(Decimal(1))
    return f"-£{-whole:,}" if whole < 0 else f"£{whole:,}"


def thousands(value: Decimal | None) -> float | None:
    """£000 to one decimal place, for charts only (tables show exact figures)."""
    return None if value is None else float((value / 1000).quantize(Decimal("0.1")))
