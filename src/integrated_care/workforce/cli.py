"""`ics workforce ...`: load the workforce plan, apply default checklists, check a passport
against a role, end movements whose end date has passed, and load the demo workforce."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from integrated_care.runtime import Runtime
from integrated_care.workforce import demo, movement, passport, plan
from integrated_care.workforce.common import Actor, WorkforceError

CLI = Actor("ics-cli")


def _extract(folder: Path | None, runtime: Runtime) -> Path:
    return folder or runtime.settings.ensure_data_dir() / "extract"


def load_command(
    folder: Path | None = typer.Argument(
        None, help="Folder holding staff and workforce_plan (default: DATA_DIR/extract)"
    ),
) -> None:
    """Load the workforce plan from the input layer's staff and workforce_plan extracts."""
    runtime = Runtime()
    source = _extract(folder, runtime)
    if not plan.has_extract(source):
        typer.echo(f"{source} has no staff and workforce_plan extracts", err=True)
        raise typer.Exit(2)
    with runtime.transaction() as session:
        report = plan.load_extract(session, source, CLI)
    typer.echo(
        f"{report.rows} plan rows for {report.organisations} organisations over "
        f"{report.months} months; {report.new_role_rows} new-role rows"
        + (
            f"; left out (not in the footprint): {', '.join(report.unknown_organisations)}"
            if report.unknown_organisations
            else ""
        )
    )


def checklists_command(
    org: list[str] = typer.Option(..., "--org", help="ODS code (repeatable)"),
) -> None:
    """Give organisations the default role checklists (data/checklists.json)."""
    try:
        with Runtime().transaction() as session:
            lines = passport.apply_default_checklists(session, CLI, org)
    except WorkforceError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{lines} checklist lines at {len(org)} organisations")


def check_command(
    staff_id: int = typer.Argument(..., help="The member of staff"),
    org: str = typer.Option(..., "--org", help="ODS code of the organisation"),
    role: str = typer.Option(..., "--role", help="The role there"),
    within_days: int = typer.Option(30, "--within-days", help="Warn of expiry within this"),
) -> None:
    """What a passport lacks (and what expires soon) for a role at an organisation."""
    with Runtime().sessions() as session:
        try:
            a = passport.assess(
                session, staff_id, org, role, as_of=date.today(), within_days=within_days
            )
        except WorkforceError as e:
            typer.echo(str(e), err=True)
            raise typer.Exit(2) from None
    table = Table(title=f"Staff {staff_id}: {role} at {org}")
    table.add_column("Requirement")
    table.add_column("Problem")
    for g in a.missing + a.expiring:
        table.add_row(g.need.label, g.text)
    Console().print(table)
    typer.echo("meets the checklist" if a.ok else f"missing {len(a.missing)}")
    if not a.ok:
        raise typer.Exit(1)


def revoke_command() -> None:
    """End every active movement whose end date has passed (run daily)."""
    with Runtime().transaction() as session:
        ended = movement.revoke_expired(session, datetime.now(UTC), CLI)
    typer.echo(f"ended {len(ended)} movements" + (f": {ended}" if ended else ""))


def demo_command(
    folder: Path | None = typer.Option(
        None, "--extract", help="Extract folder (default: DATA_DIR/extract, if it has one)"
    ),
) -> None:
    """Load the demo workforce: checklists, passports, movements and the plan."""
    runtime = Runtime()
    with runtime.transaction() as session:
        typer.echo(demo.load_demo(session, _extract(folder, runtime)))


def register(app: typer.Typer) -> None:
    workforce = typer.Typer(
        help="Workforce: staff passports, movements, the workforce plan.", no_args_is_help=True
    )
    workforce.command("load")(load_command)
    workforce.command("checklists")(checklists_command)
    workforce.command("check")(check_command)
    workforce.command("revoke-expired")(revoke_command)
    workforce.command("demo")(demo_command)
    app.add_typer(workforce, name="workforce")
