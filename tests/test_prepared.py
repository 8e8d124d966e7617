"""Prepared queries give exactly what SQLAlchemy's own execution gives, on every store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.types import JSON

from integrated_care.prepared import PreparedQuery

metadata = MetaData()
visits = Table(
    "prepared_test_visit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20)),
    Column("patient", String(20)),
    Column("seen_at", DateTime(timezone=True)),
    Column("notes", JSON),
)

ROWS = [
    {"id": 1, "kind": "gp", "patient": "p1", "seen_at": datetime(2026, 1, 2, 9, tzinfo=UTC),
     "notes": {"by": "GP", "codes": [1, 2]}},
    {"id": 2, "kind": "ae", "patient": "p1", "seen_at": datetime(2026, 2, 3, 23, 59, tzinfo=UTC),
     "notes": None},
    {"id": 3, "kind": "community", "patient": "p1", "seen_at": None, "notes": ["a"]},
    {"id": 4, "kind": "gp", "patient": "p2", "seen_at": datetime(2026, 3, 4, tzinfo=UTC),
     "notes": {}},
]  # fmt: skip


@pytest.fixture
def store(engine: Engine) -> Engine:
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(visits.insert(), ROWS)
    return engine


# A caller's parameter beside the statement's own list and LIMIT, as the registration check has.
STATEMENT = (
    select(visits)
    .where(
        visits.c.patient == bindparam("patient"),
        visits.c.kind.in_(("gp", "community")),
    )
    .order_by(visits.c.id)
    .limit(5)
)


@pytest.mark.parametrize("patient", ["p1", "p2", "nobody"])
def test_rows_equal_sqlalchemys_own(store: Engine, patient: str) -> None:
    prepared = PreparedQuery(STATEMENT)
    with store.connect() as connection:
        expected = connection.execute(STATEMENT, {"patient": patient}).all()
        got = prepared.rows(connection, {"patient": patient})
        again = prepared.rows(connection, {"patient": patient})  # compiled once, reused
    assert [tuple(r) for r in got] == [tuple(r) for r in expected] == [tuple(r) for r in again]
    assert [r.id for r in got] == {"p1": [1, 3], "p2": [4], "nobody": []}[patient]


def test_values_are_converted_as_sqlalchemy_converts_them(store: Engine) -> None:
    prepared = PreparedQuery(select(visits.c.seen_at, visits.c.notes).where(visits.c.id == 1))
    with store.connect() as connection:
        row = prepared.first(connection, {})
    assert row.notes == {"by": "GP", "codes": [1, 2]}
    seen = row.seen_at if row.seen_at.tzinfo else row.seen_at.replace(tzinfo=UTC)
    assert seen == datetime(2026, 1, 2, 9, tzinfo=UTC)


def test_first_is_none_when_nothing_matches(store: Engine) -> None:
    prepared = PreparedQuery(select(visits.c.id).where(visits.c.patient == bindparam("patient")))
    with store.connect() as connection:
        assert prepared.first(connection, {"patient": "nobody"}) is None
        assert prepared.first(connection, {"patient": "p2"}).id == 4


def test_a_missing_parameter_is_an_error_not_a_silent_null(store: Engine) -> None:
    prepared = PreparedQuery(select(visits.c.id).where(visits.c.patient == bindparam("patient")))
    with store.connect() as connection, pytest.raises(KeyError, match="patient"):
        prepared.rows(connection, {})
