"""Finance pages: the system position, an organisation's position, the return upload form.
Their JSON twins are in :mod:`integrated_care.finance.api`, included here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from integrated_care.accounts.policy import Principal, Resource, decide, require
from integrated_care.finance import (
    agreement_api,
    agreement_routes,
    agreements,
    api,
    charts,
    ledger,
    org_forms,
    returns,
    risk_share,
    services,
)
from integrated_care.finance.api import (
    Month,
    Year,
    open_session,
    require_write,
    resolve_year,
    store_return,
)
from integrated_care.finance.chart import MONTHS, chart, month_label
from integrated_care.finance.positions import SystemPosition
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render

router = APIRouter()
router.include_router(api.router)
router.include_router(agreement_routes.router)
router.include_router(org_forms.router)
register_nav_item(NavItem("Finance", "/finance", "finance:read"))


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"text": t, "href": h} for t, h in (("Home", "/"), ("Finance", "/finance"), *pairs)]


# ---- pages -------------------------------------------------------------------------------------


def _page_context(view: SystemPosition, names: dict[str, str]) -> dict[str, Any]:
    return {
        "names": names,
        "gbp": services.pounds,
        "drivers": chart().drivers,
        "month_name": month_label(view.as_at_month, view.financial_year)
        if view.as_at_month
        else "before April",
    }


@router.get("/finance", response_class=HTMLResponse, include_in_schema=False)
def system_page(
    request: Request,
    year: str | None = Year,
    month: int | None = Month,
    _: Principal = Depends(require("finance:read")),
) -> HTMLResponse:
    with open_session(request) as session:
        years = ledger.financial_years(session)
        if not years:
            return render(
                request, "finance/empty.html", {"page_title": "Finance", "breadcrumbs": _crumbs()}
            )
        year = resolve_year(session, year)
        view = services.system_view(session, year, month)
        names = services.organisation_names(session)
    return render(
        request,
        "finance/system.html",
        {
            **_page_context(view, names),
            "page_title": f"System financial position {year}",
            "view": view,
            "s": view.system,
            "years": years,
            "monthly_chart": charts.monthly_chart(view.system, year),
            "waterfall_chart": charts.waterfall_chart(view.system),
            "organisations_chart": charts.organisations_chart(view.organisations, names),
            "breadcrumbs": _crumbs(),
        },
    )


@router.get("/finance/organisations/{org}", response_class=HTMLResponse, include_in_schema=False)
def organisation_page(
    request: Request,
    org: str,
    year: str | None = Year,
    month: int | None = Month,
    principal: Principal = Depends(require("finance:read")),
) -> HTMLResponse:
    with open_session(request) as session:
        year = resolve_year(session, year)
        found = services.organisation_view(session, org, year, month)
        if found is None:
            raise HTTPException(404, f"There is no organisation with code {org}.")
        view = services.system_view(session, year, month)
        recent = ledger.recent_entries(session, org, year)
        icb = services.icb_code(session)
    may_write = decide(
        principal, "finance:write", resource=Resource("finance_return", organisation_code=org)
    ).allowed
    is_icb_finance = (
        icb is not None
        and decide(
            principal,
            "finance:write",
            resource=Resource("finance_control_total", organisation_code=icb),
        ).allowed
    )
    return render(
        request,
        "finance/organisation.html",
        {
            **_page_context(view, {org: found.name}),
            "page_title": f"{found.name}: financial position {year}",
            "org": found,
            "p": found.position,
            "year": year,
            "may_write": may_write,
            "is_icb_finance": is_icb_finance,
            "recent": recent,
            "lines": chart().lines,
            "next_month": min(max(found.position.as_at_month, 1), 12),
            "months": MONTHS,
            "monthly_chart": charts.monthly_chart(found.position, year),
            "waterfall_chart": charts.waterfall_chart(found.position),
            "breadcrumbs": _crumbs((found.name, f"/finance/organisations/{org}")),
        },
    )


@router.post(
    "/finance/organisations/{org}/return", response_class=HTMLResponse, include_in_schema=False
)
async def upload_return_page(
    request: Request,
    org: str,
    file: UploadFile = File(...),
    fmt: Literal["xlsx", "csv"] = Form("xlsx", alias="format"),
    principal: Principal = Depends(require("finance:write")),
) -> HTMLResponse:
    require_write(request, principal, org, "finance_return")
    content = await file.read(returns.MAX_BYTES + 1)
    context: dict[str, Any] = {
        "page_title": "Monthly return",
        "org_code": org,
        "filename": file.filename,
        "breadcrumbs": _crumbs(
            (org, f"/finance/organisations/{org}"), ("Monthly return", request.url.path)
        ),
    }
    try:
        stored = await run_in_threadpool(
            store_return, request, principal, org, fmt, content, file.filename
        )
    except returns.ReturnRejected as rejected:
        context["problems"] = rejected.problems
        return render(request, "finance/return_result.html", context, status_code=422)
    context["stored"] = stored
    context["month_name"] = month_label(stored.month, stored.financial_year)
    return render(request, "finance/return_result.html", context)


def _percent(value: str, name: str) -> Decimal | None:
    """A percentage from a form field (blank: none), or 422 naming the field."""
    if not value.strip():
        return None
    try:
        pct = Decimal(value.strip().rstrip("%"))
    except ArithmeticError:
        raise HTTPException(422, f"{name} should be a percentage, e.g. 0.5") from None
    if not pct.is_finite() or not 0 <= pct <= 100:
        raise HTTPException(422, f"{name} should be a percentage from 0 to 100")
    return pct


@router.get("/finance/risk-share", response_class=HTMLResponse, include_in_schema=False)
def risk_share_page(
    request: Request,
    year: str | None = Year,
    month: int | None = Month,
    corridor: str = Query("0.5", description="% of turnover each keeps, either way"),
    floor: str = Query(
        "",
        description="% of turnover: the most any organisation can end "
        "below its control total (blank: no floor)",
    ),
    host: bool = Query(True, description="The ICB absorbs what floors hold back"),
    principal: Principal = Depends(require("finance:read")),
) -> HTMLResponse:
    """The year's stored agreements, and a quick what-if: the forecast variances against
    control totals shared pro rata to turnover, under best, base and worst."""
    corridor_pct, floor_pct = _percent(corridor, "corridor"), _percent(floor, "floor")
    with open_session(request) as session:
        year = resolve_year(session, year)
        icb = services.icb_code(session)
        stored = agreements.agreements(session, year)
        turnover = services.planned_income(session, year)
        names = services.organisation_names(session)
        limits = (
            {}
            if floor_pct is None
            else {
                org: {"floor": str(-(t * floor_pct / 100).quantize(Decimal("0.01")))}
                for org, t in turnover.items()
                if not (host and org == icb)
            }
        )
        raw = {
            "name": "What-if: pro rata to turnover",
            "method": "turnover",
            "corridor": {"share_of_turnover": str((corridor_pct or Decimal(0)) / 100)},
            "limits": limits,
            "host": icb if host else None,
        }
        problem = None
        try:
            view, results = services.risk_share_view(
                session,
                year,
                month,
                risk_share.agreement_from_dict(raw),
                risk_share.standard_scenarios(),
            )
        except risk_share.ShareError as e:
            view, results, problem = services.system_view(session, year, month), [], str(e)
    base = next((r for r in results if r.scenario == "base"), None)
    return render(
        request,
        "finance/risk_share.html",
        {
            **_page_context(view, names),
            "page_title": f"Risk share {year}",
            "view": view,
            "results": results,
            "base": base,
            "problem": problem,
            "corridor": corridor_pct,
            "floor": floor_pct,
            "host": host,
            "icb": icb,
            "agreements": stored,
            "may_keep_agreements": agreement_api.may_keep_agreements(principal, icb),
            "chart": charts.sharing_chart(base, names) if base else None,
            "breadcrumbs": _crumbs(("Risk share", "/finance/risk-share")),
        },
    )
