"""One contract: its page (every version, every decision) and its variations.

Seeing a contract needs finance:read. Varying it needs finance:write acting for its commissioner;
a variation never overwrites: it is a new version superseding the one in force, audited as
``finance.contract.vary``.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from integrated_care.accounts.audit import audit_request
from integrated_care.accounts.policy import Principal, Resource, decide, require
from integrated_care.finance import contract_history, ledger
from integrated_care.finance import contracts as register
from integrated_care.finance.api import CONFLICT, open_session, require_write
from integrated_care.finance.contract_history import ContractError, ContractVersion
from integrated_care.finance.funding_routes import _money
from integrated_care.finance.ledger import By
from integrated_care.finance.services import pounds
from integrated_care.web.templating import render

router = APIRouter()
RECORD = "finance_contract"


class VariationIn(BaseModel):
    """What changes (fields left out stay as they are), and why."""

    holder_code: str | None = None
    commissioner_code: str | None = None
    contract_type: str | None = None
    parent_contract_id: str | None = None
    services: str | None = None
    annual_value: Decimal | None = Field(None, description="Pounds and pence")
    start_date: date | None = None
    end_date: date | None = None
    procurement_route: str | None = None
    reason: str = Field(min_length=1, description="Why the contract is varied")


def _versions(request: Request, contract_id: str) -> list[ContractVersion]:
    with open_session(request) as session:
        found = contract_history.versions(session, contract_id)
    if not found:
        raise HTTPException(404, f"There is no contract {contract_id}.")
    return found


def _version_json(v: ContractVersion) -> dict[str, Any]:
    return _money(asdict(v))


def vary(
    request: Request, principal: Principal, contract_id: str, body: VariationIn
) -> ContractVersion:
    """Store a variation (the commissioner's finance team), audited; 422 naming every problem."""
    current = _versions(request, contract_id)[-1]
    require_write(request, principal, current.contract.commissioner_code, RECORD)
    changes = body.model_dump(exclude={"reason"}, exclude_unset=True)
    try:
        if "annual_value" in changes and changes["annual_value"] is not None:
            changes["annual_value"] = ledger.money(changes["annual_value"])
        if changes.get("annual_value", 0) is None:
            raise ContractError(["annual_value: give the contract's annual value"])
        record = replace(current.contract, **changes)
        with request.app.state.runtime.transaction() as session:
            row = contract_history.vary(session, record, By.of(principal), body.reason)
            if row is not None:
                audit_request(
                    request,
                    session,
                    action="finance.contract.vary",
                    record_type=RECORD,
                    record_id=contract_id,
                    reason=body.reason,
                    detail={"variation_id": row.id, "changes": _money(changes)},
                )
            versions = contract_history.versions(session, contract_id)
    except (ContractError, ValueError) as e:
        raise HTTPException(422, str(e)) from None
    except IntegrityError:
        raise HTTPException(409, CONFLICT) from None
    return versions[-1]


@router.get(
    "/api/finance/contracts/{contract_id}/versions",
    tags=["finance"],
    summary="Every version of a contract: as registered, then each variation (who, when, why)",
)
def api_contract_versions(
    request: Request, contract_id: str, _: Principal = Depends(require("finance:read"))
) -> list[dict[str, Any]]:
    return [_version_json(v) for v in _versions(request, contract_id)]


@router.post(
    "/api/finance/contracts/{contract_id}/variations",
    tags=["finance"],
    summary="Vary a contract: a new version supersedes the one in force (its commissioner)",
)
def api_vary_contract(
    request: Request,
    contract_id: str,
    body: VariationIn,
    principal: Principal = Depends(require("finance:write")),
) -> dict[str, Any]:
    return _version_json(vary(request, principal, contract_id, body))


def _crumbs(contract_id: str) -> list[dict[str, str]]:
    pairs = (
        ("Home", "/"),
        ("Finance", "/finance"),
        ("Contracts", "/finance/contracts"),
        (contract_id, f"/finance/contracts/{contract_id}"),
    )
    return [{"text": t, "href": h} for t, h in pairs]


def _page(
    request: Request,
    principal: Principal,
    contract_id: str,
    errors: list[dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    versions = _versions(request, contract_id)
    current = versions[-1].contract
    with open_session(request) as session:
        decisions = register.decision_records(session).get(contract_id, [])
        holders = register.holders(session)
    may_vary = decide(
        principal,
        "finance:write",
        resource=Resource(RECORD, organisation_code=current.commissioner_code),
    ).allowed
    return render(
        request,
        "finance/contract.html",
        {
            "page_title": f"Contract {contract_id}",
            "c": current,
            "versions": versions,
            "decisions": decisions,
            "holders": holders,
            "types": register.TYPE_LABELS,
            "routes": register.ROUTE_LABELS,
            "may_vary": may_vary,
            "errors": errors or [],
            "values": values
            or {
                "annual_value": str(current.annual_value),
                "end_date": current.end_date.isoformat() if current.end_date else "",
                "services": current.services,
            },
            "gbp": pounds,
            "breadcrumbs": _crumbs(contract_id),
        },
        status_code=422 if errors else 200,
    )


@router.get(
    "/finance/contracts/{contract_id}", response_class=HTMLResponse, include_in_schema=False
)
def contract_page(
    request: Request, contract_id: str, principal: Principal = Depends(require("finance:read"))
) -> HTMLResponse:
    return _page(request, principal, contract_id)


@router.post(
    "/finance/contracts/{contract_id}/variations",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def vary_contract_submit(
    request: Request, contract_id: str, principal: Principal = Depends(require("finance:write"))
) -> Response:
    form = await request.form()
    values = {k: str(form.get(k, "")).strip() for k in ("annual_value", "end_date", "services")}
    values["reason"] = str(form.get("reason", "")).strip()
    fields: dict[str, Any] = {k: v for k, v in values.items() if v}
    if "annual_value" in fields:
        fields["annual_value"] = fields["annual_value"].replace(",", "").replace("£", "")
    errors = []
    try:
        body = VariationIn.model_validate(fields)
    except ValidationError as e:
        for x in e.errors():
            name = str(x["loc"][0]) if x["loc"] else "reason"
            errors.append({"text": f"{name.replace('_', ' ')}: {x['msg']}", "href": f"#{name}"})
    if not errors:
        try:
            vary(request, principal, contract_id, body)
        except HTTPException as e:
            if e.status_code != 422:
                raise
            errors.append({"text": str(e.detail), "href": "#annual_value"})
    if errors:
        return _page(request, principal, contract_id, errors, values)
    return RedirectResponse(f"/finance/contracts/{contract_id}", status_code=303)
