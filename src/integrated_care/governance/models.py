"""The governance domain's tables: boards and committees, their terms of reference and members,
meetings, agenda items and papers, attendance, votes, decisions, actions, and the registers of
interests and of gifts and hospitality.

Organisations are held by ODS code (the footprint's ``org_code``) and checked through the
footprint's service functions, not by a foreign key into another domain's tables. A member may be
linked to the platform user who signs in to vote as them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from integrated_care.db import Base, BigId, Timestamp, utcnow

LEVELS = ("system", "place", "neighbourhood")
BODY_KINDS = ("board", "committee", "joint_committee", "sub_committee")
ROLES = ("chair", "partner_member", "non_executive", "non_voting", "observer")
NHSE_APPROVAL = ("not_needed", "pending", "approved", "refused")
MEETING_STATUSES = ("scheduled", "held", "cancelled")
PARTS = ("public", "private")
PURPOSES = ("decision", "discussion", "information")
ATTENDANCE = ("present", "apologies", "absent")
CHOICES = ("for", "against", "abstain")
OUTCOMES = ("approved", "not_approved", "noted", "deferred")
ACTION_STATUSES = ("open", "done", "dropped")
INTEREST_KINDS = (
    "financial",
    "non_financial_professional",
    "non_financial_personal",
    "indirect",
)


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Body(Base):
    """A board or committee, with its place in the committee tree and its terms of reference.

    Quorum: at least ``quorum_voting_members`` voting members present (and not conflicted on the
    item), including at least one member of each role in ``quorum_roles``. Only members whose
    role is in ``voting_roles`` vote.
    """

    __tablename__ = "governance_body"
    __table_args__ = (
        CheckConstraint(one_of("level", LEVELS), name="level"),
        CheckConstraint(one_of("kind", BODY_KINDS), name="kind"),
        CheckConstraint("quorum_voting_members >= 1", name="quorum"),
        CheckConstraint("clear_days >= 0", name="clear_days"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(15))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("governance_body.id"), index=True)
    place_code: Mapped[str | None] = mapped_column(String(12))
    purpose: Mapped[str | None] = mapped_column(Text)
    terms_of_reference: Mapped[str | None] = mapped_column(Text)  # Markdown
    delegations: Mapped[str | None] = mapped_column(Text)  # Markdown: what it may decide
    quorum_voting_members: Mapped[int] = mapped_column(Integer)
    quorum_roles: Mapped[list[str]] = mapped_column(JSON)
    voting_roles: Mapped[list[str]] = mapped_column(JSON)
    clear_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Member(Base):
    """A person's seat on a body: their organisation, role and term of office."""

    __tablename__ = "governance_member"
    __table_args__ = (
        CheckConstraint(one_of("role", ROLES), name="role"),
        CheckConstraint(one_of("nhse_approval", NHSE_APPROVAL), name="nhse_approval"),
        CheckConstraint("term_end IS NULL OR term_end >= term_start", name="term"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    body_id: Mapped[int] = mapped_column(ForeignKey("governance_body.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    job_title: Mapped[str | None] = mapped_column(String(200))
    org_code: Mapped[str | None] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(20))
    nhse_approval: Mapped[str] = mapped_column(String(12), default="not_needed")
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date | None] = mapped_column(Date)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("account_user.id"), index=True)


class Meeting(Base):
    """A meeting of a body, with its minutes once written."""

    __tablename__ = "governance_meeting"
    __table_args__ = (CheckConstraint(one_of("status", MEETING_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    body_id: Mapped[int] = mapped_column(ForeignKey("governance_body.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    location: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    minutes: Mapped[str | None] = mapped_column(Text)  # Markdown, public part only
    minutes_published_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Item(Base):
    """An agenda item: its part (public or private), purpose, paper and what it concerns."""

    __tablename__ = "governance_item"
    __table_args__ = (
        CheckConstraint(one_of("part", PARTS), name="part"),
        CheckConstraint(one_of("purpose", PURPOSES), name="purpose"),
        UniqueConstraint("meeting_id", "number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("governance_meeting.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    part: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(12))
    presenter: Mapped[str | None] = mapped_column(String(200))
    concerns_org_code: Mapped[str | None] = mapped_column(String(12))
    concerns_contract: Mapped[str | None] = mapped_column(String(60))
    needs_vote: Mapped[bool] = mapped_column(Boolean, default=False)
    paper: Mapped[str | None] = mapped_column(Text)  # Markdown
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Attendance(Base):
    """Whether a member was present at a meeting (quorum counts those present)."""

    __tablename__ = "governance_attendance"
    __table_args__ = (
        UniqueConstraint("meeting_id", "member_id"),
        CheckConstraint(one_of("status", ATTENDANCE), name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("governance_meeting.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("governance_member.id"))
    status: Mapped[str] = mapped_column(String(10))


class Interest(Base):
    """A declared interest: in an organisation (ODS code or name) or a contract."""

    __tablename__ = "governance_interest"
    __table_args__ = (
        CheckConstraint(one_of("kind", INTEREST_KINDS), name="kind"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("governance_member.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    org_code: Mapped[str | None] = mapped_column(String(12), index=True)
    organisation_name: Mapped[str | None] = mapped_column(String(200))
    contract_ref: Mapped[str | None] = mapped_column(String(60), index=True)
    description: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    declared_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    declared_by: Mapped[str] = mapped_column(String(150))


class Gift(Base):
    """An entry in the register of gifts and hospitality (value in whole pence)."""

    __tablename__ = "governance_gift"
    __table_args__ = (CheckConstraint("value_pence >= 0", name="value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("governance_member.id"), index=True)
    offered_by: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    value_pence: Mapped[int] = mapped_column(Integer)
    received_on: Mapped[date] = mapped_column(Date)
    accepted: Mapped[bool] = mapped_column(Boolean)
    declared_by: Mapped[str] = mapped_column(String(150))


class Allowance(Base):
    """The chair's decision to let a conflicted member vote on an item, and why."""

    __tablename__ = "governance_allowance"
    __table_args__ = (UniqueConstraint("item_id", "member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("governance_item.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("governance_member.id"))
    chair_member_id: Mapped[int] = mapped_column(ForeignKey("governance_member.id"))
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Vote(Base):
    """One member's vote on an item."""

    __tablename__ = "governance_vote"
    __table_args__ = (
        UniqueConstraint("item_id", "member_id"),
        CheckConstraint(one_of("choice", CHOICES), name="choice"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("governance_item.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("governance_member.id"))
    choice: Mapped[str] = mapped_column(String(10))
    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Decision(Base):
    """The decisions log: what a body resolved on an item."""

    __tablename__ = "governance_decision"
    __table_args__ = (
        UniqueConstraint("item_id"),
        CheckConstraint(one_of("outcome", OUTCOMES), name="outcome"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("governance_item.id"))
    outcome: Mapped[str] = mapped_column(String(15))
    resolution: Mapped[str] = mapped_column(Text)
    votes_for: Mapped[int | None] = mapped_column(Integer)
    votes_against: Mapped[int | None] = mapped_column(Integer)
    abstentions: Mapped[int | None] = mapped_column(Integer)
    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Action(Base):
    """The actions tracker: who will do what by when."""

    __tablename__ = "governance_action"
    __table_args__ = (CheckConstraint(one_of("status", ACTION_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("governance_meeting.id"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("governance_item.id"))
    description: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    recorded_by: Mapped[str] = mapped_column(String(150))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
