"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from integrated_care import db
from integrated_care.models import Base


def test_migrations_match_models(engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_every_model_table_is_created(engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_single_migration_head() -> None:
    script = ScriptDirectory.from_config(db.alembic_config())
    assert len(script.get_heads()) == 1, script.get_heads()


def test_upgrade_is_idempotent(engine) -> None:
    before = sorted(inspect(engine).get_table_names())
    db.upgrade(engine)
    assert sorted(inspect(engine).get_table_names()) == before
