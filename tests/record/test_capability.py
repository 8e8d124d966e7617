"""The CapabilityStatement says what the server really does, and is itself valid FHIR."""

from __future__ import annotations

from fastapi.testclient import TestClient
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from integrated_care.record.searchparams import definitions, load_definitions


def test_metadata_lists_types_interactions_and_search_parameters(app_client: TestClient) -> None:
    response = app_client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    [rest] = statement["rest"]
    served = {r["type"]: r for r in rest["resource"]}
    assert set(served) == set(definitions().resources)
    for resource_type, definition in definitions().resources.items():
        names = {p["name"] for p in served[resource_type]["searchParam"]}
        assert names == {"_id", "_lastUpdated", *definition.params}
        codes = {i["code"] for i in served[resource_type]["interaction"]}
        assert {"read", "vread", "update", "delete", "create", "search-type"} <= codes
    assert "Condition:patient" in served["Patient"]["searchRevInclude"]
    assert "Patient:general-practitioner" in served["Patient"]["searchInclude"]
    assert served["Patient"]["operation"][0]["name"] == "everything"
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}


def test_parameter_file_is_consistent() -> None:
    loaded = load_definitions()
    for definition in loaded.resources.values():
        for param in definition.params.values():
            assert param.path.startswith(f"{definition.resource_type}.")
            if param.type == "reference":
                assert param.targets
        if definition.compartment not in (None, "_self"):
            compartment = definition.params[definition.compartment]
            assert compartment.targets == ("Patient",)


def test_fhir_routes_are_in_the_openapi_document(app_client: TestClient) -> None:
    paths = app_client.get("/api/openapi.json").json()["paths"]
    assert "/fhir/{resource_type}/{resource_id}" in paths
    assert "/fhir/metadata" in paths
