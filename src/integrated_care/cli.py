"""The `ics` command. Each domain adds its own commands through a `register(app)` function."""

from __future__ import annotations

import typer

from integrated_care import __version__

app = typer.Typer(
    name="ics",
    help="integrated-care: the operating platform of an English Integrated Care System.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        is_eager=True,
        callback=_print_version,
    ),
) -> None:
    """integrated-care: the operating platform of an English Integrated Care System."""


def _register_domains() -> None:
    # Imported here so that `ics --help` lists every domain's commands in one place.
    from integrated_care.accounts import cli as accounts_cli
    from integrated_care.coordination import cli as referrals_cli
    from integrated_care.demo import cli as demo_cli
    from integrated_care.finance import cli as finance_cli
    from integrated_care.footprint import cli as footprint_cli
    from integrated_care.health import cli as health_cli
    from integrated_care.health import cohort_cli
    from integrated_care.oversight import cli as oversight_cli
    from integrated_care.record import cli as record_cli
    from integrated_care.synth import cli as synth_cli
    from integrated_care.warehouse import cli as warehouse_cli
    from integrated_care.web import cli as web_cli
    from integrated_care.workforce import cli as workforce_cli

    for module in (
        footprint_cli,
        synth_cli,
        warehouse_cli,
        health_cli,
        cohort_cli,
        oversight_cli,
        accounts_cli,
        finance_cli,
        record_cli,
        workforce_cli,
        referrals_cli,
        web_cli,
        demo_cli,
    ):
        module.register(app)


_register_domains()


def main() -> None:
    app()
