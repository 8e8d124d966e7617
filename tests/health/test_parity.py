"""Parity: the same analytics on DuckDB and on Spark give the same answers.

One small synthetic ICS, one Spark session for the run. Results are compared row by row after
sorting on their keys, with decimals, dates, time zones and nulls normalised, and floats equal
within a relative 1e-9.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import ibis
import pytest
from ibis.backends import BaseBackend
from pyspark.sql import SparkSession

from integrated_care.health.engines import analytics_backend
from integrated_care.health.pipeline import default_as_of, run_pipeline
from integrated_care.health.population import build_profile, registered_population
from integrated_care.settings import Settings
from tests.spark_support import assert_same_frame, spark, synthetic_ics  # noqa: F401

# ibis 12 still calls DuckDB's deprecated fetch_arrow_table(); that is ibis's to fix.
pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")

# The natural key of each mart, for sorting before comparison.
MART_KEYS = {
    "registers": ["level", "area_code", "condition"],
    "patient_summary": ["patient_id"],
    "segments": ["segment"],
}


@pytest.fixture(scope="module")
def engines(
    spark: SparkSession,  # noqa: F811
    synthetic_ics: Settings,  # noqa: F811
) -> Iterator[tuple[BaseBackend, BaseBackend]]:
    duck = analytics_backend(synthetic_ics, "duckdb")
    on_spark = analytics_backend(synthetic_ics, "spark")
    yield duck, on_spark
    duck.disconnect()
    on_spark.disconnect()


@pytest.fixture(scope="module")
def as_of(engines: tuple[BaseBackend, BaseBackend]) -> dt.date:
    duck, on_spark = engines
    day = default_as_of(duck)
    assert default_as_of(on_spark) == day
    return day


def test_every_warehouse_table_reads_the_same(engines: tuple[BaseBackend, BaseBackend]) -> None:
    duck, on_spark = engines
    for name in sorted(duck.list_tables()):
        assert_same_frame(
            duck.table(name).to_pandas(), on_spark.table(name).to_pandas(), label=name
        )


def test_population_profile(engines: tuple[BaseBackend, BaseBackend]) -> None:
    duck, on_spark = engines
    ours = build_profile(duck)
    assert ours.registered > 2000
    assert build_profile(on_spark) == ours


def test_registered_population(engines: tuple[BaseBackend, BaseBackend], as_of: dt.date) -> None:
    duck, on_spark = engines
    assert_same_frame(
        registered_population(duck, as_of).to_pandas(),
        registered_population(on_spark, as_of).to_pandas(),
        ["patient_id"],
        label="registered_population",
    )


def test_pipeline_marts(
    engines: tuple[BaseBackend, BaseBackend], as_of: dt.date, tmp_path: Path
) -> None:
    duck, on_spark = engines
    ours = run_pipeline(duck, as_of, tmp_path / "duckdb", progress=False)
    theirs = run_pipeline(on_spark, as_of, tmp_path / "spark", progress=False)
    assert set(ours) == set(theirs)
    assert set(MART_KEYS) <= set(ours)
    for name, table in ours.items():
        assert table.num_rows > 0, name
        assert ibis.schema(table.schema) == ibis.schema(theirs[name].schema), name
        assert_same_frame(
            table.to_pandas(), theirs[name].to_pandas(), MART_KEYS.get(name), label=name
        )
