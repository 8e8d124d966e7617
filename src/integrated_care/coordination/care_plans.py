"""Shared care plans: a FHIR R4 CarePlan in the shared care record, written and read only through
the record's service layer (record/service.py), so access, validation, indexes, versions and
audit are the record's own.

Shape (docs/coordination.md):

- goals are contained Goal resources (the server does not hold Goal on its own), each
  referenced from ``CarePlan.goal`` as ``#goal-N``, with ``target.dueDate`` when given;
- each activity is ``activity.detail`` with its description, status and the organisation that
  does it as ``performer`` (a reference to the record's Organization carrying the ODS code as
  its identifier);
- the author is the organisation that wrote the first version; the next review date is an
  extension (R4 CarePlan has no element for it).

Anyone whose organisation has a legitimate relationship with the patient sees the plan (the
record's access decision). Being given an activity in an active plan is itself such a
relationship (``care-plan`` source): the partner asked to do something must be able to read the
record it needs, as a referral's receiving organisation can; it ends when the plan stops being
active. An update makes a new version and must name the version it edits
(If-Match), so a stale edit is refused rather than overwriting someone else's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from integrated_care.accounts.policy import Principal
from integrated_care.coordination.referral_record import organisation_reference
from integrated_care.footprint.models import Organisation
from integrated_care.record import service
from integrated_care.record.identifiers import ODS_CODE_SYSTEM
from integrated_care.record.models import RecordResource as R
from integrated_care.record.models import SearchReference, SearchToken
from integrated_care.record.outcomes import FhirError
from integrated_care.record.relationships import (
    organisation_ids,
    patients_of,
    register_relationship_source,
)
from integrated_care.record.service import Audit, Caller, Reply
from integrated_care.runtime import Runtime

REVIEW_EXTENSION = "https://fhir.integrated-care.nhs.uk/StructureDefinition/care-plan-review-date"
SNOMED = "http://snomed.info/sct"
CATEGORY = {"coding": [{"system": SNOMED, "code": "734163000", "display": "Care plan"}]}
REVIEW_SOON_DAYS = 28
PLAN_STATUSES = ("draft", "active", "on-hold", "completed", "revoked")
ACTIVITY_STATUSES = ("not-started", "scheduled", "in-progress", "completed", "cancelled")
GOAL_STATUSES = ("active", "completed", "cancelled")

PlanStatus = Literal["draft", "active", "on-hold", "completed", "revoked"]
ActivityStatus = Literal["not-started", "scheduled", "in-progress", "completed", "cancelled"]
GoalStatus = Literal["active", "completed", "cancelled"]


class CarePlanError(ValueError):
    """Bad input, naming the field; nothing is stored."""


class GoalIn(BaseModel):
    description: str = Field(min_length=1, max_length=500)
    due: dt.date | None = None
    status: GoalStatus = "active"


class ActivityIn(BaseModel):
    description: str = Field(min_length=1, max_length=500)
    organisation: str = Field(min_length=3, max_length=12, description="ODS code of who does it")
    status: ActivityStatus = "not-started"


class CarePlanIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    status: PlanStatus = "active"
    start: dt.date
    review_date: dt.date
    goals: list[GoalIn] = Field(min_length=1)
    activities: list[ActivityIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _review_after_start(self) -> CarePlanIn:
        if self.review_date < self.start:
            raise ValueError(f"review_date {self.review_date} is before the start {self.start}")
        return self


@dataclass(frozen=True)
class Goal:
    description: str
    due: dt.date | None
    status: str


@dataclass(frozen=True)
class Activity:
    description: str
    organisation: str
    organisation_name: str
    status: str


@dataclass(frozen=True)
class CarePlan:
    """A stored CarePlan, read back for pages and the JSON API."""

    id: str
    version: int
    patient_id: str
    title: str
    description: str | None
    status: str
    start: dt.date | None
    review_date: dt.date | None
    author: str | None
    author_name: str | None
    goals: list[Goal]
    activities: list[Activity]
    last_updated: str

    @property
    def organisations(self) -> set[str]:
        return {a.organisation for a in self.activities} | ({self.author} if self.author else set())

    def review_state(self, today: dt.date) -> str:
        """overdue, due (within REVIEW_SOON_DAYS) or later (or none without a date)."""
        if self.review_date is None:
            return "none"
        if self.review_date < today:
            return "overdue"
        if self.review_date <= today + dt.timedelta(days=REVIEW_SOON_DAYS):
            return "due"
        return "later"

    def as_input(self) -> CarePlanIn:
        """The plan as the edit form's input (a plan with no dates gets today's)."""
        return CarePlanIn.model_validate(
            {
                "title": self.title,
                "description": self.description,
                "status": self.status,
                "start": self.start or dt.date.today(),
                "review_date": self.review_date or dt.date.today(),
                "goals": [asdict(g) for g in self.goals],
                "activities": [asdict(a) for a in self.activities],
            }
        )


# ---- FHIR <-> plan ---------------------------------------------------------------------------


def to_fhir(
    patient_id: str,
    plan: CarePlanIn,
    performers: dict[str, dict[str, Any]],
    author: dict[str, Any],
    plan_id: str | None = None,
) -> dict[str, Any]:
    """The CarePlan resource; `performers` maps ODS codes to Organization references."""
    goals = [
        {
            "resourceType": "Goal",
            "id": f"goal-{n}",
            "lifecycleStatus": g.status,
            "description": {"text": g.description},
            "subject": {"reference": f"Patient/{patient_id}"},
            **({"target": [{"dueDate": g.due.isoformat()}]} if g.due else {}),
        }
        for n, g in enumerate(plan.goals, start=1)
    ]
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "extension": [{"url": REVIEW_EXTENSION, "valueDate": plan.review_date.isoformat()}],
        "contained": goals,
        "status": plan.status,
        "intent": "plan",
        "category": [CATEGORY],
        "title": plan.title,
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": plan.start.isoformat()},
        "author": author,
        "goal": [{"reference": f"#{g['id']}"} for g in goals],
        "activity": [
            {
                "detail": {
                    "status": a.status,
                    "description": a.description,
                    "performer": [performers[a.organisation]],
                    "goal": [{"reference": f"#{g['id']}"} for g in goals],
                }
            }
            for a in plan.activities
        ],
    }
    if plan.description:
        resource["description"] = plan.description
    if plan_id:
        resource["id"] = plan_id
    return resource


def _ods(reference: dict[str, Any] | None) -> str | None:
    if not reference:
        return None
    identifier = reference.get("identifier") or {}
    if identifier.get("system") == ODS_CODE_SYSTEM:
        return identifier.get("value")
    ref = reference.get("reference", "")
    return ref.split("/", 1)[1] if ref.startswith("Organization/") else None


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def from_fhir(resource: dict[str, Any]) -> CarePlan:
    contained = {c.get("id"): c for c in resource.get("contained", [])}
    goals = []
    for ref in resource.get("goal", []):
        g = contained.get(ref.get("reference", "").lstrip("#"), {})
        due = next((t.get("dueDate") for t in g.get("target", []) if t.get("dueDate")), None)
        goals.append(
            Goal(g.get("description", {}).get("text", ""), _date(due), g.get("lifecycleStatus", ""))
        )
    activities = []
    for a in resource.get("activity", []):
        detail = a.get("detail", {})
        performer = (detail.get("performer") or [{}])[0]
        code = _ods(performer) or ""
        activities.append(
            Activity(
                detail.get("description", ""),
                code,
                performer.get("display", code),
                detail.get("status", ""),
            )
        )
    review = next(
        (e.get("valueDate") for e in resource.get("extension", []) if e["url"] == REVIEW_EXTENSION),
        None,
    )
    author = resource.get("author")
    meta = resource.get("meta", {})
    return CarePlan(
        id=resource.get("id", ""),
        version=int(meta.get("versionId", 0)),
        patient_id=resource["subject"]["reference"].split("/", 1)[1],
        title=resource.get("title", ""),
        description=resource.get("description"),
        status=resource.get("status", ""),
        start=_date(resource.get("period", {}).get("start")),
        review_date=_date(review),
        author=_ods(author),
        author_name=(author or {}).get("display"),
        goals=goals,
        activities=activities,
        last_updated=meta.get("lastUpdated", ""),
    )


# ---- writing -------------------------------------------------------------------------------------


def _organisation_names(session: Session, codes: set[str]) -> dict[str, str]:
    rows = session.execute(
        select(Organisation.org_code, Organisation.name).where(Organisation.org_code.in_(codes))
    )
    return dict(rows.all())


def _references(
    session: Session, caller: Caller, plan: CarePlanIn, author_code: str, audits: list[Audit]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    codes = {a.organisation for a in plan.activities} | {author_code}
    names = _organisation_names(session, codes)
    for n, a in enumerate(plan.activities):
        if a.organisation not in names:
            raise CarePlanError(
                f"activities[{n}].organisation: {a.organisation!r} is not an organisation of "
                "this ICS (give its ODS code)"
            )
    refs = {}
    for code in sorted(codes):
        ref = organisation_reference(session, caller, code, names.get(code, code), audits)
        refs[code] = {**ref, "identifier": {"system": ODS_CODE_SYSTEM, "value": code}}
    return refs, refs[author_code]


def _organisation_of(caller: Caller) -> str:
    if caller.principal is None:
        raise FhirError.of(401, "sign in to write a care plan", code="login")
    return caller.principal.organisation_code


def create(runtime: Runtime, caller: Caller, patient_id: str, plan: CarePlanIn) -> Reply:
    """Store a new care plan for the patient (201 with the CarePlan, or the refusal/problem)."""

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        audits: list[Audit] = []
        try:
            performers, author = _references(
                session, caller, plan, _organisation_of(caller), audits
            )
        except CarePlanError as e:
            raise FhirError.of(422, str(e)) from None
        body = to_fhir(patient_id, plan, performers, author)
        reply, audit = service.create_in(session, caller, "CarePlan", body)
        return reply, [*audits, audit]

    return service.run(runtime, caller, Audit("record.create", "CarePlan"), work)


def update(
    runtime: Runtime, caller: Caller, plan_id: str, plan: CarePlanIn, *, if_match: str | None
) -> Reply:
    """A new version of the care plan, only if `if_match` names the current version (else 412;
    428 without it). The author stays the organisation that wrote the first version."""
    if not (if_match or "").strip():
        return service.error_reply(
            FhirError.of(
                428, "name the version you are editing (If-Match), so a newer one is not lost"
            )
        )

    def work(session: Session) -> tuple[Reply, list[Audit]]:
        current = service.read_in(session, caller, "CarePlan", plan_id)[0].json()
        existing = from_fhir(current)
        audits: list[Audit] = []
        try:
            performers, author = _references(
                session, caller, plan, existing.author or _organisation_of(caller), audits
            )
        except CarePlanError as e:
            raise FhirError.of(422, str(e)) from None
        body = to_fhir(existing.patient_id, plan, performers, author, plan_id)
        reply, audit = service.update_in(
            session,
            caller,
            "CarePlan",
            plan_id,
            body,
            if_match=service.parse_if_match(if_match),
        )
        return reply, [*audits, audit]

    return service.run(runtime, caller, Audit("record.update", "CarePlan", plan_id), work)


# ---- reading -------------------------------------------------------------------------------------


def read(runtime: Runtime, caller: Caller, plan_id: str) -> tuple[Reply, CarePlan | None]:
    reply = service.read(runtime, caller, "CarePlan", plan_id)
    return reply, from_fhir(reply.json()) if reply.status == 200 else None


def _search(
    runtime: Runtime, caller: Caller, pairs: list[tuple[str, str]]
) -> tuple[Reply, list[CarePlan]]:
    """Every match of a CarePlan search, page by page (each page audited by the record)."""
    plans: list[CarePlan] = []
    offset = 0
    while True:
        reply = service.search_type(
            runtime, caller, "CarePlan", [*pairs, ("_count", "500"), ("_offset", str(offset))]
        )
        if reply.status != 200:
            return reply, []
        bundle = reply.json()
        entries = [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        plans.extend(from_fhir(r) for r in entries)
        offset += 500
        if offset >= bundle.get("total", 0) or not entries:
            return reply, plans


def patient_plans(
    runtime: Runtime, caller: Caller, patient_id: str
) -> tuple[Reply, list[CarePlan]]:
    """The patient's care plans the caller may see, latest change first."""
    reply, plans = _search(runtime, caller, [("patient", patient_id)])
    return reply, sorted(plans, key=lambda p: p.last_updated, reverse=True)


def reviews_for(
    runtime: Runtime, caller: Caller, organisation: str, today: dt.date
) -> tuple[Reply, list[CarePlan]]:
    """Active care plans the organisation wrote or does something in, whose review is overdue or
    due within REVIEW_SOON_DAYS, soonest first."""
    reply, plans = _search(runtime, caller, [("status", "active")])
    due = [
        p
        for p in plans
        if organisation in p.organisations and p.review_state(today) in ("overdue", "due")
    ]
    return reply, sorted(due, key=lambda p: (p.review_date, p.id))


def version_conflict(reply: Reply) -> str | None:
    """The plain-English message for a stale edit (412), else None."""
    if reply.status != 412:
        return None
    detail = reply.json()["issue"][0].get("diagnostics", "")
    return (
        "Someone else changed this care plan after you opened it, so your changes were not "
        f"saved ({detail}). Open the latest version, check what changed, and make your "
        "changes again."
    )


def problem(reply: Reply) -> str:
    """The OperationOutcome's diagnostics, joined, for a page or an API error."""
    body = reply.json() or {}
    issues = body.get("issue", []) if isinstance(body, dict) else []
    return (
        "; ".join(
            (i.get("diagnostics") or "")
            + (f" (at {', '.join(i['expression'])})" if i.get("expression") else "")
            for i in issues
        )
        or f"status {reply.status}"
    )


def care_plan_activity(principal: Principal) -> Select:
    """Patients with an active care plan giving the principal's organisation an activity."""
    ref, token = SearchReference, SearchToken
    performing = select(ref.resource_id).where(
        ref.resource_type == "CarePlan",
        ref.param == "performer",
        ref.target_type == "Organization",
        ref.target_id.in_(organisation_ids(principal.organisation_code)),
    )
    active = select(token.resource_id).where(
        token.resource_type == "CarePlan", token.param == "status", token.code == "active"
    )
    return patients_of("CarePlan", R.id.in_(performing), R.id.in_(active))


register_relationship_source(care_plan_activity, "care-plan")
