"""The server errors the fuzzing found, kept as plain regression cases: each is now a clear 4xx.

- Integers beyond 64 bits in a path or query (an id or offset of 2**63) reached the database
  driver (SQLite: OverflowError; PostgreSQL: out of range) -> 422 from web/errors.py.
- A register date before year 1000 made the financial year "999/00", which did not parse ->
  the date is bounded (finance/contract_routes.py).
- On PostgreSQL, a NUL character (which its text cannot hold) in a FHIR path, resource or
  search -> the audit log stores U+FFFD for it (accounts/audit.py), and the FHIR router answers
  422 (record/routes.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.fuzz.test_fhir import assert_fhir_answer
from tests.record.conftest import FHIR_JSON, patient

BIG = str(2**63)
TOO_LARGE = "cannot be stored or looked up: a number too large"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/governance/public/papers/{BIG}", None),
        ("GET", f"/api/governance/public/meetings/{BIG}", None),
        ("GET", f"/board/papers/files/{BIG}", None),
        ("POST", f"/api/mdt/entries/{BIG}/notes", {"note": "0"}),
        ("POST", f"/api/record/break-glass/{BIG}/review", {"note": "0"}),
        ("PUT", f"/api/referrals/services/{BIG}/accepting", {"accepting": False}),
        ("POST", f"/api/governance/items/{BIG}/decision", {"resolution": "0"}),
    ],
)
def test_ids_beyond_64_bits_are_refused_not_failed(
    api: TestClient, method: str, path: str, body: dict | None
) -> None:
    response = api.request(method, path, json=body, headers={"Accept": "application/json"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    # the general answer, or a route's own bound naming the parameter
    assert (
        TOO_LARGE in detail if isinstance(detail, str) else detail[0]["where"].startswith("path.")
    )


def test_an_audit_offset_beyond_the_database_is_a_named_validation_error(api: TestClient) -> None:
    response = api.get("/api/audit", params={"offset": BIG}, headers={"Accept": "*/*"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["where"] == "query.offset"


def test_a_fhir_offset_beyond_the_database_is_an_operation_outcome(api: TestClient) -> None:
    response = api.get("/fhir/AuditEvent", params={"_offset": BIG})
    assert response.status_code == 422, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert TOO_LARGE in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("day", ["1000-01-01", "0001-01-01", "9999-12-31"])
def test_spending_as_at_far_from_now_is_refused(api: TestClient, day: str) -> None:
    response = api.get("/api/finance/spending", params={"as_at": day})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["where"] == "query.as_at"
    assert api.get("/api/finance/spending", params={"as_at": "2025-06-30"}).status_code == 200


def test_a_nul_byte_in_a_fhir_path_is_audited_and_refused_not_failed(api: TestClient) -> None:
    """PostgreSQL text cannot hold NUL: the audit event of the refused read carried the type
    "\\x00" and failed to insert (accounts/audit.py now stores U+FFFD in its place)."""
    response = api.get("/fhir/%00/0")
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_nul_characters_in_fhir_writes_and_searches_are_refused_not_failed(
    api: TestClient,
) -> None:
    """PostgreSQL text cannot hold NUL: storing or searching for one raised DataError, a 500
    (record/routes.py now answers 422). SQLite stores it; either way, no server error."""
    created = api.post(
        "/fhir/Patient", json=patient(family="a\x00b"), headers={"Content-Type": FHIR_JSON}
    )
    found = api.get("/fhir/Patient", params={"family": "a\x00"})
    for response in (created, found):
        assert_fhir_answer(response)
        if api.app.state.runtime.engine.dialect.name == "postgresql":  # type: ignore[attr-defined]
            assert response.status_code == 422
