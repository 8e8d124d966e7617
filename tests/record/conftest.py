"""Fixtures for the shared care record: an app over an empty store, users with API tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient

from integrated_care.accounts import passwords, services
from integrated_care.accounts.policy import Principal
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime
from integrated_care.web.app import create_app
from tests.conftest import make_runtime

PASSWORD = "a-long-enough-password"
FHIR_JSON = "application/fhir+json"
# (username, roles, organisation, token scopes)
USERS = {
    "gp": (["clinician"], "C82001", ["record:read", "record:write", "consent:manage"]),
    "reader": (["clinician"], "RWE", ["record:read"]),
    "analyst": (["analyst"], "QK1", ["analytics:read"]),
}


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy-password-for-timing"))


# The organisations of the users above see every patient: tests not about access rules stay
# about what they test. Access rules are tested with other organisations (test_access_rules.py).
PERMISSIVE_ORGANISATIONS = {"C82001", "RWE", "RT5"}


def _test_organisations_see_everyone(principal: Principal):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from integrated_care.record.models import RecordResource

    if principal.organisation_code not in PERMISSIVE_ORGANISATIONS:
        return None
    return select(RecordResource.id).where(RecordResource.resource_type == "Patient")


@pytest.fixture(autouse=True)
def permissive_test_relationships() -> Iterator[None]:
    from integrated_care.record import relationships

    relationships.register_relationship_source(_test_organisations_see_everyone, "test")
    yield
    relationships.unregister_relationship_source(_test_organisations_see_everyone)


@pytest.fixture
def record_runtime(tmp_path: Path, empty_db_url: str) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path / "ics-data", empty_db_url)
    yield rt
    rt.engine.dispose()


@pytest.fixture
def tokens(record_runtime: Runtime) -> dict[str, str]:
    """An API token per test user (see USERS)."""
    issued = {}
    with record_runtime.transaction() as session:
        for username, (roles, org, scopes) in USERS.items():
            services.create_user(session, username, PASSWORD, roles, org, username.title())
            issued[username] = services.create_token(session, username, scopes)
    return issued


@pytest.fixture
def principals(record_runtime: Runtime, tokens: dict[str, str]) -> dict[str, Principal]:
    with record_runtime.transaction() as session:
        return {u: services.principal_for_token(session, t) for u, t in tokens.items()}  # type: ignore[misc]


@pytest.fixture
def gp_caller(principals: dict[str, Principal]) -> Caller:
    return Caller(principals["gp"], base="http://test/fhir")


@pytest.fixture
def app_client(record_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(record_runtime)) as client:
        yield client


@pytest.fixture
def fhir(app_client: TestClient, tokens: dict[str, str]) -> TestClient:
    """The app, as the GP's API client (bearer token; read and write)."""
    app_client.headers.update({"Authorization": f"Bearer {tokens['gp']}", "Accept": FHIR_JSON})
    return app_client


def post(client: TestClient, path: str, resource: dict[str, Any], **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/fhir/{path}", json=resource, headers={"Content-Type": FHIR_JSON, **headers}
    )


def put(client: TestClient, path: str, resource: dict[str, Any], **headers: str):  # type: ignore[no-untyped-def]
    return client.put(
        f"/fhir/{path}", json=resource, headers={"Content-Type": FHIR_JSON, **headers}
    )


# Hand-checked NHS numbers: 943 476 5919 (weights 10..2 give 299; 299 mod 11 = 2; 11-2 = 9).
VALID_NHS_NUMBER = "9434765919"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
SNOMED = "http://snomed.info/sct"


def patient(
    family: str = "Smith",
    given: str = "Jane",
    birth: str = "1960-04-01",
    nhs: str = VALID_NHS_NUMBER,
    gender: str = "female",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs}],
        "name": [{"family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth,
        **extra,
    }


def condition(
    patient_id: str,
    code: str = "44054006",
    onset: str = "2020-03-01",
    status: str = "active",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": status,
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": SNOMED, "code": code}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "onsetDateTime": onset,
        **extra,
    }
