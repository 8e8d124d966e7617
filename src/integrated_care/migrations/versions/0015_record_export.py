"""Record bulk export: one row per asynchronous $export job.

Revision ID: 0015_record_export
Revises: 0013_public_voice
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_record_export"
down_revision = "0013_public_voice"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_export_job",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("resource_types", sa.Text(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transaction_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=True),
        sa.Column("patients_exported", sa.Integer(), nullable=True),
        sa.Column("patients_opted_out", sa.Integer(), nullable=True),
        sa.Column("patients_dissented", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_export_job")),
    )
    op.create_index("ix_record_export_job_user", "record_export_job", ["username", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_record_export_job_user", table_name="record_export_job")
    op.drop_table("record_export_job")
