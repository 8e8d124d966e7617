"""The public voice: residents' questions (moderation, answers, deadlines, the rate limit),
consultations (comments while open, themes, responses) and engagement per organisation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrated_care.accounts.models import AuditEvent
from integrated_care.governance import consultations as consult
from integrated_care.governance import engagement as engage
from integrated_care.governance import questions as ask
from integrated_care.governance import services
from integrated_care.governance.services import GovernanceError
from integrated_care.governance.voice_models import Comment, Question
from tests.governance.conftest import MEETING_AT, SECRETARY, Board

BEFORE = MEETING_AT - timedelta(days=20)  # Friday 18 February 2027
KEY = ask.client_key("secret", "203.0.113.7")


def _ask(session: Session, board: Board, text: str = "Will the clinic stay open?", **kw):  # type: ignore[no-untyped-def]
    fields = {"client": "203.0.113.7", "key": KEY, "now": BEFORE, **kw}
    return ask.submit_question(
        session, meeting_id=board.meeting_id, asker_name="Ann Resident", question=text, **fields
    )


def test_working_days_skip_weekends() -> None:
    friday = date(2027, 2, 19)
    assert ask.add_working_days(friday, 1) == date(2027, 2, 22)  # Monday
    assert ask.add_working_days(friday, 5) == date(2027, 2, 26)
    # 20 working days are four whole weeks.
    assert ask.add_working_days(friday, 20) == friday + timedelta(days=28)


def test_question_is_moderated_then_answered_and_audited(
    footprint_session: Session, board: Board
) -> None:
    q = _ask(footprint_session, board)
    assert q.status == "submitted" and q.reference.startswith("Q") and len(q.reference) == 9
    assert q.respond_by == ask.add_working_days(BEFORE.date(), 20)
    assert ask.for_meeting(footprint_session, board.meeting_id, public=True) == []
    with pytest.raises(GovernanceError, match="only an accepted question"):
        ask.answer(footprint_session, SECRETARY, q.id, "Yes.")
    ask.moderate(footprint_session, SECRETARY, q.id, accept=True)
    assert ask.for_meeting(footprint_session, board.meeting_id, public=True) == [q]
    ask.answer(footprint_session, SECRETARY, q.id, "Yes, it stays open.")
    assert (q.status, q.answer, q.answered_by) == ("answered", "Yes, it stays open.", "secretary")
    assert ask.by_reference(footprint_session, q.reference.lower()) is q
    actions = footprint_session.scalars(
        select(AuditEvent.action).where(AuditEvent.record_type == "governance_question")
    ).all()
    assert actions == ["governance.question.submit", "governance.question.accept",
                       "governance.question.answer"]  # fmt: skip
    submit = footprint_session.scalar(
        select(AuditEvent).where(AuditEvent.action == "governance.question.submit")
    )
    assert (submit.actor, submit.client) == ("anonymous", "203.0.113.7")


def test_rejection_needs_a_reason_and_keeps_the_question_private(
    footprint_session: Session, board: Board
) -> None:
    q = _ask(footprint_session, board, "Buy my double glazing at a discount today!")
    with pytest.raises(GovernanceError, match="give the reason"):
        ask.moderate(footprint_session, SECRETARY, q.id, accept=False, reason="  ")
    ask.moderate(footprint_session, SECRETARY, q.id, accept=False, reason="Advertising.")
    assert (q.status, q.moderation_reason) == ("rejected", "Advertising.")
    assert ask.for_meeting(footprint_session, board.meeting_id, public=True) == []
    with pytest.raises(GovernanceError, match="already been rejected"):
        ask.moderate(footprint_session, SECRETARY, q.id, accept=True)


def test_deadline_is_tracked(footprint_session: Session, board: Board) -> None:
    q = _ask(footprint_session, board)
    assert not ask.overdue(q, q.respond_by)
    assert ask.overdue(q, q.respond_by + timedelta(days=1))
    ask.moderate(footprint_session, SECRETARY, q.id, accept=True)
    assert ask.overdue(q, q.respond_by + timedelta(days=1))
    ask.answer(footprint_session, SECRETARY, q.id, "Answered.")
    assert not ask.overdue(q, q.respond_by + timedelta(days=1))


@pytest.mark.parametrize(
    ("name", "text", "now", "problem"),
    [
        ("", "Will the clinic stay open?", BEFORE, "your name must be at least 1"),
        ("Ann", "Why?", BEFORE, "your question must be at least 10"),
        ("Ann", "x" * 2001, BEFORE, "at most 2000 characters"),
        ("Ann", "Will the clinic stay open?", MEETING_AT, "still to come"),
    ],
)
def test_bad_questions_are_refused_and_nothing_is_stored(
    footprint_session: Session, board: Board, name: str, text: str, now: datetime, problem: str
) -> None:
    with pytest.raises(GovernanceError, match=problem):
        ask.submit_question(
            footprint_session,
            meeting_id=board.meeting_id,
            asker_name=name,
            question=text,
            client=None,
            key=KEY,
            now=now,
        )
    assert footprint_session.scalar(select(func.count()).select_from(Question)) == 0


def test_one_address_may_send_five_an_hour(footprint_session: Session, board: Board) -> None:
    for minute in range(5):
        _ask(footprint_session, board, now=BEFORE + timedelta(minutes=minute))
    with pytest.raises(ask.RateLimited, match=r"try again in 1 minute$"):
        _ask(footprint_session, board, now=BEFORE + timedelta(minutes=59, seconds=30))
    # Another address is not held back; the first may send again once its first has aged out.
    other = ask.client_key("secret", "198.51.100.1")
    _ask(footprint_session, board, key=other, now=BEFORE + timedelta(minutes=30))
    _ask(footprint_session, board, now=BEFORE + timedelta(minutes=60, seconds=1))
    assert footprint_session.scalar(select(func.count()).select_from(Question)) == 7
    assert ask.client_key("other-secret", "203.0.113.7") != KEY
    assert "203.0.113.7" not in KEY


def _consultation(session: Session, publish: bool = True):  # type: ignore[no-untyped-def]
    return consult.create(
        session,
        SECRETARY,
        title="Draft joint forward plan",
        summary="Our plan for the next five years.",
        draft_plan="# Priorities\n\nMore care closer to home.",
        opens_on=date(2027, 1, 4),
        closes_on=date(2027, 3, 31),
        publish=publish,
    )


def _comment(session: Session, consultation_id: int, **kw):  # type: ignore[no-untyped-def]
    fields = {
        "author_name": "Ann Resident",
        "respondent_kind": "resident",
        "comment": "Please keep the minor injuries unit open at weekends.",
        "client": None,
        "key": KEY,
        "now": datetime(2027, 2, 1, 12, tzinfo=UTC),
        **kw,
    }
    return consult.submit_comment(session, consultation_id=consultation_id, **fields)


def test_consultation_comments_themes_and_responses(
    footprint_session: Session, board: Board
) -> None:
    c = _consultation(footprint_session)
    assert consult.state(c, date(2027, 1, 3)) == "upcoming"
    assert consult.state(c, date(2027, 3, 31)) == "open"
    assert consult.state(c, date(2027, 4, 1)) == "closed"
    first = _comment(footprint_session, c.id)
    second = _comment(
        footprint_session,
        c.id,
        author_name="Dr Patel",
        respondent_kind="organisation",
        organisation_name="North Local Medical Committee",
        comment="General practice needs the workforce to deliver this.",
    )
    third = _comment(footprint_session, c.id, comment="More evening GP appointments, please.")
    access = consult.add_theme(footprint_session, SECRETARY, c.id, "Access", "Opening hours.")
    staff = consult.add_theme(footprint_session, SECRETARY, c.id, "Workforce", "Staffing.")
    for comment, theme in ((first, access), (third, access), (second, staff)):
        consult.assign_theme(footprint_session, SECRETARY, comment.id, theme.id)
    assert consult.comments_per_theme(footprint_session, c.id) == {access.id: 2, staff.id: 1}
    consult.respond(footprint_session, SECRETARY, access.id, "We will pilot weekend opening.")
    assert access.response == "We will pilot weekend opening." and staff.response is None
    other = consult.create(
        footprint_session,
        SECRETARY,
        title="Another plan",
        summary="s",
        draft_plan="p",
        opens_on=date(2027, 1, 1),
        closes_on=date(2027, 12, 31),
    )
    elsewhere = consult.add_theme(footprint_session, SECRETARY, other.id, "Elsewhere", "x")
    with pytest.raises(GovernanceError, match="different consultation"):
        consult.assign_theme(footprint_session, SECRETARY, first.id, elsewhere.id)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"now": datetime(2027, 4, 1, 9, tzinfo=UTC)}, "not open"),
        ({"respondent_kind": "organisation"}, "the organisation's name must be at least 1"),
        ({"respondent_kind": "lobbyist"}, "must be one of resident, organisation"),
        ({"comment": "Too short"}, "your comment must be at least 10"),
    ],
)
def test_bad_comments_are_refused(
    footprint_session: Session, board: Board, fields: dict, problem: str
) -> None:
    c = _consultation(footprint_session)
    with pytest.raises(GovernanceError, match=problem):
        _comment(footprint_session, c.id, **fields)
    assert footprint_session.scalar(select(func.count()).select_from(Comment)) == 0


def test_a_draft_consultation_takes_no_comments(footprint_session: Session, board: Board) -> None:
    c = _consultation(footprint_session, publish=False)
    assert consult.state(c, date(2027, 2, 1)) == "draft"
    with pytest.raises(GovernanceError, match="not open"):
        _comment(footprint_session, c.id)
    assert consult.consultations(footprint_session, public=True) == []


def test_engagement_is_counted_per_organisation(footprint_session: Session, board: Board) -> None:
    c = _consultation(footprint_session)
    second = services.create_meeting(
        footprint_session, SECRETARY, body_id=board.body_id, starts_at=MEETING_AT + timedelta(30),
        location=None,
    )  # fmt: skip

    def took_part(org: str, kind: str, how: str, **occasion: int) -> None:
        engage.record(
            footprint_session,
            SECRETARY,
            organisation_name=org,
            participant_kind=kind,
            contribution=how,
            **occasion,
        )

    took_part("Healthwatch", "healthwatch", "attended", meeting_id=board.meeting_id)
    took_part("Healthwatch", "healthwatch", "asked_question", meeting_id=board.meeting_id)
    took_part("Healthwatch", "healthwatch", "attended", meeting_id=second.id)
    took_part("Healthwatch", "healthwatch", "formal_response", consultation_id=c.id)
    took_part("North LMC", "local_medical_committee", "commented", consultation_id=c.id)
    rows = {o.organisation: o for o in engage.by_organisation(footprint_session)}
    assert list(rows) == ["Healthwatch", "North LMC"]
    hw = rows["Healthwatch"]
    assert (len(hw.meetings), len(hw.consultations), hw.contributions) == (2, 1, 4)
    assert (len(rows["North LMC"].meetings), len(rows["North LMC"].consultations)) == (0, 1)
    chart = engage.chart(list(rows.values()))
    assert {(v["organisation"], v["occasion"], v["count"]) for v in chart["data"]["values"]} == {
        ("Healthwatch", "Meetings", 2),
        ("Healthwatch", "Consultations", 1),
        ("North LMC", "Consultations", 1),
    }
    with pytest.raises(GovernanceError, match="either a meeting or a consultation"):
        took_part("Council", "council", "attended", meeting_id=second.id, consultation_id=c.id)
    with pytest.raises(GovernanceError, match="who took part must be one of"):
        took_part("Council", "mayor", "attended", meeting_id=second.id)
