"""Shared care plan pages under /care-plans and their JSON twins under /api/care-plans.

``care:read`` / ``care:write`` to use them; the shared care record then decides, for each plan,
exactly as for a FHIR call (record:read / record:write and a legitimate relationship with the
patient) and audits each look and change (care_plans.py). An edit names the version it started
from; if someone saved a newer one meanwhile, the edit is refused with a message saying so.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from integrated_care.accounts.policy import Principal, allows, require
from integrated_care.coordination import care_plans as cp
from integrated_care.footprint.models import Organisation
from integrated_care.record import service
from integrated_care.record.identifiers import NHS_NUMBER_SYSTEM
from integrated_care.record.service import Caller, Reply
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render

router = APIRouter()
register_nav_item(NavItem("Care plans", "/care-plans", "care:read"))
TAGS = ["care coordination"]
READ = Depends(require("care:read"))
WRITE = Depends(require("care:write"))
GOAL_SLOTS, ACTIVITY_SLOTS = 2, 2  # blank rows offered beyond the plan's own
_SLOT = re.compile(r"^(goal|activity)_(\d+)_(\w+)$")


class NewCarePlanIn(cp.CarePlanIn):
    patient_id: str


class CarePlanOut(BaseModel):
    id: str
    version: int
    patient_id: str
    title: str
    description: str | None
    status: str
    start: dt.date | None
    review_date: dt.date | None
    review_state: str
    author: str | None
    author_name: str | None
    goals: list[dict[str, Any]]
    activities: list[dict[str, Any]]
    last_updated: str


# ---- plumbing ------------------------------------------------------------------------------------


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _caller(request: Request, principal: Principal) -> Caller:
    return Caller(
        principal,
        base=str(request.base_url) + "fhir",
        client=request.client.host if request.client else None,
    )


def _out(plan: cp.CarePlan) -> CarePlanOut:
    return CarePlanOut(
        id=plan.id,
        version=plan.version,
        patient_id=plan.patient_id,
        title=plan.title,
        description=plan.description,
        status=plan.status,
        start=plan.start,
        review_date=plan.review_date,
        review_state=plan.review_state(_today()),
        author=plan.author,
        author_name=plan.author_name,
        goals=[g.__dict__ for g in plan.goals],
        activities=[a.__dict__ for a in plan.activities],
        last_updated=plan.last_updated,
    )


def _fail(reply: Reply) -> HTTPException:
    """The record's refusal or problem as an HTTP error (already audited by the record)."""
    status = 404 if reply.status == 410 else reply.status
    return HTTPException(status, cp.problem(reply))


def _organisations(request: Request) -> list[tuple[str, str]]:
    with request.app.state.runtime.sessions() as session:
        rows = session.execute(
            select(Organisation.org_code, Organisation.name)
            .where(Organisation.org_type != "gp_practice")
            .order_by(Organisation.name)
        )
        return [(code, name) for code, name in rows]


async def _plan_form(request: Request) -> cp.CarePlanIn:
    """The plan from the page's form: numbered goal_N_* and activity_N_* rows; blank rows are
    left out. Problems are a 422 naming each field."""
    form = await request.form()
    plan: dict[str, Any] = {"goals": {}, "activities": {}}
    for key, value in form.items():
        if key == "csrf_token" or not isinstance(value, str) or not value.strip():
            continue
        slot = _SLOT.match(key)
        if slot:
            kind, n, field = slot.groups()
            plan["goals" if kind == "goal" else "activities"].setdefault(int(n), {})[field] = value
        else:
            plan[key] = value
    for rows, prefix, filled in (
        ("goals", "goal", "due"),
        ("activities", "activity", "organisation"),
    ):
        for n, row in plan[rows].items():
            if row.get(filled) and not row.get("description"):
                raise HTTPException(422, f"{prefix}_{n}_description: say what it is")
        # A row without a description is a blank row (its status select always has a value).
        plan[rows] = [row for _, row in sorted(plan[rows].items()) if row.get("description")]
    try:
        return cp.CarePlanIn.model_validate(plan)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise HTTPException(422, problems) from None


def _form_context(request: Request, plan: cp.CarePlanIn | None) -> dict[str, Any]:
    goals = [g.model_dump() for g in plan.goals] if plan else []
    activities = [a.model_dump() for a in plan.activities] if plan else []
    return {
        "plan": plan,
        "goal_rows": goals + [{}] * GOAL_SLOTS,
        "activity_rows": activities + [{}] * ACTIVITY_SLOTS,
        "organisations": _organisations(request),
        "plan_statuses": cp.PLAN_STATUSES,
        "activity_statuses": cp.ACTIVITY_STATUSES,
        "goal_statuses": cp.GOAL_STATUSES,
    }


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [
        {"text": t, "href": h} for t, h in (("Home", "/"), ("Care plans", "/care-plans"), *pairs)
    ]


# ---- JSON API ------------------------------------------------------------------------------------


@router.get("/api/care-plans", tags=TAGS)
def api_patient_plans(
    request: Request, patient: str, principal: Principal = READ
) -> list[CarePlanOut]:
    """The patient's care plans (if their record is open to you)."""
    reply, plans = cp.patient_plans(request.app.state.runtime, _caller(request, principal), patient)
    if reply.status != 200:
        raise _fail(reply)
    return [_out(p) for p in plans]


@router.post("/api/care-plans", tags=TAGS, status_code=201)
def api_create(request: Request, body: NewCarePlanIn, principal: Principal = WRITE) -> JSONResponse:
    """Write a care plan into the patient's shared care record (a FHIR CarePlan)."""
    plan = cp.CarePlanIn.model_validate(body.model_dump(exclude={"patient_id"}))
    reply = cp.create(request.app.state.runtime, _caller(request, principal), body.patient_id, plan)
    if reply.status != 201:
        raise _fail(reply)
    created = cp.from_fhir(reply.json())
    return JSONResponse(
        _out(created).model_dump(mode="json"), 201, {"ETag": reply.headers.get("ETag", "")}
    )


@router.get("/api/care-plans/reviews", tags=TAGS)
def api_reviews(request: Request, principal: Principal = READ) -> list[CarePlanOut]:
    """Active care plans your organisation wrote or acts in, review overdue or due in 28 days."""
    reply, plans = cp.reviews_for(
        request.app.state.runtime,
        _caller(request, principal),
        principal.organisation_code,
        _today(),
    )
    if reply.status != 200:
        raise _fail(reply)
    return [_out(p) for p in plans]


@router.get("/api/care-plans/{plan_id}", tags=TAGS)
def api_plan(request: Request, plan_id: str, principal: Principal = READ) -> JSONResponse:
    """One care plan; its ETag is the version to send as If-Match when editing it."""
    reply, plan = cp.read(request.app.state.runtime, _caller(request, principal), plan_id)
    if plan is None:
        raise _fail(reply)
    return JSONResponse(_out(plan).model_dump(mode="json"), headers={"ETag": reply.headers["ETag"]})


@router.put("/api/care-plans/{plan_id}", tags=TAGS)
def api_update(
    request: Request,
    plan_id: str,
    body: cp.CarePlanIn,
    if_match: str | None = Header(None, description='The version edited, as W/"3"'),
    principal: Principal = WRITE,
) -> JSONResponse:
    """A new version of the plan; 412 if it changed since the If-Match version, 428 without."""
    reply = cp.update(
        request.app.state.runtime, _caller(request, principal), plan_id, body, if_match=if_match
    )
    if reply.status not in (200, 201):
        conflict = cp.version_conflict(reply)
        if conflict:
            raise HTTPException(412, conflict)
        raise _fail(reply)
    plan = cp.from_fhir(reply.json())
    return JSONResponse(_out(plan).model_dump(mode="json"), headers={"ETag": reply.headers["ETag"]})


# ---- pages ---------------------------------------------------------------------------------------


def review_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Reviews by week they fall due, overdue ones in red."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": "container",
        "data": {"values": rows},
        "mark": "bar",
        "encoding": {
            "x": {"field": "week", "type": "ordinal", "title": "Week the review is due"},
            "y": {"field": "plans", "type": "quantitative", "title": "Care plans"},
            "color": {
                "field": "state",
                "type": "nominal",
                "title": "Review",
                "scale": {"domain": ["Overdue", "Due"], "range": ["#d5281b", "#005eb8"]},
            },
            "tooltip": [{"field": "week"}, {"field": "state"}, {"field": "plans"}],
        },
    }


def _review_rows(plans: list[cp.CarePlan], today: dt.date) -> list[dict[str, Any]]:
    counted: dict[tuple[str, str], int] = {}
    for p in plans:
        if p.review_date is None:
            continue
        monday = p.review_date - dt.timedelta(days=p.review_date.weekday())
        state = "Overdue" if p.review_state(today) == "overdue" else "Due"
        counted[(monday.isoformat(), state)] = counted.get((monday.isoformat(), state), 0) + 1
    return [{"week": w, "state": s, "plans": n} for (w, s), n in sorted(counted.items())]


@router.get("/care-plans", response_class=HTMLResponse, include_in_schema=False)
def reviews_page(request: Request, principal: Principal = READ) -> HTMLResponse:
    today = _today()
    reply, plans = cp.reviews_for(
        request.app.state.runtime, _caller(request, principal), principal.organisation_code, today
    )
    if reply.status != 200:
        raise _fail(reply)
    rows = _review_rows(plans, today)
    return render(
        request,
        "care_plans/reviews.html",
        {
            "page_title": f"Care plan reviews: {principal.organisation_name}",
            "plans": plans,
            "today": today,
            "rows": rows,
            "chart": review_chart(rows),
            "soon": cp.REVIEW_SOON_DAYS,
            "breadcrumbs": _crumbs(),
        },
    )


@router.get("/care-plans/find", include_in_schema=False)
def find_patient(
    request: Request, nhs_number: str, principal: Principal = READ
) -> RedirectResponse:
    """The patient's care plans, found by NHS number (an audited, access-limited search)."""
    number = re.sub(r"[\s-]", "", nhs_number)
    if not re.fullmatch(r"\d{10}", number):
        raise HTTPException(422, f"nhs_number: {nhs_number!r} is not 10 digits")
    reply = service.search_type(
        request.app.state.runtime,
        _caller(request, principal),
        "Patient",
        [("identifier", f"{NHS_NUMBER_SYSTEM}|{number}")],
    )
    if reply.status != 200:
        raise _fail(reply)
    found = [e["resource"]["id"] for e in reply.json().get("entry", [])]
    if not found:
        raise HTTPException(404, f"no patient with NHS number {number} whose record is open to you")
    return RedirectResponse(f"/care-plans/patients/{found[0]}", status_code=303)


@router.get(
    "/care-plans/patients/{patient_id}", response_class=HTMLResponse, include_in_schema=False
)
def patient_page(request: Request, patient_id: str, principal: Principal = READ) -> HTMLResponse:
    reply, plans = cp.patient_plans(
        request.app.state.runtime, _caller(request, principal), patient_id
    )
    if reply.status != 200:
        raise _fail(reply)
    return render(
        request,
        "care_plans/patient.html",
        {
            "page_title": "Care plans",
            "patient_id": patient_id,
            "plans": plans,
            "today": _today(),
            "may_write": allows(principal, "care:write"),
            "breadcrumbs": _crumbs(("This patient's care plans", request.url.path)),
        },
    )


@router.get(
    "/care-plans/patients/{patient_id}/new", response_class=HTMLResponse, include_in_schema=False
)
def new_page(request: Request, patient_id: str, principal: Principal = WRITE) -> HTMLResponse:
    return render(
        request,
        "care_plans/edit.html",
        {
            "page_title": "New care plan",
            "action": f"/care-plans/patients/{patient_id}",
            "version": None,
            **_form_context(request, None),
            "breadcrumbs": _crumbs(
                ("This patient's care plans", f"/care-plans/patients/{patient_id}"),
                ("New care plan", request.url.path),
            ),
        },
    )


@router.post("/care-plans/patients/{patient_id}", include_in_schema=False)
async def create_form(
    request: Request, patient_id: str, principal: Principal = WRITE
) -> RedirectResponse:
    plan = await _plan_form(request)
    reply = cp.create(request.app.state.runtime, _caller(request, principal), patient_id, plan)
    if reply.status != 201:
        raise _fail(reply)
    return RedirectResponse(f"/care-plans/{reply.json()['id']}", status_code=303)


def _plan_page(
    request: Request,
    principal: Principal,
    plan: cp.CarePlan,
    *,
    conflict: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "care_plans/plan.html",
        {
            "page_title": plan.title,
            "p": plan,
            "today": _today(),
            "conflict": conflict,
            "action": f"/care-plans/{plan.id}",
            "version": plan.version,
            "may_write": allows(principal, "care:write"),
            **_form_context(request, plan.as_input()),
            "breadcrumbs": _crumbs(
                ("This patient's care plans", f"/care-plans/patients/{plan.patient_id}"),
                (plan.title, request.url.path),
            ),
        },
        status_code=status_code,
    )


@router.get("/care-plans/{plan_id}", response_class=HTMLResponse, include_in_schema=False)
def plan_page(request: Request, plan_id: str, principal: Principal = READ) -> HTMLResponse:
    reply, plan = cp.read(request.app.state.runtime, _caller(request, principal), plan_id)
    if plan is None:
        raise _fail(reply)
    return _plan_page(request, principal, plan)


@router.post("/care-plans/{plan_id}", response_model=None, include_in_schema=False)
async def edit_form(
    request: Request, plan_id: str, principal: Principal = WRITE
) -> RedirectResponse | HTMLResponse:
    form = await request.form()
    version = str(form.get("version") or "")
    plan = await _plan_form(request)
    runtime, caller = request.app.state.runtime, _caller(request, principal)
    reply = cp.update(
        runtime, caller, plan_id, plan, if_match=f'W/"{version}"' if version else None
    )
    conflict = cp.version_conflict(reply)
    if conflict:
        _, latest = cp.read(runtime, caller, plan_id)
        if latest is not None:
            return _plan_page(request, principal, latest, conflict=conflict, status_code=409)
    if reply.status not in (200, 201):
        raise _fail(reply)
    return RedirectResponse(f"/care-plans/{plan_id}", status_code=303)
