"""Risk and gain share agreements: their pages (the JSON API is in
:mod:`integrated_care.finance.agreement_api`, included here).

Anyone with finance:read sees the agreements and what they do to the forecast under best, base
and worst, and any what-if. Setting one up or changing it needs finance:write acting for the ICB
(its finance team keeps the system's agreements); every new version is audited as
``finance.agreement.save``, and every refusal as ``access.denied``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from integrated_care.accounts.policy import Principal, require
from integrated_care.finance import agreement_api, agreements, ledger, risk_share, services
from integrated_care.finance.agreement_api import RECORD, icb_of, may_keep_agreements, save
from integrated_care.finance.agreement_form import (
    BASIS_LABELS,
    METHOD_LABELS,
    AgreementForm,
    form_from,
    organisations,
    read_form,
    rules_from_form,
)
from integrated_care.finance.agreements import AgreementError, StoredAgreement
from integrated_care.finance.api import Month, open_session, require_write, resolve_year
from integrated_care.finance.chart import month_label
from integrated_care.finance.charts import sharing_chart
from integrated_care.finance.models import AGREEMENT_STATUSES
from integrated_care.web.templating import render

router = APIRouter()
router.include_router(agreement_api.router)


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    base = (("Home", "/"), ("Finance", "/finance"), ("Risk share", "/finance/risk-share"))
    return [{"text": t, "href": h} for t, h in (*base, *pairs)]


def _form_page(
    request: Request,
    form: AgreementForm,
    year: str,
    current: StoredAgreement | None,
    status_code: int = 200,
) -> HTMLResponse:
    with open_session(request) as session:
        orgs = organisations(session, year)
    title = f"Change {current.name}" if current else "Set up a risk share agreement"
    path = f"/finance/agreements/{current.reference}/edit" if current else "/finance/agreements/new"
    crumbs = [(current.name, f"/finance/agreements/{current.reference}")] if current else []
    return render(
        request,
        "finance/agreement_form.html",
        {
            "page_title": title,
            "form": form,
            "year": year,
            "current": current,
            "action": path,
            "organisations": orgs,
            "statuses": AGREEMENT_STATUSES,
            "methods": METHOD_LABELS,
            "bases": BASIS_LABELS,
            "breadcrumbs": _crumbs(*crumbs, (title, path)),
        },
        status_code=status_code,
    )


def _need_icb_finance(request: Request, principal: Principal) -> None:
    with open_session(request) as session:
        icb = icb_of(session)
    require_write(request, principal, icb, RECORD)


@router.get("/finance/agreements/new", response_class=HTMLResponse, include_in_schema=False)
def new_agreement_page(
    request: Request,
    year: str | None = None,
    principal: Principal = Depends(require("finance:write")),
) -> HTMLResponse:
    _need_icb_finance(request, principal)
    with open_session(request) as session:
        year = resolve_year(session, year)
    form = AgreementForm({"method": "turnover", "basis": "control_total", "status": "proposed"})
    return _form_page(request, form, year, None)


async def _submit(
    request: Request, principal: Principal, current: StoredAgreement | None
) -> Response:
    _need_icb_finance(request, principal)
    form = await read_form(request)
    year = current.financial_year if current else form.get("financial_year")
    reference = current.reference if current else form.get("reference")
    with open_session(request) as session:
        year = resolve_year(session, year or None)
        names = services.organisation_names(session)
        if current is None and reference and agreements.in_force(session, reference):
            form.error("reference", f"Reference: there is already an agreement {reference}")
    rules = rules_from_form(form, names)
    if not form.errors:
        try:
            save(
                request,
                principal,
                reference,
                year,
                form.get("name"),
                form.get("status"),
                rules,
                form.get("reason") or None,
            )
        except AgreementError as e:
            for problem in e.problems:
                target = problem.split(":", 1)[0]
                known = {"reference", "name", "status", "parties", "reason"}
                form.error(target if target in known else "method", problem)
    if form.errors:
        return _form_page(request, form, year, current, status_code=422)
    return RedirectResponse(f"/finance/agreements/{reference}", status_code=303)


@router.post("/finance/agreements/new", response_class=HTMLResponse, include_in_schema=False)
async def new_agreement_submit(
    request: Request, principal: Principal = Depends(require("finance:write"))
) -> Response:
    return await _submit(request, principal, None)


def _current(request: Request, reference: str) -> StoredAgreement:
    with open_session(request) as session:
        current = agreements.in_force(session, reference)
    if current is None:
        raise HTTPException(404, f"There is no agreement {reference}.")
    return current


@router.get(
    "/finance/agreements/{reference}/edit",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def edit_agreement_page(
    request: Request, reference: str, principal: Principal = Depends(require("finance:write"))
) -> HTMLResponse:
    _need_icb_finance(request, principal)
    current = _current(request, reference)
    return _form_page(request, form_from(current), current.financial_year, current)


@router.post(
    "/finance/agreements/{reference}/edit",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def edit_agreement_submit(
    request: Request, reference: str, principal: Principal = Depends(require("finance:write"))
) -> Response:
    return await _submit(request, principal, _current(request, reference))


# ---- the agreement page ------------------------------------------------------------------------


def what_if_from_query(request: Request, parties: tuple[str, ...]) -> risk_share.Scenario | None:
    """A what-if from the page's query (adverse, favourable, override-ORG), or None if the
    page asks for none; a bad value is a 422 naming the field."""
    q = request.query_params
    fields = {"adverse": q.get("adverse", ""), "favourable": q.get("favourable", "")}
    overrides = {p: q.get(f"override-{p}", "") for p in parties}
    if not any(v.strip() for v in (*fields.values(), *overrides.values())):
        return None
    raw: dict[str, Any] = {"name": "what-if", "description": "Your what-if"}
    for name, value in fields.items():
        if value.strip():
            raw[name] = value.strip()
    try:
        raw["overrides"] = {
            p: str(ledger.money(v.replace("£", ""))) for p, v in overrides.items() if v.strip()
        }
        return risk_share.scenario_from_dict(raw)
    except ValueError as e:  # ShareError is a ValueError
        raise HTTPException(422, f"What-if: {e}") from None


@router.get("/finance/agreements/{reference}", response_class=HTMLResponse, include_in_schema=False)
def agreement_page(
    request: Request,
    reference: str,
    month: int | None = Month,
    principal: Principal = Depends(require("finance:read")),
) -> HTMLResponse:
    """An agreement in force, applied to the forecast under best, base, worst and any what-if,
    with every version it has had."""
    current = _current(request, reference)
    scenarios = risk_share.standard_scenarios()
    what_if = what_if_from_query(request, current.parties)
    if what_if is not None:
        scenarios.append(what_if)
    problem = None
    with open_session(request) as session:
        versions = agreements.history(session, reference)
        names = services.organisation_names(session)
        icb = services.icb_code(session)
        try:
            applied = services.agreement_view(
                session, current.agreement, current.financial_year, month, scenarios
            )
            view, results, missing = (
                applied.position,
                applied.results,
                applied.parties_without_variance,
            )
        except risk_share.ShareError as e:
            view = services.system_view(session, current.financial_year, month)
            results, missing, problem = [], [], str(e)
    focus = results[-1] if what_if is not None and results else None
    base = next((r for r in results if r.scenario == "base"), None)
    shown = focus or base
    return render(
        request,
        "finance/agreement.html",
        {
            "page_title": current.name,
            "a": current,
            "versions": versions,
            "view": view,
            "results": results,
            "shown": shown,
            "missing": missing,
            "problem": problem,
            "what_if": what_if,
            "query": request.query_params,
            "names": names,
            "gbp": services.pounds,
            "methods": METHOD_LABELS,
            "bases": BASIS_LABELS,
            "month_name": month_label(view.as_at_month, view.financial_year)
            if view.as_at_month
            else "before April",
            "may_change": may_keep_agreements(principal, icb),
            "chart": sharing_chart(shown, names) if shown else None,
            "breadcrumbs": _crumbs((current.name, f"/finance/agreements/{reference}")),
        },
    )
