"""Workforce pages under /workforce and their JSON twins under /api/workforce.

Seeing needs workforce:read. Changing needs workforce:manage, which is organisation-scoped: a
workforce lead maintains the passports of their own organisation's staff, approves (or declines)
movements of their staff, and checks and activates movements hosted by their organisation. The
person's consent is given by the person themself (the platform user linked to their staff
record) or recorded by their home organisation's workforce lead. Every change is audited by the
service it calls; every refusal here is audited too. A page form posts to the same handler as
the API and is redirected back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_event_now
from integrated_care.accounts.policy import (
    Principal,
    Resource,
    allows,
    decide,
    require,
    require_signed_in,
)
from integrated_care.web.forms import form_as, see_other
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render
from integrated_care.workforce import charts, passport, views
from integrated_care.workforce import movement as mv
from integrated_care.workforce.common import Actor, NotFound, WorkforceError
from integrated_care.workforce.models import CREDENTIAL_KINDS, DBS_LEVELS, MECHANISMS

router = APIRouter()
register_nav_item(NavItem("Workforce", "/workforce", "workforce:read"))
TAGS = ["workforce"]
READ = Depends(require("workforce:read"))
# Steps and a movement's page are also open to the person themself (their consent).
SIGNED_IN = Depends(require_signed_in())
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
STEPS = tuple(mv.TRANSITIONS)


class StaffIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    home_org_code: str
    staff_group: str
    role: str = Field(min_length=1, max_length=100)
    user_id: int | None = None


class CredentialIn(BaseModel):
    kind: str = Field(description=", ".join(CREDENTIAL_KINDS))
    evidence_ref: str = Field(min_length=1, max_length=200)
    issued_on: date
    expires_on: date | None = None
    issuer_org_code: str | None = None
    issuer_name: str | None = None
    subject: str | None = Field(None, description="Core skills subject (kind core_skills)")
    dbs_level: str | None = Field(None, description=", ".join(DBS_LEVELS))
    registration_body: str | None = None
    registration_number: str | None = None


class MovementIn(BaseModel):
    staff_id: int
    host_org_code: str
    role: str = Field(min_length=1, max_length=100)
    site: str | None = None
    mechanism: str = Field(description=", ".join(MECHANISMS))
    start_date: date
    end_date: date


class StepIn(BaseModel):
    note: str | None = None


class Done(BaseModel):
    id: int
    status: str | None = None


# ---- plumbing ----------------------------------------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).date()


def _refuse(request: Request, principal: Principal, status: int, reason: str) -> HTTPException:
    """Audit a refusal in its own transaction (the request's work is rolled back)."""
    record_event_now(
        request.app.state.runtime.sessions,
        actor=principal.username,
        organisation=principal.organisation_code,
        action="workforce.refused",
        outcome="denied",
        reason=reason,
        detail={"path": request.url.path, "method": request.method},
        client=request.client.host if request.client else None,
    )
    return HTTPException(status, reason)


def _manages(principal: Principal, org_code: str) -> bool:
    resource = Resource("workforce", organisation_code=org_code)
    return decide(principal, "workforce:manage", resource=resource).allowed


def _need_manage(request: Request, principal: Principal, *orgs: str) -> None:
    """workforce:manage for one of `orgs`, or a 403 (audited) naming them."""
    if any(_manages(principal, o) for o in orgs):
        return
    raise _refuse(
        request,
        principal,
        403,
        f"workforce:manage for {' or '.join(orgs)} is needed; you act for "
        f"{principal.organisation_code}"
        + ("" if allows(principal, "workforce:manage") else " and hold no workforce:manage"),
    )


def _read(request: Request, build: Callable[[Session], T]) -> T:
    with request.app.state.runtime.sessions() as session:
        try:
            return build(session)
        except NotFound as e:
            raise HTTPException(404, str(e)) from None


def _apply(request: Request, principal: Principal, work: Callable[[Session, Actor], T]) -> T:
    actor = Actor.of(principal, request.client.host if request.client else None)
    try:
        with request.app.state.runtime.transaction() as session:
            return work(session, actor)
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    except WorkforceError as e:
        raise _refuse(request, principal, 422, str(e)) from None


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"text": t, "href": h} for t, h in (("Home", "/"), ("Workforce", "/workforce"), *pairs)]


# ---- handlers shared by the API and the forms --------------------------------------------------


def add_staff(request: Request, principal: Principal, body: StaffIn) -> Done:
    _need_manage(request, principal, body.home_org_code)
    person = _apply(request, principal, lambda s, a: passport.add_staff(s, a, **body.model_dump()))
    return Done(id=person.id)


def add_credential(
    request: Request, principal: Principal, staff_id: int, body: CredentialIn
) -> Done:
    person = _read(request, lambda s: passport.get_staff(s, staff_id))
    _need_manage(request, principal, person.home_org_code)
    c = _apply(
        request,
        principal,
        lambda s, a: passport.add_credential(s, a, staff_id, **body.model_dump()),
    )
    return Done(id=c.id)


def request_movement(request: Request, principal: Principal, body: MovementIn) -> Done:
    person = _read(request, lambda s: passport.get_staff(s, body.staff_id))
    _need_manage(request, principal, person.home_org_code, body.host_org_code)
    m = _apply(request, principal, lambda s, a: mv.request_movement(s, a, **body.model_dump()))
    return Done(id=m.id, status=m.status)


def _own_consent(request: Request, principal: Principal, staff_id: int) -> bool:
    if principal.user_id is None:
        return False
    person = _read(request, lambda s: passport.get_staff(s, staff_id))
    return person.user_id == principal.user_id


def _authorise_step(request: Request, principal: Principal, m: Any, step: str) -> None:
    if step in ("consent", "withdraw") and _own_consent(request, principal, m.staff_id):
        return
    orgs = {
        "approve": (m.home_org_code,),
        "consent": (m.home_org_code,),
        "withdraw": (m.home_org_code,),
        "check": (m.host_org_code,),
        "activate": (m.host_org_code,),
        "decline": (m.home_org_code, m.host_org_code),
        "end": (m.home_org_code, m.host_org_code),
    }[step]
    _need_manage(request, principal, *orgs)


def _may_see_movement(request: Request, principal: Principal, movement_id: int) -> None:
    """workforce:read, or being the person the movement is for."""
    if allows(principal, "workforce:read"):
        return
    m = _read(request, lambda s: mv.get_movement(s, movement_id))
    if not _own_consent(request, principal, m.staff_id):
        raise _refuse(request, principal, 403, "workforce:read is needed to see this movement")


def take_step(
    request: Request, principal: Principal, movement_id: int, step: str, body: StepIn
) -> Done:
    """One step of a movement. A check or activation the passport fails is recorded and then
    answered 409, naming what is missing."""
    if step not in STEPS:
        raise HTTPException(404, f"no step {step!r}; steps: {', '.join(STEPS)}")
    m = _read(request, lambda s: mv.get_movement(s, movement_id))
    _authorise_step(request, principal, m, step)

    def work(session: Session, actor: Actor) -> mv.StepResult:
        if step == "check":
            return mv.check(session, actor, movement_id, _today())
        if step == "activate":
            return mv.activate(session, actor, movement_id, datetime.now(UTC))
        return mv.StepResult(mv.take_step(session, actor, movement_id, step, body.note))

    result = _apply(request, principal, work)
    if not result.ok and result.assessment is not None:
        raise HTTPException(409, f"{step} refused: {result.assessment.summary()}")
    return Done(id=movement_id, status=result.movement.status)


# ---- JSON API ----------------------------------------------------------------------------------


@router.get("/api/workforce/staff", tags=TAGS)
def api_staff(
    request: Request, org: str | None = None, principal: Principal = READ
) -> list[views.StaffOut]:
    def build(s: Session) -> list[views.StaffOut]:
        names = views.org_names(s)
        return [views.staff_out(p, names) for p in passport.list_staff(s, org)]

    return _read(request, build)


@router.post("/api/workforce/staff", tags=TAGS, status_code=201)
def api_add_staff(request: Request, body: StaffIn, principal: Principal = READ) -> Done:
    return add_staff(request, principal, body)


@router.get("/api/workforce/staff/{staff_id}", tags=TAGS)
def api_passport(
    request: Request, staff_id: int, within_days: int = 30, principal: Principal = READ
) -> views.Passport:
    """A staff passport: credentials with status, and gaps against the role at home."""
    return _read(request, lambda s: views.passport_of(s, staff_id, _today(), within_days))


@router.get("/api/workforce/staff/{staff_id}/assessment", tags=TAGS)
def api_assessment(
    request: Request,
    staff_id: int,
    org: str,
    role: str,
    within_days: int = 30,
    as_of: date | None = None,
    principal: Principal = READ,
) -> views.AssessmentOut:
    """What is missing or expiring (within `within_days`) for a role at an organisation."""
    return _read(
        request,
        lambda s: views.assessment_out(
            passport.assess(
                s, staff_id, org, role, as_of=as_of or _today(), within_days=within_days
            )
        ),
    )


@router.post("/api/workforce/staff/{staff_id}/credentials", tags=TAGS, status_code=201)
def api_add_credential(
    request: Request, staff_id: int, body: CredentialIn, principal: Principal = READ
) -> Done:
    return add_credential(request, principal, staff_id, body)


@router.get("/api/workforce/checklists/{org_code}", tags=TAGS)
def api_checklists(
    request: Request, org_code: str, principal: Principal = READ
) -> dict[str, list[str]]:
    """Each role's checklist at an organisation, as kind:detail lines."""

    def build(s: Session) -> dict[str, list[str]]:
        return {
            role: [
                f"{n.kind}:{n.detail}" if n.detail else n.kind
                for n in passport.checklist(s, org_code, role)
            ]
            for role in passport.checklist_roles(s, org_code)
        }

    return _read(request, build)


@router.put("/api/workforce/checklists/{org_code}", tags=TAGS)
def api_set_checklist(
    request: Request, org_code: str, role: str, needs: list[str], principal: Principal = READ
) -> dict[str, list[str]]:
    """Replace a role's checklist at an organisation (lines as kind or kind:detail)."""
    _need_manage(request, principal, org_code)
    parsed = [passport.Need(*(n.split(":", 1) if ":" in n else (n, ""))) for n in needs]
    _apply(request, principal, lambda s, a: passport.set_checklist(s, a, org_code, role, parsed))
    return {role: needs}


@router.get("/api/workforce/movements", tags=TAGS)
def api_movements(
    request: Request, org: str | None = None, principal: Principal = READ
) -> list[views.MovementOut]:
    def build(s: Session) -> list[views.MovementOut]:
        names = views.org_names(s)
        return [views.movement_out(s, m, names) for m in mv.movements(s, org_code=org)]

    return _read(request, build)


@router.post("/api/workforce/movements", tags=TAGS, status_code=201)
def api_request_movement(request: Request, body: MovementIn, principal: Principal = READ) -> Done:
    return request_movement(request, principal, body)


@router.get("/api/workforce/movements/{movement_id}", tags=TAGS)
def api_movement(
    request: Request, movement_id: int, principal: Principal = SIGNED_IN
) -> views.MovementDetail:
    _may_see_movement(request, principal, movement_id)
    return _read(request, lambda s: views.movement_detail(s, movement_id, _today()))


@router.post("/api/workforce/movements/{movement_id}/steps/{step}", tags=TAGS)
def api_step(
    request: Request,
    movement_id: int,
    step: str,
    body: StepIn | None = None,
    principal: Principal = SIGNED_IN,
) -> Done:
    """approve, consent, check, activate, end, decline or withdraw (409 if the check fails)."""
    return take_step(request, principal, movement_id, step, body or StepIn())


@router.get("/api/workforce/plan", tags=TAGS)
def api_plan(
    request: Request, org: str | None = None, principal: Principal = READ
) -> views.PlanOut:
    """Planned vs actual FTE by month, vacancies by staff group, new roles, staff across."""
    return _read(request, lambda s: views.plan_of(s, org, _today()))


# ---- pages -------------------------------------------------------------------------------------


@router.get("/workforce", response_class=HTMLResponse, include_in_schema=False)
def overview_page(
    request: Request, org: str | None = None, principal: Principal = READ
) -> HTMLResponse:
    def build(s: Session) -> dict[str, Any]:
        names = views.org_names(s)
        return {
            "staff": [views.staff_out(p, names) for p in passport.list_staff(s, org)],
            "movements": [views.movement_out(s, m, names) for m in mv.movements(s, org_code=org)],
            "names": names,
        }

    return render(
        request,
        "workforce/overview.html",
        {
            "page_title": "Workforce",
            **_read(request, build),
            "org": org,
            "may_manage": allows(principal, "workforce:manage"),
            "acts_for": principal.organisation_code,
            "staff_groups": charts.GROUP_LABELS,
            "breadcrumbs": _crumbs(),
        },
    )


@router.post("/workforce/staff", include_in_schema=False)
async def add_staff_form(request: Request, principal: Principal = READ) -> RedirectResponse:
    done = add_staff(request, principal, await form_as(request, StaffIn))
    return see_other(f"/workforce/staff/{done.id}")


@router.get("/workforce/staff/{staff_id}", response_class=HTMLResponse, include_in_schema=False)
def passport_page(request: Request, staff_id: int, principal: Principal = READ) -> HTMLResponse:
    d = _read(request, lambda s: views.passport_of(s, staff_id, _today()))
    return render(
        request,
        "workforce/passport.html",
        {
            "page_title": f"{d.staff.name}: staff passport",
            "d": d,
            "may_manage": _manages(principal, d.staff.home_org_code),
            "may_request": allows(principal, "workforce:manage"),
            "kinds": passport.KIND_LABELS,
            "subjects": passport.core_skills(),
            "dbs_levels": passport.DBS_LABELS,
            "bodies": passport.REGISTRATION_BODIES,
            "mechanisms": mv.MECHANISM_LABELS,
            "breadcrumbs": _crumbs((d.staff.name, request.url.path)),
        },
    )


@router.post("/workforce/staff/{staff_id}/credentials", include_in_schema=False)
async def add_credential_form(
    request: Request, staff_id: int, principal: Principal = READ
) -> RedirectResponse:
    add_credential(request, principal, staff_id, await form_as(request, CredentialIn))
    return see_other(f"/workforce/staff/{staff_id}")


@router.post("/workforce/movements", include_in_schema=False)
async def request_movement_form(request: Request, principal: Principal = READ) -> RedirectResponse:
    done = request_movement(request, principal, await form_as(request, MovementIn))
    return see_other(f"/workforce/movements/{done.id}")


@router.get(
    "/workforce/movements/{movement_id}", response_class=HTMLResponse, include_in_schema=False
)
def movement_page(
    request: Request, movement_id: int, principal: Principal = SIGNED_IN
) -> HTMLResponse:
    _may_see_movement(request, principal, movement_id)
    d = _read(request, lambda s: views.movement_detail(s, movement_id, _today()))
    m = d.movement
    title = f"{m.staff_name} at {m.host_organisation}"
    return render(
        request,
        "workforce/movement.html",
        {
            "page_title": title,
            "d": d,
            "steps_allowed": m.next_steps,
            "breadcrumbs": _crumbs((title, request.url.path)),
        },
    )


@router.post("/workforce/movements/{movement_id}/steps/{step}", include_in_schema=False)
async def step_form(
    request: Request, movement_id: int, step: str, principal: Principal = SIGNED_IN
) -> RedirectResponse:
    body = await form_as(request, StepIn)
    try:
        take_step(request, principal, movement_id, step, body)
    except HTTPException as e:
        if e.status_code != 409:  # a refused check is shown on the movement's page
            raise
    return see_other(f"/workforce/movements/{movement_id}")


@router.get("/workforce/plan", response_class=HTMLResponse, include_in_schema=False)
def plan_page(
    request: Request, org: str | None = None, principal: Principal = READ
) -> HTMLResponse:
    d = _read(request, lambda s: views.plan_of(s, org or None, _today()))
    names = _read(request, views.org_names)
    return render(
        request,
        "workforce/plan.html",
        {
            "page_title": "Workforce plan",
            "d": d,
            "names": names,
            "fte_chart": charts.fte_chart(d.months),
            "vacancy_chart": charts.vacancy_chart(d.groups),
            "group_labels": charts.GROUP_LABELS,
            "breadcrumbs": _crumbs(("Workforce plan", "/workforce/plan")),
        },
    )
