"""The referral API and pages over HTTP (the real app, bearer tokens): who sees what, refusals
that name the problem and are audited, and the pages' content."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from integrated_care.accounts.models import AuditEvent
from integrated_care.runtime import Runtime
from integrated_care.web.app import create_app
from tests.coordination.referral_support import (
    AGE_UK,
    NHS_NUMBER,
    World,
    build_world,
    cheap_password_hashing,  # noqa: F401
)


@pytest.fixture
def world(runtime: Runtime) -> World:
    return build_world(runtime)


@pytest.fixture
def http(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.runtime)) as client:
        yield client


def _as(world: World, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[username]}"}


def _refer(http: TestClient, world: World, **changes) -> dict:  # type: ignore[no-untyped-def,type-arg]
    body = {
        "patient_id": world.patient_id,
        "service_id": world.social_prescribing,
        "reason": "Isolated after a fall; would like company",
        "urgency": "routine",
        "consent": True,
        **changes,
    }
    return http.post("/api/referrals", json=body, headers=_as(world, "gp"))  # type: ignore[return-value]


def test_refer_accept_and_complete_through_the_api(http: TestClient, world: World) -> None:
    found = http.get(f"/api/referrals/patients?nhs_number={NHS_NUMBER}", headers=_as(world, "gp"))
    assert found.json()["patient_id"] == world.patient_id
    made = _refer(http, world)
    assert made.status_code == 201, made.text
    rid = made.json()["id"]

    inbox = http.get("/api/referrals?box=inbox", headers=_as(world, "linkworker")).json()
    assert [(r["id"], r["from_org_code"], r["status"]) for r in inbox] == [
        (rid, "C82001", "requested")
    ]
    assert http.get("/api/referrals?box=outbox", headers=_as(world, "gp")).json()[0]["id"] == rid
    detail = http.get(f"/api/referrals/{rid}", headers=_as(world, "linkworker")).json()
    assert detail["next_actions"] == ["accept", "decline"]
    assert detail["referral"]["wait"] == {
        "days": 0,
        "target_days": 14,
        "waiting": True,
        "breached": False,
    }

    accept = http.post(f"/api/referrals/{rid}/accept", headers=_as(world, "linkworker"))
    assert accept.json() == {"id": rid, "status": "accepted"}
    complete = http.post(
        f"/api/referrals/{rid}/complete",
        json={"note": "Joined a lunch club"},
        headers=_as(world, "linkworker"),
    )
    assert complete.json()["status"] == "completed"
    history = http.get(f"/api/referrals/{rid}", headers=_as(world, "gp")).json()["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "requested"),
        ("requested", "accepted"),
        ("accepted", "completed"),
    ]


def test_refusals_name_the_problem_and_are_audited(http: TestClient, world: World) -> None:
    no_consent = _refer(http, world, consent=False)
    assert no_consent.status_code == 422
    assert "consent" in no_consent.json()["detail"]
    rid = _refer(http, world).json()["id"]
    outsider = http.get(f"/api/referrals/{rid}", headers=_as(world, "adviser"))
    assert outsider.status_code == 403
    assert "you act for VQK104" in outsider.json()["detail"]
    early = http.post(
        f"/api/referrals/{rid}/complete", json={"note": "x"}, headers=_as(world, "linkworker")
    )
    assert early.status_code == 409
    assert "is requested: it cannot be completed" in early.json()["detail"]
    odd = http.get("/api/referrals?status=lost", headers=_as(world, "gp"))
    assert odd.status_code == 422 and "status: 'lost' is not open or one of" in odd.json()["detail"]
    bad_nhs = http.get("/api/referrals/patients?nhs_number=1234567890", headers=_as(world, "gp"))
    assert bad_nhs.status_code == 422
    assert "check digit" in bad_nhs.json()["detail"]
    with world.runtime.sessions() as s:
        refused = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "coordination.referral.refused")
        ).all()
    assert [(e.actor, e.outcome) for e in refused] == [
        ("gp", "failure"),
        ("adviser", "denied"),
        ("linkworker", "failure"),
        ("gp", "failure"),
        ("gp", "failure"),
    ]


def test_an_analyst_cannot_see_referrals(http: TestClient, world: World) -> None:
    from integrated_care.accounts import services

    with world.runtime.transaction() as s:
        services.create_user(s, "ana", "a-long-enough-password", ["analyst"], "QK1", "Ana")
        token = services.create_token(s, "ana", ["analytics:read"])
    reply = http.get("/api/referrals", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 403


def test_the_pages_show_the_referral_and_the_directory(http: TestClient, world: World) -> None:
    rid = _refer(http, world).json()["id"]
    worker = _as(world, "linkworker")
    inbox = http.get("/referrals/inbox", headers=worker)
    assert inbox.status_code == 200
    assert f'href="/referrals/{rid}"' in inbox.text and NHS_NUMBER in inbox.text
    with world.runtime.sessions() as s:
        seen = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "coordination.referral.list")
        ).all()
    assert [(e.actor, e.detail["patients"]) for e in seen] == [("linkworker", [world.patient_id])]
    page = http.get(f"/referrals/{rid}", headers=worker)
    assert "Isolated after a fall" in page.text and "Accept referral" in page.text
    assert f'href="/record/patients/{world.patient_id}"' in page.text
    listing = http.get("/referrals/services?kind=social_prescribing", headers=worker).text
    assert "Social prescribing link workers" in listing and "Age UK Charnwood" in listing
    mind = http.get("/referrals/services?org=VQK102", headers=worker).text
    assert "Wellbeing and peer support" in mind and "Social prescribing link workers" not in mind
    service = http.get(f"/referrals/services/{world.social_prescribing}", headers=worker)
    assert "service-waits-spec" in service.text  # the chart of this service's waits
    assert "Stop accepting referrals" in service.text  # the link worker's own service
    waits = http.get("/referrals/waits", headers=worker)
    assert "referral-waits-spec" in waits.text
    api_waits = http.get("/api/referrals/waits", headers=worker).json()
    assert [(f["service"], f["waiting"]) for f in api_waits["services"]] == [
        ("Social prescribing link workers", 1)
    ]
    new = http.get(f"/referrals/new?nhs_number={NHS_NUMBER}", headers=_as(world, "gp"))
    assert "Margaret Shaw" in new.text and f'value="{world.patient_id}"' in new.text
    unknown = http.get("/referrals/new?nhs_number=9434765870", headers=_as(world, "gp"))
    assert "whose record you may see" in unknown.text


def test_the_service_directory_api(http: TestClient, world: World) -> None:
    services = http.get(f"/api/referrals/services?org={AGE_UK}", headers=_as(world, "gp")).json()
    assert sorted((s["name"], s["accepting"]) for s in services) == [
        ("Befriending and good neighbours", True),
        ("Social prescribing link workers", True),
        ("Strength and balance classes", False),
    ]
    closed = http.put(
        f"/api/referrals/services/{world.social_prescribing}/accepting",
        json={"accepting": False},
        headers=_as(world, "gp"),
    )
    assert closed.status_code == 403 and "only VQK101" in closed.json()["detail"]


def test_a_refused_form_is_shown_again_saying_what_was_wrong(
    http: TestClient, world: World
) -> None:
    form = {
        "patient_id": world.patient_id,
        "nhs_number": NHS_NUMBER,
        "service_id": str(world.social_prescribing),
        "reason": "Lonely since moving here",
        "urgency": "routine",
    }
    refused = http.post("/referrals", data=form, headers=_as(world, "gp"))
    assert refused.status_code == 422
    assert "The referral was not made" in refused.text
    assert "record that the patient has agreed" in refused.text
    assert "Lonely since moving here" in refused.text  # what was typed is kept
    made = http.post(
        "/referrals", data={**form, "consent": "yes"}, headers=_as(world, "gp"),
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303
    rid = made.headers["location"].rsplit("/", 1)[1]
    declined = http.post(
        f"/referrals/{rid}/decline", data={"note": ""}, headers=_as(world, "linkworker")
    )
    assert declined.status_code == 422 and "give a reason to decline" in declined.text
    accepted = http.post(
        f"/referrals/{rid}/accept", headers=_as(world, "linkworker"), follow_redirects=False
    )
    assert (accepted.status_code, accepted.headers["location"]) == (303, f"/referrals/{rid}")
