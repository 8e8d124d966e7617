"""Fixtures for the governance tests: a small board on the test footprint, built by hand so
every count in the tests can be checked by eye."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from integrated_care.footprint.services import list_organisations
from integrated_care.governance import conflicts, services
from integrated_care.governance.services import Actor

SECRETARY = Actor("secretary", "QK1")
MEETING_AT = datetime(2027, 3, 10, 10, 0, tzinfo=UTC)


@dataclass
class Board:
    body_id: int
    meeting_id: int
    item_id: int  # for decision, put to a vote, concerning `trust`
    chair: int
    trust_member: int  # a partner member with a declared interest in `trust`
    council_member: int
    ned: int
    participant: int  # non-voting
    trust: str


def build_board(session: Session, quorum: int = 3) -> Board:
    """A board (quorum: `quorum` voting members including the chair), five members all present,
    one meeting with a public item for decision on a contract with an acute trust."""
    orgs = list_organisations(session)
    icb = next(o.org_code for o in orgs if o.org_type == "icb")
    trust = sorted(o.org_code for o in orgs if o.org_type == "acute_trust")[0]
    council = sorted(o.org_code for o in orgs if o.org_type == "local_authority")[0]
    s = SECRETARY
    body = services.create_body(
        session,
        s,
        name="Integrated care board",
        kind="board",
        level="system",
        quorum_voting_members=quorum,
        quorum_roles=["chair"],
        clear_days=5,
    )
    start = date(2025, 4, 1)

    def seat(name: str, role: str, org: str) -> int:
        return services.add_member(
            session, s, body_id=body.id, name=name, role=role, org_code=org, term_start=start
        ).id

    chair = seat("Chair Person", "chair", icb)
    trust_member = seat("Trust Chief", "partner_member", trust)
    council_member = seat("Council Leader", "partner_member", council)
    ned = seat("Non Exec", "non_executive", icb)
    participant = seat("Participant", "non_voting", icb)
    meeting = services.create_meeting(
        session, s, body_id=body.id, starts_at=MEETING_AT, location="County Hall"
    )
    for member in (chair, trust_member, council_member, ned, participant):
        services.record_attendance(session, s, meeting.id, member, "present")
    item = services.add_item(
        session,
        s,
        meeting_id=meeting.id,
        title="Award of the elective recovery contract",
        part="public",
        purpose="decision",
        concerns_org_code=trust,
        needs_vote=True,
        paper="# Recommendation\n\nApprove the award.",
    )
    conflicts.declare_interest(
        session,
        s,
        member_id=trust_member,
        kind="financial",
        description="Chief executive of the trust",
        org_code=trust,
        starts_on=start,
    )
    session.flush()
    return Board(
        body.id, meeting.id, item.id, chair, trust_member, council_member, ned, participant, trust
    )


@pytest.fixture
def board(footprint_session: Session) -> Board:
    b = build_board(footprint_session)
    footprint_session.commit()
    return b


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id's cheapest parameters: the production ones cost ~0.4 s a hash."""
    from argon2 import PasswordHasher, profiles

    from integrated_care.accounts import passwords

    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy-password-for-timing"))
