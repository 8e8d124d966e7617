"""MDT worklists: snapshots of case-finding cohorts for a PCN's multi-disciplinary team, their
entries (the re-identified patients with an action, owner, due date and status) and each entry's
append-only history. Shared care plans need no table: they are FHIR CarePlans in the record.

Revision ID: 0011_mdt_care_plans
Revises: 0010_referrals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integrated_care.migrations.append_only import guard_function, make_append_only

revision = "0011_mdt_care_plans"
down_revision = "0010_referrals"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mdt_worklist",
        sa.Column("id", BigId, nullable=False),
        sa.Column("pcn_code", sa.String(length=12), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("cohort_name", sa.String(length=63), nullable=False),
        sa.Column("cohort_version", sa.String(length=20), nullable=False),
        sa.Column("cohort_title", sa.String(length=200), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("cohort_members", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_by_organisation", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdt_worklist")),
    )
    op.create_index(op.f("ix_mdt_worklist_pcn_code"), "mdt_worklist", ["pcn_code"])

    op.create_table(
        "mdt_worklist_entry",
        sa.Column("id", BigId, nullable=False),
        sa.Column("worklist_id", BigId, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("practice_code", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=150), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=150), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'done')",
            name=op.f("ck_mdt_worklist_entry_status"),
        ),
        sa.ForeignKeyConstraint(
            ["worklist_id"],
            ["mdt_worklist.id"],
            name=op.f("fk_mdt_worklist_entry_worklist_id_mdt_worklist"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdt_worklist_entry")),
        sa.UniqueConstraint(
            "worklist_id", "patient_id", name=op.f("uq_mdt_worklist_entry_worklist_id")
        ),
    )
    op.create_index(
        op.f("ix_mdt_worklist_entry_worklist_id"), "mdt_worklist_entry", ["worklist_id"]
    )
    op.create_index(op.f("ix_mdt_worklist_entry_patient_id"), "mdt_worklist_entry", ["patient_id"])

    op.create_table(
        "mdt_entry_event",
        sa.Column("id", BigId, nullable=False),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=150), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=150), nullable=False),
        sa.CheckConstraint(
            "kind IN ('added', 'discussed', 'assigned', 'status')",
            name=op.f("ck_mdt_entry_event_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["mdt_worklist_entry.id"],
            name=op.f("fk_mdt_entry_event_entry_id_mdt_worklist_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdt_entry_event")),
    )
    op.create_index(op.f("ix_mdt_entry_event_entry_id"), "mdt_entry_event", ["entry_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(guard_function("mdt_entry_event_append_only"))
    make_append_only(
        "mdt_entry_event", guard="mdt_entry_event_append_only", prefix="mdt_entry_event"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_mdt_entry_event_entry_id"), table_name="mdt_entry_event")
    op.drop_table("mdt_entry_event")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION mdt_entry_event_append_only()")
    op.drop_index(op.f("ix_mdt_worklist_entry_patient_id"), table_name="mdt_worklist_entry")
    op.drop_index(op.f("ix_mdt_worklist_entry_worklist_id"), table_name="mdt_worklist_entry")
    op.drop_table("mdt_worklist_entry")
    op.drop_index(op.f("ix_mdt_worklist_pcn_code"), table_name="mdt_worklist")
    op.drop_table("mdt_worklist")
