"""The FHIR interactions: each one authorised by ``access.authorise``, run in one transaction,
and audited once. A write's audit event is stored in the write's own transaction. A read's
(read, vread, search, history, $everything), and every refusal or failure, is appended in a
transaction of its own through the audit log's group commit, which stores the events of
concurrent requests together; the interaction answers only once its event is committed, and
answers 500 without the data if it could not be. Routes and bundles call these; nothing else
writes the record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts.audit import record_event, record_events, record_events_committed
from integrated_care.accounts.policy import Principal
from integrated_care.record import search, store
from integrated_care.record.access import (
    AccessContext,
    authorise,
    remembering,
    run_search,
    withhold,
)
from integrated_care.record.extract import compartment_patient, date_range
from integrated_care.record.models import RecordResource
from integrated_care.record.outcomes import FhirError, Issue, operation_outcome
from integrated_care.record.sensitive import stamp_recorder
from integrated_care.record.validation import require_supported, require_valid_id
from integrated_care.runtime import Runtime

PATIENTS_AUDITED = 1000  # at most this many patient ids in one search's audit event


@dataclass(frozen=True)
class Caller:
    """Who is asking and how: the principal, the server's base URL, the client's address."""

    principal: Principal | None
    base: str = "http://localhost/fhir"
    client: str | None = None
    strict: bool = False  # Prefer: handling=strict
    prefer_return: str = "representation"  # Prefer: return=minimal | representation | ...
    access: AccessContext | None = None


@dataclass
class Reply:
    """What an interaction answers: status, body (a dict, or stored JSON text), headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    last_modified: str | None = None  # FHIR instant, for a bundle entry's response
    # A read's audit events, when the caller commits them itself before answering (run()'s
    # `audit_later`): the event loop's audit writer.
    audit_events: list[dict[str, Any]] = field(default_factory=list)

    def content(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode()
        return orjson.dumps(self.body)

    def json(self) -> Any:
        return orjson.loads(self.content()) if self.body is not None else None


@dataclass
class Audit:
    """One audit event to write for an interaction."""

    action: str
    resource_type: str | None = None
    resource_id: str | None = None
    patient_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


Work = Callable[[Session], tuple[Reply, list[Audit]]]


def error_reply(error: FhirError) -> Reply:
    return Reply(error.status, error.outcome(), dict(error.headers))


def _write_audit(session: Session, caller: Caller, audit: Audit, outcome: str) -> None:
    record_event(session, **_event_fields(caller, audit, outcome))


@dataclass
class AccessRefused(FhirError):
    """A 403 (or 401) from access.authorise, carrying whose record was refused, for the audit."""

    patient_id: str | None = None
    resource_id: str | None = None

    @classmethod
    def refusal(
        cls, status: int, reason: str, code: str, patient_id: str | None, resource_id: str | None
    ) -> AccessRefused:
        return cls(status, [Issue(reason, code=code)], {}, patient_id, resource_id)


def run(
    runtime: Runtime,
    caller: Caller,
    audit: Audit,
    work: Work,
    *,
    reading: bool = False,
    audit_later: bool = False,
    prepare: Callable[[], None] | None = None,
) -> Reply:
    """Do `work` in one transaction and audit it; on failure, roll back and audit the failure
    (or refusal) on its own. `prepare`, if given, runs first, outside the transaction and the
    writers' turn: for checks that need no store (a bundle's validation), its FhirError
    answered and audited as the work's would be.

    A write (`reading` false) stores its audit events in its own transaction. A read's work
    stores nothing itself (bar a break-glass, audited with it), so its events are appended
    after it through the group commit: a read then never takes the audit chain's lock (the
    store's write lock on SQLite) while holding its own transaction. With `audit_later`, a
    successful read's events are left in ``Reply.audit_events`` instead, for the caller to
    commit before it answers.

    On SQLite a write first waits for the writers' turn (``db.writer_turn``), shared with the
    audit writers of every worker process: sixteen clients' bundles then took 0.85 s at the
    median and 1.1-1.3 s at the 99th percentile, against 0.5 s and 8 s when SQLite's own busy
    wait (sleeping ever longer between tries) decided who went next."""
    # A break-glass read records its use (a row, and an audit event under the chain's lock)
    # in the read's own transaction; any other read writes nothing.
    breaks_glass = caller.access is not None and bool(caller.access.break_glass_reason)
    writes = not reading or breaks_glass
    opened = runtime.transaction() if writes else runtime.reading()
    try:
        if prepare is not None:
            prepare()
        with db.writer_turn(runtime.engine) if writes else nullcontext(), opened as session:
            reply, audits = work(session)
            events = [_event_fields(caller, a, "success") for a in audits]
            if not reading:
                # One chain lock and one flush for all of them (a transaction bundle has many).
                record_events(session, events)
        if writes:
            db.checkpoint_soon(runtime.engine)
        if reading and audit_later:
            reply.audit_events = events
        elif reading:
            record_events_committed(runtime.sessions, events)
        return reply
    except FhirError as error:
        failure = error
    except IntegrityError:
        failure = FhirError.of(
            409, "the record changed while this was being saved (a concurrent write); try again"
        )
    except OperationalError as exc:
        failure = FhirError.of(
            409, f"the store was busy or a concurrent write conflicted ({exc.orig}); try again"
        )
    outcome = "denied" if failure.status in (401, 403) else "failure"
    if isinstance(failure, AccessRefused):
        audit.patient_id = failure.patient_id or audit.patient_id
        audit.resource_id = failure.resource_id or audit.resource_id
    audit.detail = {**audit.detail, "status": failure.status, "problem": str(failure)[:500]}
    record_events_committed(runtime.sessions, [_event_fields(caller, audit, outcome)])
    return error_reply(failure)


def _event_fields(caller: Caller, audit: Audit, outcome: str) -> dict[str, Any]:
    principal = caller.principal
    detail = dict(audit.detail)
    if audit.patient_id:
        detail["patient"] = audit.patient_id
    if principal is not None:
        detail["auth_method"] = principal.auth_method
    return {
        "actor": principal.username if principal else "anonymous",
        "organisation": principal.organisation_code if principal else None,
        "action": audit.action,
        "outcome": outcome,
        "record_type": audit.resource_type,
        "record_id": audit.resource_id,
        "reason": caller.access.break_glass_reason if caller.access else None,
        "detail": detail,
        "client": caller.client,
    }


def check(
    session: Session,
    caller: Caller,
    interaction: str,
    resource_type: str,
    patient_id: str | None = None,
    resource: dict[str, Any] | None = None,
    resource_id: str | None = None,
) -> None:
    """Refuse (403) unless access.authorise allows the interaction."""
    if caller.principal is None:
        raise AccessRefused.refusal(
            401,
            "sign in, or send an API token as 'Authorization: Bearer ...'",
            "login",
            patient_id,
            resource_id,
        )
    decision = authorise(
        caller.principal,
        interaction,
        resource_type,
        patient_id,
        resource,
        resource_id=resource_id,
        session=session,
        context=caller.access,
    )
    if not decision.allowed:
        raise AccessRefused.refusal(403, decision.reason, "forbidden", patient_id, resource_id)


# --- replies ----------------------------------------------------------------------------------


def _resource_headers(caller: Caller, version: store.Version, *, location: bool = False) -> dict:  # type: ignore[type-arg]
    headers = {"ETag": version.etag, "Last-Modified": http_date(version.last_updated)}
    if location:
        headers["Location"] = f"{caller.base}/{version.location}"
    return headers


def http_date(moment: datetime) -> str:
    """An HTTP date (RFC 9110), as the Last-Modified header carries: seconds, GMT."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def resource_reply(
    caller: Caller,
    version: store.Version,
    status: int = 200,
    *,
    location: bool = False,
    write: bool = False,
) -> Reply:
    """A resource (or, for a write, what Prefer: return= asks for) with its ETag and dates."""
    headers = _resource_headers(caller, version, location=location)
    reply = Reply(status, version.content, headers, last_modified=version.last_modified)
    if write and caller.prefer_return == "minimal":
        reply.body = None
    elif write and caller.prefer_return == "OperationOutcome":
        reply.body = operation_outcome(
            [Issue(f"{version.location} stored", "informational", "information")]
        )
    return reply


def _fragment(row: RecordResource) -> orjson.Fragment:
    return orjson.Fragment(row.content or "{}")


def _entry(caller: Caller, row: RecordResource, mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{caller.base}/{row.resource_type}/{row.id}",
        "resource": _fragment(row),
        "search": {"mode": mode},
    }


def _link(caller: Caller, path: str, pairs: list[tuple[str, Any]]) -> str:
    return f"{caller.base}/{path}" + (f"?{urlencode(pairs)}" if pairs else "")


def _paging_links(
    caller: Caller, path: str, pairs: list[tuple[str, Any]], count: int, offset: int, total: int
) -> list[dict[str, str]]:
    def at(where: int) -> str:
        return _link(caller, path, [*pairs, ("_count", count), ("_offset", where)])

    links = [{"relation": "self", "url": at(offset)}, {"relation": "first", "url": at(0)}]
    if count and offset + count < total:
        links.append({"relation": "next", "url": at(offset + count)})
    if count and offset > 0:
        links.append({"relation": "previous", "url": at(max(0, offset - count))})
    if count and total:
        links.append({"relation": "last", "url": at((total - 1) // count * count)})
    return links


def _warnings_entry(warnings: list[Issue]) -> list[dict[str, Any]]:
    if not warnings:
        return []
    return [{"resource": operation_outcome(warnings), "search": {"mode": "outcome"}}]


def _patients(rows: Sequence[RecordResource]) -> list[str]:
    return sorted({r.patient_id for r in rows if r.patient_id})[:PATIENTS_AUDITED]


# --- the interactions (inner forms take a session, for transactions) --------------------------


def read_in(
    session: Session,
    caller: Caller,
    resource_type: str,
    resource_id: str,
    version_id: str | None = None,
) -> tuple[Reply, Audit]:
    require_supported(resource_type)
    interaction = "vread" if version_id else "read"
    row = store.current(session, resource_type, resource_id)
    patient_id = row.patient_id if row is not None else None
    audit = Audit(f"record.{interaction}", resource_type, resource_id, patient_id)
    resource = orjson.loads(row.content) if row is not None and row.content else None
    check(session, caller, interaction, resource_type, patient_id, resource, resource_id)
    if version_id is None:
        version = _current_version(row, resource_type, resource_id)
    else:
        version = store.vread(session, resource_type, resource_id, version_id)
        audit.detail["version"] = version_id
    return resource_reply(caller, version), audit


def _current_version(row: Any, resource_type: str, resource_id: str) -> store.Version:
    """What store.read answers, from the current row already read: 404, 410 or the version."""
    if row is None:
        raise FhirError.of(404, f"there is no {resource_type}/{resource_id}")
    if row.deleted:
        raise FhirError.of(
            410,
            f"{resource_type}/{resource_id} was deleted (version {row.version_id})",
            headers={"ETag": f'W/"{row.version_id}"'},
        )
    return store._version(row)


def read(
    runtime: Runtime,
    caller: Caller,
    resource_type: str,
    resource_id: str,
    version_id: str | None = None,
    *,
    audit_later: bool = False,
) -> Reply:
    """GET [type]/[id] and GET [type]/[id]/_history/[vid] (`audit_later`: see :func:`run`)."""
    action = "record.vread" if version_id else "record.read"

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        reply, audit = read_in(session, caller, resource_type, resource_id, version_id)
        return reply, [audit]

    audit = Audit(action, resource_type, resource_id)
    return run(runtime, caller, audit, work, reading=True, audit_later=audit_later)


def search_in(
    session: Session, caller: Caller, resource_type: str, pairs: Sequence[tuple[str, str]]
) -> tuple[Reply, Audit]:
    request = search.parse(resource_type, pairs, strict=caller.strict)
    patients = request.patient_ids()
    # The check and the search ask the same facts of the same patient: look them up once.
    with remembering(session, caller.principal, patients):
        check(
            session,
            caller,
            "search-type",
            resource_type,
            patients[0] if len(patients) == 1 else None,
        )
        result = run_search(session, caller.principal, request)  # type: ignore[arg-type]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": result.total,
        "link": _paging_links(
            caller,
            resource_type,
            request.query_pairs(),
            request.count,
            request.offset,
            result.total,
        ),
        "entry": [_entry(caller, r, "match") for r in result.matches]
        + [_entry(caller, r, "include") for r in result.included]
        + _warnings_entry(request.warnings),
    }
    audit = Audit(
        "record.search",
        resource_type,
        None,
        patients[0] if len(patients) == 1 else None,
        {
            "query": urlencode(list(pairs))[:1000],
            "total": result.total,
            "returned": len(result.matches) + len(result.included),
            "patients": _patients(result.matches + result.included),
        },
    )
    return Reply(200, bundle), audit


def search_type(
    runtime: Runtime,
    caller: Caller,
    resource_type: str,
    pairs: Sequence[tuple[str, str]],
    *,
    audit_later: bool = False,
) -> Reply:
    """GET [type]?params (and POST [type]/_search) (`audit_later`: see :func:`run`)."""

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        reply, audit = search_in(session, caller, resource_type, pairs)
        return reply, [audit]

    audit = Audit("record.search", resource_type)
    return run(runtime, caller, audit, work, reading=True, audit_later=audit_later)


def create_in(
    session: Session,
    caller: Caller,
    resource_type: str,
    body: Any,
    *,
    if_none_exist: str | None = None,
    resource_id: str | None = None,
    validated: bool = False,
) -> tuple[Reply, Audit]:
    require_supported(resource_type)
    resource = body if isinstance(body, dict) else None
    patient_id = compartment_patient(resource_type, "", resource) if resource else None
    check(session, caller, "create", resource_type, patient_id, resource)
    if if_none_exist:
        criteria = parse_qsl(if_none_exist.lstrip("?"), keep_blank_values=True)
        store.take_write_lock(session, conditional_key(resource_type, criteria))
        found = search.find_ids(session, resource_type, criteria)
        if len(found) > 1:
            raise FhirError.of(
                412, f"If-None-Exist {if_none_exist!r} matches more than one {resource_type}"
            )
        if found:
            existing = store.read(session, resource_type, found[0])
            audit = Audit(
                "record.create",
                resource_type,
                existing.id,
                existing.patient_id,
                {"conditional": if_none_exist, "result": "existing"},
            )
            return resource_reply(caller, existing, 200, location=True, write=True), audit
    if caller.principal is not None:  # the recording organisation, for sealed information
        body = stamp_recorder(body, caller.principal.organisation_code, None)
    version = store.create(
        session, resource_type, body, resource_id=resource_id, validated=validated
    )
    audit = Audit(
        "record.create",
        resource_type,
        version.id,
        version.patient_id,
        {"version": version.version_id},
    )
    if if_none_exist:
        audit.detail["conditional"] = if_none_exist
    return resource_reply(caller, version, 201, location=True, write=True), audit


def create(
    runtime: Runtime,
    caller: Caller,
    resource_type: str,
    body: Any,
    *,
    if_none_exist: str | None = None,
) -> Reply:
    """POST [type], with conditional create when `if_none_exist` (a query string) is given."""

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        reply, audit = create_in(session, caller, resource_type, body, if_none_exist=if_none_exist)
        return reply, [audit]

    return run(runtime, caller, Audit("record.create", resource_type), work)


def conditional_key(resource_type: str, criteria: Sequence[tuple[str, str]]) -> str:
    """The lock key of conditional-create criteria: the same for the same criteria in any order,
    so concurrent creates with them are serialised and the later ones find the first."""
    return f"{resource_type}?" + urlencode(sorted(criteria))


def parse_if_match(value: str | None) -> int | None:
    """The version in an If-Match header (W/"3", "3" or 3), or None when absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    text = text[2:] if text.startswith("W/") else text
    text = text.strip('"')
    if not text.isdigit():
        raise FhirError.of(400, f'If-Match must be a version such as W/"3", not {value!r}')
    return int(text)


def update_in(
    session: Session,
    caller: Caller,
    resource_type: str,
    resource_id: str,
    body: Any,
    *,
    if_match: int | None = None,
    validated: bool = False,
) -> tuple[Reply, Audit]:
    require_supported(resource_type)
    require_valid_id(resource_id)
    resource = body if isinstance(body, dict) else None
    patient_id = compartment_patient(resource_type, resource_id, resource) if resource else None
    check(session, caller, "update", resource_type, patient_id, resource, resource_id)
    if caller.principal is not None:  # keeps the first recording organisation
        previous = store.current(session, resource_type, resource_id)
        before = orjson.loads(previous.content) if previous and previous.content else None
        body = stamp_recorder(body, caller.principal.organisation_code, before)
    version, created = store.update(
        session, resource_type, resource_id, body, if_match=if_match, validated=validated
    )
    audit = Audit(
        "record.update",
        resource_type,
        resource_id,
        version.patient_id,
        {"version": version.version_id, "created": created},
    )
    return (
        resource_reply(caller, version, 201 if created else 200, location=created, write=True),
        audit,
    )


def update(
    runtime: Runtime,
    caller: Caller,
    resource_type: str,
    resource_id: str,
    body: Any,
    *,
    if_match: str | None = None,
) -> Reply:
    """PUT [type]/[id] (If-Match: W/"n" makes it version-aware: a stale version gets 412)."""

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        version = parse_if_match(if_match)
        reply, audit = update_in(
            session, caller, resource_type, resource_id, body, if_match=version
        )
        return reply, [audit]

    return run(runtime, caller, Audit("record.update", resource_type, resource_id), work)


def delete_in(
    session: Session,
    caller: Caller,
    resource_type: str,
    resource_id: str,
    *,
    if_match: int | None = None,
) -> tuple[Reply, Audit]:
    require_supported(resource_type)
    row = store.current(session, resource_type, resource_id)
    patient_id = row.patient_id if row is not None else None
    resource = orjson.loads(row.content) if row is not None and row.content else None
    check(session, caller, "delete", resource_type, patient_id, resource, resource_id)
    version = store.delete_resource(session, resource_type, resource_id, if_match=if_match)
    audit = Audit("record.delete", resource_type, resource_id, patient_id)
    if version is None:
        audit.detail["already_deleted"] = True
        return Reply(204), audit
    audit.detail["version"] = version.version_id
    return Reply(204, None, {"ETag": version.etag}), audit


def delete(
    runtime: Runtime,
    caller: Caller,
    resource_type: str,
    resource_id: str,
    *,
    if_match: str | None = None,
) -> Reply:
    """DELETE [type]/[id]: a new, deleted version; reads then answer 410 Gone."""

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        version = parse_if_match(if_match)
        reply, audit = delete_in(session, caller, resource_type, resource_id, if_match=version)
        return reply, [audit]

    return run(runtime, caller, Audit("record.delete", resource_type, resource_id), work)


def _since(pairs: Sequence[tuple[str, str]]):  # type: ignore[no-untyped-def]
    for key, value in pairs:
        if key == "_since":
            found = date_range(value)
            if found is None:
                raise FhirError.of(400, f"_since must be an instant, not {value!r}")
            return found[0].replace(tzinfo=UTC)
    return None


def _page(pairs: Sequence[tuple[str, str]], default: int) -> tuple[int, int]:
    count, offset = default, 0
    for key, value in pairs:
        if key in ("_count", "_offset"):
            if not value.isdigit():
                raise FhirError.of(400, f"{key} must be a whole number, not {value!r}")
            if key == "_count":
                count = min(int(value), search.MAX_COUNT)
            else:
                offset = int(value)
    return count, offset


_HISTORY_STATUS = {"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}


def history(
    runtime: Runtime,
    caller: Caller,
    resource_type: str,
    resource_id: str | None,
    pairs: Sequence[tuple[str, str]],
) -> Reply:
    """GET [type]/[id]/_history and GET [type]/_history: versions, newest first."""
    interaction = "history-instance" if resource_id else "history-type"

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        require_supported(resource_type)
        row = store.current(session, resource_type, resource_id) if resource_id else None
        patient_id = row.patient_id if row is not None else None
        current = orjson.loads(row.content) if row is not None and row.content else None
        check(session, caller, interaction, resource_type, patient_id, current, resource_id)
        since = _since(pairs)
        count, offset = _page(pairs, 50)
        page = store.history(
            session, resource_type, resource_id, since=since, count=count, offset=offset
        )
        entries = []
        shown = {id(v) for v in withhold(session, caller.principal, [v for v, _ in page.versions])}  # type: ignore[arg-type]
        for version, method in page.versions:
            if id(version) not in shown:
                continue
            entry: dict[str, Any] = {
                "fullUrl": f"{caller.base}/{version.resource_type}/{version.id}",
                "request": {
                    "method": method,
                    "url": version.resource_type
                    if method == "POST"
                    else f"{version.resource_type}/{version.id}",
                },
                "response": {
                    "status": _HISTORY_STATUS.get(method, "200 OK"),
                    "etag": version.etag,
                    "lastModified": version.last_modified,
                },
            }
            if version.content:
                entry["resource"] = orjson.Fragment(version.content)
            entries.append(entry)
        path = (
            f"{resource_type}/{resource_id}/_history"
            if resource_id
            else f"{resource_type}/_history"
        )
        extra = [(k, v) for k, v in pairs if k == "_since"]
        bundle = {
            "resourceType": "Bundle",
            "type": "history",
            "total": page.total,
            "link": _paging_links(caller, path, extra, count, offset, page.total),
            "entry": entries,
        }
        patients = sorted({v.patient_id for v, _ in page.versions if v.patient_id})
        audit = Audit(
            f"record.{interaction}",
            resource_type,
            resource_id,
            patient_id,
            {"returned": len(entries), "patients": patients[:PATIENTS_AUDITED]},
        )
        return Reply(200, bundle), [audit]

    return run(
        runtime,
        caller,
        Audit(f"record.{interaction}", resource_type, resource_id),
        work,
        reading=True,
    )


def everything(
    runtime: Runtime, caller: Caller, patient_id: str, pairs: Sequence[tuple[str, str]]
) -> Reply:
    """GET Patient/[id]/$everything: the patient's whole record (_type and _since narrow it)."""

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        row = store.current(session, "Patient", patient_id)
        resource = orjson.loads(row.content) if row is not None and row.content else None
        check(session, caller, "everything", "Patient", patient_id, resource, patient_id)
        store.read(session, "Patient", patient_id)  # 404 / 410
        types = [t for k, v in pairs if k == "_type" for t in v.split(",") if t]
        rows = search.everything(session, patient_id, types=types, since=_since(pairs))
        rows = withhold(session, caller.principal, rows)  # type: ignore[arg-type]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(rows),
            "link": [
                {
                    "relation": "self",
                    "url": _link(caller, f"Patient/{patient_id}/$everything", list(pairs)),
                }
            ],
            "entry": [_entry(caller, r, "match") for r in rows],
        }
        audit = Audit(
            "record.everything", "Patient", patient_id, patient_id, {"returned": len(rows)}
        )
        return Reply(200, bundle), [audit]

    return run(
        runtime,
        caller,
        Audit("record.everything", "Patient", patient_id, patient_id),
        work,
        reading=True,
    )


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)
