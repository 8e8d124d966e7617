"""The footprint of any of England's 42 ICBs, built from the public reference data alone.

``footprint_from_reference(icb_code)`` is pure (no database) and fast after the first call, so the
synthetic-population generator and the store both build on it.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence

from integrated_care.footprint import datafiles
from integrated_care.footprint.organisations import Geography, build_organisations, classify_trust
from integrated_care.footprint.places import (
    allocate_to_local_authorities,
    allocate_to_sub_icb_locations,
    apportion,
    local_authority_places,
    short_la_name,
    sub_icb_places,
)
from integrated_care.footprint.records import (
    FootprintData,
    Lsoa,
    Organisation,
    Pcn,
    Place,
    Practice,
    System,
)
from integrated_care.footprint.reference_tables import (
    IcbRow,
    LsoaRow,
    PracticeRow,
    ReferenceTables,
    reference_tables,
    source_years,
)

__all__ = [
    "FootprintData",
    "Lsoa",
    "Organisation",
    "Pcn",
    "Place",
    "Practice",
    "System",
    "UnknownICB",
    "classify_trust",
    "clinical_director_name",
    "footprint_from_reference",
    "list_icbs",
]


class UnknownICB(ValueError):
    """An ICB code that is not one of England's 42."""

    def __init__(self, code: str, valid: Sequence[str]) -> None:
        self.code = code
        self.valid = tuple(valid)
        super().__init__(
            f"{code!r} is not the ODS code of an English ICB. Valid codes: {', '.join(valid)}"
        )


def list_icbs(tables: ReferenceTables | None = None) -> list[tuple[str, str]]:
    """(ODS code, name) of every ICB, by code."""
    tables = tables or reference_tables()
    return sorted((c, i.name) for c, i in tables.icbs.items())


def short_icb_name(board_name: str) -> str:
    """The board's name without 'NHS' and 'Integrated Care Board', e.g. 'Lancashire and South
    Cumbria'."""
    name = board_name.removeprefix("NHS ").removesuffix(" Integrated Care Board")
    return name.strip()


def clinical_director_name(pcn_code: str) -> str:
    """A made-up, stable 'Dr ...' for a PCN, chosen by a hash of its code."""
    names = datafiles.load("clinical_director_names.json")
    digest = hashlib.sha256(pcn_code.encode()).digest()
    given = names["given_names"][int.from_bytes(digest[:4], "big") % len(names["given_names"])]
    family = names["family_names"][int.from_bytes(digest[4:8], "big") % len(names["family_names"])]
    return f"Dr {given} {family}"


def _icb_practices(icb: IcbRow, tables: ReferenceTables) -> list[PracticeRow]:
    """The ICB's practices, by their sub-ICB location's 2022 ICB.

    The practice map is from January 2022, before ICBs replaced CCGs: Bassetlaw (02Q) was then
    in South Yorkshire, but joined Nottingham and Nottinghamshire in July 2022. A practice whose
    CCG code is not a 2022 sub-ICB location keeps its January 2022 ICB and takes the location
    most of its PCN is in (else the ICB's most populous location).
    """
    sicbl_icb = tables.sicbl_to_icb
    chosen = [p for p in tables.practices if sicbl_icb.get(p.sicbl_code, p.icb_code) == icb.code]
    stray = [p for p in chosen if p.sicbl_code not in icb.sicbl_codes]
    if not stray:
        return chosen
    pcn_votes: dict[str, Counter[str]] = defaultdict(Counter)
    for p in chosen:
        if p.pcn_code and p.sicbl_code in icb.sicbl_codes:
            pcn_votes[p.pcn_code][p.sicbl_code] += 1
    largest = max(icb.sicbl_codes, key=lambda s: (tables.sicbl_population.get(s, 0), s))
    fixed = {}
    for p in stray:
        votes = pcn_votes.get(p.pcn_code or "")
        target = max(sorted(votes), key=lambda s: votes[s]) if votes else largest
        fixed[p.code] = PracticeRow(
            p.code, p.name, p.postcode, p.pcn_code, p.pcn_name, target, icb.code
        )
    return [fixed.get(p.code, p) for p in chosen]


def _system(icb: IcbRow) -> System:
    years = source_years()
    short = short_icb_name(icb.name)
    return System(
        code=icb.code,
        ons_code=icb.ons_code,
        name=f"{short} Integrated Care System",
        short_name=short,
        board_name=icb.name,
        region=icb.region,
        region_code=icb.region_code,
        population=icb.population,
        population_year=years["population"],
        list_size_year=years["list_size"],
        practices_year=years["practices"],
        imd_year=years["imd"],
        synthetic_data=True,
    )


def footprint_from_reference(icb_code: str, tables: ReferenceTables | None = None) -> FootprintData:
    """The real footprint of one ICB (plus its synthetic partners), from the reference files.

    Raises `UnknownICB` if `icb_code` is not one of the 42 ICB ODS codes.
    """
    tables = tables or reference_tables()
    code = icb_code.strip().upper()
    if code not in tables.icbs:
        raise UnknownICB(icb_code, [c for c, _ in list_icbs(tables)])
    icb = tables.icbs[code]
    lsoa_rows = tables.lsoas_by_icb[code]
    practice_rows = _icb_practices(icb, tables)
    la_names = {r.la_code: short_la_name(r.la_name) for r in lsoa_rows}
    la_counts = Counter(r.la_code for r in lsoa_rows)

    if len(icb.sicbl_codes) > 1:
        plan, lsoa_place = sub_icb_places(
            icb, lsoa_rows, tables.sicbl_population, tables.sicbl_names
        )
        practice_place = allocate_to_sub_icb_locations(practice_rows, tables.list_sizes)
        by_la_sicbl: dict[str, Counter[str]] = defaultdict(Counter)
        for r in lsoa_rows:
            by_la_sicbl[r.la_code][r.sicbl_code] += 1
        la_place = {la: max(sorted(c), key=lambda s: c[s]) for la, c in by_la_sicbl.items()}
    else:
        plan, lsoa_place, la_place = local_authority_places(icb, lsoa_rows)
        practice_place = allocate_to_local_authorities(
            practice_rows, tables.list_sizes, plan, la_place, la_names
        )

    places = tuple(
        Place(
            p.code,
            p.name,
            p.kind,
            p.local_authority_code,
            p.sicbl_code,
            p.population,
            p.population_basis,
        )
        for p in plan
    )
    practices = tuple(
        Practice(
            code=p.code,
            name=p.name,
            postcode=p.postcode,
            pcn_code=p.pcn_code,
            place_code=practice_place[p.code],
            sub_icb_location_code=p.sicbl_code,
            list_size=tables.list_sizes.get(p.code),
        )
        for p in sorted(practice_rows, key=lambda r: r.code)
    )
    pcns = _pcns(practice_rows, practices)
    lsoas = _lsoas(lsoa_rows, lsoa_place, places)
    geo = Geography(plan, la_names, la_counts, la_place)
    organisations = build_organisations(icb, short_icb_name(icb.name), tables, geo, pcns, practices)
    return FootprintData(_system(icb), places, organisations, pcns, practices, lsoas)


def _pcns(rows: Sequence[PracticeRow], practices: Sequence[Practice]) -> tuple[Pcn, ...]:
    names = {r.pcn_code: r.pcn_name for r in rows if r.pcn_code}
    members: dict[str, list[Practice]] = defaultdict(list)
    for p in practices:
        if p.pcn_code:
            members[p.pcn_code].append(p)
    return tuple(
        Pcn(
            code=code,
            name=names[code] or code,
            place_code=members[code][0].place_code,
            clinical_director=clinical_director_name(code),
            registered_patients=sum(p.list_size or 0 for p in members[code]),
            n_practices=len(members[code]),
        )
        for code in sorted(members)
    )


def _lsoas(
    rows: Sequence[LsoaRow], lsoa_place: dict[str, str], places: Sequence[Place]
) -> tuple[Lsoa, ...]:
    """Each LSOA with an equal share of its place's population (no LSOA estimates ship)."""
    by_place: dict[str, list[LsoaRow]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.code):
        by_place[lsoa_place[r.code]].append(r)
    out = []
    for place in places:
        members = by_place.get(place.code, [])
        for r, pop in zip(members, apportion(place.population, [1] * len(members)), strict=True):
            out.append(
                Lsoa(
                    r.code,
                    r.name,
                    place.code,
                    r.la_code,
                    short_la_name(r.la_name),
                    r.imd_decile,
                    r.imd_rank,
                    pop,
                )
            )
    return tuple(sorted(out, key=lambda r: r.code))
