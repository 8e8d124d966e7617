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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, literal, select, union, union_all
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnElement

from integrated_care.accounts.policy import Principal
from integrated_care.prepared import PreparedQuery
from integrated_care.record.models import (
    RecordResource,
    SearchDate,
    SearchReference,
    SearchString,
    SearchToken,
)

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
OPEN_EPISODE = ("planned", "waitlist", "active", "onhold")
F = SearchReference
R = RecordResource
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


def organisation_ids(ods_code: str | BindParameter[str]) -> Select:
    """Ids of the Organization resources carrying this ODS code."""
    return select(T.resource_id).where(
        T.resource_type == "Organization",
        T.param == "identifier",
        T.system == ODS_SYSTEM,
        T.code == ods_code,
    )


def _with_status(resource_type: str, statuses: tuple[str, ...]) -> ColumnElement[bool]:
    """The resource (``R``, see :func:`patients_of`) has one of these statuses (checked per
    resource, through its index rows, so one patient's check reads only that patient's
    resources)."""
    return (
        select(T.resource_id)
        .where(
            T.resource_type == resource_type,
            T.resource_id == R.id,
            T.param == "status",
            T.code.in_(statuses),
        )
        .exists()
    )


def _referring_to_organisation(
    resource_type: str, params: tuple[str, ...], code: str | BindParameter[str]
) -> Select:
    return select(F.resource_id).where(
        F.resource_type == resource_type,
        F.param.in_(params),
        F.target_type == "Organization",
        F.target_id.in_(organisation_ids(code)),
    )


def _refers_to_organisation(
    resource_type: str, params: tuple[str, ...], code: str
) -> ColumnElement[bool]:
    """The resource (``R``, see :func:`patients_of`) refers to the organisation by one of
    `params`."""
    other = aliased(SearchReference)
    return (
        select(other.resource_id)
        .where(
            other.resource_type == resource_type,
            other.resource_id == R.id,
            other.param.in_(params),
            other.target_type == "Organization",
            other.target_id.in_(organisation_ids(code)),
        )
        .exists()
    )


def patients_of(resource_type: str, *conditions: ColumnElement[bool]) -> Select:
    """A SELECT of the patients whose records hold a current resource of this type meeting
    `conditions` (on ``R``, the resource). From the resource's own patient_id, which is its
    compartment reference (``searchparams.SearchParam.reads_compartment``): a lookup for one
    patient reads that patient's resources by the (patient, type) index."""
    return select(R.patient_id).where(
        R.resource_type == resource_type,
        R.patient_id.is_not(None),
        R.deleted.is_(False),
        *conditions,
    )


def registered(principal: Principal) -> Select:
    """Patients registered at (or whose record is managed by) the user's organisation."""
    return _referring_to_organisation(
        "Patient", ("general-practitioner", "organization"), principal.organisation_code
    )


def open_episode(principal: Principal) -> Select:
    code = principal.organisation_code
    return patients_of(
        "EpisodeOfCare",
        _refers_to_organisation("EpisodeOfCare", ("organization",), code),
        _with_status("EpisodeOfCare", OPEN_EPISODE),
    )


def active_referral(principal: Principal) -> Select:
    code = principal.organisation_code
    return patients_of(
        "ServiceRequest",
        _refers_to_organisation("ServiceRequest", ("performer",), code),
        _with_status("ServiceRequest", ("active",)),
    )


def care_team(principal: Principal) -> Select:
    code = principal.organisation_code
    return patients_of(
        "CareTeam",
        _refers_to_organisation("CareTeam", ("participant", "participant-organization"), code),
        _with_status("CareTeam", ("active",)),
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
    """The name of the first source relating the principal to the patient, or None: one
    query asking every source at once (each an indexed lookup for this patient)."""
    check = _basis_check(principal, tuple(_sources), except_registered)
    if check is None:
        return None
    statement, names = check
    first = session.connection().execute(statement, {"patient_id": patient_id}).scalar()
    return None if first is None else names[first]


def _source_subqueries(
    principal: Principal, among: tuple[Source, ...], except_registered: bool
) -> list[tuple[str, Any]]:
    """(name, subquery of patient ids) of each source that applies to the principal."""
    found = []
    for source in among:
        if except_registered and source.patients is registered:
            continue
        query = source.patients(principal)
        if query is not None:
            found.append((source.name, query.subquery()))
    return found


@lru_cache(maxsize=1024)
def _basis_check(
    principal: Principal, among: tuple[Source, ...], except_registered: bool
) -> tuple[Select, list[str]] | None:
    """The statement of :func:`relationship_basis` for this principal, built once and reused
    (so SQLAlchemy compiles it once), the patient a parameter; with the sources' names."""
    names: list[str] = []
    checks = []
    for name, found in _source_subqueries(principal, among, except_registered):
        hit = select(found.c[0]).where(found.c[0] == bindparam("patient_id")).exists()
        checks.append(select(literal(len(names)).label("source")).where(hit))
        names.append(name)
    if not checks:
        return None
    hits = union_all(*checks).subquery()
    return select(func.min(hits.c.source)), names


def is_registered(session: Session, principal: Principal, patient_id: str) -> bool:
    """Is the patient registered at (or managed by) the principal's organisation?"""
    found = _REGISTERED.first(
        session.connection(), {"ods_code": principal.organisation_code, "patient_id": patient_id}
    )
    return found is not None


_REGISTERED = PreparedQuery(  # every read of a patient's record asks it
    _referring_to_organisation(
        "Patient", ("general-practitioner", "organization"), bindparam("ods_code")
    )
    .where(F.resource_id == bindparam("patient_id"))
    .limit(1)
)


# --- many patients at once (a transaction bundle's access memo, access.AccessMemo) ------------


def registered_among(
    session: Session, principal: Principal, patient_ids: Iterable[str]
) -> set[str]:
    """Which of these patients :func:`is_registered` answers True for.

    Both stores planned "these patients' registrations at these organisations" (one query,
    the practice's organisation ids as a subquery) over the practice's whole list instead of
    the patients asked about: 6,492 index rows and 39 ms on PostgreSQL, 10.9 ms on SQLite, for
    100 patients at 100,000. PostgreSQL now fetches the patients' registrations (one indexed
    probe each, one query per 500) and keeps those at the practice; SQLite, whose planner
    picked a worse index still for that form, looks each patient up (25 us each)."""
    ids = set(patient_ids)
    if session.get_bind().dialect.name == "sqlite":
        return {p for p in ids if is_registered(session, principal, p)}
    connection = session.connection()
    practice = {"ods_code": principal.organisation_code}
    organisations = set(connection.execute(_ORGANISATIONS, practice).scalars())
    found: set[str] = set()
    for chunk in _chunks(ids):
        rows = connection.execute(_REGISTRATIONS_OF, {"patient_ids": chunk})
        found.update(r.resource_id for r in rows if r.target_id in organisations)
    return found


_ORGANISATIONS = organisation_ids(bindparam("ods_code"))
_REGISTRATIONS_OF = select(F.resource_id, F.target_id).where(
    F.resource_type == "Patient",
    F.param.in_(("general-practitioner", "organization")),
    F.target_type == "Organization",
    F.resource_id.in_(bindparam("patient_ids", expanding=True)),
)


def bases_among(
    session: Session,
    principal: Principal,
    patient_ids: Iterable[str],
    *,
    except_registered: bool = False,
) -> dict[str, str | None]:
    """:func:`relationship_basis` of each of these patients (the first source, in registration
    order, that relates them; None when none does): one query per source per 500 patients."""
    ids = sorted(set(patient_ids))
    bases: dict[str, str | None] = dict.fromkeys(ids)
    for name, among in _among_checks(principal, tuple(_sources), except_registered):
        for chunk in _chunks(p for p in ids if bases[p] is None):
            for (patient_id,) in session.connection().execute(among, {"ids": chunk}):
                if patient_id in bases and bases[patient_id] is None:
                    bases[patient_id] = name
    return bases


@lru_cache(maxsize=1024)
def _among_checks(
    principal: Principal, among: tuple[Source, ...], except_registered: bool
) -> list[tuple[str, Select]]:
    """(name, statement) of each source for :func:`bases_among`, built once per principal (as
    :func:`_basis_check`), the patients an expanding parameter."""
    checks = []
    for name, found in _source_subqueries(principal, among, except_registered):
        checks.append(
            (
                name,
                select(found.c[0]).where(found.c[0].in_(bindparam("ids", expanding=True))),
            )
        )
    return checks


def _chunks(values: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def resource_types_read(principal: Principal) -> frozenset[str] | None:
    """The FHIR resource types whose stored rows the relationship sources read for this
    principal (the ``resource_type`` values their SELECTs compare with), or None when a source
    reads the record's tables without naming the type: then any write may change a relationship.
    A source that reads only other tables (the MDT caseload) adds nothing: a FHIR write cannot
    change it."""
    return _types_read(principal, tuple(_sources))


@lru_cache(maxsize=1024)
def _types_read(principal: Principal, among: tuple[Source, ...]) -> frozenset[str] | None:
    # Cached like _basis_check: walking the sources' statements costs more than a bundle entry.
    found: set[str] = set()
    for source in among:
        query = source.patients(principal)
        if query is None:
            continue
        named, record_tables = _types_named(query)
        if record_tables and not named:
            return None
        found |= named
    return frozenset(found)


_RECORD_TABLES = frozenset(
    t.__table__.name
    for t in (RecordResource, SearchReference, SearchToken, SearchString, SearchDate)
)


def _types_named(query: Select) -> tuple[set[str], bool]:
    """(resource types compared with a ``resource_type`` column, whether a record table is read)."""
    named: set[str] = set()
    record_tables = False
    for element in visitors.iterate(query):
        if isinstance(element, Table) and element.name in _RECORD_TABLES:
            record_tables = True
        elif isinstance(element, BinaryExpression):
            left, right = element.left, element.right
            if getattr(left, "name", None) == "resource_type" and isinstance(right, BindParameter):
                values = right.value if isinstance(right.value, list | tuple) else [right.value]
                named.update(str(v) for v in values)
    return named, record_tables


def pcn_of(session: Session, practice_code: str) -> str | None:
    """The PCN a practice belongs to, from the footprint (for an MDT caseload source)."""
    from integrated_care.footprint.models import FootprintPractice

    return session.scalar(
        select(FootprintPractice.pcn_code).where(FootprintPractice.code == practice_code)
    )
