"""`ics analyse`: the population-health marts, on DuckDB (default) or Spark."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from ibis.backends import BaseBackend

from integrated_care.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from integrated_care.health.pipeline import PipelineResult


def register(app: typer.Typer) -> None:
    app.command("analyse")(analyse)


def analyse(
    engine: str = typer.Option(
        None, "--engine", help="duckdb or spark (default: the configured analytics engine)"
    ),
    as_of: str = typer.Option(
        None, "--as-of", help="Date of the analysis, YYYY-MM-DD (default: the extract date)"
    ),
    out: Path = typer.Option(
        None, "--out", help="Folder for the Parquet marts (default: <data-dir>/marts)"
    ),
    collect: bool = typer.Option(
        True,
        "--collect/--no-collect",
        help="Bring the marts back to this machine and store them in <data-dir>/marts.duckdb "
        "(--no-collect: the engine writes the Parquet itself; for a national Spark run)",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    risk: bool = typer.Option(
        True,
        "--risk/--no-risk",
        help="Train the emergency-admission risk model (cut-off a year before the extract "
        "date), score everyone and evaluate it (risk, model_evaluation marts)",
    ),
) -> None:
    """Build the population-health marts: registers, patient_summary, segments, risk,
    model_evaluation, inequalities, cohorts."""
    from rich.console import Console

    from integrated_care.warehouse.connection import WarehouseError

    console = Console()
    try:
        built = build_marts(
            Settings(),
            console,
            engine=engine,
            as_of=dt.date.fromisoformat(as_of) if as_of else None,
            out=out,
            collect=collect,
            progress=not quiet,
            risk=risk,
        )
    except WarehouseError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    result = built.result
    for name, rows in result.rows.items():
        console.print(f"{name:<18} {rows:>10,} rows  {result.seconds[name]:6.2f}s")
    console.print(
        f"as of {built.as_of}; Parquet in {built.folder}"
        + (f"; tables in {built.stored}" if built.stored else "")
    )


@dataclass(frozen=True)
class MartsBuild:
    """What one build of the marts made, and how long the risk model took to train."""

    result: PipelineResult
    as_of: dt.date
    folder: Path
    stored: Path | None
    training_seconds: float


def build_marts(
    settings: Settings,
    console: Console,
    *,
    engine: str | None = None,
    as_of: dt.date | None = None,
    out: Path | None = None,
    collect: bool = True,
    progress: bool = True,
    risk: bool = True,
) -> MartsBuild:
    """Everything `ics analyse` builds (also the demo's analyse step): train the risk model
    when asked, run the pipeline with the inequalities and cohorts marts, store the marts."""
    from integrated_care.health.cohort_mart import cohorts_step
    from integrated_care.health.pipeline import default_as_of, run_pipeline_timed, store_marts

    con = _backend(settings, engine)
    try:
        day = as_of or default_as_of(con)
        folder = out or settings.ensure_data_dir() / "marts"
        started = time.perf_counter()
        risk_hook, extra = _risk_and_inequalities(con, risk, console)
        trained = time.perf_counter() - started
        extra.append(cohorts_step(settings))  # shipped examples + the store's saved cohorts
        result = run_pipeline_timed(
            con, day, folder, progress=progress, collect=collect, risk=risk_hook, extra=extra
        )
        stored = store_marts(result.marts, settings.ensure_data_dir()) if collect else None
    finally:
        con.disconnect()
    return MartsBuild(result, day, folder, stored, trained)


def _risk_and_inequalities(con: BaseBackend, risk: bool, console):  # type: ignore[no-untyped-def]
    """The risk hook and the marts that follow patient_summary (risk, evaluation, inequalities)."""
    import pyarrow as pa

    from integrated_care.health.inequalities import core20plus5
    from integrated_care.health.pipeline import MartStep

    def inequalities(con, as_of, marts):  # type: ignore[no-untyped-def]
        events = con.table("gp_events")
        frame = core20plus5(marts["patient_summary"], events, as_of=as_of)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        # A column that is empty throughout (e.g. no DSR in a tiny population) has no type;
        # stores need one, and every such column of this mart is numeric.
        return table.cast(
            pa.schema(
                pa.field(f.name, pa.float64()) if pa.types.is_null(f.type) else f
                for f in table.schema
            )
        )

    extra = [MartStep("inequalities", inequalities)]
    if not risk:
        return None, extra
    from integrated_care.health.model_evaluation import evaluate_run, find_truth
    from integrated_care.health.risk import risk_mart, risk_step, train_risk_model

    with console.status("Training the emergency-admission risk model"):
        run = train_risk_model(con)
    evaluation = evaluate_run(run, find_truth(con))
    console.print(
        f"risk model {run.model.version}: held-out AUROC {evaluation.value('auroc'):.3f}, "
        f"calibration slope {evaluation.value('calibration_slope'):.2f}"
    )

    def risk_table(con, as_of, marts):  # type: ignore[no-untyped-def]
        summary = marts["patient_summary"].select("patient_id", "risk_score", "risk_band")
        return risk_mart(summary.to_pyarrow())

    extra += [
        MartStep("risk", risk_table),
        MartStep("model_evaluation", lambda *_: evaluation.to_arrow()),
    ]
    return risk_step(run.model), extra


def _backend(settings: Settings, engine: str | None) -> BaseBackend:
    """The analytics backend: the engines module's when present, else DuckDB read-only."""
    try:
        from integrated_care.health.engines import analytics_backend
    except ImportError:
        from integrated_care.warehouse.connection import connect

        if engine not in (None, "duckdb"):
            from integrated_care.warehouse.connection import WarehouseError

            raise WarehouseError(f"engine {engine!r} is not available in this build") from None
        return connect(settings, read_only=True)
    return analytics_backend(settings, engine)
