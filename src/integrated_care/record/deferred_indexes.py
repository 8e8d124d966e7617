"""Indexes a large bulk load drops first and builds again at the end (`record.loader`).

Writing millions of rows into B-trees keyed at random costs far more than appending them and
sorting each index once: on a whole-ICS record (2.3 million resources, 13 million index rows)
the load takes minutes less. Until the indexes are back the store is complete and correct, and
search still answers, by scanning; a load that stopped part-way leaves them missing, and the
next load (or `build_indexes`) finishes the job.

Deferred: every secondary index of the current versions and of the search tables, and on
PostgreSQL the search tables' primary keys too (their row number, which nothing looks rows up
by). Each search row written kept that key's B-tree up to date and wrote a WAL record for it:
24 s of CPU in a whole-ICS load (229 -> 204 s; the load 116.6 -> 104.3 s without rebuilding the
keys, 110.2 s with).
The primary keys of the stored resources stay: they find a stored resource and refuse
duplicates while the load runs. On SQLite a search table's row number is the table's own
rowid, with no B-tree of its own.
"""

# Table, index and constraint names in SQL text come from the models, never from input.
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, Table, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from integrated_care.record.bulk import SQLITE_CACHE_KIB
from integrated_care.record.models import INDEX_TABLES, RecordResource

# The secondary indexes of the current versions and of the search tables.
DEFERRABLE_INDEXES = tuple(
    index
    for model in (RecordResource, *INDEX_TABLES)
    for index in sorted(model.__table__.indexes, key=lambda i: str(i.name))
)


class RowKey:
    """A search table's primary key on PostgreSQL, deferred like an index: built as a unique
    index (alongside the table's other index builds) and then made the primary key, which
    takes the table's exclusive lock only for a moment (`attach`)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.name = str(table.primary_key.name)
        self.columns = ", ".join(column.name for column in table.primary_key.columns)

    def __repr__(self) -> str:
        return f"RowKey({self.name})"

    def drop(self, connection: Connection) -> None:
        connection.exec_driver_sql(f"ALTER TABLE {self.table.name} DROP CONSTRAINT {self.name}")

    def create(self, connection: Connection) -> None:
        # IF NOT EXISTS: a build interrupted between the index and `attach` left the index.
        connection.exec_driver_sql(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {self.name} ON {self.table.name} ({self.columns})"
        )

    def attach(self, connection: Connection) -> None:
        connection.exec_driver_sql(
            f"ALTER TABLE {self.table.name} ADD CONSTRAINT {self.name} "
            f"PRIMARY KEY USING INDEX {self.name}"
        )


ROW_KEYS = tuple(RowKey(model.__table__) for model in INDEX_TABLES)


def deferrable(dialect_name: str) -> tuple[Any, ...]:
    """What a large load defers on a store of this dialect."""
    return DEFERRABLE_INDEXES + (ROW_KEYS if dialect_name == "postgresql" else ())


def missing_indexes(session: Session) -> list[Any]:
    """The deferrable indexes (and keys) that are not in the database (dropped for a load)."""
    connection = session.connection()
    inspector = inspect(connection)
    tables = {index.table.name for index in DEFERRABLE_INDEXES}
    present = {i["name"] for table in tables for i in inspector.get_indexes(table)}
    missing = [index for index in DEFERRABLE_INDEXES if index.name not in present]
    if connection.dialect.name == "postgresql":
        missing += [
            key
            for key in ROW_KEYS
            if inspector.get_pk_constraint(key.table.name).get("name") != key.name
        ]
    return missing


def drop_indexes(session: Session) -> None:
    """Drop the deferrable indexes (and keys), so a large load appends rows instead of
    updating B-trees at random (`build_indexes` builds them again, sorted, in one pass each)."""
    missing = {index.name for index in missing_indexes(session)}
    connection = session.connection()
    for index in deferrable(connection.dialect.name):
        if index.name not in missing:
            index.drop(connection)


def build_indexes(engine: Engine) -> int:
    """Create whichever deferrable indexes are missing, each in a transaction of its own;
    returns how many. On PostgreSQL, `INDEX_BUILDERS` at a time, largest table first: two
    builds share the table reads and the sorting between the CPUs better than one build with
    PostgreSQL's parallel workers (whole-ICS record, after the collation change of migration
    0019: 47-57 s against 63 s). SQLite builds one at a time (one writer; its sorter uses the
    other CPUs, see `_SQLITE_INDEX_BUILD`)."""
    with Session(engine) as session:
        missing = missing_indexes(session)
    if engine.dialect.name != "postgresql":
        for index in missing:
            with Session(engine) as session, session.begin():
                create_indexes(session, [index])
        return len(missing)
    missing.sort(key=lambda index: _INDEX_ORDER.index(index.table.name))

    def build(index: Any) -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
            connection.exec_driver_sql("SET LOCAL max_parallel_maintenance_workers = 1")
            index.create(connection)

    with ThreadPoolExecutor(INDEX_BUILDERS, thread_name_prefix="ics-index") as pool:
        list(pool.map(build, missing))  # taken in order; the first failure is raised
    # After every build, so no key waits for its table's exclusive lock behind another build.
    with engine.begin() as connection:
        _attach_keys(connection, missing)
    return len(missing)


INDEX_BUILDERS = 2
# The tables by number of rows in a whole-ICS record, most first, so the longest builds start
# first and the two builders finish together.
_INDEX_ORDER = (
    "record_search_token",
    "record_search_reference",
    "record_search_date",
    "record_resource",
    "record_search_string",
    "record_resource_history",
)


def _attach_keys(connection: Connection, built: Sequence[Any]) -> None:
    for key in built:
        if isinstance(key, RowKey):
            key.attach(connection)


def create_indexes(session: Session, indexes: Sequence[Any] | None = None) -> int:
    """Create `indexes` (by default whichever deferrable indexes are missing) in the caller's
    transaction; returns how many."""
    missing = missing_indexes(session) if indexes is None else list(indexes)
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    if missing and connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
    elif missing and sqlite:
        for pragma in _SQLITE_INDEX_BUILD:
            connection.exec_driver_sql(f"PRAGMA {pragma}")
    try:
        for index in missing:
            index.create(connection)
        _attach_keys(connection, missing)
    finally:
        if missing and sqlite:  # the pooled connection goes back to its everyday settings
            for pragma in _SQLITE_EVERYDAY:
                connection.exec_driver_sql(f"PRAGMA {pragma}")
    return len(missing)


# Building an index sorts every row of its table. SQLite's sorter hands each sorted run to a
# worker thread and merges the runs on several (`PRAGMA threads`), but only when its runs go to
# temporary files: with temp_store = MEMORY it sorts on one thread. Small runs (a small page
# cache) sort in the processor's cache. Measured on a whole-ICS record (2.3 million resources,
# 13 million index rows, two cores, the sqlean.py build): every deferred index in 24.3 s
# (36.7 s of CPU) against 45.6 s on one thread with a 1 GB cache in memory; the token index
# alone 5.4-6.5 s against 15.1 s. Every connection reads pages through a memory map
# (db.SQLITE_MMAP_BYTES), the index build too.
_SQLITE_INDEX_BUILD = (
    f"threads = {min(8, os.cpu_count() or 1)}",
    "cache_size = -32768",
    "temp_store = FILE",
)
_SQLITE_EVERYDAY = (
    "threads = 0",
    f"cache_size = -{SQLITE_CACHE_KIB}",
    "temp_store = DEFAULT",
)
