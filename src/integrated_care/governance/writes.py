"""Changes to the board's business: one handler per change, each served twice, as JSON under
/api/governance/... (in the OpenAPI document) and as the page form's target under
/governance/... (CSRF-checked by the accounts middleware; redirects back to the page).

Changing needs governance:manage, except three things a member does for themself with
governance:vote: casting their own vote, declaring their own interests and gifts, and, for the
chair, allowing a conflicted member to vote. Each rule's refusal is a 403 or 422 with the reason,
audited in its own transaction (the request's work is rolled back).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from integrated_care.accounts.audit import record_event_now
from integrated_care.accounts.policy import Principal, allows, require, require_signed_in
from integrated_care.governance import conflicts, services
from integrated_care.governance.models import Item, Meeting, Member
from integrated_care.governance.services import Actor, GovernanceError, NotFound
from integrated_care.web.forms import form_as, see_other
from integrated_care.web.templating import render

router = APIRouter()
TAGS = ["governance"]
MANAGE = Depends(require("governance:manage"))
SIGNED_IN = Depends(require_signed_in())
M = TypeVar("M", bound=BaseModel)
CONFLICT = "this was changed by someone else at the same time; nothing of yours was stored"

# ---- inputs ------------------------------------------------------------------------------------


class BodyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = "committee"
    level: str = "system"
    parent_id: int | None = None
    place_code: str | None = None
    purpose: str | None = None
    terms_of_reference: str | None = Field(None, description="Markdown")
    delegations: str | None = Field(None, description="Markdown")
    quorum_voting_members: int = Field(ge=1)
    quorum_roles: list[str] = Field(default_factory=list)
    voting_roles: list[str] = Field(
        default_factory=lambda: ["chair", "partner_member", "non_executive"]
    )
    clear_days: int = Field(5, ge=0)


class MemberIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: str
    term_start: date
    term_end: date | None = None
    org_code: str | None = Field(None, description="ODS code of a footprint organisation")
    job_title: str | None = None
    nhse_approval: str | None = Field(
        None, description="not_needed, pending, approved or refused (a system chair: pending)"
    )
    user_id: int | None = Field(None, description="The platform user who votes as this member")


class MeetingIn(BaseModel):
    body_id: int
    starts_at: datetime = Field(description="With a time zone, e.g. 2027-03-10T10:00:00Z")
    location: str | None = None


class ItemIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    part: str = "public"
    purpose: str = "information"
    presenter: str | None = None
    concerns_org_code: str | None = None
    concerns_contract: str | None = None
    needs_vote: bool = False
    paper: str | None = None


class AttendanceIn(BaseModel):
    member_id: int
    status: str


class ActionIn(BaseModel):
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    due_on: date
    item_id: int | None = None


class ActionStatusIn(BaseModel):
    status: str


class MinutesIn(BaseModel):
    minutes: str
    publish: bool = False


class PaperIn(BaseModel):
    paper: str = Field(min_length=1)


class AllowanceIn(BaseModel):
    member_id: int
    reason: str = Field(min_length=1)


class VoteIn(BaseModel):
    member_id: int
    choice: str


class DecisionIn(BaseModel):
    resolution: str = Field(min_length=1)
    outcome: str | None = Field(None, description="For items not put to a vote")


class InterestIn(BaseModel):
    kind: str
    description: str = Field(min_length=1)
    starts_on: date
    ends_on: date | None = None
    org_code: str | None = None
    organisation_name: str | None = None
    contract_ref: str | None = None


class GiftIn(BaseModel):
    offered_by: str = Field(min_length=1)
    description: str = Field(min_length=1)
    value_pence: int = Field(ge=0)
    received_on: date
    accepted: bool = False


class Done(BaseModel):
    id: int
    warning: str | None = None


# ---- plumbing ----------------------------------------------------------------------------------


def actor_of(request: Request, principal: Principal) -> Actor:
    return Actor.of(principal, request.client.host if request.client else None)


def _refuse(
    request: Request, principal: Principal, status: int, reason: str, **audit: Any
) -> HTTPException:
    """Audit a refusal in its own transaction (the request's work is rolled back)."""
    record_event_now(
        request.app.state.runtime.sessions,
        actor=principal.username,
        organisation=principal.organisation_code,
        action=audit.pop("action", "governance.refused"),
        outcome="denied",
        reason=reason,
        detail={"path": request.url.path, **audit},
        client=request.client.host if request.client else None,
    )
    return HTTPException(status, reason)


def apply_change(
    request: Request,
    principal: Principal,
    work: Callable[[Session, Actor], Done],
    refused_action: str = "governance.refused",
    refused_status: int = 422,
) -> Done:
    """Run a change in one transaction; a rule's refusal is a 4xx, and audited."""
    try:
        with request.app.state.runtime.transaction() as session:
            return work(session, actor_of(request, principal))
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    except IntegrityError:
        # Two people entering the same thing at once (e.g. one member's vote twice): the
        # database's unique constraints keep one; the other is told to look again.
        raise HTTPException(409, CONFLICT) from None
    except GovernanceError as e:
        raise _refuse(request, principal, refused_status, str(e), action=refused_action) from None


def _may(principal: Principal, member: Member, extra: bool = False) -> bool:
    """governance:manage, or governance:vote acting as oneself (or as the chair, if `extra`)."""
    if allows(principal, "governance:manage"):
        return True
    own = member.user_id is not None and member.user_id == principal.user_id
    return allows(principal, "governance:vote") and (own or extra)


# ---- writes: one handler each, for the API and the page form ------------------------------------


def new_body(request: Request, principal: Principal, data: BodyIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        return Done(id=services.create_body(session, actor, **data.model_dump()).id)

    return apply_change(request, principal, work)


def new_member(request: Request, principal: Principal, body_id: int, data: MemberIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        member = services.add_member(session, actor, body_id=body_id, **data.model_dump())
        return Done(id=member.id)

    return apply_change(request, principal, work)


def new_meeting(request: Request, principal: Principal, data: MeetingIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        meeting = services.create_meeting(session, actor, **data.model_dump())
        return Done(id=meeting.id)

    return apply_change(request, principal, work)


def new_item(request: Request, principal: Principal, meeting_id: int, data: ItemIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        item = services.add_item(session, actor, meeting_id=meeting_id, **data.model_dump())
        return Done(id=item.id)

    return apply_change(request, principal, work)


def attendance(request: Request, principal: Principal, meeting_id: int, data: AttendanceIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        row = services.record_attendance(session, actor, meeting_id, data.member_id, data.status)
        return Done(id=row.id)

    return apply_change(request, principal, work)


def new_action(request: Request, principal: Principal, meeting_id: int, data: ActionIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        row = services.add_action(session, actor, meeting_id=meeting_id, **data.model_dump())
        return Done(id=row.id)

    return apply_change(request, principal, work)


def action_status(
    request: Request, principal: Principal, action_id: int, data: ActionStatusIn
) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        return Done(id=services.set_action_status(session, actor, action_id, data.status).id)

    return apply_change(request, principal, work)


def minutes(request: Request, principal: Principal, meeting_id: int, data: MinutesIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        services.set_minutes(session, actor, meeting_id, data.minutes, data.publish)
        return Done(id=meeting_id)

    return apply_change(request, principal, work)


def paper(request: Request, principal: Principal, item_id: int, data: PaperIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        return Done(id=services.set_paper(session, actor, item_id, data.paper).id)

    return apply_change(request, principal, work)


def publish(request: Request, principal: Principal, item_id: int) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        return Done(id=item_id, warning=services.publish_item(session, actor, item_id).warning)

    return apply_change(request, principal, work)


def _item_member(session: Session, item_id: int, member_id: int) -> tuple[Item, Member]:
    return services.get(session, Item, item_id), services.get(session, Member, member_id)


def allow(request: Request, principal: Principal, item_id: int, data: AllowanceIn) -> Done:
    """governance:manage records the chair's decision, or the chair records it themself."""

    def work(session: Session, actor: Actor) -> Done:
        item, _ = _item_member(session, item_id, data.member_id)
        meeting = services.get(session, Meeting, item.meeting_id)
        chair = services.chair_of(session, meeting.body_id, conflicts.meeting_date(session, item))
        if not (allows(principal, "governance:manage") or (chair and _may(principal, chair))):
            raise GovernanceError("only the chair, or the board secretary for them, may allow it")
        row = conflicts.allow_conflicted_vote(session, actor, item_id, data.member_id, data.reason)
        return Done(id=row.id)

    return apply_change(request, principal, work, "governance.conflict.refused", 403)


def vote(request: Request, principal: Principal, item_id: int, data: VoteIn) -> Done:
    """A member votes as themself (governance:vote); the secretary may record any member's."""

    def work(session: Session, actor: Actor) -> Done:
        _, member = _item_member(session, item_id, data.member_id)
        if not _may(principal, member):
            raise GovernanceError(f"you may vote only as yourself, not as {member.name}")
        row = conflicts.cast_vote(session, actor, item_id, data.member_id, data.choice)
        return Done(id=row.id)

    return apply_change(request, principal, work, "governance.vote.refused", 403)


def decide(request: Request, principal: Principal, item_id: int, data: DecisionIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        row = conflicts.record_decision(session, actor, item_id, data.resolution, data.outcome)
        return Done(id=row.id)

    return apply_change(request, principal, work)


def interest(request: Request, principal: Principal, member_id: int, data: InterestIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        if not _may(principal, services.get(session, Member, member_id)):
            raise GovernanceError("you may declare only your own interests")
        row = conflicts.declare_interest(session, actor, member_id=member_id, **data.model_dump())
        return Done(id=row.id)

    return apply_change(request, principal, work, refused_status=403)


def gift(request: Request, principal: Principal, member_id: int, data: GiftIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        if not _may(principal, services.get(session, Member, member_id)):
            raise GovernanceError("you may declare only your own gifts and hospitality")
        row = conflicts.record_gift(session, actor, member_id=member_id, **data.model_dump())
        return Done(id=row.id)

    return apply_change(request, principal, work, refused_status=403)


# (path, handler, input model, permission dependency, the page to go back to, summary)
WRITES: list[tuple[str, Callable[..., Done], type[BaseModel] | None, Any, str, str]] = [
    ("/bodies", new_body, BodyIn, MANAGE, "/governance#body-{id}", "Set up a board or committee"),
    (
        "/bodies/{body_id}/members",
        new_member,
        MemberIn,
        MANAGE,
        "/governance/members/{id}",
        "Seat a member",
    ),
    (
        "/meetings",
        new_meeting,
        MeetingIn,
        MANAGE,
        "/governance/meetings/{id}",
        "Schedule a meeting",
    ),
    (
        "/meetings/{meeting_id}/items",
        new_item,
        ItemIn,
        MANAGE,
        "/governance/items/{id}",
        "Add an agenda item",
    ),
    (
        "/meetings/{meeting_id}/attendance",
        attendance,
        AttendanceIn,
        MANAGE,
        "/governance/meetings/{meeting_id}",
        "Record attendance",
    ),
    (
        "/meetings/{meeting_id}/actions",
        new_action,
        ActionIn,
        MANAGE,
        "/governance/meetings/{meeting_id}",
        "Add an action",
    ),
    (
        "/meetings/{meeting_id}/minutes",
        minutes,
        MinutesIn,
        MANAGE,
        "/governance/meetings/{meeting_id}",
        "Write (and publish) the minutes",
    ),
    (
        "/actions/{action_id}/status",
        action_status,
        ActionStatusIn,
        MANAGE,
        "/governance",
        "Update an action's status",
    ),
    (
        "/items/{item_id}/paper",
        paper,
        PaperIn,
        MANAGE,
        "/governance/items/{item_id}",
        "Write an item's paper (Markdown)",
    ),
    (
        "/items/{item_id}/publish",
        publish,
        None,
        MANAGE,
        "/governance/items/{item_id}",
        "Publish an item's paper",
    ),
    (
        "/items/{item_id}/allowances",
        allow,
        AllowanceIn,
        SIGNED_IN,
        "/governance/items/{item_id}",
        "Record the chair's allowance for a conflicted member",
    ),
    (
        "/items/{item_id}/votes",
        vote,
        VoteIn,
        SIGNED_IN,
        "/governance/items/{item_id}",
        "Cast or record a vote",
    ),
    (
        "/items/{item_id}/decision",
        decide,
        DecisionIn,
        MANAGE,
        "/governance/items/{item_id}",
        "Record the decision",
    ),
    (
        "/members/{member_id}/interests",
        interest,
        InterestIn,
        SIGNED_IN,
        "/governance/members/{member_id}",
        "Declare an interest",
    ),
    (
        "/members/{member_id}/gifts",
        gift,
        GiftIn,
        SIGNED_IN,
        "/governance/members/{member_id}",
        "Declare a gift or hospitality",
    ),
]


def register_write(
    target: APIRouter,
    path: str,
    handler: Callable[..., Done],
    model: type[BaseModel] | None,
    guard: Any,
    back: str,
    summary: str,
) -> None:
    """Add the JSON route and the page form's route for one write to `target`."""
    params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]

    async def api(request: Request, principal: Principal, **kwargs: Any) -> Done:
        ids = [kwargs[p] for p in params]
        data = [] if model is None else [kwargs["data"]]
        return await run_in_threadpool(handler, request, principal, *ids, *data)

    async def form(request: Request, principal: Principal, **kwargs: Any) -> Response:
        ids = [kwargs[p] for p in params]
        data = [] if model is None else [await form_as(request, model)]
        done = await run_in_threadpool(handler, request, principal, *ids, *data)
        target = back.format(id=done.id, **dict(zip(params, ids, strict=True)))
        if done.warning:
            return render(
                request,
                "governance/done.html",
                {"page_title": "Published late", "warning": done.warning, "next": target},
            )
        return see_other(target)

    # FastAPI reads the parameters from the signature: the path's ids, the JSON body's model.
    keyword = inspect.Parameter.KEYWORD_ONLY
    base = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("principal", keyword, annotation=Principal, default=guard),
        *(inspect.Parameter(p, keyword, annotation=int) for p in params),
    ]
    body = [] if model is None else [inspect.Parameter("data", keyword, annotation=model)]
    api.__signature__ = inspect.Signature(base + body, return_annotation=Done)  # type: ignore[attr-defined]
    form.__signature__ = inspect.Signature(base, return_annotation=Response)  # type: ignore[attr-defined]
    target.add_api_route(
        f"/api/governance{path}",
        api,
        methods=["POST"],
        response_model=Done,
        tags=TAGS,
        summary=summary,
        name=f"api_{handler.__name__}",
    )
    target.add_api_route(
        f"/governance{path}",
        form,
        methods=["POST"],
        include_in_schema=False,
        name=f"form_{handler.__name__}",
    )


for _write in WRITES:
    register_write(router, *_write)
