"""Appending many audit events at once (``record_events``): one chain lock, the same chain."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts.audit import (
    GENESIS_HASH,
    append_batch,
    compute_hash,
    record_event,
    record_events,
    verify_chain,
)
from integrated_care.accounts.models import AuditEvent
from tests.accounts.conftest import run_writers


def _event(n: int, **extra: object) -> dict[str, object]:
    return {
        "actor": "loader",
        "action": "record.bulk-load",
        "outcome": "success",
        "record_type": "Bundle",
        "record_id": str(n),
        "detail": {"n": n},
        **extra,
    }


def test_a_batch_continues_the_chain_in_order(session: Session) -> None:
    record_event(session, actor="a", action="before", outcome="success")
    written = record_events(session, [_event(n) for n in range(5)])
    record_event(session, actor="a", action="after", outcome="success")
    session.commit()

    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.action for r in rows] == ["before", *["record.bulk-load"] * 5, "after"]
    assert [r.record_id for r in rows[1:6]] == ["0", "1", "2", "3", "4"]
    assert [w["id"] for w in written] == [2, 3, 4, 5, 6]
    # Each row's prev_hash is the hash of the row before, and each hash is its own content's.
    previous = GENESIS_HASH
    for row in rows:
        assert row.prev_hash == previous
        assert row.hash == compute_hash(row)
        previous = row.hash
    report = verify_chain(session)
    assert report.ok and report.rows_checked == 7


def test_an_empty_batch_writes_nothing(session: Session) -> None:
    assert record_events(session, []) == []
    session.commit()
    assert verify_chain(session).rows_checked == 0


def test_a_bad_outcome_refuses_the_whole_batch(session: Session) -> None:
    with pytest.raises(ValueError):
        record_events(session, [_event(1), _event(2, outcome="maybe")])
    session.rollback()
    assert session.scalars(select(AuditEvent)).all() == []


def test_a_rolled_back_batch_leaves_no_gap(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    with sessions() as work:
        record_events(work, [_event(n) for n in range(3)])
        work.rollback()
    with db.transaction(sessions) as s:
        record_events(s, [_event(n) for n in range(2)])
    with sessions() as s:
        report = verify_chain(s)
        assert report.ok and report.rows_checked == 2


def test_concurrent_batches_and_single_events_make_one_chain(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    threads, rounds, size = 6, 5, 7

    def writer(n: int) -> None:
        for i in range(rounds):
            with db.transaction(sessions) as s:
                if n % 2:
                    record_events(s, [_event(n * 1000 + i * 10 + k) for k in range(size)])
                else:
                    record_event(s, actor=f"w{n}", action="test.one", outcome="success")

    assert run_writers(threads, writer) == []
    with sessions() as s:
        report = verify_chain(s)
        assert report.ok, report
        batched, single = threads // 2, threads - threads // 2
        assert report.rows_checked == batched * rounds * size + single * rounds
        # A batch's events are consecutive: no other writer's event lands inside one.
        rows = s.execute(
            select(AuditEvent.id, AuditEvent.record_id, AuditEvent.action).order_by(AuditEvent.id)
        ).all()
        runs: dict[str, list[int]] = {}
        for row in rows:
            if row.action == "record.bulk-load":
                runs.setdefault(str(int(row.record_id) // 10), []).append(row.id)
        assert all(ids == list(range(ids[0], ids[0] + size)) for ids in runs.values())


def test_concurrent_group_commit_batches_and_single_events_make_one_chain(
    engine: Engine,
) -> None:
    # append_batch writes on a plain connection (on PostgreSQL the lock and the head go in one
    # pipelined round trip); ORM writers append single events meanwhile.
    sessions = db.session_factory(engine)
    threads, rounds, size = 6, 5, 4

    def writer(n: int) -> None:
        for i in range(rounds):
            if n % 2:
                append_batch(sessions, [_event(n * 1000 + i * 10 + k) for k in range(size)])
            else:
                with db.transaction(sessions) as s:
                    record_event(s, actor=f"w{n}", action="test.one", outcome="success")

    assert run_writers(threads, writer) == []
    with sessions() as s:
        report = verify_chain(s)
        assert report.ok, report
        assert report.rows_checked == (threads // 2) * rounds * size + (threads // 2) * rounds
        batched = s.scalars(
            select(AuditEvent.record_id).where(AuditEvent.action == "record.bulk-load")
        ).all()
        assert sorted(map(int, batched)) == sorted(
            n * 1000 + i * 10 + k
            for n in range(1, threads, 2)
            for i in range(rounds)
            for k in range(size)
        )
