"""Concurrent writers: conditional creates make exactly one resource; version-aware updates let
exactly one of several clients holding the same version win. Real threads, real databases."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from integrated_care import db
from integrated_care.record import service
from integrated_care.record.service import Caller, Reply
from integrated_care.runtime import Runtime
from tests.record.conftest import NHS, patient

WRITERS = 8


def _race(work) -> list[Reply]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(WRITERS)

    def attempt(i: int) -> Reply:
        barrier.wait()  # release every writer at once
        return work(i)

    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(attempt, range(WRITERS)))


def test_concurrent_conditional_creates_make_exactly_one(
    record_runtime: Runtime, gp_caller: Caller
) -> None:
    # Half the writers give the criteria in the other order: still the same criteria.
    criteria = [
        f"identifier={NHS}|9434765919&family=Smith",
        f"family=Smith&identifier={NHS}|9434765919",
    ]

    replies = _race(
        lambda i: service.create(
            record_runtime, gp_caller, "Patient", patient(), if_none_exist=criteria[i % 2]
        )
    )
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] * (WRITERS - 1) + [201], [r.json() for r in replies]
    assert len({r.json()["id"] for r in replies}) == 1
    found = service.search_type(record_runtime, gp_caller, "Patient", [("family", "smith")])
    assert found.json()["total"] == 1


def test_concurrent_version_aware_updates_one_wins(
    record_runtime: Runtime, gp_caller: Caller
) -> None:
    created = service.create(record_runtime, gp_caller, "Patient", patient()).json()
    pid = created["id"]

    def update(i: int) -> Reply:
        body = {**patient(family=f"Writer{i}"), "id": pid}
        return service.update(record_runtime, gp_caller, "Patient", pid, body, if_match='W/"1"')

    replies = _race(update)
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] + [412] * (WRITERS - 1), [r.json() for r in replies]
    [winner] = [r.json() for r in replies if r.status == 200]
    current = service.read(record_runtime, gp_caller, "Patient", pid).json()
    assert current["meta"]["versionId"] == "2"
    assert current["name"] == winner["name"]
    history = service.history(record_runtime, gp_caller, "Patient", pid, []).json()
    assert history["total"] == 2


def test_concurrent_plain_creates_all_succeed(record_runtime: Runtime, gp_caller: Caller) -> None:
    replies = _race(lambda i: service.create(record_runtime, gp_caller, "Patient", patient()))
    assert [r.status for r in replies] == [201] * WRITERS
    assert len({r.json()["id"] for r in replies}) == WRITERS


def test_a_write_waits_for_the_writers_turn_and_then_goes_ahead(
    record_runtime: Runtime, gp_caller: Caller
) -> None:
    # On SQLite, writers of every process take turns through one lock file (db.writer_turn),
    # woken the moment it is let go: the database's own busy wait slept ever longer between
    # tries, and one of sixteen concurrent bundles waited 8 s. Elsewhere there is no such turn.
    created: list[Reply] = []
    writer = threading.Thread(
        target=lambda: created.append(
            service.create(record_runtime, gp_caller, "Patient", patient())
        )
    )
    sqlite = record_runtime.engine.dialect.name == "sqlite"
    with db.writer_turn(record_runtime.engine):
        writer.start()
        writer.join(timeout=1.0 if sqlite else 30.0)
        assert writer.is_alive() == sqlite  # on SQLite it waits while the turn is held
    writer.join(timeout=30)
    assert [r.status for r in created] == [201]


def test_a_write_leaves_the_wal_to_a_background_checkpoint(
    record_runtime: Runtime, gp_caller: Caller, monkeypatch
) -> None:
    # A committing writer that found the WAL past its limit used to copy it into the database
    # while holding the writers' turn; each write now starts a checkpoint on a thread of its
    # own (at most one a second), so the WAL is copied without any writer waiting for it.
    monkeypatch.setattr(db, "CHECKPOINT_SECONDS", 0.0)
    engine = record_runtime.engine
    reply = service.create(record_runtime, gp_caller, "Patient", patient())
    assert reply.status == 201
    started = db.last_checkpoint(engine)
    if engine.dialect.name != "sqlite":
        assert started is None  # PostgreSQL checkpoints by itself
        return
    assert started is not None and started.name == "ics-checkpoint"
    started.join(timeout=30)
    with engine.connect() as connection:
        busy, logged, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and logged == copied
