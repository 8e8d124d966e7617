"""Consultations on draft plans: residents and partner organisations comment while one is open,
the board secretary groups the comments into themes, and the ICS publishes its response to each
theme (local challenge of plans).

Comments are not published one by one (residents write in their own words and names); the public
sees each theme, how many comments it drew and the ICS's response.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.governance.models import Body
from integrated_care.governance.questions import PUBLIC, check_rate, text_field
from integrated_care.governance.services import Actor, GovernanceError, audit, get
from integrated_care.governance.voice_models import (
    RESPONDENT_KINDS,
    Comment,
    Consultation,
    Theme,
)

COMMENT_CHARS = (10, 5000)


def create(
    session: Session,
    actor: Actor,
    *,
    title: str,
    summary: str,
    draft_plan: str,
    opens_on: date,
    closes_on: date,
    body_id: int | None = None,
    publish: bool = False,
) -> Consultation:
    """A consultation on a draft plan (Markdown); published at once if `publish`."""
    if closes_on < opens_on:
        raise GovernanceError("a consultation must close on or after the day it opens")
    if body_id is not None:
        get(session, Body, body_id)
    row = Consultation(
        title=text_field(title, "the title", (1, 300)),
        summary=text_field(summary, "the summary", (1, 2000)),
        draft_plan=text_field(draft_plan, "the draft plan", (1, 200_000)),
        body_id=body_id,
        opens_on=opens_on,
        closes_on=closes_on,
        published_at=db.utcnow() if publish else None,
        created_by=actor.username,
    )
    session.add(row)
    session.flush()
    audit(session, actor, "consultation.create", "consultation", row.id, {"published": publish})
    return row


def publish(session: Session, actor: Actor, consultation_id: int) -> Consultation:
    row = get(session, Consultation, consultation_id)
    if row.published_at is None:
        row.published_at = db.utcnow()
        audit(session, actor, "consultation.publish", "consultation", row.id)
    return row


def state(row: Consultation, today: date) -> str:
    """draft, upcoming, open or closed."""
    if row.published_at is None:
        return "draft"
    if today < row.opens_on:
        return "upcoming"
    return "open" if today <= row.closes_on else "closed"


def submit_comment(
    session: Session,
    *,
    consultation_id: int,
    author_name: str,
    respondent_kind: str,
    comment: str,
    client: str | None,
    key: str,
    organisation_name: str | None = None,
    now: datetime | None = None,
) -> Comment:
    """A resident's or partner organisation's comment on an open consultation."""
    now = now or db.utcnow()
    row = get(session, Consultation, consultation_id)
    if state(row, now.date()) != "open":
        raise GovernanceError("this consultation is not open for comments")
    if respondent_kind not in RESPONDENT_KINDS:
        raise GovernanceError(f"you are responding as must be one of {', '.join(RESPONDENT_KINDS)}")
    organisation = (organisation_name or "").strip() or None
    if respondent_kind == "organisation":
        organisation = text_field(organisation or "", "the organisation's name", (1, 200))
    else:
        organisation = None
    found = Comment(
        consultation_id=consultation_id,
        author_name=text_field(author_name, "your name", (1, 200)),
        respondent_kind=respondent_kind,
        organisation_name=organisation,
        comment=text_field(comment, "your comment", COMMENT_CHARS),
        client_key=key,
        submitted_at=now,
    )
    check_rate(session, key, now)
    session.add(found)
    session.flush()
    audit(
        session,
        Actor(PUBLIC, None, client),
        "consultation.comment",
        "comment",
        found.id,
        {"consultation": consultation_id, "as": respondent_kind},
    )
    return found


def add_theme(
    session: Session, actor: Actor, consultation_id: int, title: str, summary: str
) -> Theme:
    get(session, Consultation, consultation_id)
    theme = Theme(
        consultation_id=consultation_id,
        title=text_field(title, "the theme's title", (1, 200)),
        summary=text_field(summary, "the theme's summary", (1, 5000)),
        created_by=actor.username,
    )
    session.add(theme)
    session.flush()
    audit(session, actor, "theme.add", "theme", theme.id, {"consultation": consultation_id})
    return theme


def assign_theme(session: Session, actor: Actor, comment_id: int, theme_id: int | None) -> Comment:
    """Group a comment under a theme of the same consultation (None: take it out again)."""
    comment = get(session, Comment, comment_id)
    if theme_id is not None:
        theme = get(session, Theme, theme_id)
        if theme.consultation_id != comment.consultation_id:
            raise GovernanceError("that theme belongs to a different consultation")
    comment.theme_id = theme_id
    session.flush()
    audit(session, actor, "comment.theme", "comment", comment_id, {"theme": theme_id})
    return comment


def respond(session: Session, actor: Actor, theme_id: int, response: str) -> Theme:
    """Publish (or revise) the ICS's response to a theme."""
    theme = get(session, Theme, theme_id)
    theme.response = text_field(response, "the response", (1, 20_000))
    theme.responded_by = actor.username
    theme.responded_at = db.utcnow()
    session.flush()
    audit(session, actor, "theme.respond", "theme", theme_id)
    return theme


def consultations(session: Session, public: bool) -> list[Consultation]:
    """Consultations, the latest to close first; `public` keeps published ones only."""
    stmt = select(Consultation).order_by(Consultation.closes_on.desc(), Consultation.id)
    if public:
        stmt = stmt.where(Consultation.published_at.is_not(None))
    return list(session.scalars(stmt).all())


def themes_of(session: Session, consultation_id: int) -> list[Theme]:
    return list(
        session.scalars(
            select(Theme).where(Theme.consultation_id == consultation_id).order_by(Theme.id)
        ).all()
    )


def comments_of(session: Session, consultation_id: int) -> list[Comment]:
    return list(
        session.scalars(
            select(Comment).where(Comment.consultation_id == consultation_id).order_by(Comment.id)
        ).all()
    )


def comments_per_theme(session: Session, consultation_id: int) -> Counter[int | None]:
    """How many comments each theme holds (None: not yet grouped)."""
    return Counter(c.theme_id for c in comments_of(session, consultation_id))
