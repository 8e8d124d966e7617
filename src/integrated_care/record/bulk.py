"""The direct bulk path into the record: many resources written straight to the store's tables.

Used by the demo loader (``record/loader.py``) and by FHIR NDJSON import (``ics record import``).
Each resource is stored exactly as the API would store it: the served JSON with ``meta``, a
version in history, the patient compartment, and index rows from the same extractor
(``extract.index_rows``), so search finds bulk-loaded resources exactly as it finds the API's.
The difference is the grain: one write lock, multi-row INSERTs (COPY on PostgreSQL) and one
audit event per batch instead of per resource. Callers batch by whole patients, one database
transaction per batch, so a failure part-way leaves no partial patient.

Importing NDJSON validates every resource with the FHIR R4B models before anything is written.
"""

# Table and column names in SQL text come from the models, never from input.
from __future__ import annotations

import gzip
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from sqlalchemy import bindparam, delete, select, tuple_
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_events
from integrated_care.record import search, store
from integrated_care.record.extract import compartment_patient
from integrated_care.record.models import (
    INDEX_TABLES,
    RecordResource,
)
from integrated_care.record.outcomes import FhirError
from integrated_care.record.searchparams import definitions
from integrated_care.record.validation import ID_PATTERN, validate_resource
from integrated_care.runtime import Runtime

_CURRENT = RecordResource.__table__
PATIENTS_AUDITED = 1000  # at most this many patient ids named in one batch's audit event
SQLITE_CACHE_KIB = 256 * 1024


@dataclass
class Prepared:
    """One resource to store: its type, id and JSON (without meta.versionId/lastUpdated)."""

    resource_type: str
    id: str
    resource: dict[str, Any]


def prepare(resource_type: str, resource_id: str, resource: dict[str, Any]) -> Prepared:
    return Prepared(resource_type, resource_id, resource)


@dataclass
class Written:
    """What one call of :func:`write` stored."""

    resources: int = 0
    index_rows: int = 0
    replaced: int = 0
    by_type: Counter[str] = field(default_factory=Counter)


def _existing(session: Session, items: Iterable[Prepared]) -> dict[tuple[str, str], int]:
    """(type, id) -> current version of those of `items` already stored."""
    found: dict[tuple[str, str], int] = {}
    by_type: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_type[item.resource_type].append(item.id)
    for resource_type, ids in by_type.items():
        for start in range(0, len(ids), 900):
            rows = session.execute(
                select(_CURRENT.c.id, _CURRENT.c.version_id).where(
                    _CURRENT.c.resource_type == resource_type,
                    _CURRENT.c.id.in_(ids[start : start + 900]),
                )
            )
            found.update({(resource_type, r.id): r.version_id for r in rows})
    return found


def begin(session: Session) -> None:
    """Start a bulk transaction: the write lock, and on SQLite a page cache big enough for the
    index B-trees a batch touches (the default 2 MB thrashes)."""
    store.take_write_lock(session)
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    elif connection.dialect.name == "postgresql":
        # The commit does not wait for its WAL to reach disk: a server crash may lose the last
        # batches, never part of one (each is one transaction), and a rerun loads them again.
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        # Plan each statement for its own values and the tables as they are now. A prepared
        # statement's generic plan is made once, while a load's tables are still small; the one
        # for "which of these 500 patients are stored?" then tested every stored Patient
        # against all 500 ids: 1.1 s a batch by the end of a whole-ICS load, 90% of the
        # server's time.
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def insert_new(session: Session, rows: store.Rows) -> None:
    """Insert `rows` (all new resources; a duplicate key fails the transaction) in the caller's
    transaction, after `begin`."""
    dialect = session.get_bind().dialect.name
    rows.encode(dialect)
    if rows.encoded != dialect:
        raise ValueError(f"rows encoded for {rows.encoded}, written to {dialect}")
    store.insert_rows(session, _CURRENT, store.CURRENT_COLUMNS, rows.resources, encoded=True)
    for table, columns, values in rows.tables():
        store.insert_rows(session, table, columns, values, encoded=True)


def _replace_existing(session: Session, stale: list[tuple[str, str]], rows: store.Rows) -> None:
    """Make room for new versions of stored resources: keep their superseded versions in
    history, update their current rows, and drop their old index rows."""
    for start in range(0, len(stale), 500):
        store.keep_superseded(session, stale[start : start + 500])
    for table in INDEX_TABLES:
        for start in range(0, len(stale), 500):
            session.execute(
                delete(table).where(
                    tuple_(table.resource_type, table.resource_id).in_(stale[start : start + 500])
                )
            )
    keys = set(stale)
    columns = store.CURRENT_COLUMNS[2:]
    session.execute(
        sql_update(_CURRENT)
        .where(
            _CURRENT.c.resource_type == bindparam("k_type"),
            _CURRENT.c.id == bindparam("k_id"),
        )
        .values({c: bindparam(c) for c in columns}),
        [
            {"k_type": r[0], "k_id": r[1], **dict(zip(columns, r[2:], strict=True))}
            for r in rows.resources
            if (r[0], r[1]) in keys
        ],
    )
    rows.resources = [r for r in rows.resources if (r[0], r[1]) not in keys]


def write(
    session: Session,
    items: Sequence[Prepared],
    *,
    when: datetime | None = None,
    all_new: bool = False,
) -> Written:
    """Store `items` in the caller's transaction: a new resource gets version 1; one already
    stored gets its next version (its old index rows are replaced, its old version kept in
    history). Takes the write lock.

    `all_new` skips looking for stored versions: only for callers that know none is stored (a
    duplicate key then fails the transaction rather than making a second version)."""
    begin(session)
    moment = when or store.now()
    last_updated = store.instant(moment)
    latest: dict[tuple[str, str], Prepared] = {}
    for item in items:  # the last of several copies of one resource wins
        latest[(item.resource_type, item.id)] = item
    existing = {} if all_new else _existing(session, latest.values())
    rows = store.Rows()
    for key, item in latest.items():
        version = existing.get(key, 0) + 1
        rows.add(item.resource_type, item.id, item.resource, version, moment, last_updated)
    written = Written(
        resources=len(rows.resources),
        index_rows=rows.index_count,
        replaced=len(existing),
        by_type=Counter(rows.by_type),
    )
    if existing:
        _replace_existing(session, list(existing), rows)
    insert_new(session, rows)
    return written


def audit_batch(
    session: Session,
    *,
    actor: str,
    action: str,
    written: Written,
    patients: Sequence[str],
    organisation: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit event for a whole batch: how many of each type, and whose records."""
    record_events(
        session,
        [
            {
                "actor": actor,
                "organisation": organisation,
                "action": action,
                "outcome": "success",
                "record_type": "Bundle",
                "detail": {
                    **(detail or {}),
                    "resources": written.resources,
                    "replaced": written.replaced,
                    "by_type": dict(sorted(written.by_type.items())),
                    "patient_count": len(patients),
                    "patients": sorted(patients)[:PATIENTS_AUDITED],
                },
            }
        ],
    )


# --- FHIR NDJSON import ------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an NDJSON import stored, skipped and how fast."""

    stored: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # types this server does not serve
    patients: int = 0
    index_rows: int = 0
    seconds: float = 0.0

    @property
    def resources(self) -> int:
        return sum(self.stored.values())


class ImportRefused(Exception):
    """The export has invalid resources; nothing was stored. `problems` says where and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s); the first: {problems[0]}")
        self.problems = problems


def ndjson_files(folder: Path) -> list[Path]:
    """The NDJSON files of a bulk export (``*.ndjson``, ``*.ndjson.gz``), without log files."""
    files = sorted([*folder.glob("*.ndjson"), *folder.glob("*.ndjson.gz")])
    return [f for f in files if not f.name.startswith("log.")]


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(io.BufferedReader(handle), start=1):  # type: ignore[arg-type]
            if line.strip():
                yield number, line


def read_export(
    paths: Iterable[Path], *, validate: bool = True, max_problems: int = 20
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Every resource of the files this server serves, validated (R4B models, NHS numbers);
    with the count of resources of other types, which are skipped. Raises ImportRefused."""
    served = definitions().resources
    resources: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    problems: list[str] = []
    for path in paths:
        for number, line in _lines(path):
            where = f"{path.name}:{number}"
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                problems.append(f"{where}: not JSON ({exc})")
                continue
            resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
            if not isinstance(resource_type, str):
                problems.append(f"{where}: not a FHIR resource (no resourceType)")
                continue
            if resource_type not in served:
                skipped[resource_type] += 1
                continue
            if not isinstance(resource.get("id"), str) or not ID_PATTERN.match(resource["id"]):
                problems.append(f"{where}: {resource_type} has no valid id")
                continue
            if validate:
                try:
                    validate_resource(resource_type, resource)
                except FhirError as error:
                    problems.append(f"{where}: {error}")
                    continue
            resources.append(resource)
            if len(problems) >= max_problems:
                raise ImportRefused(problems)
    if problems:
        raise ImportRefused(problems)
    return resources, skipped


_CONDITIONAL_TYPE = "?"


def _conditional_references(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and _CONDITIONAL_TYPE in item:
                found.add(item)
            else:
                _conditional_references(item, found)
    elif isinstance(value, list):
        for item in value:
            _conditional_references(item, found)


def _rewrite(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                mapping.get(v, v)
                if k == "reference" and isinstance(v, str)
                else _rewrite(v, mapping)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, mapping) for v in value]
    return value


def resolve_conditional(session: Session, references: Iterable[str]) -> dict[str, str]:
    """``Type?query`` -> ``Type/id`` through the store's search; each must match exactly one."""
    mapping: dict[str, str] = {}
    for reference in sorted(references):
        resource_type, _, query = reference.partition("?")
        found = search.find_ids(session, resource_type, parse_qsl(query))
        if len(found) != 1:
            raise ImportRefused(
                [
                    f"the conditional reference {reference!r} matches {len(found)} resources "
                    "(it must match exactly one)"
                ]
            )
        mapping[reference] = f"{resource_type}/{found[0]}"
    return mapping


BatchHook = Callable[[Session, list[str]], None]


def store_by_patient(
    runtime: Runtime,
    resources: Sequence[dict[str, Any]],
    *,
    actor: str,
    action: str = "record.import",
    organisation: str | None = None,
    patients_per_batch: int = 200,
    on_batch: BatchHook | None = None,
    progress: Callable[[int], None] | None = None,
    detail: dict[str, Any] | None = None,
) -> ImportResult:
    """Store `resources`: first those in no patient's compartment (organisations,
    practitioners, ...), then each patient with their whole compartment, `patients_per_batch`
    patients per transaction, one audit event per transaction. `on_batch(session, patient_ids)`
    runs inside each transaction before it commits (a failure there rolls that batch back)."""
    result = ImportResult()
    shared: list[Prepared] = []
    by_patient: dict[str, list[Prepared]] = defaultdict(list)
    wanted: set[str] = set()
    for resource in resources:
        _conditional_references(resource, wanted)
    mapping: dict[str, str] = {}

    def prepared(resource: dict[str, Any]) -> Prepared:
        if mapping:
            resource = _rewrite(resource, mapping)
        return prepare(resource["resourceType"], resource["id"], resource)

    unresolved_shared = [
        r for r in resources if compartment_patient(r["resourceType"], r["id"], r) is None
    ]
    shared = [prepared(r) for r in unresolved_shared]
    for start in range(0, len(shared), 5000):
        chunk = shared[start : start + 5000]
        with runtime.transaction() as session:
            written = write(session, chunk)
            audit_batch(
                session,
                actor=actor,
                action=action,
                written=written,
                patients=[],
                organisation=organisation,
                detail=detail,
            )
        result.stored.update(written.by_type)
        result.index_rows += written.index_rows
        if progress:
            progress(len(chunk))
    if wanted:
        with runtime.transaction() as session:
            mapping.update(resolve_conditional(session, wanted))
    for resource in resources:
        patient = compartment_patient(resource["resourceType"], resource["id"], resource)
        if patient is not None:
            by_patient[patient].append(prepared(resource))
    patient_ids = sorted(by_patient)
    for start in range(0, len(patient_ids), patients_per_batch):
        batch = patient_ids[start : start + patients_per_batch]
        items = [p for patient_id in batch for p in by_patient[patient_id]]
        with runtime.transaction() as session:
            written = write(session, items)
            audit_batch(
                session,
                actor=actor,
                action=action,
                written=written,
                patients=batch,
                organisation=organisation,
                detail=detail,
            )
            if on_batch is not None:
                on_batch(session, batch)
        result.stored.update(written.by_type)
        result.index_rows += written.index_rows
        result.patients += len(batch)
        if progress:
            progress(len(items))
    return result


def import_folder(
    runtime: Runtime,
    folder: Path,
    *,
    actor: str,
    organisation: str | None = None,
    validate: bool = True,
    patients_per_batch: int = 200,
    on_batch: BatchHook | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a FHIR bulk export (NDJSON, one resource a line, any types): validated first (an
    invalid resource refuses the whole import before anything is stored), then stored by
    patient. Resources keep their ids; one already stored gets a new version."""
    import time

    started = time.perf_counter()
    files = ndjson_files(folder)
    if not files:
        raise ImportRefused([f"{folder} holds no .ndjson files"])
    resources, skipped = read_export(files, validate=validate)
    result = store_by_patient(
        runtime,
        resources,
        actor=actor,
        organisation=organisation,
        patients_per_batch=patients_per_batch,
        on_batch=on_batch,
        progress=progress,
        detail={"source": str(folder)[:200]},
    )
    result.skipped = skipped
    result.seconds = time.perf_counter() - started
    return result
