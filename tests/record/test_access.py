"""Every FHIR interaction is authorised in one place and audited once: allowed, refused (403 +
OperationOutcome + audit event), and not signed in (401)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from integrated_care.accounts.audit import AuditFilter, search_events
from integrated_care.runtime import Runtime
from tests.record.conftest import FHIR_JSON, PASSWORD, condition, patient, post


def _events(runtime: Runtime, **where: str) -> list:  # type: ignore[type-arg]
    with runtime.transaction() as session:
        events, _ = search_events(session, AuditFilter(**where), limit=1000)
        return events


def _as(client: TestClient, token: str | None) -> dict[str, str]:
    headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def test_each_interaction_is_audited_once_with_the_patient(
    fhir: TestClient, record_runtime: Runtime
) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    cid = post(fhir, "Condition", condition(pid)).json()["id"]
    before = len(_events(record_runtime))
    fhir.get(f"/fhir/Condition/{cid}")
    after = _events(record_runtime)
    assert len(after) == before + 1
    read = after[0]  # newest first
    assert (read.actor, read.action, read.outcome) == ("gp", "record.read", "success")
    assert (read.record_type, read.record_id) == ("Condition", cid)
    assert read.actor_organisation == "C82001"
    assert read.detail["patient"] == pid
    assert read.detail["auth_method"] == "token"

    fhir.get(f"/fhir/Condition?patient={pid}")
    search = _events(record_runtime, action="record.search")[0]
    assert search.detail["patients"] == [pid] and search.detail["total"] == 1
    created = _events(record_runtime, action="record.create")
    assert {(e.record_type, e.record_id) for e in created} == {("Patient", pid), ("Condition", cid)}
    fhir.get(f"/fhir/Patient/{pid}/$everything")
    assert _events(record_runtime, action="record.everything")[0].record_id == pid


def test_no_record_permission_is_refused_and_audited(
    app_client: TestClient, tokens: dict[str, str], record_runtime: Runtime
) -> None:
    headers = _as(app_client, tokens["analyst"])
    for response in (
        app_client.get("/fhir/Patient?family=smith", headers=headers),
        app_client.get("/fhir/Patient/some-id", headers=headers),
        app_client.post("/fhir/Patient", json=patient(), headers=headers),
    ):
        assert response.status_code == 403
        body = response.json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "forbidden"
    denied = _events(record_runtime, actor="analyst", outcome="denied")
    assert [e.action for e in denied] == ["record.create", "record.read", "record.search"]
    assert "record:read" in denied[1].detail["problem"]


def test_read_only_token_cannot_write(
    app_client: TestClient, tokens: dict[str, str], record_runtime: Runtime
) -> None:
    writer, reader = _as(app_client, tokens["gp"]), _as(app_client, tokens["reader"])
    pid = app_client.post("/fhir/Patient", json=patient(), headers=writer).json()["id"]
    assert app_client.get(f"/fhir/Patient/{pid}", headers=reader).status_code == 200
    body = {**patient(family="Changed"), "id": pid}
    refused = app_client.put(f"/fhir/Patient/{pid}", json=body, headers=reader)
    assert refused.status_code == 403
    assert "scopes do not include record:write" in refused.json()["issue"][0]["diagnostics"]
    assert app_client.delete(f"/fhir/Patient/{pid}", headers=reader).status_code == 403
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "POST", "url": "Patient"}, "resource": patient()}],
    }
    assert app_client.post("/fhir", json=transaction, headers=reader).status_code == 403
    assert app_client.get("/fhir/Patient", headers=reader).json()["total"] == 1
    denied = _events(record_runtime, actor="reader", outcome="denied")
    assert [e.action for e in denied] == ["record.transaction", "record.delete", "record.update"]
    # Refusals name whose record was refused, for the Caldicott guardian.
    assert [e.detail.get("patient") for e in denied[1:]] == [pid, pid]
    assert app_client.get(f"/fhir/Patient/{pid}", headers=writer).json()["meta"]["versionId"] == "1"


def test_not_signed_in_is_401_operation_outcome(
    app_client: TestClient, record_runtime: Runtime, tokens: dict[str, str]
) -> None:
    for headers in (_as(app_client, None), _as(app_client, "ics_not-a-real-token")):
        response = app_client.get("/fhir/Patient", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["issue"][0]["code"] == "login"
    assert len(_events(record_runtime, actor="anonymous", action="record.search")) == 2
    # The CapabilityStatement is public, as clients read it before they authenticate.
    assert app_client.get("/fhir/metadata").status_code == 200


def test_signed_in_session_reads_and_writes_with_its_csrf_token(
    app_client: TestClient, tokens: dict[str, str]
) -> None:
    from tests.accounts.conftest import csrf_token

    token = csrf_token(app_client.get("/sign-in").text)
    app_client.post(
        "/sign-in",
        data={"username": "gp", "password": PASSWORD, "csrf_token": token, "next": "/"},
    )
    response = app_client.get("/fhir/Patient", headers={"Accept": FHIR_JSON})
    assert response.status_code == 200 and response.json()["total"] == 0
    # A browser session must show its CSRF token to write, as for /api.
    headers = {"Content-Type": FHIR_JSON}
    refused = app_client.post("/fhir/Patient", json=patient(), headers=headers)
    assert refused.status_code == 403
    # Refused before the FHIR route runs, and still answered as FHIR.
    assert refused.json()["resourceType"] == "OperationOutcome"
    session_token = csrf_token(app_client.get("/").text)
    headers["X-CSRF-Token"] = session_token
    assert app_client.post("/fhir/Patient", json=patient(), headers=headers).status_code == 201
