"""What the referral pages and their JSON twins show: plain models built from the tables."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.coordination import referral_waits as rw
from integrated_care.coordination.directory import KIND_LABELS
from integrated_care.coordination.referral_models import Referral, ReferralEvent, Service
from integrated_care.coordination.referrals import STATUS_LABELS, URGENCY_LABELS


class ServiceOut(BaseModel):
    id: int
    name: str
    org_code: str
    organisation: str
    kind: str
    kind_label: str
    description: str
    criteria: str
    wait_target_days: int
    accepting: bool


class WaitOut(BaseModel):
    days: int
    target_days: int
    waiting: bool
    breached: bool


class ReferralOut(BaseModel):
    id: int
    patient_id: str
    nhs_number: str
    patient_name: str | None
    birth_date: date | None
    service_id: int
    service: str
    from_org_code: str
    from_organisation: str
    to_org_code: str
    to_organisation: str
    referred_by: str
    reason: str
    urgency: str
    urgency_label: str
    consent_recorded_by: str
    consent_note: str | None
    status: str
    status_label: str
    decline_reason: str | None
    outcome: str | None
    created_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None
    service_request_id: str | None
    task_id: str | None
    wait: WaitOut


class EventOut(BaseModel):
    at: datetime
    by: str
    by_org_code: str
    from_status: str | None
    to_status: str
    note: str | None


class ReferralDetail(BaseModel):
    referral: ReferralOut
    history: list[EventOut]
    next_actions: list[str]


class ServiceWaitsOut(BaseModel):
    service_id: int
    service: str
    org_code: str
    target_days: int
    referrals: int
    waiting: int
    waiting_beyond_target: int
    decided: int
    decided_beyond_target: int
    median_days_to_decision: float | None


class WaitsOut(BaseModel):
    as_of: date
    services: list[ServiceWaitsOut]
    breaches: list[ReferralOut]


class ServiceDetail(BaseModel):
    service: ServiceOut
    referrals: int
    waiting: int
    waiting_beyond_target: int
    median_days_to_decision: float | None


def org_names(session: Session) -> dict[str, str]:
    from integrated_care.footprint.services import list_organisations

    return {o.org_code: o.name for o in list_organisations(session)}


def service_out(s: Service, names: dict[str, str]) -> ServiceOut:
    return ServiceOut(
        id=s.id,
        name=s.name,
        org_code=s.org_code,
        organisation=names.get(s.org_code, s.org_code),
        kind=s.kind,
        kind_label=KIND_LABELS[s.kind],
        description=s.description,
        criteria=s.criteria,
        wait_target_days=s.wait_target_days,
        accepting=s.accepting,
    )


def referral_out(
    r: Referral, service_name: str, wait: rw.Wait, names: dict[str, str]
) -> ReferralOut:
    return ReferralOut(
        id=r.id,
        patient_id=r.patient_id,
        nhs_number=r.nhs_number,
        patient_name=r.patient_name,
        birth_date=r.birth_date,
        service_id=r.service_id,
        service=service_name,
        from_org_code=r.from_org_code,
        from_organisation=names.get(r.from_org_code, r.from_org_code),
        to_org_code=r.to_org_code,
        to_organisation=names.get(r.to_org_code, r.to_org_code),
        referred_by=r.referred_by,
        reason=r.reason,
        urgency=r.urgency,
        urgency_label=URGENCY_LABELS[r.urgency],
        consent_recorded_by=r.consent_recorded_by,
        consent_note=r.consent_note,
        status=r.status,
        status_label=STATUS_LABELS[r.status],
        decline_reason=r.decline_reason,
        outcome=r.outcome,
        created_at=r.created_at,
        accepted_at=r.accepted_at,
        closed_at=r.closed_at,
        service_request_id=r.service_request_id,
        task_id=r.task_id,
        wait=WaitOut(
            days=wait.days,
            target_days=wait.target_days,
            waiting=wait.waiting,
            breached=wait.breached,
        ),
    )


def referrals_out(session: Session, rows: list[Referral], today: date) -> list[ReferralOut]:
    names = org_names(session)
    services = dict(
        session.execute(
            select(Service.id, Service.name).where(Service.id.in_({r.service_id for r in rows}))
        ).all()
    )
    waits = {w.referral_id: w for w in rw.waits(session, rows, today)}
    return [referral_out(r, services[r.service_id], waits[r.id], names) for r in rows]


def event_out(e: ReferralEvent) -> EventOut:
    return EventOut(
        at=e.at,
        by=e.by,
        by_org_code=e.by_org_code,
        from_status=e.from_status,
        to_status=e.to_status,
        note=e.note,
    )


def waits_out(session: Session, rows: list[Referral], today: date) -> WaitsOut:
    all_waits = rw.waits(session, rows, today)
    breached = {w.referral_id for w in rw.breaches(all_waits)}
    order = {w.referral_id: i for i, w in enumerate(rw.breaches(all_waits))}
    breach_rows = sorted((r for r in rows if r.id in breached), key=lambda r: order[r.id])
    return WaitsOut(
        as_of=today,
        services=[ServiceWaitsOut(**vars(f)) for f in rw.by_service(session, all_waits)],
        breaches=referrals_out(session, breach_rows, today),
    )
