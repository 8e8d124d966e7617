"""The footprint's own versioned data files (``footprint/data/*.json``), read once."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


@lru_cache(maxsize=16)
def load(name: str) -> Any:
    """A data file's parsed contents, e.g. ``load("trust_types.json")``."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))
