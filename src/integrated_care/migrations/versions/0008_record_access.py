"""Record access: break-glass uses of the shared care record, for the Caldicott guardian.

Revision ID: 0008_record_access
Revises: 0007_governance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_record_access"
down_revision = "0007_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_break_glass",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("organisation_code", sa.String(length=20), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("interaction", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.String(length=150), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_break_glass")),
    )
    op.create_index(
        "ix_record_break_glass_user_patient",
        "record_break_glass",
        ["username", "patient_id", "expires_at"],
    )
    op.create_index("ix_record_break_glass_reviewed", "record_break_glass", ["reviewed_at"])
    op.create_index("ix_record_break_glass_patient", "record_break_glass", ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_record_break_glass_patient", table_name="record_break_glass")
    op.drop_index("ix_record_break_glass_reviewed", table_name="record_break_glass")
    op.drop_index("ix_record_break_glass_user_patient", table_name="record_break_glass")
    op.drop_table("record_break_glass")
