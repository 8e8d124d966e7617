"""Building the shared care record of an ICS from its input-layer extracts, through the bulk path.

The extracts (``/work/shared/spec/input-layer.md``; ``ics synth`` writes them) become FHIR R4
resources: every Organization (id = ODS code); a Patient per person in scope with their NHS
number (only the ``patients`` extract has it: the warehouse is pseudonymised by design), ethnic
category and registered practice (``generalPractitioner``); an EpisodeOfCare per GP
registration and per social-care service; an Encounter per GP appointment, hospital spell (APC),
A&E attendance, outpatient appointment, community and mental-health contact; Conditions (GP
diagnoses as problem-list items, hospital and A&E diagnoses as encounter diagnoses),
Observations (GP measurements), Procedures (hospital procedures, GP care processes) and
MedicationRequests (GP issues). Each resource names the organisation that recorded it
(serviceProvider, managingOrganization, performer or requester). The extracts hold no
practitioners, so no Practitioner resources are made.

Scope: the patients whose latest registration is at a practice of one PCN (the default), of a
place, or everyone. Resource ids are keyed hashes (the deployment's secret key) of the source
keys, so a reload gives the same ids while the record's ids cannot be linked to the
pseudonymised warehouse without the key. Patients already in the record are skipped, so a load
that stopped part-way can simply be run again.

Resources are built from fixed templates that the tests validate against the FHIR R4B models;
they are not validated one by one here (that would cost more than everything else together).

This module writes the record (batches, audit, organisations, deferred indexes); the extracts
are read by `load_extracts`, the resources built by `load_builder.Builder`, in builder
processes run by `load_workers`.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from integrated_care.record import bulk, deferred_indexes, store
from integrated_care.record.load_builder import Builder, gp_diagnosis_codes, mapping
from integrated_care.record.load_extracts import Extracts, Scope, default_pcn
from integrated_care.record.load_workers import BUILDERS, _messages, _Plan
from integrated_care.record.models import RecordResource
from integrated_care.runtime import Runtime

__all__ = [
    "ACTION",
    "ACTOR",
    "BUILDERS",
    "Builder",
    "Extracts",
    "LoadResult",
    "Scope",
    "default_pcn",
    "gp_diagnosis_codes",
    "load_record",
    "mapping",
]

ACTOR = "ics record load"
ACTION = "record.bulk-load"


@dataclass
class LoadResult:
    """What a load stored, and how fast."""

    scope: str
    patients: int = 0
    skipped_patients: int = 0  # already in the record
    stored: Counter[str] = field(default_factory=Counter)
    index_rows: int = 0
    seconds: float = 0.0
    write_seconds: float = 0.0  # time the writing process spent in database transactions
    index_seconds: float = 0.0  # building deferred indexes at the end
    last_batch: tuple[int, int] = (0, 0)  # (resources, patients) written by the latest batch

    @property
    def resources(self) -> int:
        return sum(self.stored.values())

    @property
    def per_second(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


def _stored(session: Any, resource_type: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 900):
        found.update(
            session.scalars(
                select(RecordResource.id).where(
                    RecordResource.resource_type == resource_type,
                    RecordResource.id.in_(ids[start : start + 900]),
                )
            )
        )
    return found


def load_record(
    runtime: Runtime,
    folder: Path,
    scope: Scope,
    *,
    patients_per_batch: int = 500,
    chunk_patients: int = 5000,
    on_batch: bulk.BatchHook | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    actor: str = ACTOR,
    parallel: bool | None = None,
    builders: int = BUILDERS,
    defer_indexes: bool | None = None,
) -> LoadResult:
    """Load the record of everyone in `scope` from the extracts in `folder`.

    One database transaction and one audit event per `patients_per_batch` patients, so a
    failure leaves whole patients only; `on_batch(session, patient_ids)` runs inside each
    transaction before it commits. `progress(resources, patients, patients_in_scope)` after
    each batch. Resources are built in `builders` worker processes while this one writes
    (`parallel`; by default when there is more than one CPU).

    `defer_indexes` drops the store's secondary indexes for the load and builds them again at
    the end (by default for a load at least as large as the record already stored, or when an
    earlier deferred load was interrupted). Each batch still commits whole patients; if the
    process is killed part-way, the indexes are rebuilt by the next load (searches scan until
    then).
    """
    started = time.perf_counter()
    result = LoadResult(scope.describe())
    plan = _Plan(
        folder,
        scope,
        runtime.settings.secret_key,
        patients_per_batch,
        chunk_patients,
        runtime.engine.dialect.name,
    )
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1 and "fork" in multiprocessing.get_all_start_methods()
    detail = {"scope": scope.describe(), "source": str(folder)[:200]}
    in_scope = 0
    deferred = False
    try:
        with _messages(plan, builders=builders if parallel else 0) as messages:
            for kind, payload in messages:
                if kind == "start":
                    in_scope, organisations = payload
                    deferred = _defer_indexes(runtime, in_scope, defer_indexes)
                    _load_organisations(runtime, plan.secret, organisations, result, actor, detail)
                    continue
                began = time.perf_counter()
                _write_batch(runtime, *payload, result, on_batch, actor, detail)
                result.write_seconds += time.perf_counter() - began
                if progress is not None:
                    progress(*result.last_batch, in_scope)
    finally:
        if deferred:
            began = time.perf_counter()
            deferred_indexes.build_indexes(runtime.engine)
            result.index_seconds = time.perf_counter() - began
    if result.patients and runtime.engine.dialect.name == "postgresql":
        # Autovacuum analyses a big new table only later: until then PostgreSQL's planner
        # thinks the index tables are small and scans tens of thousands of index rows per
        # compartment search (76 ms instead of 0.6 ms measured at 100,000 patients).
        with runtime.transaction() as session:
            for table in RECORD_TABLES:
                session.execute(text(f"ANALYZE {table}"))
    result.seconds = time.perf_counter() - started
    return result


def _write_batch(
    runtime: Runtime,
    patient_ids: list[str],
    rows: store.Rows,
    result: LoadResult,
    on_batch: bulk.BatchHook | None,
    actor: str,
    detail: dict[str, Any],
) -> None:
    """One batch of patients in one transaction with its audit event; patients already in the
    record (an earlier load) are skipped whole."""
    with runtime.transaction() as session:
        bulk.begin(session)
        done = _stored(session, "Patient", patient_ids)
        if done:
            rows = rows.without_patients(done)
            patient_ids = [p for p in patient_ids if p not in done]
            result.skipped_patients += len(done)
        result.last_batch = (len(rows.resources), len(patient_ids))
        if not patient_ids:
            return
        bulk.insert_new(session, rows)
        written = bulk.Written(len(rows.resources), rows.index_count, 0, rows.by_type)
        bulk.audit_batch(
            session,
            actor=actor,
            action=ACTION,
            written=written,
            patients=patient_ids,
            detail=detail,
        )
        if on_batch is not None:
            on_batch(session, patient_ids)
    result.stored.update(rows.by_type)
    result.index_rows += rows.index_count
    result.patients += len(patient_ids)


RECORD_TABLES = (
    "record_resource",
    "record_search_token",
    "record_search_string",
    "record_search_date",
    "record_search_reference",
)
DEFER_FROM_PATIENTS = 2000  # smaller loads keep the indexes up to date as they go


def _defer_indexes(runtime: Runtime, in_scope: int, wanted: bool | None) -> bool:
    """Drop the secondary indexes for this load? See `load_record`."""
    with runtime.transaction() as session:
        if deferred_indexes.missing_indexes(session):
            return True  # an interrupted deferred load: finish it
        if wanted is None:
            stored = session.scalar(
                select(func.count())
                .select_from(RecordResource)
                .where(RecordResource.resource_type == "Patient")
            )
            wanted = in_scope >= max(DEFER_FROM_PATIENTS, stored or 0)
        if wanted:
            deferred_indexes.drop_indexes(session)
        return wanted


def _load_organisations(
    runtime: Runtime,
    secret: str,
    organisations: list[tuple[Any, ...]],
    result: LoadResult,
    actor: str,
    detail: dict[str, Any],
) -> None:
    """Every Organization of the extract not yet in the record, in one transaction."""
    builder = Builder(secret, {o[0]: o[1] for o in organisations})
    with runtime.transaction() as session:
        have = _stored(session, "Organization", [o[0] for o in organisations])
    new = [
        bulk.prepare("Organization", o[0], builder.organisation(o))
        for o in organisations
        if o[0] not in have
    ]
    if not new:
        return
    with runtime.transaction() as session:
        written = bulk.write(session, new, all_new=True)
        bulk.audit_batch(
            session, actor=actor, action=ACTION, written=written, patients=[], detail=detail
        )
    result.stored.update(written.by_type)
    result.index_rows += written.index_rows
