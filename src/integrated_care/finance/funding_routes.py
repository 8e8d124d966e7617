"""Conditional funding and allocations: pages and their JSON twins (finance:read; nothing is
stored, so nothing here changes the ledger)."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from integrated_care.accounts.policy import Principal, require
from integrated_care.finance import allocations, funding_charts, funding_services, services
from integrated_care.finance import conditional_funding as cf
from integrated_care.finance.api import Month, Year, open_session, resolve_year
from integrated_care.finance.chart import month_label
from integrated_care.health.marts import MartsNotBuilt
from integrated_care.web.templating import render

router = APIRouter()
Level = Literal["place", "pcn", "practice"]
LEVEL_TITLES = {"place": "Place", "pcn": "Primary care network", "practice": "GP practice"}


def _crumbs(text: str, href: str) -> list[dict[str, str]]:
    return [
        {"text": "Home", "href": "/"},
        {"text": "Finance", "href": "/finance"},
        {"text": text, "href": href},
    ]


def _money(d: Any) -> Any:
    """Dataclass fields as JSON: money as strings of pounds and pence."""
    if isinstance(d, Decimal):
        return str(d)
    if isinstance(d, dict):
        return {k: _money(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_money(v) for v in d]
    return d


# ---- conditional funding -----------------------------------------------------------------------


class FundingIn(BaseModel):
    financial_year: str | None = None
    month: int | None = Field(None, ge=0, le=12)
    rule: dict[str, Any] = Field(
        description="See docs/finance.md: name, fund, basis (turnover, allocation, equal, "
        "fixed), system_element, system_gate, tolerance, include_icb, fixed_shares"
    )
    allocation: dict[str, Decimal] = Field(
        default_factory=dict, description="Per organisation, for a fund split pro rata to it"
    )


class FundingOut(BaseModel):
    financial_year: str
    as_at_month: int
    provisional: bool
    rules_version: str | None
    results: list[dict[str, Any]]


def _funding(
    request: Request,
    year: str | None,
    month: int | None,
    rules: list[cf.FundingRule],
    allocation: dict[str, Decimal],
) -> tuple[Any, list[funding_services.FundingView], dict[str, str]]:
    with open_session(request) as session:
        year = resolve_year(session, year)
        views, system = [], None
        try:
            for rule in rules:
                system, view = funding_services.conditional_funding_view(
                    session, year, month, rule, allocation
                )
                views.append(view)
        except cf.FundingError as e:
            raise HTTPException(422, str(e)) from None
        names = services.organisation_names(session)
    return system, views, names


def _funding_out(views: list[funding_services.FundingView], version: str | None) -> FundingOut:
    first = views[0]
    return FundingOut(
        financial_year=first.financial_year,
        as_at_month=first.as_at_month,
        provisional=first.provisional,
        rules_version=version,
        results=[_money(asdict(v.result)) for v in views],
    )


@router.get(
    "/api/finance/conditional-funding",
    response_model=FundingOut,
    tags=["finance"],
    summary="The shipped conditional funding rules applied to the forecast (nothing stored)",
)
def api_conditional_funding(
    request: Request,
    year: str | None = Year,
    month: int | None = Month,
    _: Principal = Depends(require("finance:read")),
) -> FundingOut:
    _, views, _ = _funding(request, year, month, cf.standard_rules(), {})
    return _funding_out(views, cf.rules_version())


@router.post(
    "/api/finance/conditional-funding",
    response_model=FundingOut,
    tags=["finance"],
    summary="Apply any conditional funding rule to the forecast (nothing stored)",
)
def api_conditional_funding_rule(
    request: Request, body: FundingIn, _: Principal = Depends(require("finance:read"))
) -> FundingOut:
    try:
        rule = cf.rule_from_dict(body.rule)
    except cf.FundingError as e:
        raise HTTPException(422, str(e)) from None
    _, views, _ = _funding(request, body.financial_year, body.month, [rule], body.allocation)
    return _funding_out(views, None)


@router.get("/finance/conditional-funding", response_class=HTMLResponse, include_in_schema=False)
def conditional_funding_page(
    request: Request,
    year: str | None = Year,
    month: int | None = Month,
    _: Principal = Depends(require("finance:read")),
) -> HTMLResponse:
    system, views, names = _funding(request, year, month, cf.standard_rules(), {})
    first = views[0]
    return render(
        request,
        "finance/conditional_funding.html",
        {
            "page_title": f"Conditional funding {first.financial_year}",
            "views": views,
            "first": first,
            "system": system.system,
            "names": names,
            "gbp": services.pounds,
            "charts": [funding_charts.funding_chart(v.result, names) for v in views],
            "rules_version": cf.rules_version(),
            "month_name": month_label(first.as_at_month, first.financial_year)
            if first.as_at_month
            else "before April",
            "breadcrumbs": _crumbs("Conditional funding", "/finance/conditional-funding"),
        },
    )


# ---- allocations -------------------------------------------------------------------------------


class AllocationOut(BaseModel):
    level: str
    parameters_version: str
    as_of: Any
    budget: Decimal
    budget_source: str
    population: int
    without_unit: int
    lines: list[dict[str, Any]]


BudgetQuery = Query(
    None, description="Pounds to allocate; default: the ICB's planned income for the latest year"
)


def _allocation(
    request: Request, level: str, budget: str | None
) -> funding_services.AllocationView:
    amount = None
    if budget is not None and budget.strip():
        try:
            amount = Decimal(budget.strip().replace(",", "").lstrip("£"))
        except ArithmeticError:
            raise HTTPException(422, "budget should be an amount in pounds") from None
        if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
            raise HTTPException(422, "budget should be a positive amount in whole pence")
    try:
        with open_session(request) as session:
            return funding_services.allocation_view(
                session, request.app.state.runtime.settings, level, amount
            )
    except MartsNotBuilt as e:
        raise HTTPException(404, str(e)) from None
    except LookupError as e:
        raise HTTPException(422, f"{e}: give ?budget=") from None


@router.get(
    "/api/finance/allocations",
    response_model=AllocationOut,
    tags=["finance"],
    summary="An ICB budget split by weighted capitation, beside a crude per-head split",
)
def api_allocations(
    request: Request,
    level: Level = Query("place", description="Split across places, PCNs or practices"),
    budget: str | None = BudgetQuery,
    _: Principal = Depends(require("finance:read")),
) -> AllocationOut:
    view = _allocation(request, level, budget)
    data = asdict(view)
    data["lines"] = _money(data["lines"])
    return AllocationOut(**data)


@router.get("/finance/allocations", response_class=HTMLResponse, include_in_schema=False)
def allocations_page(
    request: Request,
    level: Level = Query("place"),
    budget: str | None = BudgetQuery,
    _: Principal = Depends(require("finance:read")),
) -> HTMLResponse:
    view = _allocation(request, level, budget)
    params = allocations.parameters()
    return render(
        request,
        "finance/allocations.html",
        {
            "page_title": "Allocations by weighted capitation",
            "view": view,
            "params": params,
            "level_title": LEVEL_TITLES[level],
            "levels": LEVEL_TITLES,
            "budget_text": budget or "",
            "gbp": services.pounds,
            "chart": funding_charts.gain_loss_chart(view.lines, LEVEL_TITLES[level]),
            "breadcrumbs": _crumbs("Allocations", "/finance/allocations"),
        },
    )
