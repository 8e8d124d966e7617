"""MDT worklists against the real store and the hand-made cohort marts: who may re-identify a
cohort (and that every attempt is audited), that a worklist holds exactly the cohort's members
in the PCN (worked out by hand from tests/health/test_cohorts_population.py), working an entry,
and the MDT caseload relationship in the record's one access decision."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from integrated_care.accounts.models import AuditEvent
from integrated_care.coordination import mdt
from integrated_care.coordination.mdt_models import MdtWorklist, MdtWorklistEntry
from integrated_care.record.access import authorise
from tests.coordination.mdt_support import (
    NOT_IN_RECORD,
    World,
    cheap_password_hashing,  # noqa: F401 - an autouse fixture
    open_world,
    patient_id,
)
from tests.health.test_cohorts_population import EXPECTED, PCN, PRACTICE

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture
def world(backend, db_templates, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    yield from open_world(backend, db_templates, tmp_path_factory)


def in_pcn(cohort: str, pcn: str) -> set[int]:
    """The cohort's members registered in the PCN, from the hand-worked tables."""
    return {p for p in EXPECTED[cohort] if PCN[PRACTICE[p]] == pcn}


def make(w: World, user: str, cohort: str, pcn: str = "U00001") -> MdtWorklist:
    with w.runtime.transaction() as session:
        found = mdt.create_worklist(session, w.runtime.settings, w.principals[user], cohort, pcn)
        session.expunge(found)
        return found


def entries(w: World, worklist_id: int) -> list[MdtWorklistEntry]:
    with w.runtime.sessions() as session:
        found = mdt.worklist_entries(session, worklist_id)
        session.expunge_all()
        return found


def audit(w: World, action: str) -> list[AuditEvent]:
    with w.runtime.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def api(w: World, user: str) -> TestClient:
    return w.client(user)


# ---- the worklist is the cohort in the PCN -----------------------------------------------------


@pytest.mark.parametrize("cohort", sorted(EXPECTED))
def test_worklist_members_are_the_cohort_in_the_pcn(world: World, cohort: str) -> None:
    expected = in_pcn(cohort, "U00001")
    worklist = make(world, "gp_a1", cohort)
    found = {e.patient_id for e in entries(world, worklist.id)}
    in_record = {patient_id(p) for p in expected if p != NOT_IN_RECORD}
    assert found == in_record
    assert worklist.cohort_members == len(expected)
    assert worklist.as_of == dt.date(2026, 3, 31)
    assert {e.practice_code for e in entries(world, worklist.id)} <= {"A00001", "A00002"}
    event = audit(world, "mdt.reidentify")[-1]
    assert (event.actor, event.outcome, event.record_id) == ("gp_a1", "success", str(worklist.id))
    assert event.detail["cohort"] == cohort
    assert event.detail["pcn"] == "U00001"
    assert (event.detail["cohort_members"], event.detail["reidentified"]) == (
        len(expected),
        len(in_record),
    )


def test_hand_count_of_the_pcn_members() -> None:
    # Read off the table: frailty 1 (A00001) and 3 (A00002); SMI 21 (A00001), 22 (A00002);
    # B00001's people (7, 13, 16, 24, 34, 36) belong to PCN U00002.
    assert in_pcn("severe-frailty-no-medication-review", "U00001") == {1, 3}
    assert in_pcn("smi-no-health-check", "U00001") == {21, 22}
    assert in_pcn("top-risk-not-seen-6-months", "U00002") == {34, 36}


def test_the_other_pcn_gets_its_own_patients(world: World) -> None:
    worklist = make(world, "gp_b1", "top-risk-not-seen-6-months", "U00002")
    assert {e.patient_id for e in entries(world, worklist.id)} == {"p34", "p36"}


# ---- who may re-identify -----------------------------------------------------------------------


def test_reidentification_outside_the_pcn_is_refused_and_audited(world: World) -> None:
    reply = api(world, "gp_b1").post(
        "/api/mdt/worklists", json={"cohort": "smi-no-health-check", "pcn": "U00001"}
    )
    assert reply.status_code == 403
    assert "U00001" in reply.json()["detail"]
    refused = audit(world, "mdt.reidentify")
    assert [(e.actor, e.outcome) for e in refused] == [("gp_b1", "denied")]
    assert "only members of PCN U00001's MDT" in refused[0].reason
    with world.runtime.sessions() as session:
        assert session.scalars(select(MdtWorklist)).all() == []


def test_the_pcn_clinical_director_is_on_its_mdt(world: World) -> None:
    worklist = make(world, "director", "severe-frailty-no-medication-review")
    assert {e.patient_id for e in entries(world, worklist.id)} == {"p1", "p3"}


def test_reidentification_needs_the_permission(world: World) -> None:
    # A care professional at a practice of the PCN may work a list but not make one.
    reply = api(world, "carer_a1").post(
        "/api/mdt/worklists", json={"cohort": "smi-no-health-check"}
    )
    assert reply.status_code == 403
    assert "analytics:reidentify" in reply.json()["detail"]
    assert [e.outcome for e in audit(world, "mdt.reidentify")] == ["denied"]


def test_reidentification_inside_the_pcn_over_the_api(world: World) -> None:
    reply = api(world, "gp_a2").post(
        "/api/mdt/worklists", json={"cohort": "smi-no-health-check", "title": "SMI checks"}
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["pcn_code"], body["title"], body["cohort_members"]) == ("U00001", "SMI checks", 2)
    assert body["status_counts"] == {"open": 1, "in_progress": 0, "done": 0}  # 22 has no record
    shown = api(world, "gp_a1").get(f"/api/mdt/worklists/{body['id']}").json()
    assert [e["patient_id"] for e in shown["entries"]] == ["p21"]
    assert shown["entries"][0]["nhs_number"] is not None
    # The other PCN's GP cannot see it (and is audited).
    assert api(world, "gp_b1").get(f"/api/mdt/worklists/{body['id']}").status_code == 403
    assert audit(world, "mdt.refused")[-1].actor == "gp_b1"


def test_an_unknown_cohort_is_named_and_nothing_stored(world: World) -> None:
    reply = api(world, "gp_a1").post("/api/mdt/worklists", json={"cohort": "no-such-cohort"})
    assert reply.status_code == 422
    assert "no cohort named 'no-such-cohort'" in reply.json()["detail"]
    with world.runtime.sessions() as session:
        assert session.scalars(select(MdtWorklist)).all() == []


# ---- working an entry --------------------------------------------------------------------------


def test_discuss_assign_and_mark_done(world: World) -> None:
    worklist = make(world, "gp_a1", "severe-frailty-no-medication-review")
    first, second = entries(world, worklist.id)
    client = api(world, "gp_a2")
    url = f"/api/mdt/entries/{first.id}"
    assert client.post(f"{url}/notes", json={"note": "Lives alone; falls"}).status_code == 201
    due = (TODAY + dt.timedelta(days=14)).isoformat()
    body = {"action": "Structured medication review", "owner": "gp_a1", "due_date": due}
    assigned = client.post(f"{url}/assign", json=body)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["entry"]["owner"] == "gp_a1"
    done = client.post(f"{url}/status", json={"status": "done"}).json()
    assert done["entry"]["status"] == "done"
    assert [h["kind"] for h in done["history"]] == ["added", "discussed", "assigned", "status"]
    assert [h["status"] for h in done["history"]] == ["open", "in_progress", "in_progress", "done"]

    detail = client.get(f"/api/mdt/worklists/{worklist.id}").json()
    assert detail["status_counts"] == {"open": 1, "in_progress": 0, "done": 1}
    assert detail["actions_by_owner"] == [{"owner": "gp_a1", "status": "Done", "actions": 1}]
    progress = client.get("/api/mdt/progress").json()
    today = [r for r in progress if r["date"] == TODAY.isoformat()]
    assert {(r["state"], r["patients"]) for r in today} == {("Done", 1), ("Still to finish", 1)}
    assert second.status == "open"


def test_bad_actions_are_named_and_change_nothing(world: World) -> None:
    worklist = make(world, "gp_a1", "severe-frailty-no-medication-review")
    entry = entries(world, worklist.id)[0]
    client = api(world, "gp_a1")
    url = f"/api/mdt/entries/{entry.id}"
    past = (TODAY - dt.timedelta(days=1)).isoformat()
    reply = client.post(f"{url}/assign", json={"action": "x", "owner": "gp_a1", "due_date": past})
    assert reply.status_code == 422 and "due_date" in reply.json()["detail"]
    reply = client.post(f"{url}/assign", json={"action": "x", "owner": "nobody"})
    assert reply.status_code == 422 and "'nobody' is not an active user" in reply.json()["detail"]
    reply = client.post(f"{url}/status", json={"status": "finished"})
    assert reply.status_code == 422 and "status" in reply.json()["detail"]
    after = client.get(url).json()
    assert (after["entry"]["status"], after["entry"]["action"]) == ("open", None)
    assert [h["kind"] for h in after["history"]] == ["added"]


def test_the_history_cannot_be_rewritten(world: World) -> None:
    make(world, "gp_a1", "severe-frailty-no-medication-review")
    with pytest.raises(DBAPIError, match="append-only"), world.runtime.transaction() as session:
        session.execute(text("UPDATE mdt_entry_event SET note = 'changed'"))


# ---- the MDT caseload relationship -------------------------------------------------------------


def may_read(w: World, user: str, patient: str) -> tuple[bool, str]:
    with w.runtime.transaction() as session:
        decision = authorise(w.principals[user], "read", "Patient", patient, session=session)
        return decision.allowed, decision.reason


def test_caseload_opens_listed_records_to_the_pcn_while_open(world: World) -> None:
    # Person 1 is registered at A00001 and on the frailty list; person 10 is at A00001 and not.
    assert not may_read(world, "gp_a2", "p1")[0]
    worklist = make(world, "gp_a1", "severe-frailty-no-medication-review")
    allowed, why = may_read(world, "gp_a2", "p1")
    assert allowed and "mdt-caseload" in why
    assert not may_read(world, "gp_a2", "p10")[0]  # not on the list
    assert may_read(world, "director", "p1")[0]  # acting for the PCN itself
    assert not may_read(world, "gp_b1", "p1")[0]  # another PCN's practice
    assert not may_read(world, "nurse", "p1")[0]  # not a practice of the PCN
    entry = next(e for e in entries(world, worklist.id) if e.patient_id == "p1")
    with world.runtime.transaction() as session:
        mdt.set_status(session, mdt.Actor("gp_a1", "A00001"), entry.id, "done")
    assert not may_read(world, "gp_a2", "p1")[0]  # the work is done: the relationship ends
    assert may_read(world, "gp_a1", "p1")[0]  # the registered practice, always
