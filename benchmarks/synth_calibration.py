"""The synthetic ICS beside the published figures it is calibrated to (issue 3, "Must show").

Generates an ICS (or reads an existing folder with --folder) and prints: age-band shares against
ONS mid-2022, crude prevalence of each QOF group overall and in IMD deciles 1 and 10 against QOF
2019/20, and activity per 1,000 against the national crude rates.

    uv run python benchmarks/synth_calibration.py --icb QK1 --population 200000 --years 5
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.synth.report import calibration_report, render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icb", default="QK1")
    parser.add_argument("--population", type=int, default=200_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--folder", type=Path, default=None, help="report on this folder instead")
    args = parser.parse_args()
    if args.folder:
        render(calibration_report(args.folder))
        return
    out = Path(tempfile.mkdtemp(prefix="synth-calibration-"))
    try:
        cfg = SynthConfig(icb=args.icb, out=out, population=args.population, years=args.years,
                          seed=args.seed)  # fmt: skip
        generate(cfg, show_progress=False)
        report = calibration_report(out, args.icb)
        render(report)
        worst = max(
            (abs(float(p["synthetic"]) / float(p["england"]) - 1), str(p["group"]))
            for p in report.prevalence if float(p["england"]) > 1
        )  # fmt: skip
        print(f"largest relative prevalence gap (groups over 1%): {worst[1]} {100 * worst[0]:.1f}%")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
