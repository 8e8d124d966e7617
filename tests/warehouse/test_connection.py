"""Settings -> warehouse location -> Ibis backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrated_care.settings import Settings
from integrated_care.warehouse.connection import (
    WarehouseError,
    connect,
    location,
    parse_warehouse_url,
)


def test_default_warehouse_is_a_duckdb_file_in_the_data_dir(tmp_path: Path) -> None:
    where = location(Settings(data_dir=tmp_path))
    assert where.engine == "duckdb"
    assert where.path == (tmp_path / "warehouse.duckdb").resolve()


@pytest.mark.parametrize(
    ("url", "path"),
    [("duckdb:////abs/w.duckdb", Path("/abs/w.duckdb")), ("duckdb:///rel/w.duckdb",
     Path("rel/w.duckdb")), ("duckdb://", None), ("duckdb:///:memory:", None)],
)  # fmt: skip
def test_urls(url: str, path: Path | None) -> None:
    assert parse_warehouse_url(url).path == path


def test_in_memory_connection_runs_queries() -> None:
    con = connect(Settings(warehouse_url="duckdb://"))
    assert con.sql("SELECT 41 + 1 AS answer").execute()["answer"][0] == 42


def test_read_only_connection_needs_a_loaded_warehouse(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="ics load"):
        connect(Settings(data_dir=tmp_path), read_only=True)
