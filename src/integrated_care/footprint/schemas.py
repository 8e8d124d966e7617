"""What the footprint's services return: the figures pages render and the API serves as JSON."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PCN_BAND = (30_000, 50_000)  # the registered-list range a PCN is expected to serve
ICS_BAND = (1_000_000, 3_000_000)

SECTOR_LABELS = {
    "nhs": "NHS",
    "local_government": "Local government",
    "voluntary": "Voluntary, community and social enterprise",
    "private": "Independent sector",
}
ORG_TYPE_LABELS = {
    "icb": "Integrated care board",
    "sub_icb_location": "Sub-ICB location",
    "acute_trust": "Acute trust",
    "community_trust": "Community trust",
    "mental_health_trust": "Mental health trust",
    "ambulance_trust": "Ambulance trust",
    "gp_practice": "GP practice",
    "pcn": "Primary care network",
    "local_authority": "Local authority",
    "vcse": "Voluntary or community organisation",
    "independent_provider": "Independent provider",
    "hospice": "Hospice",
}

# For running text: "1 acute trust", "9 local authorities".
ORG_TYPE_NOUNS = {
    "icb": ("integrated care board", "integrated care boards"),
    "sub_icb_location": ("sub-ICB location", "sub-ICB locations"),
    "acute_trust": ("acute trust", "acute trusts"),
    "community_trust": ("community trust", "community trusts"),
    "mental_health_trust": ("mental health trust", "mental health trusts"),
    "ambulance_trust": ("ambulance trust", "ambulance trusts"),
    "gp_practice": ("GP practice", "GP practices"),
    "pcn": ("primary care network", "primary care networks"),
    "local_authority": ("local authority", "local authorities"),
    "vcse": ("voluntary or community organisation", "voluntary or community organisations"),
    "independent_provider": ("independent provider", "independent providers"),
    "hospice": ("hospice", "hospices"),
}


class SystemSummary(BaseModel):
    code: str = Field(description="ICB ODS code, e.g. QE1")
    ons_code: str
    name: str
    short_name: str
    board_name: str
    region: str
    population: int = Field(description="ONS mid-year estimate of residents")
    population_year: str
    synthetic_data: bool = Field(
        description="Clinical directors and VCSE/independent partners are made up"
    )
    n_places: int
    n_pcns: int
    n_practices: int
    n_lsoas: int
    n_organisations: int
    registered_patients: int = Field(description="Sum of practice list sizes")
    list_size_year: str
    practices_year: str
    imd_year: str


class PlaceSummary(BaseModel):
    code: str
    name: str
    kind: Literal["sub_icb_location", "local_authority"]
    local_authority_code: str
    population: int
    n_pcns: int
    n_practices: int
    n_lsoas: int
    registered_patients: int


class PcnSummary(BaseModel):
    code: str
    name: str
    place_code: str
    clinical_director: str | None
    n_practices: int
    registered_patients: int
    within_band: bool = Field(description="Registered patients within 30,000-50,000")


class PracticeSummary(BaseModel):
    code: str
    name: str
    postcode: str
    pcn_code: str | None
    place_code: str
    list_size: int | None


class OrganisationSummary(BaseModel):
    org_code: str
    name: str
    org_type: str
    sector: str
    statutory: bool
    parent_code: str | None
    place_code: str | None
    postcode: str | None
    synthetic: bool


class DecileCount(BaseModel):
    decile: int = Field(description="IMD 2019 decile, 1 = most deprived tenth in England")
    lsoas: int


class PlaceDetail(PlaceSummary):
    sub_icb_location_code: str
    population_basis: str
    population_year: str
    list_size_year: str
    pcns: list[PcnSummary]
    practices_without_pcn: list[PracticeSummary]
    local_authorities: list[OrganisationSummary]
    partners: list[OrganisationSummary] = Field(description="Other organisations in this place")
    imd_deciles: list[DecileCount]


class PcnDetail(PcnSummary):
    place_name: str
    list_size_year: str
    practices: list[PracticeSummary]


class PracticeDetail(PracticeSummary):
    pcn_name: str | None
    clinical_director: str | None
    place_name: str
    sub_icb_location_code: str
    list_size_year: str


class OrganisationDetail(OrganisationSummary):
    parent: OrganisationSummary | None
    place_name: str | None
    n_children: int


class SectorCount(BaseModel):
    sector: str
    label: str
    organisations: int
    by_type: dict[str, int]


class FootprintOverview(BaseModel):
    system: SystemSummary
    places: list[PlaceSummary]
    sectors: list[SectorCount]


class Subject(BaseModel):
    code: str
    name: str


class Finding(BaseModel):
    severity: Literal["error", "warning"]
    rule: str
    subject: Subject
    message: str


class BuildSummary(BaseModel):
    icb_code: str
    name: str
    population: int
    population_year: str
    places: int
    pcns: int
    practices: int
    practices_without_list_size: int
    lsoas: int
    organisations: int
    organisations_by_sector: dict[str, int]
    registered_patients: int
    replaced: str | None = Field(description="The ICB whose footprint this build replaced")
