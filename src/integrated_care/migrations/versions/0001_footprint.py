"""Footprint: the ICS, places, organisations, PCNs, practices and LSOAs.

Revision ID: 0001_footprint
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_footprint"
down_revision = None
branch_labels = None
depends_on = None

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


def upgrade() -> None:
    op.create_table(
        "footprint_system",
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("ons_code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("short_name", sa.String(200), nullable=False),
        sa.Column("board_name", sa.String(200), nullable=False),
        sa.Column("region", sa.String(100), nullable=False),
        sa.Column("region_code", sa.String(12), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("population_year", sa.String(10), nullable=False),
        sa.Column("list_size_year", sa.String(10), nullable=False),
        sa.Column("practices_year", sa.String(10), nullable=False),
        sa.Column("imd_year", sa.String(10), nullable=False),
        sa.Column("synthetic_data", sa.Boolean(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_footprint_system")),
    )
    op.create_table(
        "footprint_places",
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("local_authority_code", sa.String(12), nullable=False),
        sa.Column("sub_icb_location_code", sa.String(10), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("population_basis", sa.String(200), nullable=False),
        sa.CheckConstraint(_one_of("kind", PLACE_KINDS), name=op.f("ck_footprint_places_kind")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_footprint_places")),
    )
    op.create_table(
        "organisations",
        sa.Column("org_code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("org_type", sa.String(30), nullable=False),
        sa.Column("sector", sa.String(20), nullable=False),
        sa.Column("statutory", sa.Boolean(), nullable=False),
        sa.Column("parent_code", sa.String(12), nullable=True),
        sa.Column("place_code", sa.String(12), nullable=True),
        sa.Column("postcode", sa.String(10), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.CheckConstraint(_one_of("org_type", ORG_TYPES), name=op.f("ck_organisations_org_type")),
        sa.CheckConstraint(_one_of("sector", SECTORS), name=op.f("ck_organisations_sector")),
        sa.PrimaryKeyConstraint("org_code", name=op.f("pk_organisations")),
    )
    for column in ("org_type", "sector", "parent_code", "place_code"):
        op.create_index(op.f(f"ix_organisations_{column}"), "organisations", [column], unique=False)
    op.create_table(
        "footprint_pcns",
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("place_code", sa.String(12), nullable=False),
        sa.Column("clinical_director", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["place_code"],
            ["footprint_places.code"],
            name=op.f("fk_footprint_pcns_place_code_footprint_places"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_footprint_pcns")),
    )
    op.create_index(
        op.f("ix_footprint_pcns_place_code"), "footprint_pcns", ["place_code"], unique=False
    )
    op.create_table(
        "footprint_practices",
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("postcode", sa.String(10), nullable=False),
        sa.Column("pcn_code", sa.String(12), nullable=True),
        sa.Column("place_code", sa.String(12), nullable=False),
        sa.Column("sub_icb_location_code", sa.String(10), nullable=False),
        sa.Column("list_size", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pcn_code"],
            ["footprint_pcns.code"],
            name=op.f("fk_footprint_practices_pcn_code_footprint_pcns"),
        ),
        sa.ForeignKeyConstraint(
            ["place_code"],
            ["footprint_places.code"],
            name=op.f("fk_footprint_practices_place_code_footprint_places"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_footprint_practices")),
    )
    for column in ("pcn_code", "place_code"):
        op.create_index(
            op.f(f"ix_footprint_practices_{column}"),
            "footprint_practices",
            [column],
            unique=False,
        )
    op.create_table(
        "footprint_lsoas",
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("place_code", sa.String(12), nullable=False),
        sa.Column("la_code", sa.String(12), nullable=False),
        sa.Column("la_name", sa.String(200), nullable=False),
        sa.Column("imd_decile", sa.Integer(), nullable=False),
        sa.Column("imd_rank", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "imd_decile BETWEEN 1 AND 10", name=op.f("ck_footprint_lsoas_imd_decile")
        ),
        sa.ForeignKeyConstraint(
            ["place_code"],
            ["footprint_places.code"],
            name=op.f("fk_footprint_lsoas_place_code_footprint_places"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_footprint_lsoas")),
    )
    for column in ("place_code", "la_code"):
        op.create_index(
            op.f(f"ix_footprint_lsoas_{column}"), "footprint_lsoas", [column], unique=False
        )


def downgrade() -> None:
    op.drop_table("footprint_lsoas")
    op.drop_table("footprint_practices")
    op.drop_table("footprint_pcns")
    op.drop_table("organisations")
    op.drop_table("footprint_places")
    op.drop_table("footprint_system")
