"""POST /fhir/$import: NDJSON uploaded by an admin goes in through the bulk path; the Synthea
export's counts per type come back and match the files (counted independently); one bad line
refuses everything, naming its file and line; only record:import may import."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from fastapi.testclient import TestClient

from integrated_care.accounts import services
from integrated_care.runtime import Runtime
from tests.record.conftest import FHIR_JSON, PASSWORD, patient
from tests.record.test_synthea import FIXTURE

NDJSON = "application/fhir+ndjson"


@pytest.fixture
def admin_token(record_runtime: Runtime, tokens: dict[str, str]) -> str:
    with record_runtime.transaction() as session:
        services.create_user(session, "importer", PASSWORD, ["admin"], "QK1", "Importer")
        return services.create_token(session, "importer", ["record:import"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}


def _total(client: TestClient, token: str, query: str) -> int:
    response = client.get(f"/fhir/{query}", params={"_count": "0"}, headers=_auth(token))
    assert response.status_code == 200, response.text
    return response.json()["total"]


def test_the_synthea_export_uploads_and_every_type_is_counted(
    app_client: TestClient, admin_token: str, tokens: dict[str, str]
) -> None:
    paths = sorted(FIXTURE.glob("*.ndjson"))
    expected: Counter[str] = Counter()
    for path in paths:
        if path.name.startswith("log."):
            continue
        for line in path.read_bytes().splitlines():
            if line.strip():
                expected[orjson.loads(line)["resourceType"]] += 1
    files = [("files", (p.name, p.read_bytes(), NDJSON)) for p in paths]
    response = app_client.post("/fhir/$import", files=files, headers=_auth(admin_token))
    assert response.status_code == 200, response.text[:2000]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    reported = {}
    for issue in outcome["issue"][1:]:
        resource_type, _, rest = issue["diagnostics"].partition(": ")
        reported[resource_type] = int(rest.split()[0].replace(",", ""))
    assert reported == dict(expected)
    assert f"imported {sum(expected.values()):,} resources" in outcome["issue"][0]["diagnostics"]
    # Stored, and found by search as the API's own writes are (the GP sees everyone in tests).
    for resource_type in ("Patient", "Encounter", "Condition", "Organization"):
        assert _total(app_client, tokens["gp"], resource_type) == expected[resource_type]


def test_one_bad_line_refuses_the_import_naming_file_and_line(
    app_client: TestClient, admin_token: str, tokens: dict[str, str]
) -> None:
    good = orjson.dumps({**patient(), "id": "p1"})
    bad_nhs = orjson.dumps({**patient(nhs="9434765918"), "id": "p2"})
    files = [
        ("files", ("Patient.ndjson", good + b"\n" + bad_nhs + b"\n", NDJSON)),
        ("files", ("Condition.ndjson", b"{not json\n", NDJSON)),
    ]
    response = app_client.post("/fhir/$import", files=files, headers=_auth(admin_token))
    assert response.status_code == 422
    problems = [i["diagnostics"] for i in response.json()["issue"]]
    assert any(p.startswith("Patient.ndjson:2: ") and "check digit" in p for p in problems)
    assert any(p.startswith("Condition.ndjson:1: not JSON") for p in problems)
    assert problems[-1] == "nothing was stored"
    assert _total(app_client, tokens["gp"], "Patient") == 0


def test_a_plain_ndjson_body_imports(
    app_client: TestClient, admin_token: str, tokens: dict[str, str]
) -> None:
    body = b"\n".join(
        orjson.dumps({**patient(family=f"F{n}", nhs=nhs), "id": f"p{n}"})
        for n, nhs in enumerate(["9434765919", "9434765870"])
    )
    headers = {**_auth(admin_token), "Content-Type": NDJSON}
    response = app_client.post("/fhir/$import?_type=Patient", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["issue"][1]["diagnostics"] == "Patient: 2 stored"
    assert _total(app_client, tokens["gp"], "Patient") == 2


def test_only_record_import_may_import_and_bad_uploads_are_refused(
    app_client: TestClient, admin_token: str, tokens: dict[str, str]
) -> None:
    body = orjson.dumps({**patient(), "id": "p1"})
    gp = app_client.post(
        "/fhir/$import", content=body, headers={**_auth(tokens["gp"]), "Content-Type": NDJSON}
    )
    assert gp.status_code == 403
    assert "record:import" in gp.json()["issue"][0]["diagnostics"]
    as_json = app_client.post(
        "/fhir/$import", content=body, headers={**_auth(admin_token), "Content-Type": FHIR_JSON}
    )
    assert as_json.status_code == 415
    csv = app_client.post(
        "/fhir/$import",
        files=[("files", ("patients.csv", b"a,b\n", "text/csv"))],
        headers=_auth(admin_token),
    )
    assert csv.status_code == 400
    assert "not an .ndjson" in csv.json()["issue"][0]["diagnostics"]
    empty = app_client.post(
        "/fhir/$import?_type=Patient",
        content=b"\n",
        headers={**_auth(admin_token), "Content-Type": NDJSON},
    )
    assert empty.status_code == 400 and "no resources in Patient.ndjson" in empty.text
    assert _total(app_client, tokens["gp"], "Patient") == 0
