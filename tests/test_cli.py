"""Every `ics` command, and every sub-command, answers --help."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from integrated_care.cli import app


def _command_paths(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    # Typer vendors its own click, so look for sub-commands rather than a click.Group type.
    for name, sub in getattr(group, "commands", {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


def test_every_command_has_help() -> None:
    root = typer.main.get_command(app)
    paths = _command_paths(root)
    names = {p[0] for p in paths if p}
    assert {"serve", "demo", "footprint", "user", "token", "audit", "db"} <= names
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_version() -> None:
    from integrated_care import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
