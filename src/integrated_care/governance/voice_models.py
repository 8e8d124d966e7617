"""The public voice tables: papers uploaded as PDF, residents' questions to a meeting,
consultations on draft plans (comments, the secretary's themes and the ICS's response to each),
and the engagement log of which partners took part in which meetings and consultations.

Questions and comments keep ``client_key``, a keyed hash of the sender's network address (never
the address itself), so a rate limit can hold across processes without storing who sent what.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from integrated_care.db import Base, utcnow
from integrated_care.governance.models import BigId, Timestamp, one_of

QUESTION_STATUSES = ("submitted", "accepted", "rejected", "answered")
RESPONDENT_KINDS = ("resident", "organisation")
PARTICIPANT_KINDS = (
    "pcn_clinical_director",
    "clinician",
    "local_medical_committee",
    "healthwatch",
    "council",
)
CONTRIBUTIONS = ("attended", "presented", "asked_question", "commented", "formal_response")


class PaperFile(Base):
    """A paper for an agenda item uploaded as a PDF; its part follows the item's."""

    __tablename__ = "governance_paper_file"
    __table_args__ = (CheckConstraint("size_bytes > 0", name="size"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("governance_item.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(150))
    uploaded_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Question(Base):
    """A resident's question for a meeting: moderated by the board secretary, answered in public.

    ``reference`` is the resident's receipt: they look the question up by it, with no sign-in.
    """

    __tablename__ = "governance_question"
    __table_args__ = (
        CheckConstraint(one_of("status", QUESTION_STATUSES), name="status"),
        CheckConstraint(
            "status <> 'rejected' OR moderation_reason IS NOT NULL", name="rejection_reason"
        ),
        CheckConstraint("status <> 'answered' OR answer IS NOT NULL", name="answer"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("governance_meeting.id"), index=True)
    asker_name: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    client_key: Mapped[str] = mapped_column(String(64), index=True)
    submitted_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    respond_by: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="submitted")
    moderation_reason: Mapped[str | None] = mapped_column(Text)
    moderated_by: Mapped[str | None] = mapped_column(String(150))
    moderated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(150))
    answered_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Consultation(Base):
    """A consultation on a draft plan, open for comment between two dates once published."""

    __tablename__ = "governance_consultation"
    __table_args__ = (CheckConstraint("closes_on >= opens_on", name="dates"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(300), unique=True)
    summary: Mapped[str] = mapped_column(Text)
    draft_plan: Mapped[str] = mapped_column(Text)  # Markdown
    body_id: Mapped[int | None] = mapped_column(ForeignKey("governance_body.id"))
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Theme(Base):
    """A theme the secretary draws from a consultation's comments, with the ICS's response."""

    __tablename__ = "governance_theme"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("governance_consultation.id"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)  # Markdown
    responded_by: Mapped[str | None] = mapped_column(String(150))
    responded_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Comment(Base):
    """A comment on a consultation from a resident or a partner organisation."""

    __tablename__ = "governance_comment"
    __table_args__ = (
        CheckConstraint(one_of("respondent_kind", RESPONDENT_KINDS), name="respondent_kind"),
        CheckConstraint(
            "respondent_kind <> 'organisation' OR organisation_name IS NOT NULL",
            name="organisation",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("governance_consultation.id"), index=True
    )
    theme_id: Mapped[int | None] = mapped_column(ForeignKey("governance_theme.id"), index=True)
    author_name: Mapped[str] = mapped_column(String(200))
    respondent_kind: Mapped[str] = mapped_column(String(15))
    organisation_name: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text)
    client_key: Mapped[str] = mapped_column(String(64), index=True)
    submitted_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Engagement(Base):
    """One partner's part in one meeting or one consultation."""

    __tablename__ = "governance_engagement"
    __table_args__ = (
        CheckConstraint(one_of("participant_kind", PARTICIPANT_KINDS), name="participant_kind"),
        CheckConstraint(one_of("contribution", CONTRIBUTIONS), name="contribution"),
        CheckConstraint("(meeting_id IS NULL) <> (consultation_id IS NULL)", name="one_occasion"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organisation_name: Mapped[str] = mapped_column(String(200), index=True)
    org_code: Mapped[str | None] = mapped_column(String(12))
    participant_kind: Mapped[str] = mapped_column(String(30))
    person_name: Mapped[str | None] = mapped_column(String(200))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("governance_meeting.id"), index=True)
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("governance_consultation.id"), index=True
    )
    contribution: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
