"""Reads and searches are audited through the group commit: each answer is sent only once its
audit event is stored, concurrent requests share a transaction, the chain stays whole, and a
read whose event cannot be stored answers 500 without the data."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from integrated_care.accounts import audit
from integrated_care.accounts.audit import AuditFilter, search_events, verify_chain
from integrated_care.accounts.models import AuditEvent
from integrated_care.record import service
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime
from tests.record.conftest import FHIR_JSON, condition, patient, post


def _count(runtime: Runtime, **where: str) -> int:
    with runtime.transaction() as session:
        return search_events(session, AuditFilter(**where), limit=1)[1]


def test_a_read_answers_only_after_its_event_is_stored(
    fhir: TestClient, record_runtime: Runtime, gp_caller: Caller
) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    before = _count(record_runtime, action="record.read")
    reply = service.read(record_runtime, gp_caller, "Patient", pid)
    assert reply.status == 200
    # Seen at once from another session: committed before the reply was returned.
    assert _count(record_runtime, action="record.read") == before + 1


def test_concurrent_reads_share_commits_and_keep_the_chain(
    fhir: TestClient,
    record_runtime: Runtime,
    gp_caller: Caller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    cid = post(fhir, "Condition", condition(pid)).json()["id"]
    batches: list[int] = []
    insert_rows = audit._insert_rows

    def slow_insert(session: Any, events: Any) -> None:
        batches.append(len(events))
        time.sleep(0.2)  # the first batch is slow: the other readers queue up behind it
        insert_rows(session, events)

    monkeypatch.setattr(audit, "_insert_rows", slow_insert)
    start = threading.Barrier(8)

    def read(n: int) -> int:
        start.wait()
        kind, rid = ("Patient", pid) if n % 2 else ("Condition", cid)
        return service.read(record_runtime, gp_caller, kind, rid).status

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(read, range(8))) == [200] * 8
    assert sum(batches) == 8 and len(batches) < 8  # shared transactions
    assert _count(record_runtime, action="record.read") == 8
    with record_runtime.transaction() as session:
        assert verify_chain(session).ok
        ids = session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
    assert ids == list(range(1, len(ids) + 1))


def test_a_read_that_cannot_be_audited_is_not_answered(
    fhir: TestClient, record_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = post(fhir, "Patient", patient(family="Unseen")).json()["id"]
    with record_runtime.transaction() as session:
        events_before = session.scalar(select(func.count()).select_from(AuditEvent))

    def broken(session: Any, events: Any) -> None:
        raise RuntimeError("the audit store is full")

    monkeypatch.setattr(audit, "_insert_rows", broken)
    for path in (f"/fhir/Patient/{pid}", f"/fhir/Patient?_id={pid}"):
        response = fhir.get(path)
        assert response.status_code == 500, path
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "Unseen" not in response.text
    monkeypatch.undo()
    with record_runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == events_before
    assert fhir.get(f"/fhir/Patient/{pid}").status_code == 200


def test_refusals_are_audited_through_the_group_commit(
    app_client: TestClient, tokens: dict[str, str], record_runtime: Runtime
) -> None:
    headers = {"Authorization": f"Bearer {tokens['analyst']}", "Accept": FHIR_JSON}
    assert app_client.get("/fhir/Patient/anyone", headers=headers).status_code == 403
    assert _count(record_runtime, actor="analyst", action="record.read", outcome="denied") == 1
