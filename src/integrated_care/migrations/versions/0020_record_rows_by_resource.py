"""Record search tables: each one's (type, resource id) index led by the resource id.

Every look-up of a resource's index rows (replacing them on update, sorting, _include, the
access rules' joins) names the resource id, so the order of the two columns does not change what
the index serves; led by the nearly unique id, building it after a bulk load compares fewer
columns per pair of keys (whole-ICS record on SQLite: token 12.9 -> 10.3 s, date 5.8 -> 4.4 s,
reference 9.5 -> 7.7 s).

Revision ID: 0020_record_rows_by_resource
Revises: 0019_record_token_bytewise
"""

from __future__ import annotations

from alembic import op

revision = "0020_record_rows_by_resource"
down_revision = "0019_record_token_bytewise"
branch_labels = None
depends_on = None

_TABLES = (
    "record_search_token",
    "record_search_string",
    "record_search_date",
    "record_search_reference",
)


def _rebuild(columns: list[str]) -> None:
    for table in _TABLES:
        name = f"ix_{table}_resource"
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)


def upgrade() -> None:
    _rebuild(["resource_id", "resource_type"])


def downgrade() -> None:
    _rebuild(["resource_type", "resource_id"])
