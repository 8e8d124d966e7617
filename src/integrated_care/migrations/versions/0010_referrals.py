"""Referrals: the directory of services each organisation (including VCSE organisations) takes
referrals into, referrals between organisations, and each referral's append-only status history.

Revision ID: 0010_referrals
Revises: 0009_workforce
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integrated_care.migrations.append_only import guard_function, make_append_only

revision = "0010_referrals"
down_revision = "0009_workforce"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "coord_service",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("wait_target_days", sa.Integer(), nullable=False),
        sa.Column("accepting", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('social_prescribing', 'community_nursing', 'mental_health', 'falls', "
            "'debt_advice', 'carers_support', 'physiotherapy', 'housing_support', "
            "'befriending', 'weight_management')",
            name=op.f("ck_coord_service_kind"),
        ),
        sa.CheckConstraint(
            "wait_target_days > 0", name=op.f("ck_coord_service_wait_target_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coord_service")),
        sa.UniqueConstraint("org_code", "name", name=op.f("uq_coord_service_org_code")),
    )
    with op.batch_alter_table("coord_service", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coord_service_org_code"), ["org_code"], unique=False)

    op.create_table(
        "coord_referral",
        sa.Column("id", BigId, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("nhs_number", sa.String(length=10), nullable=False),
        sa.Column("patient_name", sa.String(length=200), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("service_id", BigId, nullable=False),
        sa.Column("from_org_code", sa.String(length=12), nullable=False),
        sa.Column("to_org_code", sa.String(length=12), nullable=False),
        sa.Column("referred_by", sa.String(length=150), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("urgency", sa.String(length=15), nullable=False),
        sa.Column("consent_recorded_by", sa.String(length=150), nullable=False),
        sa.Column("consent_note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_request_id", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('requested', 'accepted', 'declined', 'completed', 'withdrawn')",
            name=op.f("ck_coord_referral_status"),
        ),
        sa.CheckConstraint(
            "urgency IN ('routine', 'urgent', 'two_week_wait')",
            name=op.f("ck_coord_referral_urgency"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["coord_service.id"],
            name=op.f("fk_coord_referral_service_id_coord_service"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coord_referral")),
    )
    with op.batch_alter_table("coord_referral", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coord_referral_from_org_code"), ["from_org_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_coord_referral_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_coord_referral_service_id"), ["service_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_coord_referral_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_coord_referral_to_org_code"), ["to_org_code"], unique=False
        )

    op.create_table(
        "coord_referral_event",
        sa.Column("id", BigId, nullable=False),
        sa.Column("referral_id", BigId, nullable=False),
        sa.Column("from_status", sa.String(length=12), nullable=True),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("by", sa.String(length=150), nullable=False),
        sa.Column("by_org_code", sa.String(length=12), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["coord_referral.id"],
            name=op.f("fk_coord_referral_event_referral_id_coord_referral"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coord_referral_event")),
    )
    with op.batch_alter_table("coord_referral_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coord_referral_event_referral_id"), ["referral_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(guard_function("coord_referral_event_append_only"))
    make_append_only(
        "coord_referral_event",
        guard="coord_referral_event_append_only",
        prefix="coord_referral_event",
    )


def downgrade() -> None:
    with op.batch_alter_table("coord_referral_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coord_referral_event_referral_id"))
    op.drop_table("coord_referral_event")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION coord_referral_event_append_only()")
    with op.batch_alter_table("coord_referral", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coord_referral_to_org_code"))
        batch_op.drop_index(batch_op.f("ix_coord_referral_status"))
        batch_op.drop_index(batch_op.f("ix_coord_referral_service_id"))
        batch_op.drop_index(batch_op.f("ix_coord_referral_patient_id"))
        batch_op.drop_index(batch_op.f("ix_coord_referral_from_org_code"))
    op.drop_table("coord_referral")
    with op.batch_alter_table("coord_service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coord_service_org_code"))
    op.drop_table("coord_service")
