"""Running the board, signed in: pages under /governance and their JSON twins under
/api/governance. Seeing needs governance:read (private items included). The changes are in
:mod:`integrated_care.governance.writes`, the public portal in
:mod:`integrated_care.governance.public_routes`; both are included here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from integrated_care.accounts.policy import Principal, allows, require
from integrated_care.governance import conflicts, paper_files, services, views, writes
from integrated_care.governance.models import Body, Item, Meeting, Member
from integrated_care.governance.papers import render_markdown
from integrated_care.governance.public_routes import router as public_router
from integrated_care.governance.services import NotFound
from integrated_care.governance.voice_routes import router as voice_router
from integrated_care.governance.voice_writes import router as voice_writes_router
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render

router = APIRouter()
router.include_router(public_router)
router.include_router(voice_router)
router.include_router(writes.router)
router.include_router(voice_writes_router)
register_nav_item(NavItem("Governance", "/governance", "governance:read"))
TAGS = ["governance"]
READ = Depends(require("governance:read"))
M = TypeVar("M", bound=BaseModel)


class ItemDetail(BaseModel):
    item: views.ItemOut
    body: views.BodyOut
    conflicts: list[dict[str, Any]]
    votes: list[dict[str, Any]]
    tally: dict[str, Any] | None
    members: list[views.MemberOut]
    publication_warning: str | None


class MeetingDetail(BaseModel):
    meeting: views.MeetingOut
    members: list[views.MemberOut]
    attendance: dict[int, str]
    actions: list[views.ActionOut]


class BodyDetail(BaseModel):
    body: views.BodyOut
    members: list[views.MemberOut]


class Overview(BaseModel):
    bodies: list[BodyDetail]
    meetings: list[views.MeetingOut]


class MemberDetail(BaseModel):
    member: views.MemberOut
    registers: views.Registers


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [
        {"text": t, "href": h} for t, h in (("Home", "/"), ("Governance", "/governance"), *pairs)
    ]


def _names(session: Session) -> dict[str, str]:
    return views.org_names(session)


# ---- views -------------------------------------------------------------------------------------


def overview(session: Session) -> Overview:
    names = _names(session)
    return Overview(
        bodies=[
            BodyDetail(
                body=views.body_out(b),
                members=[views.member_out(x, names) for x in services.members_of(session, b.id)],
            )
            for b in services.list_bodies(session)
        ],
        meetings=[views.meeting_out(session, m, public=False) for m in services.meetings(session)],
    )


def meeting_detail(session: Session, meeting_id: int) -> MeetingDetail:
    meeting = services.get(session, Meeting, meeting_id)
    names = _names(session)
    return MeetingDetail(
        meeting=views.meeting_out(session, meeting, public=False),
        members=[views.member_out(x, names) for x in services.members_of(session, meeting.body_id)],
        attendance=services.attendance_of(session, meeting_id),
        actions=[views.action_out(a, date.today()) for a in services.actions(session, meeting_id)],
    )


def item_detail(session: Session, item_id: int) -> ItemDetail:
    item = services.get(session, Item, item_id)
    meeting = services.get(session, Meeting, item.meeting_id)
    body = services.get(session, Body, meeting.body_id)
    names = _names(session)
    members = services.members_of(session, body.id)
    by_id = {x.id: x.name for x in members}
    found = services.publication(session, item)
    tally = conflicts.tally(session, item_id) if item.needs_vote else None
    return ItemDetail(
        item=views.item_out(session, item, meeting, body),
        body=views.body_out(body),
        conflicts=[asdict(c) for c in conflicts.conflicts(session, item)],
        votes=[
            {"member_id": v.member_id, "member": by_id.get(v.member_id), "choice": v.choice}
            for v in conflicts.votes_on(session, item_id)
        ],
        tally=None
        if tally is None
        else {
            "for": tally.votes_for,
            "against": tally.against,
            "abstain": tally.abstain,
            "eligible_present": tally.eligible_present,
            "quorum_required": tally.quorum_required,
            "valid": tally.valid,
            "carried": tally.carried,
            "problems": tally.problems,
            "not_counted": tally.not_counted,
        },
        members=[views.member_out(x, names) for x in members],
        publication_warning=found.warning if found else None,
    )


def member_detail(session: Session, member_id: int) -> MemberDetail:
    member = services.get(session, Member, member_id)
    return MemberDetail(
        member=views.member_out(member, _names(session)),
        registers=views.registers(session, member_id),
    )


def _read(request: Request, build: Callable[[Session], M]) -> M:
    with request.app.state.runtime.sessions() as session:
        try:
            return build(session)
        except NotFound as e:
            raise HTTPException(404, str(e)) from None


# ---- pages -------------------------------------------------------------------------------------


@router.get("/governance", response_class=HTMLResponse, include_in_schema=False)
def overview_page(request: Request, principal: Principal = READ) -> HTMLResponse:
    return render(
        request,
        "governance/overview.html",
        {
            "page_title": "Governance",
            "o": _read(request, overview),
            "may_manage": allows(principal, "governance:manage"),
            "breadcrumbs": _crumbs(),
        },
    )


@router.get(
    "/governance/meetings/{meeting_id}", response_class=HTMLResponse, include_in_schema=False
)
def meeting_page(request: Request, meeting_id: int, principal: Principal = READ) -> HTMLResponse:
    d = _read(request, lambda s: meeting_detail(s, meeting_id))
    title = f"{d.meeting.body}, {d.meeting.starts_at:%d %B %Y}"
    return render(
        request,
        "governance/meeting.html",
        {
            "page_title": title,
            "d": d,
            "may_manage": allows(principal, "governance:manage"),
            "minutes_html": render_markdown(d.meeting.minutes) if d.meeting.minutes else None,
            "breadcrumbs": _crumbs((title, request.url.path)),
        },
    )


@router.get("/governance/items/{item_id}", response_class=HTMLResponse, include_in_schema=False)
def item_page(request: Request, item_id: int, principal: Principal = READ) -> HTMLResponse:
    d = _read(request, lambda s: item_detail(s, item_id))
    own = _own_seats(request, principal)
    with request.app.state.runtime.sessions() as session:
        item = services.get(session, Item, item_id)
        # Why each of the user's own seats may not vote, shown instead of the voting form.
        refusals = {
            m: conflicts.vote_refusal(session, item, services.get(session, Member, m))
            for m in own
            if any(x.id == m for x in d.members)
        }
        files = paper_files.files_of(session, [item_id])[item_id]
    chair = next((x.id for x in d.members if x.role == "chair"), None)
    return render(
        request,
        "governance/item.html",
        {
            "page_title": d.item.title,
            "d": d,
            "paper_html": render_markdown(d.item.paper),
            "files": files,
            "file_prefix": "/governance/papers/files/",
            "may_manage": allows(principal, "governance:manage"),
            "may_vote": allows(principal, "governance:vote"),
            "own_members": {m for m, why in refusals.items() if why is None},
            "refusals": {m: why for m, why in refusals.items() if why},
            "may_allow": allows(principal, "governance:manage")
            or (chair in own and allows(principal, "governance:vote")),
            "breadcrumbs": _crumbs(
                (f"Meeting {d.item.meeting_id}", f"/governance/meetings/{d.item.meeting_id}"),
                (d.item.title, request.url.path),
            ),
        },
    )


def _own_seats(request: Request, principal: Principal) -> set[int]:
    """The member ids linked to the signed-in user."""
    if principal.user_id is None:
        return set()
    with request.app.state.runtime.sessions() as session:
        return {m.id for m in services.members_for_user(session, principal.user_id)}


@router.get("/governance/members/{member_id}", response_class=HTMLResponse, include_in_schema=False)
def member_page(request: Request, member_id: int, principal: Principal = READ) -> HTMLResponse:
    d = _read(request, lambda s: member_detail(s, member_id))
    return render(
        request,
        "governance/member.html",
        {
            "page_title": d.member.name,
            "d": d,
            "may_declare": allows(principal, "governance:manage")
            or member_id in _own_seats(request, principal),
            "member_prefix": "/governance/members/",
            "breadcrumbs": _crumbs((d.member.name, request.url.path)),
        },
    )


# ---- JSON reads --------------------------------------------------------------------------------


@router.get("/api/governance", response_model=Overview, tags=TAGS, summary="Bodies and meetings")
def api_overview(request: Request, _: Principal = READ) -> Overview:
    return _read(request, overview)


@router.get(
    "/api/governance/meetings/{meeting_id}",
    response_model=MeetingDetail,
    tags=TAGS,
    summary="A meeting: every item (private too), attendance, actions",
)
def api_meeting(request: Request, meeting_id: int, _: Principal = READ) -> MeetingDetail:
    return _read(request, lambda s: meeting_detail(s, meeting_id))


@router.get(
    "/api/governance/items/{item_id}",
    response_model=ItemDetail,
    tags=TAGS,
    summary="An agenda item: paper, conflicts, votes and their count, decision",
)
def api_item(request: Request, item_id: int, _: Principal = READ) -> ItemDetail:
    return _read(request, lambda s: item_detail(s, item_id))


@router.get(
    "/api/governance/members/{member_id}",
    response_model=MemberDetail,
    tags=TAGS,
    summary="A member and their interests, gifts and hospitality",
)
def api_member(request: Request, member_id: int, _: Principal = READ) -> MemberDetail:
    return _read(request, lambda s: member_detail(s, member_id))
