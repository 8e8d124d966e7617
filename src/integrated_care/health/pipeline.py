"""`ics analyse`: build the population-health marts on any Ibis backend and export them.

``run_pipeline`` builds, in order: ``registers``, ``patient_summary`` (with the risk step, when
given, filling risk_score / risk_band), ``segments``, then any extra marts (inequalities, cohorts,
model_evaluation, ... supplied by their modules as :class:`MartStep`). Each mart is computed by
the backend, materialised once as Arrow, written to ``<out_dir>/<name>.parquet`` and returned.
The same code runs on DuckDB and PySpark: only Ibis expressions, no engine-specific SQL.

``store_marts`` then writes them to ``<data-dir>/marts.duckdb`` (built beside and swapped in
atomically, so readers of the old file never see half a set): the warehouse itself is opened
read-only by the web app and replaced whole by ``ics load``, so marts live next to it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
from ibis.expr.types import Table
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from integrated_care.health import codelists
from integrated_care.health.population import registered_population
from integrated_care.health.registers import (
    condition_dates,
    condition_flags,
    forget_conditions,
    registers_mart,
    remember_conditions,
)
from integrated_care.health.segments import segments_mart
from integrated_care.health.summary import patient_summary, summary_parts

MARTS_FILE = "marts.duckdb"
MANIFEST = "manifest.json"

# (con, as_of, patient_summary) -> Table(patient_id, risk_score, risk_band)
RiskStep = Callable[[ibis.BaseBackend, dt.date, Table], Table]


@dataclass(frozen=True)
class MartStep:
    """An extra mart: `build(con, as_of, marts so far as Ibis tables)` -> Ibis or Arrow table."""

    name: str
    build: Callable[[ibis.BaseBackend, dt.date, dict[str, Table]], Table | pa.Table]


@dataclass
class PipelineResult:
    marts: dict[str, pa.Table | Table]
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    rows_scanned: int = 0


def _as_ibis(table: pa.Table) -> Table:
    """A materialised mart as an Ibis table, so later marts never recompute it."""
    return ibis.memtable(table)


def with_risk(summary: Table, risk: Table) -> Table:
    """patient_summary with risk_score and risk_band taken from `risk` (null where absent)."""
    scored = risk.select(
        "patient_id",
        _risk_score=risk.risk_score.cast("float64"),
        _risk_band=risk.risk_band.cast("string"),
    )
    joined = summary.left_join(scored, "patient_id")
    columns = {
        c: (
            joined._risk_score
            if c == "risk_score"
            else joined._risk_band
            if c == "risk_band"
            else joined[c]
        )
        for c in summary.columns
    }
    return joined.select(**columns).order_by("patient_id")


def warehouse_rows(con: ibis.BaseBackend) -> int:
    """Rows in the warehouse tables the marts read: the denominator for rows scanned / second."""
    names = (
        "patients", "registrations", "lsoas", "organisations", "gp_events", "gp_appointments",
        "medications", "apc_spells", "ae_attendances", "op_appointments", "community_contacts",
        "mh_contacts", "social_care_services",
    )  # fmt: skip
    return sum(int(con.table(n).count().to_pyarrow().as_py()) for n in names)


def run_pipeline(
    con: ibis.BaseBackend,
    as_of: dt.date,
    out_dir: Path,
    progress: bool = True,
    *,
    risk: RiskStep | None = None,
    extra: Sequence[MartStep] = (),
    collect: bool = True,
) -> dict[str, pa.Table | Table]:
    """Build every mart, write each as ``out_dir/<name>.parquet`` and return them.

    With `collect` (the default) each mart is brought back as an Arrow table. Without it, for a
    population too big for one machine's memory, each mart stays on the engine as a cached Ibis
    table and is written by the engine itself (on Spark, ``<name>.parquet`` is a folder of parts).
    """
    return run_pipeline_timed(
        con, as_of, out_dir, progress, risk=risk, extra=extra, collect=collect
    ).marts


def run_pipeline_timed(
    con: ibis.BaseBackend,
    as_of: dt.date,
    out_dir: Path,
    progress: bool = True,
    *,
    risk: RiskStep | None = None,
    extra: Sequence[MartStep] = (),
    collect: bool = True,
) -> PipelineResult:
    """As :func:`run_pipeline`, with each mart's rows and wall time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = PipelineResult(marts={})
    live: dict[str, Table] = {}
    steps: list[tuple[str, Callable[[], Table | pa.Table]]] = []
    shared: dict[str, Table] = {}
    intermediates: list[Table] = []

    def conditions() -> Table:
        if "dates" not in shared:
            shared["dates"] = materialise(condition_dates(con, as_of))
            # Later steps (the summary's flags, the risk features) read the same dates.
            remember_conditions(con, as_of, dates=shared["dates"])
        return shared["dates"]

    def flags() -> Table:
        if "flags" not in shared:
            conditions()
            shared["flags"] = materialise(condition_flags(con, as_of))
            remember_conditions(con, as_of, flags=shared["flags"])
        return shared["flags"]

    def population() -> Table:
        if "people" not in shared:
            shared["people"] = materialise(registered_population(con, as_of))
        return shared["people"]

    def materialise(table: Table) -> Table:
        kept = _engine_cache(con, table)
        intermediates.append(kept)
        return kept

    def summary() -> Table:
        parts = summary_parts(con, as_of, dates=conditions(), flags=flags())
        # flags is already a selection of a cached table
        parts = {n: p if n == "flags" else materialise(p) for n, p in parts.items()}
        table = patient_summary(con, as_of, parts=parts, people=population())
        if risk is not None:
            table = with_risk(table, risk(con, as_of, table))
        return table

    steps.append(
        (
            "registers",
            lambda: registers_mart(con, as_of, dates=conditions(), people=population()),
        )
    )
    steps.append(("patient_summary", summary))
    steps.append(("segments", lambda: segments_mart(live["patient_summary"])))
    for step in extra:
        steps.append((step.name, lambda step=step: step.build(con, as_of, dict(live))))

    bar = (
        Progress(
            TextColumn("[bold]{task.description:<24}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        if progress
        else None
    )
    if bar is not None:
        bar.start()
    try:
        task = bar.add_task("marts", total=len(steps)) if bar is not None else None
        for name, build in steps:
            if bar is not None and task is not None:
                bar.update(task, description=name)
            started = time.perf_counter()
            built = build()
            path = out_dir / f"{name}.parquet"
            _remove(path)  # a folder of parts from an earlier Spark run, or an older file
            if collect:
                arrow = built if isinstance(built, pa.Table) else built.to_pyarrow()
                pq.write_table(arrow, path)
                result.marts[name] = arrow
                result.rows[name] = arrow.num_rows
                live[name] = _as_ibis(arrow)
            else:
                cached = _engine_cache(
                    con, ibis.memtable(built) if isinstance(built, pa.Table) else built
                )
                cached.to_parquet(path)
                result.marts[name] = live[name] = cached
                result.rows[name] = int(cached.count().to_pyarrow().as_py())
            result.seconds[name] = time.perf_counter() - started
            if bar is not None and task is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
        forget_conditions(con)
        for table in intermediates:
            table.release()  # type: ignore[attr-defined]
    (out_dir / MANIFEST).write_text(
        json.dumps(
            {
                "as_of": as_of.isoformat(),
                "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "marts": result.rows,
                "seconds": {n: round(s, 3) for n, s in result.seconds.items()},
                "code_lists": codelists.list_versions(),
            },
            indent=1,
        )
    )
    return result


def _engine_cache(con: ibis.BaseBackend, table: Table) -> Table:
    """`table` cached on the engine (a temp table on DuckDB, persisted on Spark), so later steps
    read it instead of planning one query over the whole chain."""
    # Ibis 12's PySpark cache() compiles without registering in-memory tables (our code lists).
    con._run_pre_execute_hooks(table)
    return table.cache()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def store_marts(marts: dict[str, pa.Table | Table], data_dir: Path) -> Path:
    """Write the marts as tables of ``<data_dir>/marts.duckdb``, replacing it atomically."""
    target = data_dir / MARTS_FILE
    building = data_dir / f".{MARTS_FILE}.{os.getpid()}.building"
    building.unlink(missing_ok=True)
    store = ibis.duckdb.connect(str(building))
    try:
        for name, table in marts.items():
            arrow = table if isinstance(table, pa.Table) else table.to_pyarrow()
            store.create_table(name, arrow, overwrite=True)
    finally:
        store.disconnect()
    os.replace(building, target)
    return target


def default_as_of(con: ibis.BaseBackend) -> dt.date:
    """The extract date: the latest GP appointment, else the latest registration start."""
    for table, column in (("gp_appointments", "date"), ("registrations", "start_date")):
        latest = con.table(table)[column].max().to_pyarrow().as_py()
        if latest is not None:
            return (
                latest if isinstance(latest, dt.date) else dt.date.fromisoformat(str(latest)[:10])
            )
    return dt.date.today()
