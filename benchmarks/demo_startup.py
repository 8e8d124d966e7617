"""How long `ics demo` takes to be ready to browse: first build, then a rerun that reuses it.

    uv run python benchmarks/demo_startup.py [--icb QK1]

Prints wall-clock seconds for each run (without serving) and the rerun/first ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def _run(data_dir: str, icb: str) -> float:
    env = {**os.environ, "ICS_DATA_DIR": data_dir, "ICS_DATABASE_URL": ""}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "integrated_care", "demo", "--icb", icb, "--no-serve"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icb", default="QK1")
    icb = parser.parse_args().icb
    with tempfile.TemporaryDirectory() as data_dir:
        first = _run(data_dir, icb)
        second = _run(data_dir, icb)
    print(f"ics demo --icb {icb} (footprint + demo users, not serving)")
    print(f"  first run:  {first:6.2f} s")
    print(f"  rerun:      {second:6.2f} s   (rerun / first = {second / first:.2f})")


if __name__ == "__main__":
    main()
