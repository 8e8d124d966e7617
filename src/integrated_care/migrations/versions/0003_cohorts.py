"""Population health: saved case-finding cohorts and their versions.

Revision ID: 0003_cohorts
Revises: 0002_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_cohorts"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cohort",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort")),
        sa.UniqueConstraint("name", name=op.f("uq_cohort_name")),
    )
    op.create_table(
        "cohort_version",
        sa.Column("id", BigId, nullable=False),
        sa.Column("cohort_id", BigId, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("definition_sha256", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_by_organisation", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohort.id"], name=op.f("fk_cohort_version_cohort_id_cohort")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_version")),
        sa.UniqueConstraint("cohort_id", "version", name=op.f("uq_cohort_version_cohort_id")),
    )
    op.create_index(op.f("ix_cohort_version_cohort_id"), "cohort_version", ["cohort_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_cohort_version_cohort_id"), table_name="cohort_version")
    op.drop_table("cohort_version")
    op.drop_table("cohort")
