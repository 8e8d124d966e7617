"""Workforce: staff members and their passports (credentials), role checklists per
organisation, movements between member organisations with their steps, and the monthly
workforce plan (planned and actual FTE by staff group, staff in new roles).

Revision ID: 0009_workforce
Revises: 0008_record_access
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_workforce"
down_revision = "0008_record_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workforce_new_role_month",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("fte", sa.Float(), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workforce_new_role_month")),
        sa.UniqueConstraint(
            "org_code", "month", "role", name=op.f("uq_workforce_new_role_month_org_code")
        ),
    )
    with op.batch_alter_table("workforce_new_role_month", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workforce_new_role_month_org_code"), ["org_code"], unique=False
        )

    op.create_table(
        "workforce_plan_month",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("staff_group", sa.String(length=15), nullable=False),
        sa.Column("planned_fte", sa.Float(), nullable=True),
        sa.Column("actual_fte", sa.Float(), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "staff_group IN ('medical', 'nursing', 'ahp', 'scientific', 'admin', 'estates', "
            "'social_care', 'other')",
            name=op.f("ck_workforce_plan_month_staff_group"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workforce_plan_month")),
        sa.UniqueConstraint(
            "org_code", "month", "staff_group", name=op.f("uq_workforce_plan_month_org_code")
        ),
    )
    with op.batch_alter_table("workforce_plan_month", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workforce_plan_month_org_code"), ["org_code"], unique=False
        )

    op.create_table(
        "workforce_requirement",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("detail", sa.String(length=60), nullable=False),
        sa.CheckConstraint(
            "kind IN ('identity_check', 'right_to_work', 'dbs', 'professional_registration', "
            "'core_skills', 'occupational_health')",
            name=op.f("ck_workforce_requirement_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workforce_requirement")),
        sa.UniqueConstraint(
            "org_code", "role", "kind", "detail", name=op.f("uq_workforce_requirement_org_code")
        ),
    )
    with op.batch_alter_table("workforce_requirement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workforce_requirement_org_code"), ["org_code"], unique=False
        )

    op.create_table(
        "workforce_staff",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("home_org_code", sa.String(length=12), nullable=False),
        sa.Column("staff_group", sa.String(length=15), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "staff_group IN ('medical', 'nursing', 'ahp', 'scientific', 'admin', 'estates', "
            "'social_care', 'other')",
            name=op.f("ck_workforce_staff_staff_group"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["account_user.id"], name=op.f("fk_workforce_staff_user_id_account_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workforce_staff")),
    )
    with op.batch_alter_table("workforce_staff", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workforce_staff_home_org_code"), ["home_org_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_workforce_staff_user_id"), ["user_id"], unique=False)

    op.create_table(
        "workforce_credential",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("subject", sa.String(length=60), nullable=True),
        sa.Column("dbs_level", sa.String(length=20), nullable=True),
        sa.Column("registration_body", sa.String(length=10), nullable=True),
        sa.Column("registration_number", sa.String(length=30), nullable=True),
        sa.Column("issuer_org_code", sa.String(length=12), nullable=True),
        sa.Column("issuer_name", sa.String(length=200), nullable=True),
        sa.Column("evidence_ref", sa.String(length=200), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "dbs_level IS NULL OR dbs_level IN ('basic', 'standard', 'enhanced', "
            "'enhanced_barred')",
            name=op.f("ck_workforce_credential_dbs"),
        ),
        sa.CheckConstraint(
            "kind IN ('identity_check', 'right_to_work', 'dbs', 'professional_registration', "
            "'core_skills', 'occupational_health')",
            name=op.f("ck_workforce_credential_kind"),
        ),
        sa.CheckConstraint(
            "registration_body IS NULL OR registration_body IN ('GMC', 'NMC', 'HCPC', 'GPhC', "
            "'SWE')",
            name=op.f("ck_workforce_credential_registration_body"),
        ),
        sa.CheckConstraint(
            "expires_on IS NULL OR expires_on >= issued_on",
            name=op.f("ck_workforce_credential_dates"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["workforce_staff.id"],
            name=op.f("fk_workforce_credential_staff_id_workforce_staff"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workforce_credential")),
    )
    with op.batch_alter_table("workforce_credential", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workforce_credential_staff_id"), ["staff_id"], unique=False
        )

    op.create_table(
        "workforce_movement",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("home_org_code", sa.String(length=12), nullable=False),
        sa.Column("host_org_code", sa.String(length=12), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("site", sa.String(length=200), nullable=True),
        sa.Column("mechanism", sa.String(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=15), nullable=False),
        sa.Column("requested_by", sa.String(length=150), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "mechanism IN ('sharing_agreement', 'secondment', 'honorary_contract', 'bank')",
            name=op.f("ck_workforce_movement_mechanism"),
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'home_approved', 'consented', 'checked', 'active', "
            "'ended', 'declined', 'withdrawn')",
            name=op.f("ck_workforce_movement_status"),
        ),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_workforce_movement_dates")),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["workforce_staff.id"],
            name=op.f("fk_workforce_movement_staff_id_workforce_staff"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workforce_movement")),
    )
    with op.batch_alter_table("workforce_movement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workforce_movement_host_org_code"), ["host_org_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workforce_movement_staff_id"), ["staff_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_workforce_movement_status"), ["status"], unique=False)

    op.create_table(
        "workforce_movement_step",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "movement_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=15), nullable=False),
        sa.Column("to_status", sa.String(length=15), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("by", sa.String(length=150), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["workforce_movement.id"],
            name=op.f("fk_workforce_movement_step_movement_id_workforce_movement"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workforce_movement_step")),
    )
    with op.batch_alter_table("workforce_movement_step", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workforce_movement_step_movement_id"), ["movement_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("workforce_movement_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workforce_movement_step_movement_id"))

    op.drop_table("workforce_movement_step")
    with op.batch_alter_table("workforce_movement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workforce_movement_status"))
        batch_op.drop_index(batch_op.f("ix_workforce_movement_staff_id"))
        batch_op.drop_index(batch_op.f("ix_workforce_movement_host_org_code"))

    op.drop_table("workforce_movement")
    with op.batch_alter_table("workforce_credential", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workforce_credential_staff_id"))

    op.drop_table("workforce_credential")
    with op.batch_alter_table("workforce_staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workforce_staff_user_id"))
        batch_op.drop_index(batch_op.f("ix_workforce_staff_home_org_code"))

    op.drop_table("workforce_staff")
    with op.batch_alter_table("workforce_requirement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workforce_requirement_org_code"))

    op.drop_table("workforce_requirement")
    with op.batch_alter_table("workforce_plan_month", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workforce_plan_month_org_code"))

    op.drop_table("workforce_plan_month")
    with op.batch_alter_table("workforce_new_role_month", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workforce_new_role_month_org_code"))

    op.drop_table("workforce_new_role_month")
