"""Bulk $export (FHIR Bulk Data Access, asynchronous): kick-off, polling, manifest, NDJSON files,
cancelling, `_type` and `_since`, the three levels, and the secondary-use rule: patients with
the national data opt-out or a recorded dissent are left out, and sensitive entries withheld."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from integrated_care.accounts import services
from integrated_care.accounts.audit import AuditFilter, search_events
from integrated_care.record import store
from integrated_care.record.consent import NATIONAL_OPT_OUT, OPT_OUT_SYSTEM, SCOPE_SYSTEM
from integrated_care.runtime import Runtime
from tests.record.conftest import FHIR_JSON, ODS, PASSWORD, condition, patient

ASYNC = {"Prefer": "respond-async", "Accept": FHIR_JSON}
NHS = {"a": "9434765919", "b": "9434765870", "c": "4010232137", "d": "9000000009"}


def _seed(runtime: Runtime, resource_type: str, resource_id: str, body: dict[str, Any]) -> None:
    with runtime.transaction() as session:
        store.update(session, resource_type, resource_id, {**body, "id": resource_id})


def _consent(patient_id: str, scope: str, deny: bool, category: str | None = None) -> dict:  # type: ignore[type-arg]
    body: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": SCOPE_SYSTEM, "code": scope}]},
        "category": [{"coding": [{"system": OPT_OUT_SYSTEM, "code": category or "privacy"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "provision": {"type": "deny" if deny else "permit"},
    }
    return body


@pytest.fixture
def record(record_runtime: Runtime) -> dict[str, list[str]]:
    """Four patients: a and b at practice C82001 (in PCN U1), c at C82001 with a recorded
    dissent, b with a national data opt-out, d at practice C82002 (no PCN). Each has a
    Condition; a also a sensitive one (HIV). The expected ids, per type, of a system export."""
    rt = record_runtime
    _seed(rt, "Organization", "U1", {"resourceType": "Organization", "name": "PCN U1"})
    for code, parent in (("C82001", "U1"), ("C82002", None)):
        org: dict[str, Any] = {
            "resourceType": "Organization",
            "identifier": [{"system": ODS, "value": code}],
            "name": f"Practice {code}",
        }
        if parent:
            org["partOf"] = {"reference": f"Organization/{parent}"}
        _seed(rt, "Organization", code, org)
    for pid, practice in (("a", "C82001"), ("b", "C82001"), ("c", "C82001"), ("d", "C82002")):
        gp = [{"reference": f"Organization/{practice}"}]
        _seed(rt, "Patient", pid, patient(family=pid.upper(), nhs=NHS[pid], generalPractitioner=gp))
        _seed(rt, "Condition", f"{pid}-dm", condition(pid))
    hiv = condition("a", code="86406008")
    _seed(rt, "Condition", "a-hiv", hiv)
    _seed(rt, "Consent", "b-ndop", _consent("b", "research", True, NATIONAL_OPT_OUT))
    _seed(rt, "Consent", "c-dissent", _consent("c", "patient-privacy", True))
    return {
        "Organization": ["C82001", "C82002", "U1"],
        "Patient": ["a", "d"],
        "Condition": ["a-dm", "d-dm"],
    }


@pytest.fixture
def exporter(record_runtime: Runtime, app_client: TestClient) -> TestClient:
    with record_runtime.transaction() as session:
        services.create_user(session, "exporter", PASSWORD, ["admin"], "QK1", "Exporter")
        token = services.create_token(session, "exporter", ["record:export"])
    app_client.headers.update({"Authorization": f"Bearer {token}"})
    return app_client


def _wait(client: TestClient, status_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = client.get(status_url)
        if response.status_code == 200:
            assert response.headers["content-type"].startswith("application/json")
            return response.json()
        assert response.status_code == 202, response.text
        assert response.headers["X-Progress"]
        time.sleep(0.05)
    raise AssertionError("the export did not finish in 30 s")


def _export(client: TestClient, path: str) -> dict[str, Any]:
    kick_off = client.get(path, headers=ASYNC)
    assert kick_off.status_code == 202, kick_off.text
    status_url = kick_off.headers["Content-Location"]
    assert "/fhir/$export-status/" in status_url
    return _wait(client, status_url)


def _files(client: TestClient, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for item in manifest["output"]:
        response = client.get(item["url"])
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [orjson.loads(line) for line in response.text.splitlines()]
        assert len(lines) == item["count"]
        assert {r["resourceType"] for r in lines} == {item["type"]}
        found[item["type"]] = lines
    return found


def _ids(files: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {t: sorted(r["id"] for r in rows) for t, rows in files.items()}


def test_system_export_leaves_out_opted_out_and_dissenting_patients(
    exporter: TestClient, record: dict[str, list[str]], record_runtime: Runtime
) -> None:
    manifest = _export(exporter, "/fhir/$export")
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/fhir/$export")
    assert manifest["transactionTime"].endswith("Z")
    assert manifest["error"] == []
    files = _files(exporter, manifest)
    # b (opt-out) and c (dissent) with their whole records, and the sensitive a-hiv, are out;
    # their Consents too (they are in b's and c's records).
    assert _ids(files) == record
    assert manifest["extension"]["https://fhir.integrated-care.nhs.uk/bulk-export/excluded"] == {
        "nationalDataOptOut": 1,
        "dissent": 1,
    }
    with record_runtime.transaction() as session:
        events, _ = search_events(session, AuditFilter(action="record.export"), limit=10)
    assert len(events) == 1
    detail = events[0].detail
    assert events[0].actor == "exporter" and events[0].outcome == "success"
    assert detail["by_type"] == {"Condition": 2, "Organization": 3, "Patient": 2}
    assert detail["patients_exported"] == 2
    assert detail["patients_excluded_national_opt_out"] == 1
    assert detail["patients_excluded_dissent"] == 1
    assert detail["sensitive_resources_withheld"] == 1


def test_the_capability_statement_declares_the_bulk_operations(exporter: TestClient) -> None:
    rest = exporter.get("/fhir/metadata").json()["rest"][0]
    assert {o["name"] for o in rest["operation"]} == {"export", "import"}


def test_files_need_the_requesters_token(
    exporter: TestClient, record: dict[str, list[str]], tokens: dict[str, str]
) -> None:
    manifest = _export(exporter, "/fhir/$export?_type=Patient")
    url = manifest["output"][0]["url"]
    anonymous = exporter.get(url, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.json()["resourceType"] == "OperationOutcome"
    gp = exporter.get(url, headers={"Authorization": f"Bearer {tokens['gp']}"})
    assert gp.status_code == 403
    assert "record:export" in gp.json()["issue"][0]["diagnostics"]


def test_type_and_since_narrow_the_export(
    exporter: TestClient, record: dict[str, list[str]], record_runtime: Runtime
) -> None:
    manifest = _export(exporter, "/fhir/$export?_type=Patient,Condition")
    assert sorted(o["type"] for o in manifest["output"]) == ["Condition", "Patient"]
    assert {o["type"]: o["count"] for o in manifest["output"]} == {"Condition": 2, "Patient": 2}
    time.sleep(0.01)
    cutoff = store.instant(store.now())
    time.sleep(0.01)
    _seed(record_runtime, "Condition", "d-copd", condition("d", code="13645005"))
    since = _export(exporter, f"/fhir/$export?_since={cutoff}")
    assert [(o["type"], o["count"]) for o in since["output"]] == [("Condition", 1)]
    assert _ids(_files(exporter, since)) == {"Condition": ["d-copd"]}


def test_patient_and_group_levels(exporter: TestClient, record: dict[str, list[str]]) -> None:
    patients = _ids(_files(exporter, _export(exporter, "/fhir/Patient/$export")))
    assert patients == {"Patient": ["a", "d"], "Condition": ["a-dm", "d-dm"]}
    # Group = an organisation's registered patients, the practices within a PCN included.
    pcn = _ids(_files(exporter, _export(exporter, "/fhir/Group/U1/$export")))
    assert pcn == {"Patient": ["a"], "Condition": ["a-dm"]}
    practice = _ids(_files(exporter, _export(exporter, "/fhir/Group/C82002/$export?_type=Patient")))
    assert practice == {"Patient": ["d"]}


def test_delete_cancels_and_removes_the_job(
    exporter: TestClient, record: dict[str, list[str]], record_runtime: Runtime
) -> None:
    kick_off = exporter.get("/fhir/$export", headers=ASYNC)
    status_url = kick_off.headers["Content-Location"]
    manifest = _wait(exporter, status_url)
    folder = record_runtime.settings.data_dir / "exports" / status_url.rsplit("/", 1)[1]
    assert sorted(p.name for p in folder.iterdir()) == [
        "Condition.ndjson",
        "Organization.ndjson",
        "Patient.ndjson",
    ]
    deleted = exporter.delete(status_url)
    assert deleted.status_code == 202
    assert exporter.get(status_url).status_code == 404
    assert exporter.get(manifest["output"][0]["url"]).status_code == 404
    assert not folder.exists()
    # Cancelled straight after the kick-off (running or not by then): gone, files and all.
    running = exporter.get("/fhir/$export", headers=ASYNC).headers["Content-Location"]
    assert exporter.delete(running).status_code == 202
    job_id = running.rsplit("/", 1)[1]
    for thread in threading.enumerate():
        if thread.name == f"export-{job_id}":
            thread.join(timeout=30)
    assert exporter.get(running).status_code == 404
    assert not (record_runtime.settings.data_dir / "exports" / job_id).exists()


BAD_REQUESTS = [
    ("/fhir/$export", {"Accept": FHIR_JSON}, 400, "Prefer: respond-async"),
    ("/fhir/$export?_type=Patient,Spaceship", ASYNC, 400, "Spaceship"),
    ("/fhir/Patient/$export?_type=Organization", ASYNC, 400, "not part of a patient's record"),
    ("/fhir/$export?_since=yesterday", ASYNC, 400, "_since must be a FHIR instant"),
    ("/fhir/$export?_outputFormat=text/csv", ASYNC, 400, "_outputFormat"),
    ("/fhir/$export?_typeFilter=x", {**ASYNC, "Prefer": "respond-async, handling=strict"}, 400,
     "not supported: _typeFilter"),
    ("/fhir/Group/NOPE/$export", ASYNC, 404, "no Group/NOPE"),
    ("/fhir/$export-status/not-a-job", {}, 404, "no export job"),
]  # fmt: skip


def test_bad_requests_are_refused_clearly_and_start_nothing(
    exporter: TestClient, record: dict[str, list[str]], record_runtime: Runtime
) -> None:
    for path, headers, status, words in BAD_REQUESTS:
        response = exporter.get(path, headers=headers)
        assert response.status_code == status, (path, response.text)
        body = response.json()
        assert body["resourceType"] == "OperationOutcome"
        assert words in body["issue"][0]["diagnostics"], path
    assert not (record_runtime.settings.data_dir / "exports").exists()


def test_only_record_export_may_export_and_refusals_are_audited(
    fhir: TestClient, record: dict[str, list[str]], record_runtime: Runtime
) -> None:
    response = fhir.get("/fhir/$export", headers=ASYNC)  # the GP: record:read, not export
    assert response.status_code == 403
    assert "record:export" in response.json()["issue"][0]["diagnostics"]
    with record_runtime.transaction() as session:
        events, _ = search_events(session, AuditFilter(action="record.export"), limit=10)
    assert [(e.actor, e.outcome) for e in events] == [("gp", "denied")]
