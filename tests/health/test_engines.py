"""Choosing the analytics engine; the Spark session's settings; the Parquet export and its cache."""

from __future__ import annotations

import os
import re
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow.parquet as pq
import pytest
from ibis.backends import BaseBackend
from pyspark.sql import SparkSession

from integrated_care.health.engines import (
    SparkBackend,
    analytics_backend,
    engine_of,
    spark_backend,
    spark_master,
)
from integrated_care.settings import Settings
from integrated_care.warehouse.connection import WarehouseError
from integrated_care.warehouse.spark import (
    EXPORT_MANIFEST,
    SparkUnavailable,
    export_warehouse,
    java_executable,
    parse_conf,
    session_conf,
    start_session,
)
from tests.spark_support import assert_same_frame, spark, synthetic_ics  # noqa: F401

# ibis 12 still calls DuckDB's deprecated fetch_arrow_table(); that is ibis's to fix.
pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")


def _warehouse(settings: Settings) -> Path:
    return settings.data_dir / "warehouse.duckdb"


def _copy(settings: Settings, tmp_path: Path) -> Settings:
    """A private copy of the shared warehouse, for tests that change it."""
    copy = Settings(data_dir=tmp_path / "ics-data")
    copy.ensure_data_dir()
    shutil.copy2(_warehouse(settings), _warehouse(copy))
    return copy


def _plain(dtype: dt.DataType) -> dt.DataType:
    """Spark has one timestamp type without a declared precision or zone: compare without."""
    return dt.Timestamp(nullable=dtype.nullable) if dtype.is_timestamp() else dtype


def _row_counts(con: BaseBackend) -> dict[str, int]:
    """Rows in every table, in one query (a query costs Spark a few hundred milliseconds)."""
    counts = [
        con.table(n).count().name("n").as_table().mutate(t=ibis.literal(n))
        for n in sorted(con.list_tables())
    ]
    return {row["t"]: int(row["n"]) for row in ibis.union(*counts).to_pyarrow().to_pylist()}


def test_engine_is_chosen_by_argument_then_settings() -> None:
    settings = Settings(analytics_engine="spark")
    assert engine_of(settings) == "spark"
    assert engine_of(settings, "duckdb") == "duckdb"
    with pytest.raises(WarehouseError, match="unknown analytics engine 'polars'"):
        engine_of(settings, "polars")


def test_master_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ICS_SPARK_MASTER", raising=False)
    assert spark_master(Settings()) == "local[2]"
    monkeypatch.setenv("ICS_SPARK_MASTER", "spark://head.example:7077")
    assert spark_master(Settings()) == "spark://head.example:7077"


def test_local_sessions_stay_on_loopback_and_download_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "ICS_SPARK_CONF", "spark.executor.memory=8g; spark.sql.shuffle.partitions=64"
    )
    local = session_conf("local[2]", "/tmp/wh")
    assert local["spark.ui.enabled"] == "false"
    assert local["spark.driver.bindAddress"] == "127.0.0.1"
    assert local["spark.sql.session.timeZone"] == "UTC"
    assert local["spark.sql.warehouse.dir"] == "/tmp/wh"
    assert local["spark.executor.memory"] == "8g"
    assert local["spark.sql.shuffle.partitions"] == "64"  # the environment wins over defaults
    # The local driver holds the collected marts: more than Spark's 1 GB default.
    assert local["spark.driver.memory"] == "8g"
    cluster = session_conf("spark://head:7077", None)
    assert "spark.driver.bindAddress" not in cluster
    assert "spark.driver.memory" not in cluster
    with pytest.raises(WarehouseError, match="nothing may be downloaded"):
        session_conf("local[2]", None, {"spark.jars.packages": "io.delta:delta-spark_2.13:4.0.0"})
    with pytest.raises(WarehouseError, match="not key=value"):
        parse_conf("spark.executor.memory")


def test_missing_java_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SparkUnavailable, match="needs Java 17 or 21"):
        start_session()
    monkeypatch.setenv("JAVA_HOME", "/nonexistent/jdk")
    with pytest.raises(SparkUnavailable, match="has no bin/java"):
        java_executable()


def test_duckdb_engine_opens_the_warehouse_read_only(synthetic_ics: Settings) -> None:  # noqa: F811
    con = analytics_backend(synthetic_ics, "duckdb")
    try:
        assert con.name == "duckdb"
        assert con.table("patients").count().execute() > 0
        with pytest.raises(Exception, match="read-only"):
            con.create_table("scratch", schema={"a": "int64"})
    finally:
        con.disconnect()


def test_spark_needs_a_warehouse_file(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="file-based warehouse"):
        analytics_backend(Settings(data_dir=tmp_path, warehouse_url="duckdb://"), "spark")
    with pytest.raises(WarehouseError, match="run `ics load DIR` first"):
        analytics_backend(Settings(data_dir=tmp_path / "empty"), "spark")


def test_export_is_reused_until_the_warehouse_changes(
    synthetic_ics: Settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = _copy(synthetic_ics, tmp_path)
    dest = tmp_path / "spark-tables"
    first = export_warehouse(_warehouse(settings), dest)
    assert not first.reused
    again = export_warehouse(_warehouse(settings), dest)
    assert again.reused and again.folder == first.folder

    duck = analytics_backend(settings, "duckdb")
    try:
        assert sorted(first.files) == sorted(duck.list_tables())
        for name, path in first.files.items():
            rows = pq.ParquetFile(path).metadata.num_rows
            assert rows == duck.table(name).count().execute(), name
    finally:
        duck.disconnect()

    stat = _warehouse(settings).stat()
    os.utime(_warehouse(settings), ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    fresh = export_warehouse(_warehouse(settings), dest)
    assert not fresh.reused and fresh.folder != first.folder
    assert not first.folder.exists(), "the stale export is removed"
    assert sorted(p.name for p in dest.iterdir()) == [fresh.folder.name]
    assert (fresh.folder / EXPORT_MANIFEST).exists()


def test_spark_backend_has_the_warehouse_tables(
    spark: SparkSession,  # noqa: F811
    synthetic_ics: Settings,  # noqa: F811
) -> None:
    duck = analytics_backend(synthetic_ics, "duckdb")
    con = analytics_backend(synthetic_ics, "spark")
    try:
        assert isinstance(con, SparkBackend)
        assert con.name == "pyspark"
        assert sorted(con.list_tables()) == sorted(duck.list_tables())
        for name in duck.list_tables():
            ours, theirs = duck.table(name).schema(), con.table(name).schema()
            assert list(ours.names) == list(theirs.names), name
            for column in ours.names:
                assert _plain(ours[column]) == _plain(theirs[column]), (name, column)
        assert _row_counts(con) == _row_counts(duck)
        conf = con._session.conf
        assert conf.get("spark.ui.enabled") == "false"
        assert conf.get("spark.driver.host") == "127.0.0.1"
        assert conf.get("spark.sql.session.timeZone") == "UTC"
        assert con._session.sparkContext.master == "local[2]"
        assert not con.owns_context, "the test run's shared session is not this backend's"
        assert con.tables_from.startswith(str(synthetic_ics.data_dir / "spark-tables"))
    finally:
        duck.disconnect()
        con.disconnect()


def test_backends_are_isolated_and_disconnect_leaves_spark_running(
    spark: SparkSession,  # noqa: F811
    synthetic_ics: Settings,  # noqa: F811
) -> None:
    first = spark_backend(synthetic_ics)
    second = spark_backend(synthetic_ics)
    first.create_table("scratch", first.table("places").select("place_code"))
    assert "scratch" in first.list_tables()
    assert "scratch" not in second.list_tables()
    first.disconnect()
    assert spark.range(3).count() == 3, "the shared session survives"
    assert "places" not in [t.name for t in first._session.catalog.listTables()]
    assert second.table("places").count().execute() == 3
    second.disconnect()


def test_tables_on_shared_storage(
    spark: SparkSession,  # noqa: F811
    synthetic_ics: Settings,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = tmp_path / "object-store" / "ics"
    export = export_warehouse(_warehouse(synthetic_ics), tmp_path / "export")
    shutil.copytree(export.folder, shared)
    (shared / EXPORT_MANIFEST).unlink()
    monkeypatch.setenv("ICS_SPARK_TABLES", shared.as_uri())
    # No warehouse file is needed: the tables come from the shared location alone.
    con = analytics_backend(Settings(data_dir=tmp_path / "elsewhere"), "spark")
    try:
        assert sorted(con.list_tables()) == sorted(export.files)
        assert con.tables_from == shared.as_uri()
        patients = pq.ParquetFile(export.files["patients"]).metadata.num_rows
        assert con.table("patients").count().execute() == patients
    finally:
        con.disconnect()
    monkeypatch.setenv("ICS_SPARK_TABLES", (tmp_path / "nothing").as_uri())
    with pytest.raises(WarehouseError, match=r"no <table>\.parquet files"):
        analytics_backend(Settings(data_dir=tmp_path / "elsewhere"), "spark")


def test_the_parity_comparison_catches_differences() -> None:
    duck = pd.DataFrame({"k": [2, 1], "x": [Decimal("1.50"), None], "d": [date(2024, 1, 2)] * 2})
    same = pd.DataFrame(
        {"k": [1, 2], "x": [float("nan"), 1.5], "d": pd.to_datetime(["2024-01-02"] * 2)}
    )
    assert_same_frame(duck, same, ["k"])
    off = same.assign(x=[float("nan"), 1.5000001])
    with pytest.raises(
        AssertionError, match=re.escape("column 'x' row 1 {'k': 2}: DuckDB 1.5, Spark 1.5000001")
    ):
        assert_same_frame(duck, off, ["k"])
    with pytest.raises(AssertionError, match="2 rows on DuckDB, 1 on Spark"):
        assert_same_frame(duck, same.head(1), ["k"])


def test_cached_expressions_with_in_memory_tables(
    spark: SparkSession,  # noqa: F811
    synthetic_ics: Settings,  # noqa: F811
) -> None:
    con = spark_backend(synthetic_ics)
    try:
        names = ibis.memtable({"place_code": ["03W", "04C"], "label": ["east", "city"]})
        cached = con.table("places").join(names, "place_code").cache()
        assert sorted(cached.label.to_pyarrow().to_pylist()) == ["city", "east"]
    finally:
        con.disconnect()
