"""The finance API under /api/finance: positions, returns, plans, control totals, the history
of a figure, and risk share what-ifs.

Seeing figures needs finance:read. Entering them needs finance:write, which is scoped to the
organisation the user acts for: a trust's finance team sends its own returns and plans. Control
totals and plan agreements are the ICB's to record, so they need finance:write acting for the
ICB. Every change, and every refused return, is audited. Money in JSON is a string of pounds
and pence ("1234.50"), never a float.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from integrated_care.accounts.audit import audit_request, record_event_now
from integrated_care.accounts.policy import Principal, Resource, decide, require
from integrated_care.finance import ledger, returns, risk_share, services
from integrated_care.finance.chart import chart, check_financial_year
from integrated_care.finance.ledger import By, LedgerError, PlanFigure
from integrated_care.finance.positions import SystemPosition

router = APIRouter()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {XLSX: "xlsx", "text/csv": "csv", "application/json": "json"}
NO_FIGURES = "No finance figures have been entered yet."
CONFLICT = (
    "these figures were changed by someone else while yours were being stored; nothing of "
    "yours was stored: look at the figures held and send again"
)
Month = Query(
    None,
    ge=0,
    le=12,
    description="Position at this month (1 = April); default: "
    "the latest month any organisation has reported",
)
Year = Query(None, description='Financial year, e.g. "2026/27"; default: the latest held')


@contextmanager
def open_session(request: Request) -> Iterator[Session]:
    with request.app.state.runtime.sessions() as session:
        yield session


def resolve_year(session: Session, year: str | None) -> str:
    if year:
        try:
            return check_financial_year(year)
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
    found = services.current_year(session)
    if found is None:
        raise HTTPException(404, NO_FIGURES)
    return found


def require_write(request: Request, principal: Principal, org: str, what: str) -> None:
    """finance:write on `org`'s records, or 403 (audited)."""
    decision = decide(principal, "finance:write", resource=Resource(what, organisation_code=org))
    if not decision.allowed:
        record_event_now(
            request.app.state.runtime.sessions,
            actor=principal.username,
            organisation=principal.organisation_code,
            action="access.denied",
            outcome="denied",
            record_type=what,
            record_id=org,
            detail={
                "permission": "finance:write",
                "path": request.url.path,
                "reason": decision.reason,
            },
        )
        raise HTTPException(403, decision.reason)


def _icb(session: Session) -> str:
    code = services.icb_code(session)
    if code is None:
        raise HTTPException(404, "This footprint has no ICB to record control totals")
    return code


# ---- JSON --------------------------------------------------------------------------------------


class YearsOut(BaseModel):
    financial_years: list[str]
    chart_version: str
    lines: list[dict[str, Any]]


@router.get(
    "/api/finance",
    response_model=YearsOut,
    tags=["finance"],
    summary="Years held and the chart of lines",
)
def api_years(request: Request, _: Principal = Depends(require("finance:read"))) -> YearsOut:
    with open_session(request) as session:
        years = ledger.financial_years(session)
    c = chart()
    return YearsOut(
        financial_years=years,
        chart_version=c.version,
        lines=[asdict(line) for line in c.lines.values()],
    )


@router.get(
    "/api/finance/position",
    response_model=SystemPosition,
    tags=["finance"],
    summary="The system position and every organisation's",
)
def api_position(
    request: Request,
    year: str | None = Year,
    month: int | None = Month,
    _: Principal = Depends(require("finance:read")),
) -> SystemPosition:
    with open_session(request) as session:
        return services.system_view(session, resolve_year(session, year), month)


@router.get(
    "/api/finance/organisations/{org}",
    response_model=services.OrganisationView,
    tags=["finance"],
    summary="One organisation's position and plan versions",
)
def api_organisation(
    request: Request,
    org: str,
    year: str | None = Year,
    month: int | None = Month,
    _: Principal = Depends(require("finance:read")),
) -> services.OrganisationView:
    with open_session(request) as session:
        view = services.organisation_view(session, org, resolve_year(session, year), month)
    if view is None:
        raise HTTPException(404, f"There is no organisation with code {org}.")
    return view


@router.get(
    "/api/finance/organisations/{org}/return-template",
    tags=["finance"],
    summary="The monthly return workbook, filled with the figures held",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
def api_template(
    request: Request,
    org: str,
    year: str = Query(..., description='Financial year, e.g. "2026/27"'),
    month: int = Query(..., ge=1, le=12, description="The return's month (1 = April)"),
    _: Principal = Depends(require("finance:read")),
) -> Response:
    with open_session(request) as session:
        year = resolve_year(session, year)
        if ledger.unknown_organisations(session, [org]):
            raise HTTPException(404, f"There is no organisation with code {org}.")
        content = returns.template(session, org, year, month)
    name = f"finance-return-{org}-{year.replace('/', '-')}-m{month:02d}.xlsx"
    return Response(
        content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


class StoredReturnOut(BaseModel):
    id: str
    org_code: str
    financial_year: str
    month: int
    cells: int
    entries_added: int
    unchanged: int


class ProblemsOut(BaseModel):
    detail: str
    problems: list[dict[str, Any]]


def store_return(
    request: Request,
    principal: Principal,
    org: str,
    fmt: str,
    content: bytes,
    filename: str | None,
) -> returns.StoredReturn:
    """Validate and store a return in one transaction; ReturnRejected (audited) if any cell is
    at fault."""
    runtime = request.app.state.runtime
    if len(content) > returns.MAX_BYTES:
        raise HTTPException(413, f"a return is at most {returns.MAX_BYTES:,} bytes")
    parsed = returns.read(fmt, content)
    try:
        with runtime.transaction() as session:
            stored = returns.store(
                session, parsed, org, By.of(principal), fmt=fmt, content=content, filename=filename
            )
            audit_request(
                request,
                session,
                action="finance.return.store",
                record_type="finance_return",
                record_id=stored.id,
                detail={
                    "org_code": org,
                    "month": stored.month,
                    "format": fmt,
                    "entries_added": stored.entries_added,
                },
            )
        return stored
    except IntegrityError:
        # Another return for the same cells was stored between reading and writing: the
        # ledger's one-chain-per-cell indexes refused the second, and nothing was stored.
        raise HTTPException(409, CONFLICT) from None
    except returns.ReturnRejected as rejected:
        record_event_now(
            runtime.sessions,
            actor=principal.username,
            organisation=principal.organisation_code,
            action="finance.return.reject",
            outcome="failure",
            record_type="finance_return",
            record_id=org,
            detail={
                "format": fmt,
                "problems": len(rejected.problems),
                "first": [str(p) for p in rejected.problems[:5]],
            },
        )
        raise


@router.post(
    "/api/finance/organisations/{org}/returns",
    tags=["finance"],
    summary="Send a monthly return (xlsx, CSV or JSON); all of it is stored or none",
    status_code=201,
    response_model=StoredReturnOut,
    responses={422: {"model": ProblemsOut, "description": "Every problem, by sheet and cell"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                XLSX: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def api_send_return(
    request: Request, org: str, principal: Principal = Depends(require("finance:write"))
) -> Any:
    require_write(request, principal, org, "finance_return")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in FORMATS:
        raise HTTPException(415, f"send a return as one of {', '.join(FORMATS)}")
    content = await request.body()
    try:
        stored = await run_in_threadpool(
            store_return, request, principal, org, FORMATS[media], content, None
        )
    except returns.ReturnRejected as rejected:
        return JSONResponse(
            {
                "detail": f"the return was not stored: {len(rejected.problems)} problem(s)",
                "problems": returns.problems_as_dicts(rejected.problems),
            },
            status_code=422,
        )
    return StoredReturnOut(**asdict(stored))


class PlanFigureIn(BaseModel):
    month: int = Field(ge=1, le=12)
    line: str
    amount: Decimal
    recurrent: bool = True


class PlanIn(BaseModel):
    financial_year: str
    note: str | None = None
    figures: list[PlanFigureIn]


class PlanVersionOut(BaseModel):
    id: int
    number: int
    status: str


def _ledger_error(e: LedgerError) -> HTTPException:
    return HTTPException(422, "; ".join(e.problems))


@router.post(
    "/api/finance/organisations/{org}/plans",
    tags=["finance"],
    status_code=201,
    response_model=PlanVersionOut,
    summary="Submit a plan (version 1) or a revision (version 2, 3, ...)",
)
def api_submit_plan(
    request: Request,
    org: str,
    body: PlanIn,
    principal: Principal = Depends(require("finance:write")),
) -> PlanVersionOut:
    require_write(request, principal, org, "finance_plan")
    figures = [PlanFigure(f.month, f.line, f.amount, f.recurrent) for f in body.figures]
    try:
        with request.app.state.runtime.transaction() as session:
            v = ledger.create_plan_version(
                session, org, body.financial_year, figures, By.of(principal), body.note
            )
            status = ledger.plan_status(session, v.id)
            audit_request(
                request,
                session,
                action="finance.plan.submit",
                record_type="finance_plan_version",
                record_id=str(v.id),
                detail={"org_code": org, "number": v.number, "status": status},
            )
    except LedgerError as e:
        raise _ledger_error(e) from None
    except IntegrityError:
        raise HTTPException(409, CONFLICT) from None
    return PlanVersionOut(id=v.id, number=v.number, status=status)


@router.post(
    "/api/finance/plans/{version_id}/agree",
    tags=["finance"],
    response_model=PlanVersionOut,
    summary="Record a plan version as agreed (the ICB)",
)
def api_agree_plan(
    request: Request, version_id: int, principal: Principal = Depends(require("finance:write"))
) -> PlanVersionOut:
    with request.app.state.runtime.sessions() as session:
        icb = _icb(session)
    require_write(request, principal, icb, "finance_plan_agreement")
    try:
        with request.app.state.runtime.transaction() as session:
            step = ledger.agree_plan(session, version_id, By.of(principal))
            version = session.get(ledger.PlanVersion, version_id)
            audit_request(
                request,
                session,
                action="finance.plan.agree",
                record_type="finance_plan_version",
                record_id=str(version_id),
                detail={"org_code": version.org_code, "number": version.number},
            )
    except LedgerError as e:
        raise _ledger_error(e) from None
    except IntegrityError:
        raise HTTPException(409, CONFLICT) from None
    return PlanVersionOut(id=version_id, number=version.number, status=step.status)


class ControlTotalIn(BaseModel):
    financial_year: str
    amount: Decimal = Field(description="Planned surplus (+) or deficit (-), pounds")
    reason: str | None = None


class ControlTotalOut(BaseModel):
    org_code: str
    financial_year: str
    amount: Decimal
    changed: bool
    system_control_total: Decimal


@router.post(
    "/api/finance/organisations/{org}/control-total",
    tags=["finance"],
    response_model=ControlTotalOut,
    summary="Set an organisation's control total (the ICB)",
)
def api_control_total(
    request: Request,
    org: str,
    body: ControlTotalIn,
    principal: Principal = Depends(require("finance:write")),
) -> ControlTotalOut:
    with request.app.state.runtime.sessions() as session:
        icb = _icb(session)
    require_write(request, principal, icb, "finance_control_total")
    try:
        with request.app.state.runtime.transaction() as session:
            row = ledger.set_control_total(
                session, org, body.financial_year, body.amount, By.of(principal), body.reason
            )
            if row is not None:
                audit_request(
                    request,
                    session,
                    action="finance.control_total.set",
                    record_type="finance_control_total",
                    record_id=str(row.id),
                    reason=body.reason,
                    detail={"org_code": org, "amount": str(row.amount)},
                )
            system = ledger.system_control_total(session, body.financial_year)
    except (LedgerError, ValueError) as e:
        raise HTTPException(422, str(e)) from None
    except IntegrityError:
        raise HTTPException(409, CONFLICT) from None
    return ControlTotalOut(
        org_code=org,
        financial_year=body.financial_year,
        amount=ledger.money(body.amount),
        changed=row is not None,
        system_control_total=system,
    )


class EntryOut(BaseModel):
    id: int
    org_code: str
    financial_year: str
    month: int
    line: str
    kind: str
    recurrent: bool
    amount: Decimal
    supersedes_id: int | None
    reason: str | None
    source: str
    return_id: str | None
    recorded_by: str
    recorded_by_organisation: str | None
    recorded_at: Any


@router.get(
    "/api/finance/entries/{entry_id}/history",
    response_model=list[EntryOut],
    tags=["finance"],
    summary="Every version of a figure: who entered it, and when",
)
def api_history(
    request: Request, entry_id: int, _: Principal = Depends(require("finance:read"))
) -> list[EntryOut]:
    with open_session(request) as session:
        chain = ledger.entry_history(session, entry_id)
        if not chain:
            raise HTTPException(404, f"There is no ledger entry {entry_id}.")
        return [EntryOut.model_validate(e, from_attributes=True) for e in chain]


class CorrectionIn(BaseModel):
    amount: Decimal = Field(description="The corrected figure, pounds")
    reason: str = Field(min_length=1, description="Why: kept with the correction")


@router.post(
    "/api/finance/entries/{entry_id}/correct",
    response_model=EntryOut,
    status_code=201,
    tags=["finance"],
    summary="Correct an actual or forecast figure: a new entry supersedes it, with the reason",
)
def api_correct(
    request: Request,
    entry_id: int,
    body: CorrectionIn,
    principal: Principal = Depends(require("finance:write")),
) -> EntryOut:
    with open_session(request) as session:
        entry = session.get(ledger.LedgerEntry, entry_id)
        if entry is None:
            raise HTTPException(404, f"There is no ledger entry {entry_id}.")
        org = entry.org_code
    require_write(request, principal, org, "finance_entry")
    try:
        with request.app.state.runtime.transaction() as session:
            row = ledger.correct_entry(
                session, entry_id, body.amount, By.of(principal), body.reason
            )
            audit_request(
                request,
                session,
                action="finance.entry.correct",
                record_type="finance_entry",
                record_id=str(row.id),
                reason=body.reason,
                detail={"supersedes": entry_id, "org_code": org, "amount": str(row.amount)},
            )
            out = EntryOut.model_validate(row, from_attributes=True)
    except (LedgerError, ValueError) as e:
        raise HTTPException(422, str(e)) from None
    except IntegrityError:
        raise HTTPException(409, CONFLICT) from None
    return out


class RiskShareIn(BaseModel):
    financial_year: str | None = None
    month: int | None = Field(None, ge=0, le=12)
    agreement: dict[str, Any] = Field(
        description="See docs/finance.md: name, method, corridor, limits, fixed_shares, host, basis"
    )
    scenarios: list[dict[str, Any]] | None = Field(
        None, description="Default: best, base and worst"
    )
    allocation: dict[str, Decimal] = Field(
        default_factory=dict, description="Per organisation, for sharing pro rata to allocation"
    )


class RiskShareOut(BaseModel):
    financial_year: str
    as_at_month: int
    results: list[dict[str, Any]]


@router.post(
    "/api/finance/risk-share",
    response_model=RiskShareOut,
    tags=["finance"],
    summary="Apply a risk share agreement to the forecast, under scenarios (nothing is stored)",
)
def api_risk_share(
    request: Request, body: RiskShareIn, _: Principal = Depends(require("finance:read"))
) -> RiskShareOut:
    try:
        agreement = risk_share.agreement_from_dict(body.agreement)
        scenarios = (
            [risk_share.scenario_from_dict(s) for s in body.scenarios]
            if body.scenarios
            else risk_share.standard_scenarios()
        )
        with open_session(request) as session:
            year = resolve_year(session, body.financial_year)
            view, results = services.risk_share_view(
                session, year, body.month, agreement, scenarios, body.allocation
            )
    except risk_share.ShareError as e:
        raise HTTPException(422, str(e)) from None
    return RiskShareOut(
        financial_year=year,
        as_at_month=view.as_at_month,
        results=[share_result_json(r) for r in results],
    )


def share_result_json(r: risk_share.ShareResult) -> dict[str, Any]:
    return {
        "scenario": r.scenario,
        "agreement": r.agreement,
        "pool": str(r.pool),
        "host_absorbed": str(r.host_absorbed),
        "total_before": str(r.total_before),
        "total_after": str(r.total_after),
        "organisations": [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(x).items()}
            | {"transfer": str(x.transfer)}
            for x in r.lines
        ],
    }
