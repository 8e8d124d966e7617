"""Running boards: bodies and their members, meetings, agenda items and papers, publication,
attendance, minutes, decisions and actions.

Service functions take a session and an :class:`Actor` (who is doing it) and audit every change
in the caller's transaction, so the change and its audit row are kept or lost together. Votes,
interests and conflicts are in :mod:`integrated_care.governance.conflicts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts.audit import record_domain_event
from integrated_care.governance import models as m
from integrated_care.governance.models import Action, Attendance, Body, Item, Meeting, Member


class GovernanceError(ValueError):
    """A request the rules do not allow; the message says why, for the person asking."""


class NotFound(LookupError):
    """No such body, member, meeting or item."""


@dataclass(frozen=True)
class Actor:
    """Who is doing something: a username, the organisation they act for, their address."""

    username: str
    organisation: str | None = None
    client: str | None = None

    @classmethod
    def of(cls, principal: Any, client: str | None = None) -> Actor:
        return cls(principal.username, principal.organisation_code, client)


# Appends ``governance.<action>`` to the audit log in the caller's transaction.
audit = partial(record_domain_event, "governance")


def utc(value: datetime | None) -> datetime | None:
    """Stamps as aware UTC (SQLite hands them back naive)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise GovernanceError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def get(session: Session, model: type, ident: int) -> Any:
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"there is no {model.__tablename__.removeprefix('governance_')} {ident}")
    return row


# ---- bodies and members ------------------------------------------------------------------------


def create_body(
    session: Session,
    actor: Actor,
    *,
    name: str,
    kind: str,
    level: str,
    quorum_voting_members: int,
    quorum_roles: list[str] | None = None,
    voting_roles: list[str] | None = None,
    clear_days: int = 5,
    parent_id: int | None = None,
    place_code: str | None = None,
    purpose: str | None = None,
    terms_of_reference: str | None = None,
    delegations: str | None = None,
) -> Body:
    """A board or committee with its terms of reference (quorum and voting rules)."""
    _check(kind, m.BODY_KINDS, "kind")
    _check(level, m.LEVELS, "level")
    voting = voting_roles or ["chair", "partner_member", "non_executive"]
    for role in [*(quorum_roles or []), *voting]:
        _check(role, m.ROLES, "a role in the terms of reference")
    if parent_id is not None:
        get(session, Body, parent_id)
    body = Body(
        name=name,
        kind=kind,
        level=level,
        parent_id=parent_id,
        place_code=place_code,
        purpose=purpose,
        terms_of_reference=terms_of_reference,
        delegations=delegations,
        quorum_voting_members=quorum_voting_members,
        quorum_roles=list(quorum_roles or []),
        voting_roles=voting,
        clear_days=clear_days,
    )
    session.add(body)
    session.flush()
    audit(session, actor, "body.create", "body", body.id, {"name": name, "level": level})
    return body


def list_bodies(session: Session) -> list[Body]:
    """Every body, the board first, then by level and name."""
    order = {level: i for i, level in enumerate(m.LEVELS)}
    bodies = session.scalars(select(Body)).all()
    return sorted(bodies, key=lambda b: (b.parent_id is not None, order[b.level], b.name))


def add_member(
    session: Session,
    actor: Actor,
    *,
    body_id: int,
    name: str,
    role: str,
    term_start: date,
    term_end: date | None = None,
    org_code: str | None = None,
    job_title: str | None = None,
    nhse_approval: str | None = None,
    user_id: int | None = None,
) -> Member:
    """Seat a member. A system-level chair needs NHS England's approval (pending until given)."""
    body = get(session, Body, body_id)
    _check(role, m.ROLES, "role")
    if org_code is not None:
        from integrated_care.footprint.services import get_organisation

        if get_organisation(session, org_code) is None:
            raise GovernanceError(f"{org_code} is not an organisation of this footprint")
    needs_approval = role == "chair" and body.level == "system"
    approval = nhse_approval or ("pending" if needs_approval else "not_needed")
    _check(approval, m.NHSE_APPROVAL, "NHS England approval")
    member = Member(
        body_id=body_id,
        name=name,
        job_title=job_title,
        org_code=org_code,
        role=role,
        nhse_approval=approval,
        term_start=term_start,
        term_end=term_end,
        user_id=user_id,
    )
    session.add(member)
    session.flush()
    audit(session, actor, "member.add", "member", member.id, {"body": body_id, "role": role})
    return member


def in_term(member: Member, on: date) -> bool:
    return member.term_start <= on and (member.term_end is None or member.term_end >= on)


def members_of(session: Session, body_id: int, on: date | None = None) -> list[Member]:
    """A body's members (those in their term of office on `on`, if given), chair first."""
    rows = session.scalars(select(Member).where(Member.body_id == body_id)).all()
    order = {r: i for i, r in enumerate(m.ROLES)}
    return sorted(
        (r for r in rows if on is None or in_term(r, on)), key=lambda r: (order[r.role], r.name)
    )


def chair_of(session: Session, body_id: int, on: date) -> Member | None:
    return next((x for x in members_of(session, body_id, on) if x.role == "chair"), None)


def members_for_user(session: Session, user_id: int) -> list[Member]:
    return list(session.scalars(select(Member).where(Member.user_id == user_id)).all())


# ---- meetings, items, papers -------------------------------------------------------------------


def create_meeting(
    session: Session, actor: Actor, *, body_id: int, starts_at: datetime, location: str | None
) -> Meeting:
    get(session, Body, body_id)
    if starts_at.tzinfo is None:
        raise GovernanceError("a meeting's start needs a time zone")
    meeting = Meeting(body_id=body_id, starts_at=starts_at, location=location, status="scheduled")
    session.add(meeting)
    session.flush()
    audit(session, actor, "meeting.create", "meeting", meeting.id, {"body": body_id})
    return meeting


def set_meeting_status(session: Session, actor: Actor, meeting_id: int, status: str) -> Meeting:
    meeting = get(session, Meeting, meeting_id)
    meeting.status = _check(status, m.MEETING_STATUSES, "status")
    audit(session, actor, "meeting.status", "meeting", meeting_id, {"status": status})
    return meeting


def meetings(session: Session, body_id: int | None = None) -> list[Meeting]:
    """Meetings, soonest first."""
    stmt = select(Meeting).order_by(Meeting.starts_at)
    if body_id is not None:
        stmt = stmt.where(Meeting.body_id == body_id)
    return list(session.scalars(stmt).all())


def add_item(
    session: Session,
    actor: Actor,
    *,
    meeting_id: int,
    title: str,
    part: str,
    purpose: str,
    presenter: str | None = None,
    concerns_org_code: str | None = None,
    concerns_contract: str | None = None,
    needs_vote: bool = False,
    paper: str | None = None,
) -> Item:
    """Add an item at the end of the agenda. Only items for decision can be put to a vote."""
    get(session, Meeting, meeting_id)
    _check(part, m.PARTS, "part")
    _check(purpose, m.PURPOSES, "purpose")
    if needs_vote and purpose != "decision":
        raise GovernanceError("only an item for decision can be put to a vote")
    last = session.scalar(select(func.max(Item.number)).where(Item.meeting_id == meeting_id))
    item = Item(
        meeting_id=meeting_id,
        number=(last or 0) + 1,
        title=title,
        part=part,
        purpose=purpose,
        presenter=presenter,
        concerns_org_code=concerns_org_code or None,
        concerns_contract=concerns_contract or None,
        needs_vote=needs_vote,
        paper=paper,
    )
    session.add(item)
    session.flush()
    audit(session, actor, "item.add", "item", item.id, {"meeting": meeting_id, "part": part})
    return item


def items_of(session: Session, meeting_id: int, public_only: bool = False) -> list[Item]:
    """A meeting's agenda in order; `public_only` leaves out the private part entirely."""
    stmt = select(Item).where(Item.meeting_id == meeting_id).order_by(Item.number)
    if public_only:
        stmt = stmt.where(Item.part == "public", Item.published_at.is_not(None))
    return list(session.scalars(stmt).all())


def set_paper(session: Session, actor: Actor, item_id: int, paper: str) -> Item:
    """Write or replace an item's paper (Markdown). A published paper stays published."""
    item = get(session, Item, item_id)
    item.paper = paper
    audit(session, actor, "paper.write", "item", item_id, {"characters": len(paper)})
    return item


@dataclass(frozen=True)
class Publication:
    """When a paper was published against its meeting and the body's notice rule."""

    published_at: datetime
    clear_days: int
    required_clear_days: int

    @property
    def late(self) -> bool:
        return self.clear_days < self.required_clear_days

    @property
    def warning(self) -> str | None:
        if not self.late:
            return None
        return (
            f"Published with {max(self.clear_days, 0)} clear days' notice; the terms of "
            f"reference ask for {self.required_clear_days}."
        )


def clear_days(published_at: datetime, meeting_at: datetime) -> int:
    """Whole days between publication and the meeting, counting neither day."""
    return (utc(meeting_at).date() - utc(published_at).date()).days - 1  # type: ignore[union-attr]


def publication(session: Session, item: Item) -> Publication | None:
    if item.published_at is None:
        return None
    meeting = get(session, Meeting, item.meeting_id)
    body = get(session, Body, meeting.body_id)
    return Publication(
        utc(item.published_at),  # type: ignore[arg-type]
        clear_days(item.published_at, meeting.starts_at),
        body.clear_days,
    )


def _has_pdf(session: Session, item_id: int) -> bool:
    from integrated_care.governance.voice_models import PaperFile

    return (
        session.scalar(select(PaperFile.id).where(PaperFile.item_id == item_id).limit(1))
        is not None
    )


def publish_item(
    session: Session, actor: Actor, item_id: int, at: datetime | None = None
) -> Publication:
    """Publish an item's paper (a public item then shows on the public portal).

    Late publication is allowed but flagged: the warning is returned and audited."""
    item = get(session, Item, item_id)
    if not item.paper and not _has_pdf(session, item_id):
        raise GovernanceError("write the paper, or upload it as a PDF, before publishing it")
    item.published_at = at or db.utcnow()
    session.flush()
    found = publication(session, item)
    assert found is not None
    audit(
        session,
        actor,
        "paper.publish",
        "item",
        item_id,
        {"part": item.part, "clear_days": found.clear_days, "late": found.late},
    )
    return found


def set_minutes(
    session: Session, actor: Actor, meeting_id: int, minutes: str, publish: bool = False
) -> Meeting:
    meeting = get(session, Meeting, meeting_id)
    meeting.minutes = minutes
    if publish:
        meeting.minutes_published_at = db.utcnow()
    audit(session, actor, "minutes.write", "meeting", meeting_id, {"published": publish})
    return meeting


def record_attendance(
    session: Session, actor: Actor, meeting_id: int, member_id: int, status: str
) -> Attendance:
    """Present, apologies or absent; quorum counts those present."""
    meeting = get(session, Meeting, meeting_id)
    member = get(session, Member, member_id)
    _check(status, m.ATTENDANCE, "attendance")
    if member.body_id != meeting.body_id:
        raise GovernanceError(f"{member.name} is not a member of this body")
    row = session.scalar(
        select(Attendance).where(
            Attendance.meeting_id == meeting_id, Attendance.member_id == member_id
        )
    )
    if row is None:
        row = Attendance(meeting_id=meeting_id, member_id=member_id, status=status)
        session.add(row)
    row.status = status
    session.flush()
    audit(
        session, actor, "attendance", "meeting", meeting_id, {"member": member_id, "status": status}
    )
    return row


def present_members(session: Session, meeting_id: int) -> list[Member]:
    return list(
        session.scalars(
            select(Member)
            .join(Attendance, Attendance.member_id == Member.id)
            .where(Attendance.meeting_id == meeting_id, Attendance.status == "present")
        ).all()
    )


def attendance_of(session: Session, meeting_id: int) -> dict[int, str]:
    rows = session.scalars(select(Attendance).where(Attendance.meeting_id == meeting_id)).all()
    return {r.member_id: r.status for r in rows}


# ---- actions -----------------------------------------------------------------------------------


def add_action(
    session: Session,
    actor: Actor,
    *,
    meeting_id: int,
    description: str,
    owner: str,
    due_on: date,
    item_id: int | None = None,
) -> Action:
    get(session, Meeting, meeting_id)
    action = Action(
        meeting_id=meeting_id,
        item_id=item_id,
        description=description,
        owner=owner,
        due_on=due_on,
        status="open",
        recorded_by=actor.username,
    )
    session.add(action)
    session.flush()
    audit(session, actor, "action.add", "action", action.id, {"owner": owner})
    return action


def set_action_status(session: Session, actor: Actor, action_id: int, status: str) -> Action:
    action = get(session, Action, action_id)
    action.status = _check(status, m.ACTION_STATUSES, "status")
    action.updated_at = db.utcnow()
    audit(session, actor, "action.status", "action", action_id, {"status": status})
    return action


def actions(session: Session, meeting_id: int | None = None) -> list[Action]:
    stmt = select(Action).order_by(Action.due_on, Action.id)
    if meeting_id is not None:
        stmt = stmt.where(Action.meeting_id == meeting_id)
    return list(session.scalars(stmt).all())


def overdue(action: Action, today: date) -> bool:
    return action.status == "open" and action.due_on < today
