"""``ics load``: check a folder of extracts, then load it into the warehouse all-or-nothing.

The new warehouse is built through Ibis in a fresh DuckDB file beside the current one and moved
over it with one atomic ``os.replace`` once complete; any failure before that deletes the new file
and leaves the current warehouse untouched, byte for byte. On the way in, ``nhs_number`` is dropped
and every row of a patient with a national data opt-out is withheld from every patient-level
table. A ``load_manifest`` table records what came in, what was loaded and what was withheld.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends import BaseBackend

from integrated_care.settings import Settings
from integrated_care.warehouse.check import CheckReport, check
from integrated_care.warehouse.connection import WarehouseError, WarehouseLocation, location
from integrated_care.warehouse.progress import Reporter, Silent
from integrated_care.warehouse.schema import TABLES, Column, TableSpec
from integrated_care.warehouse.sources import Source, read_csv

MANIFEST = "load_manifest"

IBIS_TYPES = {
    "string": "string",
    "int64": "int64",
    "float64": "float64",
    "decimal": "decimal(18, 2)",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


class LoadRefused(RuntimeError):
    """The folder failed its check; nothing was loaded."""

    def __init__(self, report: CheckReport) -> None:
        super().__init__(f"{report.errors:,} problems in {report.folder}; nothing loaded")
        self.report = report


@dataclass(frozen=True)
class TableLoad:
    """One row of the load manifest."""

    table: str
    rows_in: int
    rows_loaded: int
    rows_withheld_opt_out: int
    checksum: str  # SHA-256 of the source files; empty when the table was not supplied


@dataclass
class LoadResult:
    warehouse: Path
    source: Path
    loaded_at: dt.datetime
    tables: list[TableLoad] = field(default_factory=list)
    check_seconds: float = 0.0
    load_seconds: float = 0.0

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables)

    @property
    def rows_withheld(self) -> int:
        return sum(t.rows_withheld_opt_out for t in self.tables)


def ibis_schema(spec: TableSpec) -> ibis.Schema:
    """The warehouse schema of a table (identifiable columns dropped)."""
    return ibis.schema({c.name: IBIS_TYPES[c.type] for c in spec.warehouse_columns})


def _cast(table: ir.Table, column: Column) -> ir.Value:
    return table[column.name].cast(IBIS_TYPES[column.type]).name(column.name)


def read_source(con: BaseBackend, source: Source) -> ir.Table:
    """The raw rows of a source as an Ibis table (CSV arrives as text)."""
    if source.format == "parquet":
        files = [str(p) for p in source.files]
        return con.read_parquet(  # type: ignore[attr-defined]
            files, table_name=f"_src_{source.table}", union_by_name=True
        )
    parts = [read_csv(path) for path in source.files]
    return ibis.memtable(pa.concat_tables(parts, promote_options="default"))


def opted_out(con: BaseBackend, patients: Source) -> ir.Table:
    """patient_id of every patient with a national data opt-out."""
    raw = read_source(con, patients)
    flag = raw["national_opt_out"].cast("boolean")
    return raw.filter(flag).select(patient_id=raw["patient_id"].cast("int64")).distinct()


def _load_table(
    con: BaseBackend, spec: TableSpec, source: Source | None, opt_outs: ir.Table
) -> None:
    """Create one warehouse table from its source (empty if the source is absent)."""
    if source is None:
        con.create_table(spec.name, schema=ibis_schema(spec))
        return
    raw = read_source(con, source)
    typed = raw.select(*[_cast(raw, c) for c in spec.warehouse_columns])
    if spec.patient_level:
        typed = typed.anti_join(opt_outs, "patient_id")
    con.create_table(spec.name, typed)


def _row_counts(con: BaseBackend, names: list[str]) -> dict[str, int]:
    """Rows in each warehouse table, in one query."""
    tables = [con.table(n).count().name("n").as_table().mutate(t=ibis.literal(n)) for n in names]
    counted = ibis.union(*tables).to_pyarrow().to_pylist()
    return {row["t"]: int(row["n"]) for row in counted}


def _manifest(result: LoadResult) -> pa.Table:
    rows = [
        {
            "table": t.table,
            "rows_in": t.rows_in,
            "rows_loaded": t.rows_loaded,
            "rows_withheld_opt_out": t.rows_withheld_opt_out,
            "loaded_at": result.loaded_at,
            "source_folder": str(result.source),
            "checksum": t.checksum,
        }
        for t in result.tables
    ]
    schema = pa.schema(
        [
            ("table", pa.string()),
            ("rows_in", pa.int64()),
            ("rows_loaded", pa.int64()),
            ("rows_withheld_opt_out", pa.int64()),
            ("loaded_at", pa.timestamp("us", tz="UTC")),
            ("source_folder", pa.string()),
            ("checksum", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _settle_wal(path: Path) -> None:
    """Fold a leftover write-ahead log into the current warehouse before it is replaced.

    A stale ``.wal`` beside the file would otherwise be replayed into the new warehouse. Opening
    the database also fails, as it should, if another process is writing to it.
    """
    if Path(f"{path}.wal").exists():
        duckdb.connect(str(path)).close()


def _remove(path: Path) -> None:
    for leftover in (path, Path(f"{path}.wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _build(staging: Path, report: CheckReport, result: LoadResult, reporter: Reporter) -> None:
    """Build the complete warehouse in ``staging``."""
    con = ibis.duckdb.connect(str(staging))
    try:
        # Row order carries no meaning here; not preserving it lets DuckDB stream in parallel.
        con.raw_sql("SET preserve_insertion_order = false")
        con.raw_sql("SET enable_progress_bar = false")  # ours is per table
        # One transaction: the staging file is thrown away on failure anyway, and committing
        # once avoids a sync of the log per table.
        con.raw_sql("BEGIN TRANSACTION")
        sources = report.sources
        opt_outs = opted_out(con, sources["patients"])
        reporter.begin("load", len(TABLES))
        for name, spec in TABLES.items():
            reporter.table_started(name)
            _load_table(con, spec, sources.get(name), opt_outs)
            reporter.table_done(name, "loaded" if name in sources else "not supplied")
        loaded = _row_counts(con, list(TABLES))
        for name in TABLES:
            source = sources.get(name)
            rows_in = report.rows.get(name, 0)
            withheld = rows_in - loaded[name]
            checksum = source.checksum() if source else ""
            result.tables.append(TableLoad(name, rows_in, loaded[name], withheld, checksum))
        con.create_table(MANIFEST, _manifest(result))
        con.raw_sql("COMMIT")
        con.raw_sql("CHECKPOINT")
    finally:
        con.disconnect()


def _target(settings: Settings | None) -> WarehouseLocation:
    where = location(settings)
    if where.path is None:
        raise WarehouseError("ics load needs a file-based warehouse (duckdb:///path)")
    return where


def load(
    folder: Path | str,
    settings: Settings | None = None,
    *,
    reporter: Reporter | None = None,
    report: CheckReport | None = None,
) -> LoadResult:
    """Check ``folder`` and, if it has no errors, replace the warehouse with its contents.

    Raises :class:`LoadRefused` (carrying the check report) if the folder has errors; in that case,
    and on any other failure, the warehouse is left exactly as it was. ``report`` lets a caller
    that has just checked the same folder skip a second check.
    """
    reporter = reporter or Silent()
    where = _target(settings)
    assert where.path is not None
    if report is not None and report.folder != Path(folder).resolve():
        raise ValueError(f"the check report is for {report.folder}, not {folder}")
    report = report or check(folder, reporter)
    if not report.ok:
        raise LoadRefused(report)
    started = time.perf_counter()
    result = LoadResult(
        warehouse=where.path,
        source=report.folder,
        loaded_at=dt.datetime.now(dt.UTC),
        check_seconds=report.seconds,
    )
    where.path.parent.mkdir(parents=True, exist_ok=True)
    staging = where.path.with_name(f".{where.path.name}.loading-{uuid.uuid4().hex[:12]}")
    try:
        _build(staging, report, result, reporter)
        _settle_wal(where.path)
        os.replace(staging, where.path)
    except BaseException:
        _remove(staging)
        raise
    _fsync_dir(where.path.parent)
    result.load_seconds = time.perf_counter() - started
    return result


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable, where the platform allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
