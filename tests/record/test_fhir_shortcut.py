"""The FHIR API's short cut past FastAPI's dispatch (web/shortcuts.py) answers exactly as the
FastAPI routes would: same endpoints, same order, same refusals for methods and paths it does
not take, same OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from integrated_care.web.shortcuts import shortcut_paths
from tests.record.conftest import FHIR_JSON, patient, post


def test_reads_and_searches_go_through_the_short_cut(fhir: TestClient) -> None:
    paths = dict(shortcut_paths(fhir.app))  # type: ignore[arg-type]
    assert paths["/fhir/{resource_type}/{resource_id}"] is True
    assert paths["/fhir/{resource_type}"] is True
    created = post(fhir, "Patient", patient())
    assert created.status_code == 201
    pid = created.json()["id"]
    read = fhir.get(f"/fhir/Patient/{pid}")
    assert read.status_code == 200 and read.json()["id"] == pid
    assert read.headers["content-type"].startswith(FHIR_JSON)
    assert read.headers["cache-control"] == "no-store"  # the accounts middleware still applies
    found = fhir.get("/fhir/Patient", params={"_id": pid})
    assert found.json()["total"] == 1


def test_routes_with_dependencies_keep_their_place_and_their_checks(fhir: TestClient) -> None:
    # /fhir/AuditEvent is FastAPI's (it needs audit:read); without the fall-through the short
    # cut's "search any type" route would have answered it as a FHIR search instead.
    paths = shortcut_paths(fhir.app)  # type: ignore[arg-type]
    assert paths[0] == ("/fhir/AuditEvent", False)
    refused = fhir.get("/fhir/AuditEvent")
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"


def test_methods_the_short_cut_does_not_take_are_answered_as_before(fhir: TestClient) -> None:
    created = post(fhir, "Patient", patient()).json()
    for method in ("HEAD", "PATCH", "OPTIONS"):
        answer = fhir.request(method, f"/fhir/Patient/{created['id']}")
        assert answer.status_code == 405, method
    assert fhir.get("/fhir/Nothing/1").status_code == 404
    assert fhir.get("/fhir/").status_code == 405  # the catch-all: GET on the base


def test_every_fhir_operation_is_still_in_the_openapi_document(app_client: TestClient) -> None:
    document = app_client.get("/api/openapi.json").json()
    fhir_paths = {p for p in document["paths"] if p.startswith("/fhir")}
    assert "/fhir/{resource_type}/{resource_id}" in fhir_paths
    assert "/fhir/{resource_type}" in fhir_paths
    assert "/fhir/$export" in fhir_paths
    assert "/fhir/AuditEvent" in fhir_paths
