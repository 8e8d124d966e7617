"""The `ics` commands, through typer's CliRunner on a fresh app."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pytest
import typer
from typer.testing import CliRunner

from integrated_care.warehouse.cli import DEFAULT_SHOWN, register
from integrated_care.warehouse.docs import render
from tests.warehouse.fixture import valid_tables, write_folder

DOC = Path(__file__).resolve().parents[2] / "docs" / "input-layer.md"


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A fresh `ics` for the warehouse commands."""

    register(app)
    return app


@pytest.fixture
def broken_folder(tmp_path: Path) -> Path:
    tables = valid_tables()
    template = tables["gp_events"][0]
    # more broken rows than the display shows, so the cap and --all are both exercised
    tables["gp_events"] = [dict(template, snomed_code=f"x{i}") for i in range(DEFAULT_SHOWN + 5)]
    return write_folder(tmp_path / "broken", tables)


runner = CliRunner(env={"COLUMNS": "200"})


def test_check_valid_folder_exits_zero(app: typer.Typer, valid_folder: Path) -> None:
    result = runner.invoke(app, ["check", str(valid_folder)])
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_check_broken_folder_exits_one_and_names_rows(
    app: typer.Typer, broken_folder: Path, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["check", str(broken_folder)])
    assert result.exit_code == 1
    assert "gp_events.parquet" in result.output and "not a valid SNOMED CT code" in result.output
    assert f"showing {DEFAULT_SHOWN} of {DEFAULT_SHOWN + 5} problems" in result.output

    out = tmp_path / "problems.csv"
    result = runner.invoke(app, ["check", str(broken_folder), "--all", "--output", str(out)])
    assert result.exit_code == 1
    assert "showing" not in result.output
    written = pacsv.read_csv(out).to_pylist()
    assert len(written) == DEFAULT_SHOWN + 5
    assert written[0] | {"value": None} == {
        "severity": "error", "table": "gp_events", "file": "gp_events.parquet", "row": 1,
        "column": "snomed_code", "value": None, "reason": "not a valid SNOMED CT code",
    }  # fmt: skip


def test_check_missing_folder_is_a_usage_error(app: typer.Typer, tmp_path: Path) -> None:
    assert runner.invoke(app, ["check", str(tmp_path / "nowhere")]).exit_code == 2


def test_load_and_refuse(
    app: typer.Typer, valid_folder: Path, broken_folder: Path, warehouse_url: str
) -> None:
    result = runner.invoke(app, ["load", str(valid_folder), "--warehouse", warehouse_url])
    assert result.exit_code == 0, result.output
    assert "withheld" in result.output
    path = Path(warehouse_url.removeprefix("duckdb:///"))
    before = path.read_bytes()

    result = runner.invoke(app, ["load", str(broken_folder), "--warehouse", warehouse_url])
    assert result.exit_code == 1
    assert "the warehouse is unchanged" in result.output
    assert path.read_bytes() == before

    result = runner.invoke(app, ["load", str(valid_folder), "--warehouse", "postgresql://x/y"])
    assert result.exit_code == 2


def test_committed_doc_matches_the_schema() -> None:
    assert DOC.read_text() == render(), "run `ics input-layer docs` to regenerate"


def test_docs_command_writes_and_checks(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "input-layer.md"
    assert runner.invoke(app, ["input-layer", "docs", "--check", "-o", str(out)]).exit_code == 1
    assert runner.invoke(app, ["input-layer", "docs", "-o", str(out)]).exit_code == 0
    assert runner.invoke(app, ["input-layer", "docs", "--check", "-o", str(out)]).exit_code == 0
    assert out.read_text() == render()
