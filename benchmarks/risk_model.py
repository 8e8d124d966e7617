"""Benchmark: the risk-of-emergency-admission model on a synthetic ICS, against the truth.

Generates a synthetic ICS (by default the demo's: QK1 at its ONS population, about 1.2 million
people, five years, seed 42), loads it, trains the model at the cut-off one year before the end,
evaluates it on the held-out people against the generator's true probabilities, and scores
everyone now. Prints timings and AUROC, truth AUROC, gap, calibration slope and intercept,
Brier score and AUPRC. Must show (issue 4): gap within 0.05 and slope between 0.9 and 1.1.

    uv run python benchmarks/risk_model.py [--population N] [--years 5] [--seed 42]
        [--work DIR]     keep (and reuse) the extract and warehouse here
        [--data-dir DIR] use an existing warehouse instead (truth found from its load manifest)
        [--json FILE]    also write the model_evaluation mart as JSON
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from integrated_care.health.features import extract_end
from integrated_care.health.model_evaluation import evaluate_run, find_truth
from integrated_care.health.risk import RiskParameters, score_population, train_risk_model
from integrated_care.settings import Settings
from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.warehouse.connection import connect
from integrated_care.warehouse.load import load


def _prepare(args: argparse.Namespace, work: Path) -> Settings:
    extract, data_dir = work / "extract", work / "ics-data"
    settings = Settings(data_dir=data_dir)
    if (data_dir / "warehouse.duckdb").exists():
        print(f"reusing warehouse  {data_dir}")
        return settings
    t = time.perf_counter()
    cfg = SynthConfig(icb=args.icb, out=extract, population=args.population, years=args.years,
                      seed=args.seed)  # fmt: skip
    r = generate(cfg, show_progress=False)
    print(f"synth              {time.perf_counter() - t:7.1f} s  ({r.people:,} people)")
    t = time.perf_counter()
    load(extract, settings)
    print(f"load               {time.perf_counter() - t:7.1f} s")
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icb", default="QK1")
    parser.add_argument("--population", type=int, default=None, help="default: ONS (~1.2M)")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--conditions", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="risk-bench-"))
    try:
        settings = Settings(data_dir=args.data_dir) if args.data_dir else _prepare(args, work)
        con = connect(settings, read_only=True)
        params = RiskParameters(conditions=args.conditions)
        t = time.perf_counter()
        run = train_risk_model(con, params)
        train_s = time.perf_counter() - t
        for step, seconds in run.timings.items():
            print(f"  train: {step:<18} {seconds:7.1f} s")
        print(f"train (total)      {train_s:7.1f} s")
        t = time.perf_counter()
        truth = find_truth(con)
        ev = evaluate_run(run, truth)
        print(f"evaluate           {time.perf_counter() - t:7.1f} s  (truth: {truth})")
        t = time.perf_counter()
        now = extract_end(con)
        scores = score_population(con, now, run.model)
        print(f"score now          {time.perf_counter() - t:7.1f} s  "
              f"({scores.num_rows:,} people at {now})")  # fmt: skip
        m = run.model
        print(f"model              {m.version}  cut-off {m.cutoff}  {len(m.feature_names)} features"
              f"  trained on {m.n_train:,} ({m.events_train:,} admitted)")  # fmt: skip
        held = ev.row("auroc")
        print(f"held out           {held.n:,} people, {held.events:,} admitted")
        for metric in ("auroc", "truth_auroc", "auroc_gap", "baseline_auroc",
                       "calibration_slope", "calibration_intercept", "brier", "truth_brier",
                       "auprc", "observed_rate", "expected_rate"):  # fmt: skip
            try:
                r = ev.row(metric)
            except KeyError:
                continue
            ci = f"  ({r.lower:.4f} to {r.upper:.4f})" if r.lower is not None else ""
            print(f"  {metric:<22} {r.value:8.4f}{ci}")
        for r in ev.rows:
            if r.metric == "observed_to_expected":
                print(f"  O/E {r.group_type:<13} {r.group:<8} {r.value:6.3f}"
                      f"  ({r.lower:.3f} to {r.upper:.3f})  n={r.n:,}")  # fmt: skip
        bands = scores.group_by("risk_band").aggregate([("risk_score", "min"),
                                                        ("risk_score", "count")])  # fmt: skip
        for row in sorted(bands.to_pylist(), key=lambda r: -r["risk_score_min"]):
            print(f"  band {row['risk_band']:<10} {row['risk_score_count']:>9,}"
                  f"  from p = {row['risk_score_min']:.3f}")  # fmt: skip
        gap, slope = ev.value("auroc_gap") if truth else None, ev.value("calibration_slope")
        if gap is not None:
            ok = gap <= 0.05 and 0.9 <= slope <= 1.1
            print(f"must show (gap <= 0.05, 0.9 <= slope <= 1.1): {'met' if ok else 'NOT met'}")
        if args.json:
            args.json.write_text(ev.to_json())
        con.disconnect()
    finally:
        if args.work is None and args.data_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
