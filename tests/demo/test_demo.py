"""`ics demo` builds the footprint and demo users once, then reuses them."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from integrated_care.cli import app


def _env(tmp_path) -> dict[str, str]:
    return {
        "ICS_DATA_DIR": str(tmp_path / "ics-data"),
        "ICS_DATABASE_URL": "",
        "ICS_CONFIG": str(tmp_path / "none.toml"),
    }


def test_demo_builds_then_reuses(tmp_path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--no-serve", "--population", "3000"], env=_env(tmp_path))
    assert first.exit_code == 0, first.output
    assert "done" in first.output and "Building the ICS footprint" in first.output
    state = json.loads((tmp_path / "ics-data" / "demo.json").read_text())
    assert state["icb"] == "QK1"
    assert state["steps_done"] == ["footprint", "users", "synth", "load"]
    assert (tmp_path / "ics-data" / "warehouse.duckdb").exists()
    assert {u["username"] for u in state["users"]} >= {"admin", "gp", "caldicott", "finance"}
    assert state["password"] in first.output
    assert "http://127.0.0.1:8000/" in first.output

    second = runner.invoke(app, ["demo", "--no-serve", "--population", "3000"], env=_env(tmp_path))
    assert second.exit_code == 0, second.output
    assert second.output.count("reused") == 4 and "done " not in second.output
    assert (
        json.loads((tmp_path / "ics-data" / "demo.json").read_text())["password"]
        == (state["password"])
    )


def test_demo_users_can_sign_in(tmp_path) -> None:
    from integrated_care.accounts.services import authenticate
    from integrated_care.runtime import Runtime
    from integrated_care.settings import Settings

    result = CliRunner().invoke(
        app, ["demo", "--no-serve", "--population", "3000"], env=_env(tmp_path)
    )
    assert result.exit_code == 0, result.output
    state = json.loads((tmp_path / "ics-data" / "demo.json").read_text())
    runtime = Runtime(Settings(data_dir=tmp_path / "ics-data"))
    with runtime.transaction() as session:
        gp = authenticate(session, "gp", state["password"], "127.0.0.1")
    assert "clinician" in gp.roles
    assert gp.organisation_code == next(
        u["organisation_code"] for u in state["users"] if u["username"] == "gp"
    )


def test_unknown_icb_is_a_clear_error(tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--icb", "ZZZ", "--no-serve", "--population", "3000"], env=_env(tmp_path)
    )
    assert result.exit_code == 2
    assert "ZZZ" in result.output
