"""`ics oversight build` over the hand-made warehouse: the stored mart is the computed one."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import typer
from typer.testing import CliRunner

from integrated_care.oversight import cli
from integrated_care.oversight.marts import oversight_current
from tests.oversight.handmade import load_oversight_ics


def _app() -> typer.Typer:
    app = typer.Typer()
    cli.register(app)
    app.command("noop")(lambda: None)
    return app


def test_build_stores_the_mart_in_duckdb_and_parquet(tmp_path: Path) -> None:
    settings = load_oversight_ics(tmp_path)
    env = {"ICS_DATA_DIR": str(settings.data_dir)}
    for _ in range(2):  # a rebuild replaces the file whole
        result = CliRunner().invoke(
            _app(), ["oversight", "build", "--as-of", "2026-03-31"], env=env
        )
        assert result.exit_code == 0, result.output
    data = settings.data_dir
    assert not list(data.glob(".oversight.duckdb.*"))
    with duckdb.connect(str(data / "oversight.duckdb"), read_only=True) as con:
        stored = con.sql(
            "select measure, level, code, month, numerator, denominator from oversight_standards"
        ).fetchall()
        columns = [c[0] for c in con.sql("describe oversight_standards").fetchall()]
    assert columns == [
        "measure", "level", "code", "month", "numerator", "denominator", "value", "standard",
        "target",
    ]  # fmt: skip
    parquet = pq.read_table(data / "oversight" / "oversight_standards.parquet")
    assert parquet.num_rows == len(stored) > 0
    assert ("ae_4hr_all", "provider", "RWE", parquet.column("month")[0].as_py()) in {
        r[:4] for r in stored
    }
    manifest = data / "oversight" / "manifest.json"
    assert '"as_of": "2026-03-31"' in manifest.read_text()
    assert oversight_current(settings)
    manifest.write_text(manifest.read_text().replace('"standards_version"', '"older"'))
    assert not oversight_current(settings)  # the demo rebuilds after a standards file change


def test_build_without_a_warehouse_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(), ["oversight", "build"], env={"ICS_DATA_DIR": str(tmp_path / "empty")}
    )
    assert result.exit_code == 1
    assert "ics load" in result.output
