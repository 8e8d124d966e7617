"""Demo data for care coordination, loaded after the shared care record.

Referrals (:func:`load_referrals_demo`): the service directory from its data file, then a
realistic handful of referrals from the demo GP's practice for its registered patients, made
through the same service functions as the pages (so they are in the record as ServiceRequest
and Task, with history and audit), dated over the last two months so that some are beyond
their service's waiting-time target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from integrated_care.accounts.policy import Principal
from integrated_care.coordination import directory
from integrated_care.coordination import referrals as ref
from integrated_care.coordination.referral_models import Referral
from integrated_care.coordination.referral_waits import waits
from integrated_care.db import utcnow
from integrated_care.record import relationships
from integrated_care.record import service as record_service
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime

DEMO_ACTOR = "ics-demo"


@dataclass(frozen=True)
class Story:
    """One demo referral: to which service, why, how urgent, made how many days ago, and what
    happened since as (action, days ago, note)."""

    service: str
    reason: str
    made_days_ago: int
    urgency: str = "routine"
    steps: tuple[tuple[str, int, str | None], ...] = ()


STORIES = (
    Story("Social prescribing link workers",
          "Widowed in the spring; lonely, not leaving the house and low in mood", 30),
    Story("Social prescribing link workers",
          "Recently retired, inactive and wants to meet people", 5),
    Story("Social prescribing link workers",
          "Type 2 diabetes and isolation; would like help to become more active", 45,
          steps=(("accept", 39, "Link worker visit booked"),
                 ("complete", 10, "Joined a walking group and a lunch club; feels less alone"))),
    Story("District nursing",
          "Leg ulcer needing dressings three times a week; housebound", 3, "urgent",
          steps=(("accept", 2, "First visit tomorrow"),)),
    Story("Community falls service",
          "Attended A&E at the acute trust after a fall at home; second fall this year", 35),
    Story("Debt and benefits advice",
          "Rent arrears and cannot afford to heat the home", 20),
    Story("Wellbeing and peer support",
          "Anxiety after losing a job", 12,
          steps=(("decline", 8, "Needs therapy: please refer to Talking Therapies"),)),
    Story("NHS Talking Therapies",
          "Low mood and poor sleep for six months", 8),
    Story("Carers support and assessment",
          "Cares for a partner with dementia; exhausted", 50,
          steps=(("accept", 15, "Carer's assessment booked"),)),
    Story("Housing options and homelessness prevention",
          "Damp flat making asthma worse", 9),
    Story("Befriending and good neighbours",
          "Lives alone, would like a weekly call", 14,
          steps=(("withdraw", 12, "Patient moved into residential care"),)),
)  # fmt: skip


def _principal(username: str, org_code: str, org_name: str, role: str) -> Principal:
    return Principal(
        user_id=None,
        username=username,
        display_name=username,
        roles=frozenset({role}),
        organisation_code=org_code,
        organisation_name=org_name,
        auth_method="cli",
    )


def _referrer(runtime: Runtime) -> Principal:
    """The demo GP user (at the first practice, whose PCN's record is loaded)."""
    from integrated_care.accounts.services import get_user, principal_for_user
    from integrated_care.footprint.services import list_organisations

    with runtime.sessions() as session:
        user = get_user(session, "gp")
        if user is not None:
            return principal_for_user(session, user, auth_method="cli")
        practice = min(
            list_organisations(session, org_type="gp_practice"), key=lambda o: o.org_code
        )
    return _principal(DEMO_ACTOR, practice.org_code, practice.name, "clinician")


def _patients(runtime: Runtime, gp: Principal, wanted: int) -> list[str]:
    """Living adults registered at the GP's practice, read through the record (audited)."""
    caller = Caller(gp, client="ics demo")
    with runtime.sessions() as session:
        candidates = list(
            # (a patient refers to the practice as GP and as managing organisation: twice)
            session.scalars(
                relationships.registered(gp).distinct().order_by(relationships.F.resource_id)
            )
        )
    chosen = []
    for patient_id in candidates:
        reply = record_service.read(runtime, caller, "Patient", patient_id)
        patient: dict[str, Any] = reply.json() if reply.status == 200 else {}
        born = patient.get("birthDate")
        if not born or patient.get("deceasedDateTime") or patient.get("deceasedBoolean"):
            continue
        if (date.today() - date.fromisoformat(born)).days < 18 * 365:
            continue
        chosen.append(patient_id)
        if len(chosen) == wanted:
            break
    return chosen


def _receiver(runtime: Runtime, service_id: int) -> Principal:
    from integrated_care.footprint.services import get_organisation

    with runtime.sessions() as session:
        service = directory.get_service(session, service_id)
        org = get_organisation(session, service.org_code)
    name = org.name if org is not None else service.org_code
    return _principal(f"{DEMO_ACTOR} ({name})", service.org_code, name, "care_professional")


def _service_id(runtime: Runtime, story: Story, place: str | None) -> int | None:
    """The story's service; where several organisations run it (each council's housing
    service), the one in the referrer's place if there is one."""
    from integrated_care.footprint.services import get_organisation

    with runtime.sessions() as session:
        found = []
        for s in directory.list_services(session):
            if s.name == story.service:
                org = get_organisation(session, s.org_code)
                found.append((org is None or org.place_code != place, s.id))
    return min(found)[1] if found else None


def _place_of(runtime: Runtime, org_code: str) -> str | None:
    from integrated_care.footprint.services import get_organisation

    with runtime.sessions() as session:
        org = get_organisation(session, org_code)
    return org.place_code if org is not None else None


def load_referrals_demo(runtime: Runtime) -> str:
    """The directory and the demo referrals (skipped when referrals exist: repeatable)."""
    with runtime.transaction() as session:
        loaded = directory.load_directory(session, actor=DEMO_ACTOR)
        existing = session.scalar(select(Referral.id).limit(1))
    services = loaded.added + loaded.unchanged
    if existing is not None:
        return f"{services} services in the directory; referrals already loaded"
    gp = _referrer(runtime)
    patients = _patients(runtime, gp, len(STORIES))
    place = _place_of(runtime, gp.organisation_code)
    now = utcnow()
    made = 0
    for story, patient_id in zip(STORIES, patients, strict=False):
        service_id = _service_id(runtime, story, place)
        if service_id is None:  # this ICS has no such service
            continue
        new = ref.NewReferral(patient_id, service_id, story.reason, story.urgency, True,
                              "Agreed at the appointment")  # fmt: skip
        r = ref.create_referral(
            runtime, gp, new, client="ics demo", at=_ago(now, story.made_days_ago)
        )
        receiver = _receiver(runtime, service_id)
        for action, days_ago, note in story.steps:
            actor = gp if action == "withdraw" else receiver
            ref.change_status(
                runtime, actor, r.id, action, note, client="ics demo", at=_ago(now, days_ago)
            )
        made += 1
    with runtime.sessions() as session:
        rows = list(session.scalars(select(Referral)))
        beyond = sum(w.breached for w in waits(session, rows, utcnow().date()))
    return (
        f"{services} services in the directory; {made} referrals from "
        f"{gp.organisation_name}, {beyond} beyond their waiting-time target"
    )


def _ago(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
