"""The record load's speed-ups change nothing stored: built by several builder processes (each
making every n-th chunk of patients), the record is the one a load built in-process stores,
row for row and in the same order, with the same audit events; and the SQLite settings used to
build the deferred indexes are put back on the connection afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from integrated_care import db
from integrated_care.accounts.models import AuditEvent
from integrated_care.record import deferred_indexes
from integrated_care.record.loader import ACTION, Scope, default_pcn, load_record
from integrated_care.record.models import INDEX_TABLES
from integrated_care.runtime import Runtime
from tests.conftest import DatabaseTemplates, make_runtime


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from integrated_care.synth.generator import SynthConfig, generate

    out = tmp_path_factory.mktemp("extract")
    generate(SynthConfig(icb="QK1", out=out, population=1500, years=1, seed=3), show_progress=False)
    return out


@pytest.fixture
def two_runtimes(
    tmp_path: Path, backend: str, db_templates: DatabaseTemplates
) -> Iterator[tuple[Runtime, Runtime]]:
    urls = [db_templates.clone(backend, "empty", None) for _ in range(2)]
    runtimes = [make_runtime(tmp_path / f"ics-data-{n}", url) for n, url in enumerate(urls)]
    yield runtimes[0], runtimes[1]
    for runtime, url in zip(runtimes, urls, strict=True):
        runtime.engine.dispose()
        db_templates.release(url)


# Every stored column but the load's clock (last_updated, and meta.lastUpdated in content).
_STORED = {
    "record_resource": "resource_type, id, version_id, deleted, patient_id, "
    "length(content), substr(content, 1, instr(content, '\"lastUpdated\"'))",
    "record_search_token": "row_id, resource_type, resource_id, param, system, code",
    "record_search_string": "row_id, resource_type, resource_id, param, value, exact",
    "record_search_date": "row_id, resource_type, resource_id, param, low, high",
    "record_search_reference": "row_id, resource_type, resource_id, param, target_type, target_id",
}


def _stored(runtime: Runtime) -> dict[str, list[Any]]:
    if runtime.engine.dialect.name == "postgresql":  # strpos, not instr
        stored = {
            **_STORED,
            "record_resource": _STORED["record_resource"].replace(
                "instr(content, '\"lastUpdated\"')", "strpos(content, '\"lastUpdated\"')"
            ),
        }
    else:
        stored = _STORED
    with runtime.transaction() as session:
        tables: dict[str, list[Any]] = {
            table: [
                tuple(row)
                for row in session.execute(text(f"SELECT {columns} FROM {table} ORDER BY 1, 2"))
            ]
            for table, columns in stored.items()
        }
        tables["audit"] = [
            (e.actor, e.action, e.detail)
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == ACTION).order_by(AuditEvent.id)
            )
        ]
    return tables


def test_several_builders_store_what_one_builds_in_process(
    two_runtimes: tuple[Runtime, Runtime], extract: Path
) -> None:
    scope = Scope("pcn", default_pcn(extract))
    options: dict[str, Any] = {"patients_per_batch": 4, "chunk_patients": 10}
    one = load_record(two_runtimes[0], extract, scope, parallel=False, **options)
    three = load_record(two_runtimes[1], extract, scope, parallel=True, builders=3, **options)
    assert one.patients > 3 * 10  # every builder makes several chunks
    assert (three.patients, dict(three.stored), three.index_rows) == (
        one.patients,
        dict(one.stored),
        one.index_rows,
    )
    expected, got = _stored(two_runtimes[0]), _stored(two_runtimes[1])
    for table in expected:
        assert got[table] == expected[table], table
    assert len(expected["audit"]) > 1


def test_a_builder_failing_in_a_later_chunk_fails_the_load_with_whole_patients(
    two_runtimes: tuple[Runtime, Runtime], extract: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integrated_care.record import loader

    runtime = two_runtimes[0]
    original = loader.Extracts.chunk

    def chunk(self: Any, number: int) -> Any:
        if number == 3:
            raise RuntimeError("extract unreadable")
        return original(self, number)

    monkeypatch.setattr(loader.Extracts, "chunk", chunk)  # inherited by the forked builders
    with pytest.raises(RuntimeError, match="extract unreadable"):
        load_record(
            runtime,
            extract,
            Scope("pcn", default_pcn(extract)),
            patients_per_batch=4,
            chunk_patients=10,
            parallel=True,
            builders=2,
            defer_indexes=True,
        )
    with runtime.transaction() as session:
        assert deferred_indexes.missing_indexes(session) == []
        patients = session.scalar(
            text("SELECT count(*) FROM record_resource WHERE resource_type = 'Patient'")
        )
        orphans = session.scalar(
            text(
                "SELECT count(*) FROM record_resource r WHERE r.patient_id IS NOT NULL AND NOT "
                "EXISTS (SELECT 1 FROM record_resource p WHERE p.resource_type = 'Patient' "
                "AND p.id = r.patient_id)"
            )
        )
    assert patients == 3 * 10  # chunks 0-2, then the load stopped
    assert orphans == 0


def test_the_index_build_settings_are_put_back(two_runtimes: tuple[Runtime, Runtime]) -> None:
    runtime = two_runtimes[0]
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite connection settings")
    with runtime.transaction() as session:
        deferred_indexes.drop_indexes(session)
    with runtime.transaction() as session:
        assert deferred_indexes.create_indexes(session) == len(deferred_indexes.DEFERRABLE_INDEXES)
        connection = session.connection()
        settings = [
            connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("temp_store", "mmap_size", "threads")
        ]
    assert settings == [0, db.SQLITE_MMAP_BYTES, 0]  # every connection's own settings


def test_dropped_indexes_are_built_again_each_in_a_transaction_of_its_own(
    two_runtimes: tuple[Runtime, Runtime],
) -> None:
    """The load's index build (several at a time on PostgreSQL) makes every missing index,
    and only those."""
    runtime = two_runtimes[0]
    deferred = deferred_indexes.deferrable(runtime.engine.dialect.name)
    with runtime.transaction() as session:
        deferred_indexes.drop_indexes(session)
        assert len(deferred_indexes.missing_indexes(session)) == len(deferred)
    assert deferred_indexes.build_indexes(runtime.engine) == len(deferred)
    with runtime.transaction() as session:
        assert deferred_indexes.missing_indexes(session) == []
    assert deferred_indexes.build_indexes(runtime.engine) == 0
    if runtime.engine.dialect.name == "postgresql":
        with runtime.engine.connect() as connection:
            keys = {
                model.__tablename__: inspect(connection).get_pk_constraint(model.__tablename__)
                for model in INDEX_TABLES
            }
        assert {table: key["constrained_columns"] for table, key in keys.items()} == {
            model.__tablename__: ["row_id"] for model in INDEX_TABLES
        }


def test_a_row_key_left_as_a_bare_index_by_an_interrupted_build_becomes_the_key(
    two_runtimes: tuple[Runtime, Runtime],
) -> None:
    """PostgreSQL builds a search table's primary key as a unique index, then attaches it:
    a build stopped in between still counts the key as missing and finishes it."""
    runtime = two_runtimes[0]
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("search tables' primary keys are deferred on PostgreSQL only")
    with runtime.transaction() as session:
        deferred_indexes.drop_indexes(session)
    token_key = next(k for k in deferred_indexes.ROW_KEYS if k.table.name == "record_search_token")
    with runtime.engine.begin() as connection:
        token_key.create(connection)
    with runtime.transaction() as session:
        assert token_key in deferred_indexes.missing_indexes(session)
    deferred_indexes.build_indexes(runtime.engine)
    with runtime.engine.connect() as connection:
        key = inspect(connection).get_pk_constraint("record_search_token")
    assert key["name"] == token_key.name
