"""Search across the public portal: meetings, papers, decisions, residents' questions,
consultations and the ICS's responses to them.

Each word of the query must appear (case-insensitively, anywhere) in one of a record's public
fields: a plain SQL LIKE, the same on SQLite and PostgreSQL. The public filters are in the
queries themselves, so a private item, an unpublished paper, an unmoderated or rejected question
or a draft consultation is never read, let alone shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, case, or_, select
from sqlalchemy.orm import Session

from integrated_care.governance.models import Body, Decision, Item, Meeting
from integrated_care.governance.voice_models import Consultation, Question, Theme

MAX_WORDS = 8
PER_KIND = 25
KIND_LABELS = {
    "meeting": "Meeting",
    "paper": "Paper",
    "decision": "Decision",
    "question": "Question",
    "consultation": "Consultation",
    "response": "Response to a consultation theme",
}


class Hit(BaseModel):
    kind: str
    title: str
    url: str
    snippet: str


def words_of(query: str) -> list[str]:
    """The query's words (at most MAX_WORDS, each at least 2 characters)."""
    return [w for w in query.split() if len(w) >= 2][:MAX_WORDS]


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(columns: Sequence[Any], words: list[str]) -> Any:
    """Every word in at least one of the columns."""
    return and_(*(or_(*(c.ilike(_like(w), escape="\\") for c in columns)) for w in words))


def snippet(texts: Sequence[str | None], words: list[str], width: int = 90) -> str:
    """A short extract around the first word found, for the results list."""
    for text in texts:
        if not text:
            continue
        at = min((i for w in words if (i := text.lower().find(w.lower())) >= 0), default=-1)
        if at >= 0:
            start = max(at - width, 0)
            extract = " ".join(text[start : at + width].split())
            return ("..." if start else "") + extract + ("..." if at + width < len(text) else "")
    return ""


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def _meetings(session: Session, words: list[str]) -> list[Hit]:
    minutes = case((Meeting.minutes_published_at.is_not(None), Meeting.minutes), else_="")
    rows = session.execute(
        select(Meeting, Body)
        .join(Body, Body.id == Meeting.body_id)
        .where(
            Meeting.status != "cancelled",
            _matches([Body.name, Meeting.location, minutes], words),
        )
        .order_by(Meeting.starts_at.desc())
        .limit(PER_KIND)
    ).all()
    return [
        Hit(
            kind="meeting",
            title=f"{b.name}, {m.starts_at:%d %B %Y}",
            url=f"/board/meetings/{m.id}",
            snippet=snippet(
                [m.minutes if m.minutes_published_at else None, m.location, b.name], words
            ),
        )
        for m, b in rows
    ]


def _public_item() -> Any:
    return and_(Item.part == "public", Item.published_at.is_not(None))


def _papers(session: Session, words: list[str]) -> list[Hit]:
    rows = session.scalars(
        select(Item)
        .where(_public_item(), _matches([Item.title, Item.paper, Item.presenter], words))
        .order_by(Item.published_at.desc())
        .limit(PER_KIND)
    ).all()
    return [
        Hit(
            kind="paper",
            title=i.title,
            url=f"/board/papers/{i.id}",
            snippet=snippet([i.paper, i.title], words),
        )
        for i in rows
    ]


def _decisions(session: Session, words: list[str]) -> list[Hit]:
    rows = session.execute(
        select(Decision, Item)
        .join(Item, Item.id == Decision.item_id)
        .where(_public_item(), _matches([Decision.resolution, Item.title], words))
        .order_by(Decision.recorded_at.desc())
        .limit(PER_KIND)
    ).all()
    return [
        Hit(
            kind="decision",
            title=i.title,
            url=f"/board/decisions#decision-{i.id}",
            snippet=snippet([d.resolution], words),
        )
        for d, i in rows
    ]


def _questions(session: Session, words: list[str]) -> list[Hit]:
    rows = session.scalars(
        select(Question)
        .where(
            Question.status.in_(("accepted", "answered")),
            _matches([Question.question, Question.answer], words),
        )
        .order_by(Question.submitted_at.desc())
        .limit(PER_KIND)
    ).all()
    return [
        Hit(
            kind="question",
            title=shorten(q.question, 80),
            url=f"/board/meetings/{q.meeting_id}#question-{q.reference}",
            snippet=snippet([q.question, q.answer], words),
        )
        for q in rows
    ]


def _consultations(session: Session, words: list[str]) -> list[Hit]:
    published = Consultation.published_at.is_not(None)
    found = session.scalars(
        select(Consultation)
        .where(
            published,
            _matches([Consultation.title, Consultation.summary, Consultation.draft_plan], words),
        )
        .limit(PER_KIND)
    ).all()
    themes = session.execute(
        select(Theme, Consultation)
        .join(Consultation, Consultation.id == Theme.consultation_id)
        .where(published, _matches([Theme.title, Theme.summary, Theme.response], words))
        .limit(PER_KIND)
    ).all()
    return [
        Hit(
            kind="consultation",
            title=c.title,
            url=f"/board/consultations/{c.id}",
            snippet=snippet([c.summary, c.draft_plan, c.title], words),
        )
        for c in found
    ] + [
        Hit(
            kind="response",
            title=f"{c.title}: {t.title}",
            url=f"/board/consultations/{c.id}#theme-{t.id}",
            snippet=snippet([t.response, t.summary, t.title], words),
        )
        for t, c in themes
    ]


def search(session: Session, query: str) -> list[Hit]:
    """Public records matching every word of `query`, grouped by kind."""
    words = words_of(query)
    if not words:
        return []
    return [
        *_meetings(session, words),
        *_papers(session, words),
        *_decisions(session, words),
        *_questions(session, words),
        *_consultations(session, words),
    ]
