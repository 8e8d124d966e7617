"""Input-layer folders for the warehouse tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.warehouse.fixture import write_folder


@pytest.fixture
def valid_folder(tmp_path: Path) -> Path:
    """A valid input-layer folder of Parquet files."""
    return write_folder(tmp_path / "input")


@pytest.fixture
def warehouse_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # ibis 12 still calls DuckDB's deprecated fetch_arrow_table(); that is ibis's to fix.
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(
                pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")
            )
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:ibis"))
