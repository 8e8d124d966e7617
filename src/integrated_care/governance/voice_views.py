"""What the public voice pages and JSON show: questions (the public never sees the asker's name,
their address or a question before moderation), consultations with their themes and the ICS's
responses (not individual comments), and engagement per organisation."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from integrated_care.governance import consultations as consult
from integrated_care.governance import engagement as engage
from integrated_care.governance import questions as ask
from integrated_care.governance.services import utc
from integrated_care.governance.voice_models import Comment, Consultation, Question, Theme


class QuestionOut(BaseModel):
    reference: str
    meeting_id: int
    question: str
    status: str
    submitted_at: datetime
    respond_by: date
    overdue: bool
    moderation_reason: str | None
    answer: str | None
    answered_at: datetime | None


class QuestionForSecretary(QuestionOut):
    id: int
    asker_name: str
    moderated_by: str | None
    answered_by: str | None


class ThemeOut(BaseModel):
    id: int
    title: str
    summary: str
    comments: int
    response: str | None
    responded_at: datetime | None


class ConsultationOut(BaseModel):
    id: int
    title: str
    summary: str
    draft_plan: str
    opens_on: date
    closes_on: date
    state: str
    comments: int
    themes: list[ThemeOut]


class CommentOut(BaseModel):
    id: int
    theme_id: int | None
    author_name: str
    respondent_kind: str
    organisation_name: str | None
    comment: str
    submitted_at: datetime


class EngagementOut(BaseModel):
    organisation: str
    kinds: str
    meetings: int
    consultations: int
    contributions: int


def question_out(row: Question, today: date) -> QuestionOut:
    return QuestionOut(
        reference=row.reference,
        meeting_id=row.meeting_id,
        question=row.question,
        status=row.status,
        submitted_at=utc(row.submitted_at),  # type: ignore[arg-type]
        respond_by=row.respond_by,
        overdue=ask.overdue(row, today),
        moderation_reason=row.moderation_reason if row.status == "rejected" else None,
        answer=row.answer,
        answered_at=utc(row.answered_at),
    )


def question_for_secretary(row: Question, today: date) -> QuestionForSecretary:
    return QuestionForSecretary(
        **question_out(row, today).model_dump(),
        id=row.id,
        asker_name=row.asker_name,
        moderated_by=row.moderated_by,
        answered_by=row.answered_by,
    )


def _theme_out(theme: Theme, counts: dict[int | None, int]) -> ThemeOut:
    return ThemeOut(
        id=theme.id,
        title=theme.title,
        summary=theme.summary,
        comments=counts.get(theme.id, 0),
        response=theme.response,
        responded_at=utc(theme.responded_at),
    )


def consultation_out(session: Session, row: Consultation, today: date) -> ConsultationOut:
    counts = consult.comments_per_theme(session, row.id)
    return ConsultationOut(
        id=row.id,
        title=row.title,
        summary=row.summary,
        draft_plan=row.draft_plan,
        opens_on=row.opens_on,
        closes_on=row.closes_on,
        state=consult.state(row, today),
        comments=sum(counts.values()),
        themes=[_theme_out(t, counts) for t in consult.themes_of(session, row.id)],
    )


def public_consultation(
    session: Session, consultation_id: int, today: date
) -> ConsultationOut | None:
    """A published consultation, or None (drafts are not public)."""
    row = session.get(Consultation, consultation_id)
    if row is None or row.published_at is None:
        return None
    return consultation_out(session, row, today)


def comment_out(row: Comment) -> CommentOut:
    return CommentOut(
        id=row.id,
        theme_id=row.theme_id,
        author_name=row.author_name,
        respondent_kind=row.respondent_kind,
        organisation_name=row.organisation_name,
        comment=row.comment,
        submitted_at=utc(row.submitted_at),  # type: ignore[arg-type]
    )


def engagement_out(session: Session) -> list[EngagementOut]:
    return [
        EngagementOut(
            organisation=o.organisation,
            kinds=o.kind_labels,
            meetings=len(o.meetings),
            consultations=len(o.consultations),
            contributions=o.contributions,
        )
        for o in engage.by_organisation(session)
    ]
