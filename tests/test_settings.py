"""Settings come from ICS_ environment variables, then ics.toml, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrated_care.settings import Settings


def test_defaults_live_in_the_data_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("ICS_DATA_DIR", "ICS_DATABASE_URL", "ICS_WAREHOUSE_URL", "ICS_ANALYTICS_ENGINE"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.data_dir == Path("ics-data")
    assert s.database_url == f"sqlite:///{tmp_path / 'ics-data' / 'ics.sqlite'}"
    assert s.warehouse_url == f"duckdb:///{tmp_path / 'ics-data' / 'warehouse.duckdb'}"
    assert s.analytics_engine == "duckdb"


def test_toml_file_then_environment_override(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ics.toml").write_text(
        'data_dir = "from-toml"\nanalytics_engine = "spark"\nwarehouse_url = "duckdb:///w.db"\n'
    )
    monkeypatch.delenv("ICS_DATA_DIR", raising=False)
    monkeypatch.delenv("ICS_ANALYTICS_ENGINE", raising=False)
    s = Settings()
    assert s.data_dir == Path("from-toml")
    assert s.analytics_engine == "spark"
    assert s.warehouse_url == "duckdb:///w.db"
    monkeypatch.setenv("ICS_DATA_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("ICS_DATABASE_URL", "postgresql+psycopg://x@localhost/ics")
    s = Settings()
    assert s.data_dir == tmp_path / "from-env"
    assert s.database_url == "postgresql+psycopg://x@localhost/ics"


def test_unknown_engine_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("ICS_ANALYTICS_ENGINE", "excel")
    with pytest.raises(ValueError, match="analytics_engine"):
        Settings()


def test_session_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "d")
    first = s.session_secret()
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path / "d").session_secret() == first
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o077 == 0
