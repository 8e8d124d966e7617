"""`ics demo`: build the demonstration ICS (or reuse it) and serve it."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from integrated_care.demo.build import DEFAULT_ICB, DemoState, prepare_demo
from integrated_care.runtime import Runtime

console = Console()


def _print_sign_in(state: DemoState, url: str) -> None:
    table = Table(title="Demo users (all synthetic)", show_lines=False)
    for heading in ("username", "role", "acts for", "who they are"):
        table.add_column(heading)
    for u in state.users:
        table.add_row(
            u.username, ", ".join(u.roles), f"{u.organisation_name} ({u.organisation_code})", u.does
        )
    console.print(table)
    console.print(
        f"Sign in at [bold]{url}sign-in[/] with any username above and the password "
        f"[bold]{state.password}[/] (kept in the data directory's demo.json)."
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        icb: str = typer.Option(DEFAULT_ICB, help="ODS code of the ICB to build (any of the 42)."),
        population: int = typer.Option(
            0,
            help="People in the synthetic ICS (default: the ICB's real population); "
            "a smaller number gives a quicker demo.",
        ),
        rebuild: bool = typer.Option(False, help="Build everything again, even if it exists."),
        host: str = typer.Option("127.0.0.1", help="Address to serve on."),
        port: int = typer.Option(8000, help="Port to serve on."),
        serve: bool = typer.Option(True, help="Serve the app once it is built."),
    ) -> None:
        """Build a realistic synthetic ICS end to end and serve it as a web app."""
        from integrated_care.web.cli import serve_app

        started = time.monotonic()
        runtime = Runtime()
        console.print(
            f"[bold]integrated-care demo[/] for ICB {icb.upper()} "
            f"in {runtime.settings.data_dir.resolve()}"
        )

        def report(step: str, description: str, outcome: str | None) -> None:
            if outcome is None:
                console.print(f"  [dim]reused[/]  {description}")
            else:
                console.print(f"  [green]done[/]    {description}: {outcome}")

        with console.status("Opening the operational store (applying migrations)"):
            runtime.engine  # noqa: B018 - open and migrate before the steps
        try:
            state = prepare_demo(
                runtime,
                icb.upper(),
                population=population or None,
                rebuild=rebuild,
                report=report,
            )
        except ValueError as exc:  # an unknown ICB code, named by the footprint builder
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from exc
        url = f"http://{host}:{port}/"
        console.print(f"Ready in {time.monotonic() - started:.1f} s.")
        _print_sign_in(state, url)
        if serve:
            serve_app(runtime, host, port)
