"""`ics footprint` and `ics footprint-validate` against a store named by environment variables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from integrated_care.cli import app
from integrated_care.settings import get_settings
from tests.footprint import reference_counts as ref

runner = CliRunner()


@pytest.fixture
def store(tmp_path, empty_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ICS_DATA_DIR", str(tmp_path / "ics-data"))
    monkeypatch.setenv("ICS_DATABASE_URL", empty_db_url)
    get_settings.cache_clear()
    yield empty_db_url
    get_settings.cache_clear()


def _run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), terminal_width=200)


def test_build_prints_the_counts_and_validates(store: str) -> None:
    result = _run("footprint", "--icb", "QE1")
    assert result.exit_code == 0, result.output
    assert "Lancashire and South Cumbria" in result.output
    assert "1,737,241" in result.output
    for figure in (len(ref.practices("QE1")), len(ref.pcn_codes("QE1")), len(ref.lsoas("QE1"))):
        assert f" {figure} " in result.output
    assert "0 error(s)" in result.output
    engine = create_engine(store)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM footprint_practices")).scalar() == 202
    engine.dispose()


def test_unknown_code_is_a_clear_error(store: str) -> None:
    result = _run("footprint", "--icb", "QZZ")
    assert result.exit_code == 2
    assert "Unknown ICB code" in result.output and "QZZ" in result.output
    assert "QE1" in result.output


def test_another_icb_needs_replace(store: str) -> None:
    assert _run("footprint", "--icb", "QOC").exit_code == 0
    refused = _run("footprint", "--icb", "QK1")
    assert refused.exit_code == 2 and "--replace" in refused.output
    replaced = _run("footprint", "--icb", "QK1", "--replace")
    assert replaced.exit_code == 0 and "Replaced the footprint of QOC" in replaced.output


def test_validate_exits_1_on_an_error(store: str) -> None:
    assert _run("footprint", "--icb", "QOC").exit_code == 0
    assert _run("footprint-validate").exit_code == 0
    engine = create_engine(store)
    with engine.begin() as conn:
        conn.execute(text("UPDATE footprint_pcns SET clinical_director = NULL"))
    engine.dispose()
    result = _run("footprint-validate")
    assert result.exit_code == 1
    assert "has no named clinical director" in result.output


def test_small_ics_warns(store: str) -> None:
    result = _run("footprint", "--icb", "QOC")  # Shropshire, Telford and Wrekin: 0.52 million
    assert result.exit_code == 0
    assert "ics_size" in result.output


def test_list_and_help(store: str) -> None:
    listed = _run("footprint", "--list")
    assert listed.exit_code == 0
    assert all(code in listed.output for code in ref.icb_codes())
    for command in ("footprint", "footprint-validate"):
        helped = _run(command, "--help")
        assert helped.exit_code == 0 and "Usage" in helped.output
    assert _run("footprint").exit_code == 2
