"""The operational store: engine, sessions, the declarative base and migrations.

SQLite (WAL mode) is the embedded default; PostgreSQL is the production store. Every table is
created by Alembic migrations (``integrated_care/migrations``), never by ``create_all``, so the
schema a test sees is the schema production gets.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

try:  # POSIX only: elsewhere writers simply wait on SQLite's own lock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

# SQLite itself comes from sqlean.py where it has a wheel (Linux x86-64): a current SQLite (3.50)
# built with lookaside memory, without SECURE_DELETE, with memory maps up to 1 TB and with the
# sorter's worker threads, which build a whole-ICS record's indexes in half the time
# (`record.bulk`). Python's own module links the system library (Debian 12: 3.40, no lookaside,
# SECURE_DELETE, maps capped at 2 GB); pysqlite3-binary, used before, is built without worker
# threads. Same file format; elsewhere Python's own module serves.
try:
    import sqlean as sqlite_driver
except ImportError:  # pragma: no cover
    import sqlite3 as sqlite_driver

from alembic import command
from alembic.config import Config
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Deterministic constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Column types every domain's tables share. SQLite only auto-increments an INTEGER PRIMARY KEY,
# so a 64-bit id is INTEGER there and BIGINT on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)


def utcnow() -> datetime:
    """Timezone-aware now, the one clock every module stamps records with."""
    return datetime.now(UTC)


# Connections kept open per process. A web worker runs store work on the FHIR API's
# `WORKER_THREADS` threads (integrated_care.threads) and on as many of anyio's (other routes);
# with fewer pooled connections than threads, every busy moment opened and closed "overflow"
# connections (on SQLite each one re-running its PRAGMAs), which cost more than the reads.
WORKER_THREADS = 12
POOL_SIZE = 2 * WORKER_THREADS + 2


def make_engine(url: str, **kwargs: object) -> Engine:
    """An engine for the operational store, with SQLite tuned for concurrent readers."""
    parsed = make_url(url)
    kwargs = {"pool_size": POOL_SIZE, "max_overflow": POOL_SIZE, **kwargs}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs = {k: v for k, v in kwargs.items() if k not in ("pool_size", "max_overflow")}
        engine = create_engine(
            url,
            module=sqlite_driver,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it cost a round trip on every checkout, and a request takes two or three.
    # After a server restart the first query on a stale connection fails; SQLAlchemy then
    # drops every connection in the pool made before it, so one request, not many, fails.
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Pages are read through a memory map of the file instead of copied into each
    # connection's small page cache by a system call: a transaction bundle's B-tree descents
    # re-read the same interior pages over and over (bundles of 100 new resources on a
    # whole-ICS record: 2,624-2,685 -> 3,163-3,211 resources/s; reads and searches unchanged).
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    # A committing writer that finds the WAL past this many pages copies it into the database
    # and syncs the file, while it still holds the write lock (and the writers' turn): on a
    # busy web server that stalled every writer for up to a quarter of a second. The audit
    # writers checkpoint in the background instead (`checkpoint`); this is the backstop.
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    cursor.close()


# A whole-ICS record is ~6 GB: the map covers it (the address space costs nothing until
# pages are touched). A build with a lower SQLITE_MAX_MMAP_SIZE maps what it allows.
SQLITE_MMAP_BYTES = 64 << 30
AUTOCHECKPOINT_PAGES = 20_000  # 80 MB of 4 KB pages; SQLite's default is 1,000


def checkpoint(engine: Engine) -> None:
    """Copy what the SQLite WAL holds into the database without waiting on anyone (PASSIVE);
    nothing for other stores. Writers carry on meanwhile."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


CHECKPOINT_SECONDS = 1.0  # at most one background checkpoint a second per store and process


class _Checkpoints:
    """The background checkpoints of one store in this process."""

    def __init__(self) -> None:
        self.started = float("-inf")
        self.thread: threading.Thread | None = None


_checkpoints: weakref.WeakKeyDictionary[Engine, _Checkpoints] = weakref.WeakKeyDictionary()
_checkpoints_lock = threading.Lock()


def checkpoint_soon(engine: Engine | None) -> threading.Thread | None:
    """Called after a commit: on SQLite, start a :func:`checkpoint` on a thread of its own
    unless one is running or began less than CHECKPOINT_SECONDS ago; returns the thread it
    started. Otherwise the commit that takes the WAL past AUTOCHECKPOINT_PAGES copies 80 MB
    into the database itself while holding the write lock and the writers' turn, and every
    writer waits: a transaction bundle of 100 new resources writes hundreds of pages to the
    WAL, so on a busy record that was one bundle in every few dozen."""
    if engine is None or engine.dialect.name != "sqlite":
        return None
    with _checkpoints_lock:
        state = _checkpoints.setdefault(engine, _Checkpoints())
        now = time.monotonic()
        running = state.thread is not None and state.thread.is_alive()
        if running or now - state.started < CHECKPOINT_SECONDS:
            return None
        state.started = now
        state.thread = threading.Thread(
            target=checkpoint, args=(engine,), name="ics-checkpoint", daemon=True
        )
        state.thread.start()
        return state.thread


def last_checkpoint(engine: Engine) -> threading.Thread | None:
    """The background checkpoint :func:`checkpoint_soon` started last for `engine`, if any."""
    with _checkpoints_lock:
        state = _checkpoints.get(engine)
        return state.thread if state is not None else None


@contextmanager
def writer_turn(engine: Engine | None) -> Iterator[None]:
    """Wait, asleep in the kernel, for this thread's turn to write an SQLite file that other
    threads and processes also write (record writes, the web workers' audit group commits);
    nothing for other stores.

    SQLite makes a writer that finds the file locked sleep 1, 2, 5, 10... ms between tries,
    so with two workers appending audit batches each often slept long after the other had
    committed: reads by id ran at 375/s with 40% of two cores idle. An exclusive flock on a
    file beside the database wakes the next writer the moment the lock is let go."""
    lock_path = _writer_lock_path(engine)
    held = getattr(_turns, "held", set())
    if lock_path is None or lock_path in held:  # re-entered by the thread that holds it
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _turns.held = held | {lock_path}
        try:
            yield
        finally:
            _turns.held = held
            fcntl.flock(handle, fcntl.LOCK_UN)


_turns = threading.local()  # the lock files this thread holds (flock is per open file)


def _writer_lock_path(engine: Engine | None) -> str | None:
    if engine is None or fcntl is None:
        return None
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        return None
    return f"{url.database}.writer-lock"


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the operational store's schema up to `revision` (default: the newest)."""
    command.upgrade(alembic_config(engine), revision)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed together, or rolled back together on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
