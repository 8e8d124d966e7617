"""Contracts register: contracts and their decision records.

Decision records are append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL, reusing 0005's finance_append_only function).

Revision ID: 0006_contracts
Revises: 0005_finance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integrated_care.migrations.append_only import make_append_only

revision = "0006_contracts"
down_revision = "0005_finance"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
DECISIONS = "finance_contract_decision"


def _recorded() -> list[sa.Column]:
    return [
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_by_organisation", sa.String(length=20), nullable=True),
        sa.Column("recorded_at", Timestamp, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "finance_contract",
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("commissioner_code", sa.String(length=12), nullable=False),
        sa.Column("holder_code", sa.String(length=12), nullable=False),
        sa.Column("contract_type", sa.String(length=20), nullable=False),
        sa.Column("parent_contract_id", sa.String(length=40), nullable=True),
        sa.Column("services", sa.Text(), nullable=False),
        sa.Column("annual_value_pence", sa.BigInteger(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("procurement_route", sa.String(length=30), nullable=False),
        *_recorded(),
        sa.CheckConstraint(
            "contract_type IN ('alliance', 'icp_lead_provider', 'sub_contract', "
            "'nhs_standard', 'section_75')",
            name=op.f("ck_finance_contract_contract_type"),
        ),
        sa.CheckConstraint(
            "procurement_route IN ('direct_award_a', 'direct_award_b', 'direct_award_c', "
            "'most_suitable_provider', 'competitive', 'legacy')",
            name=op.f("ck_finance_contract_route"),
        ),
        sa.CheckConstraint(
            "annual_value_pence >= 0", name=op.f("ck_finance_contract_annual_value")
        ),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_finance_contract_dates")
        ),
        sa.PrimaryKeyConstraint("contract_id", name=op.f("pk_finance_contract")),
    )
    for column in ("commissioner_code", "holder_code", "parent_contract_id"):
        op.create_index(op.f(f"ix_finance_contract_{column}"), "finance_contract", [column])
    op.create_table(
        DECISIONS,
        sa.Column("id", BigId, nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decision_body", sa.String(length=200), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("best_value_rationale", sa.Text(), nullable=False),
        sa.Column("conflicts_declared", sa.JSON(), nullable=False),
        *_recorded(),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["finance_contract.contract_id"],
            name=op.f("fk_finance_contract_decision_contract_id_finance_contract"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_contract_decision")),
    )
    op.create_index(op.f("ix_finance_contract_decision_contract_id"), DECISIONS, ["contract_id"])
    make_append_only(DECISIONS, guard="finance_append_only")


def downgrade() -> None:
    op.drop_table(DECISIONS)
    op.drop_table("finance_contract")
