"""The warehouse on Spark: a local or cluster SparkSession, and the warehouse tables as Parquet.

Spark cannot read a DuckDB file, so :func:`export_warehouse` writes each warehouse table to one
Parquet file (``<table>.parquet``) and :func:`register_tables` exposes every file as a temporary
view, so that ``con.table("patients")`` means the same on Spark as on DuckDB. The export is
cached by the warehouse file's modification time and size: ``ics load`` replaces the file, which
changes both. For a national run the Parquet files live on shared storage instead (see
docs/engines.md and ``ICS_SPARK_TABLES``).

Nothing is downloaded at run time: no ``spark.jars.packages``, so no Ivy/Maven resolution.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from integrated_care.warehouse.connection import WarehouseError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
EXPORT_MANIFEST = "_export.json"
EXPORT_FORMAT = 1  # bump when the export layout changes, to invalidate old caches

# Always set: a quiet, self-contained session whose timestamps mean what DuckDB's mean.
BASE_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    # DuckDB TIMESTAMP (no zone) is written as a Parquet local timestamp; read it as one.
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}

# Only for local masters: bind to loopback, and keep shuffles small (2 cores, small data).
LOCAL_CONF: dict[str, str] = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    # In local mode the driver is the whole cluster, and collected marts come back through it:
    # Spark's 1 GB default lost the task results of a 600,000-person ICS. A ceiling, not a
    # reservation; ICS_SPARK_CONF overrides it.
    "spark.driver.memory": "8g",
    "spark.driver.maxResultSize": "4g",
}


class SparkUnavailable(WarehouseError):
    """Spark cannot start here (no Java, or no pyspark)."""


def java_executable() -> str:
    """The java that PySpark will launch, or :class:`SparkUnavailable` saying how to get one."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.exists():
            return str(candidate)
        raise SparkUnavailable(f"JAVA_HOME={home} has no bin/java; Spark needs Java 17 or 21")
    found = shutil.which("java")
    if not found:
        raise SparkUnavailable(
            "the spark engine needs Java 17 or 21 and none was found on PATH or in JAVA_HOME; "
            "install it (Debian: apt-get install openjdk-17-jre-headless) or use "
            "ICS_ANALYTICS_ENGINE=duckdb"
        )
    return found


def parse_conf(text: str) -> dict[str, str]:
    """``ICS_SPARK_CONF``: ``key=value`` pairs separated by ``;`` or new lines."""
    pairs: dict[str, str] = {}
    for raw in text.replace("\n", ";").split(";"):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WarehouseError(f"ICS_SPARK_CONF: {item!r} is not key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def session_conf(
    master: str, warehouse_dir: Path | str | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every setting the session is built with; later entries win."""
    conf = dict(BASE_CONF)
    if is_local(master):
        conf.update(LOCAL_CONF)
    if warehouse_dir is not None:
        conf["spark.sql.warehouse.dir"] = str(warehouse_dir)
    conf.update(parse_conf(os.environ.get("ICS_SPARK_CONF", "")))
    conf.update(extra or {})
    forbidden = [k for k in ("spark.jars.packages", "spark.jars.repositories") if k in conf]
    if forbidden:
        raise WarehouseError(f"{', '.join(forbidden)}: nothing may be downloaded at run time")
    return conf


def active_session() -> SparkSession | None:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def start_session(
    master: str = DEFAULT_MASTER,
    *,
    app_name: str = "integrated-care",
    warehouse_dir: Path | str | None = None,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """A SparkSession on ``master`` (the process's existing one, if Spark is already running).

    Spark allows one SparkContext per process, so a second call returns the running session and
    its static settings (master, memory, warehouse dir) stay as first set.
    """
    java_executable()
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:
        return SparkSession.builder.getOrCreate()
    if is_local(master):
        # Spark otherwise looks up the host's address and may bind to a public interface.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in session_conf(master, warehouse_dir, conf).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("ICS_SPARK_LOG_LEVEL", "ERROR"))
    return session


@dataclass(frozen=True)
class Export:
    """Warehouse tables as Parquet: ``files[name]`` is the file (or folder) of table ``name``."""

    folder: Path
    files: dict[str, str]
    reused: bool


def _stamp(warehouse: Path) -> dict[str, object]:
    stat = warehouse.stat()
    return {
        "format": EXPORT_FORMAT,
        "warehouse": str(warehouse.resolve()),
        "mtime_ns": stat.st_mtime_ns,
        "size": stat.st_size,
    }


def _cached(folder: Path, stamp: dict[str, object]) -> dict[str, str] | None:
    manifest = folder / EXPORT_MANIFEST
    if not manifest.exists():
        return None
    try:
        recorded = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if recorded.get("stamp") != stamp:
        return None
    tables: list[str] = recorded.get("tables", [])
    files = {name: str(folder / f"{name}.parquet") for name in tables}
    return files if all(Path(f).exists() for f in files.values()) else None


def export_warehouse(warehouse: Path, dest: Path) -> Export:
    """Every table of the DuckDB ``warehouse`` as ``dest/<stamp>/<table>.parquet``, reused while
    the warehouse file is unchanged.

    Each version goes in its own folder, built beside the others and renamed into place when
    complete, so a reader never sees half an export; older versions are then removed.
    """
    if not warehouse.exists():
        raise WarehouseError(f"no warehouse at {warehouse}: run `ics load DIR` first")
    stamp = _stamp(warehouse)
    folder = dest / f"v{stamp['mtime_ns']}-{stamp['size']}"
    files = _cached(folder, stamp)
    if files is not None:
        return Export(folder, files, reused=True)
    dest.mkdir(parents=True, exist_ok=True)
    staging = dest / f".staging-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            tables = [
                row[0]
                for row in con.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1"
                ).fetchall()
            ]
            for name in tables:
                target = staging / f"{name}.parquet"
                con.execute(
                    f"COPY (SELECT * FROM \"{name}\") TO '{target}' "  # noqa: S608 - table names from the catalog
                    "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)"
                )
        (staging / EXPORT_MANIFEST).write_text(json.dumps({"stamp": stamp, "tables": tables}))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in dest.iterdir():
        if old != folder and old.is_dir() and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return Export(folder, {n: str(folder / f"{n}.parquet") for n in tables}, reused=False)


def shared_tables(session: SparkSession, uri: str) -> dict[str, str]:
    """Table files on shared storage (``ICS_SPARK_TABLES``): every ``<uri>/<table>.parquet``.

    Listed through Spark's own Hadoop file system, so the same code reads a local folder,
    HDFS, ``s3a://`` or ``abfss://`` (given the connector jars on the cluster's classpath).
    """
    jvm = session.sparkContext._jvm
    assert jvm is not None
    base = jvm.org.apache.hadoop.fs.Path(uri.rstrip("/"))
    fs = base.getFileSystem(session.sparkContext._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    matches = fs.globStatus(jvm.org.apache.hadoop.fs.Path(base, "*.parquet")) or []
    files = {
        status.getPath().getName().removesuffix(".parquet"): status.getPath().toString()
        for status in matches
    }
    if not files:
        raise WarehouseError(f"ICS_SPARK_TABLES={uri}: no <table>.parquet files there")
    return files


def register_tables(session: SparkSession, files: Mapping[str, str]) -> None:
    """Expose each Parquet file (or folder) as a temporary view named after its table."""
    for name, path in files.items():
        session.read.parquet(path).createOrReplaceTempView(name)
