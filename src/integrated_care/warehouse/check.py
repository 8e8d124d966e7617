"""``ics check``: validate a folder of input-layer extracts and report every problem.

Nothing is loaded anywhere: the files are scanned in place by DuckDB (CSV through pyarrow), every
rule of a table runs in one vectorised scan, and keys are checked with hash joins. Problems are
collected in DuckDB too, so a file that is wrong on every row is still reported in full.
"""

# SQL here is generated from the schema; every value in it passes through literal().
# ruff: noqa: S608

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from integrated_care.warehouse import rules
from integrated_care.warehouse.progress import Reporter, Silent
from integrated_care.warehouse.rules import ident, literal
from integrated_care.warehouse.schema import TABLES, Column, ForeignKey, TableSpec
from integrated_care.warehouse.sources import Discovery, Source, csv_header, discover, read_csv


@dataclass(frozen=True)
class Problem:
    """One problem: where it is (file, 1-based data row, column), the value and why it is wrong.

    ``row`` is None for problems with a whole file or column (a missing column, say).
    """

    severity: str  # "error" stops a load; "warning" does not
    table: str
    file: str
    row: int | None
    column: str
    value: str | None
    reason: str


@dataclass
class CheckReport:
    """Everything ``check`` found in one folder."""

    folder: Path
    problems: pa.Table  # the Problem fields as columns, sorted by table, file, row
    rows: dict[str, int] = field(default_factory=dict)  # rows read per table present
    sources: dict[str, Source] = field(default_factory=dict)
    seconds: float = 0.0

    def _count(self, severity: str) -> int:
        matches = pc.equal(self.problems.column("severity"), severity)
        return int(pc.sum(matches).as_py() or 0)

    @property
    def errors(self) -> int:
        return self._count("error")

    @property
    def warnings(self) -> int:
        return self._count("warning")

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def iter_problems(self, limit: int | None = None) -> Iterator[Problem]:
        table = self.problems if limit is None else self.problems.slice(0, limit)
        for record in table.to_pylist():
            yield Problem(**record)

    def write_csv(self, path: Path) -> None:
        pacsv.write_csv(self.problems, path)


def _compatible(declared: str, actual: pa.DataType) -> bool:
    """May a Parquet column of type ``actual`` hold a column declared ``declared``?

    Text is always accepted and cast row by row (as CSV is); other types must cast losslessly.
    """
    if pa.types.is_string(actual) or pa.types.is_large_string(actual) or pa.types.is_null(actual):
        return True
    if declared == "int64":
        return pa.types.is_integer(actual)
    if declared in ("float64", "decimal"):
        return (
            pa.types.is_integer(actual)
            or pa.types.is_floating(actual)
            or pa.types.is_decimal(actual)
        )
    if declared == "bool":
        return pa.types.is_boolean(actual)
    if declared == "date":
        return pa.types.is_date(actual)
    if declared == "timestamp":
        return pa.types.is_timestamp(actual) or pa.types.is_date(actual)
    return False


def _fk_reason(column: Column, fk: ForeignKey) -> str:
    if fk.where and fk.table == "organisations":
        return f"not an organisation of type {fk.where[1]}"
    if fk.where or fk.column != column.name:
        return f"not in {fk.describe()}"
    return f"{column.name} not in {fk.table}"


@dataclass
class _Table:
    """A table present in the folder, as the checker sees it."""

    spec: TableSpec
    source: Source
    usable: set[str] = field(default_factory=set)  # columns present and of a usable type
    from_text: set[str] = field(default_factory=set)  # usable columns held as text


# What a damaged or malformed file raises while its schema or rows are read.
UNREADABLE = (pa.ArrowException, duckdb.Error, OSError, UnicodeDecodeError)


class _Checker:
    def __init__(self, folder: Path, reporter: Reporter) -> None:
        self.folder = folder
        self.reporter = reporter
        self.tmp = tempfile.TemporaryDirectory(prefix="ics-check-")
        self.con = duckdb.connect()
        self.con.execute(f"SET temp_directory = {literal(self.tmp.name)}")
        self.con.execute("SET enable_progress_bar = false")  # ours is per table
        self.con.execute(
            "CREATE TABLE problems (severity VARCHAR, tbl VARCHAR, file VARCHAR, "
            'row BIGINT, "column" VARCHAR, value VARCHAR, reason VARCHAR)'
        )
        self.tables: dict[str, _Table] = {}

    def close(self) -> None:
        self.con.close()
        self.tmp.cleanup()

    def add(self, severity: str, table: str, file: str, column: str, value: str | None,
            reason: str, row: int | None = None) -> None:  # fmt: skip
        self.con.execute(
            "INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?, ?)",
            [severity, table, file, row, column, value, reason],
        )

    def add_queries(self, table: str, queries: list[str]) -> int:
        """Record as errors every (file, row, column, value, reason) the queries yield.

        One statement per table: DuckDB plans and runs the scans together.
        """
        if not queries:
            return 0
        union = " UNION ALL ".join(f"({q})" for q in queries)
        inserted = self.con.execute(
            f"INSERT INTO problems SELECT 'error', {literal(table)}, file, row, "
            f'"column", value, reason FROM ({union})'
        ).fetchone()
        return int(inserted[0]) if inserted else 0

    def discover(self) -> Discovery:
        found = discover(self.folder)
        for path in found.unknown:
            self.add("warning", "", path.name, "", None, "not an input-layer table; ignored")
        for name, paths in found.ambiguous.items():
            names = ", ".join(p.name for p in paths)
            self.add("error", name, names, "", None, "more than one source for this table")
        for name, spec in TABLES.items():
            if spec.required and name not in found.sources and name not in found.ambiguous:
                self.add("error", name, f"{name}.parquet", "", None, "required table missing")
        return found

    def register(self, source: Source) -> None:
        """Expose a source as view ``src_<table>`` with ``_file`` and 1-based ``_row``."""
        view = ident(f"src_{source.table}")
        if source.format == "parquet":
            files = "[" + ", ".join(literal(str(p)) for p in source.files) + "]"
            prefix = len(str(source.root)) + 2
            self.con.execute(
                f"CREATE VIEW {view} AS SELECT * EXCLUDE (_ics_file, file_row_number), "
                f"substr(_ics_file, {prefix}) AS _file, file_row_number + 1 AS _row "
                f"FROM read_parquet({files}, filename = '_ics_file', file_row_number = true, "
                "union_by_name = true)"
            )
            return
        parts = []
        for path in source.files:
            data = read_csv(path)
            n = data.num_rows
            data = data.append_column("_file", pa.array([source.label(path)] * n, pa.string()))
            parts.append(data.append_column("_row", pa.array(range(1, n + 1), pa.int64())))
        combined = pa.concat_tables(parts, promote_options="default")
        self.con.register(f"_arrow_{source.table}", combined)
        self.con.execute(f"CREATE VIEW {view} AS SELECT * FROM {ident('_arrow_' + source.table)}")

    def inspect_columns(self, table: _Table) -> None:
        """Note missing, extra and wrongly typed columns; decide which columns rules can use."""
        spec, source = table.spec, table.source
        present: dict[str, pa.DataType] = {}
        wrong: set[str] = set()
        for path in source.files:
            if source.format == "parquet":
                fields = [(f.name, f.type) for f in pq.read_schema(path)]
            else:
                fields = [(name, pa.string()) for name in csv_header(path)]
            for name, dtype in fields:
                present.setdefault(name, dtype)
                if spec.has_column(name) and not _compatible(spec.column(name).type, dtype):
                    wrong.add(name)
                    expected = spec.column(name).type
                    self.add("error", spec.name, source.label(path), name, str(dtype),
                             f"wrong type: {dtype}, expected {expected}")  # fmt: skip
        label = source.label(source.files[0])
        for column in spec.columns:
            if column.name not in present:
                self.add("error", spec.name, label, column.name, None, "required column missing")
        for name in present:
            if not spec.has_column(name):
                self.add(
                    "warning", spec.name, label, name, None, "column not in the schema; ignored"
                )
        for column in spec.columns:
            actual = present.get(column.name)
            if actual is None or column.name in wrong:
                continue
            table.usable.add(column.name)
            if pa.types.is_string(actual) or pa.types.is_large_string(actual):
                table.from_text.add(column.name)

    def typed_select(self, table: _Table, with_raw: bool) -> str:
        """Select list giving each declared column cast to its type (and, optionally, raw)."""
        parts = ["_file", "_row"]
        for column in table.spec.columns:
            parts.append(self._typed(table, column))
            if with_raw and column.name in table.usable:
                parts.append(f"{ident(column.name)} AS {rules.raw(column.name)}")
        return ", ".join(parts)

    def _typed(self, table: _Table, column: Column) -> str:
        name = ident(column.name)
        if column.name not in table.usable:
            return f"CAST(NULL AS {column.sql_type}) AS {name}"
        return f"TRY_CAST({name} AS {column.sql_type}) AS {name}"

    def register_typed(self, table: _Table) -> None:
        name = table.spec.name
        self.con.execute(
            f"CREATE VIEW {ident('t_' + name)} AS SELECT {self.typed_select(table, False)} "
            f"FROM {ident('src_' + name)}"
        )

    def row_queries(self, table: _Table) -> list[str]:
        spec = table.spec
        found = []
        for column in spec.columns:
            if column.name in table.usable:
                found.extend(rules.column_rules(column, column.name in table.from_text))
        found.extend(rules.order_rules(spec, table.usable))
        if not found:
            return []
        return [
            rules.row_check_sql(ident("src_" + spec.name), self.typed_select(table, True), found)
        ]

    def key_queries(self, table: _Table) -> list[str]:
        key = table.spec.primary_key
        if not key or not set(key) <= table.usable:
            return []
        cols = ", ".join(ident(k) for k in key)
        value = " || '|' || ".join(f"CAST(t.{ident(k)} AS VARCHAR)" for k in key)
        view = ident("t_" + table.spec.name)
        nonnull = " AND ".join(f"{ident(k)} IS NOT NULL" for k in key)
        return [
            f"""
            WITH dup AS (SELECT {cols}, count(*) AS n FROM {view} WHERE {nonnull}
                         GROUP BY ALL HAVING count(*) > 1)
            SELECT t._file AS file, t._row AS row, {literal(", ".join(key))} AS "column",
                   {value} AS value,
                   'duplicate primary key: ' || dup.n || ' rows share it' AS reason
            FROM {view} t JOIN dup USING ({cols})
            """
        ]

    def reference_queries(self, table: _Table) -> list[str]:
        queries = []
        for column in table.spec.columns:
            fk = column.references
            if fk is None or column.name not in table.usable:
                continue
            parent = self.tables.get(fk.table)
            if parent is None or fk.column not in parent.usable:
                continue
            if fk.where and fk.where[0] not in parent.usable:
                continue
            where = ""
            if fk.where:
                where = f"WHERE {ident(fk.where[0])} = {literal(fk.where[1])}"
            c = ident(column.name)
            queries.append(
                f"""
                SELECT t._file AS file, t._row AS row, {literal(column.name)} AS "column",
                       CAST(t.{c} AS VARCHAR) AS value,
                       {literal(_fk_reason(column, fk))} AS reason
                FROM {ident("t_" + table.spec.name)} t
                ANTI JOIN (SELECT DISTINCT {ident(fk.column)} AS k
                           FROM {ident("t_" + fk.table)} {where}) p ON t.{c} = p.k
                WHERE t.{c} IS NOT NULL
                """
            )
        return queries

    def problems(self) -> pa.Table:
        order = ", ".join(f"({literal(n)}, {i})" for i, n in enumerate(TABLES))
        result = self.con.execute(
            f"""
            SELECT severity, p.tbl AS "table", file, row, "column", value, reason
            FROM problems p LEFT JOIN (VALUES {order}) o(tbl, pos) USING (tbl)
            ORDER BY coalesce(pos, -1), file, row NULLS FIRST, "column"
            """
        ).to_arrow_table()
        return result

    def run(self) -> CheckReport:
        started = time.perf_counter()
        found = self.discover()
        for name, source in found.sources.items():
            table = _Table(TABLES[name], source)
            try:
                self.register(source)  # first: it fails on a file that cannot be read
                self.inspect_columns(table)
                self.register_typed(table)
            except UNREADABLE as error:
                first = source.label(source.files[0])
                self.add("error", name, first, "", None, f"unreadable: {error}")
                continue
            self.tables[name] = table
        counts: dict[str, int] = {}
        ordered = [self.tables[n] for n in TABLES if n in self.tables]
        self.reporter.begin("check", len(ordered))
        for table in ordered:
            name = table.spec.name
            self.reporter.table_started(name)
            counts[name] = self.con.execute(
                f"SELECT count(*) FROM {ident('src_' + name)}"
            ).fetchone()[0]  # type: ignore[index]
            queries = self.row_queries(table) + self.key_queries(table)
            found_here = self.add_queries(name, queries + self.reference_queries(table))
            self.reporter.table_done(name, f"{counts[name]:>12,} rows  {found_here:,} problems")
        return CheckReport(
            folder=self.folder,
            problems=self.problems(),
            rows=counts,
            sources=dict(found.sources),
            seconds=time.perf_counter() - started,
        )


def check(folder: Path | str, reporter: Reporter | None = None) -> CheckReport:
    """Check every input-layer table in ``folder``; loads nothing.

    The report's ``ok`` is False if any problem is an error (warnings, such as an extra column,
    do not stop a load).
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"not a folder: {folder}")
    checker = _Checker(folder, reporter or Silent())
    try:
        return checker.run()
    finally:
        checker.close()
