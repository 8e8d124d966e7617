"""`ics referrals ...`: load the service directory from its data file, list it, and list the
referrals waiting beyond their target for an organisation's services."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import or_, select

from integrated_care.coordination import directory
from integrated_care.coordination import referral_waits as rw
from integrated_care.coordination.referral_models import Referral
from integrated_care.runtime import Runtime

CLI_ACTOR = "ics-cli"


def directory_command(
    load: bool = typer.Option(False, "--load", help="First add the data file's services"),
    org: str | None = typer.Option(None, help="Only this organisation's services (ODS code)"),
) -> None:
    """List the service directory (after loading the data file's services with --load)."""
    runtime = Runtime()
    with runtime.transaction() as session:
        if load:
            report = directory.load_directory(session, actor=CLI_ACTOR)
            typer.echo(
                f"services.json {report.version}: {report.added} added, "
                f"{report.unchanged} already there"
            )
        table = Table("id", "organisation", "service", "kind", "target (days)", "accepting")
        for s in directory.list_services(session, org_code=org):
            table.add_row(
                str(s.id),
                s.org_code,
                s.name,
                directory.KIND_LABELS[s.kind],
                str(s.wait_target_days),
                "yes" if s.accepting else "no",
            )
    Console().print(table)


def breaches_command(
    org: str = typer.Argument(..., help="ODS code: referrals to or from this organisation"),
) -> None:
    """Referrals to or from an organisation that waited (or are waiting) beyond their target."""
    runtime = Runtime()
    today = datetime.now(UTC).date()
    with runtime.sessions() as session:
        rows = list(
            session.scalars(
                select(Referral).where(
                    or_(Referral.to_org_code == org, Referral.from_org_code == org)
                )
            )
        )
        found = rw.breaches(rw.waits(session, rows, today))
        by_id = {r.id: r for r in rows}
        table = Table("referral", "from", "to", "urgency", "days", "target", "still waiting")
        for w in found:
            r = by_id[w.referral_id]
            table.add_row(
                str(r.id),
                r.from_org_code,
                r.to_org_code,
                r.urgency,
                str(w.days),
                str(w.target_days),
                "yes" if w.waiting else "no",
            )
    Console().print(table)
    typer.echo(f"{len(found)} of {len(rows)} referrals beyond their target as of {today}")


def register(app: typer.Typer) -> None:
    referrals = typer.Typer(
        help="Referrals: the service directory and waiting times.", no_args_is_help=True
    )
    referrals.command("directory")(directory_command)
    referrals.command("breaches")(breaches_command)
    app.add_typer(referrals, name="referrals")
