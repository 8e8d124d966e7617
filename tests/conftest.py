"""Shared fixtures: a real operational store per test, on SQLite always and PostgreSQL when
``ICS_TEST_POSTGRES_URL`` is set.

Each test gets its own database, cloned from a migrated template (a file copy on SQLite,
``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so tests are isolated and the append-only audit
table never has to be emptied.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings

POSTGRES_URL = os.environ.get("ICS_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
TEST_ICB = "QK1"  # Leicester, Leicestershire and Rutland: mid-sized, three sub-ICB locations

Builder = Callable[[Session], None]


class DatabaseTemplates:
    """Migrated (and optionally pre-filled) template databases, built once per test session."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.templates: dict[tuple[str, str], str] = {}
        # PostgreSQL clones are dropped in the background while later tests run: DROP DATABASE
        # is slow (it syncs to disk) and would otherwise add up at the end of the session.
        self.dropper = ThreadPoolExecutor(max_workers=1)

    def _admin(self) -> Engine:
        return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")

    def _pg_url(self, name: str) -> str:
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def template(self, backend: str, name: str, builder: Builder | None) -> str:
        key = (backend, name)
        if key not in self.templates:
            if backend == "sqlite":
                url = f"sqlite:///{self.workdir / f'template_{name}.sqlite'}"
            else:
                dbname = f"ics_tpl_{name}_{self.tag}"
                with self._admin().connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{dbname}"'))
                url = self._pg_url(dbname)
            engine = db.make_engine(url)
            db.upgrade(engine)
            if builder is not None:
                with db.transaction(db.session_factory(engine)) as session:
                    builder(session)
            engine.dispose()
            if backend == "sqlite":
                # Fold the WAL into the main file so a plain copy carries everything.
                path = make_url(url).database
                with sqlite3.connect(path) as conn:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.templates[key] = url
        return self.templates[key]

    def clone(self, backend: str, name: str, builder: Builder | None) -> str:
        source = self.template(backend, name, builder)
        if backend == "sqlite":
            target = self.workdir / f"test_{uuid.uuid4().hex}.sqlite"
            shutil.copyfile(make_url(source).database, target)
            return f"sqlite:///{target}"
        dbname = f"ics_t_{uuid.uuid4().hex[:12]}"
        with self._admin().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{dbname}" TEMPLATE "{make_url(source).database}"'))
        return self._pg_url(dbname)

    def release(self, url: str) -> None:
        """Discard a clone once its test is over."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            Path(parsed.database).unlink(missing_ok=True)
        else:
            self.dropper.submit(self._drop, parsed.database)

    def _drop(self, name: str) -> None:
        with self._admin().connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def drop_all(self) -> None:
        self.dropper.shutdown(wait=True)
        for (backend, _), url in self.templates.items():
            if backend == "postgresql":
                self._drop(make_url(url).database)


@pytest.fixture(scope="session")
def db_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplates]:
    templates = DatabaseTemplates(tmp_path_factory.mktemp("databases"))
    yield templates
    templates.drop_all()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _build_test_footprint(session: Session) -> None:
    from integrated_care.footprint.services import build_footprint

    build_footprint(session, TEST_ICB)


@pytest.fixture
def empty_db_url(backend: str, db_templates: DatabaseTemplates) -> Iterator[str]:
    """A freshly migrated, empty operational store."""
    url = db_templates.clone(backend, "empty", None)
    yield url
    db_templates.release(url)


@pytest.fixture
def footprint_db_url(backend: str, db_templates: DatabaseTemplates) -> Iterator[str]:
    """An operational store holding the real footprint of the test ICB."""
    url = db_templates.clone(backend, "footprint", _build_test_footprint)
    yield url
    db_templates.release(url)


def _engine(url: str) -> Iterator[Engine]:
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
    yield from _engine(empty_db_url)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with db.session_factory(engine)() as s:
        yield s


@pytest.fixture
def footprint_engine(footprint_db_url: str) -> Iterator[Engine]:
    yield from _engine(footprint_db_url)


@pytest.fixture
def footprint_session(footprint_engine: Engine) -> Iterator[Session]:
    with db.session_factory(footprint_engine)() as s:
        yield s


def make_runtime(data_dir: Path, database_url: str) -> Runtime:
    return Runtime(Settings(data_dir=data_dir, database_url=database_url, secret_key="test-key"))


@pytest.fixture
def runtime(tmp_path: Path, footprint_db_url: str) -> Iterator[Runtime]:
    """A runtime over a store holding the test footprint, with its own data directory."""
    rt = make_runtime(tmp_path / "ics-data", footprint_db_url)
    yield rt
    rt.engine.dispose()


@pytest.fixture
def client(runtime: Runtime):  # type: ignore[no-untyped-def]
    """An HTTP client for the real app (in-process ASGI; e2e tests use a real server)."""
    from fastapi.testclient import TestClient

    from integrated_care.web.app import create_app

    with TestClient(create_app(runtime)) as c:
        yield c
