"""Engagement tracking: which PCN clinical directors, clinicians, local medical committees,
Healthwatch and councils took part in which meetings and consultations, and how.

The board secretary records each part taken; the summary per organisation counts the distinct
meetings and consultations it took part in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.governance.models import Meeting
from integrated_care.governance.questions import text_field
from integrated_care.governance.services import Actor, GovernanceError, audit, get
from integrated_care.governance.voice_models import (
    CONTRIBUTIONS,
    PARTICIPANT_KINDS,
    Consultation,
    Engagement,
)

KIND_LABELS = {
    "pcn_clinical_director": "PCN clinical director",
    "clinician": "Clinician",
    "local_medical_committee": "Local medical committee",
    "healthwatch": "Healthwatch",
    "council": "Council",
}


def record(
    session: Session,
    actor: Actor,
    *,
    organisation_name: str,
    participant_kind: str,
    contribution: str,
    meeting_id: int | None = None,
    consultation_id: int | None = None,
    person_name: str | None = None,
    org_code: str | None = None,
) -> Engagement:
    """Record that an organisation (and, optionally, a named person) took part in one meeting
    or one consultation."""
    if participant_kind not in PARTICIPANT_KINDS:
        raise GovernanceError(f"who took part must be one of {', '.join(PARTICIPANT_KINDS)}")
    if contribution not in CONTRIBUTIONS:
        raise GovernanceError(f"how they took part must be one of {', '.join(CONTRIBUTIONS)}")
    if (meeting_id is None) == (consultation_id is None):
        raise GovernanceError("choose either a meeting or a consultation (one, not both)")
    if meeting_id is not None:
        get(session, Meeting, meeting_id)
    else:
        get(session, Consultation, consultation_id)  # type: ignore[arg-type]
    if org_code:
        from integrated_care.footprint.services import get_organisation

        if get_organisation(session, org_code) is None:
            raise GovernanceError(f"{org_code} is not an organisation of this footprint")
    row = Engagement(
        organisation_name=text_field(organisation_name, "the organisation", (1, 200)),
        org_code=org_code or None,
        participant_kind=participant_kind,
        person_name=(person_name or "").strip() or None,
        meeting_id=meeting_id,
        consultation_id=consultation_id,
        contribution=contribution,
        recorded_by=actor.username,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor,
        "engagement.record",
        "engagement",
        row.id,
        {
            "organisation": row.organisation_name,
            "meeting": meeting_id,
            "consultation": consultation_id,
        },
    )
    return row


@dataclass
class OrganisationEngagement:
    """One organisation's part: the distinct meetings and consultations it took part in."""

    organisation: str
    kinds: set[str] = field(default_factory=set)
    meetings: set[int] = field(default_factory=set)
    consultations: set[int] = field(default_factory=set)
    contributions: int = 0

    @property
    def kind_labels(self) -> str:
        return ", ".join(sorted(KIND_LABELS[k] for k in self.kinds))


def by_organisation(session: Session) -> list[OrganisationEngagement]:
    """Every organisation that took part, the most engaged first."""
    found: dict[str, OrganisationEngagement] = {}
    for row in session.scalars(select(Engagement)):
        org = found.setdefault(row.organisation_name, OrganisationEngagement(row.organisation_name))
        org.kinds.add(row.participant_kind)
        org.contributions += 1
        if row.meeting_id is not None:
            org.meetings.add(row.meeting_id)
        if row.consultation_id is not None:
            org.consultations.add(row.consultation_id)
    return sorted(
        found.values(),
        key=lambda o: (-(len(o.meetings) + len(o.consultations)), o.organisation),
    )


def records(session: Session) -> list[Engagement]:
    return list(session.scalars(select(Engagement).order_by(Engagement.id)).all())


def chart(rows: list[OrganisationEngagement]) -> dict:
    """Meetings and consultations per organisation, stacked (Vega-Lite)."""
    from integrated_care.web.charts import bar_chart

    values = [
        {"organisation": o.organisation, "occasion": occasion, "count": count}
        for o in rows
        for occasion, count in (
            ("Meetings", len(o.meetings)),
            ("Consultations", len(o.consultations)),
        )
        if count
    ]
    spec = bar_chart(
        values,
        "organisation",
        "count",
        category_title="Organisation",
        value_title="Meetings and consultations taken part in",
        colour_field="occasion",
    )
    spec["encoding"]["y"]["sort"] = [o.organisation for o in rows]
    spec["encoding"]["color"]["title"] = "Took part in"
    return spec
