"""The public voice, search and board packs over real HTTP: a resident asks without signing in
(the form's CSRF token, the rate limit), the secretary moderates and answers through the API,
the answer shows on the portal; consultations; search and packs never leak the private part."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from fpdf import FPDF
from sqlalchemy import func, select

from integrated_care.accounts.models import AuditEvent
from integrated_care.governance import consultations as consult
from integrated_care.governance.voice_models import Comment, PaperFile, Question
from integrated_care.runtime import Runtime
from tests.accounts.conftest import csrf_token
from tests.governance.conftest import SECRETARY
from tests.governance.test_pack import pdf_text
from tests.governance.test_web import PRIVATE_TITLE, PUBLIC_TITLE, World, bearer, world

__all__ = ["world"]  # the fixture, shared with test_web


def _count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_a_resident_asks_and_sees_the_answer_once_moderated(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    meeting = world.board.meeting_id
    form = client.get(f"/board/meetings/{meeting}/questions/new")
    assert form.status_code == 200 and "Ask the board a question" in form.text
    fields = {"asker_name": "Ann Resident", "question": "Will the minor injuries unit stay open?"}
    refused = client.post(f"/board/meetings/{meeting}/questions", data=fields)
    assert refused.status_code == 403  # no CSRF token: refused, nothing stored
    assert _count(runtime, Question) == 0
    short = client.post(
        f"/board/meetings/{meeting}/questions",
        data={**fields, "question": "Why?", "csrf_token": csrf_token(form.text)},
    )
    assert short.status_code == 422 and "Your question must be at least 10 characters" in short.text
    assert _count(runtime, Question) == 0
    sent = client.post(
        f"/board/meetings/{meeting}/questions",
        data={**fields, "csrf_token": csrf_token(form.text)},
    )
    assert sent.status_code == 200
    reference = re.search(r"Your reference: <strong>(Q[0-9A-F]{8})</strong>", sent.text).group(1)
    status = client.get(f"/board/questions/{reference}")
    assert "Waiting for the board secretary to check it" in status.text
    page = client.get(f"/board/meetings/{meeting}")
    assert "minor injuries unit" not in page.text  # not published before moderation

    secretary = bearer(world.tokens["secretary"])
    listed = client.get("/api/governance/questions", headers=secretary).json()
    assert [(q["reference"], q["asker_name"]) for q in listed] == [(reference, "Ann Resident")]
    qid = listed[0]["id"]
    assert (
        client.get("/api/governance/questions", headers=bearer(world.tokens["analyst"])).status_code
        == 403
    )
    member = bearer(world.tokens["trustceo"])  # governance:read but not manage
    denied = client.post(
        f"/api/governance/questions/{qid}/moderation", json={"decision": "accept"}, headers=member
    )
    assert denied.status_code == 403
    ok = client.post(
        f"/api/governance/questions/{qid}/moderation",
        json={"decision": "accept"},
        headers=secretary,
    )
    assert ok.status_code == 200
    page = client.get(f"/board/meetings/{meeting}")
    assert "minor injuries unit stay open?" in page.text and "Awaiting an answer" in page.text
    answer = "Yes: the unit stays open **seven days a week**."
    assert (
        client.post(
            f"/api/governance/questions/{qid}/answer", json={"answer": answer}, headers=secretary
        ).status_code
        == 200
    )
    page = client.get(f"/board/meetings/{meeting}")
    assert "<strong>seven days a week</strong>" in page.text
    assert "Ann Resident" not in page.text  # names are not published
    public = client.get(f"/api/governance/public/questions/{reference}").json()
    assert (public["status"], public["answer"]) == ("answered", answer)
    assert "asker_name" not in public


def test_a_rejected_question_shows_its_reason_only_to_its_asker(
    client: TestClient, world: World
) -> None:
    meeting = world.board.meeting_id
    sent = client.post(
        f"/api/governance/public/meetings/{meeting}/questions",
        json={"asker_name": "Spammer", "question": "Cheap double glazing, call now!"},
    )
    assert sent.status_code == 201
    reference = sent.json()["reference"]
    secretary = bearer(world.tokens["secretary"])
    qid = client.get("/api/governance/questions", headers=secretary).json()[0]["id"]
    no_reason = client.post(
        f"/api/governance/questions/{qid}/moderation",
        json={"decision": "reject"},
        headers=secretary,
    )
    assert no_reason.status_code == 422 and "give the reason" in no_reason.json()["detail"]
    client.post(
        f"/api/governance/questions/{qid}/moderation",
        json={"decision": "reject", "reason": "Advertising."},
        headers=secretary,
    )
    assert "Advertising." in client.get(f"/board/questions/{reference}").text
    assert "double glazing" not in client.get(f"/board/meetings/{meeting}").text
    assert client.get("/api/governance/public/search?q=glazing").json() == []


def test_one_address_is_limited_to_five_an_hour(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    url = f"/api/governance/public/meetings/{world.board.meeting_id}/questions"
    body = {"asker_name": "Ann", "question": "A question that is long enough."}
    assert [client.post(url, json=body).status_code for _ in range(5)] == [201] * 5
    limited = client.post(url, json=body)
    assert limited.status_code == 429 and "try again in 60 minutes" in limited.json()["detail"]
    assert _count(runtime, Question) == 5
    with runtime.sessions() as s:
        refusal = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "governance.public.refused")
        ).one()
    assert (refusal.outcome, refusal.actor, refusal.detail["status"]) == (
        "denied",
        "anonymous",
        429,
    )


def test_consultation_comment_themes_and_response_over_http(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    from datetime import date, timedelta

    today = date.today()
    with runtime.transaction() as s:
        c = consult.create(
            s, SECRETARY, title="Draft primary care strategy", summary="Our draft.",
            draft_plan="## Aims\n\nSame-day access.", opens_on=today - timedelta(days=1),
            closes_on=today + timedelta(days=30), publish=True,
        )  # fmt: skip
        cid = c.id
    comment = {
        "author_name": "LMC secretary",
        "respondent_kind": "organisation",
        "organisation_name": "North LMC",
        "comment": "Practices need funding for this.",
    }
    assert (
        client.post(
            f"/api/governance/public/consultations/{cid}/comments", json=comment
        ).status_code
        == 201
    )
    missing = {**comment, "organisation_name": ""}
    assert (
        client.post(
            f"/api/governance/public/consultations/{cid}/comments", json=missing
        ).status_code
        == 422
    )
    assert _count(runtime, Comment) == 1
    secretary = bearer(world.tokens["secretary"])
    theme = client.post(
        f"/api/governance/consultations/{cid}/themes",
        json={"title": "Funding", "summary": "Money for practices."},
        headers=secretary,
    ).json()["id"]
    detail = client.get(f"/api/governance/consultations/{cid}", headers=secretary).json()
    comment_id = detail["comments"][0]["id"]
    client.post(
        f"/api/governance/comments/{comment_id}/theme", json={"theme_id": theme}, headers=secretary
    )
    client.post(
        f"/api/governance/themes/{theme}/response",
        json={"response": "We will fund it."},
        headers=secretary,
    )
    page = client.get(f"/board/consultations/{cid}").text
    assert "Funding" in page and "(1 comment)" in page and "We will fund it." in page
    assert "Practices need funding" not in page and "LMC secretary" not in page
    assert client.get("/board/consultations").status_code == 200


def _pdf() -> bytes:
    doc = FPDF()
    doc.add_page()
    return bytes(doc.output())


def test_board_packs_and_pdf_papers_follow_the_parts(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    meeting = world.board.meeting_id
    public = client.get(f"/board/meetings/{meeting}/pack.pdf")
    assert public.status_code == 200 and public.headers["content-type"] == "application/pdf"
    text = pdf_text(public.content)
    assert PUBLIC_TITLE in text and PRIVATE_TITLE not in text
    members = f"/governance/meetings/{meeting}/pack.pdf"
    anonymous = client.get(members, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/sign-in")
    assert client.get(members, headers=bearer(world.tokens["analyst"])).status_code == 403
    full = client.get(members, headers=bearer(world.tokens["trustceo"]))
    assert PRIVATE_TITLE in pdf_text(full.content)

    secretary = bearer(world.tokens["secretary"])
    bad = client.post(
        f"/api/governance/items/{world.private_item}/paper-file",
        files={"file": ("notes.pdf", b"<html>hello</html>", "application/pdf")},
        headers=secretary,
    )
    assert bad.status_code == 422 and "notes.pdf is not a PDF" in bad.json()["detail"]
    assert _count(runtime, PaperFile) == 0
    ids, content = {}, _pdf()
    for name, item in (("public", world.board.item_id), ("private", world.private_item)):
        done = client.post(
            f"/api/governance/items/{item}/paper-file",
            files={"file": (f"{name}.pdf", content, "application/pdf")},
            headers=secretary,
        )
        assert done.status_code == 200, done.text
        ids[name] = done.json()["id"]
    assert client.get(f"/board/papers/files/{ids['public']}").content == content
    assert client.get(f"/board/papers/files/{ids['private']}").status_code == 404
    assert (
        client.get(f"/governance/papers/files/{ids['private']}", headers=secretary).status_code
        == 200
    )
    assert "public.pdf" in client.get(f"/board/papers/{world.board.item_id}").text


def test_search_finds_public_papers_only(client: TestClient, world: World) -> None:
    found = client.get("/api/governance/public/search?q=elective recovery").json()
    assert [(h["kind"], h["title"]) for h in found] == [("paper", PUBLIC_TITLE)]
    assert client.get("/api/governance/public/search?q=grievance").json() == []
    assert client.get("/api/governance/public/search?q=Draft strategy").json() == []
    page = client.get("/board/search?q=elective")
    assert page.status_code == 200 and PUBLIC_TITLE in page.text and "1 result" in page.text


def test_portal_pages_without_figures_say_so(client: TestClient, world: World) -> None:
    page = client.get("/board/system")
    assert page.status_code == 200
    assert "No financial figures have been loaded yet." in page.text
    assert "No population-health figures have been built yet." in page.text
    assert client.get("/api/governance/public/headlines").json()["performance"] == []
    assert client.get("/board/engagement").status_code == 200
