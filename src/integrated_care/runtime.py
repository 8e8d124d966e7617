"""The running platform: settings plus the stores they point at, opened once per process."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from integrated_care import db
from integrated_care.settings import Settings


@dataclass
class Runtime:
    """What every command and the web app share: settings, the engine, a session factory."""

    settings: Settings = field(default_factory=Settings)

    @cached_property
    def engine(self) -> Engine:
        self.settings.ensure_data_dir()
        engine = db.make_engine(self.settings.database_url)
        # Migrating on open means a fresh data directory, or an older one, just works.
        db.upgrade(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return db.session_factory(self.engine)

    @cached_property
    def reading_engine(self) -> Engine:
        """The engine (same pool) for work that writes nothing. On PostgreSQL its statements
        run outside a transaction: under READ COMMITTED each sees what was committed when it
        began either way, and a read by id is spared the BEGIN and COMMIT (or ROLLBACK, after
        which psycopg drops the connection's prepared statements) round trips."""
        if self.engine.dialect.name == "postgresql":
            return self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return self.engine

    @cached_property
    def reading_sessions(self) -> sessionmaker[Session]:
        """Sessions over :attr:`reading_engine`."""
        return db.session_factory(self.reading_engine)

    def transaction(self):  # type: ignore[no-untyped-def]
        """``with runtime.transaction() as session:`` commits together or not at all."""
        return db.transaction(self.sessions)

    def reading(self):  # type: ignore[no-untyped-def]
        """``with runtime.reading() as session:`` for work that writes nothing at all."""
        return db.transaction(self.reading_sessions)
