"""The portal's search finds public meetings, papers, decisions, questions and consultations by
every word of the query, and never a private item, an unpublished paper, an unmoderated or
rejected question or a draft consultation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from integrated_care.governance import conflicts, services
from integrated_care.governance import consultations as consult
from integrated_care.governance import questions as ask
from integrated_care.governance.search import search, snippet
from tests.governance.conftest import MEETING_AT, SECRETARY, Board


@pytest.fixture
def records(footprint_session: Session, board: Board) -> Board:
    s = footprint_session
    services.publish_item(s, SECRETARY, board.item_id, at=MEETING_AT - timedelta(days=8))
    services.set_paper(
        s, SECRETARY, board.item_id, "Award the elective recovery contract to 100% of the lots."
    )
    for title, part, publish in (
        ("Estates: disposal of the Riverside clinic site", "private", True),
        ("Riverside draft strategy", "public", False),
    ):
        item = services.add_item(
            s, SECRETARY, meeting_id=board.meeting_id, title=title, part=part,
            purpose="decision", paper="Riverside figures.",
        )  # fmt: skip
        if publish:
            services.publish_item(s, SECRETARY, item.id, at=MEETING_AT - timedelta(days=8))
        conflicts.record_decision(s, SECRETARY, item.id, "Riverside resolved.", "noted")
    kw = {"client": None, "key": "k", "now": MEETING_AT - timedelta(days=3)}
    for text, outcome in (
        ("What will happen to Riverside parking?", "accept"),
        ("Riverside is a scam, buy my product", "reject"),
        ("Riverside waiting question not yet moderated", None),
    ):
        q = ask.submit_question(s, meeting_id=board.meeting_id, asker_name="A", question=text, **kw)
        if outcome:
            ask.moderate(
                s, SECRETARY, q.id, outcome == "accept", "Spam." if outcome == "reject" else None
            )
    for title, publish in (("Riverside community plan", True), ("Riverside secret draft", False)):
        c = consult.create(
            s, SECRETARY, title=title, summary="About Riverside.", draft_plan="Plan.",
            opens_on=date(2027, 1, 1), closes_on=date(2027, 6, 30), publish=publish,
        )  # fmt: skip
        theme = consult.add_theme(s, SECRETARY, c.id, "Transport", "Buses.")
        consult.respond(s, SECRETARY, theme.id, "We will fund the Riverside shuttle bus.")
    s.flush()
    return board


def _titles(session: Session, query: str) -> set[tuple[str, str]]:
    return {(h.kind, h.title) for h in search(session, query)}


def test_search_finds_public_records_of_every_kind_and_nothing_private(
    footprint_session: Session, records: Board
) -> None:
    found = _titles(footprint_session, "riverside")
    assert found == {
        ("question", "What will happen to Riverside parking?"),
        ("consultation", "Riverside community plan"),
        ("response", "Riverside community plan: Transport"),
    }


def test_every_word_must_match(footprint_session: Session, records: Board) -> None:
    assert _titles(footprint_session, "ELECTIVE recovery") == {
        ("paper", "Award of the elective recovery contract")
    }
    assert _titles(footprint_session, "elective parking") == set()
    assert ("meeting", "Integrated care board, 10 March 2027") in _titles(
        footprint_session, "county hall"
    )


def test_like_wildcards_are_taken_literally(footprint_session: Session, records: Board) -> None:
    assert _titles(footprint_session, "100%") == {
        ("paper", "Award of the elective recovery contract")
    }
    assert _titles(footprint_session, "1_0") == set()
    assert _titles(footprint_session, "%%") == set()
    assert search(footprint_session, " a ") == []


def test_a_snippet_shows_the_words_in_context() -> None:
    text = "x" * 200 + " the Riverside shuttle " + "y" * 200
    found = snippet([None, text], ["riverside"], width=20)
    assert found.startswith("...") and found.endswith("...") and "Riverside shuttle" in found


def test_decisions_on_public_items_are_found(footprint_session: Session, board: Board) -> None:
    services.publish_item(
        footprint_session, SECRETARY, board.item_id, at=datetime(2027, 3, 1, tzinfo=UTC)
    )
    for member in (board.chair, board.council_member, board.ned):
        conflicts.cast_vote(footprint_session, SECRETARY, board.item_id, member, "for")
    conflicts.record_decision(footprint_session, SECRETARY, board.item_id, "Award to the trust.")
    hits = search(footprint_session, "award trust")
    assert [(h.kind, h.url) for h in hits if h.kind == "decision"] == [
        ("decision", f"/board/decisions#decision-{board.item_id}")
    ]
