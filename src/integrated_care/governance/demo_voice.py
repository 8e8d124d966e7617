"""The demo's public voice (data/demo_voice.json): residents' questions to the board's meetings,
answered in public (one accepted and awaiting its answer, within its deadline; one waiting for
moderation), an open consultation on the draft primary care access plan with comments grouped
into themes and the ICS's responses, and partners' engagement in meetings and the consultation.

Everything goes through the service functions, dated relative to the day the demo is built.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any, Protocol

from sqlalchemy.orm import Session

from integrated_care.governance import consultations as consult
from integrated_care.governance import engagement as engage
from integrated_care.governance import questions as ask
from integrated_care.governance.models import Meeting
from integrated_care.governance.services import Actor

SECRETARY = Actor("ics demo")


class Organisations(Protocol):
    def pick(self, acts_for: str, place: str | None = None) -> str | None: ...
    def name(self, code: str | None) -> str: ...


def _data() -> dict[str, Any]:
    return json.loads((resources.files(__package__) / "data" / "demo_voice.json").read_text())


def _at(today: date, days: int, hour: int = 12) -> datetime:
    return datetime.combine(today + timedelta(days=days), time(hour), UTC)


def _questions(session: Session, meetings: list[Meeting], spec: list[dict], today: date) -> int:
    for n, entry in enumerate(spec):
        row = ask.submit_question(
            session,
            meeting_id=meetings[entry["meeting"]].id,
            asker_name=entry["name"],
            question=entry["question"],
            client=None,
            key=f"demo-{n}",
            now=_at(today, entry["sent_days"]),
        )
        if entry.get("moderation") == "submitted":
            continue
        ask.moderate(session, SECRETARY, row.id, accept=True)
        if entry["answer"]:
            ask.answer(session, SECRETARY, row.id, entry["answer"])
    return len(spec)


def _consultation(session: Session, spec: dict[str, Any], body_id: int, today: date) -> int:
    row = consult.create(
        session,
        SECRETARY,
        title=spec["title"],
        summary=spec["summary"],
        draft_plan=spec["draft_plan"],
        opens_on=today + timedelta(days=spec["opens_days"]),
        closes_on=today + timedelta(days=spec["closes_days"]),
        body_id=body_id,
        publish=True,
    )
    themes = [
        consult.add_theme(session, SECRETARY, row.id, t["title"], t["summary"])
        for t in spec["themes"]
    ]
    for n, entry in enumerate(spec["comments"]):
        comment = consult.submit_comment(
            session,
            consultation_id=row.id,
            author_name=entry["name"],
            respondent_kind=entry["kind"],
            organisation_name=entry.get("organisation"),
            comment=entry["comment"],
            client=None,
            key=f"demo-comment-{n}",
            now=_at(today, spec["opens_days"] + 1 + n),
        )
        if entry["theme"] is not None:
            consult.assign_theme(session, SECRETARY, comment.id, themes[entry["theme"]].id)
    for theme, entry in zip(themes, spec["themes"], strict=True):
        if entry["response"]:
            consult.respond(session, SECRETARY, theme.id, entry["response"])
    return row.id


def _engagement(
    session: Session,
    orgs: Organisations,
    meetings: list[Meeting],
    consultation_id: int,
    spec: list[dict],
) -> None:
    for entry in spec:
        code = orgs.pick(entry["acts_for"]) if entry.get("acts_for") else None
        engage.record(
            session,
            SECRETARY,
            organisation_name=orgs.name(code) if code else entry["organisation"],
            org_code=code,
            participant_kind=entry["kind"],
            person_name=entry.get("person"),
            contribution=entry["how"],
            meeting_id=meetings[entry["meeting"]].id if "meeting" in entry else None,
            consultation_id=consultation_id if entry.get("consultation") else None,
        )


def load_voice_demo(
    session: Session, orgs: Organisations, meetings: list[Meeting], body_id: int, today: date
) -> str:
    """Questions, a consultation and engagement for the demo board's `meetings` (in date order)."""
    spec = _data()
    asked = _questions(session, meetings, spec["questions"], today)
    consultation_id = _consultation(session, spec["consultation"], body_id, today)
    _engagement(session, orgs, meetings, consultation_id, spec["engagement"])
    return f"{asked} public questions, 1 open consultation, {len(spec['engagement'])} engagements"
