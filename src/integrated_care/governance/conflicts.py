"""Interests, conflicts and votes.

A member has a conflict on an agenda item when one of their declared interests, in force on the
meeting's date, is in the organisation (ODS code) or the contract the item concerns. A conflicted
member's vote is refused unless the body's chair has recorded an allowance, with a reason; a
conflicted member without an allowance is also left out of the item's quorum.

A vote is valid when the item's quorum is met: at least the terms of reference's number of voting
members present and not conflicted, including at least one present member of each role the terms
of reference name. Only votes of members eligible at the count are counted; the motion is carried
when more are for than against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from integrated_care.governance import models as m
from integrated_care.governance.models import (
    Allowance,
    Body,
    Decision,
    Gift,
    Interest,
    Item,
    Meeting,
    Member,
    Vote,
)
from integrated_care.governance.services import (
    Actor,
    GovernanceError,
    audit,
    chair_of,
    get,
    in_term,
    present_members,
    utc,
)

# ---- registers ---------------------------------------------------------------------------------


def declare_interest(
    session: Session,
    actor: Actor,
    *,
    member_id: int,
    kind: str,
    description: str,
    starts_on: date,
    ends_on: date | None = None,
    org_code: str | None = None,
    organisation_name: str | None = None,
    contract_ref: str | None = None,
) -> Interest:
    """Enter an interest in the register. It must name an organisation or a contract."""
    get(session, Member, member_id)
    if kind not in m.INTEREST_KINDS:
        raise GovernanceError(f"kind must be one of {', '.join(m.INTEREST_KINDS)}")
    if not (org_code or organisation_name or contract_ref):
        raise GovernanceError("say which organisation or contract the interest is in")
    interest = Interest(
        member_id=member_id,
        kind=kind,
        description=description,
        starts_on=starts_on,
        ends_on=ends_on,
        org_code=org_code or None,
        organisation_name=organisation_name or None,
        contract_ref=contract_ref or None,
        declared_by=actor.username,
    )
    session.add(interest)
    session.flush()
    audit(
        session,
        actor,
        "interest.declare",
        "interest",
        interest.id,
        {"member": member_id, "org_code": org_code, "contract": contract_ref},
    )
    return interest


def record_gift(
    session: Session,
    actor: Actor,
    *,
    member_id: int,
    offered_by: str,
    description: str,
    value_pence: int,
    received_on: date,
    accepted: bool,
) -> Gift:
    get(session, Member, member_id)
    gift = Gift(
        member_id=member_id,
        offered_by=offered_by,
        description=description,
        value_pence=value_pence,
        received_on=received_on,
        accepted=accepted,
        declared_by=actor.username,
    )
    session.add(gift)
    session.flush()
    audit(session, actor, "gift.declare", "gift", gift.id, {"member": member_id})
    return gift


def interests_of(session: Session, member_id: int | None = None) -> list[Interest]:
    stmt = select(Interest).order_by(Interest.member_id, Interest.starts_on, Interest.id)
    if member_id is not None:
        stmt = stmt.where(Interest.member_id == member_id)
    return list(session.scalars(stmt).all())


def gifts_of(session: Session, member_id: int | None = None) -> list[Gift]:
    stmt = select(Gift).order_by(Gift.received_on.desc(), Gift.id)
    if member_id is not None:
        stmt = stmt.where(Gift.member_id == member_id)
    return list(session.scalars(stmt).all())


# ---- conflicts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    member_id: int
    member_name: str
    interest_id: int
    interest: str
    allowed: bool
    allowance_reason: str | None


def meeting_date(session: Session, item: Item) -> date:
    meeting = get(session, Meeting, item.meeting_id)
    return utc(meeting.starts_at).date()  # type: ignore[union-attr]


def _in_force(interest: Interest, on: date) -> bool:
    return interest.starts_on <= on and (interest.ends_on is None or interest.ends_on >= on)


def conflicts(session: Session, item: Item) -> list[Conflict]:
    """The members of the item's body with a declared interest in what the item concerns."""
    if not (item.concerns_org_code or item.concerns_contract):
        return []
    meeting = get(session, Meeting, item.meeting_id)
    on = meeting_date(session, item)
    matches = []
    if item.concerns_org_code:
        matches.append(Interest.org_code == item.concerns_org_code)
    if item.concerns_contract:
        matches.append(Interest.contract_ref == item.concerns_contract)
    rows = session.execute(
        select(Interest, Member)
        .join(Member, Member.id == Interest.member_id)
        .where(Member.body_id == meeting.body_id, or_(*matches))
        .order_by(Member.name, Interest.id)
    ).all()
    allowances = {
        a.member_id: a
        for a in session.scalars(select(Allowance).where(Allowance.item_id == item.id)).all()
    }
    seen: set[int] = set()
    out = []
    for interest, member in rows:
        if not _in_force(interest, on) or member.id in seen:
            continue
        seen.add(member.id)
        allowance = allowances.get(member.id)
        out.append(
            Conflict(
                member.id,
                member.name,
                interest.id,
                interest.description,
                allowance is not None,
                allowance.reason if allowance else None,
            )
        )
    return out


def allow_conflicted_vote(
    session: Session, actor: Actor, item_id: int, member_id: int, reason: str
) -> Allowance:
    """Record the chair's decision that a conflicted member may vote on an item, and why."""
    item = get(session, Item, item_id)
    if not reason.strip():
        raise GovernanceError("the chair's reason for allowing the vote must be recorded")
    conflict = next((c for c in conflicts(session, item) if c.member_id == member_id), None)
    if conflict is None:
        raise GovernanceError("this member has no declared interest in what the item concerns")
    meeting = get(session, Meeting, item.meeting_id)
    chair = chair_of(session, meeting.body_id, meeting_date(session, item))
    if chair is None:
        raise GovernanceError("the body has no chair in office to allow it")
    if chair.id == member_id:
        raise GovernanceError("the chair cannot allow their own conflicted vote")
    allowance = Allowance(
        item_id=item_id,
        member_id=member_id,
        chair_member_id=chair.id,
        reason=reason.strip(),
        recorded_by=actor.username,
    )
    session.add(allowance)
    session.flush()
    audit(
        session,
        actor,
        "conflict.allow",
        "item",
        item_id,
        {"member": member_id, "chair": chair.id, "interest": conflict.interest_id},
        reason=reason.strip(),
    )
    return allowance


# ---- votes -------------------------------------------------------------------------------------


def vote_refusal(session: Session, item: Item, member: Member) -> str | None:
    """Why `member` may not vote on `item` now, or None if they may."""
    meeting = get(session, Meeting, item.meeting_id)
    body = get(session, Body, meeting.body_id)
    if not item.needs_vote:
        return "this item is not put to a vote"
    if member.body_id != body.id:
        return f"{member.name} is not a member of {body.name}"
    if member.role not in body.voting_roles:
        return f"{member.name} is a {member.role.replace('_', ' ')} and does not vote"
    if not in_term(member, meeting_date(session, item)):
        return f"{member.name} was not in their term of office on the meeting's date"
    blocked = [c for c in conflicts(session, item) if c.member_id == member.id and not c.allowed]
    if blocked:
        return (
            f"{member.name} has a declared interest ({blocked[0].interest}); the chair must "
            "record a decision to allow them to vote"
        )
    if member.id not in {p.id for p in present_members(session, meeting.id)}:
        return f"{member.name} is not recorded as present"
    return None


def cast_vote(session: Session, actor: Actor, item_id: int, member_id: int, choice: str) -> Vote:
    """Record a member's vote (for, against, abstain), or raise GovernanceError saying why not.

    A member votes once; a second vote replaces the first before the decision is recorded."""
    item = get(session, Item, item_id)
    member = get(session, Member, member_id)
    if choice not in m.CHOICES:
        raise GovernanceError(f"a vote is one of {', '.join(m.CHOICES)}")
    refusal = vote_refusal(session, item, member)
    if refusal:
        raise GovernanceError(refusal)
    if session.scalar(select(Decision.id).where(Decision.item_id == item_id)) is not None:
        raise GovernanceError("the decision on this item is already recorded")
    vote = session.scalar(
        select(Vote).where(Vote.item_id == item_id, Vote.member_id == member_id)
    ) or Vote(item_id=item_id, member_id=member_id)
    vote.choice = choice
    vote.recorded_by = actor.username
    session.add(vote)
    session.flush()
    audit(session, actor, "vote.cast", "item", item_id, {"member": member_id, "choice": choice})
    return vote


@dataclass(frozen=True)
class Tally:
    """The count of an item's vote under its body's terms of reference."""

    votes_for: int
    against: int
    abstain: int
    eligible_present: int
    quorum_required: int
    problems: list[str] = field(default_factory=list)
    not_counted: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def carried(self) -> bool:
        return self.valid and self.votes_for > self.against


def tally(session: Session, item_id: int) -> Tally:
    """Count the votes, and check the quorum and voting-member rules."""
    item = get(session, Item, item_id)
    meeting = get(session, Meeting, item.meeting_id)
    body = get(session, Body, meeting.body_id)
    on = meeting_date(session, item)
    blocked = {c.member_id for c in conflicts(session, item) if not c.allowed}
    present = [
        p for p in present_members(session, meeting.id) if in_term(p, on) and p.id not in blocked
    ]
    voting_present = [p for p in present if p.role in body.voting_roles]
    problems = []
    if len(voting_present) < body.quorum_voting_members:
        problems.append(
            f"not quorate: {len(voting_present)} voting members present and free of conflicts, "
            f"the terms of reference need {body.quorum_voting_members}"
        )
    for role in body.quorum_roles:
        if not any(p.role == role for p in present):
            problems.append(f"not quorate: no {role.replace('_', ' ')} present")
    counts = {c: 0 for c in m.CHOICES}
    not_counted = []
    members = {x.id: x for x in session.scalars(select(Member)).all()}
    for vote in session.scalars(select(Vote).where(Vote.item_id == item_id)).all():
        refusal = vote_refusal(session, item, members[vote.member_id])
        if refusal:
            not_counted.append(refusal)
        else:
            counts[vote.choice] += 1
    return Tally(
        counts["for"],
        counts["against"],
        counts["abstain"],
        len(voting_present),
        body.quorum_voting_members,
        problems,
        not_counted,
    )


def votes_on(session: Session, item_id: int) -> list[Vote]:
    return list(session.scalars(select(Vote).where(Vote.item_id == item_id)).all())


# ---- decisions ---------------------------------------------------------------------------------


def record_decision(
    session: Session, actor: Actor, item_id: int, resolution: str, outcome: str | None = None
) -> Decision:
    """Enter the decision in the log. For an item put to a vote the outcome is the vote's, and
    an invalid vote (not quorate) cannot become a decision."""
    item = get(session, Item, item_id)
    counts: dict[str, int | None] = {"votes_for": None, "votes_against": None, "abstentions": None}
    if item.needs_vote:
        result = tally(session, item_id)
        if not result.valid:
            raise GovernanceError("the vote is not valid: " + "; ".join(result.problems))
        outcome = "approved" if result.carried else "not_approved"
        counts = {
            "votes_for": result.votes_for,
            "votes_against": result.against,
            "abstentions": result.abstain,
        }
    if outcome not in m.OUTCOMES:
        raise GovernanceError(f"outcome must be one of {', '.join(m.OUTCOMES)}")
    decision = Decision(
        item_id=item_id,
        outcome=outcome,
        resolution=resolution,
        recorded_by=actor.username,
        **counts,
    )
    session.add(decision)
    session.flush()
    audit(session, actor, "decision.record", "item", item_id, {"outcome": outcome, **counts})
    return decision


def decision_on(session: Session, item_id: int) -> Decision | None:
    return session.scalar(select(Decision).where(Decision.item_id == item_id))
