"""Every operation of the OpenAPI document (/api/openapi.json), fuzzed with schemathesis as a
user holding every role: whatever the input, no answer is a server error (5xx).

Bounded for CI: a few derandomized examples per operation, the same ones every run; set
ICS_FUZZ_EXAMPLES for a deeper run (e.g. 50)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from integrated_care.web.app import create_app

EXAMPLES_PER_OPERATION = int(os.environ.get("ICS_FUZZ_EXAMPLES", "5"))
METHODS = ("get", "put", "post", "patch", "delete")


def _operations() -> list[tuple[str, str]]:
    """Every (METHOD, path) in the OpenAPI document, from an app on a store of its own: each
    pytest-xdist worker collects this module at the same time, and two apps migrating one
    shared file raced ("table finance_contract already exists")."""
    with tempfile.TemporaryDirectory(prefix="ics-openapi-") as folder:
        where = Path(folder)
        url = f"sqlite:///{where}/unused.db"
        settings = Settings(data_dir=where, database_url=url, secret_key="-")
        document = create_app(Runtime(settings)).openapi()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    ]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def openapi(app: FastAPI):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


def test_every_operation_the_app_serves_is_fuzzed_as_a_signed_in_user(api: TestClient) -> None:
    served = api.get("/api/openapi.json").json()["paths"]
    assert {(m.upper(), p) for p, item in served.items() for m in item if m in METHODS} == set(
        OPERATIONS
    )
    assert ("POST", "/fhir/{resource_type}") in OPERATIONS
    me = api.get("/api/me", headers={"Accept": "application/json"})
    assert me.status_code == 200 and me.json()["username"] == "fuzzer", me.text


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_operation_answers_with_a_server_error(
    openapi, token: str, method: str, path: str
) -> None:  # type: ignore[no-untyped-def]
    operation = openapi[path][method]
    auth = {"Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(headers=auth, timeout=120)  # a busy CI machine is not an error
        assert response.status_code < 500, (
            f"{response.status_code} from {case.as_curl_command()}\n{response.text[:2000]}"
        )

    fuzz()
