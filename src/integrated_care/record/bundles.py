"""Transaction and batch bundles (POST /fhir).

A transaction is all-or-nothing: every entry runs in one database transaction, in the order
FHIR specifies (DELETE, POST, PUT, GET); ``urn:uuid:`` full URLs of new resources and
conditional references (``Patient?identifier=...``) are rewritten to the ids they resolve to;
any failing entry rolls everything back and the reply is that entry's OperationOutcome.
A batch runs each entry on its own and reports each entry's outcome.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from sqlalchemy.orm import Session

from integrated_care.record import access, search, service, store
from integrated_care.record.extract import compartment_patient
from integrated_care.record.outcomes import FhirError, Issue
from integrated_care.record.searchparams import definitions
from integrated_care.record.service import Audit, Caller, Reply
from integrated_care.record.validation import validate_resource
from integrated_care.runtime import Runtime

METHOD_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}
_CONDITIONAL = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)\?(?P<query>.+)$")
MAX_ENTRIES = 10_000


@dataclass
class Entry:
    index: int
    method: str
    resource_type: str
    resource_id: str | None
    query: list[tuple[str, str]]
    full_url: str | None
    resource: Any
    if_match: str | None
    if_none_exist: str | None
    validated: bool = False  # its resource has passed validate_resource already

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


def _parse_entry(index: int, raw: Any) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise FhirError.of(400, f"{where} needs a request (method and url)", expression=where)
    request = raw["request"]
    method = str(request.get("method", "")).upper()
    if method not in METHOD_ORDER:
        raise FhirError.of(
            400,
            f"{where}: method {method!r} is not supported here (DELETE, POST, PUT, GET)",
            expression=f"{where}.request.method",
        )
    url = str(request.get("url", ""))
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if not segments or len(segments) > 2:
        raise FhirError.of(
            400,
            f"{where}: url {url!r} should be Type, Type/id or Type?query",
            expression=f"{where}.request.url",
        )
    resource_type = segments[0]
    resource_id = segments[1] if len(segments) == 2 else None
    if method in ("PUT", "DELETE") and resource_id is None:
        raise FhirError.of(
            400,
            f"{where}: {method} needs Type/id (conditional update and delete are not supported)",
            expression=f"{where}.request.url",
        )
    if method in ("POST", "PUT") and not isinstance(raw.get("resource"), dict):
        raise FhirError.of(
            400, f"{where}: {method} needs a resource", expression=f"{where}.resource"
        )
    return Entry(
        index,
        method,
        resource_type,
        resource_id,
        parse_qsl(parts.query, keep_blank_values=True),
        raw.get("fullUrl"),
        raw.get("resource"),
        request.get("ifMatch"),
        request.get("ifNoneExist"),
    )


def _entries(bundle: Any, kind: str) -> list[Entry]:
    raw = bundle.get("entry") or []
    if not isinstance(raw, list):
        raise FhirError.of(400, "Bundle.entry must be a list", expression="Bundle.entry")
    if len(raw) > MAX_ENTRIES:
        raise FhirError.of(400, f"a {kind} may hold at most {MAX_ENTRIES} entries")
    return [_parse_entry(i, e) for i, e in enumerate(raw)]


def _at_entry(error: FhirError, entry: Entry) -> FhirError:
    issues = [
        Issue(
            f"{entry.where} ({entry.method} {entry.resource_type}): {i.diagnostics}",
            i.code,
            i.severity,
            (*i.expression, entry.where),
        )
        for i in error.issues
    ]
    return FhirError(error.status, issues, error.headers)


def _rewrite(value: Any, mapping: dict[str, str]) -> Any:
    """`value` with every Reference.reference found in `mapping` replaced."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and item in mapping:
                out[key] = mapping[item]
            else:
                out[key] = _rewrite(item, mapping)
        return out
    if isinstance(value, list):
        return [_rewrite(v, mapping) for v in value]
    return value


def _references(value: Any, found: set[str]) -> set[str]:
    """Every Reference.reference string in `value` (what `_rewrite` would look up)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                found.add(item)
            else:
                _references(item, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, found)
    return found


def _resolve_ids(
    session: Session, caller: Caller, entries: list[Entry], references: set[str]
) -> dict[str, str]:
    """fullUrl / conditional reference -> Type/id, assigning ids to new resources
    (`references`: every reference in the entries' resources)."""
    mapping: dict[str, str] = {}
    for entry in entries:
        if entry.method == "POST":
            if entry.if_none_exist:
                criteria = parse_qsl(entry.if_none_exist.lstrip("?"), keep_blank_values=True)
                store.take_write_lock(
                    session, service.conditional_key(entry.resource_type, criteria)
                )
                try:
                    found = search.find_ids(session, entry.resource_type, criteria)
                except FhirError as error:
                    raise _at_entry(error, entry) from error
                if len(found) == 1:
                    entry.resource_id = found[0]
                    entry.query = [("_existing", "1")]
                elif len(found) > 1:
                    raise _at_entry(
                        FhirError.of(412, "ifNoneExist matches several resources"), entry
                    )
            if entry.resource_id is None:
                entry.resource_id = store.new_id()
        if entry.full_url and entry.resource_id and entry.method in ("POST", "PUT"):
            mapping[entry.full_url] = f"{entry.resource_type}/{entry.resource_id}"
    for reference in sorted(references):
        match = _CONDITIONAL.match(reference)
        if match is None:
            continue
        found = search.find_ids(session, match["type"], parse_qsl(match["query"]))
        if len(found) != 1:
            raise FhirError.of(
                412,
                f"the conditional reference {reference!r} matches {len(found)} resources; "
                "it must match exactly one",
            )
        mapping[reference] = f"{match['type']}/{found[0]}"
    return mapping


def _response_entry(reply: Reply) -> dict[str, Any]:
    response: dict[str, Any] = {"status": service.status_line(reply.status)}
    for header, name in (("Location", "location"), ("ETag", "etag")):
        if header in reply.headers:
            response[name] = reply.headers[header]
    if reply.last_modified:
        response["lastModified"] = reply.last_modified
    entry: dict[str, Any] = {"response": response}
    if reply.status >= 400:
        response["outcome"] = reply.body
    elif reply.body is not None:
        # Stored JSON goes into the response as it is, not parsed and serialised again.
        entry["resource"] = (
            orjson.Fragment(reply.body) if isinstance(reply.body, str) else reply.body
        )
    return entry


def _run_entry(session: Session, caller: Caller, entry: Entry) -> tuple[Reply, Audit]:
    if entry.method == "DELETE":
        version = service.parse_if_match(entry.if_match)
        return service.delete_in(
            session, caller, entry.resource_type, entry.resource_id or "", if_match=version
        )
    if entry.method == "POST":
        if entry.query == [("_existing", "1")]:
            version = store.read(session, entry.resource_type, entry.resource_id or "")
            reply = service.resource_reply(caller, version, 200, location=True)
            return reply, Audit(
                "record.create",
                entry.resource_type,
                version.id,
                version.patient_id,
                {"conditional": entry.if_none_exist, "result": "existing"},
            )
        return service.create_in(
            session,
            caller,
            entry.resource_type,
            entry.resource,
            resource_id=entry.resource_id,
            validated=entry.validated,
        )
    if entry.method == "PUT":
        version = service.parse_if_match(entry.if_match)
        return service.update_in(
            session,
            caller,
            entry.resource_type,
            entry.resource_id or "",
            entry.resource,
            if_match=version,
            validated=entry.validated,
        )
    if entry.resource_id is not None:
        return service.read_in(session, caller, entry.resource_type, entry.resource_id)
    return service.search_in(session, caller, entry.resource_type, entry.query)


def _patient_of(entry: Entry) -> str | None:
    """The patient whose record the entry is in, when its request says (for the access memo:
    a guess that only decides which patients' facts are looked up together)."""
    if entry.resource_type == "Patient" and entry.resource_id:
        return entry.resource_id
    if not isinstance(entry.resource, dict):
        return None
    try:
        return compartment_patient(entry.resource_type, entry.resource_id or "", entry.resource)
    except Exception:  # a malformed resource fails in its own entry, later
        return None


def _run_in_order(
    session: Session, caller: Caller, entries: list[Entry]
) -> Iterator[tuple[Entry, Reply, Audit]]:
    """Run the entries in FHIR's order, each seeing what those before it wrote.

    The access rules remember per-patient facts through the bundle (access.remembering), told
    of each write so they forget what it may change; new resources of types the rules never
    read are inserted together (store.deferring_inserts), flushed before any entry but a
    create and before anything reads the current rows."""
    patients = {p for p in map(_patient_of, entries) if p}
    with access.remembering(session, caller.principal, patients) as memo:
        immediate = memo.types_read if memo is not None else None
        with store.deferring_inserts(session, immediate=immediate):
            for entry in sorted(entries, key=lambda e: (METHOD_ORDER[e.method], e.index)):
                if entry.method != "POST":
                    store.flush_inserts(session)
                try:
                    reply, audit = _run_entry(session, caller, entry)
                except FhirError as error:
                    raise _at_entry(error, entry) from error
                if memo is not None and entry.method != "GET":
                    memo.wrote(entry.resource_type)
                yield entry, reply, audit


def _validate(entries: list[Entry]) -> None:
    """Validate the resources the entries write (FHIR R4B models, UK identifiers)."""
    served = definitions().resources
    for entry in entries:
        if entry.method not in ("POST", "PUT") or entry.resource_type not in served:
            continue  # an unserved type is refused when its entry runs
        try:
            validate_resource(entry.resource_type, entry.resource)
        except FhirError as error:
            raise _at_entry(error, entry) from error
        entry.validated = True


def transaction(runtime: Runtime, caller: Caller, bundle: dict[str, Any]) -> Reply:
    """Every entry, or none of them."""
    entries: list[Entry] = []

    def prepare() -> None:
        # Parsing and validating need no store, so they come before the writers' turn: on
        # SQLite one bundle is validated while another writes (validation was a third of a
        # bundle's CPU, all of it spent holding the store's only write lock).
        entries.extend(_entries(bundle, "transaction"))
        _validate(entries)

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        if any(e.method in ("POST", "PUT", "DELETE") for e in entries):
            store.take_write_lock(session)
        # One walk finds each resource's references; only those that hold one the mapping
        # replaces are rewritten (a copy), the rest are used as they came.
        held = [_references(e.resource, set()) for e in entries]
        mapping = _resolve_ids(session, caller, entries, set().union(*held))
        for entry, references in zip(entries, held, strict=True):
            if entry.resource is not None and not references.isdisjoint(mapping):
                entry.resource = _rewrite(entry.resource, mapping)
        results: dict[int, Reply] = {}
        audits: list[Audit] = []
        for entry, reply, audit in _run_in_order(session, caller, entries):
            audit.detail["bundle"] = "transaction"
            results[entry.index] = reply
            audits.append(audit)
        response = {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [_response_entry(results[e.index]) for e in entries],
        }
        return Reply(200, response), audits

    return service.run(
        runtime, caller, Audit("record.transaction", "Bundle"), work, prepare=prepare
    )


def batch(runtime: Runtime, caller: Caller, bundle: dict[str, Any]) -> Reply:
    """Each entry on its own: failures are reported in their entry and do not stop the rest."""
    try:
        raw_entries = bundle.get("entry") or []
        if not isinstance(raw_entries, list) or len(raw_entries) > MAX_ENTRIES:
            raise FhirError.of(400, f"Bundle.entry must be a list of at most {MAX_ENTRIES}")
    except FhirError as error:
        return service.error_reply(error)
    replies: list[Reply] = []
    for index, raw in enumerate(raw_entries):
        try:
            entry = _parse_entry(index, raw)
        except FhirError as error:
            replies.append(service.error_reply(error))
            continue

        def work(session: Session, entry: Entry = entry) -> tuple[Reply, list[Audit]]:
            if entry.method == "POST" and entry.if_none_exist:
                reply, audit = service.create_in(
                    session,
                    caller,
                    entry.resource_type,
                    entry.resource,
                    if_none_exist=entry.if_none_exist,
                )
            else:
                reply, audit = _run_entry(session, caller, entry)
            audit.detail["bundle"] = "batch"
            return reply, [audit]

        audit = Audit(f"record.{entry.method.lower()}", entry.resource_type, entry.resource_id)
        replies.append(service.run(runtime, caller, audit, work))
    response = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [_response_entry(r) for r in replies],
    }
    return Reply(200, response)


def process(runtime: Runtime, caller: Caller, body: Any) -> Reply:
    """POST /fhir with a Bundle of type transaction or batch."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        return service.error_reply(
            FhirError.of(
                400, "POST /fhir takes a Bundle (transaction or batch)", expression="resourceType"
            )
        )
    kind = body.get("type")
    if kind == "transaction":
        return transaction(runtime, caller, body)
    if kind == "batch":
        return batch(runtime, caller, body)
    return service.error_reply(
        FhirError.of(
            400, f"Bundle.type must be transaction or batch, not {kind!r}", expression="Bundle.type"
        )
    )
