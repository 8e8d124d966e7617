"""From settings to an Ibis backend: where the warehouse lives and how to open it.

``settings.warehouse_url`` names the warehouse and ``settings.analytics_engine`` the engine that
runs queries over it. Today that is DuckDB (``duckdb:////abs/path/warehouse.duckdb``, or
``duckdb://`` for an in-memory warehouse); PySpark and PostgreSQL plug in here by adding a
``WarehouseLocation`` kind and a branch in :func:`connect_location`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ibis
from ibis.backends import BaseBackend

from integrated_care.settings import Settings, get_settings

Engine = Literal["duckdb"]


class WarehouseError(RuntimeError):
    """The warehouse is misconfigured or cannot do what was asked."""


@dataclass(frozen=True)
class WarehouseLocation:
    """A parsed warehouse URL."""

    engine: Engine
    url: str
    path: Path | None  # the database file, for file-based engines; None for in-memory

    @property
    def is_file(self) -> bool:
        return self.path is not None


def parse_warehouse_url(url: str, analytics_engine: str = "duckdb") -> WarehouseLocation:
    """Parse ``url``; raise :class:`WarehouseError` for engines this build does not run."""
    if analytics_engine != "duckdb":
        raise WarehouseError(
            f"analytics engine {analytics_engine!r} is not available in this build; "
            "set ICS_ANALYTICS_ENGINE=duckdb"
        )
    scheme, sep, rest = url.partition("://")
    if scheme != "duckdb" or not sep:
        raise WarehouseError(
            f"warehouse URL {url!r}: only duckdb:/// URLs are supported by this build"
        )
    # As in SQLAlchemy: duckdb:///relative/path, duckdb:////absolute/path; duckdb:// or
    # duckdb:///:memory: for a warehouse in memory.
    path = rest.removeprefix("/")
    if path in ("", ":memory:"):
        return WarehouseLocation("duckdb", url, None)
    return WarehouseLocation("duckdb", url, Path(path).expanduser())


def location(settings: Settings | None = None) -> WarehouseLocation:
    """Where the configured warehouse lives."""
    settings = settings or get_settings()
    return parse_warehouse_url(settings.warehouse_url, settings.analytics_engine)


def connect_location(where: WarehouseLocation, *, read_only: bool = False) -> BaseBackend:
    """Open an Ibis backend on ``where``."""
    if where.path is None:
        return ibis.duckdb.connect()
    if read_only and not where.path.exists():
        raise WarehouseError(f"no warehouse at {where.path}: run `ics load DIR` first")
    where.path.parent.mkdir(parents=True, exist_ok=True)
    return ibis.duckdb.connect(str(where.path), read_only=read_only)


def connect(settings: Settings | None = None, *, read_only: bool = False) -> BaseBackend:
    """Open the configured warehouse as an Ibis backend (analytics use ``read_only=True``)."""
    return connect_location(location(settings), read_only=read_only)
