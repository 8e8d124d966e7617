"""The contracts register (finance:read), decision records (finance:write acting for the
commissioner, audited), and the public page of spend by holder sector, with JSON twins."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, ValidationError

from integrated_care.accounts.audit import audit_request
from integrated_care.accounts.policy import Principal, require
from integrated_care.finance import contract_history, contract_variation_routes, funding_charts
from integrated_care.finance import contracts as register
from integrated_care.finance.api import open_session, require_write
from integrated_care.finance.contract_models import CONTRACT_TYPES, PROCUREMENT_ROUTES
from integrated_care.finance.funding_routes import _money
from integrated_care.finance.ledger import By
from integrated_care.finance.services import pounds
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render

router = APIRouter()
router.include_router(contract_variation_routes.router)
register_nav_item(NavItem("Where the money goes", "/finance/spending"))

ContractType = Literal[CONTRACT_TYPES]  # type: ignore[valid-type]
Route = Literal[PROCUREMENT_ROUTES]  # type: ignore[valid-type]
Sector = Literal[register.SECTORS]  # type: ignore[valid-type]
Flag = Literal[tuple(register.FLAGS)]  # type: ignore[valid-type]
AsAt = Query(
    None,
    ge=date(1900, 1, 1),  # financial years are written with four-digit years
    le=date(2998, 12, 31),
    description="Look at the register as at this day (default: today)",
)


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"text": t, "href": h} for t, h in (("Home", "/"), ("Finance", "/finance"), *pairs)]


def _lines(request: Request, as_at: date | None) -> tuple[date, list[register.RegisterLine]]:
    day = as_at or date.today()
    with open_session(request) as session:
        return day, register.register(session, day)


def _filtered(
    lines: list[register.RegisterLine],
    contract_type: str | None,
    sector: str | None,
    route: str | None,
    flag: str | None,
) -> list[register.RegisterLine]:
    return [
        x
        for x in lines
        if (contract_type is None or x.contract.contract_type == contract_type)
        and (sector is None or x.holder_sector == sector)
        and (route is None or x.contract.procurement_route == route)
        and (flag is None or flag in x.flags)
    ]


def _line_json(x: register.RegisterLine) -> dict[str, Any]:
    return _money(asdict(x))


class RegisterOut(BaseModel):
    as_at: date
    contracts: int
    flagged: dict[str, int]
    lines: list[dict[str, Any]]


@router.get(
    "/api/finance/contracts",
    response_model=RegisterOut,
    tags=["finance"],
    summary="The contracts register, with chains, decision records and flags",
)
def api_contracts(
    request: Request,
    as_at: date | None = AsAt,
    contract_type: ContractType | None = Query(None),
    sector: Sector | None = Query(None, description="The holder's sector"),
    route: Route | None = Query(None, description="Procurement route"),
    flag: Flag | None = Query(None, description="Only contracts with this flag"),
    _: Principal = Depends(require("finance:read")),
) -> RegisterOut:
    day, lines = _lines(request, as_at)
    shown = _filtered(lines, contract_type, sector, route, flag)
    return RegisterOut(
        as_at=day,
        contracts=len(shown),
        flagged={f: sum(1 for x in shown if f in x.flags) for f in register.FLAGS},
        lines=[_line_json(x) for x in shown],
    )


@router.get(
    "/api/finance/contracts/{contract_id}",
    tags=["finance"],
    summary="One contract: its chain, sub-contracts, every decision record and its flags",
)
def api_contract(
    request: Request,
    contract_id: str,
    as_at: date | None = AsAt,
    _: Principal = Depends(require("finance:read")),
) -> dict[str, Any]:
    day, lines = _lines(request, as_at)
    found = next((x for x in lines if x.contract.contract_id == contract_id), None)
    if found is None:
        raise HTTPException(404, f"There is no contract {contract_id}.")
    with open_session(request) as session:
        made = register.decision_records(session).get(contract_id, [])
        versions = contract_history.versions(session, contract_id)
    return {
        "as_at": day.isoformat(),
        **_line_json(found),
        "decision_history": [_money(asdict(d)) for d in made],
        "versions": [_money(asdict(v)) for v in versions],
    }


class ConflictIn(BaseModel):
    declared_by: str = Field(min_length=1)
    interest: str = Field(min_length=1)
    action: str = Field("", description="How it was managed, e.g. left the meeting")


class DecisionIn(BaseModel):
    decided_by: str = Field(min_length=1, description="Who decided (person or committee)")
    decision_body: str | None = None
    decided_on: date
    best_value_rationale: str = Field(min_length=1)
    conflicts_declared: list[ConflictIn] = Field(default_factory=list)


@router.post(
    "/api/finance/contracts/{contract_id}/decisions",
    status_code=201,
    tags=["finance"],
    summary="Add a decision record to a contract (the commissioner's finance team; audited)",
)
def api_record_decision(
    request: Request,
    contract_id: str,
    body: DecisionIn,
    principal: Principal = Depends(require("finance:write")),
) -> dict[str, Any]:
    with open_session(request) as session:
        contract = session.get(register.Contract, contract_id)
        if contract is None:
            raise HTTPException(404, f"There is no contract {contract_id}.")
        commissioner = contract.commissioner_code
    require_write(request, principal, commissioner, "finance_contract_decision")
    try:
        with request.app.state.runtime.transaction() as session:
            row = register.record_decision(
                session,
                contract_id,
                body.decided_by,
                body.decided_on,
                body.best_value_rationale,
                [c.model_dump() for c in body.conflicts_declared],
                By.of(principal),
                body.decision_body,
            )
            audit_request(
                request,
                session,
                action="finance.contract.decision",
                record_type="finance_contract",
                record_id=contract_id,
                detail={"decision_id": row.id, "conflicts": len(body.conflicts_declared)},
            )
            decision_id = row.id
    except register.ContractError as e:
        raise HTTPException(422, str(e)) from None
    return {"id": decision_id, "contract_id": contract_id}


@router.post(
    "/finance/contracts/{contract_id}/decisions",
    response_class=RedirectResponse,
    include_in_schema=False,
)
async def decision_submit(
    request: Request, contract_id: str, principal: Principal = Depends(require("finance:write"))
) -> RedirectResponse:
    """The decision form on a contract's page: the same checks and audit as the API."""
    form = {k: str(v).strip() for k, v in (await request.form()).items() if k != "csrf_token"}
    conflict = {k: form.pop(f"conflict_{k}", "") for k in ("declared_by", "interest", "action")}
    fields: dict[str, Any] = {k: v for k, v in form.items() if v}
    if conflict["declared_by"] or conflict["interest"]:
        fields["conflicts_declared"] = [conflict]
    try:
        body = DecisionIn.model_validate(fields)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, x['loc'])).replace('_', ' ')}: {x['msg']}" for x in e.errors()
        )
        raise HTTPException(422, f"Nothing was stored: {problems}") from None
    api_record_decision(request, contract_id, body, principal)
    return RedirectResponse(f"/finance/contracts/{contract_id}", status_code=303)


@router.get("/finance/contracts", response_class=HTMLResponse, include_in_schema=False)
def contracts_page(
    request: Request,
    as_at: date | None = AsAt,
    contract_type: ContractType | None = Query(None),
    sector: Sector | None = Query(None),
    route: Route | None = Query(None),
    flag: Flag | None = Query(None),
    _: Principal = Depends(require("finance:read")),
) -> HTMLResponse:
    day, lines = _lines(request, as_at)
    shown = _filtered(lines, contract_type, sector, route, flag)
    return render(
        request,
        "finance/contracts.html",
        {
            "page_title": "Contracts register",
            "as_at": day,
            "lines": shown,
            "total": len(lines),
            "flagged": {f: sum(1 for x in lines if f in x.flags) for f in register.FLAGS},
            "chosen": {
                "contract_type": contract_type,
                "sector": sector,
                "route": route,
                "flag": flag,
            },
            "types": register.TYPE_LABELS,
            "routes": register.ROUTE_LABELS,
            "sectors": register.SECTOR_LABELS,
            "flags": register.FLAGS,
            "gbp": pounds,
            "breadcrumbs": _crumbs(("Contracts", "/finance/contracts")),
        },
    )


# ---- public: where the money goes ---------------------------------------------------------------


class SpendOut(BaseModel):
    as_at: date
    note: str
    by_year: dict[str, dict[str, str]]
    by_month: list[dict[str, Any]]


SPEND_NOTE = (
    "Net annual value of the ICB's contracts by the sector of the organisation holding them, "
    "spread over each contract's term by day; a sub-contract's value is counted in its "
    "holder's sector and taken off the contract it sits under, so nothing is counted twice."
)


def _spend(request: Request, as_at: date | None) -> tuple[date, list[register.SpendRow]]:
    day, lines = _lines(request, as_at)
    start = int(register.financial_year_of(day)[:4])
    return day, register.spend_by_sector(lines, until=date(start + 1, 3, 31))


@router.get(
    "/api/finance/spending",
    response_model=SpendOut,
    tags=["finance"],
    summary="Contract spend by holder sector over time (public)",
)
def api_spending(request: Request, as_at: date | None = AsAt) -> SpendOut:
    day, rows = _spend(request, as_at)
    return SpendOut(
        as_at=day,
        note=SPEND_NOTE,
        by_year={
            y: {s: str(v) for s, v in by.items()} for y, by in register.spend_by_year(rows).items()
        },
        by_month=[
            {
                "month": r.month.isoformat(),
                "financial_year": r.financial_year,
                "sector": r.sector,
                "amount": str(r.amount),
            }
            for r in rows
        ],
    )


@router.get("/finance/spending", response_class=HTMLResponse, include_in_schema=False)
def spending_page(request: Request, as_at: date | None = AsAt) -> HTMLResponse:
    day, rows = _spend(request, as_at)
    by_year = register.spend_by_year(rows)
    return render(
        request,
        "finance/spending.html",
        {
            "page_title": "Where the money goes",
            "as_at": day,
            "note": SPEND_NOTE,
            "by_year": by_year,
            "sectors": register.SECTOR_LABELS,
            "chart": funding_charts.sector_spend_chart(rows),
            "gbp": pounds,
            "breadcrumbs": [
                {"text": "Home", "href": "/"},
                {"text": "Where the money goes", "href": "/finance/spending"},
            ],
        },
    )
