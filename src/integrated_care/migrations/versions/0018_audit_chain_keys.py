"""Audit log: no unique indexes on the chain's hashes.

`hash` and `prev_hash` each had a unique index. Neither guards anything the chain does not:
ids are consecutive positions assigned under the chain lock, so two writers that read the same
head collide on the primary key, and `verify_chain` walks the rows by id, recomputing every
hash. But each event inserted two random 64-character keys into ever larger B-trees: on a
busy store the pages most of each commit wrote (a transaction bundle of 100 new resources
appends 101 events).

SQLite cannot drop a table's UNIQUE constraint, so there the table is rebuilt (rows copied
as they are, then its indexes and append-only triggers made again).

Revision ID: 0018_audit_chain_keys
Revises: 0017_record_subject_rows
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integrated_care.migrations.append_only import make_append_only

revision = "0018_audit_chain_keys"
down_revision = "0017_record_subject_rows"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UNIQUE = ("uq_audit_event_hash", "uq_audit_event_prev_hash")
_INDEXES = {
    "ix_audit_event_action": ["action"],
    "ix_audit_event_actor": ["actor"],
    "ix_audit_event_occurred_at": ["occurred_at"],
    "ix_audit_event_record": ["record_type", "record_id"],
}


def _columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
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
    ]


def _rebuild_sqlite(*, unique: bool) -> None:
    columns = _columns()
    names = [c.name for c in columns]
    constraints = [
        sa.CheckConstraint(
            "outcome IN ('success', 'denied', 'failure')", name=op.f("ck_audit_event_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    ]
    if unique:
        constraints += [
            sa.UniqueConstraint(c.split("uq_audit_event_")[1], name=op.f(c)) for c in _UNIQUE
        ]
    op.create_table("audit_event_rebuilt", *columns, *constraints)
    old = sa.table("audit_event", *(sa.column(name) for name in names))
    rebuilt = sa.table("audit_event_rebuilt", *(sa.column(name) for name in names))
    op.execute(rebuilt.insert().from_select(names, sa.select(*old.c)))
    op.drop_table("audit_event")  # its indexes and triggers go with it
    op.rename_table("audit_event_rebuilt", "audit_event")
    for name, keys in _INDEXES.items():
        op.create_index(name, "audit_event", keys)
    make_append_only("audit_event", guard="audit_event_append_only")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(unique=False)
        return
    for name in _UNIQUE:
        op.drop_constraint(name, "audit_event", type_="unique")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(unique=True)
        return
    for name in _UNIQUE:
        op.create_unique_constraint(name, "audit_event", [name.split("uq_audit_event_")[1]])
