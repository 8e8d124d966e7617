"""Append-only tables, for migrations: the database itself refuses to change or delete a row.

Audit logs, ledgers, histories and decision records keep their meaning only if nothing is
overwritten; enforcing that in the database means no code path (or person with a SQL prompt
using the application's role) can rewrite history. Used by every migration that creates such
a table, so each table's triggers follow one pattern:

- SQLite: ``<prefix>_no_update`` and ``<prefix>_no_delete`` raise ABORT;
- PostgreSQL: ``<prefix>_no_change`` (UPDATE or DELETE, per row) and ``<prefix>_no_truncate``
  call a guard function that raises '<table> is append-only'.
"""

from __future__ import annotations

from alembic import op


def guard_function(name: str) -> str:
    """PostgreSQL: the trigger function that refuses the change, naming the table."""
    return f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"""


def append_only_statements(
    dialect: str, table: str, *, guard: str, prefix: str | None = None
) -> list[str]:
    """The statements making ``table`` append-only on this dialect (none on others).
    ``guard`` names a PostgreSQL function made by :func:`guard_function`."""
    prefix = prefix or table
    if dialect == "sqlite":
        return [
            f"""CREATE TRIGGER {prefix}_no_{event.lower()} BEFORE {event} ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
            for event in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            f"""CREATE TRIGGER {prefix}_no_change BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {guard}()""",
            f"""CREATE TRIGGER {prefix}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {guard}()""",
        ]
    return []


def make_append_only(table: str, *, guard: str, prefix: str | None = None) -> None:
    """Run :func:`append_only_statements` in the current migration."""
    for statement in append_only_statements(
        op.get_bind().dialect.name, table, guard=guard, prefix=prefix
    ):
        op.execute(statement)
