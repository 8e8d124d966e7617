"""The audit log: a hash chain that detects edits and deletions, append-only in the database,
and a correct chain under concurrent writers on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import sqlite3

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts.audit import (
    GENESIS_HASH,
    AuditFilter,
    compute_hash,
    record_event,
    record_event_now,
    search_events,
    verify_chain,
)
from integrated_care.accounts.models import AuditEvent
from tests.accounts.conftest import run_writers


def write_events(session: Session, n: int) -> None:
    for i in range(n):
        record_event(
            session,
            actor=f"user{i % 3}",
            organisation="QK1",
            action="record.read",
            outcome="success",
            record_type="Patient",
            record_id=str(9000000000 + i),
            reason="direct care",
            detail={"i": i, "nested": {"ok": True, "ratio": 0.1}},
            client="10.0.0.1",
        )
    session.commit()


def tamper(engine: Engine, statement: str) -> None:
    """Change the audit table behind the platform's back, removing the trigger first."""
    if engine.dialect.name == "sqlite":
        with sqlite3.connect(engine.url.database) as conn:
            conn.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
            conn.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
            conn.execute(statement)
    else:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            conn.execute(text(statement))
            conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))


def test_events_form_a_chain_that_verifies(session: Session) -> None:
    assert verify_chain(session) == verify_chain(session)  # empty log: intact
    assert verify_chain(session).ok and verify_chain(session).head_hash == GENESIS_HASH
    write_events(session, 5)
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    session.expire_all()
    report = verify_chain(session)
    assert report.ok and report.rows_checked == 5 and report.head_hash == rows[-1].hash


def test_an_event_records_who_what_when_why_and_outcome(session: Session) -> None:
    event = record_event(
        session,
        actor="dr.jones",
        organisation="B82005",
        action="record.read",
        outcome="success",
        record_type="Patient",
        record_id="9434765919",
        reason="reviewing medication",
        detail={"when": db.utcnow()},
        client="192.0.2.7",
    )
    session.commit()
    session.expire_all()
    stored = session.get(AuditEvent, event.id)
    assert (stored.actor, stored.actor_organisation, stored.action, stored.outcome) == (
        "dr.jones",
        "B82005",
        "record.read",
        "success",
    )
    assert (stored.record_type, stored.record_id, stored.reason, stored.client) == (
        "Patient",
        "9434765919",
        "reviewing medication",
        "192.0.2.7",
    )
    assert isinstance(stored.detail["when"], str)
    assert compute_hash(stored) == stored.hash
    with pytest.raises(ValueError):
        record_event(session, actor="x", action="y", outcome="maybe")


def test_database_refuses_update_and_delete(session: Session) -> None:
    write_events(session, 2)
    for statement in (
        "UPDATE audit_event SET actor = 'mallory' WHERE id = 1",
        "DELETE FROM audit_event WHERE id = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert verify_chain(session).ok


def test_a_second_event_after_the_same_head_is_refused(session: Session) -> None:
    # Two writers that read the same head give their events the same id: the primary key
    # refuses the second (the chain's hashes carry no unique index of their own).
    write_events(session, 2)
    head = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert head is not None
    fork = {c.name: getattr(head, c.name) for c in AuditEvent.__table__.columns if c.name != "hash"}
    fork["actor"] = "mallory"
    fork["hash"] = compute_hash(fork)
    with pytest.raises(IntegrityError):
        session.execute(AuditEvent.__table__.insert(), [fork])
    session.rollback()
    assert verify_chain(session).ok


def test_verify_detects_an_edited_row(session: Session, engine: Engine) -> None:
    write_events(session, 6)
    tamper(engine, "UPDATE audit_event SET reason = 'nothing to see' WHERE id = 4")
    session.expire_all()
    report = verify_chain(session)
    assert not report.ok
    assert report.first_bad_id == 4 and report.rows_checked == 3
    assert "edited" in report.problem


def test_verify_detects_a_deleted_row(session: Session, engine: Engine) -> None:
    write_events(session, 6)
    tamper(engine, "DELETE FROM audit_event WHERE id = 3")
    session.expire_all()
    report = verify_chain(session)
    assert not report.ok and report.first_bad_id == 4 and "3 missing" in report.problem


def test_verify_detects_a_rehashed_edit(session: Session, engine: Engine) -> None:
    # A forger who recomputes the edited row's own hash still breaks the next row's link.
    write_events(session, 4)
    row = session.get(AuditEvent, 2)
    row.actor = "someone-else"
    forged = compute_hash(row)
    session.rollback()
    tamper(engine, f"UPDATE audit_event SET actor = 'someone-else', hash = '{forged}' WHERE id = 2")
    session.expire_all()
    report = verify_chain(session)
    assert not report.ok and report.first_bad_id == 3 and "prev_hash" in report.problem


def test_record_event_now_survives_the_callers_rollback(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    with sessions() as work:
        record_event(work, actor="a", action="user.create", outcome="success")
        work.rollback()
    record_event_now(
        sessions,
        actor="anonymous",
        action="access.denied",
        outcome="denied",
        detail={"status": 401},
    )
    with sessions() as check:
        events, total = search_events(check, AuditFilter())
        assert total == 1 and events[0].action == "access.denied"
        assert verify_chain(check).ok


def test_concurrent_writers_keep_one_valid_chain(engine: Engine) -> None:
    sessions = db.session_factory(engine)
    threads, per_thread = 8, 12

    def writer(n: int) -> None:
        for i in range(per_thread):
            with db.transaction(sessions) as s:
                # Work before the append, as a route would do, then the audit event.
                s.execute(select(func.count()).select_from(AuditEvent))
                record_event(
                    s,
                    actor=f"writer{n}",
                    action="test.append",
                    outcome="success",
                    record_id=str(i),
                )

    assert run_writers(threads, writer) == []
    with sessions() as s:
        report = verify_chain(s)
        assert report.ok, report
        assert report.rows_checked == threads * per_thread


def test_search_filters_and_pages(session: Session) -> None:
    write_events(session, 7)
    record_event(session, actor="anonymous", action="access.denied", outcome="denied")
    session.commit()
    events, total = search_events(session, AuditFilter(actor="user1"), limit=2)
    assert total == 2 and len(events) == 2 and all(e.actor == "user1" for e in events)
    events, total = search_events(session, AuditFilter(outcome="denied"))
    assert total == 1 and events[0].action == "access.denied"
    page2, total = search_events(session, AuditFilter(), limit=3, offset=3)
    assert total == 8 and [e.id for e in page2] == [5, 4, 3]
