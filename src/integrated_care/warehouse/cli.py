"""The warehouse's `ics` commands: check, load, import-fhir and input-layer docs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from integrated_care.settings import Settings, get_settings
from integrated_care.warehouse.check import CheckReport, check
from integrated_care.warehouse.connection import WarehouseError
from integrated_care.warehouse.load import LoadRefused, LoadResult, load
from integrated_care.warehouse.progress import RichReporter

DEFAULT_SHOWN = 50


def _console() -> Console:
    # Made per command so that the width follows the terminal (or COLUMNS) of this run.
    return Console()


FolderArg = typer.Argument(
    ..., exists=True, file_okay=False, dir_okay=True, help="Folder of input-layer extracts"
)


def _settings(warehouse: str | None) -> Settings:
    settings = get_settings()
    if warehouse:
        settings = settings.model_copy(update={"warehouse_url": warehouse})
    return settings


def print_problems(report: CheckReport, out: Console, show_all: bool = False) -> None:
    """A table of the problems found (the first ``DEFAULT_SHOWN`` unless ``show_all``)."""
    total = report.problems.num_rows
    if total == 0:
        return
    limit = None if show_all else DEFAULT_SHOWN
    table = Table(title="Problems", show_lines=False)
    for name in ("", "file", "row", "column"):
        table.add_column(name, no_wrap=True)
    for name in ("value", "reason"):
        table.add_column(name, overflow="fold")
    for p in report.iter_problems(limit):
        mark = "[red]error[/]" if p.severity == "error" else "[yellow]warning[/]"
        row = "" if p.row is None else str(p.row)
        table.add_row(mark, p.file, row, p.column, p.value or "", p.reason)
    out.print(table)
    if limit is not None and total > limit:
        out.print(f"showing {limit:,} of {total:,} problems: --all or --output FILE.csv for all")


def _summary(report: CheckReport) -> str:
    rate = report.total_rows / report.seconds if report.seconds else 0.0
    return (
        f"{report.total_rows:,} rows in {len(report.rows)} tables checked in "
        f"{report.seconds:.1f}s ({rate:,.0f} rows/s): "
        f"{report.errors:,} errors, {report.warnings:,} warnings"
    )


def check_command(
    folder: Path = FolderArg,
    show_all: bool = typer.Option(False, "--all", help="Show every problem, not the first 50"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write every problem to CSV"),
) -> None:
    """Check a folder of input-layer extracts; report every problem; load nothing."""
    console = _console()
    with RichReporter() as reporter:
        report = check(folder, reporter)
    print_problems(report, console, show_all)
    if output is not None:
        report.write_csv(output)
        console.print(f"wrote {report.problems.num_rows:,} problems to {output}")
    console.print(_summary(report))
    if not report.ok:
        raise typer.Exit(1)


def _print_load(result: LoadResult, console: Console) -> None:
    table = Table(title=f"Loaded into {result.warehouse}")
    for name in ("table", "rows in", "rows loaded", "withheld (opt-out)"):
        table.add_column(name, justify="left" if name == "table" else "right")
    for t in result.tables:
        if t.checksum:
            table.add_row(
                t.table, f"{t.rows_in:,}", f"{t.rows_loaded:,}", f"{t.rows_withheld_opt_out:,}"
            )
    console.print(table)
    rate = result.rows_loaded / result.load_seconds if result.load_seconds else 0.0
    console.print(
        f"{result.rows_loaded:,} rows loaded in {result.load_seconds:.1f}s ({rate:,.0f} rows/s) "
        f"after a {result.check_seconds:.1f}s check; {result.rows_withheld:,} rows withheld "
        "for national data opt-outs; NHS numbers not stored"
    )


def load_command(
    folder: Path = FolderArg,
    warehouse: str | None = typer.Option(
        None, "--warehouse", help="Warehouse URL (default: settings.warehouse_url)"
    ),
) -> None:
    """Check a folder, then replace the warehouse with it, all-or-nothing."""
    settings = _settings(warehouse)
    console = _console()
    try:
        with RichReporter() as reporter:
            result = load(folder, settings, reporter=reporter)
    except LoadRefused as refused:
        print_problems(refused.report, console)
        console.print(f"[red]{refused}[/]: the warehouse is unchanged")
        raise typer.Exit(1) from None
    except WarehouseError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    _print_load(result, console)


def import_fhir_command(
    source: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="Folder of FHIR R4 bulk-export NDJSON files"
    ),
    out: Path = typer.Argument(..., file_okay=False, help="Input-layer folder to write"),
) -> None:
    """Map a FHIR R4 bulk export (NDJSON) into an input-layer folder, then check it."""
    from integrated_care.warehouse.fhir import import_fhir

    console = _console()
    result = import_fhir(source, out)
    table = Table(title=f"Imported into {out}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in result.rows.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    for kind, count in sorted(result.skipped.items()):
        console.print(f"skipped {count:,} {kind} resources (no mapping; see docs/input-layer.md)")
    with RichReporter() as reporter:
        report = check(out, reporter)
    print_problems(report, console)
    console.print(_summary(report))
    if not report.ok:
        raise typer.Exit(1)


def docs_command(
    output: Path = typer.Option(Path("docs/input-layer.md"), "--output", "-o"),
    verify: bool = typer.Option(
        False, "--check", help="Exit 1 if the file differs from the schema instead of writing it"
    ),
) -> None:
    """Write docs/input-layer.md from the schema (or check that it is current)."""
    from integrated_care.warehouse.docs import render

    text = render()
    console = _console()
    if verify:
        current = output.read_text() if output.exists() else ""
        if current != text:
            console.print(f"{output} is out of date: run `ics input-layer docs`")
            raise typer.Exit(1)
        console.print(f"{output} matches the schema")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add `check`, `load`, `import-fhir` and `input-layer docs` to the `ics` command."""
    app.command("check")(check_command)
    app.command("load")(load_command)
    app.command("import-fhir")(import_fhir_command)
    input_layer = typer.Typer(help="The input layer's schema and documentation.")
    input_layer.command("docs")(docs_command)
    app.add_typer(input_layer, name="input-layer")
