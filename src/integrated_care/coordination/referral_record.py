"""A referral in the shared care record: a FHIR ServiceRequest (what is asked, of whom, for
whom) and a Task tracking where it stands, written through the record's service layer so that
validation, search indexes, access rules and audit happen in one place.

Status mapping (docs/coordination.md):

=============  =======================  ==============
referral       ServiceRequest.status    Task.status
=============  =======================  ==============
requested      active                   requested
accepted       active                   accepted
declined       revoked                  rejected
withdrawn      revoked                  cancelled
completed      completed                completed
=============  =======================  ==============

The ServiceRequest names the receiving organisation as performer, so while the referral is
open (requested or accepted) the record's ``referral`` relationship source lets that
organisation open the patient's record, and it stops when the referral closes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from integrated_care.coordination.referral_models import Referral, Service
from integrated_care.record import relationships, service, store
from integrated_care.record.identifiers import NHS_NUMBER_SYSTEM, ODS_CODE_SYSTEM
from integrated_care.record.service import Audit, Caller

REFERRAL_ID_SYSTEM = "https://integrated-care.example/fhir/Id/referral"
SERVICE_STATUS = {
    "requested": "active",
    "accepted": "active",
    "declined": "revoked",
    "withdrawn": "revoked",
    "completed": "completed",
}
TASK_STATUS = {
    "requested": "requested",
    "accepted": "accepted",
    "declined": "rejected",
    "withdrawn": "cancelled",
    "completed": "completed",
}
# FHIR request priority: a two-week-wait style referral is more pressing than "urgent".
PRIORITY = {"routine": "routine", "urgent": "urgent", "two_week_wait": "asap"}


def _instant(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return moment.isoformat(timespec="seconds")


def _org(reference_id: str, name: str) -> dict[str, str]:
    return {"reference": f"Organization/{reference_id}", "display": name}


def business_status(r: Referral, service_name: str) -> str:
    return {
        "requested": f"Awaiting a decision by {service_name}",
        "accepted": f"Accepted by {service_name}",
        "declined": f"Declined: {r.decline_reason}",
        "withdrawn": "Withdrawn by the referrer",
        "completed": f"Completed: {r.outcome}",
    }[r.status]


def service_request(
    r: Referral, s: Service, requester: dict[str, str], performer: dict[str, str]
) -> dict[str, Any]:
    consent = "The patient consented to this referral"
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": r.service_request_id,
        "identifier": [{"system": REFERRAL_ID_SYSTEM, "value": str(r.id)}],
        "status": SERVICE_STATUS[r.status],
        "intent": "order",
        "priority": PRIORITY[r.urgency],
        "category": [{"text": s.kind.replace("_", " ")}],
        "code": {"text": s.name},
        "subject": {"reference": f"Patient/{r.patient_id}"},
        "authoredOn": _instant(r.created_at),
        "requester": requester,
        "performer": [performer],
        "reasonCode": [{"text": r.reason}],
        "note": [
            {
                "authorString": r.consent_recorded_by,
                "time": _instant(r.created_at),
                "text": f"{consent}: {r.consent_note}" if r.consent_note else consent,
            }
        ],
    }
    return resource


def task(
    r: Referral, s: Service, requester: dict[str, str], performer: dict[str, str]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": r.task_id,
        "identifier": [{"system": REFERRAL_ID_SYSTEM, "value": str(r.id)}],
        "status": TASK_STATUS[r.status],
        "businessStatus": {"text": business_status(r, s.name)},
        "intent": "order",
        "priority": PRIORITY[r.urgency],
        "code": {"text": "Fulfil the referral"},
        "focus": {"reference": f"ServiceRequest/{r.service_request_id}"},
        "for": {"reference": f"Patient/{r.patient_id}"},
        "authoredOn": _instant(r.created_at),
        "lastModified": _instant(r.updated_at),
        "requester": requester,
        "owner": performer,
    }
    if r.status in ("declined", "withdrawn"):
        reason = r.decline_reason if r.status == "declined" else "withdrawn by the referrer"
        resource["statusReason"] = {"text": reason}
    if r.status == "completed" and r.outcome:
        resource["output"] = [{"type": {"text": "Outcome"}, "valueString": r.outcome}]
    return resource


def organisation_reference(
    session: Session, caller: Caller, code: str, name: str, audits: list[Audit]
) -> dict[str, str]:
    """A reference to the record's Organization carrying this ODS code, creating it (from the
    footprint) when the record has none yet: a voluntary partner may not be in the extracts."""
    found = session.scalars(relationships.organisation_ids(code).limit(1)).first()
    if found is not None:
        return _org(found, name)
    body = {
        "resourceType": "Organization",
        "identifier": [{"system": ODS_CODE_SYSTEM, "value": code}],
        "active": True,
        "name": name,
    }
    taken = store.current(session, "Organization", code) is not None
    _, audit = service.create_in(
        session, caller, "Organization", body, resource_id=None if taken else code
    )
    audits.append(audit)
    return _org(audit.resource_id or code, name)


def write(
    session: Session,
    caller: Caller,
    r: Referral,
    s: Service,
    names: dict[str, str],
    *,
    new: bool,
) -> list[Audit]:
    """Create (``new``) or update the referral's ServiceRequest and Task in the record, as the
    caller; the record's access rules apply (a refusal raises its FhirError)."""
    audits: list[Audit] = []
    requester = organisation_reference(
        session, caller, r.from_org_code, names[r.from_org_code], audits
    )
    performer = organisation_reference(session, caller, r.to_org_code, names[r.to_org_code], audits)
    if new:
        r.service_request_id, r.task_id = store.new_id(), store.new_id()
        for body in (service_request(r, s, requester, performer), task(r, s, requester, performer)):
            _, audit = service.create_in(
                session, caller, body["resourceType"], body, resource_id=body["id"]
            )
            audits.append(audit)
        return audits
    # The Task first: closing the ServiceRequest ends the relationship that allows the writes.
    for body in (task(r, s, requester, performer), service_request(r, s, requester, performer)):
        _, audit = service.update_in(session, caller, body["resourceType"], body["id"], body)
        audits.append(audit)
    return audits


def patient_details(
    session: Session, caller: Caller, patient_id: str
) -> tuple[dict[str, Any], Audit]:
    """Read the patient through the record (access-checked and audited)."""
    reply, audit = service.read_in(session, caller, "Patient", patient_id)
    return orjson.loads(reply.content()), audit


def nhs_number_of(patient: dict[str, Any]) -> str | None:
    for identifier in patient.get("identifier") or []:
        if identifier.get("system") == NHS_NUMBER_SYSTEM:
            return identifier.get("value")
    return None


def name_of(patient: dict[str, Any]) -> str | None:
    for name in patient.get("name") or []:
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    return None
