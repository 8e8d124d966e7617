"""Governance over real HTTP: the public portal shows published public papers and decisions to
anyone and never a private item; signed-in pages need governance:read; votes through the API
and the page forms follow the conflict and voting rules, and refusals are audited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from integrated_care.accounts import services as accounts
from integrated_care.accounts.models import AuditEvent
from integrated_care.governance import conflicts, services
from integrated_care.governance.models import Member
from integrated_care.runtime import Runtime
from tests.accounts.conftest import PASSWORD, csrf_token, sign_in
from tests.governance.conftest import MEETING_AT, SECRETARY, Board, build_board

PRIVATE_TITLE = "Settlement of a staff grievance"
PUBLIC_TITLE = "Award of the elective recovery contract"


@dataclass
class World:
    board: Board
    private_item: int
    draft_item: int
    tokens: dict[str, str]


@pytest.fixture
def world(runtime: Runtime) -> Iterator[World]:
    """The hand-made board; its public item published 8 days ahead, a private item with a
    published paper, an unpublished public item; users: the secretary, the trust member's own
    account (linked to their seat), the participant's, and an analyst without governance."""
    with runtime.transaction() as s:
        board = build_board(s)
        services.publish_item(s, SECRETARY, board.item_id, at=MEETING_AT - timedelta(days=8))
        private = services.add_item(
            s,
            SECRETARY,
            meeting_id=board.meeting_id,
            title=PRIVATE_TITLE,
            part="private",
            purpose="decision",
            paper="Confidential: the settlement figure.",
        )
        services.publish_item(s, SECRETARY, private.id, at=MEETING_AT - timedelta(days=8))
        draft = services.add_item(
            s,
            SECRETARY,
            meeting_id=board.meeting_id,
            title="Draft strategy not yet published",
            part="public",
            purpose="discussion",
            paper="Draft.",
        )
        users = {
            "secretary": ("board_secretary", None),
            "trustceo": ("board_member", board.trust_member),
            "participant": ("board_member", board.participant),
            "analyst": ("analyst", None),
        }
        tokens = {}
        for username, (role, seat) in users.items():
            user = accounts.create_user(s, username, PASSWORD, [role], "QK1", username.title())
            if seat is not None:
                s.get(Member, seat).user_id = user.id
            tokens[username] = accounts.create_token(s, username, _scopes(role))
    yield World(board, private.id, draft.id, tokens)


def _scopes(role: str) -> list[str]:
    from integrated_care.accounts.policy import grants

    return sorted(grants().roles[role].permissions)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit(runtime: Runtime, action: str) -> list[AuditEvent]:
    with runtime.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_public_portal_shows_published_public_papers_and_never_private_items(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    b = world.board
    with runtime.transaction() as s:
        for member in (b.chair, b.council_member, b.ned):
            conflicts.cast_vote(s, SECRETARY, b.item_id, member, "for")
        conflicts.record_decision(s, SECRETARY, b.item_id, "The board approved the award.")
        conflicts.record_decision(
            s, SECRETARY, world.private_item, "Settlement agreed.", "approved"
        )
    pages = {
        path: client.get(path)
        for path in (
            "/board",
            f"/board/meetings/{b.meeting_id}",
            f"/board/papers/{b.item_id}",
            "/board/decisions",
            "/board/feed.atom",
            "/api/governance/public",
            f"/api/governance/public/meetings/{b.meeting_id}",
            "/api/governance/public/decisions",
        )
    }
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert PRIVATE_TITLE not in response.text, path
        assert "Settlement agreed" not in response.text, path
        assert "Confidential" not in response.text, path
        assert "Draft strategy" not in response.text, path
    assert PUBLIC_TITLE in pages[f"/board/meetings/{b.meeting_id}"].text
    paper = pages[f"/board/papers/{b.item_id}"].text
    assert "<h2>Recommendation</h2>" in paper and "The board approved the award." in paper
    assert "3 for, 0 against, 0 abstaining" in paper
    decisions = pages["/api/governance/public/decisions"].json()
    assert [(d["item_title"], d["outcome"], d["votes_for"]) for d in decisions] == [
        (PUBLIC_TITLE, "approved", 3)
    ]
    meeting = pages[f"/api/governance/public/meetings/{b.meeting_id}"].json()
    assert [i["title"] for i in meeting["items"]] == [PUBLIC_TITLE]
    for hidden in (world.private_item, world.draft_item):
        assert client.get(f"/board/papers/{hidden}").status_code == 404
        assert client.get(f"/api/governance/public/papers/{hidden}").status_code == 404


def test_private_items_are_hidden_from_signed_in_users_without_governance_read(
    client: TestClient, world: World
) -> None:
    analyst = bearer(world.tokens["analyst"])
    assert client.get("/api/governance", headers=analyst).status_code == 403
    assert (
        client.get(f"/api/governance/items/{world.private_item}", headers=analyst).status_code
        == 403
    )
    assert (
        client.get(
            f"/api/governance/meetings/{world.board.meeting_id}", headers=analyst
        ).status_code
        == 403
    )
    public = client.get(
        f"/api/governance/public/meetings/{world.board.meeting_id}", headers=analyst
    ).json()
    assert PRIVATE_TITLE not in str(public)
    assert sign_in(client, "analyst").status_code == 303
    assert client.get("/governance").status_code == 403
    assert PRIVATE_TITLE not in client.get(f"/board/meetings/{world.board.meeting_id}").text
    assert "Governance" not in client.get("/board").text.split("</header>")[0]


def test_governance_read_sees_private_items(client: TestClient, world: World) -> None:
    secretary = bearer(world.tokens["secretary"])
    meeting = client.get(f"/api/governance/meetings/{world.board.meeting_id}", headers=secretary)
    titles = [i["title"] for i in meeting.json()["meeting"]["items"]]
    assert PRIVATE_TITLE in titles and "Draft strategy not yet published" in titles
    assert sign_in(client, "secretary").status_code == 303
    page = client.get(f"/governance/meetings/{world.board.meeting_id}")
    assert page.status_code == 200 and PRIVATE_TITLE in page.text


def test_conflicted_member_is_refused_until_the_chair_allows_and_all_is_audited(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    b = world.board
    ceo = bearer(world.tokens["trustceo"])
    vote = {"member_id": b.trust_member, "choice": "for"}
    refused = client.post(f"/api/governance/items/{b.item_id}/votes", json=vote, headers=ceo)
    assert refused.status_code == 403 and "declared interest" in refused.json()["detail"]
    (denied,) = audit(runtime, "governance.vote.refused")
    assert denied.actor == "trustceo" and denied.outcome == "denied"
    item = client.get(f"/api/governance/items/{b.item_id}", headers=ceo).json()
    assert [(c["member_id"], c["allowed"]) for c in item["conflicts"]] == [(b.trust_member, False)]

    # The member cannot allow themself; the secretary records the chair's decision (page form).
    allow = {"member_id": b.trust_member, "reason": "Clinical expertise needed"}
    own = client.post(f"/api/governance/items/{b.item_id}/allowances", json=allow, headers=ceo)
    assert own.status_code == 403
    assert sign_in(client, "secretary").status_code == 303
    form = client.get(f"/governance/items/{b.item_id}")
    assert "Their vote is blocked" in form.text
    done = client.post(
        f"/governance/items/{b.item_id}/allowances",
        data={**allow, "member_id": str(b.trust_member), "csrf_token": csrf_token(form.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/governance/items/{b.item_id}"
    (allowed,) = audit(runtime, "governance.conflict.allow")
    assert allowed.actor == "secretary" and allowed.reason == "Clinical expertise needed"

    cast = client.post(f"/api/governance/items/{b.item_id}/votes", json=vote, headers=ceo)
    assert cast.status_code == 200
    (voted,) = audit(runtime, "governance.vote.cast")
    assert voted.actor == "trustceo" and voted.detail["choice"] == "for"
    tally = client.get(f"/api/governance/items/{b.item_id}", headers=ceo).json()["tally"]
    assert (tally["for"], tally["eligible_present"]) == (1, 4)


def test_members_vote_only_as_themselves_and_participants_not_at_all(
    client: TestClient, world: World
) -> None:
    b = world.board
    ceo = bearer(world.tokens["trustceo"])
    other = client.post(
        f"/api/governance/items/{b.item_id}/votes",
        json={"member_id": b.chair, "choice": "for"},
        headers=ceo,
    )
    assert other.status_code == 403 and "only as yourself" in other.json()["detail"]
    participant = client.post(
        f"/api/governance/items/{b.item_id}/votes",
        json={"member_id": b.participant, "choice": "for"},
        headers=bearer(world.tokens["participant"]),
    )
    assert participant.status_code == 403 and "does not vote" in participant.json()["detail"]
    analyst = client.post(
        f"/api/governance/items/{b.item_id}/votes",
        json={"member_id": b.chair, "choice": "for"},
        headers=bearer(world.tokens["analyst"]),
    )
    assert analyst.status_code == 403


def test_inquorate_vote_cannot_become_a_decision(client: TestClient, world: World) -> None:
    b = world.board
    sec = bearer(world.tokens["secretary"])
    for member in (b.ned, b.council_member):
        r = client.post(
            f"/api/governance/meetings/{b.meeting_id}/attendance",
            json={"member_id": member, "status": "apologies"},
            headers=sec,
        )
        assert r.status_code == 200
    client.post(
        f"/api/governance/items/{b.item_id}/votes",
        json={"member_id": b.chair, "choice": "for"},
        headers=sec,
    )
    tally = client.get(f"/api/governance/items/{b.item_id}", headers=sec).json()["tally"]
    assert tally["valid"] is False and tally["eligible_present"] == 1
    decision = client.post(
        f"/api/governance/items/{b.item_id}/decision", json={"resolution": "Approve"}, headers=sec
    )
    assert decision.status_code == 422 and "not quorate" in decision.json()["detail"]


def test_late_publication_is_flagged(client: TestClient, world: World, runtime: Runtime) -> None:
    with runtime.transaction() as s:
        late = services.publish_item(
            s, SECRETARY, world.draft_item, at=MEETING_AT - timedelta(days=3)
        )
    # Published 7 March for 10 March: 8 and 9 March are the clear days.
    assert (late.clear_days, late.required_clear_days, late.late) == (2, 5, True)
    on_time = client.get(f"/api/governance/public/papers/{world.board.item_id}").json()
    assert (on_time["clear_days"], on_time["published_late"]) == (7, False)
    flagged = client.get(f"/api/governance/public/papers/{world.draft_item}").json()
    assert (flagged["clear_days"], flagged["published_late"]) == (2, True)
    assert "Published late" in client.get(f"/board/papers/{world.draft_item}").text


def test_feed_is_well_formed_and_escapes_titles(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    with runtime.transaction() as s:
        item = services.add_item(
            s,
            SECRETARY,
            meeting_id=world.board.meeting_id,
            title='Mental health <beds> & "flow"',
            part="public",
            purpose="information",
            paper="Text with <script>alert(1)</script>",
        )
        services.publish_item(s, SECRETARY, item.id)
    response = client.get("/board/feed.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)]
    assert 'Paper: Mental health <beds> & "flow"' in titles
    assert f"Paper: {PUBLIC_TITLE}" in titles and len(titles) == 2
    page = client.get(f"/board/papers/{item.id}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_registers_are_public(client: TestClient, world: World) -> None:
    registers = client.get("/api/governance/public/interests").json()
    assert [(i["member"], i["org_code"]) for i in registers["interests"]] == [
        ("Trust Chief", world.board.trust)
    ]
    assert "Chief executive of the trust" in client.get("/board/interests").text


def test_secretary_runs_a_meeting_through_the_api(client: TestClient, world: World) -> None:
    sec = bearer(world.tokens["secretary"])
    made = client.post(
        "/api/governance/meetings",
        json={"body_id": world.board.body_id, "starts_at": "2027-06-01T09:30:00Z"},
        headers=sec,
    )
    assert made.status_code == 200
    meeting = made.json()["id"]
    item = client.post(
        f"/api/governance/meetings/{meeting}/items",
        json={"title": "Winter plan", "part": "public", "purpose": "discussion"},
        headers=sec,
    ).json()["id"]
    assert client.post(f"/api/governance/items/{item}/publish", headers=sec).status_code == 422
    client.post(f"/api/governance/items/{item}/paper", json={"paper": "Plan."}, headers=sec)
    published = client.post(f"/api/governance/items/{item}/publish", headers=sec).json()
    assert published["warning"] is None  # published today, months ahead
    action = client.post(
        f"/api/governance/meetings/{meeting}/actions",
        json={"description": "Circulate the plan", "owner": "Chair Person", "due_on": "2027-06-08"},
        headers=sec,
    )
    assert action.status_code == 200
    detail = client.get(f"/api/governance/meetings/{meeting}", headers=sec).json()
    assert [a["owner"] for a in detail["actions"]] == ["Chair Person"]
    ceo = bearer(world.tokens["trustceo"])
    assert (
        client.post(
            "/api/governance/meetings",
            json={"body_id": world.board.body_id, "starts_at": "2027-06-01T09:30:00Z"},
            headers=ceo,
        ).status_code
        == 403
    )


def test_signed_in_pages_render_for_the_secretary_and_a_member(
    client: TestClient, world: World
) -> None:
    b = world.board
    paths = (
        "/governance",
        f"/governance/meetings/{b.meeting_id}",
        f"/governance/items/{b.item_id}",
        f"/governance/items/{world.private_item}",
        f"/governance/members/{b.trust_member}",
    )
    assert sign_in(client, "secretary").status_code == 303
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200, path
    secretary_view = client.get(f"/governance/items/{b.item_id}").text
    assert "Record a vote" in secretary_view
    assert "allow a conflicted member to vote" in secretary_view
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/governance").text)})
    assert sign_in(client, "trustceo").status_code == 303
    item = client.get(f"/governance/items/{b.item_id}").text
    assert "You cannot vote on this item: Trust Chief has a declared interest" in item
    assert "Your vote" not in item and "Record the decision" not in item
    assert "allow a conflicted member to vote" not in item  # only the chair or the secretary
    assert "Declare an interest" in client.get(f"/governance/members/{b.trust_member}").text
    assert "Declare an interest" not in client.get(f"/governance/members/{b.chair}").text


def test_secretary_sets_up_a_committee_and_seats_members(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    sec = bearer(world.tokens["secretary"])
    body = client.post(
        "/api/governance/bodies",
        json={
            "name": "Place partnership",
            "level": "place",
            "parent_id": world.board.body_id,
            "quorum_voting_members": 2,
            "quorum_roles": ["chair"],
        },
        headers=sec,
    )
    assert body.status_code == 200
    body_id = body.json()["id"]
    seat = {"name": "A Chair", "role": "chair", "term_start": "2026-04-01"}
    member = client.post(f"/api/governance/bodies/{body_id}/members", json=seat, headers=sec)
    assert member.status_code == 200
    wrong = client.post(
        f"/api/governance/bodies/{body_id}/members",
        json={**seat, "org_code": "NOTREAL"},
        headers=sec,
    )
    assert wrong.status_code == 422 and "not an organisation" in wrong.json()["detail"]
    # A place chair needs no NHS England approval (a system chair does).
    detail = client.get(f"/api/governance/members/{member.json()['id']}", headers=sec).json()
    assert detail["member"]["nhse_approval"] == "not_needed"
    assert sign_in(client, "secretary").status_code == 303
    form = client.get("/governance")
    added = client.post(
        f"/governance/bodies/{body_id}/members",
        data={"name": "B Member", "role": "partner_member", "term_start": "2026-04-01",
              "org_code": world.board.trust, "csrf_token": csrf_token(form.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert added.status_code == 303
    assert "B Member" in client.get(added.headers["location"]).text


def test_members_declare_their_own_interests_only_and_it_is_audited(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    b = world.board
    ceo = bearer(world.tokens["trustceo"])
    interest = {
        "kind": "non_financial_professional",
        "organisation_name": "Royal College of Surgeons",
        "description": "Council member",
        "starts_on": "2026-01-01",
    }
    own = client.post(f"/api/governance/members/{b.trust_member}/interests", json=interest,
                      headers=ceo)  # fmt: skip
    assert own.status_code == 200
    other = client.post(f"/api/governance/members/{b.chair}/interests", json=interest,
                        headers=ceo)  # fmt: skip
    assert other.status_code == 403 and "only your own" in other.json()["detail"]
    gift = {
        "offered_by": "A supplier",
        "description": "Lunch",
        "value_pence": 2550,
        "received_on": "2026-10-01",
        "accepted": True,
    }
    assert (
        client.post(
            f"/api/governance/members/{b.trust_member}/gifts", json=gift, headers=ceo
        ).status_code
        == 200
    )
    registers = client.get("/api/governance/public/interests").json()
    assert [g["value"] for g in registers["gifts"]] == ["25.50"]
    assert "Royal College of Surgeons" in {i["organisation"] for i in registers["interests"]}
    (declared,) = [
        e for e in audit(runtime, "governance.interest.declare") if e.actor == "trustceo"
    ]
    assert declared.detail["member"] == b.trust_member
    assert [e.actor for e in audit(runtime, "governance.refused")] == ["trustceo"]


def test_late_publication_is_audited_as_late(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    with runtime.transaction() as s:
        services.publish_item(s, SECRETARY, world.draft_item, at=MEETING_AT - timedelta(days=1))
    published = [e.detail for e in audit(runtime, "governance.paper.publish")]
    assert {"part": "public", "clear_days": 0, "late": True} in published
    assert {"part": "public", "clear_days": 7, "late": False} in published


def test_the_chair_may_allow_a_conflicted_vote_from_their_own_account(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    b = world.board
    with runtime.transaction() as s:
        user = accounts.create_user(s, "chair", PASSWORD, ["board_member"], "QK1", "Chair")
        s.get(Member, b.chair).user_id = user.id
        token = accounts.create_token(s, "chair", _scopes("board_member"))
    allow = {"member_id": b.trust_member, "reason": "Only provider able to advise"}
    response = client.post(
        f"/api/governance/items/{b.item_id}/allowances", json=allow, headers=bearer(token)
    )
    assert response.status_code == 200
    (allowed,) = audit(runtime, "governance.conflict.allow")
    assert (allowed.actor, allowed.detail["chair"]) == ("chair", b.chair)
    vote = {"member_id": b.trust_member, "choice": "against"}
    cast = client.post(
        f"/api/governance/items/{b.item_id}/votes",
        json=vote,
        headers=bearer(world.tokens["trustceo"]),
    )
    assert cast.status_code == 200


def test_json_twins_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/governance/public",
        "/api/governance/public/meetings/{meeting_id}",
        "/api/governance/public/papers/{item_id}",
        "/api/governance/public/decisions",
        "/api/governance/public/interests",
        "/api/governance",
        "/api/governance/meetings/{meeting_id}",
        "/api/governance/items/{item_id}",
        "/api/governance/members/{member_id}",
        "/api/governance/public/search",
        "/api/governance/public/headlines",
        "/api/governance/public/consultations",
        "/api/governance/public/engagement",
        "/api/governance/public/questions/{reference}",
        "/api/governance/questions",
        "/api/governance/consultations/{consultation_id}",
    ):
        assert "get" in paths[path], path
    for path in (
        "/api/governance/public/meetings/{meeting_id}/questions",
        "/api/governance/public/consultations/{consultation_id}/comments",
        "/api/governance/questions/{question_id}/moderation",
        "/api/governance/items/{item_id}/paper-file",
    ):
        assert "post" in paths[path], path
    vote = paths["/api/governance/items/{item_id}/votes"]["post"]
    assert [p["name"] for p in vote["parameters"]] == ["item_id"]
    assert vote["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("VoteIn")
    # Pages stay out of the document; the Atom feed and the PDFs are documents in their own right.
    assert sorted(p for p in paths if p.startswith(("/governance", "/board"))) == [
        "/board/feed.atom",
        "/board/meetings/{meeting_id}/pack.pdf",
        "/board/papers/files/{file_id}",
        "/governance/meetings/{meeting_id}/pack.pdf",
        "/governance/papers/files/{file_id}",
    ]
