"""The Caldicott guardian's view of the shared care record's audit (permission ``audit:read``).

- ``GET /fhir/AuditEvent?patient=&agent=``: the record's audit as FHIR AuditEvent resources
  (IHE BALP style), built from the platform audit log on demand (audit_events.py);
- ``/record/audit`` (JSON: ``/api/record/audit``): who looked at this patient; what did this user
  look at; every break-glass;
- ``/record/break-glass`` (JSON: ``/api/record/break-glass``): break-glass uses, the unreviewed
  first; the guardian marks each reviewed with a note.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import audit_request
from integrated_care.accounts.models import AuditEvent
from integrated_care.accounts.policy import Principal, require
from integrated_care.record import audit_events, break_glass
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render

router = APIRouter()
register_nav_item(NavItem("Record audit", "/record/audit", "audit:read"))
FHIR_JSON = "application/fhir+json"
PAGE = 50
Reviewed = Literal["unreviewed", "reviewed", "all"]


@contextmanager
def _transaction(request: Request) -> Iterator[Session]:
    with request.app.state.runtime.transaction() as session:
        yield session


def _fhir(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type=f"{FHIR_JSON}; charset=utf-8")


@router.get(
    "/fhir/AuditEvent",
    summary="The record's audit as FHIR AuditEvent (IHE BALP style; read-only)",
    tags=["FHIR R4"],
)
def fhir_audit_events(
    request: Request,
    patient: str | None = Query(None, description="Patient id: who looked at this record"),
    agent: str | None = Query(None, description="Username: what did this user look at"),
    purpose: str | None = Query(None, description="BTG: break-glass uses only"),
    count: int = Query(PAGE, alias="_count", ge=1, le=1000),
    offset: int = Query(0, alias="_offset", ge=0),
    _: Principal = Depends(require("audit:read")),
) -> Response:
    where = audit_events.RecordAuditFilter(
        patient=patient, user=agent, break_glass=(purpose or "").upper() == "BTG"
    )
    base = str(request.base_url).rstrip("/") + "/fhir"
    with _transaction(request) as session:
        events = audit_events.record_events(session, where, limit=count, offset=offset)
        _audit_view(request, session, where, len(events))
    return _fhir(audit_events.as_bundle(events, base))


@router.get("/fhir/AuditEvent/{event_id}", summary="One AuditEvent", tags=["FHIR R4"])
def fhir_audit_event(
    request: Request, event_id: str, _: Principal = Depends(require("audit:read"))
) -> Response:
    with _transaction(request) as session:
        event = session.get(AuditEvent, int(event_id)) if event_id.isdigit() else None
        if event is None or not event.action.startswith("record."):
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": "not-found",
                        "diagnostics": f"there is no AuditEvent/{event_id} of the record",
                    }
                ],
            }
            return _fhir(outcome, 404)
        return _fhir(audit_events.to_fhir(event))


def _audit_view(
    request: Request, session: Session, where: audit_events.RecordAuditFilter, shown: int
) -> None:
    # Looking at who looked is itself audited (not as record.*, so it is not listed here).
    audit_request(
        request,
        session,
        action="audit.record-view",
        record_type="Patient" if where.patient else None,
        record_id=where.patient,
        detail={"user": where.user, "break_glass": where.break_glass, "shown": shown},
    )


class AuditRow(BaseModel):
    id: int
    when: str
    user: str
    organisation: str | None
    action: str
    outcome: str
    break_glass: bool
    resource: str | None
    patient: str | None
    patients_in_search: int
    reason: str | None
    problem: str | None


def _row(event: AuditEvent) -> AuditRow:
    detail = event.detail or {}
    return AuditRow(
        id=event.id,
        when=audit_events._instant(event.occurred_at),
        user=event.actor,
        organisation=event.actor_organisation,
        action=event.action.removeprefix("record."),
        outcome=event.outcome,
        break_glass=audit_events.is_break_glass(event),
        resource=f"{event.record_type}/{event.record_id}"
        if event.record_type and event.record_id
        else event.record_type,
        patient=detail.get("patient"),
        patients_in_search=len(detail.get("patients") or []),
        reason=event.reason,
        problem=detail.get("problem"),
    )


class AuditPage(BaseModel):
    patient: str | None
    user: str | None
    break_glass: bool
    page: int
    events: list[AuditRow]


def _audit_page(
    request: Request, patient: str | None, user: str | None, glass: bool, page: int
) -> AuditPage:
    where = audit_events.RecordAuditFilter(
        patient=patient or None, user=user or None, break_glass=glass
    )
    with _transaction(request) as session:
        events = audit_events.record_events(session, where, limit=PAGE, offset=(page - 1) * PAGE)
        _audit_view(request, session, where, len(events))
        return AuditPage(
            patient=where.patient,
            user=where.user,
            break_glass=glass,
            page=page,
            events=[_row(e) for e in events],
        )


@router.get("/api/record/audit", response_model=AuditPage, tags=["record"])
def audit_api(
    request: Request,
    patient: str | None = Query(None, description="Who looked at this patient's record"),
    user: str | None = Query(None, description="What did this user look at"),
    break_glass: bool = Query(False, description="Break-glass uses only"),
    page: int = Query(1, ge=1),
    _: Principal = Depends(require("audit:read")),
) -> AuditPage:
    """The record's audit events, newest first, 50 a page."""
    return _audit_page(request, patient, user, break_glass, page)


@router.get("/record/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request,
    patient: str | None = None,
    user: str | None = None,
    break_glass: bool = False,
    page: int = Query(1, ge=1),
    _: Principal = Depends(require("audit:read")),
) -> HTMLResponse:
    found = _audit_page(request, patient, user, break_glass, page)
    return render(
        request,
        "record/audit.html",
        {"page_title": "Shared care record audit", "found": found},
    )


class BreakGlassUse(BaseModel):
    id: int
    user: str
    organisation: str
    patient: str
    reason: str
    interaction: str
    started_at: str | None
    expires_at: str | None
    reviewed_at: str | None
    reviewed_by: str | None
    review_note: str | None


class ReviewIn(BaseModel):
    note: str = Field(..., min_length=1, max_length=2000, description="What the review found")


def _uses(request: Request, status: Reviewed) -> list[BreakGlassUse]:
    reviewed = {"unreviewed": False, "reviewed": True, "all": None}[status]
    with _transaction(request) as session:
        rows = break_glass.uses(session, break_glass.BreakGlassFilter(reviewed=reviewed))
        return [BreakGlassUse(**break_glass.as_dict(r)) for r in rows]  # type: ignore[arg-type]


@router.get("/api/record/break-glass", response_model=list[BreakGlassUse], tags=["record"])
def break_glass_api(
    request: Request,
    status: Reviewed = "unreviewed",
    _: Principal = Depends(require("audit:read")),
) -> list[BreakGlassUse]:
    """Break-glass uses of the record, newest first (by default those not yet reviewed)."""
    return _uses(request, status)


@router.get("/record/break-glass", response_class=HTMLResponse, include_in_schema=False)
def break_glass_page(
    request: Request,
    status: Reviewed = "unreviewed",
    _: Principal = Depends(require("audit:read")),
) -> HTMLResponse:
    return render(
        request,
        "record/break_glass.html",
        {"page_title": "Break-glass uses", "uses": _uses(request, status), "status": status},
    )


def _review(request: Request, principal: Principal, use_id: int, note: str) -> BreakGlassUse:
    try:
        with _transaction(request) as session:
            row = break_glass.review(session, use_id, principal, note)
            return BreakGlassUse(**break_glass.as_dict(row))  # type: ignore[arg-type]
    except break_glass.ReviewError as error:
        raise HTTPException(404 if "no break-glass" in str(error) else 422, str(error)) from error


@router.post(
    "/api/record/break-glass/{use_id}/review", response_model=BreakGlassUse, tags=["record"]
)
def review_api(
    request: Request,
    use_id: int,
    review: ReviewIn,
    principal: Principal = Depends(require("audit:read")),
) -> BreakGlassUse:
    """Mark a break-glass use reviewed, with a note (audited)."""
    return _review(request, principal, use_id, review.note)


@router.post("/record/break-glass/{use_id}/review", include_in_schema=False)
async def review_form(
    request: Request, use_id: int, principal: Principal = Depends(require("audit:read"))
) -> RedirectResponse:
    form = await request.form()
    _review(request, principal, use_id, str(form.get("note") or ""))
    return RedirectResponse("/record/break-glass", status_code=303)
