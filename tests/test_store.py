"""The operational store: SQLite in WAL mode by default, transactions all-or-nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from integrated_care import db


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_transaction_rolls_back_everything_on_error(engine) -> None:
    factory = db.session_factory(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (n INTEGER)"))
    with pytest.raises(RuntimeError), db.transaction(factory) as session:
        session.execute(text("INSERT INTO scratch VALUES (1)"))
        raise RuntimeError("part-way failure")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scratch")).scalar() == 0
