"""Migration 0002 builds exactly the accounts models, with the audit log's append-only triggers."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, text
from sqlalchemy.engine import Engine

from integrated_care.accounts import models
from integrated_care.models import Base

OURS = {t.name for t in Base.metadata.sorted_tables if t.name.startswith(("account_", "audit_"))}


def _tables_named(diff: object) -> set[str]:
    """Table names anywhere in one compare_metadata entry (tuples, lists, schema objects)."""
    if isinstance(diff, str):
        return {diff}
    if isinstance(diff, (tuple, list)):
        return set().union(*(_tables_named(part) for part in diff)) if diff else set()
    table = getattr(diff, "table", diff)
    name = getattr(table, "name", None)
    return {name} if isinstance(name, str) else set()


def test_accounts_tables_match_the_models(engine: Engine) -> None:
    assert {
        "account_user",
        "account_user_role",
        "account_session",
        "account_sign_in_failure",
        "account_api_token",
        "audit_event",
    } == OURS
    assert models.AuditEvent.__table__.name in OURS
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diff if _tables_named(d) & OURS]
    assert ours == [], ours


def test_the_comparison_would_notice_a_difference(engine: Engine) -> None:
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["audit_event"].append_column(Column("extra", String(5)))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), changed)
    assert [d for d in diff if _tables_named(d) & OURS]


def test_append_only_triggers_exist(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_event'"
    else:
        query = (
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_event'::regclass "
            "AND NOT tgisinternal"
        )
    with engine.connect() as conn:
        names = set(conn.scalars(text(query)))
    expected = (
        {"audit_event_no_update", "audit_event_no_delete"}
        if engine.dialect.name == "sqlite"
        else {"audit_event_no_change", "audit_event_no_truncate"}
    )
    assert names == expected
