"""Risk and gain share agreements through the JSON API, and what the pages share with it:
who may keep agreements (finance:write acting for the ICB) and storing a version, audited as
``finance.agreement.save`` (refusals as ``access.denied``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import audit_request
from integrated_care.accounts.policy import Principal, Resource, decide, require
from integrated_care.finance import agreements, risk_share, services
from integrated_care.finance.agreements import AgreementError, StoredAgreement
from integrated_care.finance.api import (
    CONFLICT,
    open_session,
    require_write,
    resolve_year,
    share_result_json,
)
from integrated_care.finance.ledger import By

router = APIRouter()
RECORD = "finance_share_agreement"


def icb_of(session: Session) -> str:
    code = services.icb_code(session)
    if code is None:
        raise HTTPException(404, "This footprint has no ICB to keep risk share agreements")
    return code


def may_keep_agreements(principal: Principal, icb: str | None) -> bool:
    """Whether `principal` may set up and change agreements (ICB finance)."""
    return (
        icb is not None
        and decide(
            principal, "finance:write", resource=Resource(RECORD, organisation_code=icb)
        ).allowed
    )


def save(
    request: Request,
    principal: Principal,
    reference: str,
    financial_year: str,
    name: str,
    status: str,
    rules: dict[str, Any],
    reason: str | None,
) -> StoredAgreement | None:
    """Store a version (ICB finance only), audited; AgreementError or 409 on a race."""
    with open_session(request) as session:
        icb = icb_of(session)
    require_write(request, principal, icb, RECORD)
    try:
        with request.app.state.runtime.transaction() as session:
            saved = agreements.save(
                session,
                reference,
                financial_year,
                name,
                status,
                rules,
                By.of(principal),
                reason,
            )
            if saved is not None:
                audit_request(
                    request,
                    session,
                    action="finance.agreement.save",
                    record_type=RECORD,
                    record_id=str(saved.id),
                    reason=saved.reason,
                    detail={
                        "reference": saved.reference,
                        "version": saved.version,
                        "status": saved.status,
                        "parties": list(saved.parties),
                        "rules": saved.rules,
                    },
                )
    except IntegrityError:
        raise HTTPException(409, CONFLICT) from None
    return saved


# ---- JSON --------------------------------------------------------------------------------------


class AgreementIn(BaseModel):
    financial_year: str = Field(examples=["2026/27"])
    name: str
    status: str = Field("proposed", description="proposed, agreed or withdrawn")
    parties: list[str] = Field(description="Organisation codes sharing under the agreement")
    method: str = Field(description="fixed, turnover or allocation")
    basis: str = Field("control_total", description="Variance against control_total or plan")
    fixed_shares: dict[str, Decimal] = Field(default_factory=dict, description="Adding up to 1")
    allocation: dict[str, Decimal] = Field(default_factory=dict, description="Pounds, per party")
    corridor: dict[str, Decimal] = Field(
        default_factory=dict,
        description='{"share_of_turnover": "0.005"} or {"lower": "-1000000", "upper": "1000000"}',
    )
    corridors: dict[str, dict[str, Decimal]] = Field(
        default_factory=dict, description="Per party, as corridor"
    )
    limits: dict[str, dict[str, Decimal | None]] = Field(
        default_factory=dict, description='Per party: {"floor": "-5000000", "cap": "2000000"}'
    )
    host: str | None = Field(None, description="The party that absorbs what limits hold back")
    reason: str | None = Field(None, description="Why (required for a change)")

    def rules(self) -> dict[str, Any]:
        return _as_text(self.model_dump(exclude={"financial_year", "name", "status", "reason"}))


class NewAgreementIn(AgreementIn):
    reference: str = Field(examples=["RS-2026-27"])


def _as_text(value: Any) -> Any:
    """Decimals as strings, as the rules are stored (never floats)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    return value


class AgreementOut(BaseModel):
    id: int
    reference: str
    version: int
    financial_year: str
    name: str
    status: str
    parties: list[str]
    rules: dict[str, Any]
    supersedes_id: int | None
    reason: str | None
    recorded_by: str
    recorded_by_organisation: str | None
    recorded_at: Any


def _out(a: StoredAgreement) -> AgreementOut:
    return AgreementOut(
        id=a.id,
        reference=a.reference,
        version=a.version,
        financial_year=a.financial_year,
        name=a.name,
        status=a.status,
        parties=list(a.parties),
        rules=a.rules,
        supersedes_id=a.supersedes_id,
        reason=a.reason,
        recorded_by=a.recorded_by,
        recorded_by_organisation=a.recorded_by_organisation,
        recorded_at=a.recorded_at,
    )


def _refused(e: AgreementError) -> HTTPException:
    return HTTPException(422, {"message": "Nothing was stored.", "problems": e.problems})


@router.get(
    "/api/finance/agreements",
    response_model=list[AgreementOut],
    tags=["finance"],
    summary="Risk share agreements for a year, each as the version in force",
)
def api_agreements(
    request: Request,
    year: str | None = None,
    withdrawn: bool = False,
    _: Principal = Depends(require("finance:read")),
) -> list[AgreementOut]:
    with open_session(request) as session:
        year = resolve_year(session, year)
        found = agreements.agreements(session, year, include_withdrawn=withdrawn)
    return [_out(a) for a in found]


@router.post(
    "/api/finance/agreements",
    response_model=AgreementOut,
    status_code=201,
    tags=["finance"],
    summary="Set up a risk share agreement (ICB finance)",
)
def api_new_agreement(
    request: Request, body: NewAgreementIn, principal: Principal = Depends(require("finance:write"))
) -> AgreementOut:
    with open_session(request) as session:
        if agreements.in_force(session, body.reference) is not None:
            raise HTTPException(409, f"There is already an agreement {body.reference}.")
    try:
        saved = save(
            request,
            principal,
            body.reference,
            body.financial_year,
            body.name,
            body.status,
            body.rules(),
            body.reason,
        )
    except AgreementError as e:
        raise _refused(e) from None
    assert saved is not None  # a first version always changes something
    return _out(saved)


@router.get(
    "/api/finance/agreements/{reference}/versions",
    response_model=list[AgreementOut],
    tags=["finance"],
    summary="Every version of an agreement: what changed, who recorded it, when and why",
)
def api_agreement_versions(
    request: Request, reference: str, _: Principal = Depends(require("finance:read"))
) -> list[AgreementOut]:
    with open_session(request) as session:
        versions = agreements.history(session, reference)
    if not versions:
        raise HTTPException(404, f"There is no agreement {reference}.")
    return [_out(a) for a in versions]


@router.post(
    "/api/finance/agreements/{reference}/versions",
    response_model=AgreementOut,
    tags=["finance"],
    summary="Change an agreement: a new version supersedes the one in force (ICB finance)",
    responses={200: {"description": "The new version (or the one in force, if unchanged)"}},
)
def api_change_agreement(
    request: Request,
    reference: str,
    body: AgreementIn,
    principal: Principal = Depends(require("finance:write")),
) -> AgreementOut:
    with open_session(request) as session:
        current = agreements.in_force(session, reference)
    if current is None:
        raise HTTPException(404, f"There is no agreement {reference}.")
    try:
        saved = save(
            request,
            principal,
            reference,
            body.financial_year,
            body.name,
            body.status,
            body.rules(),
            body.reason,
        )
    except AgreementError as e:
        raise _refused(e) from None
    return _out(saved or current)


class ApplyIn(BaseModel):
    month: int | None = Field(None, ge=0, le=12)
    scenarios: list[dict[str, Any]] | None = Field(
        None,
        description="Default: best, base and worst. A what-if: "
        '{"name": "...", "adverse": "1.2", "favourable": "1", "overrides": {"ORG": "-500000"}}',
    )


class ApplyOut(BaseModel):
    reference: str
    version: int
    financial_year: str
    as_at_month: int
    parties_without_variance: list[str]
    results: list[dict[str, Any]]


@router.post(
    "/api/finance/agreements/{reference}/apply",
    response_model=ApplyOut,
    tags=["finance"],
    summary="The agreement in force applied to the forecast, under scenarios (nothing stored)",
)
def api_apply_agreement(
    request: Request,
    reference: str,
    body: ApplyIn,
    _: Principal = Depends(require("finance:read")),
) -> ApplyOut:

    try:
        scenarios = (
            [risk_share.scenario_from_dict(s) for s in body.scenarios]
            if body.scenarios
            else risk_share.standard_scenarios()
        )
        with open_session(request) as session:
            current = agreements.in_force(session, reference)
            if current is None:
                raise HTTPException(404, f"There is no agreement {reference}.")
            applied = services.agreement_view(
                session, current.agreement, current.financial_year, body.month, scenarios
            )
    except risk_share.ShareError as e:
        raise HTTPException(422, str(e)) from None
    return ApplyOut(
        reference=reference,
        version=current.version,
        financial_year=current.financial_year,
        as_at_month=applied.position.as_at_month,
        parties_without_variance=applied.parties_without_variance,
        results=[share_result_json(r) for r in applied.results],
    )
