"""The referral pages: inbox and outbox, a referral with its history and the actions open to
you, the form to make one (finding the patient by NHS number), the service directory and a
service's page, and waiting times. Each calls the same handler as its JSON twin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from integrated_care.accounts.policy import Principal, allows, require
from integrated_care.coordination import directory
from integrated_care.coordination import referral_handlers as h
from integrated_care.coordination import referral_views as views
from integrated_care.coordination import referral_waits as rw
from integrated_care.coordination import referrals as ref
from integrated_care.web.templating import render

router = APIRouter()
READ = Depends(require("care:read"))
WRITE = Depends(require("care:write"))


@router.get("/referrals", include_in_schema=False)
def referrals_home(principal: Principal = READ) -> RedirectResponse:
    return RedirectResponse("/referrals/inbox", status_code=303)


def _box_page(request: Request, principal: Principal, box: str, status: str | None) -> HTMLResponse:
    rows = h.referral_list(request, principal, box, status)
    title = "Referrals received" if box == "inbox" else "Referrals sent"
    return render(
        request,
        "referrals/box.html",
        {
            "page_title": title,
            "box": box,
            "status": status or "",
            "rows": rows,
            "may_write": allows(principal, "care:write"),
            "acts_for": principal.organisation_name,
            "statuses": ref.STATUS_LABELS,
            "breadcrumbs": h.crumbs((title, request.url.path)),
        },
    )


@router.get("/referrals/inbox", response_class=HTMLResponse, include_in_schema=False)
def inbox_page(
    request: Request, status: str | None = None, principal: Principal = READ
) -> HTMLResponse:
    return _box_page(request, principal, "inbox", status or None)


@router.get("/referrals/outbox", response_class=HTMLResponse, include_in_schema=False)
def outbox_page(
    request: Request, status: str | None = None, principal: Principal = READ
) -> HTMLResponse:
    return _box_page(request, principal, "outbox", status or None)


def _new_page(
    request: Request,
    principal: Principal,
    nhs_number: str | None,
    service_id: int | None,
    *,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    patient = None
    lookup_error = None
    if nhs_number:
        try:
            patient = h.find(request, principal, nhs_number.replace(" ", ""))
        except HTTPException as e:
            lookup_error = str(e.detail)
        if patient is None and lookup_error is None:
            lookup_error = (
                f"No patient with NHS number {nhs_number} whose record you may see: you can refer "
                "only people your organisation cares for."
            )

    def build(s: Session) -> list[views.ServiceOut]:
        names = views.org_names(s)
        return [
            views.service_out(x, names)
            for x in directory.list_services(s, accepting=True)
            if x.org_code != principal.organisation_code
        ]

    return render(
        request,
        "referrals/new.html",
        {
            "page_title": "Make a referral",
            "nhs_number": nhs_number or "",
            "patient": patient,
            "lookup_error": lookup_error,
            "services": h.read(request, principal, build),
            "service_id": service_id,
            "urgencies": ref.URGENCY_LABELS,
            "error": error,
            "values": values or {},
            "breadcrumbs": h.crumbs(("Make a referral", "/referrals/new")),
        },
        status_code=status_code,
    )


@router.get("/referrals/new", response_class=HTMLResponse, include_in_schema=False)
def new_page(
    request: Request,
    nhs_number: str | None = None,
    service_id: int | None = None,
    principal: Principal = WRITE,
) -> HTMLResponse:
    return _new_page(request, principal, nhs_number, service_id)


@router.post("/referrals", include_in_schema=False, response_model=None)
async def new_form(request: Request, principal: Principal = WRITE) -> Any:
    fields = await h.form_fields(request)
    try:
        body = h.ReferralIn(
            patient_id=fields.get("patient_id", ""),
            service_id=int(fields.get("service_id") or 0),
            reason=fields.get("reason", ""),
            urgency=fields.get("urgency", "routine"),
            consent=fields.get("consent") == "yes",
            consent_note=fields.get("consent_note") or None,
        )
        done = await run_in_threadpool(h.make_referral, request, principal, body)
    except HTTPException as e:
        problem, status = str(e.detail), e.status_code
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        problem, status = _problems(e), 422
    else:
        return RedirectResponse(f"/referrals/{done.id}", status_code=303)
    return await run_in_threadpool(_form_error, request, principal, fields, problem, status)


def _problems(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if not callable(errors):
        return str(e)
    return "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in errors())


def _form_error(
    request: Request, principal: Principal, fields: dict[str, str], error: str, status: int
) -> HTMLResponse:
    service = fields.get("service_id")
    return _new_page(
        request,
        principal,
        fields.get("nhs_number"),
        int(service) if service and service.isdigit() else None,
        error=error,
        values=fields,
        status_code=status,
    )


@router.get("/referrals/services", response_class=HTMLResponse, include_in_schema=False)
def directory_page(
    request: Request,
    org: str | None = None,
    kind: str | None = None,
    accepting: str | None = None,
    principal: Principal = READ,
) -> HTMLResponse:
    open_only = True if accepting == "yes" else None
    every = h.service_list(request, principal, None, None, None)
    rows = h.service_list(request, principal, org or None, kind or None, open_only)
    return render(
        request,
        "referrals/directory.html",
        {
            "page_title": "Service directory",
            "rows": rows,
            "org": org or "",
            "organisations": sorted({(s.organisation, s.org_code) for s in every}),
            "kind": kind or "",
            "accepting": accepting or "",
            "kinds": directory.KIND_LABELS,
            "may_write": allows(principal, "care:write"),
            "breadcrumbs": h.crumbs(("Service directory", "/referrals/services")),
        },
    )


@router.get(
    "/referrals/services/{service_id}", response_class=HTMLResponse, include_in_schema=False
)
def service_page(request: Request, service_id: int, principal: Principal = READ) -> HTMLResponse:
    detail, waits = h.service_detail(request, principal, service_id)
    return render(
        request,
        "referrals/service.html",
        {
            "page_title": detail.service.name,
            "d": detail,
            "chart": rw.service_chart(waits),
            "own": detail.service.org_code == principal.organisation_code
            and allows(principal, "care:write"),
            "may_write": allows(principal, "care:write"),
            "breadcrumbs": h.crumbs(
                ("Service directory", "/referrals/services"),
                (detail.service.name, request.url.path),
            ),
        },
    )


@router.post("/referrals/services/{service_id}/accepting", include_in_schema=False)
async def accepting_form(
    request: Request, service_id: int, principal: Principal = WRITE
) -> RedirectResponse:
    fields = await h.form_fields(request)
    accepting = fields.get("accepting") == "yes"
    await run_in_threadpool(h.set_accepting, request, principal, service_id, accepting)
    return RedirectResponse(f"/referrals/services/{service_id}", status_code=303)


@router.get("/referrals/waits", response_class=HTMLResponse, include_in_schema=False)
def waits_page(request: Request, principal: Principal = READ) -> HTMLResponse:
    d = h.waits_of(request, principal)
    names = h.read(request, principal, views.org_names)
    figures = [rw.ServiceWaits(**f.model_dump()) for f in d.services]
    return render(
        request,
        "referrals/waits.html",
        {
            "page_title": "Referral waiting times",
            "d": d,
            "chart": rw.summary_chart(figures, names),
            "caps": directory.urgency_caps(),
            "breadcrumbs": h.crumbs(("Waiting times", "/referrals/waits")),
        },
    )


def _referral_page(
    request: Request, principal: Principal, referral_id: int, error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    d = h.referral_detail(request, principal, referral_id)
    r = d.referral
    title = f"Referral {r.id} to {r.service}"
    return render(
        request,
        "referrals/referral.html",
        {
            "page_title": title,
            "d": d,
            "r": r,
            "may_write": allows(principal, "care:write"),
            "may_read_record": allows(principal, "record:read"),
            "error": error,
            "breadcrumbs": h.crumbs((title, request.url.path)),
        },
        status_code=status_code,
    )


@router.get("/referrals/{referral_id}", response_class=HTMLResponse, include_in_schema=False)
def referral_page(request: Request, referral_id: int, principal: Principal = READ) -> HTMLResponse:
    return _referral_page(request, principal, referral_id)


@router.post("/referrals/{referral_id}/{action}", include_in_schema=False, response_model=None)
async def action_form(
    request: Request, referral_id: int, action: str, principal: Principal = WRITE
) -> Any:
    fields = await h.form_fields(request)
    try:
        await run_in_threadpool(
            h.act, request, principal, referral_id, action, fields.get("note") or None
        )
    except HTTPException as e:
        if e.status_code not in (409, 422):
            raise
        return await run_in_threadpool(
            _referral_page, request, principal, referral_id, str(e.detail), e.status_code
        )
    return RedirectResponse(f"/referrals/{referral_id}", status_code=303)
