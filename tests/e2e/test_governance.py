"""The governance pages in a real browser over the demo board: the public portal shows published
papers and decisions without sign-in, and private items are invisible to the public and to
signed-in people without governance:read; a resident's question, once moderated and answered,
shows on the portal; the portal's search finds public papers and never private ones. Pages meet
WCAG 2.2 AA and raise no console errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from integrated_care.governance.models import Item, Meeting
from integrated_care.governance.voice_models import Consultation, Question
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from tests.e2e.conftest import DEMO_PASSWORD, LiveServer, axe_violations, serve, sign_in

pytestmark = pytest.mark.e2e
# The demo is dated from today, so its next meeting is still to come and its consultation open.
TODAY = date.today()
PRIVATE_TITLES = (
    "Disposal of a surplus clinic site",
    "Legal claim against a partner organisation",
    "Executive remuneration",
)
PAPER = "Joint forward plan 2027-2032"


@pytest.fixture(scope="module")
def board_server(db_templates, tmp_path_factory) -> Iterator[LiveServer]:
    """A live server over the test footprint with the demo board, a board secretary and an
    analyst (who has no governance permission)."""
    from integrated_care.accounts.services import create_user
    from integrated_care.governance.demo import load_demo
    from tests.conftest import _build_test_footprint

    url = db_templates.clone("sqlite", "footprint", _build_test_footprint)
    data_dir = tmp_path_factory.mktemp("e2e-governance")
    runtime = Runtime(Settings(data_dir=data_dir, database_url=url, secret_key="e2e-key"))
    with runtime.transaction() as session:
        for username, role in (("secretary", "board_secretary"), ("analyst", "analyst")):
            create_user(session, username, DEMO_PASSWORD, [role], "QK1", username.title())
        load_demo(session, TODAY)
    with serve(runtime) as server:
        yield server


def _ids(server: LiveServer) -> dict[str, int]:
    with server.runtime.sessions() as s:
        paper = s.scalars(select(Item).where(Item.title == PAPER)).one()
        private = s.scalars(select(Item).where(Item.title == PRIVATE_TITLES[0])).one()
        first = s.scalars(select(Meeting).order_by(Meeting.starts_at)).first()
        upcoming = s.scalars(select(Meeting).order_by(Meeting.starts_at.desc())).first()
        consultation = s.scalars(select(Consultation)).first()
        answered = s.scalars(select(Question).where(Question.status == "answered")).first()
    return {
        "paper": paper.id,
        "private": private.id,
        "meeting": paper.meeting_id,
        "first": first.id,
        "upcoming": upcoming.id,
        "consultation": consultation.id,
        "reference": answered.reference,
    }


def _no_private(page) -> None:  # type: ignore[no-untyped-def]
    text = page.content()
    for title in PRIVATE_TITLES:
        assert title not in text, (page.url, title)


def test_public_sees_published_paper_and_decision_without_signing_in(page, board_server) -> None:
    ids = _ids(board_server)
    page.goto(board_server.url + "/board")
    assert page.get_by_role("heading", name="Board meetings and decisions").is_visible()
    _no_private(page)
    page.locator(f"a[href='/board/meetings/{ids['meeting']}']").first.click()
    assert page.url.endswith(f"/board/meetings/{ids['meeting']}")
    _no_private(page)
    page.get_by_role("link", name=PAPER).click()
    expect(
        page.get_by_role("heading", name=PAPER, level=1).first
    ).to_be_visible()  # waits for the navigation
    assert page.get_by_text("The board approved the joint forward plan 2027-2032.").is_visible()
    assert page.get_by_text("Votes: 8 for, 0 against, 0 abstaining.").is_visible()
    page.goto(board_server.url + "/board/decisions")
    assert page.get_by_role("cell", name="The board approved the joint forward plan").is_visible()
    _no_private(page)
    for path in ("/board/interests", f"/board/meetings/{ids['first']}"):
        page.goto(board_server.url + path)
        _no_private(page)
    assert page.console_errors == []
    response = page.goto(f"{board_server.url}/board/papers/{ids['private']}")
    assert response.status == 404


def test_private_items_are_invisible_without_governance_read(page, board_server) -> None:
    ids = _ids(board_server)
    sign_in(page, board_server.url, "analyst")
    response = page.goto(board_server.url + "/governance")
    assert response.status == 403
    page.goto(f"{board_server.url}/board/meetings/{ids['meeting']}")
    _no_private(page)
    assert page.get_by_role("link", name=PAPER).is_visible()
    assert page.get_by_role("link", name="Governance", exact=True).count() == 0


def test_board_secretary_sees_the_private_part(page, board_server) -> None:
    ids = _ids(board_server)
    sign_in(page, board_server.url, "secretary")
    page.goto(f"{board_server.url}/governance/meetings/{ids['meeting']}")
    assert page.get_by_role("link", name=PRIVATE_TITLES[0]).is_visible()
    assert page.get_by_text("Private").first.is_visible()
    assert page.console_errors == []


def test_a_resident_asks_and_sees_the_answer_on_the_portal(page, board_server) -> None:
    ids = _ids(board_server)
    question = "Will the new access hubs open on Saturdays as well as weekdays?"
    page.goto(f"{board_server.url}/board/meetings/{ids['upcoming']}")
    page.get_by_role("button", name="Ask the board a question").click()
    page.get_by_label("Your name").fill("Rosa Resident")
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Send the question").click()
    reference = re.search(r"Your reference: (Q[0-9A-F]{8})", page.inner_text("main")).group(1)
    page.get_by_role("link", name="Follow your question").click()
    expect(
        page.get_by_text("Waiting for the board secretary to check it")
    ).to_be_visible()  # waits for the navigation
    page.goto(f"{board_server.url}/board/meetings/{ids['upcoming']}")
    assert page.get_by_text(question).count() == 0  # not public before moderation

    sign_in(page, board_server.url, "secretary")
    page.goto(f"{board_server.url}/governance/questions")
    card = page.locator(".nhsuk-card", has_text=reference)
    card.get_by_label("Decision").select_option("accept")
    card.get_by_role("button", name="Record the decision").click()
    card = page.locator(".nhsuk-card", has_text=reference)
    card.get_by_label(f"Answer to question {reference} (published)").fill(
        "Yes: every hub will open on Saturday mornings from April."
    )
    card.get_by_role("button", name="Publish the answer").click()
    page.context.clear_cookies()

    page.goto(f"{board_server.url}/board/meetings/{ids['upcoming']}")
    answered = page.locator(f"#question-{reference}")
    assert answered.get_by_text(question).is_visible()
    assert answered.get_by_text("every hub will open on Saturday mornings").is_visible()
    assert page.get_by_text("Rosa Resident").count() == 0
    page.goto(f"{board_server.url}/board/questions/{reference}")
    assert page.get_by_text("every hub will open on Saturday mornings").is_visible()
    assert page.console_errors == []


def test_portal_search_finds_a_public_paper_and_not_a_private_one(page, board_server) -> None:
    page.goto(board_server.url + "/board")
    page.get_by_label("Search meetings, papers, decisions, questions and consultations").fill(
        "joint forward plan"
    )
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/board/search?*")  # is_visible() does not wait for the navigation
    assert page.get_by_role("link", name=PAPER).first.is_visible()
    for words in ("surplus clinic site", "remuneration"):
        page.goto(f"{board_server.url}/board/search?q={words}")
        assert page.get_by_text("Nothing public matches every word.").is_visible()
        _no_private(page)
    assert page.console_errors == []


@pytest.mark.parametrize(
    "path",
    ["/board", "/board/meetings/{meeting}", "/board/papers/{paper}", "/board/decisions",
     "/board/interests", "/board/system", "/board/search?q=plan", "/board/consultations",
     "/board/consultations/{consultation}", "/board/engagement",
     "/board/meetings/{upcoming}/questions/new", "/board/questions/{reference}",
     "/board/meetings/{upcoming}"],
)  # fmt: skip
def test_public_governance_pages_meet_wcag_22_aa(axe_page, board_server, path: str) -> None:
    url = board_server.url + path.format(**_ids(board_server))
    assert axe_violations(axe_page, url) == []


@pytest.mark.parametrize(
    "path",
    ["/governance", "/governance/meetings/{meeting}", "/governance/items/{paper}",
     "/governance/items/{private}", "/governance/questions", "/governance/consultations",
     "/governance/consultations/{consultation}", "/governance/engagement"],
)  # fmt: skip
def test_signed_in_governance_pages_meet_wcag_22_aa(axe_page, board_server, path: str) -> None:
    sign_in(axe_page, board_server.url, "secretary")
    url = board_server.url + path.format(**_ids(board_server))
    assert axe_violations(axe_page, url) == []
