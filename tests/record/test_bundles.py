"""Transaction bundles are all-or-nothing with urn:uuid references rewritten; batches are not."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from integrated_care.record.models import (
    RecordResource,
    RecordResourceHistory,
    SearchReference,
    SearchToken,
)
from integrated_care.runtime import Runtime
from tests.record.conftest import NHS, condition, patient, post

PATIENT_URN = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"


def _bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _post_entry(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict:  # type: ignore[type-arg]
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _counts(runtime: Runtime) -> tuple[int, int, int, int]:
    with runtime.transaction() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(t))
            for t in (RecordResource, RecordResourceHistory, SearchToken, SearchReference)
        )


def test_transaction_rewrites_urn_uuid_references(fhir: TestClient) -> None:
    bundle = _bundle(
        "transaction",
        _post_entry(
            condition(PATIENT_URN.removeprefix("urn:uuid:"))
            | {"subject": {"reference": PATIENT_URN}}
        ),
        _post_entry(patient(), PATIENT_URN, ifNoneExist=f"identifier={NHS}|9434765919"),
    )
    response = post(fhir, "", bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    condition_id = result["entry"][0]["resource"]["id"]
    patient_id = result["entry"][1]["resource"]["id"]
    stored = fhir.get(f"/fhir/Condition/{condition_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{patient_id}"
    assert [
        e["resource"]["id"]
        for e in fhir.get(f"/fhir/Condition?patient={patient_id}").json()["entry"]
    ] == [condition_id]
    # The same bundle again: the patient exists (ifNoneExist), so only a new condition is made
    # and it points at the existing patient.
    again = post(fhir, "", bundle).json()
    assert [e["response"]["status"] for e in again["entry"]] == ["201 Created", "200 OK"]
    assert again["entry"][1]["resource"]["id"] == patient_id
    assert fhir.get(f"/fhir/Condition?patient={patient_id}").json()["total"] == 2


def test_transaction_with_one_invalid_entry_stores_nothing(
    fhir: TestClient, record_runtime: Runtime
) -> None:
    existing = post(fhir, "Patient", patient()).json()
    before = _counts(record_runtime)
    bad = condition("x")
    bad["onsetDateTime"] = "not-a-date"
    bundle = _bundle(
        "transaction",
        _post_entry(patient(family="New", nhs="4010232137"), PATIENT_URN),
        _post_entry(condition("placeholder") | {"subject": {"reference": PATIENT_URN}}),
        {
            "request": {"method": "PUT", "url": f"Patient/{existing['id']}"},
            "resource": {**patient(family="Changed"), "id": existing["id"]},
        },
        {"request": {"method": "DELETE", "url": f"Patient/{existing['id']}"}},
        _post_entry(bad),
    )
    response = post(fhir, "", bundle)
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Bundle.entry[4]" in outcome["issue"][0]["diagnostics"]
    assert "Condition.onsetDateTime" in outcome["issue"][0]["expression"]
    assert _counts(record_runtime) == before  # nothing stored, no history, no index rows
    assert fhir.get(f"/fhir/Patient/{existing['id']}").json() == existing


def test_transaction_order_and_version_check(fhir: TestClient) -> None:
    first = post(fhir, "Patient", patient()).json()
    bundle = _bundle(
        "transaction",
        {"request": {"method": "GET", "url": f"Patient/{first['id']}"}},
        {
            "request": {"method": "PUT", "url": f"Patient/{first['id']}", "ifMatch": 'W/"1"'},
            "resource": {**patient(family="Second"), "id": first["id"]},
        },
    )
    result = post(fhir, "", bundle).json()
    # GET runs after PUT in a transaction, so it sees the update.
    assert result["entry"][0]["resource"]["name"][0]["family"] == "Second"
    assert result["entry"][1]["response"]["etag"] == 'W/"2"'
    assert (
        result["entry"][1]["response"]["lastModified"]
        == result["entry"][0]["resource"]["meta"]["lastUpdated"]
    )
    stale = post(fhir, "", bundle)  # If-Match W/"1" is now stale
    assert stale.status_code == 412
    assert fhir.get(f"/fhir/Patient/{first['id']}").json()["meta"]["versionId"] == "2"


def test_conditional_reference_in_transaction(fhir: TestClient) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    bundle = _bundle(
        "transaction",
        _post_entry(
            condition("x") | {"subject": {"reference": f"Patient?identifier={NHS}|9434765919"}}
        ),
    )
    result = post(fhir, "", bundle).json()
    assert result["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{pid}"
    unresolved = _bundle(
        "transaction",
        _post_entry(condition("x") | {"subject": {"reference": "Patient?identifier=nobody"}}),
    )
    assert post(fhir, "", unresolved).status_code == 412


def test_batch_entries_succeed_or_fail_alone(fhir: TestClient, record_runtime: Runtime) -> None:
    bad = patient(nhs="9434765918")
    bundle = _bundle(
        "batch",
        _post_entry(patient()),
        _post_entry(bad),
        {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
        {"request": {"method": "GET", "url": "Patient?family=smith"}},
        {"request": {"method": "PATCH", "url": "Patient/1"}},
    )
    response = post(fhir, "", bundle)
    assert response.status_code == 200
    result = response.json()
    assert result["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == [
        "201 Created",
        "422 Unprocessable Entity",
        "404 Not Found",
        "200 OK",
        "400 Bad Request",
    ]
    assert result["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert result["entry"][3]["resource"]["total"] == 1
    assert fhir.get("/fhir/Patient").json()["total"] == 1


def test_bundle_shape_errors(fhir: TestClient) -> None:
    assert post(fhir, "", {"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert post(fhir, "", patient()).status_code == 400
    no_request = _bundle("transaction", {"resource": patient()})
    assert post(fhir, "", no_request).json()["issue"][0]["expression"] == ["Bundle.entry[0]"]


def test_reindex_rebuilds_the_same_index_rows(fhir: TestClient, record_runtime: Runtime) -> None:
    from integrated_care.record.models import SearchDate, SearchString
    from integrated_care.record.store import reindex

    pid = post(fhir, "Patient", patient()).json()["id"]
    post(fhir, "Condition", condition(pid))
    gone = post(fhir, "Condition", condition(pid, code="38341003")).json()["id"]
    fhir.delete(f"/fhir/Condition/{gone}")

    def rows() -> set[tuple]:  # type: ignore[type-arg]
        with record_runtime.transaction() as session:
            found: set[tuple] = set()  # type: ignore[type-arg]
            for table in (SearchToken, SearchString, SearchDate, SearchReference):
                columns = [c for c in table.__table__.columns if c.name != "row_id"]
                found |= {(table.__tablename__, *r) for r in session.execute(select(*columns))}
            return found

    before = rows()
    with record_runtime.transaction() as session:
        assert reindex(session, "Condition") == 1  # the deleted one is not indexed
        assert reindex(session, "Patient") == 1
    assert rows() == before
    assert fhir.get(f"/fhir/Condition?patient={pid}").json()["total"] == 1
