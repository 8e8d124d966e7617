"""What the pages and the JSON API show: the public views (public part only, published papers
only) and the fuller views for people with governance:read.

Everything the public sees is built by the ``public_*`` functions, which never read a private
item: the filter is in the query, not in the template.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.governance import conflicts, services
from integrated_care.governance.models import (
    Action,
    Body,
    Decision,
    Gift,
    Interest,
    Item,
    Meeting,
    Member,
)
from integrated_care.governance.services import utc


class BodyOut(BaseModel):
    id: int
    name: str
    kind: str
    level: str
    parent_id: int | None
    place_code: str | None
    purpose: str | None
    terms_of_reference: str | None
    delegations: str | None
    quorum_voting_members: int
    quorum_roles: list[str]
    voting_roles: list[str]
    clear_days: int


class MemberOut(BaseModel):
    id: int
    body_id: int
    name: str
    job_title: str | None
    org_code: str | None
    organisation: str | None
    role: str
    nhse_approval: str
    term_start: date
    term_end: date | None


class DecisionOut(BaseModel):
    item_id: int
    item_title: str
    meeting_id: int
    body: str
    meeting_date: date
    outcome: str
    resolution: str
    votes_for: int | None
    votes_against: int | None
    abstentions: int | None
    recorded_at: datetime


class ItemOut(BaseModel):
    id: int
    meeting_id: int
    number: int
    title: str
    part: str
    purpose: str
    presenter: str | None
    concerns_org_code: str | None
    concerns_organisation: str | None
    concerns_contract: str | None
    needs_vote: bool
    paper: str | None
    published_at: datetime | None
    clear_days: int | None
    required_clear_days: int
    published_late: bool
    decision: DecisionOut | None


class MeetingOut(BaseModel):
    id: int
    body_id: int
    body: str
    starts_at: datetime
    location: str | None
    status: str
    minutes: str | None
    minutes_published_at: datetime | None
    items: list[ItemOut]


class InterestOut(BaseModel):
    id: int
    member_id: int
    member: str
    body: str
    kind: str
    org_code: str | None
    organisation: str | None
    contract_ref: str | None
    description: str
    starts_on: date
    ends_on: date | None


class GiftOut(BaseModel):
    id: int
    member_id: int
    member: str
    offered_by: str
    description: str
    value: str  # pounds and pence, e.g. "45.00"
    received_on: date
    accepted: bool


class ActionOut(BaseModel):
    id: int
    meeting_id: int
    item_id: int | None
    description: str
    owner: str
    due_on: date
    status: str
    overdue: bool


class Registers(BaseModel):
    interests: list[InterestOut]
    gifts: list[GiftOut]


class PortalOut(BaseModel):
    upcoming: list[MeetingOut]
    past: list[MeetingOut]
    decisions: list[DecisionOut]


def org_names(session: Session) -> dict[str, str]:
    from integrated_care.footprint.services import list_organisations

    return {o.org_code: o.name for o in list_organisations(session)}


def _org_name(session: Session, code: str | None) -> str | None:
    if not code:
        return None
    from integrated_care.footprint.services import get_organisation

    found = get_organisation(session, code)
    return found.name if found else None


def body_out(body: Body) -> BodyOut:
    return BodyOut.model_validate(body, from_attributes=True)


def member_out(member: Member, names: dict[str, str]) -> MemberOut:
    return MemberOut(
        id=member.id,
        body_id=member.body_id,
        name=member.name,
        job_title=member.job_title,
        org_code=member.org_code,
        organisation=names.get(member.org_code or ""),
        role=member.role,
        nhse_approval=member.nhse_approval,
        term_start=member.term_start,
        term_end=member.term_end,
    )


def _decision_out(decision: Decision, item: Item, meeting: Meeting, body: Body) -> DecisionOut:
    return DecisionOut(
        item_id=item.id,
        item_title=item.title,
        meeting_id=meeting.id,
        body=body.name,
        meeting_date=utc(meeting.starts_at).date(),  # type: ignore[union-attr]
        outcome=decision.outcome,
        resolution=decision.resolution,
        votes_for=decision.votes_for,
        votes_against=decision.votes_against,
        abstentions=decision.abstentions,
        recorded_at=utc(decision.recorded_at),  # type: ignore[arg-type]
    )


def item_out(session: Session, item: Item, meeting: Meeting, body: Body) -> ItemOut:
    found = services.publication(session, item)
    decision = conflicts.decision_on(session, item.id)
    return ItemOut(
        id=item.id,
        meeting_id=item.meeting_id,
        number=item.number,
        title=item.title,
        part=item.part,
        purpose=item.purpose,
        presenter=item.presenter,
        concerns_org_code=item.concerns_org_code,
        concerns_organisation=_org_name(session, item.concerns_org_code),
        concerns_contract=item.concerns_contract,
        needs_vote=item.needs_vote,
        paper=item.paper,
        published_at=utc(item.published_at),
        clear_days=found.clear_days if found else None,
        required_clear_days=body.clear_days,
        published_late=bool(found and found.late),
        decision=_decision_out(decision, item, meeting, body) if decision else None,
    )


def meeting_out(session: Session, meeting: Meeting, public: bool) -> MeetingOut:
    """A meeting and its agenda; `public` keeps only published items of the public part and
    published minutes."""
    body = services.get(session, Body, meeting.body_id)
    items = services.items_of(session, meeting.id, public_only=public)
    minutes_shown = not public or meeting.minutes_published_at is not None
    return MeetingOut(
        id=meeting.id,
        body_id=body.id,
        body=body.name,
        starts_at=utc(meeting.starts_at),  # type: ignore[arg-type]
        location=meeting.location,
        status=meeting.status,
        minutes=meeting.minutes if minutes_shown else None,
        minutes_published_at=utc(meeting.minutes_published_at),
        items=[item_out(session, i, meeting, body) for i in items],
    )


def public_item(session: Session, item_id: int) -> ItemOut | None:
    """A published item of the public part, or None (private and unpublished items alike)."""
    item = session.get(Item, item_id)
    if item is None or item.part != "public" or item.published_at is None:
        return None
    meeting = services.get(session, Meeting, item.meeting_id)
    return item_out(session, item, meeting, services.get(session, Body, meeting.body_id))


def decisions(session: Session, public: bool, limit: int | None = None) -> list[DecisionOut]:
    """The decisions log, newest meeting first; `public` keeps public, published items only."""
    stmt = (
        select(Decision, Item, Meeting, Body)
        .join(Item, Item.id == Decision.item_id)
        .join(Meeting, Meeting.id == Item.meeting_id)
        .join(Body, Body.id == Meeting.body_id)
        .order_by(Meeting.starts_at.desc(), Item.number)
    )
    if public:
        stmt = stmt.where(Item.part == "public", Item.published_at.is_not(None))
    if limit:
        stmt = stmt.limit(limit)
    return [_decision_out(d, i, m, b) for d, i, m, b in session.execute(stmt).all()]


def portal(session: Session, now: datetime, public: bool = True) -> PortalOut:
    upcoming, past = [], []
    for meeting in services.meetings(session):
        if meeting.status == "cancelled":
            continue
        out = meeting_out(session, meeting, public)
        (upcoming if out.starts_at >= now else past).append(out)
    return PortalOut(
        upcoming=upcoming, past=list(reversed(past)), decisions=decisions(session, public, 20)
    )


def registers(session: Session, member_id: int | None = None) -> Registers:
    """The registers of interests and of gifts and hospitality (public by design)."""
    names = org_names(session)
    members = {x.id: x for x in session.scalars(select(Member)).all()}
    bodies = {b.id: b.name for b in session.scalars(select(Body)).all()}

    def interest(i: Interest) -> InterestOut:
        member = members[i.member_id]
        return InterestOut(
            id=i.id,
            member_id=member.id,
            member=member.name,
            body=bodies[member.body_id],
            kind=i.kind,
            org_code=i.org_code,
            organisation=i.organisation_name or names.get(i.org_code or ""),
            contract_ref=i.contract_ref,
            description=i.description,
            starts_on=i.starts_on,
            ends_on=i.ends_on,
        )

    def gift(g: Gift) -> GiftOut:
        return GiftOut(
            id=g.id,
            member_id=g.member_id,
            member=members[g.member_id].name,
            offered_by=g.offered_by,
            description=g.description,
            value=f"{g.value_pence // 100}.{g.value_pence % 100:02d}",
            received_on=g.received_on,
            accepted=g.accepted,
        )

    return Registers(
        interests=[interest(i) for i in conflicts.interests_of(session, member_id)],
        gifts=[gift(g) for g in conflicts.gifts_of(session, member_id)],
    )


def action_out(action: Action, today: date) -> ActionOut:
    return ActionOut(
        id=action.id,
        meeting_id=action.meeting_id,
        item_id=action.item_id,
        description=action.description,
        owner=action.owner,
        due_on=action.due_on,
        status=action.status,
        overdue=services.overdue(action, today),
    )
