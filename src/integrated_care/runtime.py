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

    def transaction(self):  # type: ignore[no-untyped-def]
        """``with runtime.transaction() as session:`` commits together or not at all."""
        return db.transaction(self.sessions)
