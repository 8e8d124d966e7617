"""Reading the population-health marts that `ics analyse` stored in ``<data-dir>/marts.duckdb``.

The web app and the cohort tools only read marts; they never recompute them. The file is replaced
whole (atomically) by each `ics analyse`, so a reader opens it read-only for one piece of work and
closes it, and always sees one complete set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ibis
from ibis.backends import BaseBackend

from integrated_care.health.pipeline import MANIFEST, MARTS_FILE
from integrated_care.settings import Settings


class MartsNotBuilt(RuntimeError):
    """No marts yet: `ics analyse` (or `ics demo`) has not been run on this data folder."""


def marts_path(settings: Settings) -> Path:
    return settings.data_dir / MARTS_FILE


def marts_available(settings: Settings) -> bool:
    return marts_path(settings).exists()


@contextmanager
def open_marts(settings: Settings) -> Iterator[BaseBackend]:
    """A read-only Ibis connection to the stored marts (``con.table("patient_summary")``...)."""
    path = marts_path(settings)
    if not path.exists():
        raise MartsNotBuilt(
            f"no population-health marts at {path}: run `ics analyse` (or `ics demo`) first"
        )
    con = ibis.duckdb.connect(str(path), read_only=True)
    try:
        yield con
    finally:
        con.disconnect()


def marts_manifest(settings: Settings) -> dict[str, Any] | None:
    """The manifest `ics analyse` wrote beside the Parquet marts (as_of, rows, code lists)."""
    path = settings.data_dir / "marts" / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None
