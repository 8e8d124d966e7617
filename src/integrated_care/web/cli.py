"""`ics serve` and `ics db`: run the web app and look after the operational store's schema."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from integrated_care.runtime import Runtime

console = Console()


def serve_app(runtime: Runtime, host: str, port: int, workers: int = 0) -> None:
    """Serve the web app until interrupted (shared by `ics serve` and `ics demo`).

    `workers` processes (0: one per CPU) share the port: Python runs one request's code at a
    time per process, so one process cannot use a second core. Each worker opens the store
    with the same settings (passed to them as ICS_* environment variables)."""
    import uvicorn

    workers = workers or os.cpu_count() or 1
    console.print(f"[bold green]integrated-care is running:[/] open http://{host}:{port}/")
    options = {"host": host, "port": port, "log_level": "warning", "proxy_headers": False}
    if workers == 1:
        from integrated_care.web.app import served_app

        uvicorn.run(served_app(runtime), **options)
        return
    runtime.engine  # noqa: B018 - migrate once, before the workers open the store
    for name, value in runtime.settings.model_dump().items():
        if value not in (None, ""):
            os.environ[f"ICS_{name.upper()}"] = str(value)
    uvicorn.run(
        "integrated_care.web.app:served_app",
        factory=True,
        workers=workers,
        timeout_graceful_shutdown=5,
        **options,
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port to listen on."),
        workers: int = typer.Option(
            0, min=0, help="Server processes (0: one per CPU); each serves requests on its own."
        ),
    ) -> None:
        """Serve the web app (pages, REST API, OpenAPI) over the configured stores."""
        serve_app(Runtime(), host, port, workers)

    db_app = typer.Typer(help="The operational store's schema.", no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command("upgrade")
    def db_upgrade() -> None:
        """Apply every pending migration to the operational store."""
        runtime = Runtime()
        runtime.engine  # noqa: B018 - opening the store migrates it
        console.print(f"operational store is up to date: {runtime.settings.database_url}")
