"""Transaction bundles remember access facts per patient (access.AccessMemo) and insert new
resources together (store.deferring_inserts): later entries must still see what earlier ones
wrote, so a bundle that changes a registration, a relationship or a consent gets, for its later
entries, the decision it would get without the memo; and dissent, sealing and break-glass still
apply inside a bundle.

The users and patients are those of test_access_rules.py (p1 registered at A81001, with an open
episode at the hospital RXX; p2 registered at B81002)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from integrated_care.accounts.policy import Principal
from integrated_care.record import access, relationships, store
from integrated_care.record.access_models import BreakGlass
from integrated_care.record.models import RecordResource, SearchToken
from tests.record.conftest import condition, patient
from tests.record.test_access_rules import (
    World,
    _dissent,
    _ref,
    _sensitive_condition,
    _share,
    assert_refused,
    world,  # noqa: F401
)


def _transaction(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def _post(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": url}}


def _get(url: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": url}}


def _observation(subject: str, value: int = 120) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "271649006"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2026-03-01",
        "valueQuantity": {"value": value, "unit": "mm[Hg]"},
    }


def _stored(w: World, resource_type: str) -> int:
    with w.runtime.transaction() as session:
        return session.scalar(
            select(func.count())
            .select_from(RecordResource)
            .where(RecordResource.resource_type == resource_type)
        )


# --- later entries see earlier entries' writes -------------------------------------------------


def test_many_entries_for_the_same_patients_are_all_stored_and_audited(world: World) -> None:  # noqa: F811
    entries = [_post(_observation(f"Patient/{pid}", n)) for n in range(6) for pid in ("p1", "p3")]
    before = len(world.events(actor="gp_a", action="record.create"))
    reply = world.post("gp_a", "", _transaction(*entries[::2]))  # p1's only: registered there
    assert reply.status_code == 200, reply.text
    assert all(e["response"]["status"] == "201 Created" for e in reply.json()["entry"])
    assert _stored(world, "Observation") == 6
    events = world.events(actor="gp_a", action="record.create")
    assert len(events) - before == 6
    assert all(e.detail["bundle"] == "transaction" for e in events[:6])
    # p3 is registered nowhere: gp_a may not write into their record, the whole bundle fails.
    assert_refused(world.post("gp_a", "", _transaction(*entries)), "no care relationship")
    assert _stored(world, "Observation") == 6


def test_a_new_patient_registered_elsewhere_is_not_new_for_later_entries(world: World) -> None:  # noqa: F811
    # Creating a patient needs no relationship; once they are stored (registered at A81001),
    # the hospital's Observation for them needs one, as it would in two requests.
    new = patient(
        family="New", nhs="9434765870", generalPractitioner=[_ref("Organization", "org-a")]
    )
    bundle = _transaction(
        _post(new, "urn:uuid:11111111-1111-1111-1111-111111111111"),
        _post(_observation("urn:uuid:11111111-1111-1111-1111-111111111111")),
    )
    assert_refused(world.post("hosp", "", bundle), "no care relationship")
    assert _stored(world, "Patient") == 3
    # Registered at the hospital itself: the later entry is allowed.
    new["generalPractitioner"] = [_ref("Organization", "org-h")]
    reply = world.post("hosp", "", bundle)
    assert reply.status_code == 200, reply.text
    assert _stored(world, "Patient") == 4 and _stored(world, "Observation") == 1


def test_moving_the_registration_away_mid_bundle_refuses_later_entries(world: World) -> None:  # noqa: F811
    moved = patient(generalPractitioner=[_ref("Organization", "org-b")]) | {"id": "p1"}
    moved["identifier"][0]["value"] = "9434765919"
    obs = _observation("Patient/p1") | {"id": "obs-after-move"}
    assert_refused(world.post("gp_a", "", _transaction(_put(moved), _put(obs))), "no care")
    # Without the move the same entry is allowed (the memo remembered nothing wrong).
    assert world.post("gp_a", "", _transaction(_put(obs))).status_code == 200


def test_closing_the_episode_mid_bundle_ends_the_relationship(world: World) -> None:  # noqa: F811
    closed = {
        "resourceType": "EpisodeOfCare",
        "id": "ep-open",
        "status": "finished",
        "patient": _ref("Patient", "p1"),
        "managingOrganization": _ref("Organization", "org-h"),
    }
    obs = _observation("Patient/p1") | {"id": "obs-after-close"}
    assert_refused(world.post("hosp", "", _transaction(_put(closed), _put(obs))), "no care")
    assert world.post("hosp", "", _transaction(_put(obs))).status_code == 200


def test_dissent_recorded_mid_bundle_refuses_later_entries(world: World) -> None:  # noqa: F811
    bundle = _transaction(_post(_dissent("p1")), _post(_observation("Patient/p1")))
    assert_refused(world.post("hosp", "", bundle), "not shared beyond their registered practice")
    assert _stored(world, "Consent") == 0 and _stored(world, "Observation") == 0
    # The registered practice may still write both.
    assert world.post("gp_a", "", bundle).status_code == 200


def test_existing_dissent_refuses_inside_a_bundle(world: World) -> None:  # noqa: F811
    assert world.post("gp_a", "Consent", _dissent("p1")).status_code == 201
    bundle = _transaction(*(_post(_observation("Patient/p1", n)) for n in range(3)))
    assert_refused(world.post("hosp", "", bundle), "not shared beyond their registered practice")
    assert world.post("gp_a", "", bundle).status_code == 200


def test_sealed_information_inside_a_bundle_and_consent_given_mid_bundle(world: World) -> None:  # noqa: F811
    sealed = _transaction(_post(_observation("Patient/p1")), _post(_sensitive_condition("p1")))
    assert_refused(world.post("hosp", "", sealed), "is sealed")
    assert _stored(world, "Observation") == 0
    # The patient's consent to share that category, recorded earlier in the same bundle.
    shared = _transaction(_post(_share("p1", "sexual-health")), _post(_sensitive_condition("p1")))
    reply = world.post("hosp", "", shared)
    assert reply.status_code == 200, reply.text
    # Consent to another category does not open it.
    other = _transaction(_post(_share("p1", "gender-identity")), _post(_sensitive_condition("p2")))
    assert_refused(world.post("hosp", "", other), "no care relationship")


def test_break_glass_in_a_bundle_is_started_once(world: World) -> None:  # noqa: F811
    bundle = _transaction(*(_post(_observation("Patient/p2", n)) for n in range(3)))
    assert_refused(world.post("hosp", "", bundle), "break the glass")
    glass = world.post("hosp", "", bundle, **{"X-Break-Glass-Reason": "unconscious in A&E"})
    assert glass.status_code == 200, glass.text
    with world.runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(BreakGlass)) == 1


def test_a_search_in_the_bundle_finds_what_its_creates_stored(world: World) -> None:  # noqa: F811
    bundle = _transaction(
        _post(_observation("Patient/p1", 1)),
        _post(_observation("Patient/p1", 2)),
        _get("Observation?subject=Patient/p1"),
    )
    reply = world.post("gp_a", "", bundle)
    assert reply.status_code == 200, reply.text
    found = reply.json()["entry"][2]["resource"]
    assert found["total"] == 2
    created = {e["resource"]["id"] for e in reply.json()["entry"][:2]}
    assert {e["resource"]["id"] for e in found["entry"]} == created
    with world.runtime.transaction() as session:  # indexed too
        codes = session.scalars(
            select(SearchToken.resource_id).where(
                SearchToken.resource_type == "Observation", SearchToken.param == "code"
            )
        )
        assert set(codes) == created


def test_a_failing_entry_after_held_back_creates_stores_nothing(world: World) -> None:  # noqa: F811
    bad = _observation("Patient/p1") | {"notAnElement": 1}
    bundle = _transaction(*(_post(_observation("Patient/p1", n)) for n in range(3)), _post(bad))
    assert world.post("gp_a", "", bundle).status_code == 422
    assert _stored(world, "Observation") == 0
    with world.runtime.transaction() as session:
        assert not list(
            session.scalars(select(SearchToken).where(SearchToken.resource_type == "Observation"))
        )


# --- the memo and the held-back inserts on their own -------------------------------------------

PRINCIPAL = Principal(1, "u", "U", frozenset({"clinician"}), "A81001", "A")


def test_the_memo_knows_which_writes_change_its_facts() -> None:
    read = relationships.resource_types_read(PRINCIPAL)
    assert read is not None
    assert {"Patient", "Organization", "EpisodeOfCare", "ServiceRequest", "CareTeam"} <= read
    memo = access.AccessMemo(PRINCIPAL, ["p1"])
    assert memo.types_read is not None and "Consent" in memo.types_read
    memo._facts["registered"] = {"p1": True}
    memo.wrote("Observation")
    assert memo._facts
    for kind in ("Consent", "Patient", "EpisodeOfCare", "CareTeam", "ServiceRequest"):
        memo._facts["registered"] = {"p1": True}
        memo.wrote(kind)
        assert not memo._facts, kind


def test_a_source_that_does_not_name_its_types_makes_every_write_count() -> None:
    def any_resource(principal: Principal):  # type: ignore[no-untyped-def]
        return select(RecordResource.patient_id).where(RecordResource.deleted.is_(False))

    relationships.register_relationship_source(any_resource, "any")
    try:
        assert relationships.resource_types_read(PRINCIPAL) is None
        memo = access.AccessMemo(PRINCIPAL, [])
        memo._facts["registered"] = {"p1": True}
        memo.wrote("Observation")
        assert not memo._facts
    finally:
        relationships.unregister_relationship_source(any_resource)


def test_held_back_creates_are_read_back_and_immediate_types_are_not_held(world: World) -> None:  # noqa: F811
    with (
        world.runtime.transaction() as session,
        store.deferring_inserts(session, immediate=frozenset({"Patient"})),
    ):
        version = store.create(session, "Condition", condition("p1"))
        assert session.info[store._PENDING].rows.resources  # held back
        assert store.current(session, "Condition", version.id) is not None  # flushed
        store.create(session, "Condition", condition("p1"))
        store.create(session, "Patient", patient(nhs="4010232137"))  # flushes the rest
        assert not session.info[store._PENDING].rows.resources
    assert _stored(world, "Condition") == 5 and _stored(world, "Patient") == 4
