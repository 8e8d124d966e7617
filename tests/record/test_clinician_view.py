"""The clinician's pages: find a patient (NHS number with its check digit, or last name and date
of birth) among those the user may see; the record as one timeline naming the organisation that
recorded each entry; refusal with the reason and break-glass; each look audited exactly as the
FHIR interaction it is."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from integrated_care.record import timeline
from integrated_care.record.access_models import BreakGlass
from tests.accounts.conftest import csrf_token, sign_in
from tests.record.conftest import PASSWORD, condition
from tests.record.test_access_rules import World, _ref, world  # noqa: F401

HIV = "86406008"  # sexual health: sealed to the organisation that recorded it


def _page_client(w: World, user: str) -> TestClient:
    response = sign_in(w.client, user, PASSWORD)
    assert response.status_code == 303, response.text
    return w.client


def _encounter(pid: str, eid: str, start: str, org: str, setting: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
        },
        "type": [
            {
                "coding": [
                    {"system": timeline.CARE_SETTING_SYSTEM, "code": setting, "display": setting}
                ]
            }
        ],
        "subject": _ref("Patient", pid),
        "period": {"start": start, "end": start},
        "serviceProvider": _ref("Organization", org),
    }


@pytest.fixture
def record(world: World) -> World:  # noqa: F811
    """p1's record from three partners: the GP practice (A81001) writes two problems through
    the API (one sealed); the hospital (RXX) has two encounters and a diagnosis in one; the
    community service (RYY) one encounter."""
    gp = world.post("gp_a", "Condition", condition("p1", code="73211009", onset="2024-01-05"))
    assert gp.status_code == 201, gp.text
    assert world.post("gp_a", "Condition", condition("p1", code=HIV)).status_code == 201
    world.seed("Encounter", "e1", _encounter("p1", "e1", "2025-03-02", "org-h", "Hospital"))
    world.seed("Encounter", "e2", _encounter("p1", "e2", "2025-03-20", "org-h", "Hospital"))
    world.seed("Encounter", "e3", _encounter("p1", "e3", "2025-04-11", "org-c", "Community"))
    diagnosis = condition("p1", code="22298006", onset="2025-03-02")
    diagnosis["encounter"] = _ref("Encounter", "e1")
    world.seed("Condition", "dx1", diagnosis)
    world.seed(
        "CarePlan",
        "cp1",
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "title": "Falls prevention plan",
            "subject": _ref("Patient", "p1"),
            "author": _ref("Organization", "org-c"),
        },
    )
    return world


def test_find_a_patient_by_nhs_number_or_name_among_those_the_user_may_see(
    record: World,
) -> None:
    client = _page_client(record, "gp_a")
    page = client.get("/record/find", params={"nhs_number": "943 476 5919"})
    assert page.status_code == 200
    assert 'href="/record/patients/p1"' in page.text
    assert "943 476 5919" in page.text
    assert "Organisation A81001 (A81001)" in page.text  # registered practice, name and ODS
    searches = record.events(actor="gp_a", action="record.search")
    assert len(searches) == 1 and searches[0].detail["patients"] == ["p1"]
    # A wrong check digit is named, linked from the error summary, and nothing is searched.
    bad = client.get("/record/find", params={"nhs_number": "9434765918"})
    assert bad.status_code == 422
    assert "Enter a valid NHS number: the check digit should be 9, not 8" in bad.text
    assert 'href="#nhs_number"' in bad.text
    assert "10 digits" in client.get("/record/find", params={"nhs_number": "12345"}).text
    assert len(record.events(actor="gp_a", action="record.search")) == 1
    # By name and date of birth: p1 (Smith) is gp_a's; p3 (Brown, born the same day) is not
    # theirs, nor is anyone at gp_b's practice listed to gp_b.
    by_name = client.get("/record/find", params={"family": "smith", "birth_date": "1960-04-01"})
    assert 'href="/record/patients/p1"' in by_name.text
    other = _page_client(record, "gp_b")
    none = other.get("/record/find", params={"family": "smith", "birth_date": "1960-04-01"})
    assert "/record/patients/p1" not in none.text
    assert "No patient you may see matches" in none.text
    missing = other.get("/record/find", params={"family": "smith"})
    assert missing.status_code == 422 and "Enter the patient&#39;s date of birth" in missing.text


def test_the_record_is_one_timeline_naming_each_recording_organisation(record: World) -> None:
    client = _page_client(record, "gp_a")
    page = client.get("/record/patients/p1")
    assert page.status_code == 200
    html = page.text
    assert "Organisation RXX (RXX)" in html  # the hospital's encounters and diagnosis
    assert "Organisation RYY (RYY)" in html  # the community encounter and care plan
    assert "Organisation A81001 (A81001)" in html  # the GP's problems, stamped on write
    assert "Falls prevention plan" in html
    assert "SNOMED CT 73211009" in html
    assert "SNOMED CT 86406008" in html  # gp_a recorded the sealed entry: it sees it
    # The chart's figures, counted by hand: e1 and e2 in March 2025 at the hospital, e3 in
    # April in the community.
    assert '{"contacts": 2, "month": "2025-03", "setting": "Hospital"}' in html
    assert '{"contacts": 1, "month": "2025-04", "setting": "Community"}' in html
    assert html.count('"setting": "') == 2
    events = record.events(actor="gp_a", action="record.everything")
    assert [(e.outcome, e.detail["patient"]) for e in events] == [("success", "p1")]
    # Who recorded what: the stamp on an API write; the organisation a resource names; for a
    # diagnosis with neither, the provider of its encounter.
    everything = record.get("gp_a", "Patient/p1/$everything").json()
    built = timeline.build_record("p1", [e["resource"] for e in everything["entry"]])
    labels = {e.resource_id: e.organisation_label for e in built.timeline}
    assert labels["dx1"] == labels["e1"] == "Organisation RXX (RXX)"
    assert labels["cp1"] == labels["e3"] == "Organisation RYY (RYY)"
    assert {labels[e.resource_id] for e in built.problems if e.what == "SNOMED CT 73211009"} == {
        "Organisation A81001 (A81001)"
    }


def test_sealed_entries_are_withheld_as_the_api_withholds_them(record: World) -> None:
    client = _page_client(record, "hosp")  # open episode: may see p1, not the GP's HIV entry
    html = client.get("/record/patients/p1").text
    assert "SNOMED CT 73211009" in html
    assert "SNOMED CT 86406008" not in html
    api = record.get("hosp", "Patient/p1/$everything").json()
    codes = {
        c["code"]
        for e in api["entry"]
        if e["resource"]["resourceType"] == "Condition"
        for c in e["resource"]["code"]["coding"]
    }
    assert HIV not in codes


def test_no_relationship_is_refused_with_the_reason_and_break_glass_opens_it(
    record: World,
) -> None:
    client = _page_client(record, "gp_b")
    # Found by NHS number, but not theirs to see: sent to the record page, which refuses.
    found = client.get("/record/find", params={"nhs_number": "9434765919"}, follow_redirects=True)
    assert found.status_code == 403
    assert "has no care relationship with this patient" in found.text
    assert "Break the glass" in found.text
    denied = record.events(actor="gp_b", action="record.everything")
    assert [(e.outcome, e.detail["patient"]) for e in denied] == [("denied", "p1")]
    # A reason is required.
    token = csrf_token(found.text)
    empty = client.post(
        "/record/patients/p1/break-glass", data={"reason": " ", "csrf_token": token}
    )
    assert empty.status_code == 422 and "Give the reason" in empty.text
    opened = client.post(
        "/record/patients/p1/break-glass",
        data={"reason": "Unconscious in A&E", "csrf_token": token},
        follow_redirects=True,
    )
    assert opened.status_code == 200
    assert "You opened this record by breaking the glass" in opened.text
    assert "SNOMED CT 86406008" not in opened.text  # break-glass does not unseal
    with record.runtime.transaction() as session:
        uses = session.query(BreakGlass).filter_by(username="gp_b", patient_id="p1").all()
    assert [u.reason for u in uses] == ["Unconscious in A&E"]


def test_a_care_professional_gets_no_break_glass_and_others_no_pages(record: World) -> None:
    client = _page_client(record, "social")
    page = client.get("/record/patients/p1")
    assert page.status_code == 403
    assert "Break the glass" not in page.text
    assert "Only clinicians may open a record" in page.text
    assert client.get("/record/patients/nobody").status_code == 404
    guardian = _page_client(record, "guardian")  # audit:read, not record:read
    assert guardian.get("/record/find").status_code == 403
    assert guardian.get("/record/patients/p1").status_code == 403
