"""Reading and writing resources: versions, history and search indexes kept in step.

Every write runs in the caller's transaction and (1) takes the write lock: SQLite's single
writer lock (BEGIN IMMEDIATE) before anything is read, and on PostgreSQL a row lock on the
resource (SELECT ... FOR UPDATE) or, for conditional creates, an advisory lock on the search
criteria; (2) writes the current row, (3) appends the version to history, (4) replaces the
resource's search index rows. A version check (If-Match) is therefore made against the version
that will really be replaced.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Row, delete, func, insert, select, text
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.record.extract import compartment_patient, index_rows
from integrated_care.record.models import (
    RecordResource,
    RecordResourceHistory,
    SearchDate,
    SearchReference,
    SearchString,
    SearchToken,
)
from integrated_care.record.outcomes import FhirError
from integrated_care.record.validation import require_supported, require_valid_id, validate_resource


@dataclass(frozen=True)
class Version:
    """One version of a resource as stored."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    patient_id: str | None
    content: str | None  # the JSON served; None for a deletion

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @property
    def location(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/{self.version_id}"

    def resource(self) -> dict[str, Any]:
        return orjson.loads(self.content) if self.content else {}

    @property
    def last_modified(self) -> str:
        return instant(self.last_updated)


def _aware(moment: datetime) -> datetime:
    # SQLite hands datetimes back naive; everything this module stores is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC with milliseconds, e.g. 2026-11-25T15:40:00.123Z."""
    return _aware(moment).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now() -> datetime:
    """The write clock, to the millisecond (what meta.lastUpdated can carry exactly)."""
    moment = db.utcnow()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _version(row: Row | RecordResourceHistory) -> Version:
    return Version(
        row.resource_type,
        row.id,
        row.version_id,
        _aware(row.last_updated),
        row.deleted,
        row.patient_id,
        row.content,
    )


def take_write_lock(session: Session, key: str | None = None) -> None:
    """Serialise this write: SQLite's writer lock; on PostgreSQL an advisory lock on `key`
    (held to the end of the transaction) when given."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql" and key is not None:
        digest = hashlib.sha256(key.encode()).digest()
        lock = int.from_bytes(digest[:8], "big", signed=True)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})


_CURRENT = RecordResource.__table__
_HISTORY = RecordResourceHistory.__table__


def current(session: Session, resource_type: str, resource_id: str, *, lock: bool = False
            ) -> Row | None:  # fmt: skip
    """The current row of a resource (deleted or not), or None. A plain row, not an ORM
    object, so what a transaction wrote earlier is always what it reads back."""
    query = select(_CURRENT).where(
        _CURRENT.c.resource_type == resource_type, _CURRENT.c.id == resource_id
    )
    if lock:
        query = query.with_for_update()
    return session.execute(query).first()


def read(session: Session, resource_type: str, resource_id: str) -> Version:
    """The current version; 404 if it never existed, 410 if deleted."""
    require_supported(resource_type)
    row = current(session, resource_type, resource_id)
    if row is None:
        raise FhirError.of(404, f"there is no {resource_type}/{resource_id}")
    if row.deleted:
        raise FhirError.of(
            410,
            f"{resource_type}/{resource_id} was deleted (version {row.version_id})",
            headers={"ETag": f'W/"{row.version_id}"'},
        )
    return _version(row)


def vread(session: Session, resource_type: str, resource_id: str, version_id: str) -> Version:
    """One version from history; 404 if there is no such version, 410 if it is a deletion."""
    require_supported(resource_type)
    if not version_id.isdigit():
        raise FhirError.of(404, f"there is no version {version_id!r}")
    row = session.get(RecordResourceHistory, (resource_type, resource_id, int(version_id)))
    if row is None:
        raise FhirError.of(404, f"there is no {resource_type}/{resource_id}/_history/{version_id}")
    if row.deleted:
        raise FhirError.of(
            410, f"version {version_id} of {resource_type}/{resource_id} is its deletion"
        )
    return _version(row)


def _with_meta(resource: dict[str, Any], resource_id: str, version: int, when: datetime) -> str:
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = instant(when)
    stored = {"resourceType": resource["resourceType"], "id": resource_id}
    stored.update((k, v) for k, v in resource.items() if k not in ("resourceType", "id", "meta"))
    stored["meta"] = meta
    return orjson.dumps(stored).decode()


def _reindex(
    session: Session, resource_type: str, resource_id: str, resource: dict | None, *, new: bool
) -> None:
    if not new:
        for table in (SearchToken, SearchString, SearchDate, SearchReference):
            session.execute(
                delete(table).where(
                    table.resource_type == resource_type, table.resource_id == resource_id
                )
            )
    if resource is None:
        return
    rows = index_rows(resource_type, resource_id, resource)
    for table, values in (
        (SearchToken, rows.tokens),
        (SearchString, rows.strings),
        (SearchDate, rows.dates),
        (SearchReference, rows.references),
    ):
        if values:
            session.execute(insert(table.__table__), values)


def _write(
    session: Session,
    existing: Row | None,
    resource_type: str,
    resource_id: str,
    resource: dict[str, Any] | None,
    method: str,
) -> Version:
    when = now()
    version = (existing.version_id + 1) if existing is not None else 1
    content = _with_meta(resource, resource_id, version, when) if resource is not None else None
    patient_id = (
        compartment_patient(resource_type, resource_id, resource)
        if resource is not None
        else (existing.patient_id if existing is not None else None)
    )
    values = {
        "version_id": version,
        "last_updated": when,
        "deleted": resource is None,
        "patient_id": patient_id,
        "content": content,
    }
    key = {"resource_type": resource_type, "id": resource_id}
    if existing is None:
        session.execute(insert(_CURRENT), [{**key, **values}])
    else:
        session.execute(
            sql_update(_CURRENT)
            .where(_CURRENT.c.resource_type == resource_type, _CURRENT.c.id == resource_id)
            .values(**values)
        )
    session.execute(insert(_HISTORY), [{**key, **values, "method": method}])
    _reindex(session, resource_type, resource_id, resource, new=existing is None)
    return Version(resource_type, resource_id, version, when, resource is None, patient_id, content)


def new_id() -> str:
    return str(uuid.uuid4())


def create(
    session: Session, resource_type: str, body: Any, *, resource_id: str | None = None
) -> Version:
    """Store `body` as a new resource with a server-assigned id (any id in it is ignored)."""
    require_supported(resource_type)
    resource = validate_resource(resource_type, body)
    take_write_lock(session)
    return _write(session, None, resource_type, resource_id or new_id(), resource, "POST")


def _check_version(row: Row | None, if_match: int | None, what: str) -> None:
    if if_match is None:
        return
    held = None if row is None else row.version_id
    if held != if_match:
        raise FhirError.of(
            412,
            f"{what} is at version {held if held is not None else 'none'}, not {if_match}: "
            "someone else changed it; read it again and reapply your change",
            code="conflict",
        )


def update(
    session: Session,
    resource_type: str,
    resource_id: str,
    body: Any,
    *,
    if_match: int | None = None,
) -> tuple[Version, bool]:
    """Replace a resource (PUT); creates it when the id is new. Returns (version, created).

    With `if_match`, the update happens only if the current version is that one (else 412).
    """
    require_supported(resource_type)
    require_valid_id(resource_id)
    resource = validate_resource(resource_type, body)
    if resource.get("id") != resource_id:
        raise FhirError.of(
            400,
            f"the resource's id ({resource.get('id')!r}) must match the URL ({resource_id!r})",
            expression=f"{resource_type}.id",
        )
    take_write_lock(session)
    row = current(session, resource_type, resource_id, lock=True)
    _check_version(row, if_match, f"{resource_type}/{resource_id}")
    created = row is None or row.deleted
    return _write(session, row, resource_type, resource_id, resource, "PUT"), created


def delete_resource(
    session: Session, resource_type: str, resource_id: str, *, if_match: int | None = None
) -> Version | None:
    """Delete (a new version marked deleted; history is kept). None if it was already deleted;
    404 if it never existed."""
    require_supported(resource_type)
    take_write_lock(session)
    row = current(session, resource_type, resource_id, lock=True)
    if row is None:
        raise FhirError.of(404, f"there is no {resource_type}/{resource_id}")
    _check_version(row, if_match, f"{resource_type}/{resource_id}")
    if row.deleted:
        return None
    return _write(session, row, resource_type, resource_id, None, "DELETE")


@dataclass(frozen=True)
class HistoryPage:
    versions: list[tuple[Version, str]]  # (version, method)
    total: int


def history(
    session: Session,
    resource_type: str,
    resource_id: str | None = None,
    *,
    since: datetime | None = None,
    count: int = 50,
    offset: int = 0,
) -> HistoryPage:
    """Versions newest first, of one resource or of every resource of a type."""
    require_supported(resource_type)
    H = RecordResourceHistory
    where = [H.resource_type == resource_type]
    if resource_id is not None:
        where.append(H.id == resource_id)
        if current(session, resource_type, resource_id) is None:
            raise FhirError.of(404, f"there is no {resource_type}/{resource_id}")
    if since is not None:
        where.append(H.last_updated >= since)
    total = session.scalar(select(func.count()).select_from(H).where(*where)) or 0
    rows = session.scalars(
        select(H)
        .where(*where)
        .order_by(H.last_updated.desc(), H.id, H.version_id.desc())
        .limit(count)
        .offset(offset)
    ).all()
    return HistoryPage([(_version(r), r.method) for r in rows], total)


def reindex(session: Session, resource_type: str, *, batch_size: int = 500) -> int:
    """Rebuild the search index rows of every current resource of `resource_type` from its
    stored JSON (after search_parameters.json changes). Returns how many were re-indexed."""
    require_supported(resource_type)
    take_write_lock(session)
    for table in (SearchToken, SearchString, SearchDate, SearchReference):
        session.execute(delete(table).where(table.resource_type == resource_type))
    done = 0
    rows = session.execute(
        select(_CURRENT.c.id, _CURRENT.c.content)
        .where(_CURRENT.c.resource_type == resource_type, _CURRENT.c.deleted.is_(False))
        .order_by(_CURRENT.c.id)
    ).all()
    for start in range(0, len(rows), batch_size):
        for resource_id, content in rows[start : start + batch_size]:
            _reindex(session, resource_type, resource_id, orjson.loads(content), new=True)
            done += 1
    return done
