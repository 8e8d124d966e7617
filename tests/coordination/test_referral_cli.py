"""`ics referrals ...` through typer's CliRunner against a real store holding the footprint."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from integrated_care.coordination.cli import register
from integrated_care.coordination.demo import STORIES, load_referrals_demo
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from tests.coordination.referral_support import (
    add_registered_patient,
    build_world,
    cheap_password_hashing,  # noqa: F401
)
from tests.coordination.test_referral_demo import _nhs_numbers

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def app(footprint_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("ICS_DATABASE_URL", footprint_db_url)
    monkeypatch.setenv("ICS_DATA_DIR", str(tmp_path / "data"))
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A fresh `ics` for the referral commands."""

    register(app)
    return app


def test_directory_and_breaches(app: typer.Typer, footprint_db_url: str, tmp_path: Path) -> None:
    loaded = runner.invoke(app, ["referrals", "directory", "--load", "--org", "VQK101"])
    assert loaded.exit_code == 0, loaded.output
    assert "20 added, 0 already there" in loaded.output
    assert "Social prescribing link workers" in loaded.output
    assert "District nursing" not in loaded.output  # another organisation's

    runtime = Runtime(Settings(data_dir=tmp_path / "data", database_url=footprint_db_url))
    world = build_world(runtime)
    for number in _nhs_numbers(len(STORIES) - 1):
        add_registered_patient(runtime, world.principals["gp"], number, family="Demo")
    load_referrals_demo(runtime)
    breaches = runner.invoke(app, ["referrals", "breaches", "C82001"])
    assert breaches.exit_code == 0, breaches.output
    assert "4 of 11 referrals beyond their target" in breaches.output
    advice = runner.invoke(app, ["referrals", "breaches", "VQK104"]).output
    assert "1 of 1 referrals beyond their target" in advice  # debt advice: 20 days, target 10
