"""The audit log: append-only and hash-chained, written by every module.

Each row's ``hash`` is the SHA-256 of a canonical serialisation of its fields and the previous
row's hash, so editing, inserting or deleting a row anywhere breaks the chain from that row on;
``verify_chain`` finds the first broken row. Database triggers (created by the migration) also
refuse UPDATE and DELETE, so tampering needs deliberate schema changes first.

Appends are serialised: PostgreSQL takes a transaction-level advisory lock before reading the
chain head; SQLite takes its single write lock (BEGIN IMMEDIATE) before reading it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

import psycopg
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from integrated_care import db
from integrated_care.accounts.models import AuditEvent

GENESIS_HASH = "0" * 64
T = TypeVar("T")
OUTCOMES = ("success", "denied", "failure")
# An arbitrary, fixed 64-bit key for pg_advisory_xact_lock: "the audit chain head".
_PG_CHAIN_LOCK = 0x1C5_A0D1_7C4A1
_PG_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"  # as the driver takes it
_LIMITS = {
    "actor": 150,
    "actor_organisation": 20,
    "action": 80,
    "record_type": 80,
    "record_id": 200,
    "client": 100,
}
_HASHED_FIELDS = (
    "id",
    "occurred_at",
    "actor",
    "actor_organisation",
    "action",
    "record_type",
    "record_id",
    "reason",
    "outcome",
    "detail",
    "client",
    "prev_hash",
)


@lru_cache(maxsize=64)  # a batch's events share one stamp
def _utc_iso(value: datetime) -> str:
    # SQLite hands datetimes back naive; every stamp this module writes is UTC.
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical(event: AuditEvent | Mapping[str, Any]) -> bytes:
    get = event.get if isinstance(event, Mapping) else lambda name: getattr(event, name)
    fields: dict[str, Any] = {name: get(name) for name in _HASHED_FIELDS}
    fields["occurred_at"] = _utc_iso(fields["occurred_at"])
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(event: AuditEvent | Mapping[str, Any]) -> str:
    """The hash a row (an event, or its column values) should carry, given its fields and
    ``prev_hash``."""
    return hashlib.sha256(_canonical(event)).hexdigest()


def _plain_json(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    # Round-trip once so what is hashed is exactly what the database gives back.
    if detail is None:
        return None
    return json.loads(json.dumps(detail, default=str, sort_keys=True))


def _clip(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    return value[: _LIMITS[name]].replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL


def _lock_chain(session: Session | Connection) -> None:
    connection = session.connection() if isinstance(session, Session) else session
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_PG_LOCK_SQL, (_PG_CHAIN_LOCK,))
    elif connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        # pysqlite opens a transaction lazily at the first write, after our read of the head;
        # take the write lock first. A transaction that has already written holds it.
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


_HEAD = select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
# The same, as PostgreSQL's driver takes it (sent in psycopg's pipeline mode).
_HEAD_SQL = str(_HEAD.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def _head(session: Session | Connection) -> tuple[int, str]:
    if isinstance(session, Session):
        session.flush()  # what autoflush would do before an ORM query
        session = session.connection()
    row = session.execute(_HEAD).first()
    return (row.id, row.hash) if row else (0, GENESIS_HASH)


def _locked_head(session: Session | Connection) -> tuple[int, str]:
    """Take the chain lock, then read the head: (last id, last hash)."""
    raw = None
    if isinstance(session, Connection) and session.dialect.name == "postgresql":
        raw = session.connection.dbapi_connection
    if raw is None or not psycopg.Pipeline.is_supported():
        _lock_chain(session)
        return _head(session)
    # A batch's own connection on PostgreSQL: BEGIN, the lock and the head go in one round
    # trip (psycopg's pipeline mode) instead of three. The head is read by a statement after
    # the lock's, so under READ COMMITTED it sees every batch committed before the lock.
    with raw.pipeline(), raw.cursor() as cursor:
        cursor.execute(_PG_LOCK_SQL, (_PG_CHAIN_LOCK,))
        cursor.execute(_HEAD_SQL)
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    outcome: str,
    record_type: str | None = None,
    record_id: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
    organisation: str | None = None,
    client: str | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction (it is kept only if that transaction commits).

    `actor` is a username or "anonymous"; `organisation` the ODS code they act for; `reason` why
    (e.g. the purpose a clinician gives); `outcome` one of "success", "denied", "failure".
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    _lock_chain(session)
    last_id, last_hash = _head(session)
    event = AuditEvent(
        id=last_id + 1,
        occurred_at=db.utcnow(),
        actor=_clip("actor", actor) or "anonymous",
        actor_organisation=_clip("actor_organisation", organisation),
        action=_clip("action", action),
        record_type=_clip("record_type", record_type),
        record_id=_clip("record_id", None if record_id is None else str(record_id)),
        reason=reason,
        outcome=outcome,
        detail=_plain_json(detail),
        client=_clip("client", client),
        prev_hash=last_hash,
    )
    event.hash = compute_hash(event)
    session.add(event)
    session.flush()
    return event


def record_events(session: Session, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Append several events in the caller's transaction under one chain lock and one flush.

    Each item takes the keyword arguments of :func:`record_event`. The events get consecutive
    ids in the order given and each one's ``prev_hash`` is the hash of the one before, exactly
    as if :func:`record_event` had been called for each in turn; they are kept only if the
    caller's transaction commits.
    """
    rows = _chained(session, events)
    if rows:
        _insert_rows(session, rows)  # one statement, not the ORM's unit of work per event
    return rows  # the column values written (a transaction bundle audits every entry)


def _chained(
    session: Session | Connection, events: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The events as rows (column values) chained onto the head, under the chain lock (held
    to commit). Plain dictionaries, not ORM objects: a read's audit is on every request."""
    for fields in events:
        if fields.get("outcome") not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {fields.get('outcome')!r}")
    if not events:
        return []
    last_id, last_hash = _locked_head(session)
    when = db.utcnow()
    written: list[dict[str, Any]] = []
    for offset, fields in enumerate(events, start=1):
        record_id = fields.get("record_id")
        row = {
            "id": last_id + offset,
            "occurred_at": when,
            "actor": _clip("actor", fields.get("actor")) or "anonymous",
            "actor_organisation": _clip("actor_organisation", fields.get("organisation")),
            "action": _clip("action", fields["action"]),
            "record_type": _clip("record_type", fields.get("record_type")),
            "record_id": _clip("record_id", None if record_id is None else str(record_id)),
            "reason": fields.get("reason"),
            "outcome": fields["outcome"],
            "detail": _plain_json(fields.get("detail")),
            "client": _clip("client", fields.get("client")),
            "prev_hash": last_hash,
        }
        row["hash"] = last_hash = compute_hash(row)
        written.append(row)
    return written


def _insert_rows(session: Session | Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT chained rows in one statement (executemany), without the ORM's unit of work."""
    session.execute(insert(AuditEvent.__table__), list(rows))


def record_event_now(sessions: sessionmaker[Session], **fields: Any) -> AuditEvent:
    """Append an event in its own transaction, committed at once: for refusals and failures,
    which must be recorded even though the request's own work is rolled back.

    Takes the same keyword arguments as :func:`record_event`. On SQLite, do not call it while
    holding an open write transaction on another session (it would wait for that lock).
    """
    with db.transaction(sessions) as session:
        return record_event(session, **fields)


def check_outcomes(events: Sequence[Mapping[str, Any]]) -> None:
    """Refuse events whose outcome is not one of :data:`OUTCOMES`."""
    for fields in events:
        if fields.get("outcome") not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {fields.get('outcome')!r}")


def append_batch(sessions: sessionmaker[Session], events: Sequence[Mapping[str, Any]]) -> None:
    """Append `events` in one transaction of their own, committed before returning: a group
    commit's batch. On SQLite the web workers take turns (``db.writer_turn``)."""
    engine = sessions.kw.get("bind")
    with db.writer_turn(engine), _batch_transaction(sessions, engine) as connection:
        _insert_rows(connection, _chained(connection, events))


@contextmanager
def _batch_transaction(sessions: sessionmaker[Session], engine: Any) -> Iterator[Any]:
    # A plain connection, not an ORM session, when the store is known: a batch is written
    # for every few reads, and the session's set-up and unit of work cost more than the rows.
    if engine is None:
        with db.transaction(sessions) as session:
            yield session
    else:
        with engine.begin() as connection:
            yield connection


@dataclass
class _Waiting:
    """One caller's events in the group-commit queue, and how their append ended."""

    events: Sequence[Mapping[str, Any]]
    wake: threading.Event = field(default_factory=threading.Event)
    written: bool = False
    lead: bool = False  # woken to write the next batch, not because its events are written
    error: BaseException | None = None


class GroupCommit:
    """Appends from concurrent callers, each in its own transaction, committed together.

    A caller's :meth:`append` returns only once its events are committed, so work audited
    this way (a read, a search) is answered only after its audit event is stored. While one
    batch is being written, the events of callers arriving meanwhile queue up; the first of
    them then writes the whole queue as the next batch, in one transaction under one chain
    lock: one commit (and one fsync on PostgreSQL) for many requests instead of one each.
    There is no background thread: a waiting caller does the writing (leader and followers).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._writing = False

    def append(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append `events` (keyword arguments of :func:`record_event`); return once committed."""
        check_outcomes(events)
        if not events:
            return
        me = _Waiting(events)
        with self._lock:
            self._queue.append(me)
            lead = not self._writing
            self._writing = True
        while not lead:
            me.wake.wait()
            me.wake.clear()
            if me.written:
                break
            lead = me.lead
        if lead:
            self._write_next_batch()
        if me.error is not None:
            raise me.error

    def _write_next_batch(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            append_batch(self._sessions, [e for waiting in batch for e in waiting.events])
        except BaseException as exc:  # every caller in the batch learns its append failed
            for waiting in batch:
                waiting.error = exc
        for waiting in batch:
            waiting.written = True
            waiting.wake.set()
        with self._lock:  # hand the next batch to the first caller who queued meanwhile
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].wake.set()
            else:
                self._writing = False


class PerStore(Generic[T]):
    """One `make(sessions)` per store (session factory) and process, made on first use."""

    def __init__(self, make: Callable[[sessionmaker[Session]], T]) -> None:
        self._make = make
        self._found: weakref.WeakKeyDictionary[sessionmaker[Session], T] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def __call__(self, sessions: sessionmaker[Session]) -> T:
        with self._lock:
            found = self._found.get(sessions)
            if found is None:
                found = self._found[sessions] = self._make(sessions)
            return found


group_commit = PerStore(GroupCommit)  # the group commit of the store a session factory opens


def record_events_committed(
    sessions: sessionmaker[Session], events: Sequence[Mapping[str, Any]]
) -> None:
    """Append `events` in a transaction of their own, shared with concurrent callers' events
    (group commit), and return once they are committed: for auditing work that writes
    nothing itself, such as reads and searches, before answering. Raises if they could not be
    stored, so the caller can refuse to answer."""
    group_commit(sessions).append(events)


def audit_request(
    request: Any,
    session: Session,
    *,
    action: str,
    outcome: str = "success",
    record_type: str | None = None,
    record_id: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Audit what the current request did, as its principal, in the caller's transaction.

    For other domains' routes: ``audit_request(request, session, action="record.read",
    record_type="Patient", record_id=nhs_number, reason=purpose)``.
    """
    principal = getattr(request.state, "principal", None)
    context = {"method": request.method, "path": request.url.path}
    if principal is not None:
        context["auth_method"] = principal.auth_method
    return record_event(
        session,
        actor=principal.username if principal else "anonymous",
        organisation=principal.organisation_code if principal else None,
        action=action,
        outcome=outcome,
        record_type=record_type,
        record_id=record_id,
        reason=reason,
        detail={**context, **(detail or {})},
        client=request.client.host if request.client else None,
    )


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows_checked: int
    first_bad_id: int | None = None
    problem: str | None = None
    head_hash: str = GENESIS_HASH


def verify_chain(session: Session, batch_size: int = 2000) -> ChainReport:
    """Walk the whole log in order and report the first row whose chain does not hold."""
    expected_id, prev_hash, checked = 1, GENESIS_HASH, 0
    rows = session.scalars(
        select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch_size)
    )
    for event in rows:
        problem = None
        if event.id != expected_id:
            missing = (
                f"{expected_id}"
                if event.id == expected_id + 1
                else (f"{expected_id}-{event.id - 1}")
            )
            problem = f"row(s) {missing} missing: the chain jumps to {event.id}"
        elif event.prev_hash != prev_hash:
            problem = "prev_hash does not match the previous row's hash"
        elif compute_hash(event) != event.hash:
            problem = "contents do not match the row's hash (the row was edited)"
        if problem:
            return ChainReport(False, checked, event.id, problem, prev_hash)
        checked += 1
        expected_id, prev_hash = event.id + 1, event.hash
    return ChainReport(True, checked, None, None, prev_hash)


def last_verification(session: Session) -> AuditEvent | None:
    """The most recent "audit.verify" event: when the chain was last checked, by whom, result."""
    return session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "audit.verify")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    record_type: str | None = None
    record_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search_events(
    session: Session, where: AuditFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEvent], int]:
    """Events matching `where`, newest first, one page at a time; with the total count."""
    conditions = [
        column == value
        for column, value in (
            (AuditEvent.actor, where.actor),
            (AuditEvent.action, where.action),
            (AuditEvent.outcome, where.outcome),
            (AuditEvent.record_type, where.record_type),
            (AuditEvent.record_id, where.record_id),
        )
        if value
    ]
    if where.since is not None:
        conditions.append(AuditEvent.occurred_at >= where.since)
    if where.until is not None:
        conditions.append(AuditEvent.occurred_at < where.until)
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
    events = session.scalars(
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(events), total


def verify_and_record(request: Any, session: Session) -> ChainReport:
    """Walk the chain for the current user and audit that they did (web page and API alike)."""
    report = verify_chain(session)
    audit_request(
        request,
        session,
        action="audit.verify",
        outcome="success" if report.ok else "failure",
        record_type="AuditEvent",
        detail=asdict(report),
    )
    return report


def record_domain_event(
    domain: str,
    session: Session,
    actor: Any,
    action: str,
    record_type: str,
    record_id: int | str,
    detail: dict[str, Any] | None = None,
    *,
    reason: str | None = None,
    outcome: str = "success",
) -> AuditEvent:
    """Append ``<domain>.<action>`` about a ``<domain>_<record_type>`` row, in the caller's
    transaction, as `actor` (anything with ``username``, ``organisation`` and ``client``).

    A domain binds its name once: ``audit = partial(record_domain_event, "governance")``.
    """
    return record_event(
        session,
        actor=actor.username,
        organisation=actor.organisation,
        action=f"{domain}.{action}",
        outcome=outcome,
        record_type=f"{domain}_{record_type}",
        record_id=str(record_id),
        reason=reason,
        detail=detail,
        client=actor.client,
    )
