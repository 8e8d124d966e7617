"""`ics oversight build`: the constitutional standards from the warehouse, stored for the pages."""

from __future__ import annotations

import datetime as dt

import typer

oversight_app = typer.Typer(
    help="System oversight: constitutional standards and SPC.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(oversight_app, name="oversight")


@oversight_app.command("build")
def build(
    as_of: str = typer.Option(
        None, "--as-of", help="Extract date, YYYY-MM-DD (default: the latest hospital activity)"
    ),
) -> None:
    """Compute every standard by provider, place and system by month, and store them in
    <data-dir>/oversight.duckdb and <data-dir>/oversight/*.parquet."""
    from rich.console import Console

    from integrated_care.oversight.marts import build_and_store
    from integrated_care.settings import Settings
    from integrated_care.warehouse.connection import WarehouseError

    console = Console()
    try:
        outcome = build_and_store(Settings(), dt.date.fromisoformat(as_of) if as_of else None)
    except WarehouseError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(outcome)
