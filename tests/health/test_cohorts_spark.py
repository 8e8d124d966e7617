"""The cohorts mart is engine-neutral Ibis: on Spark it gives the same rows as on DuckDB, and
both match the hand calculation (tests/health/test_cohorts_population.py)."""

from __future__ import annotations

import ibis
import pytest
from pyspark.sql import SparkSession

from integrated_care.health.cohort_mart import cohorts_step
from integrated_care.health.engines import analytics_backend
from integrated_care.health.marts import open_marts
from tests.health.handmade import AS_OF
from tests.health.test_cohorts_population import EXPECTED, PRACTICE, shared_cohort_data
from tests.spark_support import spark  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")


def test_cohorts_mart_on_spark_matches_duckdb_and_the_hand_count(
    spark: SparkSession,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = shared_cohort_data(tmp_path_factory)
    with open_marts(settings) as marts:
        summary = marts.table("patient_summary").to_pyarrow()
    results = {}
    for engine in ("duckdb", "spark"):
        con = analytics_backend(settings, engine)
        try:
            # As in the pipeline: the summary materialised, the GP record on the engine.
            built = cohorts_step().build(con, AS_OF, {"patient_summary": ibis.memtable(summary)})
            rows = built.to_pyarrow().to_pylist()
        finally:
            con.disconnect()
        results[engine] = sorted(
            (r["cohort"], r["practice_code"], r["members"], r["list_size"]) for r in rows
        )
    assert results["spark"] == results["duckdb"]
    by_cohort: dict[str, set[tuple[str, int]]] = {}
    for cohort, practice, found, _ in results["spark"]:
        by_cohort.setdefault(cohort, set()).add((practice, found))
    for name, people in EXPECTED.items():
        hand = {p: sum(1 for pid in people if PRACTICE[pid] == p) for p in set(PRACTICE.values())}
        assert by_cohort[name] == set(hand.items())
