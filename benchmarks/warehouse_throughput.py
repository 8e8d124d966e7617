"""Throughput of `ics check` and `ics load` on a synthetic ICS.

    uv run python benchmarks/warehouse_throughput.py [--people 200000] [--years 5] [--icb QK1]

Generates the extract once (not timed here; see benchmarks/synth_speed.py), then prints rows per
second for the check and for the all-or-nothing load into a fresh DuckDB warehouse.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from integrated_care.settings import Settings
from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.warehouse.check import check
from integrated_care.warehouse.load import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--icb", default="QK1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        extract = Path(tmp) / "extract"
        generate(
            SynthConfig(icb=args.icb, out=extract, population=args.people, years=args.years),
            show_progress=False,
        )
        started = time.perf_counter()
        report = check(extract)
        check_s = time.perf_counter() - started
        if not report.ok:
            raise SystemExit(f"the extract has {report.errors} problems; fix the generator first")
        started = time.perf_counter()
        result = load(extract, Settings(data_dir=Path(tmp) / "ics-data"), report=report)
        load_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.people:,} people x {args.years} years ({args.icb}): {report.total_rows:,} rows")
    print(f"  ics check: {check_s:6.1f} s  {report.total_rows / check_s:12,.0f} rows/s")
    print(
        f"  ics load:  {load_s:6.1f} s  {result.rows_loaded / load_s:12,.0f} rows/s "
        f"({result.rows_loaded:,} rows after opt-outs)"
    )
    print(f"  peak memory of this process: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
