"""The event loop's audit writer: a request's events are committed before its append returns,
requests arriving together share a commit, the chain stays whole, and a failed commit reaches
every request that waited on it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from integrated_care import db
from integrated_care.accounts import audit_writer as writer_module
from integrated_care.accounts.audit import verify_chain
from integrated_care.accounts.audit_writer import AuditWriter, audit_writer
from integrated_care.accounts.models import AuditEvent


def _event(n: int) -> dict:
    return {
        "actor": f"clinician-{n % 3}",
        "organisation": "C82038",
        "action": "record.read",
        "outcome": "success",
        "record_type": "Encounter",
        "record_id": f"enc-{n}",
        "detail": {"patient": f"p-{n}"},
        "client": "127.0.0.1",
    }


def _run(coroutine):  # type: ignore[no-untyped-def]
    """asyncio.run on a thread of its own, as a server's event loop would be: this process's
    main thread may already run a loop (Playwright's, in a browser-test session)."""
    result: list = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # handed back to the test's thread
            result.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def test_each_append_returns_only_once_its_events_are_committed(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    writer = AuditWriter(sessions)
    seen_after: list[int] = []

    async def request(n: int) -> None:
        await writer.append([_event(n)])
        # Another connection sees the row the moment append returns.
        with engine.connect() as connection:
            found = connection.execute(
                select(AuditEvent.id).where(AuditEvent.record_id == f"enc-{n}")
            ).all()
        seen_after.append(len(found))

    async def many() -> None:
        await asyncio.gather(*(request(n) for n in range(60)))

    _run(many())
    assert seen_after == [1] * 60
    assert _count(engine) == 60
    with db.transaction(sessions) as session:
        report = verify_chain(session)
    assert report.ok and report.rows_checked == 60


def test_requests_arriving_together_share_commits(engine: Engine, monkeypatch) -> None:
    batches: list[int] = []
    real = writer_module.append_batch

    def counting(sessions, events):  # type: ignore[no-untyped-def]
        batches.append(len(events))
        real(sessions, events)

    monkeypatch.setattr(writer_module, "append_batch", counting)
    writer = AuditWriter(db.session_factory(engine))

    async def many() -> None:
        await asyncio.gather(*(writer.append([_event(n)]) for n in range(40)))

    _run(many())
    assert sum(batches) == 40
    assert len(batches) < 40  # gathered, not one commit per request


def test_appends_from_two_event_loops_keep_one_chain(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    writer = audit_writer(sessions)
    assert audit_writer(sessions) is writer  # one per store and process

    def loop(first: int) -> None:
        async def many() -> None:
            await asyncio.gather(*(writer.append([_event(n)]) for n in range(first, first + 30)))

        _run(many())

    threads = [threading.Thread(target=loop, args=(k * 100,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _count(engine) == 60
    with db.transaction(sessions) as session:
        assert verify_chain(session).ok


def test_a_failed_commit_is_raised_to_every_waiting_request(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE audit_event"))
    writer = AuditWriter(db.session_factory(engine))

    async def many() -> list[BaseException | None]:
        return await asyncio.gather(
            *(writer.append([_event(n)]) for n in range(5)), return_exceptions=True
        )

    outcomes = _run(many())
    assert len(outcomes) == 5
    assert all(isinstance(o, Exception) for o in outcomes)


def test_an_unknown_outcome_is_refused_before_anything_is_queued(engine: Engine) -> None:
    writer = AuditWriter(db.session_factory(engine))
    with pytest.raises(ValueError, match="outcome"):
        _run(writer.append([{**_event(1), "outcome": "maybe"}]))
    assert _count(engine) == 0


def test_the_writer_checkpoints_the_sqlite_wal_in_the_background(
    engine: Engine, monkeypatch
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("a write-ahead log to checkpoint is SQLite's")
    with engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    assert pages == db.AUTOCHECKPOINT_PAGES  # commits leave the copying to the writers' thread
    monkeypatch.setattr(db, "CHECKPOINT_SECONDS", 0.0)
    writer = AuditWriter(db.session_factory(engine))

    async def some() -> None:
        await asyncio.gather(*(writer.append([_event(n)]) for n in range(10)))

    _run(some())
    # The writer starts the checkpoint just after it has answered the requests.
    deadline = time.monotonic() + 30
    while db.last_checkpoint(engine) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    started = db.last_checkpoint(engine)
    assert started is not None
    started.join(timeout=30)
    with engine.connect() as connection:
        busy, logged, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and logged == copied  # everything written is in the database file
