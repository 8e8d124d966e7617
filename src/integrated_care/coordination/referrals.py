"""The referral lifecycle: make a referral (reason, urgency, the patient's consent), accept or
decline it with a reason, complete it with an outcome, or withdraw it; each change appended to
the referral's status history, written to the shared care record (ServiceRequest and Task,
referral_record.py) and audited, all in one transaction.

Who may do what: a referral is made from the organisation the user acts for, to a service in
the directory that is accepting referrals, for a patient whose record the user may write to
(the record's own access rules decide, so a referrer needs a care relationship). Only the
receiving organisation accepts, declines or completes; only the referring organisation
withdraws. Nobody sees a referral that is neither from nor to their organisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_event_now
from integrated_care.accounts.policy import Principal
from integrated_care.coordination import referral_record as fhir
from integrated_care.coordination.directory import get_service
from integrated_care.coordination.referral_models import (
    STATUSES,
    URGENCIES,
    Referral,
    ReferralEvent,
    Service,
)
from integrated_care.db import utcnow
from integrated_care.record import service as record_service
from integrated_care.record.identifiers import nhs_number_problem
from integrated_care.record.service import Audit, Caller
from integrated_care.runtime import Runtime

T = TypeVar("T")
# action -> (statuses it applies to, status it leads to, which side takes it)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "accept": (("requested",), "accepted", "receiving"),
    "decline": (("requested",), "declined", "receiving"),
    "complete": (("accepted",), "completed", "receiving"),
    "withdraw": (("requested", "accepted"), "withdrawn", "referring"),
}
NEEDS_NOTE = {"decline": "a reason", "complete": "the outcome"}
URGENCY_LABELS = {
    "routine": "Routine",
    "urgent": "Urgent",
    "two_week_wait": "Two-week wait",
}
STATUS_LABELS = {s: s.capitalize() for s in STATUSES}


class ReferralError(ValueError):
    """A referral rule refused something; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class NewReferral:
    patient_id: str
    service_id: int
    reason: str
    urgency: str
    consent: bool
    consent_note: str | None = None


def _caller(principal: Principal, client: str | None) -> Caller:
    return Caller(principal, base="/fhir", client=client)


def _names(session: Session, *codes: str) -> dict[str, str]:
    from integrated_care.footprint.services import get_organisation

    names = {}
    for code in codes:
        org = get_organisation(session, code)
        names[code] = org.name if org is not None else code
    return names


def _event(
    session: Session, r: Referral, before: str | None, by: Principal, note: str | None
) -> None:
    session.add(
        ReferralEvent(
            referral_id=r.id,
            from_status=before,
            to_status=r.status,
            by=by.username,
            by_org_code=by.organisation_code,
            at=r.updated_at,
            note=note,
        )
    )


def _audit(action: str, r: Referral, detail: dict[str, Any]) -> Audit:
    return Audit(
        f"coordination.referral.{action}", "coord_referral", str(r.id), r.patient_id, detail
    )


def _in_record(
    runtime: Runtime,
    principal: Principal,
    client: str | None,
    action: str,
    work: Callable[[Session, Caller], tuple[T, list[Audit]]],
) -> T:
    """Run `work` in one transaction through the record's service layer (its audit events and
    ours written together); a record refusal becomes a ReferralError with the record's words."""
    caller = _caller(principal, client)
    result: list[T] = []

    def run(session: Session) -> tuple[record_service.Reply, list[Audit]]:
        value, audits = work(session, caller)
        result.append(value)
        return record_service.Reply(200), audits

    reply = record_service.run(
        runtime, caller, Audit(f"coordination.referral.{action}", "coord_referral"), run
    )
    if reply.status >= 400:
        raise ReferralError(
            f"the shared care record refused this: {_outcome_text(reply)}", reply.status
        )
    return result[0]


def _outcome_text(reply: record_service.Reply) -> str:
    body = reply.json() or {}
    return "; ".join(i.get("diagnostics", "") for i in body.get("issue", [])) or str(reply.status)


def _check_new(session: Session, principal: Principal, new: NewReferral) -> Service:
    if not new.consent:
        raise ReferralError(
            "consent: record that the patient has agreed to this referral before making it"
        )
    if not new.reason.strip():
        raise ReferralError("reason: say why you are referring")
    if new.urgency not in URGENCIES:
        raise ReferralError(f"urgency: {new.urgency!r} is not one of {', '.join(URGENCIES)}")
    service = session.get(Service, new.service_id)
    if service is None:
        raise ReferralError(f"service_id: there is no service {new.service_id} in the directory")
    if not service.accepting:
        raise ReferralError(
            f"service_id: {service.name} is not accepting referrals at the moment", 409
        )
    if service.org_code == principal.organisation_code:
        raise ReferralError(
            "service_id: this is your own organisation's service; referrals here are between "
            "organisations"
        )
    return service


def create_referral(
    runtime: Runtime,
    principal: Principal,
    new: NewReferral,
    *,
    client: str | None = None,
    at: datetime | None = None,
) -> Referral:
    """Make a referral from the principal's organisation; it starts as requested. `at` (when
    it was made, if not now) is for loading referrals made before, e.g. the demo's."""

    def work(session: Session, caller: Caller) -> tuple[Referral, list[Audit]]:
        s = _check_new(session, principal, new)
        patient, read = fhir.patient_details(session, caller, new.patient_id)
        nhs = fhir.nhs_number_of(patient)
        if nhs is None or nhs_number_problem(nhs):
            raise ReferralError("patient_id: this patient has no valid NHS number in the record")
        now = at or utcnow()
        r = Referral(
            patient_id=new.patient_id,
            nhs_number=nhs,
            patient_name=fhir.name_of(patient),
            birth_date=_birth_date(patient),
            service_id=s.id,
            from_org_code=principal.organisation_code,
            to_org_code=s.org_code,
            referred_by=principal.username,
            reason=new.reason.strip(),
            urgency=new.urgency,
            consent_recorded_by=principal.username,
            consent_note=(new.consent_note or "").strip() or None,
            status="requested",
            created_at=now,
            updated_at=now,
        )
        session.add(r)
        session.flush()
        names = _names(session, r.from_org_code, r.to_org_code)
        audits = [read, *fhir.write(session, caller, r, s, names, new=True)]
        _event(session, r, None, principal, r.reason)
        detail = {"service": s.name, "to": s.org_code, "urgency": r.urgency, "consent": True}
        return r, [*audits, _audit("create", r, detail)]

    return _in_record(runtime, principal, client, "create", work)


def _birth_date(patient: dict[str, Any]) -> date | None:
    raw = patient.get("birthDate")
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        return None


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stamp here is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def next_actions(r: Referral, principal: Principal) -> list[str]:
    """The actions the principal's organisation may take on the referral now."""
    sides = set()
    if principal.organisation_code == r.to_org_code:
        sides.add("receiving")
    if principal.organisation_code == r.from_org_code:
        sides.add("referring")
    return [
        action
        for action, (froms, _to, side) in TRANSITIONS.items()
        if r.status in froms and side in sides
    ]


def _check_transition(r: Referral, principal: Principal, action: str, note: str | None) -> str:
    if action not in TRANSITIONS:
        raise ReferralError(f"no action {action!r}; actions: {', '.join(TRANSITIONS)}", 404)
    froms, to, side = TRANSITIONS[action]
    owner = r.to_org_code if side == "receiving" else r.from_org_code
    if principal.organisation_code != owner:
        raise ReferralError(
            f"only the {side} organisation ({owner}) may {action} referral {r.id}; you act for "
            f"{principal.organisation_code}",
            403,
        )
    if r.status not in froms:
        raise ReferralError(
            f"referral {r.id} is {r.status}: it cannot be {to} ({action} applies only to "
            f"referrals that are {' or '.join(froms)})",
            409,
        )
    if action in NEEDS_NOTE and not (note or "").strip():
        raise ReferralError(f"note: give {NEEDS_NOTE[action]} to {action} a referral")
    return to


def change_status(
    runtime: Runtime,
    principal: Principal,
    referral_id: int,
    action: str,
    note: str | None = None,
    *,
    client: str | None = None,
    at: datetime | None = None,
) -> Referral:
    """Accept, decline (with a reason), complete (with the outcome) or withdraw a referral
    (`at`: when, if not now; never before the referral's last change)."""

    def work(session: Session, caller: Caller) -> tuple[Referral, list[Audit]]:
        r = session.get(Referral, referral_id, with_for_update=True)
        if r is None:
            raise ReferralError(f"there is no referral {referral_id}", 404)
        to = _check_transition(r, principal, action, note)
        before, text = r.status, (note or "").strip() or None
        when = at or utcnow()
        if _aware(when) < _aware(r.updated_at):
            raise ReferralError(f"at: {when} is before the referral's last change")
        r.status, r.updated_at = to, when
        if to == "accepted":
            r.accepted_at = r.updated_at
        if to in ("declined", "completed", "withdrawn"):
            r.closed_at = r.updated_at
        if to == "declined":
            r.decline_reason = text
        if to == "completed":
            r.outcome = text
        session.flush()
        s = get_service(session, r.service_id)
        names = _names(session, r.from_org_code, r.to_org_code)
        audits = fhir.write(session, caller, r, s, names, new=False)
        _event(session, r, before, principal, text)
        detail = {"from": before, "to": to, "note": text}
        return r, [*audits, _audit(action, r, detail)]

    return _in_record(runtime, principal, client, action, work)


# ---- seeing referrals -------------------------------------------------------------------------


def list_referrals(
    session: Session, principal: Principal, box: str, status: str | None = None
) -> list[Referral]:
    """The principal's organisation's inbox (referrals to it) or outbox (from it), newest
    first; `status` "open" means requested or accepted."""
    if status not in (None, "", "open", *STATUSES):
        raise ReferralError(f"status: {status!r} is not open or one of {', '.join(STATUSES)}")
    column = Referral.to_org_code if box == "inbox" else Referral.from_org_code
    query = select(Referral).where(column == principal.organisation_code)
    if status == "open":
        query = query.where(Referral.status.in_(("requested", "accepted")))
    elif status:
        query = query.where(Referral.status == status)
    return list(session.scalars(query.order_by(Referral.created_at.desc(), Referral.id.desc())))


def get_referral(session: Session, principal: Principal, referral_id: int) -> Referral:
    """The referral, if it is from or to the principal's organisation (else ReferralError)."""
    r = session.get(Referral, referral_id)
    if r is None:
        raise ReferralError(f"there is no referral {referral_id}", 404)
    if principal.organisation_code not in (r.from_org_code, r.to_org_code):
        raise ReferralError(
            f"referral {referral_id} is between {r.from_org_code} and {r.to_org_code}; you act "
            f"for {principal.organisation_code}",
            403,
        )
    return r


def history(session: Session, referral_id: int) -> list[ReferralEvent]:
    return list(
        session.scalars(
            select(ReferralEvent)
            .where(ReferralEvent.referral_id == referral_id)
            .order_by(ReferralEvent.id)
        )
    )


def audit_view(
    runtime: Runtime,
    principal: Principal,
    referral_id: int,
    patient_id: str,
    client: str | None = None,
) -> None:
    """Record that the principal looked at a referral (it identifies a patient)."""
    record_event_now(
        runtime.sessions,
        actor=principal.username,
        organisation=principal.organisation_code,
        action="coordination.referral.read",
        outcome="success",
        record_type="coord_referral",
        record_id=str(referral_id),
        detail={"patient": patient_id},
        client=client,
    )


def audit_list(
    runtime: Runtime,
    principal: Principal,
    what: str,
    patient_ids: list[str],
    client: str | None = None,
) -> None:
    """Record that the principal saw a list of referrals naming these patients."""
    record_event_now(
        runtime.sessions,
        actor=principal.username,
        organisation=principal.organisation_code,
        action="coordination.referral.list",
        outcome="success",
        record_type="coord_referral",
        detail={"list": what, "patients": sorted(set(patient_ids))[:1000]},
        client=client,
    )


def find_patient(
    runtime: Runtime, principal: Principal, nhs_number: str, client: str | None = None
) -> dict[str, Any] | None:
    """The Patient with this NHS number whose record the principal may see, through the
    record's search (access-restricted and audited); None when there is none."""
    problem = nhs_number_problem(nhs_number)
    if problem:
        raise ReferralError(f"nhs_number: {problem}")
    reply = record_service.search_type(
        runtime,
        _caller(principal, client),
        "Patient",
        [("identifier", f"{fhir.NHS_NUMBER_SYSTEM}|{nhs_number}")],
    )
    if reply.status >= 400:
        raise ReferralError(
            f"the shared care record refused this search: {_outcome_text(reply)}", reply.status
        )
    entries = [
        e for e in reply.json().get("entry", []) if e.get("search", {}).get("mode") == "match"
    ]
    return entries[0]["resource"] if entries else None
