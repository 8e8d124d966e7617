"""Accounts and audit: users, roles, sessions, sign-in failures, API tokens, the audit log.

The audit log is append-only in the database as well as in code: triggers refuse UPDATE and
DELETE (and TRUNCATE on PostgreSQL).

Revision ID: 0002_accounts
Revises: 0001_footprint
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integrated_care.migrations.append_only import guard_function, make_append_only

revision = "0002_accounts"
down_revision = "0001_footprint"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _create_users() -> None:
    op.create_table(
        "account_user",
        sa.Column("id", BigId, nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("organisation_code", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_user")),
        sa.UniqueConstraint("username", name=op.f("uq_account_user_username")),
    )
    op.create_index(
        op.f("ix_account_user_organisation_code"), "account_user", ["organisation_code"]
    )
    op.create_table(
        "account_user_role",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["account_user.id"],
            name=op.f("fk_account_user_role_user_id_account_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_account_user_role")),
    )


def _create_sessions_and_tokens() -> None:
    op.create_table(
        "account_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["account_user.id"],
            name=op.f("fk_account_session_user_id_account_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_session")),
    )
    op.create_index(op.f("ix_account_session_user_id"), "account_session", ["user_id"])
    op.create_table(
        "account_sign_in_failure",
        sa.Column("id", BigId, nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_sign_in_failure")),
    )
    op.create_index(
        "ix_account_sign_in_failure_username_at",
        "account_sign_in_failure",
        ["username", "attempted_at"],
    )
    op.create_index(
        "ix_account_sign_in_failure_client_at",
        "account_sign_in_failure",
        ["client", "attempted_at"],
    )
    op.create_table(
        "account_api_token",
        sa.Column("id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["account_user.id"],
            name=op.f("fk_account_api_token_user_id_account_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_api_token")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_account_api_token_token_sha256")),
    )
    op.create_index(op.f("ix_account_api_token_user_id"), "account_api_token", ["user_id"])


def _create_audit_log() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", BigId, autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=False),
        sa.Column("actor_organisation", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("record_type", sa.String(length=80), nullable=True),
        sa.Column("record_id", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("client", sa.String(length=100), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('success', 'denied', 'failure')", name=op.f("ck_audit_event_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_event_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_event_prev_hash")),
    )
    op.create_index(op.f("ix_audit_event_action"), "audit_event", ["action"])
    op.create_index("ix_audit_event_actor", "audit_event", ["actor"])
    op.create_index("ix_audit_event_occurred_at", "audit_event", ["occurred_at"])
    op.create_index("ix_audit_event_record", "audit_event", ["record_type", "record_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(guard_function("audit_event_append_only"))
    make_append_only("audit_event", guard="audit_event_append_only")


def upgrade() -> None:
    _create_users()
    _create_sessions_and_tokens()
    _create_audit_log()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_event")
        op.execute("DROP FUNCTION audit_event_append_only()")
    else:
        op.drop_table("audit_event")
    for table in (
        "account_api_token",
        "account_sign_in_failure",
        "account_session",
        "account_user_role",
        "account_user",
    ):
        op.drop_table(table)
