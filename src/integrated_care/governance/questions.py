"""Residents' questions to a board meeting: submitted without signing in, moderated by the board
secretary (accepted, or rejected with a reason the resident sees), answered in public, with a
response deadline tracked.

Anti-abuse needs no network: each sender's address is kept only as a keyed hash
(:func:`client_key`), and one address may send at most ``MAX_PER_CLIENT`` questions and
consultation comments together in any ``RATE_WINDOW``; the limit holds across processes because
it is counted in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts.throttle import Lockout
from integrated_care.governance.models import Meeting
from integrated_care.governance.services import (
    Actor,
    GovernanceError,
    audit,
    get,
    utc,
)
from integrated_care.governance.voice_models import Comment, Question

RATE_WINDOW = timedelta(hours=1)
MAX_PER_CLIENT = 5
# Answers are due within 20 working days of the question (weekends skipped; bank holidays are
# not, so the deadline is if anything a little early).
RESPONSE_WORKING_DAYS = 20
QUESTION_CHARS = (10, 2000)
NAME_CHARS = (1, 200)
PUBLIC = "anonymous"


class RateLimited(GovernanceError):
    """Too many questions or comments from one address; try again later."""

    def __init__(self, lock: Lockout, now: datetime) -> None:
        self.lock = lock
        minutes = lock.minutes_left(now)
        super().__init__(
            f"you have sent {MAX_PER_CLIENT} questions or comments in the last hour; "
            f"please try again in {minutes} minute{'' if minutes == 1 else 's'}"
        )


def client_key(secret: str, client: str | None) -> str:
    """A keyed hash of a sender's network address: countable, but not the address itself."""
    return hmac.new(secret.encode(), (client or "unknown").encode(), hashlib.sha256).hexdigest()


def check_rate(session: Session, key: str, now: datetime) -> None:
    """Refuse a sender who has reached the limit, saying when they may send again."""
    since = now - RATE_WINDOW
    stamps = [
        utc(s)
        for model in (Question, Comment)
        for s in session.scalars(
            select(model.submitted_at).where(model.client_key == key, model.submitted_at > since)
        )
    ]
    if len(stamps) >= MAX_PER_CLIENT:
        ordered = sorted(stamps)  # type: ignore[type-var]
        raise RateLimited(Lockout("client", ordered[-MAX_PER_CLIENT] + RATE_WINDOW), now)  # type: ignore[operator]


def add_working_days(start: date, days: int) -> date:
    """The day `days` working days (Monday to Friday) after `start`."""
    day = start
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def text_field(value: str, what: str, limits: tuple[int, int]) -> str:
    """A stripped text field within its length limits, or an error naming the field."""
    value = (value or "").strip()
    low, high = limits
    if len(value) < low:
        raise GovernanceError(f"{what} must be at least {low} characters")
    if len(value) > high:
        raise GovernanceError(f"{what} must be at most {high} characters (it has {len(value)})")
    return value


def submit_question(
    session: Session,
    *,
    meeting_id: int,
    asker_name: str,
    question: str,
    client: str | None,
    key: str,
    now: datetime | None = None,
) -> Question:
    """A resident's question for an upcoming meeting; it waits for the secretary's moderation."""
    now = now or db.utcnow()
    meeting = get(session, Meeting, meeting_id)
    if meeting.status == "cancelled" or utc(meeting.starts_at) <= now:  # type: ignore[operator]
        raise GovernanceError("questions can be sent only for a meeting that is still to come")
    name = text_field(asker_name, "your name", NAME_CHARS)
    text = text_field(question, "your question", QUESTION_CHARS)
    check_rate(session, key, now)
    row = Question(
        reference=f"Q{secrets.token_hex(4).upper()}",
        meeting_id=meeting_id,
        asker_name=name,
        question=text,
        client_key=key,
        submitted_at=now,
        respond_by=add_working_days(now.date(), RESPONSE_WORKING_DAYS),
        status="submitted",
    )
    session.add(row)
    session.flush()
    audit(session, Actor(PUBLIC, None, client), "question.submit", "question", row.id)
    return row


def moderate(
    session: Session, actor: Actor, question_id: int, accept: bool, reason: str | None = None
) -> Question:
    """Accept a question for answer in public, or reject it with a reason the resident sees."""
    row = get(session, Question, question_id)
    if row.status != "submitted":
        raise GovernanceError(f"this question has already been {row.status}")
    reason = (reason or "").strip() or None
    if not accept and reason is None:
        raise GovernanceError("give the reason for rejecting the question")
    row.status = "accepted" if accept else "rejected"
    row.moderation_reason = reason
    row.moderated_by = actor.username
    row.moderated_at = db.utcnow()
    session.flush()
    audit(session, actor, f"question.{row.status[:-2]}", "question", row.id, reason=reason)
    return row


def answer(session: Session, actor: Actor, question_id: int, text: str) -> Question:
    """Publish the ICS's answer to an accepted question."""
    row = get(session, Question, question_id)
    if row.status != "accepted":
        raise GovernanceError(
            f"only an accepted question can be answered; this one is {row.status}"
        )
    row.answer = text_field(text, "the answer", (1, 10_000))
    row.status = "answered"
    row.answered_by = actor.username
    row.answered_at = db.utcnow()
    session.flush()
    audit(session, actor, "question.answer", "question", row.id)
    return row


def overdue(row: Question, today: date) -> bool:
    """Still waiting for an answer after its deadline."""
    return row.status in ("submitted", "accepted") and today > row.respond_by


def by_reference(session: Session, reference: str) -> Question | None:
    return session.scalar(select(Question).where(Question.reference == reference.strip().upper()))


def for_meeting(session: Session, meeting_id: int, public: bool) -> list[Question]:
    """A meeting's questions, oldest first; `public` keeps accepted and answered ones only."""
    stmt = select(Question).where(Question.meeting_id == meeting_id).order_by(Question.id)
    if public:
        stmt = stmt.where(Question.status.in_(("accepted", "answered")))
    return list(session.scalars(stmt).all())


def all_questions(session: Session) -> list[Question]:
    """Every question, those still waiting for moderation first, then by deadline."""
    rows = session.scalars(select(Question)).all()
    return sorted(rows, key=lambda q: (q.status != "submitted", q.respond_by, q.id))
