"""The record's audit as FHIR AuditEvent resources, in the style of IHE Basic Audit Log Patterns
(BALP), built on demand from the platform's hash-chained audit log: nothing is stored twice.

Each ``record.*`` audit event becomes one AuditEvent: type ``rest``, subtype the FHIR interaction,
action C/R/U/D/E, outcome 0 (success), 4 (refused, or a client error) or 8 (server failure),
the agent (user, organisation, client address, purpose of use: TREAT, or BTG for a break-glass),
the observer (this platform) and entities: the patient (role 1) and the resource (role 4), or
the query (role 24) for a search.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from integrated_care.accounts.models import AuditEvent

AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
USERNAME_SYSTEM = "https://fhir.integrated-care.nhs.uk/Id/username"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"

# action in the platform log -> (restful interaction code, BALP action)
INTERACTIONS = {
    "record.read": ("read", "R"),
    "record.vread": ("vread", "R"),
    "record.history-instance": ("history-instance", "R"),
    "record.history-type": ("history-type", "R"),
    "record.search": ("search-type", "E"),
    "record.everything": ("operation", "E"),
    "record.create": ("create", "C"),
    "record.update": ("update", "U"),
    "record.delete": ("delete", "D"),
    "record.transaction": ("transaction", "E"),
    "record.break-glass": ("operation", "E"),
}


def _instant(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _outcome(event: AuditEvent) -> str:
    if event.outcome == "success":
        return "0"
    status = (event.detail or {}).get("status")
    if event.outcome == "failure" and (not isinstance(status, int) or status >= 500):
        return "8"
    return "4"


def is_break_glass(event: AuditEvent) -> bool:
    return (
        event.action == "record.break-glass" or (event.detail or {}).get("access") == "break-glass"
    )


def to_fhir(event: AuditEvent) -> dict[str, Any]:
    """One platform audit event as a FHIR R4 AuditEvent."""
    detail = event.detail or {}
    code, action = INTERACTIONS.get(event.action, ("operation", "E"))
    purpose = "BTG" if is_break_glass(event) else "TREAT"
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "IRCP",
                    "display": "information recipient",
                }
            ]
        },
        "who": {
            "identifier": {"system": USERNAME_SYSTEM, "value": event.actor},
            "display": event.actor,
        },
        "requestor": True,
        "purposeOfUse": [{"coding": [{"system": ACT_REASON, "code": purpose}]}],
    }
    if event.client:
        agent["network"] = {"address": event.client, "type": "2"}
    agents = [agent]
    if event.actor_organisation:
        agents.append(
            {
                "who": {"identifier": {"system": ODS_SYSTEM, "value": event.actor_organisation}},
                "requestor": False,
            }
        )
    entities: list[dict[str, Any]] = []
    patient = detail.get("patient")
    if patient:
        entities.append(
            {
                "what": {"reference": f"Patient/{patient}"},
                "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    if event.record_type and event.record_id and event.action != "record.break-glass":
        entities.append(
            {
                "what": {"reference": f"{event.record_type}/{event.record_id}"},
                "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
            }
        )
    if detail.get("query"):
        entities.append(
            {
                "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                "description": event.record_type,
                "query": base64.b64encode(str(detail["query"]).encode()).decode(),
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(event.id),
        "type": {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": INTERACTION, "code": code}],
        "action": action,
        "recorded": _instant(event.occurred_at),
        "outcome": _outcome(event),
        "agent": agents,
        "source": {
            "observer": {"display": "integrated-care shared care record"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    if event.outcome != "success" and detail.get("problem"):
        resource["outcomeDesc"] = str(detail["problem"])
    elif event.reason:
        resource["outcomeDesc"] = f"reason given: {event.reason}"
    if entities:
        resource["entity"] = entities
    return resource


@dataclass(frozen=True)
class RecordAuditFilter:
    patient: str | None = None  # whose record
    user: str | None = None  # who looked
    break_glass: bool = False
    outcome: str | None = None


def record_events(
    session: Session, where: RecordAuditFilter, *, limit: int = 50, offset: int = 0
) -> list[AuditEvent]:
    """The record's audit events matching `where`, newest first. "Who looked at this patient"
    covers events naming the patient and searches that returned their resources."""
    query = select(AuditEvent).where(AuditEvent.action.like("record.%"))
    if where.user:
        query = query.where(AuditEvent.actor == where.user)
    if where.outcome:
        query = query.where(AuditEvent.outcome == where.outcome)
    if where.break_glass:
        query = query.where(AuditEvent.action == "record.break-glass")
    if not where.patient:
        rows = session.scalars(
            query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
        ).all()
        return list(rows)
    # The patient is inside the JSON detail: narrow by text in SQL, then check exactly.
    needle = f'%"{where.patient}"%'
    query = query.where(
        or_(
            cast(AuditEvent.detail, String).like(needle),
            (AuditEvent.record_type == "Patient") & (AuditEvent.record_id == where.patient),
        )
    )
    found: list[AuditEvent] = []
    skipped = 0
    for event in session.scalars(
        query.order_by(AuditEvent.id.desc()).execution_options(yield_per=500)
    ):
        if not _names_patient(event, where.patient):
            continue
        if skipped < offset:
            skipped += 1
            continue
        found.append(event)
        if len(found) >= limit:
            break
    return found


def _names_patient(event: AuditEvent, patient: str) -> bool:
    detail = event.detail or {}
    return (
        detail.get("patient") == patient
        or patient in (detail.get("patients") or [])
        or (event.record_type == "Patient" and event.record_id == patient)
    )


def as_bundle(events: list[AuditEvent], base: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(events),
        "entry": [
            {
                "fullUrl": f"{base}/AuditEvent/{e.id}",
                "resource": to_fhir(e),
                "search": {"mode": "match"},
            }
            for e in events
        ],
    }
