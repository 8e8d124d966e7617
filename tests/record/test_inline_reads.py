"""Where a FHIR read or search runs: on the event loop on SQLite when it is short (a read by
id, a search confined to a patient or ids), on a store thread otherwise; audited either way
before the answer goes out."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from integrated_care.accounts.models import AuditEvent
from integrated_care.record import service
from integrated_care.runtime import Runtime

PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
    "name": [{"family": "Inline", "given": ["Ada"]}],
    "birthDate": "1950-01-01",
}


@pytest.fixture
def where_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    threads: list[str] = []
    for name in ("read", "search_type"):
        real = getattr(service, name)

        def noting(*args, _real=real, **kwargs):  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread().name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(service, name, noting)
    return threads


def _store_thread(name: str) -> bool:
    return name.startswith("ics-store")


def test_short_reads_run_inline_on_sqlite_and_long_searches_on_a_thread(
    fhir: TestClient, record_runtime: Runtime, where_run: list[str]
) -> None:
    created = fhir.post(
        "/fhir/Patient", json=PATIENT, headers={"Content-Type": "application/fhir+json"}
    )
    assert created.status_code == 201, created.text
    patient = created.json()["id"]
    sqlite = record_runtime.engine.dialect.name == "sqlite"

    assert fhir.get(f"/fhir/Patient/{patient}").status_code == 200
    assert fhir.get(f"/fhir/Encounter?patient={patient}").status_code == 200
    assert fhir.get(f"/fhir/Patient?_id={patient}").status_code == 200
    assert fhir.get("/fhir/Patient?family=Inline").status_code == 200
    inline = [not _store_thread(name) for name in where_run]
    assert inline == ([True, True, True, False] if sqlite else [False] * 4)

    # Every one of them audited.
    with record_runtime.transaction() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.in_(["record.read", "record.search"]))
        ).all()
    assert sorted(actions) == ["record.read"] + ["record.search"] * 3
