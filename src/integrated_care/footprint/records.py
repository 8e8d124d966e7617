"""The footprint as plain, frozen records: what the pure builder returns and the store holds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class System:
    code: str
    ons_code: str
    name: str
    short_name: str
    board_name: str
    region: str
    region_code: str
    population: int
    population_year: str
    list_size_year: str
    practices_year: str
    imd_year: str
    synthetic_data: bool


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    kind: str
    local_authority_code: str
    sub_icb_location_code: str
    population: int
    population_basis: str


@dataclass(frozen=True)
class Organisation:
    org_code: str
    name: str
    org_type: str
    sector: str
    statutory: bool
    parent_code: str | None
    place_code: str | None
    postcode: str | None
    synthetic: bool


@dataclass(frozen=True)
class Pcn:
    code: str
    name: str
    place_code: str
    clinical_director: str
    registered_patients: int
    n_practices: int


@dataclass(frozen=True)
class Practice:
    code: str
    name: str
    postcode: str
    pcn_code: str | None
    place_code: str
    sub_icb_location_code: str
    list_size: int | None


@dataclass(frozen=True)
class Lsoa:
    code: str
    name: str
    place_code: str
    la_code: str
    la_name: str
    imd_decile: int
    imd_rank: int
    population: int  # an equal share of the place's population: no LSOA estimates are shipped


@dataclass(frozen=True)
class FootprintData:
    system: System
    places: tuple[Place, ...]
    organisations: tuple[Organisation, ...]
    pcns: tuple[Pcn, ...]
    practices: tuple[Practice, ...]
    lsoas: tuple[Lsoa, ...]
