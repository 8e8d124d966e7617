"""`ics user`, `ics token` and `ics audit`: accounts and the audit log from the command line."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from integrated_care.accounts import services
from integrated_care.accounts.audit import AuditFilter, record_event, search_events, verify_chain
from integrated_care.accounts.policy import role_names, roles_markdown
from integrated_care.runtime import Runtime

console = Console(soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def user_add(
    username: str = typer.Argument(..., help="Sign-in name: lower-case letters, digits, . _ @ -"),
    role: list[str] = typer.Option(
        ..., "--role", help=f"A role (repeat for several): {', '.join(role_names())}"
    ),
    org: str = typer.Option(..., "--org", help="ODS code of the organisation the user acts for"),
    display_name: str | None = typer.Option(
        None, "--display-name", help="Full name shown in pages"
    ),
    password: str | None = typer.Option(
        None, "--password", help="Password (12+ characters); asked for, hidden, if not given"
    ),
) -> None:
    """Create a user account (audited as user.create)."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with Runtime().transaction() as session:
            user = services.create_user(session, username, password, role, org, display_name)
            roles = ", ".join(user.role_names)
            summary = f"{user.username} ({roles}) acting for {user.organisation_code}"
    except services.AccountError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"created user {summary}")


def user_list() -> None:
    """List every user account with roles and organisation."""
    with Runtime().transaction() as session:
        users = services.list_users(session)
        table = Table("username", "name", "organisation", "roles", "active")
        for u in users:
            table.add_row(
                u.username,
                u.display_name,
                u.organisation_code,
                ", ".join(u.role_names),
                "yes" if u.active else "no",
            )
    console.print(table)


def user_deactivate(
    username: str = typer.Argument(..., help="The account to deactivate"),
) -> None:
    """Deactivate an account (a leaver): it can no longer sign in, and its sessions and API
    tokens stop working at once."""
    _set_active(username, False)


def user_activate(username: str = typer.Argument(..., help="The account to reactivate")) -> None:
    """Reactivate a deactivated account."""
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    try:
        with Runtime().transaction() as session:
            services.set_active(session, username, active)
    except services.AccountError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"{username} is now {'active' if active else 'deactivated'}")


def user_roles() -> None:
    """Print the roles and what each may do (Markdown, from roles.json)."""
    typer.echo(roles_markdown())


def token_create(
    user: str = typer.Option(..., "--user", help="Username the token acts as"),
    scope: list[str] = typer.Option(
        ..., "--scope", help="A permission, e.g. footprint:read (repeat for several)"
    ),
    days: int = typer.Option(90, "--days", help="Days until the token expires (1-366)"),
    name: str | None = typer.Option(None, "--name", help="What the token is for"),
) -> None:
    """Create an API bearer token and print it (it is shown only this once)."""
    try:
        with Runtime().transaction() as session:
            token = services.create_token(session, user, scope, days=days, name=name)
    except services.AccountError as exc:
        raise _fail(str(exc)) from exc
    console.print(
        f"API token for {user} (scopes: {', '.join(sorted(set(scope)))}; {days} days):",
        highlight=False,
    )
    typer.echo(token)


def audit_verify() -> None:
    """Check the audit log's hash chain; exit 1 naming the first bad row if it is broken."""
    with Runtime().transaction() as session:
        report = verify_chain(session)
        record_event(
            session,
            actor=services.CLI_ACTOR,
            action="audit.verify",
            outcome="success" if report.ok else "failure",
            record_type="AuditEvent",
            detail=asdict(report),
        )
    if report.ok:
        console.print(
            f"audit log intact: {report.rows_checked} rows checked; head hash {report.head_hash}",
            highlight=False,
        )
        return
    console.print(
        f"[bold red]audit log BROKEN at row {report.first_bad_id}:[/] {report.problem} "
        f"({report.rows_checked} rows before it are intact)",
        highlight=False,
    )
    raise typer.Exit(code=1)


def audit_show(
    limit: int = typer.Option(20, "--limit", help="How many of the newest events to show"),
    actor: str | None = typer.Option(None, "--actor", help="Only this username's events"),
    action: str | None = typer.Option(None, "--action", help="Only this action, e.g. sign-in"),
) -> None:
    """Show the newest audit events."""
    with Runtime().transaction() as session:
        events, total = search_events(session, AuditFilter(actor=actor, action=action), limit=limit)
        table = Table(
            "#",
            "when (UTC)",
            "who",
            "for",
            "action",
            "record",
            "outcome",
            "detail",
            title=f"{len(events)} of {total} audit events",
        )
        for e in events:
            table.add_row(
                str(e.id),
                f"{e.occurred_at:%Y-%m-%d %H:%M:%S}",
                e.actor,
                e.actor_organisation or "",
                e.action,
                " ".join(filter(None, [e.record_type, e.record_id])),
                e.outcome,
                json.dumps(e.detail) if e.detail else "",
            )
    console.print(table)


def register(app: typer.Typer) -> None:
    user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
    user_app.command("add")(user_add)
    user_app.command("list")(user_list)
    user_app.command("roles")(user_roles)
    user_app.command("deactivate")(user_deactivate)
    user_app.command("activate")(user_activate)
    token_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)
    token_app.command("create")(token_create)
    audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
    audit_app.command("verify")(audit_verify)
    audit_app.command("show")(audit_show)
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(audit_app, name="audit")
