"""Building, storing and reading the oversight marts (``<data-dir>/oversight.duckdb``).

`ics oversight build` computes ``oversight_standards`` from the warehouse, writes it as Parquet
to ``<data-dir>/oversight/`` and as a table of ``oversight.duckdb``, built beside and swapped in
atomically (as the population-health marts are), so the web app never reads half a set.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from integrated_care.oversight.standards import catalogue, default_as_of, standards_table
from integrated_care.settings import Settings

OVERSIGHT_FILE = "oversight.duckdb"
STANDARDS = "oversight_standards"
MANIFEST = "manifest.json"


class OversightNotBuilt(RuntimeError):
    """`ics oversight build` has not been run on this data folder."""


def oversight_path(settings: Settings) -> Path:
    return settings.data_dir / OVERSIGHT_FILE


def build_standards(
    con: ibis.BaseBackend, as_of: dt.date | None = None
) -> tuple[dt.date, pa.Table]:
    """The extract date used and the ``oversight_standards`` mart, as Arrow."""
    day = as_of or default_as_of(con)
    return day, standards_table(con, day).to_pyarrow()


def store_oversight(marts: dict[str, pa.Table], data_dir: Path, as_of: dt.date) -> Path:
    """Write each mart as Parquet under ``data_dir/oversight`` and as a table of
    ``data_dir/oversight.duckdb`` (replaced atomically)."""
    folder = data_dir / "oversight"
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in marts.items():
        pq.write_table(table, folder / f"{name}.parquet")
    (folder / MANIFEST).write_text(
        json.dumps(
            {
                "as_of": as_of.isoformat(),
                "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "standards_version": catalogue()["version"],
                "rows": {n: t.num_rows for n, t in marts.items()},
            },
            indent=1,
        )
    )
    target = data_dir / OVERSIGHT_FILE
    building = data_dir / f".{OVERSIGHT_FILE}.{os.getpid()}.building"
    building.unlink(missing_ok=True)
    store = ibis.duckdb.connect(str(building))
    try:
        for name, table in marts.items():
            store.create_table(name, table, overwrite=True)
    finally:
        store.disconnect()
    os.replace(building, target)
    return target


def oversight_manifest(settings: Settings) -> dict[str, Any] | None:
    path = settings.data_dir / "oversight" / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def read_standards(settings: Settings) -> list[dict[str, Any]]:
    """Every row of ``oversight_standards``, ordered by measure, level, code and month."""
    path = oversight_path(settings)
    if not path.exists():
        raise OversightNotBuilt(f"no oversight marts at {path}: run `ics oversight build` first")
    con = ibis.duckdb.connect(str(path), read_only=True)
    try:
        table = con.table(STANDARDS).order_by(["measure", "level", "code", "month"])
        return table.to_pyarrow().to_pylist()
    finally:
        con.disconnect()


def build_and_store(settings: Settings, as_of: dt.date | None = None) -> str:
    """`ics oversight build` in one call (the demo's step): compute, store, and say what."""
    from integrated_care.warehouse.connection import connect

    con = connect(settings, read_only=True)
    try:
        day, table = build_standards(con, as_of)
    finally:
        con.disconnect()
    stored = store_oversight({STANDARDS: table}, settings.ensure_data_dir(), day)
    providers = len(
        {
            c
            for c, lvl in zip(table["code"].to_pylist(), table["level"].to_pylist(), strict=True)
            if lvl == "provider"
        }
    )
    return (
        f"{table.num_rows:,} monthly figures of {len(catalogue()['measures'])} standards for "
        f"{providers} provider(s), as of {day}, in {stored}"
    )


def oversight_current(settings: Settings) -> bool:
    """The stored figures were built with the standards file in force."""
    manifest = oversight_manifest(settings)
    return (
        oversight_path(settings).exists()
        and manifest is not None
        and manifest.get("standards_version") == catalogue()["version"]
    )
