"""`ics demo` builds the footprint, demo users, synthetic ICS, warehouse and population-health
marts once, then reuses them (the marts are rebuilt when the warehouse or code lists change)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from integrated_care.cli import app
from integrated_care.demo.build import STEPS, analysis_current
from integrated_care.health import codelists
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings


def _env(tmp_path) -> dict[str, str]:
    return {
        "ICS_DATA_DIR": str(tmp_path / "ics-data"),
        "ICS_DATABASE_URL": "",
        "ICS_CONFIG": str(tmp_path / "none.toml"),
    }


def test_demo_builds_then_reuses(tmp_path, monkeypatch) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--no-serve", "--population", "3000"], env=_env(tmp_path))
    assert first.exit_code == 0, first.output
    assert "done" in first.output and "Building the ICS footprint" in first.output
    assert "Building the population-health marts" in first.output
    state = json.loads((tmp_path / "ics-data" / "demo.json").read_text())
    assert state["icb"] == "QK1"
    assert state["steps_done"] == [name for name, _, _ in STEPS]
    first_steps = ["footprint", "users", "governance", "synth", "load", "analyse"]
    assert state["steps_done"][:6] == first_steps
    assert (tmp_path / "ics-data" / "warehouse.duckdb").exists()
    assert {u["username"] for u in state["users"]} >= {"admin", "gp", "caldicott", "finance"}
    assert state["password"] in first.output
    assert "http://127.0.0.1:8000/" in first.output
    # A year in progress in the finance ledger, and the contracts register, for every partner.
    with sqlite3.connect(tmp_path / "ics-data" / "ics.sqlite") as store:
        for table in ("finance_entry", "finance_control_total", "finance_contract"):
            assert store.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table

    second = runner.invoke(app, ["demo", "--no-serve", "--population", "3000"], env=_env(tmp_path))
    assert second.exit_code == 0, second.output
    assert second.output.count("reused") == len(STEPS) and "done " not in second.output
    assert (
        json.loads((tmp_path / "ics-data" / "demo.json").read_text())["password"]
        == (state["password"])
    )
    _check_marts_then_staleness(runner, tmp_path, monkeypatch)


def _marts(data: Path) -> dict[str, int]:
    with duckdb.connect(str(data / "marts.duckdb"), read_only=True) as con:
        names = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {n: con.sql(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def _registered_people(data: Path) -> int:
    """Alive and registered on the extract date, counted straight from the warehouse."""
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        day = con.sql("SELECT max(date) FROM gp_appointments").fetchone()[0]
        return con.sql(
            "SELECT count(DISTINCT r.patient_id) FROM registrations r JOIN patients p"
            " USING (patient_id) WHERE r.start_date <= $d AND (r.end_date IS NULL OR"
            " r.end_date > $d) AND (p.date_of_death IS NULL OR p.date_of_death > $d)",
            params={"d": day},
        ).fetchone()[0]


def _check_marts_then_staleness(runner, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "ics-data"
    marts = _marts(data)
    # Every registered person has a summary row, and the risk model scored them all.
    assert marts["patient_summary"] == _registered_people(data)
    assert {"registers", "segments", "risk", "model_evaluation", "inequalities"} <= set(marts)
    with duckdb.connect(str(data / "marts.duckdb"), read_only=True) as con:
        unscored = con.sql("SELECT count(*) FROM patient_summary WHERE risk_score IS NULL")
        assert unscored.fetchone()[0] == 0
    runtime = Runtime(Settings(data_dir=data))
    assert analysis_current(runtime)

    # Marts older than the warehouse (a new `ics load`) are stale: only that step is redone.
    earlier = (data / "warehouse.duckdb").stat().st_mtime - 10
    os.utime(data / "marts.duckdb", (earlier, earlier))
    assert not analysis_current(runtime)
    again = runner.invoke(app, ["demo", "--no-serve", "--population", "3000"], env=_env(tmp_path))
    assert again.exit_code == 0, again.output
    assert again.output.count("reused") == len(STEPS) - 1
    assert "done    Building the population-health marts" in again.output
    assert analysis_current(runtime)

    # So does a new version of a code list.
    versions = {**codelists.list_versions(), "snomed_conditions.csv": "2099.1"}
    monkeypatch.setattr(codelists, "list_versions", lambda: versions)
    assert not analysis_current(runtime)


def test_demo_users_can_sign_in(tmp_path) -> None:
    from integrated_care.accounts.services import authenticate

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
