"""`ics cohort`: list, show, save, run and trace the history of case-finding cohorts."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from integrated_care.health.cohorts import CohortEntry, CohortError, parse_definition

cohort_app = typer.Typer(
    help="Case-finding cohorts: shipped examples and saved, versioned definitions.",
    no_args_is_help=True,
)
console = Console(highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(cohort_app, name="cohort")


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]", soft_wrap=True)
    return typer.Exit(1)


def _runtime():  # type: ignore[no-untyped-def]
    from integrated_care.runtime import Runtime

    return Runtime()


def _entry(name: str, version: str | None) -> CohortEntry:
    from integrated_care.health.cohort_store import find_cohort

    with _runtime().sessions() as session:
        return find_cohort(session, name, version)


@cohort_app.command("list")
def list_cohorts() -> None:
    """Every cohort: the shipped examples and the latest version of each saved one."""
    from integrated_care.health.cohort_store import all_cohorts

    with _runtime().sessions() as session:
        entries = all_cohorts(session)
    table = Table("name", "source", "version", "title")
    for e in entries:
        table.add_row(e.name, e.source, e.version, e.title)
    console.print(table)


@cohort_app.command("show")
def show(
    name: str,
    version: str = typer.Option(None, "--version", help="A saved cohort's version"),
) -> None:
    """A cohort's definition (JSON) and its criteria in words."""
    try:
        entry = _entry(name, version)
    except CohortError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"{entry.title} ({entry.source}, version {entry.version})")
    for criterion in entry.definition.criteria():
        console.print(f"  - {criterion}")
    typer.echo(json.dumps(entry.definition.canonical(), indent=1))


@cohort_app.command("save")
def save(
    file: Path = typer.Argument(..., help="A JSON cohort definition"),
    note: str = typer.Option(None, "--note", help="Why this version"),
    actor: str = typer.Option(None, "--as", help="Who is saving it (recorded and audited)"),
) -> None:
    """Save a cohort definition: a new cohort, or a new version if the definition changed."""
    from integrated_care.health.cohort_store import save_cohort

    try:
        definition = parse_definition(json.loads(file.read_text()))
        with _runtime().transaction() as session:
            result = save_cohort(session, definition, actor=actor, note=note)
    except (OSError, json.JSONDecodeError) as exc:
        raise _fail(f"{file}: {exc}") from exc
    except CohortError as exc:
        raise _fail(f"{file}: {exc}") from exc
    if result.created:
        console.print(f"saved {result.name} version {result.version}")
    else:
        console.print(f"{result.name} unchanged: still version {result.version}")


@cohort_app.command("history")
def history(name: str) -> None:
    """Every saved version of a cohort: who saved it, when, and what changed."""
    from integrated_care.health.cohort_store import cohort_history, find_cohort

    with _runtime().sessions() as session:
        try:
            entry = find_cohort(session, name)
        except CohortError as exc:
            raise _fail(str(exc)) from exc
        versions = [entry] if entry.source == "shipped" else cohort_history(session, name)
    table = Table("version", "saved", "by", "title", "criteria")
    for v in versions:
        table.add_row(
            v.version,
            v.created_at or "shipped",
            v.created_by or "",
            v.title,
            "; ".join(v.definition.criteria()),
        )
    console.print(table)


@cohort_app.command("run")
def run(
    name: str,
    by: str = typer.Option("practice", "--by", help="Count by practice or pcn"),
    members: int = typer.Option(
        0, "--members", help="Also show the first N members (pseudonymous; audited)"
    ),
    version: str = typer.Option(None, "--version", help="A saved cohort's version"),
) -> None:
    """Count a cohort on the latest marts, by practice or PCN, and optionally list members."""
    from integrated_care.accounts.audit import record_event
    from integrated_care.health.cohort_query import (
        cohort_counts,
        materialised_members,
        member_page,
        open_sources,
    )
    from integrated_care.health.cohort_store import CLI_ACTOR, find_cohort
    from integrated_care.health.marts import MartsNotBuilt

    if by not in ("practice", "pcn"):
        raise _fail(f"--by: {by!r} is not one of practice, pcn")
    runtime = _runtime()
    try:
        with runtime.sessions() as session:
            entry = find_cohort(session, name, version)
        with open_sources(runtime.settings) as sources:
            found = materialised_members(entry.definition, sources)
            counts = cohort_counts(entry.definition, sources, found)
            rows = (
                member_page(entry.definition, sources, limit=members, found=found)
                if members > 0
                else []
            )
    except (CohortError, MartsNotBuilt, ValueError) as exc:
        raise _fail(str(exc)) from exc
    console.print(
        f"{entry.title} ({entry.source}, version {entry.version}), as of {counts.as_of}: "
        f"{counts.members:,} of {counts.population:,} registered "
        f"({counts.rate_per_1000} per 1,000)"
    )
    areas = counts.by_practice if by == "practice" else counts.by_pcn
    table = Table(by, "members", "list size", "per 1,000")
    if by == "practice":
        table.add_column("pcn")
    for a in areas:
        cells = [a.code, f"{a.members:,}", f"{a.list_size:,}", f"{a.rate_per_1000}"]
        table.add_row(*cells, *([a.pcn_code or ""] if by == "practice" else []))
    console.print(table)
    if rows:
        with runtime.transaction() as session:
            record_event(
                session,
                actor=CLI_ACTOR,
                action="cohort.members.read",
                outcome="success",
                record_type="Cohort",
                record_id=entry.name,
                detail={"version": entry.version, "rows": len(rows), "via": "ics cohort run"},
            )
        # Tab-separated, so the list can be piped into other tools.
        typer.echo("\t".join(rows[0]))
        for r in rows:
            typer.echo("\t".join("" if v is None else str(v) for v in r.values()))
