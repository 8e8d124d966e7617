"""The `ics analyse` pipeline end to end: on a small synthetic ICS (marts, Parquet, the marts
store, register prevalence against QOF) and through the command on the hand-made population."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import ibis
import pyarrow.parquet as pq
import pytest
import typer
from ibis import _
from typer.testing import CliRunner

from integrated_care.health import cli
from integrated_care.health.pipeline import (
    MartStep,
    default_as_of,
    run_pipeline,
    store_marts,
)
from integrated_care.settings import Settings
from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.warehouse.connection import connect
from integrated_care.warehouse.load import load
from tests.health.handmade import shared_warehouse

BIG_GROUPS = ("HYP", "DEP", "DM", "AST", "OB", "CKD")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ibis.BaseBackend, Path]]:
    root = tmp_path_factory.mktemp("pipeline")
    generate(
        SynthConfig(icb="QK1", out=root / "extract", population=5000, years=2, seed=5),
        show_progress=False,
    )
    settings = Settings(data_dir=root / "ics-data")
    load(root / "extract", settings)
    backend = connect(settings, read_only=True)
    yield backend, root
    backend.disconnect()


def _risk(con: ibis.BaseBackend, as_of: dt.date, summary: ibis.Table) -> ibis.Table:
    return summary.select(
        "patient_id",
        risk_score=summary.age.cast("float64") / 100.0,
        risk_band=ibis.ifelse(summary.age >= 80, "top", "rest"),
    )


def test_pipeline_on_a_synthetic_ics(synthetic: tuple[ibis.BaseBackend, Path]) -> None:
    con, root = synthetic
    as_of = default_as_of(con)
    out = root / "marts"
    extra = MartStep(
        "practice_sizes",
        lambda con, as_of, marts: (
            marts["patient_summary"]
            .group_by("practice_code")
            .aggregate(n=_.count())
            .order_by("practice_code")
        ),
    )
    marts = run_pipeline(con, as_of, out, progress=False, risk=_risk, extra=[extra])
    assert list(marts) == ["registers", "patient_summary", "segments", "practice_sizes"]
    for name, table in marts.items():
        assert pq.read_table(out / f"{name}.parquet").equals(table), name
    assert (out / "manifest.json").exists()

    summary = marts["patient_summary"]
    ids = summary["patient_id"].to_pylist()
    assert ids == sorted(ids) and len(ids) == len(set(ids)) > 4000
    assert summary["risk_score"].null_count == 0  # the risk step filled it
    assert sum(marts["segments"]["people"].to_pylist()) == summary.num_rows
    assert sum(marts["practice_sizes"]["n"].to_pylist()) == summary.num_rows

    registers = marts["registers"].to_pylist()
    system = {r["qof_group"]: r for r in registers if r["level"] == "system"}
    assert len(system) == 21
    for group in BIG_GROUPS:
        row = system[group]
        assert row["prevalence_pct"] == pytest.approx(row["england_pct"], rel=0.2), group
    practice_total = sum(
        r["denominator"] for r in registers if r["level"] == "practice" and r["qof_group"] == "HYP"
    )
    assert practice_total == system["HYP"]["denominator"] == summary.num_rows

    stored = store_marts(marts, root)
    check = ibis.duckdb.connect(str(stored), read_only=True)
    try:
        assert set(check.list_tables()) == set(marts)
        assert check.table("patient_summary").count().execute() == summary.num_rows
    finally:
        check.disconnect()


def test_uncollected_run_writes_the_same_marts(tmp_path_factory: pytest.TempPathFactory) -> None:
    con = connect(shared_warehouse(tmp_path_factory), read_only=True)
    try:
        as_of = dt.date(2026, 3, 31)
        root = tmp_path_factory.mktemp("uncollected")
        collected = run_pipeline(con, as_of, root / "a", progress=False)
        engine_side = run_pipeline(con, as_of, root / "b", progress=False, collect=False)
        for name, table in collected.items():
            assert isinstance(engine_side[name], ibis.Table)
            assert pq.read_table(root / "b" / f"{name}.parquet").equals(table), name
            engine_side[name].release()  # type: ignore[union-attr]
    finally:
        con.disconnect()


def test_ics_analyse_command(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = shared_warehouse(tmp_path_factory)
    monkeypatch.setenv("ICS_DATA_DIR", str(settings.data_dir))
    app = typer.Typer()
    cli.register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["analyse", "--quiet", "--as-of", "2026-03-31"])
    assert result.exit_code == 0, result.output
    marts = settings.data_dir / "marts"
    summary = pq.read_table(marts / "patient_summary.parquet")
    assert summary.num_rows == 36
    assert (settings.data_dir / "marts.duckdb").exists()
    assert "registers" in result.output
