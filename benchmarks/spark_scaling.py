"""How the cost of the analytics pipeline grows with the population, on Spark local mode.

    uv run python benchmarks/spark_scaling.py [--people 50000] [--years 2] [--icb QK1]
        [--master local[2]] [--scales 1,2,4] [--no-duckdb]

Generates synthetic ICSs of 1x / 2x / 4x ``--people``, loads each into its own warehouse (not
timed), then times ``run_pipeline`` on Spark (the Parquet export and the session start are
reported separately; the session is started once and warmed up by one untimed run) and on DuckDB
for reference. Prints the wall time per size and its growth ratio over the base size: near 1
means fixed overheads dominate (Spark's per-query planning and scheduling), near the scale
factor means cost linear in the population.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from integrated_care.health.engines import analytics_backend, spark_backend
from integrated_care.health.pipeline import default_as_of, run_pipeline
from integrated_care.settings import Settings
from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.warehouse.load import load
from integrated_care.warehouse.spark import start_session


def _warehouse(root: Path, people: int, years: int, icb: str) -> Settings:
    extract = root / f"extract-{people}"
    generate(SynthConfig(icb=icb, out=extract, population=people, years=years), show_progress=False)
    settings = Settings(data_dir=root / f"data-{people}")
    load(extract, settings)
    return settings


def _timed_pipeline(settings: Settings, engine: str, out: Path) -> tuple[float, float, int]:
    """(seconds to open the backend, seconds for the pipeline, rows in the marts)."""
    started = time.perf_counter()
    con = spark_backend(settings) if engine == "spark" else analytics_backend(settings, engine)
    opened = time.perf_counter() - started
    try:
        as_of = default_as_of(con)
        started = time.perf_counter()
        marts = run_pipeline(con, as_of, out, progress=False)
        seconds = time.perf_counter() - started
    finally:
        con.disconnect()
    return opened, seconds, sum(t.num_rows for t in marts.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000, help="base population")
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--icb", default="QK1")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--scales", default="1,2,4")
    parser.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB reference")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        start_session(args.master, warehouse_dir=root / "spark-warehouse")
        print(
            f"Spark session ({args.master}) started in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        rows: list[tuple[int, int, float, float, float | None, int]] = []
        for scale in scales:
            people = args.people * scale
            started = time.perf_counter()
            settings = _warehouse(root, people, args.years, args.icb)
            took = time.perf_counter() - started
            print(f"{people:>9,} people: generated and loaded in {took:.1f}s", flush=True)
            if scale == scales[0]:
                # Untimed: the first run pays the JVM's JIT warm-up, which is not growth.
                _timed_pipeline(settings, "spark", root / "warm-up")
            export_s, spark_s, mart_rows = _timed_pipeline(settings, "spark", root / f"s{scale}")
            print(f"{people:>9,} people: Spark pipeline {spark_s:.1f}s", flush=True)
            duck_s = None
            if not args.no_duckdb:
                _, duck_s, _ = _timed_pipeline(settings, "duckdb", root / f"d{scale}")
            rows.append((scale, people, export_s, spark_s, duck_s, mart_rows))

    base_spark = rows[0][3]
    base_duck = rows[0][4]
    print()
    print(
        f"{'scale':>5} {'people':>10} {'export+reg s':>12} {'spark s':>9} {'growth':>7}"
        f" {'duckdb s':>9} {'growth':>7} {'spark/duck':>10} {'mart rows':>10}"
    )
    for scale, people, export_s, spark_s, duck_s, mart_rows in rows:
        duck = f"{duck_s:>9.2f} {duck_s / base_duck:>7.2f}" if duck_s and base_duck else " " * 17
        ratio = f"{spark_s / duck_s:>10.1f}" if duck_s else " " * 10
        print(
            f"{scale:>5} {people:>10,} {export_s:>12.2f} {spark_s:>9.2f}"
            f" {spark_s / base_spark:>7.2f} {duck} {ratio} {mart_rows:>10,}"
        )


if __name__ == "__main__":
    main()
