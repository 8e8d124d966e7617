"""Public reference data shipped inside the package (see ``data/manifest.json``).

Each file is a versioned copy of an ONS / NHS England / NHS Digital publication, refreshed by
``scripts/refresh_reference.py``; figures shown to users cite the ``year`` in the manifest.
"""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

DATA = Path(str(resources.files(__package__) / "data"))


def path(name: str) -> Path:
    """The path of a reference file, raising a clear error if it is not shipped."""
    p = DATA / name
    if not p.exists():
        known = ", ".join(sorted(e["file"] for e in manifest()))
        raise FileNotFoundError(f"reference file {name!r} is not in the package (have: {known})")
    return p


def rows(name: str) -> list[dict[str, str]]:
    """All rows of a reference CSV as dictionaries (byte-order marks stripped)."""
    with path(name).open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def load_json(name: str) -> Any:
    return json.loads(path(name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def manifest() -> list[dict[str, str]]:
    return json.loads((DATA / "manifest.json").read_text())


def source_year(name: str) -> str:
    """The year a reference file's figures relate to, for citing beside a figure."""
    for entry in manifest():
        if entry["file"] == name:
            return entry["year"]
    raise KeyError(name)
