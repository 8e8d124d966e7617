"""Fixtures for the accounts tests: an app over an empty store, users, signing in."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from integrated_care.accounts import passwords, services
from integrated_care.runtime import Runtime
from integrated_care.web.app import create_app
from tests.conftest import make_runtime

PASSWORD = "a-long-enough-password"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app_runtime(tmp_path: Path, empty_db_url: str) -> Iterator[Runtime]:
    rt = make_runtime(tmp_path / "ics-data", empty_db_url)
    yield rt
    rt.engine.dispose()


@pytest.fixture
def web(app_runtime: Runtime) -> Iterator[TestClient]:
    """A client for the real app over an empty store (no footprint)."""
    with TestClient(create_app(app_runtime)) as client:
        yield client


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash with argon2id's cheapest parameters: the production ones cost ~0.4 s per hash here.
    (test_services checks the production parameters themselves.)"""
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy-password-for-timing"))


UserMaker = Callable[..., str]


@pytest.fixture
def make_user(app_runtime: Runtime) -> UserMaker:
    """Create a user in the app's store; returns the username."""

    def make(username: str, *roles: str, org: str = "QK1") -> str:
        with app_runtime.transaction() as session:
            services.create_user(session, username, PASSWORD, roles, org, f"{username} Test")
        return username

    return make


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD, next_path: str = "/"):  # type: ignore[no-untyped-def]
    """Sign in through the real form (pre-session CSRF token included)."""
    token = csrf_token(client.get("/sign-in").text)
    return client.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )


def audit_rows(session: Session, **where: str) -> list:  # type: ignore[type-arg]
    from integrated_care.accounts.audit import AuditFilter, search_events

    events, _ = search_events(session, AuditFilter(**where), limit=1000)
    return events


def run_writers(count: int, write: Callable[[int], None]) -> list[Exception]:
    """`write(n)` for n in 0..count-1, each on a thread of its own, all at once; returns what
    they raised (concurrent audit appends must all succeed and keep one chain)."""
    errors: list[Exception] = []

    def guarded(n: int) -> None:
        try:
            write(n)
        except Exception as exc:  # collected for the caller's assertion
            errors.append(exc)

    workers = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors
