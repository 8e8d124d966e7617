"""`ics synth` as a command (registered on a bare Typer app, as the main CLI does)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from integrated_care.synth.cli import register


def test_synth_command_writes_an_ics_and_reports(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps Typer in multi-command mode
        """Unused."""

    out = tmp_path / "ics"
    result = CliRunner().invoke(
        app,
        ["synth", "--icb", "qk1", "--population", "3000", "--years", "1", "--seed", "3",
         "--out", str(out), "--quiet", "--report"],
        terminal_width=200,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "people/s" in result.output and "rows/s" in result.output
    assert "HYP" in result.output and "age band" in result.output and "A&E" in result.output
    assert (out / "patients.parquet").exists() and (out / "truth" / "parameters.json").exists()
