"""A third-party FHIR client (fhirpy) against a real uvicorn server on loopback: create, read,
search (with paging) and update; plus concurrent conditional creates over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError, OperationOutcome, ResourceNotFound

from integrated_care.accounts import services
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from tests.conftest import BACKENDS
from tests.record.conftest import NHS, PASSWORD, patient


@dataclass
class Server:
    base: str
    token: str
    read_only_token: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, db_templates, tmp_path_factory) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    """A live server over a fresh store (SQLite, and PostgreSQL when configured)."""
    from integrated_care.web.app import create_app

    url = db_templates.clone(request.param, "empty", None)
    runtime = Runtime(
        Settings(
            data_dir=tmp_path_factory.mktemp("fhir-live"), database_url=url, secret_key="live-key"
        )
    )
    with runtime.transaction() as session:
        services.create_user(session, "nurse", PASSWORD, ["care_professional"], "RT5")
        token = services.create_token(session, "nurse", ["record:read", "record:write"])
        read_only = services.create_token(session, "nurse", ["record:read"])
    port = _free_port()
    uv = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not start within 20 s")
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}/fhir", token, read_only)
    uv.should_exit = True
    thread.join(timeout=10)
    runtime.engine.dispose()
    db_templates.release(url)


def test_fhirpy_creates_reads_searches_and_updates(server: Server) -> None:
    client = SyncFHIRClient(server.base, authorization=f"Bearer {server.token}")
    created = client.resource(
        "Patient", **{k: v for k, v in patient("Okafor", "Ada").items() if k != "resourceType"}
    )
    created.save()
    assert created.id and created["meta"]["versionId"] == "1"

    fetched = client.reference("Patient", created.id).to_resource()
    assert fetched["name"][0]["family"] == "Okafor"

    found = client.resources("Patient").search(identifier=f"{NHS}|9434765919").fetch()
    assert [p.id for p in found] == [created.id]
    assert client.resources("Patient").search(family="oka").count() == 1

    fetched["name"][0]["family"] = "Okafor-Jones"
    fetched.save()
    assert fetched["meta"]["versionId"] == "2"
    again = client.resources("Patient").search(family="okafor-jones").first()
    assert again is not None and again.id == created.id
    assert again["meta"]["versionId"] == "2"

    condition = client.resource(
        "Condition",
        subject=created.to_reference(),
        code={"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    )
    condition.save()
    conditions = client.resources("Condition").search(patient=created.id).fetch_all()
    assert [c.id for c in conditions] == [condition.id]

    with pytest.raises(ResourceNotFound):
        client.reference("Patient", "no-such-patient").to_resource()
    with pytest.raises(OperationOutcome):
        client.resource("Patient", identifier=[{"system": NHS, "value": "9434765918"}]).save()


def test_fhirpy_follows_paging_links(server: Server) -> None:
    client = SyncFHIRClient(server.base, authorization=f"Bearer {server.token}")
    for i in range(7):
        client.resource("Patient", name=[{"family": "Pagewalker", "given": [f"N{i}"]}]).save()
    everyone = client.resources("Patient").search(family="pagewalker").limit(3).fetch_all()
    assert sorted(p["name"][0]["given"][0] for p in everyone) == [f"N{i}" for i in range(7)]


def test_read_only_token_is_refused_a_write(server: Server) -> None:
    client = SyncFHIRClient(server.base, authorization=f"Bearer {server.read_only_token}")
    with pytest.raises(ForbiddenError) as refused:
        client.resource("Patient", name=[{"family": "Nope"}]).save()
    assert "record:write" in str(refused.value)


def test_concurrent_conditional_creates_over_http(server: Server) -> None:
    headers = {
        "Authorization": f"Bearer {server.token}",
        "Content-Type": "application/fhir+json",
        "If-None-Exist": f"identifier={NHS}|4010232137",
    }
    body = patient("Concurrent", "Cara", nhs="4010232137")
    barrier = threading.Barrier(6)

    def attempt(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            return http.post(f"{server.base}/Patient", json=body, headers=headers)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(attempt, range(6)))
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
