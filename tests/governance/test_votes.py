"""Votes under the terms of reference: conflicts block a vote unless the chair allows it,
non-voting participants cannot vote, and an inquorate vote is invalid. All of it audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.accounts.models import AuditEvent
from integrated_care.governance import conflicts, services
from integrated_care.governance.services import Actor, GovernanceError
from tests.governance.conftest import SECRETARY, Board

CHAIR = Actor("chair.user", "QK1")


def events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_conflicted_member_is_flagged_and_cannot_vote(footprint_session: Session, board: Board):
    item = footprint_session.get(services.Item, board.item_id)
    found = conflicts.conflicts(footprint_session, item)
    assert [(c.member_id, c.allowed) for c in found] == [(board.trust_member, False)]
    with pytest.raises(GovernanceError, match="declared interest"):
        conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, board.trust_member, "for")
    assert conflicts.votes_on(footprint_session, board.item_id) == []


def test_chair_allowance_lets_the_conflicted_member_vote_and_both_are_audited(
    footprint_session: Session, board: Board
):
    conflicts.allow_conflicted_vote(
        footprint_session, CHAIR, board.item_id, board.trust_member, "Expertise needed; no gain"
    )
    conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, board.trust_member, "for")
    footprint_session.commit()
    (allowed,) = events(footprint_session, "governance.conflict.allow")
    assert allowed.actor == "chair.user" and allowed.reason == "Expertise needed; no gain"
    assert allowed.detail["member"] == board.trust_member
    assert allowed.detail["chair"] == board.chair
    (vote,) = events(footprint_session, "governance.vote.cast")
    assert vote.record_id == str(board.item_id)
    assert vote.detail == {"member": board.trust_member, "choice": "for"}
    item = footprint_session.get(services.Item, board.item_id)
    assert conflicts.conflicts(footprint_session, item)[0].allowed


def test_allowance_needs_a_reason_and_a_real_conflict(footprint_session: Session, board: Board):
    with pytest.raises(GovernanceError, match="reason"):
        conflicts.allow_conflicted_vote(
            footprint_session, CHAIR, board.item_id, board.trust_member, "  "
        )
    with pytest.raises(GovernanceError, match="no declared interest"):
        conflicts.allow_conflicted_vote(
            footprint_session, CHAIR, board.item_id, board.ned, "why not"
        )


def test_interest_out_of_force_is_no_conflict(footprint_session: Session, board: Board):
    from datetime import date

    from integrated_care.governance.models import Interest

    interest = footprint_session.scalars(select(Interest)).one()
    interest.ends_on = date(2026, 12, 31)  # ended before the meeting of 10 March 2027
    footprint_session.flush()
    item = footprint_session.get(services.Item, board.item_id)
    assert conflicts.conflicts(footprint_session, item) == []
    conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, board.trust_member, "for")


def test_non_voting_participant_cannot_vote(footprint_session: Session, board: Board):
    with pytest.raises(GovernanceError, match="does not vote"):
        conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, board.participant, "for")


def test_absent_member_cannot_vote(footprint_session: Session, board: Board):
    services.record_attendance(
        footprint_session, SECRETARY, board.meeting_id, board.ned, "apologies"
    )
    with pytest.raises(GovernanceError, match="not recorded as present"):
        conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, board.ned, "for")


def test_valid_vote_is_counted_by_hand(footprint_session: Session, board: Board):
    s = SECRETARY
    conflicts.cast_vote(footprint_session, s, board.item_id, board.chair, "for")
    conflicts.cast_vote(footprint_session, s, board.item_id, board.council_member, "against")
    conflicts.cast_vote(footprint_session, s, board.item_id, board.ned, "for")
    result = conflicts.tally(footprint_session, board.item_id)
    # Present voting members free of conflicts: chair, council, NED = 3 (the trust member is
    # conflicted, the participant does not vote); quorum 3.
    assert (result.votes_for, result.against, result.abstain) == (2, 1, 0)
    assert result.eligible_present == 3 and result.valid and result.carried
    decision = conflicts.record_decision(footprint_session, s, board.item_id, "Award approved")
    assert (decision.outcome, decision.votes_for, decision.votes_against) == ("approved", 2, 1)
    with pytest.raises(GovernanceError, match="already recorded"):
        conflicts.cast_vote(footprint_session, s, board.item_id, board.chair, "against")


def test_tie_is_not_carried(footprint_session: Session, board: Board):
    conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, board.chair, "for")
    conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, board.ned, "against")
    result = conflicts.tally(footprint_session, board.item_id)
    assert result.valid and not result.carried


def test_quorum_not_met_makes_the_vote_invalid(footprint_session: Session, board: Board):
    services.record_attendance(footprint_session, SECRETARY, board.meeting_id, board.ned, "absent")
    conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, board.chair, "for")
    conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, board.council_member, "for")
    result = conflicts.tally(footprint_session, board.item_id)
    # chair + council present and free of conflicts = 2 < 3; the conflicted trust member does
    # not count towards the quorum.
    assert result.eligible_present == 2 and not result.valid and not result.carried
    assert "not quorate" in result.problems[0]
    with pytest.raises(GovernanceError, match="not valid"):
        conflicts.record_decision(footprint_session, SECRETARY, board.item_id, "Award")


def test_quorum_needs_the_roles_the_terms_of_reference_name(
    footprint_session: Session, board: Board
):
    services.record_attendance(
        footprint_session, SECRETARY, board.meeting_id, board.chair, "absent"
    )
    conflicts.allow_conflicted_vote(
        footprint_session, CHAIR, board.item_id, board.trust_member, "allowed before leaving"
    )
    result = conflicts.tally(footprint_session, board.item_id)
    # trust (allowed), council, NED: 3 voting members, but no chair present.
    assert result.eligible_present == 3
    assert result.problems == ["not quorate: no chair present"]


def test_item_not_for_vote_cannot_be_voted_on(footprint_session: Session, board: Board):
    item = services.add_item(
        footprint_session,
        SECRETARY,
        meeting_id=board.meeting_id,
        title="Chief executive's report",
        part="public",
        purpose="information",
    )
    with pytest.raises(GovernanceError, match="not put to a vote"):
        conflicts.cast_vote(footprint_session, SECRETARY, item.id, board.chair, "for")
    with pytest.raises(GovernanceError, match="only an item for decision"):
        services.add_item(
            footprint_session,
            SECRETARY,
            meeting_id=board.meeting_id,
            title="x",
            part="public",
            purpose="discussion",
            needs_vote=True,
        )


def test_system_chair_needs_nhs_england_approval(footprint_session: Session, board: Board):
    chair = footprint_session.get(services.Member, board.chair)
    assert chair.nhse_approval == "pending"
    council = footprint_session.get(services.Member, board.council_member)
    assert council.nhse_approval == "not_needed"
