"""Shared care record: current resources, their append-only history, and the search indexes.

Revision ID: 0004_record
Revises: 0003_cohorts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integrated_care.migrations.append_only import guard_function, make_append_only

revision = "0004_record"
down_revision = "0003_cohorts"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _resource_tables() -> None:
    op.create_table(
        "record_resource",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("resource_type", "id", name=op.f("pk_record_resource")),
    )
    op.create_index(
        "ix_record_resource_type_updated", "record_resource", ["resource_type", "last_updated"]
    )
    op.create_index(
        "ix_record_resource_patient", "record_resource", ["patient_id", "resource_type"]
    )
    op.create_table(
        "record_resource_history",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint(
            "resource_type", "id", "version_id", name=op.f("pk_record_resource_history")
        ),
    )
    op.create_index(
        "ix_record_resource_history_type_updated",
        "record_resource_history",
        ["resource_type", "last_updated"],
    )


def _index_table(name: str, value_columns: list[sa.Column]) -> None:
    op.create_table(
        name,
        sa.Column("row_id", BigId, nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        *value_columns,
        sa.PrimaryKeyConstraint("row_id", name=op.f(f"pk_{name}")),
    )
    op.create_index(f"ix_{name}_resource", name, ["resource_type", "resource_id"])


def _search_tables() -> None:
    _index_table(
        "record_search_token",
        [
            sa.Column("system", sa.String(length=255), nullable=True),
            sa.Column("code", sa.String(length=255), nullable=False),
        ],
    )
    op.create_index(
        "ix_record_search_token_code",
        "record_search_token",
        ["resource_type", "param", "code", "system"],
    )
    _index_table(
        "record_search_string",
        [
            sa.Column("value", sa.String(length=255), nullable=False),
            sa.Column("exact", sa.String(length=255), nullable=False),
        ],
    )
    op.create_index(
        "ix_record_search_string_value",
        "record_search_string",
        ["resource_type", "param", "value"],
        postgresql_ops={"value": "text_pattern_ops"},
    )
    _index_table(
        "record_search_date",
        [
            sa.Column("low", sa.DateTime(timezone=False), nullable=False),
            sa.Column("high", sa.DateTime(timezone=False), nullable=False),
        ],
    )
    op.create_index(
        "ix_record_search_date_low", "record_search_date", ["resource_type", "param", "low"]
    )
    op.create_index(
        "ix_record_search_date_high", "record_search_date", ["resource_type", "param", "high"]
    )
    _index_table(
        "record_search_reference",
        [
            sa.Column("target_type", sa.String(length=64), nullable=False),
            sa.Column("target_id", sa.String(length=64), nullable=False),
        ],
    )
    op.create_index(
        "ix_record_search_reference_target",
        "record_search_reference",
        ["resource_type", "param", "target_id", "target_type"],
    )
    op.create_index(
        "ix_record_search_reference_reverse",
        "record_search_reference",
        ["target_type", "target_id"],
    )


def upgrade() -> None:
    _resource_tables()
    _search_tables()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(guard_function("record_history_append_only"))
    make_append_only(
        "record_resource_history", guard="record_history_append_only", prefix="record_history"
    )


def downgrade() -> None:
    for table in (
        "record_search_reference",
        "record_search_date",
        "record_search_string",
        "record_search_token",
    ):
        op.drop_table(table)
    op.drop_table("record_resource_history")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION record_history_append_only()")
    op.drop_table("record_resource")
