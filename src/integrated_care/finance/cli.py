"""`ics finance`: load a finance extract, show the system position, write and send returns."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from integrated_care.runtime import Runtime

console = Console(soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def import_extract_command(
    folder: Path = typer.Argument(
        ...,
        help="Input-layer folder with finance_ledger.parquet and "
        "finance_control_totals.parquet (e.g. DATA_DIR/extract)",
    ),
    year: str | None = typer.Option(
        None, "--year", help='Financial year, e.g. "2025/26" (default: the extract\'s latest)'
    ),
    month: int | None = typer.Option(
        None,
        "--as-at-month",
        min=0,
        max=12,
        help="Load actuals to this month (default: the month the forecast was made)",
    ),
) -> None:
    """Load the finance extract into the ledger as a year in progress (repeatable: a second load
    changes nothing)."""
    from integrated_care.finance.extract import import_extract

    try:
        with Runtime().transaction() as session:
            report = import_extract(session, folder, year, month)
    except (FileNotFoundError, ValueError) as e:
        raise _fail(str(e)) from e
    console.print(
        f"{report.financial_year} as at month {report.as_at_month}: {report.organisations} "
        f"organisations, {report.plans_created} plans, {report.control_totals_set} control "
        f"totals, {report.entries_added:,} ledger entries ({report.later_actuals_left_out:,} "
        "later actuals left out)"
    )
    if report.unknown_organisations:
        console.print(f"not in the footprint, left out: {', '.join(report.unknown_organisations)}")


def position_command(
    year: str | None = typer.Option(None, "--year", help="Financial year (default: the latest)"),
    month: int | None = typer.Option(None, "--month", min=0, max=12, help="Position at month"),
    limit: int = typer.Option(20, "--limit", help="Organisations to list, furthest off first"),
) -> None:
    """The system position and the organisations furthest from their control totals."""
    from integrated_care.finance import services
    from integrated_care.finance.services import pounds

    with Runtime().sessions() as session:
        year = year or services.current_year(session)
        if year is None:
            raise _fail("no finance figures have been entered yet")
        view = services.system_view(session, year, month)
        names = services.organisation_names(session)
    s = view.system
    console.print(
        f"[bold]{year}, month {view.as_at_month}[/]: {s.organisations} organisations. Plan "
        f"{pounds(s.plan_full_year)}, forecast outturn {pounds(s.forecast_outturn)}, control "
        f"total {pounds(s.control_total)} (the sum of the organisations'). System breaks even: "
        f"{'yes' if s.breaks_even else 'no'}; meets its control total: "
        f"{'yes' if s.meets_control_total else 'no'}."
    )
    table = Table(
        "Organisation",
        "Plan",
        "Forecast outturn",
        "Control total",
        "Against control total",
        "Breaks even",
    )
    ranked = sorted(view.organisations, key=lambda p: p.variance_to_control_total or 0)
    for p in ranked[:limit]:
        table.add_row(
            names.get(p.org_code or "", p.org_code),
            pounds(p.plan_full_year),
            pounds(p.forecast_outturn),
            pounds(p.control_total),
            pounds(p.variance_to_control_total),
            "yes" if p.breaks_even else "no",
        )
    console.print(table)


def template_command(
    org: str = typer.Argument(..., help="ODS code of the organisation"),
    year: str = typer.Option(..., "--year", help='Financial year, e.g. "2026/27"'),
    month: int = typer.Option(..., "--month", min=1, max=12, help="The return's month"),
    out: Path = typer.Option(..., "--out", help="Where to write the workbook (.xlsx)"),
) -> None:
    """Write an organisation's monthly return workbook, filled with the figures held."""
    from integrated_care.finance import ledger, returns

    with Runtime().sessions() as session:
        if ledger.unknown_organisations(session, [org]):
            raise _fail(f"{org} is not an organisation of this ICS")
        out.write_bytes(returns.template(session, org, year, month))
    console.print(f"wrote {out}")


def send_command(
    org: str = typer.Argument(..., help="ODS code of the organisation the return is for"),
    file: Path = typer.Argument(..., help="The return: .xlsx, .csv or .json"),
    username: str = typer.Option(
        ...,
        "--as",
        help="The finance user sending it (must be allowed to enter figures for the organisation)",
    ),
) -> None:
    """Send a monthly return: every cell checked, all stored or none (audited)."""
    from integrated_care.accounts import services as accounts
    from integrated_care.accounts.audit import record_event
    from integrated_care.accounts.policy import Resource, decide
    from integrated_care.finance import returns
    from integrated_care.finance.ledger import By

    fmt = file.suffix.lower().lstrip(".")
    if fmt not in returns.READERS:
        raise _fail(f"send a .xlsx, .csv or .json file, not {file.name}")
    content = file.read_bytes()
    runtime = Runtime()
    with runtime.transaction() as session:
        user = accounts.get_user(session, username)
        if user is None or not user.active:
            raise _fail(f"there is no active user {username}")
        principal = accounts.principal_for_user(session, user)
        decision = decide(
            principal, "finance:write", resource=Resource("finance_return", organisation_code=org)
        )
        if not decision.allowed:
            raise _fail(decision.reason)
        try:
            stored = returns.store(
                session,
                returns.read(fmt, content),
                org,
                By.of(principal),
                fmt=fmt,
                content=content,
                filename=file.name,
            )
        except returns.ReturnRejected as rejected:
            for p in rejected.problems:
                console.print(
                    f"{p.sheet}!{p.cell}: {p.reason}" + (f" ({p.value!r})" if p.value else "")
                )
            raise _fail(f"the return was not stored: {len(rejected.problems)} problem(s)") from None
        record_event(
            session,
            actor=principal.username,
            organisation=principal.organisation_code,
            action="finance.return.store",
            outcome="success",
            record_type="finance_return",
            record_id=stored.id,
            detail={
                "org_code": org,
                "format": fmt,
                "via": "cli",
                "entries_added": stored.entries_added,
            },
        )
    console.print(
        f"stored: {stored.cells} figures, {stored.entries_added} new or changed, "
        f"{stored.unchanged} as held"
    )


def import_contracts_command(
    folder: Path = typer.Argument(
        ..., help="Input-layer folder with contracts.parquet (e.g. DATA_DIR/extract)"
    ),
) -> None:
    """Load the input layer's contracts into the contracts register (repeatable)."""
    from integrated_care.finance.contracts import ContractError, import_contracts

    try:
        with Runtime().transaction() as session:
            report = import_contracts(session, folder)
    except (FileNotFoundError, ContractError) as e:
        raise _fail(str(e)) from e
    console.print(
        f"contracts: {report.added} added, {report.updated} updated, {report.unchanged} unchanged"
    )
    for problem in report.problems:
        console.print(problem)


def register(app: typer.Typer) -> None:
    finance = typer.Typer(
        help="System finance: the ledger, returns, positions.", no_args_is_help=True
    )
    finance.command("import-extract")(import_extract_command)
    finance.command("position")(position_command)
    finance.command("template")(template_command)
    finance.command("send")(send_command)
    finance.command("import-contracts")(import_contracts_command)
    app.add_typer(finance, name="finance")
