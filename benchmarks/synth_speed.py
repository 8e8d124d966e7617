"""Benchmark: generate a 1.2-million-person synthetic ICS with five years of care.

Prints people per second, rows written per second, wall time, peak memory and the time of each
stage. Target (issue 3): under 90 s wall and under 8 GB on two cores.

    uv run python benchmarks/synth_speed.py [--icb QK1] [--population 1200000] [--years 5]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from integrated_care.synth.generator import SynthConfig, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icb", default="QK1")
    parser.add_argument("--population", type=int, default=1_200_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="keep the output here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="synth-bench-"))
    try:
        cfg = SynthConfig(icb=args.icb, out=out, population=args.population, years=args.years,
                          seed=args.seed)  # fmt: skip
        r = generate(cfg, show_progress=True)
        print(f"people            {r.people:,}")
        print(f"rows written      {r.total_rows:,}")
        print(f"wall time         {r.seconds:.1f} s")
        print(f"people per second {r.people / r.seconds:,.0f}")
        print(f"rows per second   {r.total_rows / r.seconds:,.0f}")
        print(f"peak memory       {r.peak_memory_mb / 1024:.2f} GB")
        for stage, seconds in r.timings.items():
            print(f"  {stage:<44} {seconds:6.1f} s")
        for table, rows in sorted(r.rows.items(), key=lambda kv: -kv[1]):
            print(f"  {table:<44} {rows:>12,}")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
