"""The referral lifecycle against a real store: the record's ServiceRequest and Task, the status
history, the relationship a referral gives, refusals that store nothing, and the audit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from integrated_care.accounts.models import AuditEvent
from integrated_care.coordination import referrals as ref
from integrated_care.coordination.referral_models import Referral, ReferralEvent
from integrated_care.record import service
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime
from tests.coordination.referral_support import (
    AGE_UK,
    PRACTICE,
    World,
    build_world,
    cheap_password_hashing,  # noqa: F401
)


@pytest.fixture
def world(runtime: Runtime) -> World:
    return build_world(runtime)


def _new(w: World, **changes) -> ref.NewReferral:  # type: ignore[no-untyped-def]
    fields = {
        "patient_id": w.patient_id,
        "service_id": w.social_prescribing,
        "reason": "Lives alone since her husband died; lonely and not going out",
        "urgency": "routine",
        "consent": True,
        "consent_note": "Agreed in surgery",
    }
    return ref.NewReferral(**{**fields, **changes})


def _resource(w: World, resource_type: str, resource_id: str) -> dict:  # type: ignore[type-arg]
    reply = service.read(w.runtime, Caller(w.principals["gp"]), resource_type, resource_id)
    assert reply.status == 200, reply.json()
    return reply.json()


def _opens_record(w: World, username: str) -> int:
    caller = Caller(w.principals[username])
    return service.read(w.runtime, caller, "Patient", w.patient_id).status


def _counts(w: World) -> tuple[int, int]:
    with w.runtime.sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Referral)),
            s.scalar(select(func.count()).select_from(ReferralEvent)),
        )  # type: ignore[return-value]


def test_a_referral_is_a_service_request_and_task_in_the_record(world: World) -> None:
    gp, worker = world.principals["gp"], world.principals["linkworker"]
    r = ref.create_referral(world.runtime, gp, _new(world))
    assert (r.status, r.from_org_code, r.to_org_code) == ("requested", PRACTICE, AGE_UK)
    assert (r.nhs_number, r.patient_name) == ("9434765919", "Margaret Shaw")

    request = _resource(world, "ServiceRequest", r.service_request_id)
    assert request["status"] == "active"
    assert request["subject"] == {"reference": f"Patient/{world.patient_id}"}
    assert request["performer"][0]["reference"] == f"Organization/{AGE_UK}"
    assert request["requester"]["reference"] == f"Organization/{PRACTICE}"
    assert request["code"]["text"] == "Social prescribing link workers"
    assert "consented" in request["note"][0]["text"]
    task = _resource(world, "Task", r.task_id)
    assert (task["status"], task["focus"]["reference"]) == (
        "requested",
        f"ServiceRequest/{r.service_request_id}",
    )
    # indexed like any resource: found by patient, performer, focus and status
    for resource_type, query in (
        ("Task", [("patient", world.patient_id), ("status", "requested")]),
        ("Task", [("focus", f"ServiceRequest/{r.service_request_id}")]),
        ("ServiceRequest", [("performer", f"Organization/{AGE_UK}"), ("status", "active")]),
    ):
        found = service.search_type(world.runtime, Caller(gp), resource_type, query).json()
        assert found["total"] == 1, (resource_type, query)
    # the voluntary organisation was not in the record: it was added from the footprint
    assert _resource(world, "Organization", AGE_UK)["name"] == "Age UK Charnwood"

    ref.change_status(world.runtime, worker, r.id, "accept", "Link worker to call this week")
    assert _resource(world, "Task", r.task_id)["status"] == "accepted"
    done = ref.change_status(
        world.runtime, worker, r.id, "complete", "Joined the walking group and lunch club"
    )
    assert done.outcome == "Joined the walking group and lunch club"
    assert _resource(world, "ServiceRequest", r.service_request_id)["status"] == "completed"
    task = _resource(world, "Task", r.task_id)
    assert task["status"] == "completed"
    assert task["output"][0]["valueString"] == "Joined the walking group and lunch club"

    with world.runtime.sessions() as s:
        steps = [(e.from_status, e.to_status, e.by, e.by_org_code) for e in ref.history(s, r.id)]
    assert steps == [
        (None, "requested", "gp", PRACTICE),
        ("requested", "accepted", "linkworker", AGE_UK),
        ("accepted", "completed", "linkworker", AGE_UK),
    ]


def test_the_receiving_organisation_sees_the_record_only_while_the_referral_is_open(
    world: World,
) -> None:
    gp, worker = world.principals["gp"], world.principals["linkworker"]
    assert _opens_record(world, "linkworker") == 403
    r = ref.create_referral(world.runtime, gp, _new(world))
    assert _opens_record(world, "linkworker") == 200  # requested: to triage (docs/coordination.md)
    ref.change_status(world.runtime, worker, r.id, "accept")
    assert _opens_record(world, "linkworker") == 200
    assert _opens_record(world, "adviser") == 403  # another voluntary organisation
    ref.change_status(world.runtime, worker, r.id, "complete", "Seen twice; now in a choir")
    assert _opens_record(world, "linkworker") == 403


def test_a_declined_referral_ends_the_relationship_and_keeps_the_reason(world: World) -> None:
    r = ref.create_referral(world.runtime, world.principals["gp"], _new(world))
    worker = world.principals["linkworker"]
    ref.change_status(world.runtime, worker, r.id, "decline", "Lives outside our area")
    assert _resource(world, "ServiceRequest", r.service_request_id)["status"] == "revoked"
    task = _resource(world, "Task", r.task_id)
    assert (task["status"], task["statusReason"]["text"]) == ("rejected", "Lives outside our area")
    assert _opens_record(world, "linkworker") == 403


REFUSED_CHANGES = [
    # (who, action, note, status, words in the message)
    ("linkworker", "complete", "done", 409, "is requested: it cannot be completed"),
    ("gp", "accept", None, 403, "only the receiving organisation (VQK101) may accept"),
    ("linkworker", "decline", "  ", 422, "give a reason to decline"),
    ("adviser", "accept", None, 403, "you act for VQK104"),
    ("linkworker", "discharge", None, 404, "no action 'discharge'"),
]


def test_invalid_transitions_are_refused_with_a_clear_message(world: World) -> None:
    r = ref.create_referral(world.runtime, world.principals["gp"], _new(world))
    before = _counts(world)
    for who, action, note, status, words in REFUSED_CHANGES:
        with pytest.raises(ref.ReferralError) as refused:
            ref.change_status(world.runtime, world.principals[who], r.id, action, note)
        assert (refused.value.status, words in str(refused.value)) == (status, True), action
    assert _counts(world) == before
    assert _resource(world, "Task", r.task_id)["status"] == "requested"


def test_a_closed_referral_cannot_be_accepted(world: World) -> None:
    gp, worker = world.principals["gp"], world.principals["linkworker"]
    r = ref.create_referral(world.runtime, gp, _new(world))
    ref.change_status(world.runtime, gp, r.id, "withdraw", "Patient moved away")
    with pytest.raises(ref.ReferralError, match="is withdrawn: it cannot be accepted"):
        ref.change_status(world.runtime, worker, r.id, "accept")


BAD_REFERRALS = [
    ({"consent": False}, "consent: record that the patient has agreed"),
    ({"reason": "   "}, "reason: say why"),
    ({"urgency": "soonish"}, "urgency: 'soonish' is not one of"),
    ({"service_id": 99999}, "there is no service 99999"),
]


def test_bad_referrals_store_nothing(world: World) -> None:
    for changes, words in BAD_REFERRALS:
        with pytest.raises(ref.ReferralError, match=words):
            ref.create_referral(world.runtime, world.principals["gp"], _new(world, **changes))
    assert _counts(world) == (0, 0)
    search = service.search_type(
        world.runtime, Caller(world.principals["gp"]), "ServiceRequest", []
    )
    assert search.json()["total"] == 0


def test_a_service_not_accepting_refuses_referrals(world: World) -> None:
    with pytest.raises(ref.ReferralError, match="not accepting referrals") as refused:
        ref.create_referral(
            world.runtime, world.principals["gp"], _new(world, service_id=world.closed_service)
        )
    assert refused.value.status == 409


def test_only_people_one_cares_for_can_be_referred(world: World) -> None:
    """The adviser has no care relationship with the patient: the record refuses the
    ServiceRequest, and nothing of the referral is kept."""
    with pytest.raises(ref.ReferralError, match="record refused") as refused:
        ref.create_referral(world.runtime, world.principals["adviser"], _new(world))
    assert refused.value.status == 403
    assert _counts(world) == (0, 0)


def test_referrals_are_seen_only_by_the_two_organisations(world: World) -> None:
    gp, worker, adviser = (world.principals[u] for u in ("gp", "linkworker", "adviser"))
    r = ref.create_referral(world.runtime, gp, _new(world))
    with world.runtime.sessions() as s:
        assert [x.id for x in ref.list_referrals(s, gp, "outbox")] == [r.id]
        assert ref.list_referrals(s, gp, "inbox") == []
        assert [x.id for x in ref.list_referrals(s, worker, "inbox", "open")] == [r.id]
        assert ref.list_referrals(s, worker, "inbox", "completed") == []
        assert ref.list_referrals(s, adviser, "inbox") == []
        assert ref.get_referral(s, worker, r.id).id == r.id
        with pytest.raises(ref.ReferralError, match="between C82001 and VQK101") as refused:
            ref.get_referral(s, adviser, r.id)
        assert refused.value.status == 403


def test_the_status_history_is_append_only(world: World) -> None:
    ref.create_referral(world.runtime, world.principals["gp"], _new(world))
    with pytest.raises(DatabaseError, match="append-only"), world.runtime.transaction() as s:
        s.execute(text("UPDATE coord_referral_event SET note = 'rewritten'"))


def test_every_step_is_audited_with_the_patient(world: World) -> None:
    r = ref.create_referral(world.runtime, world.principals["gp"], _new(world))
    ref.change_status(world.runtime, world.principals["linkworker"], r.id, "accept")
    with world.runtime.sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.id > 0)).all()
    ours = [(e.actor, e.action, e.record_type) for e in events]
    patients = {e.action: (e.detail or {}).get("patient") for e in events}
    assert patients["coordination.referral.create"] == world.patient_id
    assert ("gp", "coordination.referral.create", "coord_referral") in ours
    assert ("gp", "record.read", "Patient") in ours
    assert ("linkworker", "coordination.referral.accept", "coord_referral") in ours
    assert ("linkworker", "record.update", "ServiceRequest") in ours
    created = {e.record_type for e in events if e.action == "record.create" and e.actor == "gp"}
    assert {"ServiceRequest", "Task", "Organization"} <= created
