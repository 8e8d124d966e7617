"""`ics record`: build the shared care record from the input layer, import FHIR bulk exports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from integrated_care.runtime import Runtime

if TYPE_CHECKING:
    from integrated_care.record.loader import LoadResult, Scope


def _console() -> Console:
    return Console()


def extract_dir(runtime: Runtime) -> Path:
    """Where `ics demo` / `ics synth` left the input-layer extracts of this data directory."""
    return runtime.settings.ensure_data_dir() / "extract"


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[resources]:,} resources"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def load_with_progress(
    runtime: Runtime, folder: Path, scope: Scope, console: Console, *, batch: int = 500
) -> LoadResult:
    """`load_record` with a progress bar of patients and resources (the CLI and the demo)."""
    from integrated_care.record.loader import load_record

    with _progress(console) as bar:
        task = bar.add_task(f"record of {scope.describe()}", total=None, resources=0)
        done = {"resources": 0}

        def advance(resources: int, patients: int, total: int) -> None:
            done["resources"] += resources
            bar.update(task, total=total, advance=patients, resources=done["resources"])

        return load_record(runtime, folder, scope, patients_per_batch=batch, progress=advance)


def _counts_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title)
    table.add_column("resource type")
    table.add_column("stored", justify="right")
    for name, count in sorted(counts.items()):
        table.add_row(name, f"{count:,}")
    return table


def register(app: typer.Typer) -> None:
    record_app = typer.Typer(
        help="The shared care record (FHIR R4): load it from the input layer, import exports.",
        no_args_is_help=True,
    )
    app.add_typer(record_app, name="record")

    @record_app.command("load")
    def load(
        pcn: str | None = typer.Option(None, "--pcn", help="PCN ODS code (default: one PCN)."),
        place: str | None = typer.Option(None, "--place", help="Place code (sub-ICB location)."),
        everyone: bool = typer.Option(False, "--all", help="Everyone registered in the ICS."),
        source: Path | None = typer.Option(
            None, "--from", help="Folder of input-layer extracts (default: the data directory's)."
        ),
        batch: int = typer.Option(500, min=1, help="Patients per transaction."),
    ) -> None:
        """Build the record of one PCN (default), a place or everyone from the extracts, through
        the direct bulk path (search indexes included; one audit event per batch)."""
        from integrated_care.record.loader import Scope, default_pcn

        if sum(x is not None and x is not False for x in (pcn, place, everyone or None)) > 1:
            raise typer.BadParameter("give at most one of --pcn, --place, --all")
        console = _console()
        runtime = Runtime()
        folder = source or extract_dir(runtime)
        if not folder.exists():
            console.print(f"[red]no extracts at {folder}[/]: run `ics demo` or `ics synth` first")
            raise typer.Exit(1)
        if everyone:
            scope = Scope("all")
        elif place:
            scope = Scope("place", place)
        else:
            scope = Scope("pcn", pcn or default_pcn(folder))
        try:
            result = load_with_progress(runtime, folder, scope, console, batch=batch)
        except (ValueError, FileNotFoundError) as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
        console.print(_counts_table(f"Shared care record: {result.scope}", dict(result.stored)))
        console.print(
            f"{result.patients:,} patients ({result.skipped_patients:,} already loaded), "
            f"{result.resources:,} resources and {result.index_rows:,} index rows in "
            f"{result.seconds:.1f} s: {result.per_second:,.0f} resources/s"
            + (
                f" (indexes built at the end in {result.index_seconds:.1f} s)"
                if result.index_seconds
                else ""
            )
        )

    @record_app.command("import")
    def import_(
        folder: Path = typer.Argument(
            ..., exists=True, file_okay=False, help="Folder of a FHIR bulk export (NDJSON)"
        ),
        batch: int = typer.Option(200, min=1, help="Patients per transaction."),
    ) -> None:
        """Import a FHIR R4 bulk export (one .ndjson file or more per type): every resource is
        validated first, and nothing is stored if any is invalid; then each patient is stored
        whole. Types this server does not serve are skipped and counted."""
        from integrated_care.record.bulk import ImportRefused, import_folder

        console = _console()
        runtime = Runtime()
        with _progress(console) as bar:
            task = bar.add_task(f"importing {folder.name}", total=None, resources=0)
            done = {"resources": 0}

            def advance(resources: int) -> None:
                done["resources"] += resources
                bar.update(task, resources=done["resources"])

            try:
                result = import_folder(
                    runtime,
                    folder,
                    actor="ics record import",
                    patients_per_batch=batch,
                    progress=advance,
                )
            except ImportRefused as refused:
                for problem in refused.problems:
                    console.print(f"[red]{problem}[/]")
                console.print("nothing was imported")
                raise typer.Exit(1) from refused
        console.print(_counts_table(f"Imported from {folder}", dict(result.stored)))
        for name, count in sorted(result.skipped.items()):
            console.print(f"skipped {count:,} {name} (not served by this server)")
        console.print(
            f"{result.resources:,} resources for {result.patients:,} patients in "
            f"{result.seconds:.1f} s ({result.resources / max(result.seconds, 1e-9):,.0f}/s, "
            "validation included)"
        )
