"""One local SparkSession per test run, and the comparison the parity tests rely on.

Starting Spark costs 10-20 s, so the session is started once per process (``shared_spark``) and
every test backend is a child session of it (``engines.spark_backend`` gives each its own temp
views and database). A machine without Java fails these tests with a message saying so: the
Spark engine is part of the platform and is not skipped.
"""

from __future__ import annotations

import atexit
import datetime as dt
import decimal
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from integrated_care.settings import Settings
from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.warehouse.load import load
from integrated_care.warehouse.spark import SparkUnavailable, java_executable, start_session

TEST_CONF = {
    # Mostly tiny queries: one shuffle partition per core, and a JIT tuned for a short run.
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.driver.memory": "1g",
}


@cache
def shared_spark(workdir: str) -> SparkSession:
    """The process's SparkSession, started on first use and stopped at exit."""
    try:
        java_executable()
    except SparkUnavailable as error:
        pytest.fail(f"Spark tests need Java: {error}", pytrace=False)
    session = start_session(
        "local[2]",
        app_name="integrated-care-tests",
        warehouse_dir=Path(workdir) / "spark-warehouse",
        conf=TEST_CONF,
    )
    atexit.register(session.stop)
    return session


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> SparkSession:
    return shared_spark(str(tmp_path_factory.getbasetemp()))


def _normal(value: object) -> object:
    """One representation per value, whichever engine produced it."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, pd.Timestamp):
        stamp = value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
        return stamp.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray | list | tuple):
        return tuple(_normal(v) for v in value)
    return value


def normalise(frame: pd.DataFrame, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Columns in name order, values normalised (decimal -> float, date -> datetime, UTC, NaN ->
    None), rows sorted by ``keys`` (by every column when none are given)."""
    columns = sorted(frame.columns)
    # Built from lists with dtype=object: pandas would otherwise turn None back into NaN.
    rows = pd.DataFrame(
        {c: [_normal(v) for v in frame[c].astype(object).tolist()] for c in columns},
        dtype=object,
    )
    order = list(keys) if keys else list(rows.columns)
    records = rows[order].itertuples(index=False, name=None)
    keyed = [tuple((v is not None, v if v is not None else 0) for v in r) for r in records]
    index = sorted(range(len(keyed)), key=keyed.__getitem__)
    return rows.iloc[index].reset_index(drop=True)


def assert_same_frame(
    duck: pd.DataFrame,
    spark: pd.DataFrame,
    keys: Sequence[str] | None = None,
    *,
    rel: float = 1e-9,
    abs_tol: float = 1e-9,
    label: str = "",
) -> None:
    """The two results hold the same rows, numbers equal within tolerance; says where not."""
    where = f"{label}: " if label else ""
    assert sorted(duck.columns) == sorted(spark.columns), f"{where}columns differ"
    assert len(duck) == len(spark), f"{where}{len(duck)} rows on DuckDB, {len(spark)} on Spark"
    left, right = normalise(duck, keys), normalise(spark, keys)
    for column in left.columns:
        a, b = left[column].tolist(), right[column].tolist()
        for row, (x, y) in enumerate(zip(a, b, strict=True)):
            if isinstance(x, float) and isinstance(y, int | float):
                same = y is not None and bool(np.isclose(x, y, rtol=rel, atol=abs_tol))
            elif isinstance(y, float) and isinstance(x, int):
                same = bool(np.isclose(x, y, rtol=rel, atol=abs_tol))
            else:
                same = x == y
            if not same:
                context = {k: left.at[row, k] for k in (keys or [])}
                raise AssertionError(
                    f"{where}column {column!r} row {row} {context}: DuckDB {x!r}, Spark {y!r}"
                )


@cache
def _synthetic_ics(workdir: str) -> Settings:
    root = Path(workdir) / "parity-ics"
    generate(
        SynthConfig(icb="QK1", out=root / "extract", population=3000, years=2, seed=5),
        show_progress=False,
    )
    settings = Settings(data_dir=root / "ics-data")
    load(root / "extract", settings)
    return settings


@pytest.fixture(scope="session")
def synthetic_ics(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small synthetic ICS (3,000 people, 2 years) loaded into a DuckDB warehouse, once."""
    return _synthetic_ics(str(tmp_path_factory.getbasetemp()))
