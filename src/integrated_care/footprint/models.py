"""The footprint's tables: the ICS, its places, PCNs, practices, LSOAs and every organisation.

One ICS per store. `organisations.parent_code` is a plain indexed string, not a foreign key, so
that validation can name an organisation whose parent is missing instead of refusing the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from integrated_care.db import Base, utcnow

ORG_TYPES = (
    "icb",
    "sub_icb_location",
    "acute_trust",
    "community_trust",
    "mental_health_trust",
    "ambulance_trust",
    "gp_practice",
    "pcn",
    "local_authority",
    "vcse",
    "independent_provider",
    "hospice",
)
SECTORS = ("nhs", "local_government", "voluntary", "private")
PLACE_KINDS = ("sub_icb_location", "local_authority")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class FootprintSystem(Base):
    """The ICS itself (a single row)."""

    __tablename__ = "footprint_system"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    ons_code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(200))
    board_name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(12))
    population: Mapped[int] = mapped_column(Integer)
    population_year: Mapped[str] = mapped_column(String(10))
    list_size_year: Mapped[str] = mapped_column(String(10))
    practices_year: Mapped[str] = mapped_column(String(10))
    imd_year: Mapped[str] = mapped_column(String(10))
    synthetic_data: Mapped[bool] = mapped_column(Boolean)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FootprintPlace(Base):
    """A place: a sub-ICB location, or a local authority area where the ICB has only one."""

    __tablename__ = "footprint_places"
    __table_args__ = (CheckConstraint(_one_of("kind", PLACE_KINDS), name="kind"),)

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    local_authority_code: Mapped[str] = mapped_column(String(12))
    sub_icb_location_code: Mapped[str] = mapped_column(String(10))
    population: Mapped[int] = mapped_column(Integer)
    population_basis: Mapped[str] = mapped_column(String(200))


class Organisation(Base):
    """Every member organisation, statutory or not, in the input layer's vocabulary."""

    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(_one_of("org_type", ORG_TYPES), name="org_type"),
        CheckConstraint(_one_of("sector", SECTORS), name="sector"),
    )

    org_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[str] = mapped_column(String(30), index=True)
    sector: Mapped[str] = mapped_column(String(20), index=True)
    statutory: Mapped[bool] = mapped_column(Boolean)
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    place_code: Mapped[str | None] = mapped_column(String(12), index=True)
    postcode: Mapped[str | None] = mapped_column(String(10))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)


class FootprintPcn(Base):
    """A primary care network: the neighbourhood level."""

    __tablename__ = "footprint_pcns"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    place_code: Mapped[str] = mapped_column(ForeignKey("footprint_places.code"), index=True)
    clinical_director: Mapped[str | None] = mapped_column(String(200))


class FootprintPractice(Base):
    """A GP practice, with its April 2020 registered list where published."""

    __tablename__ = "footprint_practices"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    postcode: Mapped[str] = mapped_column(String(10))
    pcn_code: Mapped[str | None] = mapped_column(ForeignKey("footprint_pcns.code"), index=True)
    place_code: Mapped[str] = mapped_column(ForeignKey("footprint_places.code"), index=True)
    sub_icb_location_code: Mapped[str] = mapped_column(String(10))
    list_size: Mapped[int | None] = mapped_column(Integer)


class FootprintLsoa(Base):
    """A lower-layer super output area (2011), with its IMD 2019 deprivation."""

    __tablename__ = "footprint_lsoas"
    __table_args__ = (CheckConstraint("imd_decile BETWEEN 1 AND 10", name="imd_decile"),)

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    place_code: Mapped[str] = mapped_column(ForeignKey("footprint_places.code"), index=True)
    la_code: Mapped[str] = mapped_column(String(12), index=True)
    la_name: Mapped[str] = mapped_column(String(200))
    imd_decile: Mapped[int] = mapped_column(Integer)
    imd_rank: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
