"""Create, read, vread, update (with If-Match), delete and history through the real HTTP API."""

from __future__ import annotations

import uuid
from email.utils import parsedate_to_datetime

from fastapi.testclient import TestClient

from tests.record.conftest import FHIR_JSON, NHS, condition, patient, post, put


def _outcome(response, status: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and all(i["severity"] in ("error", "fatal") for i in body["issue"])
    return body


def test_create_read_and_headers(fhir: TestClient) -> None:
    created = post(fhir, "Patient", {**patient(), "id": "ignored-client-id"})
    assert created.status_code == 201
    body = created.json()
    pid = body["id"]
    assert pid != "ignored-client-id"  # POST: the server assigns the id
    assert body["meta"]["versionId"] == "1"
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["location"].endswith(f"/fhir/Patient/{pid}/_history/1")
    # Last-Modified is an HTTP date (to the second) of meta.lastUpdated.
    modified = parsedate_to_datetime(created.headers["last-modified"])
    assert modified.strftime("%Y-%m-%dT%H:%M:%S") == body["meta"]["lastUpdated"][:19]

    read = fhir.get(f"/fhir/Patient/{pid}")
    assert read.status_code == 200
    assert read.headers["content-type"].startswith(FHIR_JSON)
    assert read.json() == body
    assert read.headers["etag"] == 'W/"1"'


def test_server_assigned_ids_follow_the_order_of_creation(fhir: TestClient) -> None:
    # Version-7 UUIDs begin with the time: new resources' keys go at the end of the store's
    # (type, id) indexes instead of anywhere in them (see store.new_id).
    ids = [post(fhir, "Patient", patient()).json()["id"] for _ in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert all(uuid.UUID(i).version == 7 for i in ids)


def test_update_versions_and_vread(fhir: TestClient) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    changed = {**patient(family="Jones"), "id": pid}
    updated = put(fhir, f"Patient/{pid}", changed)
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    assert fhir.get(f"/fhir/Patient/{pid}").json()["name"][0]["family"] == "Jones"
    v1 = fhir.get(f"/fhir/Patient/{pid}/_history/1")
    assert v1.status_code == 200 and v1.json()["name"][0]["family"] == "Smith"
    assert v1.json()["meta"]["versionId"] == "1"
    _outcome(fhir.get(f"/fhir/Patient/{pid}/_history/3"), 404)
    _outcome(fhir.get(f"/fhir/Patient/{pid}/_history/x"), 404)


def test_if_match_stale_version_gets_412(fhir: TestClient) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    body = {**patient(family="First"), "id": pid}
    assert put(fhir, f"Patient/{pid}", body, **{"If-Match": 'W/"1"'}).status_code == 200
    # A second client still holding version 1 must not overwrite version 2.
    stale = put(fhir, f"Patient/{pid}", {**body, "gender": "male"}, **{"If-Match": 'W/"1"'})
    outcome = _outcome(stale, 412)
    assert "version 2" in outcome["issue"][0]["diagnostics"]
    assert fhir.get(f"/fhir/Patient/{pid}").json()["gender"] == "female"
    assert put(fhir, f"Patient/{pid}", body, **{"If-Match": 'W/"2"'}).status_code == 200
    _outcome(put(fhir, f"Patient/{pid}", body, **{"If-Match": "nonsense"}), 400)


def test_update_as_create_with_client_id(fhir: TestClient) -> None:
    body = {**patient(), "id": "nhs-9434765919"}
    created = put(fhir, "Patient/nhs-9434765919", body)
    assert created.status_code == 201
    assert created.json()["meta"]["versionId"] == "1"
    mismatch = put(fhir, "Patient/other-id", body)
    assert "must match the URL" in _outcome(mismatch, 400)["issue"][0]["diagnostics"]


def test_delete_then_read_is_gone_and_history_keeps_it(fhir: TestClient) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    deleted = fhir.delete(f"/fhir/Patient/{pid}")
    assert deleted.status_code == 204
    assert deleted.headers["etag"] == 'W/"2"'
    gone = _outcome(fhir.get(f"/fhir/Patient/{pid}"), 410)
    assert gone["issue"][0]["code"] == "deleted"
    _outcome(fhir.get(f"/fhir/Patient/{pid}/_history/2"), 410)
    assert fhir.get(f"/fhir/Patient/{pid}/_history/1").status_code == 200
    assert fhir.delete(f"/fhir/Patient/{pid}").status_code == 204  # idempotent
    _outcome(fhir.delete("/fhir/Patient/never-existed"), 404)
    assert fhir.get(f"/fhir/Patient?_id={pid}").json()["total"] == 0
    # A deleted resource can be brought back by PUT: a new version, not a new resource.
    back = put(fhir, f"Patient/{pid}", {**patient(), "id": pid})
    assert back.status_code == 201 and back.json()["meta"]["versionId"] == "3"


def test_instance_and_type_history(fhir: TestClient) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    put(fhir, f"Patient/{pid}", {**patient(family="B"), "id": pid})
    fhir.delete(f"/fhir/Patient/{pid}")
    other = post(fhir, "Patient", patient(family="Other")).json()["id"]

    history = fhir.get(f"/fhir/Patient/{pid}/_history").json()
    assert history["type"] == "history" and history["total"] == 3
    methods = [(e["request"]["method"], e["response"]["etag"]) for e in history["entry"]]
    assert methods == [("DELETE", 'W/"3"'), ("PUT", 'W/"2"'), ("POST", 'W/"1"')]
    assert "resource" not in history["entry"][0]
    assert history["entry"][1]["resource"]["name"][0]["family"] == "B"

    type_history = fhir.get("/fhir/Patient/_history").json()
    assert type_history["total"] == 4
    assert type_history["entry"][0]["resource"]["id"] == other  # newest first
    paged = fhir.get("/fhir/Patient/_history?_count=3").json()
    assert len(paged["entry"]) == 3
    assert any(link["relation"] == "next" for link in paged["link"])
    _outcome(fhir.get("/fhir/Patient/nope/_history"), 404)


def test_validation_errors_name_the_element(fhir: TestClient) -> None:
    bad = patient()
    bad["name"] = [{"family": 42}]
    bad["birthDate"] = "1960-13-01"
    bad["colour"] = "blue"
    outcome = _outcome(post(fhir, "Patient", bad), 422)
    expressions = {e for issue in outcome["issue"] for e in issue.get("expression", [])}
    assert {"Patient.name[0].family", "Patient.birthDate", "Patient.colour"} <= expressions
    missing_subject = condition("p1")
    del missing_subject["subject"]
    outcome = _outcome(post(fhir, "Condition", missing_subject), 422)
    assert outcome["issue"][0]["expression"] == ["Condition.subject"]
    wrong_type = _outcome(post(fhir, "Condition", patient()), 400)
    assert wrong_type["issue"][0]["expression"] == ["resourceType"]
    assert fhir.get("/fhir/Patient").json()["total"] == 0


def test_bad_nhs_number_is_422_naming_the_element(fhir: TestClient) -> None:
    bad = patient(nhs="9434765918")
    outcome = _outcome(post(fhir, "Patient", bad), 422)
    assert outcome["issue"][0]["expression"] == ["Patient.identifier[0].value"]
    assert "check digit should be 9" in outcome["issue"][0]["diagnostics"]
    org = {
        "resourceType": "Organization",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "c8"}],
        "name": "Bad code",
    }
    _outcome(post(fhir, "Organization", org), 422)
    org["identifier"][0]["value"] = "C82001"
    assert post(fhir, "Organization", org).status_code == 201
    found = fhir.get(
        "/fhir/Organization?identifier=https://fhir.nhs.uk/Id/ods-organization-code|C82001"
    )
    assert found.json()["total"] == 1
    assert fhir.get(f"/fhir/Patient?identifier={NHS}|9434765918").json()["total"] == 0


def test_every_error_is_an_operation_outcome(fhir: TestClient) -> None:
    _outcome(fhir.get("/fhir/Patient/missing"), 404)
    _outcome(fhir.get("/fhir/Spaceship/1"), 404)
    _outcome(fhir.get("/fhir/Patient/1/_history/1/extra"), 404)
    _outcome(fhir.patch("/fhir/Patient/1", json={}), 405)
    _outcome(fhir.get("/fhir"), 405)
    _outcome(fhir.get("/fhir/"), 405)
    _outcome(
        fhir.post("/fhir/Patient", content=b"{not json", headers={"Content-Type": FHIR_JSON}), 400
    )
    _outcome(
        fhir.post(
            "/fhir/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"}
        ),
        415,
    )
    _outcome(fhir.get("/fhir/Patient", headers={"Accept": "application/fhir+xml"}), 406)
    _outcome(fhir.get("/fhir/Patient?_count=lots"), 400)
    _outcome(fhir.get("/fhir/Patient?birthdate=yesterday"), 400)
    _outcome(post(fhir, "Patient", [patient()]), 400)  # type: ignore[arg-type]
    _outcome(fhir.get("/fhir/Observation/x/$everything"), 404)
    _outcome(put(fhir, "Patient/bad id!", patient()), 400)


def test_json_accept_and_format_variants(fhir: TestClient) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    for accept in ("application/json", "*/*", "application/fhir+json;q=0.9"):
        assert fhir.get(f"/fhir/Patient/{pid}", headers={"Accept": accept}).status_code == 200
    assert fhir.get(f"/fhir/Patient/{pid}?_format=json").status_code == 200
    plain = fhir.post("/fhir/Patient", json=patient(), headers={"Content-Type": "application/json"})
    assert plain.status_code == 201


def test_prefer_return(fhir: TestClient) -> None:
    created = post(fhir, "Patient", patient(), Prefer="return=minimal")
    assert created.status_code == 201 and created.content == b""
    assert created.headers["location"]
    pid = created.headers["location"].split("/")[-3]
    updated = put(fhir, f"Patient/{pid}", {**patient(), "id": pid}, Prefer="return=minimal")
    assert updated.status_code == 200 and updated.content == b""
    outcome = put(
        fhir, f"Patient/{pid}", {**patient(), "id": pid}, Prefer="return=OperationOutcome"
    )
    assert outcome.json()["resourceType"] == "OperationOutcome"
    assert fhir.get(f"/fhir/Patient/{pid}").json()["meta"]["versionId"] == "3"
