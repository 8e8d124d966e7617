"""One small synthetic ICS (20,000 people, 2 years, fixed seed) shared by the synth tests."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from integrated_care.synth.generator import SynthConfig, SynthResult, generate

ICB = "QK1"
SEED = 7
PEOPLE = 20_000
YEARS = 2


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthResult]:
    out = tmp_path_factory.mktemp("synth") / "ics"
    result = generate(
        SynthConfig(icb=ICB, out=out, population=PEOPLE, years=YEARS, seed=SEED),
        show_progress=False,
    )
    return out, result


@pytest.fixture(scope="session")
def multi_trust(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """A small ICS with four acute trusts (South West London), one year."""
    out = tmp_path_factory.mktemp("synth-qwe") / "ics"
    generate(SynthConfig(icb="QWE", out=out, population=8_000, years=1, seed=SEED),
             show_progress=False)  # fmt: skip
    return _views(out)


@pytest.fixture(scope="session")
def out(synth: tuple[Path, SynthResult]) -> Path:
    return synth[0]


@pytest.fixture()
def db(out: Path) -> duckdb.DuckDBPyConnection:
    return _views(out)


def _views(out: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for f in out.glob("*.parquet"):
        con.execute(f"CREATE VIEW {f.stem} AS SELECT * FROM read_parquet('{f}')")
    return con
