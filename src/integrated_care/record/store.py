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
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
import uuid6
from sqlalchemy import (
    Row,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.prepared import PreparedQuery
from integrated_care.record.extract import compartment_patient, index_tuples
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
    utc = _aware(moment)
    if utc.year < 1000:  # strftime does not pad such years: keep its text exactly
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    # isoformat is the same text as the strftime above at a fraction of its cost (two a write).
    return utc.isoformat(timespec="milliseconds")[:-6] + "Z"  # less its "+00:00"


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

_VERSION_COLUMNS = ("resource_type", "id", "version_id", "last_updated", "deleted", "patient_id")
BULK_METHOD = "PUT"  # the method a bulk-loaded version is listed with in history


def _not_in_history() -> Any:
    """True for a current row whose version has no history row (a bulk-loaded version)."""
    return ~(
        select(_HISTORY.c.version_id)
        .where(
            _HISTORY.c.resource_type == _CURRENT.c.resource_type,
            _HISTORY.c.id == _CURRENT.c.id,
            _HISTORY.c.version_id == _CURRENT.c.version_id,
        )
        .exists()
    )


def keep_superseded(session: Session, keys: list[tuple[str, str]]) -> None:
    """Before the current versions of `keys` (type, id) are replaced: append to history those
    that are not there yet. The bulk path stores a new resource's first version once, in
    ``record_resource`` only; it reaches history when it is superseded, so history (with the
    current rows) still holds every version."""
    if not keys:
        return
    key = (
        (_CURRENT.c.resource_type == keys[0][0]) & (_CURRENT.c.id == keys[0][1])
        if len(keys) == 1
        else tuple_(_CURRENT.c.resource_type, _CURRENT.c.id).in_(keys)
    )
    columns = [*_VERSION_COLUMNS, "content"]
    session.execute(
        insert(_HISTORY).from_select(
            [*columns, "method"],
            select(*(_CURRENT.c[c] for c in columns), literal(BULK_METHOD, String(10))).where(
                key, _not_in_history()
            ),
        )
    )


def current(session: Session, resource_type: str, resource_id: str, *, lock: bool = False
            ) -> Row | None:  # fmt: skip
    """The current row of a resource (deleted or not), or None. A plain row, not an ORM
    object, so what a transaction wrote earlier is always what it reads back."""
    session.flush()  # what the ORM's autoflush would do before a query
    flush_inserts(session)
    query = _CURRENT_ROW_LOCKED if lock else _CURRENT_ROW
    return query.first(session.connection(), {"type": resource_type, "id": resource_id})


# Prepared once: the read of every FHIR interaction runs it, and building, cache-keying and
# executing it through SQLAlchemy's full path each time cost more than running it.
_CURRENT_SELECT = select(_CURRENT).where(
    _CURRENT.c.resource_type == bindparam("type"), _CURRENT.c.id == bindparam("id")
)
_CURRENT_ROW = PreparedQuery(_CURRENT_SELECT)
_CURRENT_ROW_LOCKED = PreparedQuery(_CURRENT_SELECT.with_for_update())


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
    row: Row | RecordResourceHistory | None = session.get(
        RecordResourceHistory, (resource_type, resource_id, int(version_id))
    )
    if row is None:
        # A bulk-loaded current version is in record_resource only (see keep_superseded).
        row = current(session, resource_type, resource_id)
        if row is not None and row.version_id != int(version_id):
            row = None
    if row is None:
        raise FhirError.of(404, f"there is no {resource_type}/{resource_id}/_history/{version_id}")
    if row.deleted:
        raise FhirError.of(
            410, f"version {version_id} of {resource_type}/{resource_id} is its deletion"
        )
    return _version(row)


def served_json(resource: dict[str, Any], resource_id: str, version: int, last_updated: str) -> str:
    """The JSON served for a version: resourceType and id first, meta last with versionId and
    lastUpdated (`last_updated` as a FHIR instant, see `instant`)."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = last_updated
    stored = {"resourceType": resource["resourceType"], "id": resource_id}
    stored.update((k, v) for k, v in resource.items() if k not in ("resourceType", "id", "meta"))
    stored["meta"] = meta
    return orjson.dumps(stored).decode()


def _with_meta(resource: dict[str, Any], resource_id: str, version: int, when: datetime) -> str:
    return served_json(resource, resource_id, version, instant(when))


# --- rows straight to the tables ----------------------------------------------------------------

# Table and column names in SQL text come from the models, never from input.
CURRENT_COLUMNS = (
    "resource_type",
    "id",
    "version_id",
    "last_updated",
    "deleted",
    "patient_id",
    "content",
)
HISTORY_COLUMNS = (*CURRENT_COLUMNS, "method")
INDEX_COLUMNS = {
    SearchToken: ("resource_type", "resource_id", "param", "system", "code"),
    SearchString: ("resource_type", "resource_id", "param", "value", "exact"),
    SearchDate: ("resource_type", "resource_id", "param", "low", "high"),
    SearchReference: ("resource_type", "resource_id", "param", "target_type", "target_id"),
}
_PATIENT = 5  # position of patient_id in a current row
COPY_FROM_ROWS = 100  # on PostgreSQL, more rows than this go in by COPY


@dataclass
class Rows:
    """Rows ready to insert, of one or many resources: their current versions
    (``record_resource``) and their search index rows (``extract.index_tuples``, the one
    extractor behind every write). Built anywhere (the loader builds them in a worker process)
    and written by `insert_rows`."""

    resources: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]
    tokens: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]
    strings: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]
    dates: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]
    references: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]
    by_type: Counter[str] = field(default_factory=Counter)
    encoded: str | None = None  # the database dialect the values were converted for

    def add(
        self,
        resource_type: str,
        resource_id: str,
        resource: dict[str, Any],
        version: int,
        moment: datetime,
        last_updated: str,
    ) -> None:
        """Add one resource as version `version`, last updated at `moment` (`last_updated` is
        the same instant as FHIR text, computed once by the caller)."""
        patient = compartment_patient(resource_type, resource_id, resource)
        content = served_json(resource, resource_id, version, last_updated)
        self.resources.append(
            (resource_type, resource_id, version, moment, False, patient, content)
        )
        self.add_index(resource_type, resource_id, resource)
        self.by_type[resource_type] += 1

    def add_index(self, resource_type: str, resource_id: str, resource: dict[str, Any]) -> None:
        tokens, strings, dates, references = index_tuples(resource_type, resource_id, resource)
        self.tokens += tokens
        self.strings += strings
        self.dates += dates
        self.references += references

    @property
    def index_count(self) -> int:
        return len(self.tokens) + len(self.strings) + len(self.dates) + len(self.references)

    def tables(self) -> list[tuple[Any, Sequence[str], list[tuple]]]:  # type: ignore[type-arg]
        """(table, columns, rows) of the search indexes."""
        return [
            (table.__table__, INDEX_COLUMNS[table], rows)
            for table, rows in (
                (SearchToken, self.tokens),
                (SearchString, self.strings),
                (SearchDate, self.dates),
                (SearchReference, self.references),
            )
        ]

    def without_patients(self, patients: set[str]) -> Rows:
        """These rows less those of the resources in `patients`' compartments."""
        gone = {r[1] for r in self.resources if r[_PATIENT] in patients}
        kept = Rows(encoded=self.encoded)
        kept.resources = [r for r in self.resources if r[_PATIENT] not in patients]
        kept.tokens, kept.strings, kept.dates, kept.references = (
            [r for r in rows if r[1] not in gone] for _, _, rows in self.tables()
        )
        kept.by_type = Counter(r[0] for r in kept.resources)
        return kept

    def encode(self, dialect_name: str) -> Rows:
        """Convert the values to what the database driver is handed (SQLite: the columns'
        own SQLAlchemy bind processors, so values are stored exactly as the ORM stores them).
        Done where the rows are built, to keep that work off the writing process."""
        if self.encoded is None and dialect_name == "sqlite":
            dialect = sqlite_dialect()
            self.resources = encode_values(dialect, _CURRENT, CURRENT_COLUMNS, self.resources)
            self.dates = encode_values(
                dialect, SearchDate.__table__, INDEX_COLUMNS[SearchDate], self.dates
            )
        self.encoded = dialect_name
        return self


@lru_cache(maxsize=64)
def _processors(dialect: Any, table: Any, columns: tuple[str, ...]) -> list[tuple[int, Any]]:
    return [
        (n, process)
        for n, c in enumerate(columns)
        if (process := table.c[c].type._cached_bind_processor(dialect)) is not None
    ]


def encode_values(
    dialect: Any,
    table: Any,
    columns: Sequence[str],
    rows: list[tuple],  # type: ignore[type-arg]
) -> list[tuple]:  # type: ignore[type-arg]
    """`rows` with each value converted by its column type's bind processor for `dialect`."""
    processors = _processors(dialect, table, tuple(columns))
    if not processors:
        return rows
    # Values repeat a lot (one timestamp per batch, the same days): convert each once.
    caches: list[dict[Any, Any]] = [{} for _ in processors]
    out = []
    for row in rows:
        values = list(row)
        for (position, process), cache in zip(processors, caches, strict=True):
            value = values[position]
            if value is not None:
                stored = cache.get(value)
                if stored is None:
                    stored = cache[value] = process(value)
                values[position] = stored
        out.append(tuple(values))
    return out


def insert_rows(
    session: Session,
    table: Any,
    columns: Sequence[str],
    rows: list[tuple],  # type: ignore[type-arg]
    *,
    encoded: bool = False,
) -> None:
    """INSERT `rows` straight through the session's DBAPI connection, in the session's
    transaction: ``executemany`` on SQLite (values converted by the columns' own types unless
    already `encoded`), COPY (or ``executemany`` for a few rows) on PostgreSQL."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    raw: Any = connection.connection.dbapi_connection
    names = ", ".join(columns)
    if dialect.name == "sqlite":
        if not encoded:
            rows = encode_values(dialect, table, columns, rows)
        marks = ", ".join("?" for _ in columns)
        raw.cursor().executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)  # noqa: S608
    elif dialect.name == "postgresql":
        with raw.cursor() as cursor:
            if len(rows) > COPY_FROM_ROWS:
                with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("%s" for _ in columns)
                cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)  # noqa: S608
    else:
        session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


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
    rows = Rows()
    rows.add_index(resource_type, resource_id, resource)
    for table, columns, values in rows.tables():
        insert_rows(session, table, columns, values)


# --- a transaction bundle's creates, inserted together ------------------------------------------

_PENDING = "integrated_care.record.store.pending"


@dataclass
class _Pending:
    """New resources written but not inserted yet, and the types that may not wait."""

    immediate: frozenset[str]
    rows: Rows = field(default_factory=Rows)
    history: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]


@contextmanager
def deferring_inserts(session: Session, *, immediate: frozenset[str] | None) -> Iterator[None]:
    """Within the block, a new resource of a type not in `immediate` is inserted (its current
    row, history row and search index rows) together with the others when the block ends, or
    before anything reads the current rows (:func:`current`) or writes a resource of an
    `immediate` type, instead of on its own: a few statements instead of six per resource.

    The caller makes sure nothing else reads what waits: a transaction bundle flushes
    (:func:`flush_inserts`) before any entry but a create, and passes as `immediate` the types
    the access rules read (access.AccessMemo.types_read). With `immediate` None nothing waits."""
    if immediate is None:
        yield
        return
    session.info[_PENDING] = _Pending(immediate)
    try:
        yield
        flush_inserts(session)
    finally:
        session.info.pop(_PENDING, None)


def flush_inserts(session: Session) -> None:
    """Insert the resources :func:`deferring_inserts` holds back, if any."""
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None or not pending.rows.resources:
        return
    rows, history = pending.rows, pending.history
    pending.rows, pending.history = Rows(), []
    insert_rows(session, _CURRENT, CURRENT_COLUMNS, rows.resources)
    insert_rows(session, _HISTORY, HISTORY_COLUMNS, history)
    for table, columns, values in rows.tables():
        insert_rows(session, table, columns, values)


def _held_back(
    session: Session, row: tuple[Any, ...], resource: dict[str, Any], method: str
) -> bool:
    """Hold a new resource's rows back for :func:`flush_inserts`, when a bundle defers them."""
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None:
        return False
    if row[0] in pending.immediate:
        flush_inserts(session)
        return False
    pending.rows.resources.append(row)
    pending.history.append((*row, method))
    pending.rows.add_index(row[0], row[1], resource)
    return True


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
    row = (resource_type, resource_id, version, when, resource is None, patient_id, content)
    if existing is None and resource is not None and _held_back(session, row, resource, method):
        return Version(*row)
    if existing is None:
        insert_rows(session, _CURRENT, CURRENT_COLUMNS, [row])
    else:
        keep_superseded(session, [(resource_type, resource_id)])
        session.execute(
            sql_update(_CURRENT)
            .where(_CURRENT.c.resource_type == resource_type, _CURRENT.c.id == resource_id)
            .values(dict(zip(CURRENT_COLUMNS[2:], row[2:], strict=True)))
        )
    insert_rows(session, _HISTORY, HISTORY_COLUMNS, [(*row, method)])
    _reindex(session, resource_type, resource_id, resource, new=existing is None)
    return Version(*row)


def new_id() -> str:
    """A server-assigned id: a version-7 UUID, which begins with the time it was made. New
    resources' keys then fall at the end of the (type, id) B-trees rather than anywhere in
    them, so a transaction bundle of new resources dirties a few pages of those indexes
    instead of one per resource (a tenth less of its time holding SQLite's write lock)."""
    return str(uuid6.uuid7())


def create(
    session: Session,
    resource_type: str,
    body: Any,
    *,
    resource_id: str | None = None,
    validated: bool = False,
) -> Version:
    """Store `body` as a new resource with a server-assigned id (any id in it is ignored).
    `validated`: the caller has already passed it through ``validate_resource``."""
    require_supported(resource_type)
    resource = body if validated else validate_resource(resource_type, body)
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
    validated: bool = False,
) -> tuple[Version, bool]:
    """Replace a resource (PUT); creates it when the id is new. Returns (version, created).

    With `if_match`, the update happens only if the current version is that one (else 412).
    `validated`: the caller has already passed `body` through ``validate_resource``.
    """
    require_supported(resource_type)
    require_valid_id(resource_id)
    resource = body if validated else validate_resource(resource_type, body)
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
    """Versions newest first, of one resource or of every resource of a type: the history
    table, plus current versions that are not in it yet (bulk-loaded, see keep_superseded)."""
    require_supported(resource_type)
    H, C = _HISTORY, _CURRENT
    in_history = [H.c.resource_type == resource_type]
    only_current = [C.c.resource_type == resource_type, _not_in_history()]
    if resource_id is not None:
        if current(session, resource_type, resource_id) is None:
            raise FhirError.of(404, f"there is no {resource_type}/{resource_id}")
        in_history.append(H.c.id == resource_id)
        only_current.append(C.c.id == resource_id)
    if since is not None:
        in_history.append(H.c.last_updated >= since)
        only_current.append(C.c.last_updated >= since)
    columns = [*_VERSION_COLUMNS, "content"]
    versions = union_all(
        select(*(H.c[c] for c in columns), H.c.method).where(*in_history),
        select(*(C.c[c] for c in columns), literal(BULK_METHOD, String(10)).label("method")).where(
            *only_current
        ),
    ).subquery()
    total = session.scalar(select(func.count()).select_from(versions)) or 0
    rows = session.execute(
        select(versions)
        .order_by(versions.c.last_updated.desc(), versions.c.id, versions.c.version_id.desc())
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
