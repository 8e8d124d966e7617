"""Governance: boards and committees, members, meetings, agenda items and papers, attendance,
votes, the chair's allowances for conflicted members, decisions, actions, and the registers of
interests and of gifts and hospitality.

Revision ID: 0007_governance
Revises: 0006_contracts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_governance"
down_revision = "0006_contracts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "governance_body",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=15), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("place_code", sa.String(length=12), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("terms_of_reference", sa.Text(), nullable=True),
        sa.Column("delegations", sa.Text(), nullable=True),
        sa.Column("quorum_voting_members", sa.Integer(), nullable=False),
        sa.Column("quorum_roles", sa.JSON(), nullable=False),
        sa.Column("voting_roles", sa.JSON(), nullable=False),
        sa.Column("clear_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('board', 'committee', 'joint_committee', 'sub_committee')",
            name=op.f("ck_governance_body_kind"),
        ),
        sa.CheckConstraint(
            "level IN ('system', 'place', 'neighbourhood')", name=op.f("ck_governance_body_level")
        ),
        sa.CheckConstraint("clear_days >= 0", name=op.f("ck_governance_body_clear_days")),
        sa.CheckConstraint("quorum_voting_members >= 1", name=op.f("ck_governance_body_quorum")),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["governance_body.id"],
            name=op.f("fk_governance_body_parent_id_governance_body"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_body")),
        sa.UniqueConstraint("name", name=op.f("uq_governance_body_name")),
    )
    with op.batch_alter_table("governance_body", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_body_parent_id"), ["parent_id"], unique=False
        )

    op.create_table(
        "governance_meeting",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("body_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("minutes_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('scheduled', 'held', 'cancelled')",
            name=op.f("ck_governance_meeting_status"),
        ),
        sa.ForeignKeyConstraint(
            ["body_id"],
            ["governance_body.id"],
            name=op.f("fk_governance_meeting_body_id_governance_body"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_meeting")),
    )
    with op.batch_alter_table("governance_meeting", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_meeting_body_id"), ["body_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_governance_meeting_starts_at"), ["starts_at"], unique=False
        )

    op.create_table(
        "governance_member",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("body_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("org_code", sa.String(length=12), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("nhse_approval", sa.String(length=12), nullable=False),
        sa.Column("term_start", sa.Date(), nullable=False),
        sa.Column("term_end", sa.Date(), nullable=True),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.CheckConstraint(
            "nhse_approval IN ('not_needed', 'pending', 'approved', 'refused')",
            name=op.f("ck_governance_member_nhse_approval"),
        ),
        sa.CheckConstraint(
            "role IN ('chair', 'partner_member', 'non_executive', 'non_voting', 'observer')",
            name=op.f("ck_governance_member_role"),
        ),
        sa.CheckConstraint(
            "term_end IS NULL OR term_end >= term_start", name=op.f("ck_governance_member_term")
        ),
        sa.ForeignKeyConstraint(
            ["body_id"],
            ["governance_body.id"],
            name=op.f("fk_governance_member_body_id_governance_body"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["account_user.id"], name=op.f("fk_governance_member_user_id_account_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_member")),
    )
    with op.batch_alter_table("governance_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_governance_member_body_id"), ["body_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_governance_member_user_id"), ["user_id"], unique=False)

    op.create_table(
        "governance_attendance",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "meeting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.CheckConstraint(
            "status IN ('present', 'apologies', 'absent')",
            name=op.f("ck_governance_attendance_status"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["governance_meeting.id"],
            name=op.f("fk_governance_attendance_meeting_id_governance_meeting"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["governance_member.id"],
            name=op.f("fk_governance_attendance_member_id_governance_member"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_attendance")),
        sa.UniqueConstraint(
            "meeting_id", "member_id", name=op.f("uq_governance_attendance_meeting_id")
        ),
    )
    with op.batch_alter_table("governance_attendance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_attendance_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "governance_gift",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("offered_by", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("value_pence", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("declared_by", sa.String(length=150), nullable=False),
        sa.CheckConstraint("value_pence >= 0", name=op.f("ck_governance_gift_value")),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["governance_member.id"],
            name=op.f("fk_governance_gift_member_id_governance_member"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_gift")),
    )
    with op.batch_alter_table("governance_gift", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_gift_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "governance_interest",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=True),
        sa.Column("organisation_name", sa.String(length=200), nullable=True),
        sa.Column("contract_ref", sa.String(length=60), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("declared_by", sa.String(length=150), nullable=False),
        sa.CheckConstraint(
            "kind IN ('financial', 'non_financial_professional', "
            "'non_financial_personal', 'indirect')",
            name=op.f("ck_governance_interest_kind"),
        ),
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= starts_on", name=op.f("ck_governance_interest_dates")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["governance_member.id"],
            name=op.f("fk_governance_interest_member_id_governance_member"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_interest")),
    )
    with op.batch_alter_table("governance_interest", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_interest_contract_ref"), ["contract_ref"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_governance_interest_member_id"), ["member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_governance_interest_org_code"), ["org_code"], unique=False
        )

    op.create_table(
        "governance_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "meeting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("part", sa.String(length=10), nullable=False),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("presenter", sa.String(length=200), nullable=True),
        sa.Column("concerns_org_code", sa.String(length=12), nullable=True),
        sa.Column("concerns_contract", sa.String(length=60), nullable=True),
        sa.Column("needs_vote", sa.Boolean(), nullable=False),
        sa.Column("paper", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("part IN ('public', 'private')", name=op.f("ck_governance_item_part")),
        sa.CheckConstraint(
            "purpose IN ('decision', 'discussion', 'information')",
            name=op.f("ck_governance_item_purpose"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["governance_meeting.id"],
            name=op.f("fk_governance_item_meeting_id_governance_meeting"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_item")),
        sa.UniqueConstraint("meeting_id", "number", name=op.f("uq_governance_item_meeting_id")),
    )
    with op.batch_alter_table("governance_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_item_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "governance_action",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "meeting_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'dropped')", name=op.f("ck_governance_action_status")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["governance_item.id"],
            name=op.f("fk_governance_action_item_id_governance_item"),
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["governance_meeting.id"],
            name=op.f("fk_governance_action_meeting_id_governance_meeting"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_action")),
    )
    with op.batch_alter_table("governance_action", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_action_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "governance_allowance",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "chair_member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chair_member_id"],
            ["governance_member.id"],
            name=op.f("fk_governance_allowance_chair_member_id_governance_member"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["governance_item.id"],
            name=op.f("fk_governance_allowance_item_id_governance_item"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["governance_member.id"],
            name=op.f("fk_governance_allowance_member_id_governance_member"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_allowance")),
        sa.UniqueConstraint("item_id", "member_id", name=op.f("uq_governance_allowance_item_id")),
    )
    with op.batch_alter_table("governance_allowance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_governance_allowance_item_id"), ["item_id"], unique=False
        )

    op.create_table(
        "governance_decision",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("outcome", sa.String(length=15), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("votes_for", sa.Integer(), nullable=True),
        sa.Column("votes_against", sa.Integer(), nullable=True),
        sa.Column("abstentions", sa.Integer(), nullable=True),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('approved', 'not_approved', 'noted', 'deferred')",
            name=op.f("ck_governance_decision_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["governance_item.id"],
            name=op.f("fk_governance_decision_item_id_governance_item"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_decision")),
        sa.UniqueConstraint("item_id", name=op.f("uq_governance_decision_item_id")),
    )
    op.create_table(
        "governance_vote",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("choice", sa.String(length=10), nullable=False),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "choice IN ('for', 'against', 'abstain')", name=op.f("ck_governance_vote_choice")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["governance_item.id"],
            name=op.f("fk_governance_vote_item_id_governance_item"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["governance_member.id"],
            name=op.f("fk_governance_vote_member_id_governance_member"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_vote")),
        sa.UniqueConstraint("item_id", "member_id", name=op.f("uq_governance_vote_item_id")),
    )
    with op.batch_alter_table("governance_vote", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_governance_vote_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("governance_vote", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_vote_item_id"))

    op.drop_table("governance_vote")
    op.drop_table("governance_decision")
    with op.batch_alter_table("governance_allowance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_allowance_item_id"))

    op.drop_table("governance_allowance")
    with op.batch_alter_table("governance_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_action_meeting_id"))

    op.drop_table("governance_action")
    with op.batch_alter_table("governance_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_item_meeting_id"))

    op.drop_table("governance_item")
    with op.batch_alter_table("governance_interest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_interest_org_code"))
        batch_op.drop_index(batch_op.f("ix_governance_interest_member_id"))
        batch_op.drop_index(batch_op.f("ix_governance_interest_contract_ref"))

    op.drop_table("governance_interest")
    with op.batch_alter_table("governance_gift", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_gift_member_id"))

    op.drop_table("governance_gift")
    with op.batch_alter_table("governance_attendance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_attendance_meeting_id"))

    op.drop_table("governance_attendance")
    with op.batch_alter_table("governance_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_member_user_id"))
        batch_op.drop_index(batch_op.f("ix_governance_member_body_id"))

    op.drop_table("governance_member")
    with op.batch_alter_table("governance_meeting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_meeting_starts_at"))
        batch_op.drop_index(batch_op.f("ix_governance_meeting_body_id"))

    op.drop_table("governance_meeting")
    with op.batch_alter_table("governance_body", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_governance_body_parent_id"))

    op.drop_table("governance_body")
