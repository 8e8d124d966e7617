"""The operational store: SQLite in WAL mode by default, transactions all-or-nothing."""

from __future__ import annotations

from pathlib import Path

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


def _try_lock(path: str) -> bool:
    import fcntl

    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def test_writer_turn_excludes_other_processes_of_an_sqlite_file(tmp_path: Path) -> None:
    import multiprocessing

    engine = db.make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    lock_path = f"{tmp_path / 'store.sqlite'}.writer-lock"
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as other:
        with db.writer_turn(engine):
            assert not other.apply(_try_lock, (lock_path,))  # another process must wait
        assert other.apply(_try_lock, (lock_path,))  # and gets its turn once let go
    memory = db.make_engine("sqlite://")
    with db.writer_turn(memory):  # nothing to share: no lock file
        pass
    engine.dispose()
