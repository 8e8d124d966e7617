"""The footprint's service functions: build it into the store, and read it back.

Plain functions over a SQLAlchemy session, returning the pydantic models in ``schemas``. Other
domains call these, never the tables.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from integrated_care.footprint.models import (
    FootprintLsoa,
    FootprintPcn,
    FootprintPlace,
    FootprintPractice,
    FootprintSystem,
    Organisation,
)
from integrated_care.footprint.reference_build import footprint_from_reference
from integrated_care.footprint.schemas import (
    ORG_TYPE_LABELS,
    PCN_BAND,
    SECTOR_LABELS,
    BuildSummary,
    DecileCount,
    FootprintOverview,
    OrganisationDetail,
    OrganisationSummary,
    PcnDetail,
    PcnSummary,
    PlaceDetail,
    PlaceSummary,
    PracticeDetail,
    PracticeSummary,
    SectorCount,
    SystemSummary,
)
from integrated_care.footprint.validation import validate_footprint

__all__ = [
    "BUILD_STEPS",
    "FootprintExists",
    "build_footprint",
    "get_organisation",
    "get_pcn",
    "get_place",
    "get_practice",
    "list_organisations",
    "list_places",
    "organisations_by_sector",
    "overview",
    "system_summary",
    "validate_footprint",
]

BUILD_STEPS = (
    "Reading the reference data",
    "Clearing the previous footprint",
    "Storing places and PCNs",
    "Storing practices and LSOAs",
    "Storing organisations",
)
# Children before parents, so foreign keys hold at every step.
_TABLES_CHILD_FIRST = (
    FootprintPractice,
    FootprintLsoa,
    FootprintPcn,
    FootprintPlace,
    Organisation,
    FootprintSystem,
)


class FootprintExists(ValueError):
    """The store already holds another ICS's footprint."""


def build_footprint(
    session: Session,
    icb_code: str,
    *,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> BuildSummary:
    """Store the footprint of `icb_code` in the caller's transaction (one ICS per store).

    Rebuilding the same ICB replaces its contents. A different ICB when one is stored raises
    `FootprintExists` unless `replace` is true. Unknown codes raise `UnknownICB`.
    """
    step = progress or (lambda _step: None)
    step(BUILD_STEPS[0])
    data = footprint_from_reference(icb_code)
    existing = session.scalar(select(FootprintSystem.code))
    if existing and existing != data.system.code and not replace:
        raise FootprintExists(
            f"this store holds the footprint of {existing}; rebuilding it as {data.system.code} "
            "would replace it. Use --replace (replace=True) to do so."
        )
    step(BUILD_STEPS[1])
    for model in _TABLES_CHILD_FIRST:
        session.execute(delete(model))

    def rows(items: Iterable[Any]) -> list[dict[str, Any]]:
        return [dataclasses.asdict(i) for i in items]

    session.execute(insert(FootprintSystem), [dataclasses.asdict(data.system)])
    step(BUILD_STEPS[2])
    session.execute(insert(FootprintPlace), rows(data.places))
    session.execute(
        insert(FootprintPcn),
        [
            {
                "code": p.code,
                "name": p.name,
                "place_code": p.place_code,
                "clinical_director": p.clinical_director,
            }
            for p in data.pcns
        ],
    )
    step(BUILD_STEPS[3])
    if data.practices:
        session.execute(insert(FootprintPractice), rows(data.practices))
    session.execute(insert(FootprintLsoa), rows(data.lsoas))
    step(BUILD_STEPS[4])
    session.execute(insert(Organisation), rows(data.organisations))
    session.flush()

    sectors = Counter(o.sector for o in data.organisations)
    return BuildSummary(
        icb_code=data.system.code,
        name=data.system.name,
        population=data.system.population,
        population_year=data.system.population_year,
        places=len(data.places),
        pcns=len(data.pcns),
        practices=len(data.practices),
        practices_without_list_size=sum(1 for p in data.practices if p.list_size is None),
        lsoas=len(data.lsoas),
        organisations=len(data.organisations),
        organisations_by_sector={s: sectors.get(s, 0) for s in SECTOR_LABELS},
        registered_patients=sum(p.list_size or 0 for p in data.practices),
        replaced=existing if existing and existing != data.system.code else None,
    )


def _system(session: Session) -> FootprintSystem | None:
    return session.scalar(select(FootprintSystem))


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def system_summary(session: Session) -> SystemSummary | None:
    """The ICS at a glance, or None when no footprint has been built."""
    system = _system(session)
    if system is None:
        return None
    registered = session.scalar(select(func.coalesce(func.sum(FootprintPractice.list_size), 0)))
    return SystemSummary(
        code=system.code,
        ons_code=system.ons_code,
        name=system.name,
        short_name=system.short_name,
        board_name=system.board_name,
        region=system.region,
        population=system.population,
        population_year=system.population_year,
        synthetic_data=system.synthetic_data,
        n_places=_count(session, FootprintPlace),
        n_pcns=_count(session, FootprintPcn),
        n_practices=_count(session, FootprintPractice),
        n_lsoas=_count(session, FootprintLsoa),
        n_organisations=_count(session, Organisation),
        registered_patients=int(registered or 0),
        list_size_year=system.list_size_year,
        practices_year=system.practices_year,
        imd_year=system.imd_year,
    )


def _by_place(session: Session, column: ColumnElement[Any], model: Any) -> Counter[str]:
    """A figure per place_code, e.g. the number of practices in each place."""
    return Counter(
        dict(session.execute(select(model.place_code, column).group_by(model.place_code)).all())
    )


def list_places(session: Session) -> list[PlaceSummary]:
    """Every place with its population, PCN, practice and LSOA counts, largest first."""
    n_pcns = _by_place(session, func.count(), FootprintPcn)
    n_practices = _by_place(session, func.count(), FootprintPractice)
    registered = _by_place(
        session, func.coalesce(func.sum(FootprintPractice.list_size), 0), FootprintPractice
    )
    n_lsoas = _by_place(session, func.count(), FootprintLsoa)
    places = session.scalars(select(FootprintPlace)).all()
    out = [
        PlaceSummary(
            code=p.code,
            name=p.name,
            kind=p.kind,  # type: ignore[arg-type]
            local_authority_code=p.local_authority_code,
            population=p.population,
            n_pcns=n_pcns[p.code],
            n_practices=n_practices[p.code],
            n_lsoas=n_lsoas[p.code],
            registered_patients=int(registered[p.code]),
        )
        for p in places
    ]
    return sorted(out, key=lambda p: (-p.population, p.code))


def _pcn_summaries(session: Session, *where: ColumnElement[bool]) -> list[PcnSummary]:
    stmt = (
        select(
            FootprintPcn,
            func.count(FootprintPractice.code),
            func.coalesce(func.sum(FootprintPractice.list_size), 0),
        )
        .outerjoin(FootprintPractice, FootprintPractice.pcn_code == FootprintPcn.code)
        .where(*where)
        .group_by(FootprintPcn.code)
        .order_by(FootprintPcn.name)
    )
    low, high = PCN_BAND
    return [
        PcnSummary(
            code=pcn.code,
            name=pcn.name,
            place_code=pcn.place_code,
            clinical_director=pcn.clinical_director,
            n_practices=n,
            registered_patients=int(total),
            within_band=low <= int(total) <= high,
        )
        for pcn, n, total in session.execute(stmt).all()
    ]


def list_pcns(session: Session) -> list[PcnSummary]:
    return _pcn_summaries(session)


def _practice(p: FootprintPractice) -> PracticeSummary:
    return PracticeSummary(
        code=p.code,
        name=p.name,
        postcode=p.postcode,
        pcn_code=p.pcn_code,
        place_code=p.place_code,
        list_size=p.list_size,
    )


def _organisation(o: Organisation) -> OrganisationSummary:
    return OrganisationSummary.model_validate(o, from_attributes=True)


def get_place(session: Session, code: str) -> PlaceDetail | None:
    """A place with its PCNs, councils, partners and the deprivation of its LSOAs."""
    place = session.get(FootprintPlace, code)
    system = _system(session)
    if place is None or system is None:
        return None
    summary = next(p for p in list_places(session) if p.code == code)
    pcns = _pcn_summaries(session, FootprintPcn.place_code == code)
    loose = session.scalars(
        select(FootprintPractice)
        .where(FootprintPractice.place_code == code, FootprintPractice.pcn_code.is_(None))
        .order_by(FootprintPractice.name)
    ).all()
    orgs = session.scalars(
        select(Organisation)
        .where(
            Organisation.place_code == code,
            Organisation.org_type.not_in(("pcn", "gp_practice")),
        )
        .order_by(Organisation.name)
    ).all()
    deciles = Counter(
        dict(
            session.execute(
                select(FootprintLsoa.imd_decile, func.count())
                .where(FootprintLsoa.place_code == code)
                .group_by(FootprintLsoa.imd_decile)
            ).all()
        )
    )
    return PlaceDetail(
        **summary.model_dump(),
        sub_icb_location_code=place.sub_icb_location_code,
        population_basis=place.population_basis,
        population_year=system.population_year,
        list_size_year=system.list_size_year,
        pcns=pcns,
        practices_without_pcn=[_practice(p) for p in loose],
        local_authorities=[_organisation(o) for o in orgs if o.org_type == "local_authority"],
        partners=[_organisation(o) for o in orgs if o.org_type != "local_authority"],
        imd_deciles=[DecileCount(decile=d, lsoas=deciles.get(d, 0)) for d in range(1, 11)],
    )


def get_pcn(session: Session, code: str) -> PcnDetail | None:
    """A PCN with its clinical director and member practices."""
    found = _pcn_summaries(session, FootprintPcn.code == code)
    system = _system(session)
    if not found or system is None:
        return None
    pcn = found[0]
    place = session.get(FootprintPlace, pcn.place_code)
    practices = session.scalars(
        select(FootprintPractice)
        .where(FootprintPractice.pcn_code == code)
        .order_by(FootprintPractice.name)
    ).all()
    return PcnDetail(
        **pcn.model_dump(),
        place_name=place.name if place else pcn.place_code,
        list_size_year=system.list_size_year,
        practices=[_practice(p) for p in practices],
    )


def get_practice(session: Session, code: str) -> PracticeDetail | None:
    practice = session.get(FootprintPractice, code)
    system = _system(session)
    if practice is None or system is None:
        return None
    pcn = session.get(FootprintPcn, practice.pcn_code) if practice.pcn_code else None
    place = session.get(FootprintPlace, practice.place_code)
    return PracticeDetail(
        **_practice(practice).model_dump(),
        pcn_name=pcn.name if pcn else None,
        clinical_director=pcn.clinical_director if pcn else None,
        place_name=place.name if place else practice.place_code,
        sub_icb_location_code=practice.sub_icb_location_code,
        list_size_year=system.list_size_year,
    )


def get_organisation(session: Session, code: str) -> OrganisationDetail | None:
    org = session.get(Organisation, code)
    if org is None:
        return None
    parent = session.get(Organisation, org.parent_code) if org.parent_code else None
    place = session.get(FootprintPlace, org.place_code) if org.place_code else None
    children = session.scalar(
        select(func.count()).select_from(Organisation).where(Organisation.parent_code == code)
    )
    return OrganisationDetail(
        **_organisation(org).model_dump(),
        parent=_organisation(parent) if parent else None,
        place_name=place.name if place else None,
        n_children=children or 0,
    )


def list_organisations(
    session: Session, sector: str | None = None, org_type: str | None = None
) -> list[OrganisationSummary]:
    """Member organisations, optionally of one sector and/or type, by sector, type and name."""
    stmt = select(Organisation)
    if sector:
        stmt = stmt.where(Organisation.sector == sector)
    if org_type:
        stmt = stmt.where(Organisation.org_type == org_type)
    sector_order = list(SECTOR_LABELS)
    type_order = list(ORG_TYPE_LABELS)
    orgs = [_organisation(o) for o in session.scalars(stmt).all()]
    return sorted(
        orgs,
        key=lambda o: (sector_order.index(o.sector), type_order.index(o.org_type), o.name),
    )


def organisations_by_sector(session: Session) -> list[SectorCount]:
    """How many member organisations each sector has, and of which types."""
    counts = session.execute(
        select(Organisation.sector, Organisation.org_type, func.count()).group_by(
            Organisation.sector, Organisation.org_type
        )
    ).all()
    out = []
    for sector, label in SECTOR_LABELS.items():
        by_type = {t: n for s, t, n in counts if s == sector}
        ordered = {t: by_type[t] for t in ORG_TYPE_LABELS if t in by_type}
        out.append(
            SectorCount(
                sector=sector, label=label, organisations=sum(ordered.values()), by_type=ordered
            )
        )
    return out


def overview(session: Session) -> FootprintOverview | None:
    """The system, its places and its organisations by sector (None when nothing is built)."""
    system = system_summary(session)
    if system is None:
        return None
    return FootprintOverview(
        system=system, places=list_places(session), sectors=organisations_by_sector(session)
    )
