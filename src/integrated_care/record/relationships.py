"""Legitimate relationships: which patients' records a user's organisation cares for.

A relationship source is a function of the principal giving a SELECT of one column, the ids of
related patients (or None when it has nothing to say about this principal). Sources are built
from the search index tables, never by reading resource JSON, so a check is a few index lookups
and a search can be restricted in SQL. The built-in sources:

- ``registered``: Patient.generalPractitioner or Patient.managingOrganization refers to an
  Organization whose ODS code is the user's organisation;
- ``episode``: an EpisodeOfCare managed by the user's organisation is open (planned, waitlist,
  active or onhold);
- ``referral``: an active ServiceRequest names the user's organisation as performer;
- ``care-team``: an active CareTeam has the user's organisation as a participant (member, or the
  organisation a member acts for).

Other domains add sources with :func:`register_relationship_source`: care coordination will add
the PCN's MDT caseload (:func:`pcn_of` gives a practice's PCN from the footprint).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Select, select, union
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from integrated_care.accounts.policy import Principal
from integrated_care.record.models import SearchReference, SearchToken

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
OPEN_EPISODE = ("planned", "waitlist", "active", "onhold")
F = SearchReference
T = SearchToken

RelationshipSource = Callable[[Principal], Select | None]


@dataclass(frozen=True)
class Source:
    name: str
    patients: RelationshipSource


_sources: list[Source] = []


def register_relationship_source(fn: RelationshipSource, name: str | None = None) -> None:
    """Add a source of legitimate relationships: `fn(principal)` returns a SELECT of patient
    ids (one column) related to the principal's organisation, or None."""
    source = Source(name or fn.__name__, fn)
    if all(s.patients is not fn for s in _sources):
        _sources.append(source)


def unregister_relationship_source(fn: RelationshipSource) -> None:
    _sources[:] = [s for s in _sources if s.patients is not fn]


def sources() -> list[Source]:
    return list(_sources)


def organisation_ids(ods_code: str) -> Select:
    """Ids of the Organization resources carrying this ODS code."""
    return select(T.resource_id).where(
        T.resource_type == "Organization",
        T.param == "identifier",
        T.system == ODS_SYSTEM,
        T.code == ods_code,
    )


def _with_status(resource_type: str, statuses: tuple[str, ...]) -> Select:
    return select(T.resource_id).where(
        T.resource_type == resource_type, T.param == "status", T.code.in_(statuses)
    )


def _referring_to_organisation(resource_type: str, params: tuple[str, ...], code: str) -> Select:
    return select(F.resource_id).where(
        F.resource_type == resource_type,
        F.param.in_(params),
        F.target_type == "Organization",
        F.target_id.in_(organisation_ids(code)),
    )


def _patients_of(resource_type: str, *conditions: ColumnElement[bool]) -> Select:
    return select(F.target_id).where(
        F.resource_type == resource_type,
        F.param == "patient",
        F.target_type == "Patient",
        *conditions,
    )


def registered(principal: Principal) -> Select:
    """Patients registered at (or whose record is managed by) the user's organisation."""
    return _referring_to_organisation(
        "Patient", ("general-practitioner", "organization"), principal.organisation_code
    )


def open_episode(principal: Principal) -> Select:
    code = principal.organisation_code
    return _patients_of(
        "EpisodeOfCare",
        F.resource_id.in_(_referring_to_organisation("EpisodeOfCare", ("organization",), code)),
        F.resource_id.in_(_with_status("EpisodeOfCare", OPEN_EPISODE)),
    )


def active_referral(principal: Principal) -> Select:
    code = principal.organisation_code
    return _patients_of(
        "ServiceRequest",
        F.resource_id.in_(_referring_to_organisation("ServiceRequest", ("performer",), code)),
        F.resource_id.in_(_with_status("ServiceRequest", ("active",))),
    )


def care_team(principal: Principal) -> Select:
    code = principal.organisation_code
    members = _referring_to_organisation(
        "CareTeam", ("participant", "participant-organization"), code
    )
    return _patients_of(
        "CareTeam",
        F.resource_id.in_(members),
        F.resource_id.in_(_with_status("CareTeam", ("active",))),
    )


for _fn, _name in (
    (registered, "registered"),
    (open_episode, "episode"),
    (active_referral, "referral"),
    (care_team, "care-team"),
):
    register_relationship_source(_fn, _name)


def related_patients(principal: Principal, *, except_registered: bool = False) -> Select | None:
    """A SELECT of the ids of every patient the principal's organisation has a relationship
    with (optionally leaving out the registered-practice source)."""
    selects = [
        query
        for source in _sources
        if not (except_registered and source.patients is registered)
        for query in [source.patients(principal)]
        if query is not None
    ]
    if not selects:
        return None
    return select(union(*selects).subquery().c[0])


def relationship_basis(
    session: Session, principal: Principal, patient_id: str, *, except_registered: bool = False
) -> str | None:
    """The name of the first source relating the principal to the patient, or None."""
    for source in _sources:
        if except_registered and source.patients is registered:
            continue
        query = source.patients(principal)
        if query is None:
            continue
        found = query.subquery()
        hit = session.execute(select(found.c[0]).where(found.c[0] == patient_id).limit(1)).first()
        if hit is not None:
            return source.name
    return None


def is_registered(session: Session, principal: Principal, patient_id: str) -> bool:
    """Is the patient registered at (or managed by) the principal's organisation?"""
    query = registered(principal).where(F.resource_id == patient_id).limit(1)
    return session.execute(query).first() is not None


def pcn_of(session: Session, practice_code: str) -> str | None:
    """The PCN a practice belongs to, from the footprint (for an MDT caseload source)."""
    from integrated_care.footprint.models import FootprintPractice

    return session.scalar(
        select(FootprintPractice.pcn_code).where(FootprintPractice.code == practice_code)
    )
