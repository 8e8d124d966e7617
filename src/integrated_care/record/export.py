"""Bulk ``$export`` (FHIR Bulk Data Access, asynchronous): for secondary use, so opted-out and
dissenting patients are left out.

A kick-off (:func:`start`) checks the ``record:export`` permission and the parameters, stores a
job row and runs the export in a background thread; the client polls the job (:func:`status`),
then downloads one NDJSON file per resource type (:func:`output_file`). :func:`cancel` stops a
running job and deletes its files.

What is exported, at each level:

- ``system`` (``/fhir/$export``): every resource of the types asked for, those in no patient's
  record (organisations, practitioners, ...) included;
- ``patient`` (``/fhir/Patient/$export``): the records of every patient (types with a patient
  compartment only);
- ``group`` (``/fhir/Group/{id}/$export``): the records of the patients registered with the
  organisation ``id`` (an ODS code: a practice, or a PCN / place and every practice within it).

Left out of every export, and counted in its audit event: every patient with a national data
opt-out (consent.national_opt_out_patients) or a recorded dissent from sharing
(consent.dissenting_patients), with their whole record; and sealed (sensitive) resources
(sensitive.py), which are for the recording organisation's direct care only.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts import policy
from integrated_care.accounts.audit import record_event, record_event_now
from integrated_care.accounts.policy import Principal
from integrated_care.record import consent, sensitive
from integrated_care.record.export_models import ExportJob
from integrated_care.record.extract import date_range
from integrated_care.record.models import RecordResource, SearchReference
from integrated_care.record.outcomes import FhirError
from integrated_care.record.searchparams import definitions
from integrated_care.record.store import instant
from integrated_care.runtime import Runtime

log = logging.getLogger(__name__)
PERMISSION = "record:export"
LEVELS = ("system", "patient", "group")
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
FINISHED = ("complete", "failed")
STREAM_BATCH = 1000
R = RecordResource

# What /fhir/metadata declares (capability.py): the system-level bulk data operations.
BULK_OPERATIONS = [
    {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"},
    {"name": "import", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/import"},
]

# Jobs running in this process, so DELETE can stop them between batches.
_cancelled: dict[str, threading.Event] = {}


@dataclass(frozen=True)
class ExportRequest:
    level: str  # system | patient | group
    request_url: str
    types: tuple[str, ...] = ()
    since: datetime | None = None
    group_id: str | None = None


@dataclass
class ExportCounts:
    by_type: Counter[str] = field(default_factory=Counter)
    patients: set[str] = field(default_factory=set)
    opted_out: int = 0
    dissented: int = 0
    sensitive_withheld: int = 0


# --- parameters ---------------------------------------------------------------------------------


def compartment_types() -> list[str]:
    """The types that belong to a patient's record (what patient and group exports hold)."""
    return sorted(n for n, d in definitions().resources.items() if d.compartment is not None)


def parse_types(value: str | None, level: str) -> tuple[str, ...]:
    """``_type`` (comma-separated) checked against the types served; all of them when absent."""
    served = definitions().resources
    allowed = sorted(served) if level == "system" else compartment_types()
    if not value or not value.strip():
        return tuple(allowed)
    types = [t.strip() for t in value.split(",") if t.strip()]
    unknown = [t for t in types if t not in served]
    if unknown:
        raise FhirError.of(
            400,
            f"_type names resource types this server does not hold: {', '.join(unknown)}",
            code="not-supported",
        )
    outside = [t for t in types if t not in allowed]
    if outside:
        raise FhirError.of(
            400,
            f"_type {', '.join(outside)} is not part of a patient's record, so it cannot be "
            f"exported at {level} level; use /fhir/$export",
        )
    return tuple(dict.fromkeys(types))


def parse_since(value: str | None) -> datetime | None:
    """``_since``: a FHIR instant (resources changed at or after it)."""
    if value is None or not value.strip():
        return None
    found = date_range(value)
    if found is None or "T" not in value:
        raise FhirError.of(
            400, f"_since must be a FHIR instant such as 2026-01-01T00:00:00Z, not {value!r}"
        )
    return found[0].replace(tzinfo=UTC)


def check_output_format(value: str | None) -> None:
    if value and value.strip() not in OUTPUT_FORMATS:
        raise FhirError.of(
            400,
            f"_outputFormat {value!r} is not supported; use application/fhir+ndjson",
            code="not-supported",
        )


def require_permission(
    runtime: Runtime, principal: Principal | None, permission: str, action: str
) -> Principal:
    """The principal, if it holds `permission`; else 401/403, the refusal audited as `action`."""
    if principal is None:
        problem, status_code = "sign in, or send an API token as 'Authorization: Bearer ...'", 401
    else:
        decision = policy.decide(principal, permission)
        if decision.allowed:
            return principal
        problem, status_code = f"{action} needs {permission}: {decision.reason}", 403
    record_event_now(
        runtime.sessions,
        actor=principal.username if principal else "anonymous",
        organisation=principal.organisation_code if principal else None,
        action=f"record.{action.lstrip('$')}",
        outcome="denied",
        detail={"status": status_code, "problem": problem},
    )
    raise FhirError.of(status_code, problem)


# --- which patients -----------------------------------------------------------------------------


def group_organisations(session: Session, ods_code: str) -> set[str]:
    """The organisation and every organisation within it (partOf, any depth)."""
    found = {ods_code}
    frontier = {ods_code}
    F = SearchReference
    while frontier:
        children = set(
            session.scalars(
                select(F.resource_id).where(
                    F.resource_type == "Organization",
                    F.param == "partof",
                    F.target_id.in_(sorted(frontier)),
                )
            )
        )
        frontier = children - found
        found |= frontier
    return found


def group_members(session: Session, group_id: str) -> set[str]:
    """The patients registered with organisation `group_id` or an organisation within it."""
    if session.get(R, ("Organization", group_id)) is None:
        raise FhirError.of(
            404,
            f"there is no Group/{group_id}: a group is an organisation's registered patients, "
            "named by its ODS code (Organization id)",
        )
    organisations = sorted(group_organisations(session, group_id))
    F = SearchReference
    members: set[str] = set()
    for start in range(0, len(organisations), 500):
        members |= set(
            session.scalars(
                select(F.resource_id).where(
                    F.resource_type == "Patient",
                    F.param.in_(("general-practitioner", "organization")),
                    F.target_type == "Organization",
                    F.target_id.in_(organisations[start : start + 500]),
                )
            )
        )
    return members


# --- jobs ---------------------------------------------------------------------------------------


def export_folder(runtime: Runtime, job_id: str) -> Path:
    return runtime.settings.data_dir / "exports" / job_id


def start(runtime: Runtime, principal: Principal | None, request: ExportRequest) -> str:
    """Check and record a kick-off, start the export in the background; the job's id."""
    principal = require_permission(runtime, principal, PERMISSION, "$export")
    if request.level == "group":
        with runtime.sessions() as session:
            group_members(session, request.group_id or "")  # 404 before a job exists
    job_id = str(uuid.uuid4())
    with runtime.transaction() as session:
        session.add(
            ExportJob(
                id=job_id,
                username=principal.username,
                level=request.level,
                group_id=request.group_id,
                resource_types=",".join(request.types),
                since=request.since,
                request_url=request.request_url[:4000],
                status="queued",
                progress="queued",
                created_at=db.utcnow(),
            )
        )
    _cancelled[job_id] = threading.Event()
    thread = threading.Thread(
        target=run_job, args=(runtime, job_id, principal), name=f"export-{job_id}", daemon=True
    )
    thread.start()
    return job_id


def _job_for_update(session: Session, job_id: str) -> ExportJob | None:
    """The job row, locked to the end of the transaction (FOR UPDATE on PostgreSQL): a worker
    that read "running" and then wrote its progress could otherwise overwrite a cancellation
    committed in between (seen: a cancelled job answered 202 "in progress" again)."""
    return session.get(ExportJob, job_id, with_for_update=True)


def _set(runtime: Runtime, job_id: str, **values: Any) -> None:
    with runtime.transaction() as session:
        job = _job_for_update(session, job_id)
        if job is not None and job.status not in ("cancelled",):
            for key, value in values.items():
                setattr(job, key, value)


class _Cancelled(Exception):
    pass


def _excluded(session: Session) -> tuple[set[str], set[str]]:
    opted_out = set(session.scalars(consent.national_opt_out_patients()))
    dissented = set(session.scalars(consent.dissenting_patients())) - opted_out
    return opted_out, dissented


def _write_type(
    session: Session,
    job: ExportJob,
    resource_type: str,
    path: Path,
    *,
    members: set[str] | None,
    excluded: set[str],
    counts: ExportCounts,
    stop: threading.Event,
) -> int:
    query = select(R.patient_id, R.content).where(
        R.resource_type == resource_type, R.deleted.is_(False)
    )
    if job.since is not None:
        query = query.where(R.last_updated >= job.since)
    written = 0
    with path.open("wb") as out:
        rows = session.execute(query.order_by(R.id).execution_options(yield_per=STREAM_BATCH))
        for number, (patient_id, content) in enumerate(rows):
            if number % STREAM_BATCH == 0 and stop.is_set():
                raise _Cancelled
            if patient_id is None:
                if job.level != "system":
                    continue
            elif patient_id in excluded or (members is not None and patient_id not in members):
                continue
            if not content:
                continue
            if sensitive.categories(orjson.loads(content)):
                counts.sensitive_withheld += 1
                continue
            out.write(content.encode() if isinstance(content, str) else content)
            out.write(b"\n")
            written += 1
            if patient_id is not None:
                counts.patients.add(patient_id)
    return written


def run_job(runtime: Runtime, job_id: str, principal: Principal) -> None:
    """The export itself (in a background thread): one NDJSON file per type, then the manifest
    and one audit event with the counts."""
    stop = _cancelled.setdefault(job_id, threading.Event())
    folder = export_folder(runtime, job_id)
    counts = ExportCounts()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Taken before the snapshot starts, so a later export `_since` it misses nothing.
        transaction_time = db.utcnow()
        with runtime.sessions() as session:
            _one_snapshot(session)
            job = session.get(ExportJob, job_id)
            if job is None:
                return
            _set(runtime, job_id, status="running", transaction_time=transaction_time)
            opted_out, dissented = _excluded(session)
            members = group_members(session, job.group_id or "") if job.level == "group" else None
            in_scope = members if members is not None else _all_patients(session)
            counts.opted_out = len(opted_out & in_scope)
            counts.dissented = len(dissented & in_scope)
            types = [t for t in (job.resource_types or "").split(",") if t]
            output = []
            for position, resource_type in enumerate(types, start=1):
                if stop.is_set():
                    raise _Cancelled
                _set(
                    runtime,
                    job_id,
                    progress=f"exporting {resource_type} ({position} of {len(types)} types); "
                    f"{sum(counts.by_type.values()):,} resources so far",
                )
                path = folder / f"{resource_type}.ndjson"
                written = _write_type(
                    session,
                    job,
                    resource_type,
                    path,
                    members=members,
                    excluded=opted_out | dissented,
                    counts=counts,
                    stop=stop,
                )
                if written:
                    counts.by_type[resource_type] = written
                    output.append({"type": resource_type, "count": written})
                else:
                    path.unlink(missing_ok=True)
        with runtime.transaction() as session:
            job = _job_for_update(session, job_id)
            if job is None or job.status == "cancelled":
                raise _Cancelled
            job.status = "complete"
            job.progress = "complete"
            job.finished_at = db.utcnow()
            job.output = output
            job.errors = []
            job.patients_exported = len(counts.patients)
            job.patients_opted_out = counts.opted_out
            job.patients_dissented = counts.dissented
            _audit(session, principal, job, counts, "success")
    except _Cancelled:
        shutil.rmtree(folder, ignore_errors=True)
    except Exception as exc:  # the client polls for the outcome: record it on the job
        if stop.is_set():  # cancelled: its files were deleted under it
            shutil.rmtree(folder, ignore_errors=True)
            return
        log.exception("bulk export %s failed", job_id)
        shutil.rmtree(folder, ignore_errors=True)
        problem = f"the export failed: {exc}"[:1000]
        with runtime.transaction() as session:
            job = _job_for_update(session, job_id)
            if job is not None and job.status != "cancelled":
                job.status, job.progress, job.finished_at = "failed", problem[:200], db.utcnow()
                job.errors = [{"diagnostics": problem}]
                _audit(session, principal, job, counts, "failure", problem)
    finally:
        _cancelled.pop(job_id, None)


def _one_snapshot(session: Session) -> None:
    """Make every read of the export see the record as it was at one moment."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        session.execute(text("BEGIN"))  # pysqlite opens no transaction for reads by itself


def _all_patients(session: Session) -> set[str]:
    return set(
        session.scalars(select(R.id).where(R.resource_type == "Patient", R.deleted.is_(False)))
    )


def _audit(
    session: Session,
    principal: Principal,
    job: ExportJob,
    counts: ExportCounts,
    outcome: str,
    problem: str | None = None,
) -> None:
    detail: dict[str, Any] = {
        "level": job.level,
        "group": job.group_id,
        "types": job.resource_types,
        "since": instant(job.since) if job.since else None,
        "by_type": dict(sorted(counts.by_type.items())),
        "resources": sum(counts.by_type.values()),
        "patients_exported": len(counts.patients),
        "patients_excluded_national_opt_out": counts.opted_out,
        "patients_excluded_dissent": counts.dissented,
        "sensitive_resources_withheld": counts.sensitive_withheld,
        "auth_method": principal.auth_method,
    }
    if problem:
        detail["problem"] = problem
    record_event(
        session,
        actor=principal.username,
        organisation=principal.organisation_code,
        action="record.export",
        outcome=outcome,
        record_type="ExportJob",
        record_id=job.id,
        detail=detail,
    )


# --- polling, files, cancelling -----------------------------------------------------------------


def _job_of(session: Session, principal: Principal, job_id: str) -> ExportJob:
    job = session.get(ExportJob, job_id)
    # Another user's job is not theirs to see: answered exactly like one that never existed.
    if job is None or job.username != principal.username or job.status == "cancelled":
        raise FhirError.of(404, f"there is no export job {job_id} of yours (or it was deleted)")
    return job


@dataclass(frozen=True)
class JobStatus:
    status: str
    progress: str | None = None
    manifest: dict[str, Any] | None = None
    problem: str | None = None


def status(runtime: Runtime, principal: Principal | None, job_id: str, base: str) -> JobStatus:
    """Where a job stands; the manifest once it is complete."""
    principal = require_permission(runtime, principal, PERMISSION, "$export")
    with runtime.sessions() as session:
        job = _job_of(session, principal, job_id)
        if job.status == "complete":
            return JobStatus("complete", manifest=manifest(job, base))
        if job.status == "failed":
            return JobStatus("failed", problem=(job.errors or [{}])[0].get("diagnostics"))
        return JobStatus(job.status, progress=job.progress)


def manifest(job: ExportJob, base: str) -> dict[str, Any]:
    """The completion manifest of the Bulk Data spec."""
    return {
        "transactionTime": instant(job.transaction_time or job.created_at),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {
                "type": item["type"],
                "url": f"{base}/$export-file/{job.id}/{item['type']}.ndjson",
                "count": item["count"],
            }
            for item in job.output or []
        ],
        "error": [],
        "extension": {
            "https://fhir.integrated-care.nhs.uk/bulk-export/excluded": {
                "nationalDataOptOut": job.patients_opted_out or 0,
                "dissent": job.patients_dissented or 0,
            }
        },
    }


def output_file(runtime: Runtime, principal: Principal | None, job_id: str, name: str) -> Path:
    """The path of one of a complete job's files (404 for anything else)."""
    principal = require_permission(runtime, principal, PERMISSION, "$export")
    with runtime.sessions() as session:
        job = _job_of(session, principal, job_id)
        types = {item["type"] for item in job.output or []}
    resource_type = name.removesuffix(".ndjson")
    if job.status != "complete" or resource_type not in types or not name.endswith(".ndjson"):
        raise FhirError.of(404, f"export job {job_id} has no file {name!r}")
    path = export_folder(runtime, job_id) / f"{resource_type}.ndjson"
    if not path.exists():
        raise FhirError.of(404, f"the file {name!r} of export job {job_id} is no longer kept")
    return path


def cancel(runtime: Runtime, principal: Principal | None, job_id: str) -> None:
    """DELETE: stop a running job, or discard a finished one, and delete its files."""
    principal = require_permission(runtime, principal, PERMISSION, "$export")
    with runtime.transaction() as session:
        job = _job_of(session, principal, job_id)
        job.status = "cancelled"
        job.progress = "cancelled by the requester"
        job.finished_at = job.finished_at or db.utcnow()
    event = _cancelled.get(job_id)
    if event is not None:
        event.set()  # a running worker stops at its next batch and deletes what it wrote
    shutil.rmtree(export_folder(runtime, job_id), ignore_errors=True)
