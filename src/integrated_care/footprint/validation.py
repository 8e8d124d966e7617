"""Checks a footprint against the rules an ICS is organised by, naming each thing that fails."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrated_care.footprint.models import (
    FootprintLsoa,
    FootprintPcn,
    FootprintPlace,
    FootprintPractice,
    FootprintSystem,
    Organisation,
)
from integrated_care.footprint.schemas import ICS_BAND, PCN_BAND, Finding, Subject


def _finding(severity: str, rule: str, code: str, name: str, message: str) -> Finding:
    return Finding(
        severity=severity,  # type: ignore[arg-type]
        rule=rule,
        subject=Subject(code=code, name=name),
        message=message,
    )


def validate_footprint(session: Session) -> list[Finding]:
    """Every problem with the stored footprint, errors first, then warnings.

    Errors: a PCN without a clinical director or without practices; an organisation whose parent
    or place does not exist; a PCN or practice missing from the organisations. Warnings: a PCN
    outside 30,000-50,000 registered patients; an ICS outside 1-3 million people; a practice
    without a PCN or a published list size; a place without LSOAs or practices.
    """
    system = session.scalar(select(FootprintSystem))
    if system is None:
        return [_finding("error", "no_footprint", "-", "-", "No footprint has been built.")]
    findings: list[Finding] = []
    findings += _ics_rules(system)
    findings += _pcn_rules(session, system.list_size_year)
    findings += _organisation_rules(session)
    findings += _practice_and_place_rules(session)
    order = {"error": 0, "warning": 1}
    return sorted(findings, key=lambda f: (order[f.severity], f.rule, f.subject.code))


def _ics_rules(system: FootprintSystem) -> list[Finding]:
    low, high = ICS_BAND
    if low <= system.population <= high:
        return []
    return [
        _finding(
            "warning",
            "ics_size",
            system.code,
            system.name,
            f"{system.name} serves {system.population:,} people (ONS mid-{system.population_year}"
            f"), outside the 1-3 million an ICS is expected to serve.",
        )
    ]


def _pcn_rules(session: Session, list_year: str) -> list[Finding]:
    low, high = PCN_BAND
    out = []
    rows = session.execute(
        select(
            FootprintPcn,
            func.count(FootprintPractice.code),
            func.coalesce(func.sum(FootprintPractice.list_size), 0),
        )
        .outerjoin(FootprintPractice, FootprintPractice.pcn_code == FootprintPcn.code)
        .group_by(FootprintPcn.code)
    ).all()
    for pcn, n, total in rows:
        if not (pcn.clinical_director or "").strip():
            out.append(
                _finding(
                    "error",
                    "pcn_without_clinical_director",
                    pcn.code,
                    pcn.name,
                    f"{pcn.name} ({pcn.code}) has no named clinical director.",
                )
            )
        if n == 0:
            out.append(
                _finding(
                    "error",
                    "pcn_without_practices",
                    pcn.code,
                    pcn.name,
                    f"{pcn.name} ({pcn.code}) has no member practices.",
                )
            )
        elif not low <= total <= high:
            out.append(
                _finding(
                    "warning",
                    "pcn_size",
                    pcn.code,
                    pcn.name,
                    f"{pcn.name} ({pcn.code}) has {int(total):,} registered patients "
                    f"({list_year}), outside the {low:,}-{high:,} a PCN is expected to serve.",
                )
            )
    return out


def _organisation_rules(session: Session) -> list[Finding]:
    orgs = session.execute(
        select(
            Organisation.org_code,
            Organisation.name,
            Organisation.parent_code,
            Organisation.place_code,
        )
    ).all()
    codes = {o.org_code for o in orgs}
    places = set(session.scalars(select(FootprintPlace.code)))
    out = []
    for o in orgs:
        if o.parent_code and o.parent_code not in codes:
            out.append(
                _finding(
                    "error",
                    "missing_parent",
                    o.org_code,
                    o.name,
                    f"{o.name} ({o.org_code}) names parent {o.parent_code}, which is not an "
                    "organisation in this footprint.",
                )
            )
        if o.place_code and o.place_code not in places:
            out.append(
                _finding(
                    "error",
                    "unknown_place",
                    o.org_code,
                    o.name,
                    f"{o.name} ({o.org_code}) is placed in {o.place_code}, which is not a place "
                    "of this ICS.",
                )
            )
    for model, kind in ((FootprintPcn, "PCN"), (FootprintPractice, "practice")):
        for code, name in session.execute(select(model.code, model.name)).all():
            if code not in codes:
                out.append(
                    _finding(
                        "error",
                        "missing_organisation",
                        code,
                        name,
                        f"The {kind} {name} ({code}) is not listed among the organisations.",
                    )
                )
    return out


def _practice_and_place_rules(session: Session) -> list[Finding]:
    out = []
    for p in session.scalars(select(FootprintPractice)).all():
        if p.pcn_code is None:
            out.append(
                _finding(
                    "warning",
                    "practice_without_pcn",
                    p.code,
                    p.name,
                    f"{p.name} ({p.code}) is not a member of any PCN.",
                )
            )
        if p.list_size is None:
            out.append(
                _finding(
                    "warning",
                    "practice_without_list_size",
                    p.code,
                    p.name,
                    f"{p.name} ({p.code}) has no published registered list size.",
                )
            )
    lsoas = set(session.scalars(select(FootprintLsoa.place_code).distinct()))
    practices = set(session.scalars(select(FootprintPractice.place_code).distinct()))
    for place in session.scalars(select(FootprintPlace)).all():
        if place.code not in lsoas:
            out.append(
                _finding(
                    "warning",
                    "place_without_lsoas",
                    place.code,
                    place.name,
                    f"{place.name} ({place.code}) has no LSOAs.",
                )
            )
        if place.code not in practices:
            out.append(
                _finding(
                    "warning",
                    "place_without_practices",
                    place.code,
                    place.name,
                    f"{place.name} ({place.code}) has no GP practices.",
                )
            )
    return out
