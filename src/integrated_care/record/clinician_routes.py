"""The clinician's pages of the shared care record (permission ``record:read``).

- ``/record/find``: find a patient by NHS number, or by last name and date of birth; only
  patients the user may see are listed;
- ``/record/patients/{patient_id}``: one timeline across every partner, with problems,
  medicines, recent results and care plans, each entry naming the organisation that recorded it;
  a patient the user has no relationship with is refused (403) with the reason and, for a
  clinician, a break-glass form (``POST /record/patients/{patient_id}/break-glass``).

These two URLs are linked to from other domains' pages: keep them. Every look goes through
clinician_view.py, i.e. the FHIR service layer, so access and audit are decided in one place.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from integrated_care.accounts.policy import Principal, allows, require
from integrated_care.record import clinician_view, timeline
from integrated_care.record.service import Caller
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render

router = APIRouter(include_in_schema=False)
register_nav_item(NavItem("Shared record", "/record/find", "record:read"))


def _caller(request: Request, principal: Principal) -> Caller:
    return Caller(
        principal,
        base=str(request.base_url).rstrip("/") + "/fhir",
        client=request.client.host if request.client else None,
    )


@router.get("/record/find", response_class=HTMLResponse)
async def find_page(
    request: Request,
    nhs_number: str = "",
    family: str = "",
    given: str = "",
    birth_date: str = "",
    principal: Principal = Depends(require("record:read")),
) -> Response:
    query = clinician_view.FindQuery(nhs_number.strip(), family, given, birth_date.strip())
    found = await run_in_threadpool(
        clinician_view.find_patients,
        request.app.state.runtime,
        _caller(request, principal),
        query,
    )
    if found.refused_patient_id:
        return RedirectResponse(f"/record/patients/{found.refused_patient_id}", status_code=303)
    return render(
        request,
        "record/find.html",
        {
            "page_title": "Find a patient",
            "query": query,
            "found": found,
            "error_summary": [
                {"text": text, "href": f"#{name if name != 'form' else 'nhs_number'}"}
                for name, text in found.errors.items()
            ],
            "format_nhs_number": timeline.format_nhs_number,
        },
        status_code=422 if found.errors else 200,
    )


def _refused(
    request: Request, principal: Principal, patient_id: str, look: clinician_view.RecordLook
) -> HTMLResponse:
    if look.status == 404 or look.status == 410:
        raise HTTPException(look.status, f"There is no patient record {patient_id}.")
    if look.status == 401:
        raise HTTPException(401, look.reason)
    return render(
        request,
        "record/refused.html",
        {
            "page_title": "You cannot open this record",
            "patient_id": patient_id,
            "reason": look.reason,
            "may_break_glass": allows(principal, "record:break-glass"),
            "error": None,
        },
        status_code=look.status,
    )


@router.get("/record/patients/{patient_id}", response_class=HTMLResponse)
async def patient_page(
    request: Request, patient_id: str, principal: Principal = Depends(require("record:read"))
) -> HTMLResponse:
    look = await run_in_threadpool(
        clinician_view.open_record,
        request.app.state.runtime,
        _caller(request, principal),
        patient_id,
    )
    if look.record is None:
        return _refused(request, principal, patient_id, look)
    record = look.record
    return render(
        request,
        "record/patient.html",
        {
            "page_title": f"{record.patient.name}: shared care record",
            "record": record,
            "format_nhs_number": timeline.format_nhs_number,
            "contacts_chart": timeline.contacts_chart(record.contacts_by_month),
            "break_glass": look.break_glass,
        },
    )


@router.post("/record/patients/{patient_id}/break-glass", response_class=HTMLResponse)
async def break_glass_form(
    request: Request, patient_id: str, principal: Principal = Depends(require("record:read"))
) -> Response:
    form = await request.form()
    reason = str(form.get("reason") or "")
    look = await run_in_threadpool(
        clinician_view.break_the_glass,
        request.app.state.runtime,
        _caller(request, principal),
        patient_id,
        reason,
    )
    if look.status == 200:
        return RedirectResponse(f"/record/patients/{patient_id}", status_code=303)
    if look.status == 422:
        return render(
            request,
            "record/refused.html",
            {
                "page_title": "You cannot open this record",
                "patient_id": patient_id,
                "reason": None,
                "may_break_glass": True,
                "error": look.reason,
            },
            status_code=422,
        )
    return _refused(request, principal, patient_id, look)
