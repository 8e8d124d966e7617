"""Fixtures for fuzzing the HTTP APIs: the real app over one migrated store per module and
backend (holding the test footprint and one patient), and an API token for a user holding every
role, so the fuzz reaches past the permission checks into the code behind them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from integrated_care.accounts import services
from integrated_care.accounts.policy import grants
from integrated_care.runtime import Runtime
from integrated_care.web.app import create_app
from tests.conftest import BACKENDS, DatabaseTemplates, _build_test_footprint, make_runtime
from tests.record.conftest import (  # noqa: F401  (an autouse fixture, used by name)
    FHIR_JSON,
    patient,
    permissive_test_relationships,
)

PASSWORD = "a-long-enough-password"
FUZZER = "fuzzer"
ORGANISATION = "C82001"  # a practice the record tests' relationship source lets see everyone


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_runtime(
    request: pytest.FixtureRequest,
    db_templates: DatabaseTemplates,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Runtime]:
    """One store for a whole module: fuzzing needs many requests, not a fresh store for each."""
    url = db_templates.clone(request.param, "footprint", _build_test_footprint)
    rt = make_runtime(tmp_path_factory.mktemp("fuzz") / "ics-data", url)
    yield rt
    rt.engine.dispose()
    db_templates.release(url)


@pytest.fixture(scope="module")
def token(fuzz_runtime: Runtime) -> str:
    """A bearer token for a user with every role, scoped to every permission they hold."""
    roles = sorted(grants().roles)
    with fuzz_runtime.transaction() as session:
        services.create_user(session, FUZZER, PASSWORD, roles, ORGANISATION, "Fuzz Tester")
        return services.create_token(session, FUZZER, sorted(grants().permissions_of(roles)))


@pytest.fixture(scope="module")
def app(fuzz_runtime: Runtime) -> FastAPI:
    return create_app(fuzz_runtime)


@pytest.fixture(scope="module")
def api(app: FastAPI, token: str) -> Iterator[TestClient]:
    """The app as the fuzzing user's API client."""
    with TestClient(app) as client:
        client.headers.update({"Authorization": f"Bearer {token}", "Accept": FHIR_JSON})
        yield client


@pytest.fixture(scope="module")
def patient_id(api: TestClient) -> str:
    """A patient in the record, so reads, updates and searches have something to hit."""
    created = api.post("/fhir/Patient", json=patient(), headers={"Content-Type": FHIR_JSON})
    assert created.status_code == 201, created.text
    return created.json()["id"]
