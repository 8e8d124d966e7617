"""The shared care record's access rules, each allowed, refused (403 + OperationOutcome + an
audit event) and with break-glass: legitimate relationship (registration, open episode,
referral, care team, a plugged-in MDT caseload), break-glass for 8 hours, sealed sensitive
information and consent to share it, dissent, and search / $everything filtering.

The users act for organisations the permissive test source in conftest.py does not cover, so
only the real rules apply here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from integrated_care import db
from integrated_care.accounts import services
from integrated_care.accounts.audit import AuditFilter, search_events
from integrated_care.accounts.policy import grants
from integrated_care.record import relationships, store
from integrated_care.record.access_models import BreakGlass
from integrated_care.record.consent import CATEGORY_SYSTEM
from integrated_care.record.sensitive import RECORDED_BY_SYSTEM
from integrated_care.runtime import Runtime
from tests.record.conftest import FHIR_JSON, ODS, PASSWORD, condition, patient

ICD10 = "http://hl7.org/fhir/sid/icd-10"
# username -> (roles, organisation)
STAFF = {
    "gp_a": (["clinician"], "A81001"),  # practice where p1 is registered
    "gp_b": (["clinician"], "B81002"),  # another practice
    "hosp": (["clinician"], "RXX"),  # hospital with an open episode for p1
    "community": (["care_professional"], "RYY"),  # referred to (ServiceRequest)
    "team": (["clinician"], "RZZ"),  # on p1's care team
    "social": (["care_professional"], "S100"),  # no relationship; may not break glass
    "mdt": (["clinician"], "MDT01"),  # sees the PCN MDT caseload (a plugged-in source)
    "guardian": (["caldicott_guardian"], "QK1"),
}
ORGS = {"A81001": "org-a", "B81002": "org-b", "RXX": "org-h", "RYY": "org-c", "RZZ": "org-t"}


@dataclass
class World:
    client: TestClient
    runtime: Runtime
    tokens: dict[str, str]

    def headers(self, user: str, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.tokens[user]}",
            "Accept": FHIR_JSON,
            "Content-Type": FHIR_JSON,
            **extra,
        }

    def get(self, user: str, path: str, **extra: str):  # type: ignore[no-untyped-def]
        return self.client.get(f"/fhir/{path}", headers=self.headers(user, **extra))

    def post(self, user: str, path: str, body: dict[str, Any], **extra: str):  # type: ignore[no-untyped-def]
        return self.client.post(f"/fhir/{path}", json=body, headers=self.headers(user, **extra))

    def put(self, user: str, path: str, body: dict[str, Any], **extra: str):  # type: ignore[no-untyped-def]
        return self.client.put(f"/fhir/{path}", json=body, headers=self.headers(user, **extra))

    def seed(self, resource_type: str, resource_id: str, body: dict[str, Any]) -> None:
        """Store a resource directly (as a loader would), bypassing the access rules."""
        with self.runtime.transaction() as session:
            store.update(session, resource_type, resource_id, {**body, "id": resource_id})

    def events(self, **where: str) -> list:  # type: ignore[type-arg]
        with self.runtime.transaction() as session:
            return search_events(session, AuditFilter(**where), limit=1000)[0]


def organisation(code: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": ODS, "value": code}],
        "name": f"Organisation {code}",
    }


def _ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


@pytest.fixture
def world(app_client: TestClient, record_runtime: Runtime) -> World:
    tokens = {}
    with record_runtime.transaction() as session:
        for username, (roles, org) in STAFF.items():
            services.create_user(session, username, PASSWORD, roles, org, username)
            scopes = sorted(grants().permissions_of(roles))
            tokens[username] = services.create_token(session, username, scopes)
    w = World(app_client, record_runtime, tokens)
    for code, oid in ORGS.items():
        w.seed("Organization", oid, organisation(code))
    nhs = {"p1": "9434765919", "p2": "9434765870", "p3": "4010232137"}
    w.seed(
        "Patient", "p1", patient(nhs=nhs["p1"], generalPractitioner=[_ref("Organization", "org-a")])
    )
    w.seed(
        "Patient",
        "p2",
        patient(family="Jones", nhs=nhs["p2"], generalPractitioner=[_ref("Organization", "org-b")]),
    )
    w.seed("Patient", "p3", patient(family="Brown", nhs=nhs["p3"]))
    for pid in ("p1", "p2", "p3"):
        w.seed("Condition", f"{pid}-dm", condition(pid))
    w.seed(
        "EpisodeOfCare",
        "ep-open",
        {
            "resourceType": "EpisodeOfCare",
            "status": "active",
            "patient": _ref("Patient", "p1"),
            "managingOrganization": _ref("Organization", "org-h"),
        },
    )
    w.seed(
        "EpisodeOfCare",
        "ep-closed",
        {
            "resourceType": "EpisodeOfCare",
            "status": "finished",
            "patient": _ref("Patient", "p2"),
            "managingOrganization": _ref("Organization", "org-h"),
        },
    )
    w.seed(
        "ServiceRequest",
        "ref-1",
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "subject": _ref("Patient", "p1"),
            "performer": [_ref("Organization", "org-c")],
        },
    )
    w.seed(
        "CareTeam",
        "team-1",
        {
            "resourceType": "CareTeam",
            "status": "active",
            "subject": _ref("Patient", "p1"),
            "participant": [{"member": _ref("Organization", "org-t")}],
        },
    )
    return w


def assert_refused(response: Any, words: str) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "forbidden"
    assert words in body["issue"][0]["diagnostics"]


def test_registered_practice_sees_its_patient_and_another_practice_is_refused(
    world: World,
) -> None:
    assert world.get("gp_a", "Patient/p1").status_code == 200
    assert world.get("gp_a", "Condition/p1-dm").status_code == 200
    assert_refused(world.get("gp_b", "Condition/p1-dm"), "B81002 has no care relationship")
    denied = world.events(actor="gp_b", outcome="denied")
    assert [(e.action, e.record_id, e.detail["patient"]) for e in denied] == [
        ("record.read", "p1-dm", "p1")
    ]
    assert world.get("gp_b", "Patient/p2").status_code == 200  # registered at B81002


def test_open_episode_referral_and_care_team_give_a_relationship(world: World) -> None:
    assert world.get("hosp", "Condition/p1-dm").status_code == 200  # open episode
    assert_refused(world.get("hosp", "Condition/p2-dm"), "no care relationship")  # finished
    assert world.get("community", "Condition/p1-dm").status_code == 200  # active referral
    assert world.get("team", "Condition/p1-dm").status_code == 200  # active care team
    # When the referral is completed, the relationship ends.
    world.seed(
        "ServiceRequest",
        "ref-1",
        {
            "resourceType": "ServiceRequest",
            "status": "completed",
            "intent": "order",
            "subject": _ref("Patient", "p1"),
            "performer": [_ref("Organization", "org-c")],
        },
    )
    assert_refused(world.get("community", "Condition/p1-dm"), "no care relationship")
    assert len(world.events(actor="community", outcome="denied")) == 1


def test_writes_need_a_relationship_too(world: World) -> None:
    assert world.post("gp_a", "Condition", condition("p1")).status_code == 201
    assert_refused(world.post("gp_b", "Condition", condition("p1")), "no care relationship")
    # A new patient has no record to protect yet: anyone with record:write may create one.
    assert world.post("gp_b", "Patient", patient(family="New", nhs="9000000009")).status_code == 201


def test_a_plugged_in_relationship_source(world: World) -> None:
    """Care coordination will add the PCN's MDT caseload this way."""
    from sqlalchemy import literal

    def caseload(principal):  # type: ignore[no-untyped-def]
        if principal.organisation_code != "MDT01":
            return None
        return select(literal("p3"))

    assert_refused(world.get("mdt", "Condition/p3-dm"), "MDT caseload")
    relationships.register_relationship_source(caseload, "mdt-caseload")
    try:
        assert world.get("mdt", "Condition/p3-dm").status_code == 200
        assert_refused(world.get("mdt", "Condition/p1-dm"), "no care relationship")
    finally:
        relationships.unregister_relationship_source(caseload)


def test_searches_return_only_patients_with_a_relationship(world: World) -> None:
    # Confined to one patient without a relationship: refused (and audited) as a whole.
    assert_refused(world.get("gp_b", "Condition?patient=p1"), "no care relationship")
    assert world.events(actor="gp_b", action="record.search")[0].outcome == "denied"
    # Unscoped: restricted in SQL, so the total and paging count only what may be seen.
    found = world.get("gp_b", "Condition?_count=1").json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["id"] == "p2-dm"
    assert {e["resource"]["id"] for e in world.get("hosp", "Condition").json()["entry"]} == {
        "p1-dm"
    }
    patients = world.get("gp_a", "Patient?gender=female").json()
    assert [e["resource"]["id"] for e in patients["entry"]] == ["p1"]
    # Shared resources (organisations) are not in any patient's record.
    assert world.get("gp_b", "Organization").json()["total"] == len(ORGS)
    # _revinclude cannot reach into other patients' records.
    revinclude = world.get(
        "gp_b", "Organization?_id=org-a&_revinclude=Patient:general-practitioner"
    )
    assert [e["resource"]["id"] for e in revinclude.json()["entry"]] == ["org-a"]
    # $everything: the whole record with a relationship, refused without.
    assert world.get("gp_a", "Patient/p1/$everything").status_code == 200
    assert_refused(world.get("gp_b", "Patient/p1/$everything"), "no care relationship")


def test_break_glass_opens_the_record_for_eight_hours_and_is_flagged(world: World) -> None:
    reason = "Unconscious in A&E, no other history available"
    opened = world.get("gp_b", "Condition/p1-dm", **{"X-Break-Glass-Reason": reason})
    assert opened.status_code == 200
    flagged = world.events(actor="gp_b", action="record.break-glass")
    assert len(flagged) == 1 and flagged[0].reason == reason
    assert flagged[0].detail["access"] == "break-glass" and flagged[0].detail["patient"] == "p1"
    read = world.events(actor="gp_b", action="record.read")[0]
    assert read.outcome == "success" and read.reason == reason
    # Within the 8 hours: no reason needed again, searches include the patient, no new use.
    assert world.get("gp_b", "Condition/p1-dm").status_code == 200
    ids = {e["resource"]["id"] for e in world.get("gp_b", "Condition").json()["entry"]}
    assert ids == {"p1-dm", "p2-dm"}
    with world.runtime.transaction() as session:
        [use] = session.scalars(select(BreakGlass)).all()
        assert (use.username, use.patient_id, use.reviewed_at) == ("gp_b", "p1", None)
        assert use.expires_at - use.started_at == timedelta(hours=8)
        # ... and after them, the glass must be broken again.
        session.execute(update(BreakGlass).values(expires_at=db.utcnow() - timedelta(seconds=1)))
    assert_refused(world.get("gp_b", "Condition/p1-dm"), "break the glass")


def test_break_glass_needs_the_permission(world: World) -> None:
    refused = world.get("social", "Condition/p1-dm", **{"X-Break-Glass-Reason": "curious"})
    assert_refused(refused, "you may not break the glass")
    assert world.events(action="record.break-glass") == []
    assert world.events(actor="social", outcome="denied")[0].reason == "curious"


def _sensitive_condition(pid: str) -> dict[str, Any]:
    found = condition(pid)
    found["code"] = {"coding": [{"system": ICD10, "code": "A53.9"}]}  # syphilis, unspecified
    return found


def _share(pid: str, category: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": _ref("Patient", pid),
        "provision": {
            "type": "permit",
            "code": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category}]}],
        },
    }


def test_sensitive_information_is_sealed_to_the_recording_organisation(world: World) -> None:
    created = world.post("gp_a", "Condition", _sensitive_condition("p1"))
    assert created.status_code == 201
    sid = created.json()["id"]
    tags = created.json()["meta"]["tag"]
    assert {"system": RECORDED_BY_SYSTEM, "code": "A81001"} in tags
    assert world.get("gp_a", f"Condition/{sid}").status_code == 200
    # The hospital has a relationship with p1 but did not record it: sealed.
    assert_refused(world.get("hosp", f"Condition/{sid}"), "sexual-health) is sealed")
    assert world.events(actor="hosp", outcome="denied")[0].record_id == sid
    search = world.get("hosp", "Condition?patient=p1").json()
    assert [e["resource"]["id"] for e in search["entry"]] == ["p1-dm"] and search["total"] == 1
    everything = world.get("hosp", "Patient/p1/$everything").json()
    assert sid not in {e["resource"]["id"] for e in everything["entry"]}
    history = world.get("hosp", "Condition/_history").json()
    assert sid not in {e["resource"]["id"] for e in history["entry"]}
    # Break-glass opens the record, not sealed information.
    assert_refused(
        world.get("gp_b", f"Condition/{sid}", **{"X-Break-Glass-Reason": "emergency"}),
        "is sealed",
    )
    # The recorder survives an update by its own organisation (the first recorder is kept).
    body = {**_sensitive_condition("p1"), "id": sid, "meta": {"tag": []}}
    updated = world.put("gp_a", f"Condition/{sid}", body)
    assert {"system": RECORDED_BY_SYSTEM, "code": "A81001"} in updated.json()["meta"]["tag"]
    # The patient consents to share sexual-health information: now visible.
    assert world.post("gp_a", "Consent", _share("p1", "sexual-health")).status_code == 201
    assert world.get("hosp", f"Condition/{sid}").status_code == 200
    assert len(world.get("hosp", "Condition?patient=p1").json()["entry"]) == 2


def test_security_label_restricted_seals_too_and_consent_to_another_category_does_not_open(
    world: World,
) -> None:
    restricted = condition("p1", code="225444004")
    restricted["meta"] = {
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
        ]
    }
    rid = world.post("gp_a", "Condition", restricted).json()["id"]
    assert world.post("gp_a", "Consent", _share("p1", "gender-identity")).status_code == 201
    assert_refused(world.get("hosp", f"Condition/{rid}"), "restricted")
    # Another organisation's ordinary update keeps the original recorder.
    plain = {**condition("p1"), "id": "p1-dm"}
    with world.runtime.transaction() as session:
        store.update(
            session,
            "Condition",
            "p1-dm",
            {**plain, "meta": {"tag": [{"system": RECORDED_BY_SYSTEM, "code": "A81001"}]}},
        )
    assert world.put("hosp", "Condition/p1-dm", plain).status_code == 200
    tags = world.get("gp_a", "Condition/p1-dm").json()["meta"]["tag"]
    assert tags == [{"system": RECORDED_BY_SYSTEM, "code": "A81001"}]


def _dissent(pid: str) -> dict[str, Any]:
    found = _share(pid, "sexual-health")
    found["provision"] = {"type": "deny"}
    return found


def test_dissent_leaves_only_the_registered_practice_and_break_glass(world: World) -> None:
    assert world.get("hosp", "Condition/p1-dm").status_code == 200
    assert world.post("gp_a", "Consent", _dissent("p1")).status_code == 201
    assert_refused(world.get("hosp", "Condition/p1-dm"), "not shared beyond their registered")
    assert_refused(world.get("team", "Condition?patient=p1"), "not shared")
    assert "p1-dm" not in {
        e["resource"]["id"] for e in world.get("hosp", "Condition").json()["entry"]
    }
    assert world.get("gp_a", "Condition/p1-dm").status_code == 200
    glass = world.get("hosp", "Condition/p1-dm", **{"X-Break-Glass-Reason": "cardiac arrest"})
    assert glass.status_code == 200
    # Recording a consent is a write into the record: it needs a relationship too.
    assert_refused(world.post("social", "Consent", _dissent("p2")), "no care relationship")
