"""`load` is all-or-nothing, withholds opt-outs, never stores NHS numbers, keeps a manifest."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

from integrated_care.settings import Settings
from integrated_care.warehouse import load as load_module
from integrated_care.warehouse.connection import WarehouseError, connect
from integrated_care.warehouse.load import MANIFEST, LoadRefused, load
from integrated_care.warehouse.schema import TABLES
from tests.warehouse.fixture import OPTED_OUT, valid_tables, write_folder


def settings_for(url: str, **kw: object) -> Settings:
    return Settings(data_dir=url_path(url).parent, warehouse_url=url, **kw)


def url_path(url: str) -> Path:
    return Path(url.removeprefix("duckdb:///"))


def previous_warehouse(loaded: tuple[Path, str], url: str) -> Path:
    """Give ``url`` a copy of the already-loaded warehouse, as if loaded before."""
    path = url_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(url_path(loaded[1]), path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_rows(url: str) -> dict[str, list[dict]]:
    """Every table's rows, read straight from the DuckDB file (not through the code under test)."""
    with duckdb.connect(str(url_path(url)), read_only=True) as con:
        names = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        return {n: con.execute(f'SELECT * FROM "{n}"').to_arrow_table().to_pylist() for n in names}


def expected_counts() -> dict[str, int]:
    counts = {}
    for name, rows in valid_tables().items():
        spec = TABLES[name]
        counts[name] = sum(
            1 for r in rows if not (spec.patient_level and r["patient_id"] == OPTED_OUT)
        )
    return counts


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One valid Parquet folder loaded once, for the tests that only read the result."""
    root = tmp_path_factory.mktemp("loaded")
    folder = write_folder(root / "in")
    url = f"duckdb:///{root / 'data' / 'warehouse.duckdb'}"
    load(folder, settings_for(url))
    return folder, url


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_load_then_query_through_ibis(tmp_path: Path, warehouse_url: str, fmt: str) -> None:
    folder = write_folder(tmp_path / "in", fmt=fmt)
    result = load(folder, settings_for(warehouse_url))
    con = connect(settings_for(warehouse_url), read_only=True)
    try:
        counts = {name: int(con.table(name).count().execute()) for name in TABLES}
        spells = con.table("apc_spells")
        total_cost = spells.cost.sum().execute()
        assert con.table("patients").schema()["date_of_birth"].is_date()
    finally:
        con.disconnect()
    assert counts == {name: expected_counts().get(name, 0) for name in TABLES}
    assert float(total_cost) == 4 * 2450.50  # five spells, one of them opted out
    assert result.rows_loaded == sum(expected_counts().values())
    assert result.warehouse == url_path(warehouse_url)


def test_opted_out_patient_and_nhs_numbers_never_enter(
    valid_folder: Path, warehouse_url: str
) -> None:
    load(valid_folder, settings_for(warehouse_url))
    tables = table_rows(warehouse_url)
    nhs_numbers = {p["nhs_number"] for p in valid_tables()["patients"]}
    for name, rows in tables.items():
        for row in rows:
            assert "nhs_number" not in row, name
            assert not nhs_numbers & {str(v) for v in row.values()}, name
            if TABLES.get(name) and TABLES[name].patient_level:
                assert row["patient_id"] != OPTED_OUT, name
    # the opted-out patient had rows in every kind of activity, so each one really was withheld
    manifest = {r["table"]: r for r in tables[MANIFEST]}
    for name in ("patients", "registrations", "apc_spells", "community_contacts",
                 "social_care_services"):  # fmt: skip
        assert manifest[name]["rows_withheld_opt_out"] == 1, name


def test_manifest_records_every_table(loaded: tuple[Path, str]) -> None:
    valid_folder, url = loaded
    manifest = {r["table"]: r for r in table_rows(url)[MANIFEST]}
    assert set(manifest) == set(TABLES)
    patients = manifest["patients"]
    assert (patients["rows_in"], patients["rows_loaded"]) == (6, 5)
    assert patients["source_folder"] == str(valid_folder.resolve())
    assert len(patients["checksum"]) == 64
    assert manifest["mh_contacts"]["checksum"] == "" and manifest["mh_contacts"]["rows_in"] == 0
    assert len({r["loaded_at"] for r in manifest.values()}) == 1


def test_a_crash_part_way_leaves_the_previous_warehouse(
    tmp_path: Path, loaded: tuple[Path, str], warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(warehouse_url)
    path = previous_warehouse(loaded, warehouse_url)
    before_bytes, before_rows = digest(path), table_rows(warehouse_url)

    different = valid_tables()
    different["organisations"].append(dict(different["organisations"][-1], org_code="VC002"))
    other = write_folder(tmp_path / "other", different | {"gp_events": []})
    real = load_module._load_table
    calls = []

    def failing(*args, **kwargs):
        calls.append(args[1].name)
        if len(calls) > 3:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(load_module, "_load_table", failing)
    with pytest.raises(OSError, match="disk full"):
        load(other, settings)
    assert calls == ["organisations", "places", "lsoas", "patients"]
    assert digest(path) == before_bytes
    assert table_rows(warehouse_url) == before_rows
    assert sorted(p.name for p in path.parent.iterdir()) == ["warehouse.duckdb"]


def test_a_bad_folder_changes_nothing(
    tmp_path: Path, loaded: tuple[Path, str], warehouse_url: str
) -> None:
    settings = settings_for(warehouse_url)
    path = url_path(warehouse_url)
    bad = valid_tables()
    bad["apc_spells"][0]["primary_diagnosis"] = "not icd"
    bad_folder = write_folder(tmp_path / "bad", bad)

    with pytest.raises(LoadRefused) as refused:
        load(bad_folder, settings)
    assert not path.exists()  # no warehouse yet, and none was created
    assert refused.value.report.errors == 1

    previous_warehouse(loaded, warehouse_url)
    before = digest(path)
    with pytest.raises(LoadRefused):
        load(bad_folder, settings)
    assert digest(path) == before


def test_reload_replaces_the_warehouse(
    tmp_path: Path, loaded: tuple[Path, str], warehouse_url: str
) -> None:
    settings = settings_for(warehouse_url)
    previous_warehouse(loaded, warehouse_url)
    fewer = valid_tables()
    fewer["gp_events"] = fewer["gp_events"][:2]
    load(write_folder(tmp_path / "fewer", fewer), settings)
    assert len(table_rows(warehouse_url)["gp_events"]) == 2


def test_only_file_warehouses_can_be_loaded(valid_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="file-based"):
        load(valid_folder, Settings(data_dir=tmp_path, warehouse_url="duckdb://"))
    with pytest.raises(WarehouseError, match="only duckdb"):
        load(valid_folder, Settings(data_dir=tmp_path, warehouse_url="postgresql://x/y"))
    with pytest.raises(WarehouseError, match="not available"):
        load(valid_folder, Settings(data_dir=tmp_path, analytics_engine="spark"))


def test_a_stale_log_of_the_old_warehouse_is_not_replayed_into_the_new(
    tmp_path: Path, valid_folder: Path, warehouse_url: str
) -> None:
    # Simulate a writer that crashed: a database file with un-checkpointed changes in its .wal.
    path = url_path(warehouse_url)
    path.parent.mkdir(parents=True)
    live = tmp_path / "live.duckdb"
    con = duckdb.connect(str(live))
    con.execute("SET checkpoint_threshold = '1GB'")
    con.execute("CREATE TABLE stale AS SELECT 1 AS x")
    shutil.copyfile(live, path)
    shutil.copyfile(f"{live}.wal", f"{path}.wal")
    con.close()

    load(valid_folder, settings_for(warehouse_url))
    tables = table_rows(warehouse_url)
    assert "stale" not in tables and len(tables["patients"]) == 5
    assert not Path(f"{path}.wal").exists()
