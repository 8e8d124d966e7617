"""Shared care plans as FHIR CarePlans in the record, against the real store: the resource's
shape, who may see a plan (a legitimate relationship, else 403 and an audit event), versions
and stale edits, bad input, and the review list of each organisation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from integrated_care.accounts.models import AuditEvent
from integrated_care.record import service
from integrated_care.record.models import RecordResource
from integrated_care.record.service import Caller
from tests.coordination.mdt_support import (
    World,
    cheap_password_hashing,  # noqa: F401 - an autouse fixture
    open_world,
)

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture
def world(backend, db_templates, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    yield from open_world(backend, db_templates, tmp_path_factory)


PATIENT = "p1"  # registered at A00001


def api(w: World, user: str) -> TestClient:
    return w.client(user)


def plan(review: dt.date | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient_id": PATIENT,
        "title": "Staying well at home",
        "description": "Falls and loneliness after her husband died",
        "start": (TODAY - dt.timedelta(days=60)).isoformat(),
        "review_date": (review or TODAY + dt.timedelta(days=90)).isoformat(),
        "goals": [
            {"description": "Walk to the shops again", "due": "2027-06-01"},
            {"description": "See friends every week"},
        ],
        "activities": [
            {"description": "Strength and balance classes", "organisation": "RWE"},
            {"description": "Befriending visits", "organisation": "VCS01", "status": "scheduled"},
        ],
    }
    return body | changes


def give_trust_an_episode(w: World) -> None:
    """An open EpisodeOfCare at the trust: its legitimate relationship with the patient."""
    episode = {
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "patient": {"reference": f"Patient/{PATIENT}"},
        "managingOrganization": {"reference": "Organization/RWE"},
    }
    caller = Caller(w.principals["gp_a1"], base="http://test/fhir")
    assert service.create(w.runtime, caller, "EpisodeOfCare", episode).status == 201


def care_plans_stored(w: World) -> int:
    with w.runtime.sessions() as session:
        query = select(RecordResource.id).where(RecordResource.resource_type == "CarePlan")
        return len(session.scalars(query).all())


def test_a_care_plan_is_a_fhir_careplan_with_contained_goals(world: World) -> None:
    gp = api(world, "gp_a1")
    created = gp.post("/api/care-plans", json=plan())
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == 'W/"1"'
    plan_id = created.json()["id"]
    stored = gp.get(f"/fhir/CarePlan/{plan_id}").json()
    assert (stored["status"], stored["intent"], stored["subject"]) == (
        "active",
        "plan",
        {"reference": "Patient/p1"},
    )
    assert [g["reference"] for g in stored["goal"]] == ["#goal-1", "#goal-2"]
    goals = {c["id"]: c for c in stored["contained"]}
    assert goals["goal-1"]["description"]["text"] == "Walk to the shops again"
    assert goals["goal-1"]["target"] == [{"dueDate": "2027-06-01"}]
    performers = [a["detail"]["performer"][0]["identifier"]["value"] for a in stored["activity"]]
    assert performers == ["RWE", "VCS01"]
    assert stored["author"]["identifier"]["value"] == "A00001"
    review = [e["valueDate"] for e in stored["extension"] if "review-date" in e["url"]]
    assert review == [(TODAY + dt.timedelta(days=90)).isoformat()]
    # The record indexes it like any CarePlan: a FHIR search by patient finds it.
    found = gp.get("/fhir/CarePlan", params={"patient": PATIENT}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [plan_id]


VOLUNTARY_ONLY = [{"description": "Befriending visits", "organisation": "VCS01"}]


def test_visible_with_a_relationship_and_refused_without(world: World) -> None:
    plan_id = (
        api(world, "gp_a1").post("/api/care-plans", json=plan(activities=VOLUNTARY_ONLY)).json()
    )["id"]
    nurse = api(world, "nurse")
    assert nurse.get(f"/api/care-plans/{plan_id}").status_code == 403  # no relationship yet
    give_trust_an_episode(world)
    seen = nurse.get(f"/api/care-plans/{plan_id}")
    assert seen.status_code == 200
    assert [a["organisation"] for a in seen.json()["activities"]] == ["VCS01"]
    assert [p["id"] for p in nurse.get(f"/api/care-plans?patient={PATIENT}").json()] == [plan_id]

    outsider = api(world, "gp_b1")
    refused = outsider.get(f"/api/care-plans/{plan_id}")
    assert refused.status_code == 403
    assert "B00001 has no care relationship" in refused.json()["detail"]
    assert outsider.get(f"/api/care-plans?patient={PATIENT}").status_code == 403
    with world.runtime.sessions() as session:
        denied = session.scalars(
            select(AuditEvent).where(AuditEvent.actor == "gp_b1", AuditEvent.outcome == "denied")
        ).all()
    assert [(e.action, e.record_type) for e in denied] == [
        ("record.read", "CarePlan"),
        ("record.search", "CarePlan"),
    ]


def test_an_activity_in_an_active_plan_relates_its_organisation_until_the_plan_ends(
    world: World,
) -> None:
    nurse = api(world, "nurse")  # at the trust RWE, with no other relationship
    assert nurse.get(f"/fhir/Patient/{PATIENT}").status_code == 403
    gp = api(world, "gp_a1")
    created = gp.post("/api/care-plans", json=plan())  # gives RWE strength and balance classes
    plan_id = created.json()["id"]
    assert nurse.get(f"/fhir/Patient/{PATIENT}").status_code == 200
    assert nurse.get(f"/api/care-plans/{plan_id}").status_code == 200
    assert api(world, "gp_b1").get(f"/fhir/Patient/{PATIENT}").status_code == 403  # not named

    body = plan(status="completed")
    body.pop("patient_id")
    ended = gp.put(f"/api/care-plans/{plan_id}", json=body, headers={"If-Match": 'W/"1"'})
    assert ended.status_code == 200, ended.text
    assert nurse.get(f"/fhir/Patient/{PATIENT}").status_code == 403


def test_an_edit_makes_a_version_and_a_stale_edit_is_refused(world: World) -> None:
    gp = api(world, "gp_a1")
    plan_id = gp.post("/api/care-plans", json=plan()).json()["id"]
    give_trust_an_episode(world)
    nurse = api(world, "nurse")
    body = plan(title="Staying well at home (reviewed)")
    body.pop("patient_id")
    edited = nurse.put(f"/api/care-plans/{plan_id}", json=body, headers={"If-Match": 'W/"1"'})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["version"], edited.headers["ETag"]) == (2, 'W/"2"')
    assert edited.json()["author"] == "A00001"  # the first author stays

    stale = gp.put(f"/api/care-plans/{plan_id}", json=plan(), headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert "Someone else changed this care plan" in stale.json()["detail"]
    assert gp.put(f"/api/care-plans/{plan_id}", json=body).status_code == 428
    history = gp.get(f"/fhir/CarePlan/{plan_id}/_history").json()
    assert [e["resource"]["title"] for e in history["entry"]] == [
        "Staying well at home (reviewed)",
        "Staying well at home",
    ]


def test_a_stale_edit_on_the_page_says_so_and_shows_the_latest(world: World) -> None:
    gp = api(world, "gp_a1")
    plan_id = gp.post("/api/care-plans", json=plan()).json()["id"]
    form = {
        "version": "1",
        "title": "First edit",
        "start": "2026-01-01",
        "review_date": "2027-01-01",
        "goal_1_description": "Walk to the shops again",
        "activity_1_description": "Strength and balance classes",
        "activity_1_organisation": "RWE",
    }
    half_row = gp.post(f"/care-plans/{plan_id}", data=form | {"activity_2_organisation": "RWE"})
    assert half_row.status_code == 422 and "activity_2_description" in half_row.text
    first = gp.post(f"/care-plans/{plan_id}", data=form, follow_redirects=False)
    assert first.status_code == 303
    again = gp.post(f"/care-plans/{plan_id}", data=form | {"title": "Second edit"})
    assert again.status_code == 409
    assert "Your changes were not saved" in again.text
    assert "First edit" in again.text and "latest version (2)" in again.text


def test_bad_input_is_named_and_stores_nothing(world: World) -> None:
    gp = api(world, "gp_a1")
    unknown = plan(activities=[{"description": "Visits", "organisation": "ZZZ99"}])
    reply = gp.post("/api/care-plans", json=unknown)
    assert reply.status_code == 422
    assert "activities[0].organisation: 'ZZZ99' is not an organisation" in reply.json()["detail"]
    backwards = plan(start="2026-06-01", review_date="2026-05-01")
    reply = gp.post("/api/care-plans", json=backwards)
    assert reply.status_code == 422 and "review_date" in str(reply.json()["detail"])
    reply = gp.post("/api/care-plans", json=plan(goals=[]))
    assert reply.status_code == 422 and "goals" in str(reply.json()["detail"])
    assert care_plans_stored(world) == 0


def test_reviews_due_and_overdue_per_organisation(world: World) -> None:
    gp = api(world, "gp_a1")
    overdue = gp.post("/api/care-plans", json=plan(TODAY - dt.timedelta(days=3))).json()["id"]
    due = gp.post("/api/care-plans", json=plan(TODAY + dt.timedelta(days=10))).json()["id"]
    gp.post("/api/care-plans", json=plan(TODAY + dt.timedelta(days=200)))  # not yet
    mine = gp.get("/api/care-plans/reviews").json()
    assert [(p["id"], p["review_state"]) for p in mine] == [(overdue, "overdue"), (due, "due")]
    give_trust_an_episode(world)
    assert [p["id"] for p in api(world, "nurse").get("/api/care-plans/reviews").json()] == [
        overdue,
        due,
    ]
    # A practice with no part in the plans (and no relationship) has nothing to review.
    assert api(world, "gp_a2").get("/api/care-plans/reviews").json() == []
    page = gp.get("/care-plans")
    assert page.status_code == 200 and "Review overdue" in page.text
