"""`ics serve` and `ics db`: run the web app and look after the operational store's schema."""

from __future__ import annotations

import typer
from rich.console import Console

from integrated_care.runtime import Runtime

console = Console()


def serve_app(runtime: Runtime, host: str, port: int) -> None:
    """Serve the web app until interrupted (shared by `ics serve` and `ics demo`)."""
    import uvicorn

    from integrated_care.web.app import create_app

    app = create_app(runtime)
    console.print(f"[bold green]integrated-care is running:[/] open http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="Port to listen on."),
    ) -> None:
        """Serve the web app (pages, REST API, OpenAPI) over the configured stores."""
        serve_app(Runtime(), host, port)

    db_app = typer.Typer(help="The operational store's schema.", no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command("upgrade")
    def db_upgrade() -> None:
        """Apply every pending migration to the operational store."""
        runtime = Runtime()
        runtime.engine  # noqa: B018 - opening the store migrates it
        console.print(f"operational store is up to date: {runtime.settings.database_url}")
