"""What the workforce pages and their JSON twins show: staff, passports with each credential's
status and the gaps against a role's checklist, movements with their steps, the plan."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.footprint.models import Organisation
from integrated_care.workforce import movement as mv
from integrated_care.workforce import passport, plan
from integrated_care.workforce.models import Credential, Movement, StaffMember
from integrated_care.workforce.passport import KIND_LABELS, Assessment


class StaffOut(BaseModel):
    id: int
    name: str
    home_org_code: str
    home_organisation: str
    staff_group: str
    role: str
    user_id: int | None


class CredentialOut(BaseModel):
    id: int
    kind: str
    label: str
    detail: str | None
    issuer: str | None
    evidence_ref: str
    issued_on: date
    expires_on: date | None
    status: str  # valid | expiring | expired | not_yet_valid


class GapOut(BaseModel):
    kind: str
    detail: str
    need: str
    problem: str
    text: str
    expires_on: date | None


class AssessmentOut(BaseModel):
    org_code: str
    role: str
    as_of: date
    expiring_by: date
    ok: bool
    checklist: list[str]
    missing: list[GapOut]
    expiring: list[GapOut]


class StepOut(BaseModel):
    step: str
    from_status: str
    to_status: str
    outcome: str
    note: str | None
    by: str
    at: datetime


class MovementOut(BaseModel):
    id: int
    staff_id: int
    staff_name: str
    home_org_code: str
    home_organisation: str
    host_org_code: str
    host_organisation: str
    role: str
    site: str | None
    mechanism: str
    mechanism_label: str
    start_date: date
    end_date: date
    status: str
    status_label: str
    next_steps: list[str]


class Passport(BaseModel):
    staff: StaffOut
    credentials: list[CredentialOut]
    home_role: AssessmentOut
    movements: list[MovementOut]
    at_hosts: list[AssessmentOut]  # against each open or active movement's host checklist


class MovementDetail(BaseModel):
    movement: MovementOut
    steps: list[StepOut]
    assessment: AssessmentOut
    active_today: bool


class MonthOut(BaseModel):
    month: date
    planned_fte: float
    actual_fte: float
    vacancies_fte: float
    headcount: int


class GroupOut(BaseModel):
    staff_group: str
    planned_fte: float
    actual_fte: float
    vacancies_fte: float


class NewRoleOut(BaseModel):
    role: str
    fte: float
    headcount: int


class AcrossOut(BaseModel):
    home: str
    host: str
    people: int


class PlanOut(BaseModel):
    org_code: str | None
    organisations: list[str]
    months: list[MonthOut]
    groups: list[GroupOut]
    new_roles: list[NewRoleOut]
    working_across: list[AcrossOut]


def org_names(session: Session) -> dict[str, str]:
    return {
        code: name
        for code, name in session.execute(select(Organisation.org_code, Organisation.name))
    }


def staff_out(s: StaffMember, names: dict[str, str]) -> StaffOut:
    return StaffOut(
        id=s.id,
        name=s.name,
        home_org_code=s.home_org_code,
        home_organisation=names.get(s.home_org_code, s.home_org_code),
        staff_group=s.staff_group,
        role=s.role,
        user_id=s.user_id,
    )


def credential_out(c: Credential, today: date, names: dict[str, str]) -> CredentialOut:
    detail = c.subject or (
        passport.DBS_LABELS.get(c.dbs_level or "")
        if c.kind == "dbs"
        else f"{c.registration_body} {c.registration_number}"
        if c.kind == "professional_registration"
        else None
    )
    if c.kind == "core_skills" and c.subject:
        detail = passport.core_skills()[c.subject]["title"]
    issuer = names.get(c.issuer_org_code or "", c.issuer_org_code) or c.issuer_name
    return CredentialOut(
        id=c.id,
        kind=c.kind,
        label=KIND_LABELS[c.kind],
        detail=detail,
        issuer=issuer,
        evidence_ref=c.evidence_ref,
        issued_on=c.issued_on,
        expires_on=c.expires_on,
        status=passport.credential_status(c, today),
    )


def assessment_out(a: Assessment) -> AssessmentOut:
    def gap(g: passport.Gap) -> GapOut:
        return GapOut(
            kind=g.need.kind,
            detail=g.need.detail,
            need=g.need.label,
            problem=g.problem,
            text=g.text,
            expires_on=g.expires_on,
        )

    return AssessmentOut(
        org_code=a.org_code,
        role=a.role,
        as_of=a.as_of,
        expiring_by=a.expiring_by,
        ok=a.ok,
        checklist=[n.label for n in a.checklist],
        missing=[gap(g) for g in a.missing],
        expiring=[gap(g) for g in a.expiring],
    )


def movement_out(session: Session, m: Movement, names: dict[str, str]) -> MovementOut:
    person = passport.get_staff(session, m.staff_id)
    return MovementOut(
        id=m.id,
        staff_id=m.staff_id,
        staff_name=person.name,
        home_org_code=m.home_org_code,
        home_organisation=names.get(m.home_org_code, m.home_org_code),
        host_org_code=m.host_org_code,
        host_organisation=names.get(m.host_org_code, m.host_org_code),
        role=m.role,
        site=m.site,
        mechanism=m.mechanism,
        mechanism_label=mv.MECHANISM_LABELS[m.mechanism],
        start_date=m.start_date,
        end_date=m.end_date,
        status=m.status,
        status_label=mv.STATUS_LABELS[m.status],
        next_steps=mv.allowed_steps(m),
    )


def passport_of(session: Session, staff_id: int, today: date, within_days: int = 30) -> Passport:
    person = passport.get_staff(session, staff_id)
    names = org_names(session)
    home = passport.assess(
        session, staff_id, person.home_org_code, person.role, as_of=today, within_days=within_days
    )
    moves = mv.movements(session, staff_id=staff_id)
    at_hosts = [
        assessment_out(
            passport.assess(
                session,
                staff_id,
                m.host_org_code,
                m.role,
                as_of=max(today, m.start_date),
                expiring_by=m.end_date,
            )
        )
        for m in moves
        if m.status in (*mv.OPEN, "active")
    ]
    return Passport(
        staff=staff_out(person, names),
        at_hosts=at_hosts,
        credentials=[
            credential_out(c, today, names) for c in passport.credentials_of(session, staff_id)
        ],
        home_role=assessment_out(home),
        movements=[
            movement_out(session, m, names) for m in mv.movements(session, staff_id=staff_id)
        ],
    )


def movement_detail(session: Session, movement_id: int, today: date) -> MovementDetail:
    m = mv.get_movement(session, movement_id)
    names = org_names(session)
    a = passport.assess(
        session,
        m.staff_id,
        m.host_org_code,
        m.role,
        as_of=max(today, m.start_date),
        expiring_by=m.end_date,
    )
    return MovementDetail(
        movement=movement_out(session, m, names),
        steps=[StepOut.model_validate(s, from_attributes=True) for s in mv.steps_of(session, m.id)],
        assessment=assessment_out(a),
        active_today=mv.is_active(session, m.staff_id, m.host_org_code, today),
    )


def plan_of(session: Session, org_code: str | None, today: date) -> PlanOut:
    return PlanOut(
        org_code=org_code,
        organisations=plan.organisations_in_plan(session),
        months=[MonthOut(**vars(m)) for m in plan.by_month(session, org_code)],
        groups=[GroupOut(**vars(g)) for g in plan.by_group(session, org_code=org_code)],
        new_roles=[NewRoleOut(**r) for r in plan.new_roles(session, org_code=org_code)],
        working_across=[AcrossOut(**r) for r in plan.working_across(session, today)],
    )
