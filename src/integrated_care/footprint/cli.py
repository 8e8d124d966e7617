"""`ics footprint`: build the footprint of any of England's 42 ICBs, list them, validate it."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from integrated_care.footprint.reference_build import UnknownICB, list_icbs
from integrated_care.footprint.schemas import SECTOR_LABELS, BuildSummary, Finding

console = Console()


def _findings_table(findings: list[Finding]) -> Table:
    table = Table(title="Validation findings", title_justify="left")
    for heading in ("Severity", "Rule", "Finding"):
        table.add_column(heading, overflow="fold")
    for f in findings:
        colour = "red" if f.severity == "error" else "yellow"
        table.add_row(f"[{colour}]{f.severity}[/]", f.rule, f.message)
    return table


def _summary_table(s: BuildSummary) -> Table:
    table = Table(title=f"{s.name} ({s.icb_code})", title_justify="left")
    table.add_column("Figure")
    table.add_column("Count", justify="right")
    table.add_row(f"Population (ONS mid-{s.population_year})", f"{s.population:,}")
    table.add_row("Places", str(s.places))
    table.add_row("Primary care networks", str(s.pcns))
    table.add_row("GP practices", str(s.practices))
    table.add_row("  of which without a published list size", str(s.practices_without_list_size))
    table.add_row("Registered patients (April 2020 lists)", f"{s.registered_patients:,}")
    table.add_row("LSOAs", str(s.lsoas))
    table.add_row("Organisations", str(s.organisations))
    for sector, n in s.organisations_by_sector.items():
        table.add_row(f"  {SECTOR_LABELS[sector]}", str(n))
    return table


def _report(findings: list[Finding]) -> None:
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    if findings:
        console.print(_findings_table(findings))
    console.print(f"Validation: {errors} error(s), {warnings} warning(s).")
    if errors:
        raise typer.Exit(1)


def footprint(
    icb: str = typer.Option(None, "--icb", help="ODS code of the ICB, e.g. QE1 (see --list)."),
    replace: bool = typer.Option(
        False, "--replace", help="Replace a footprint of a different ICB already in the store."
    ),
    list_codes: bool = typer.Option(False, "--list", help="List the 42 ICB codes and exit."),
) -> None:
    """Build the footprint of an ICB into the operational store, then validate it."""
    if list_codes:
        table = Table(title="England's 42 integrated care boards", title_justify="left")
        table.add_column("Code")
        table.add_column("Name")
        for code, name in list_icbs():
            table.add_row(code, name)
        console.print(table)
        return
    if not icb:
        console.print("Give an ICB code with --icb CODE (ics footprint --list shows them).")
        raise typer.Exit(2)

    from integrated_care.footprint.services import (
        BUILD_STEPS,
        FootprintExists,
        build_footprint,
        validate_footprint,
    )
    from integrated_care.runtime import Runtime

    runtime = Runtime()
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("Opening the store", total=len(BUILD_STEPS))

            def step(description: str) -> None:
                bar.update(task, description=description, completed=BUILD_STEPS.index(description))

            with runtime.transaction() as session:
                summary = build_footprint(session, icb, replace=replace, progress=step)
                bar.update(task, description="Validating", completed=len(BUILD_STEPS))
                findings = validate_footprint(session)
    except UnknownICB as exc:
        console.print(f"[red]Unknown ICB code[/] {exc.code!r}. Valid codes: {', '.join(exc.valid)}")
        raise typer.Exit(2) from None
    except FootprintExists as exc:
        console.print(f"[red]Not built:[/] {exc}")
        raise typer.Exit(2) from None
    if summary.replaced:
        console.print(f"Replaced the footprint of {summary.replaced}.")
    console.print(_summary_table(summary))
    console.print(f"Stored in {runtime.settings.database_url}")
    _report(findings)


def footprint_validate() -> None:
    """Re-run the footprint's validation rules on the store and list every finding."""
    from integrated_care.footprint.services import validate_footprint
    from integrated_care.runtime import Runtime

    with Runtime().sessions() as session:
        findings = validate_footprint(session)
    _report(findings)


FOOTPRINT_HELP = (
    "Build the footprint of one of England's 42 ICBs into the operational store, then validate "
    "it. Places, PCNs, practices, LSOAs and NHS trusts are real (public ONS / NHS Digital data); "
    "a council per local authority and a few made-up voluntary and independent partners are "
    "added. Exits 1 if validation finds an error, 2 for an unknown ICB code or when the store "
    "holds another ICB (use --replace)."
)
VALIDATE_HELP = (
    "Re-run the footprint's validation rules on the store and list every finding: a PCN without "
    "a clinical director or outside 30-50k patients, an ICS outside 1-3 million people, an "
    "organisation whose parent is missing, and more. Exits 1 if there is an error."
)


def register(app: typer.Typer) -> None:
    app.command("footprint", help=FOOTPRINT_HELP)(footprint)
    app.command("footprint-validate", help=VALIDATE_HELP)(footprint_validate)
