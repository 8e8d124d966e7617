"""`ics workforce ...` through typer's CliRunner against a real store holding the footprint."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from integrated_care.footprint.services import list_organisations
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from integrated_care.workforce.cli import register

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def app(footprint_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("ICS_DATABASE_URL", footprint_db_url)
    monkeypatch.setenv("ICS_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A fresh `ics` for the workforce commands."""

    register(app)
    return app


def test_demo_check_and_revoke(app: typer.Typer, footprint_db_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["workforce", "demo"])
    assert result.exit_code == 0, result.output
    assert "4 passports" in result.output and "generated plan" in result.output
    runtime = Runtime(Settings(data_dir=tmp_path / "data", database_url=footprint_db_url))
    with runtime.sessions() as s:
        acute = sorted(o.org_code for o in list_organisations(s) if o.org_type == "acute_trust")[0]
    # staff 2 is the demo physiotherapist without a DBS check
    result = runner.invoke(
        app, ["workforce", "check", "2", "--org", acute, "--role", "Physiotherapist"]
    )
    assert result.exit_code == 1, result.output
    assert "none recorded" in result.output
    result = runner.invoke(app, ["workforce", "revoke-expired"])
    assert result.exit_code == 0 and "ended 0 movements" in result.output
    result = runner.invoke(app, ["workforce", "load", str(tmp_path / "nothing")])
    assert result.exit_code == 2
