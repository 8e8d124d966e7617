"""Which engine runs the analytics: the same Ibis expressions on DuckDB or on PySpark.

:func:`analytics_backend` gives an Ibis backend on which ``con.table("patients")`` (and every
other warehouse table) means the same thing whichever engine is chosen:

- ``duckdb`` (the default): the warehouse file itself, opened read-only;
- ``spark``: a SparkSession (``local[2]`` unless ``ICS_SPARK_MASTER`` names another master)
  on which every warehouse table is a temporary view over Parquet, exported from the DuckDB
  warehouse to ``<data-dir>/spark-tables/`` and reused while the warehouse is unchanged, or
  read from shared storage named by ``ICS_SPARK_TABLES`` (a national run; docs/engines.md).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Literal, cast, get_args

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend
from ibis.backends.pyspark import Backend as PySparkBackend

from integrated_care.settings import Settings, get_settings
from integrated_care.warehouse.connection import (
    WarehouseError,
    connect_location,
    parse_warehouse_url,
)
from integrated_care.warehouse.spark import (
    DEFAULT_MASTER,
    export_warehouse,
    register_tables,
    shared_tables,
    start_session,
)

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)


class SparkBackend(PySparkBackend):
    """The Ibis PySpark backend on a Spark session of its own.

    Each backend gets a child session (``SparkSession.newSession``): its own temporary views,
    SQL settings and current database, sharing the process's one SparkContext. Tables it creates
    go in a database of its own, dropped on disconnect. Disconnecting stops Spark only if this
    backend started it, so one session can serve many backends (tests, a long-lived server).
    """

    owns_context: bool = False
    database_name: str = ""
    export_seconds: float = 0.0
    tables_from: str = ""

    def _create_cached_table(self, name: str, expr: ir.Table) -> ir.Table:
        # Ibis 12 compiles `.cache()` without registering the in-memory tables it reads
        # (code lists, earlier marts), which Spark then cannot find.
        self._run_pre_execute_hooks(expr)
        return super()._create_cached_table(name, expr)

    def disconnect(self) -> None:
        session = self._session
        for view in session.catalog.listTables():
            if view.isTemporary:
                session.catalog.dropTempView(view.name)
        if self.database_name:
            session.catalog.setCurrentDatabase("default")
            session.sql(f"DROP DATABASE IF EXISTS `{self.database_name}` CASCADE")
            self.database_name = ""
        if self.owns_context:
            session.stop()


def engine_of(settings: Settings, engine: str | None = None) -> Engine:
    """The engine asked for, else the configured one; :class:`WarehouseError` if unknown."""
    name = engine or settings.analytics_engine
    if name not in ENGINES:
        raise WarehouseError(f"unknown analytics engine {name!r}; choose one of {ENGINES}")
    return name  # type: ignore[return-value]


def spark_master(settings: Settings) -> str:
    """``ICS_SPARK_MASTER``, else ``local[2]``: Spark in this process, on two cores."""
    configured = settings.spark_master
    return configured.strip() or DEFAULT_MASTER


def spark_tables_dir(settings: Settings) -> Path:
    return settings.data_dir / "spark-tables"


def analytics_backend(settings: Settings | None = None, engine: str | None = None) -> BaseBackend:
    """An Ibis backend over the warehouse on ``engine`` (default ``settings.analytics_engine``)."""
    settings = settings or get_settings()
    if engine_of(settings, engine) == "duckdb":
        where = parse_warehouse_url(settings.warehouse_url, "duckdb")
        return connect_location(where, read_only=True)
    return spark_backend(settings)


def spark_backend(
    settings: Settings, *, master: str | None = None, conf: dict[str, str] | None = None
) -> SparkBackend:
    """A :class:`SparkBackend` with every warehouse table registered.

    ``master`` and ``conf`` apply only if Spark is not yet running in this process.
    """
    from pyspark import SparkContext

    tables_uri = os.environ.get("ICS_SPARK_TABLES", "").strip()
    export_seconds = 0.0
    local_files: dict[str, str] | None = None
    if not tables_uri:
        # Exported before Spark starts: a missing warehouse should fail fast, not after ~15 s.
        started = time.perf_counter()
        local_files = _export(settings)
        export_seconds = time.perf_counter() - started

    starting = SparkContext._active_spark_context is None
    root = start_session(
        master or spark_master(settings),
        warehouse_dir=(settings.data_dir / "spark-warehouse").resolve(),
        conf=conf,
    )
    session = root.newSession()
    database = f"ics_{uuid.uuid4().hex[:12]}"
    session.sql(f"CREATE DATABASE `{database}`")
    try:
        session.catalog.setCurrentDatabase(database)
        files = local_files if local_files is not None else shared_tables(session, tables_uri)
        register_tables(session, files)
    except BaseException:
        session.catalog.setCurrentDatabase("default")
        session.sql(f"DROP DATABASE IF EXISTS `{database}` CASCADE")
        raise

    if getattr(ibis.options, "pyspark", None) is None:
        # ibis registers a backend's options when loaded as `ibis.pyspark`; its compiler
        # reads them, and this subclass is not loaded that way.
        SparkBackend.register_options()
    backend = cast(SparkBackend, SparkBackend().connect(session))
    backend.owns_context = starting
    backend.database_name = database
    backend.export_seconds = export_seconds
    backend.tables_from = tables_uri or str(Path(next(iter(files.values()), "")).parent)
    return backend


def _export(settings: Settings) -> dict[str, str]:
    where = parse_warehouse_url(settings.warehouse_url, "duckdb")
    if where.path is None:
        raise WarehouseError(
            "the spark engine reads the warehouse as Parquet: it needs a file-based warehouse "
            "(duckdb:///path) or ICS_SPARK_TABLES naming the tables on shared storage"
        )
    return export_warehouse(where.path, spark_tables_dir(settings)).files
