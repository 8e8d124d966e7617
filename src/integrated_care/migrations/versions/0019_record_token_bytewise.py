"""Record token index: codes compared byte by byte on PostgreSQL (collation "C").

The token table's type, parameter, code and system are only ever compared with values a search
or a rule gives, never with other tables' text, so their order only has to be consistent:
byte order, as SQLite's BINARY collation already has. Under the database's own collation
(C.UTF-8 here) PostgreSQL compares each pair through the C library's strcoll and cannot use
abbreviated keys; building the (type, parameter, code, system) index of a whole-ICS record
(6.5 million rows) took 30-36 s, 19.5 s byte by byte. Changing a column's collation rebuilds
the indexes on it. Nothing changes on SQLite.

Revision ID: 0019_record_token_bytewise
Revises: 0018_audit_chain_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_record_token_bytewise"
down_revision = "0018_audit_chain_keys"
branch_labels = None
depends_on = None

_TABLE = "record_search_token"
_COLUMNS = {"resource_type": 64, "param": 64, "system": 255, "code": 255}


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, length in _COLUMNS.items():
        op.alter_column(
            _TABLE,
            column,
            type_=sa.String(length, collation=collation),
            existing_type=sa.String(length),
            existing_nullable=column == "system",
        )


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
