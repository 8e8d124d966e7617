"""The resource types served and their search parameters (``data/search_parameters.json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_FILE = Path(__file__).parent / "data" / "search_parameters.json"
PARAM_TYPES = ("token", "string", "date", "reference")
# Parameters every type has, searched on the resource table itself.
COMMON_PARAMS = {
    "_id": ("token", "Logical id of the resource"),
    "_lastUpdated": ("date", "When the resource last changed on this server"),
}


@dataclass(frozen=True)
class SearchParam:
    name: str
    resource_type: str
    type: str
    path: str
    targets: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class ResourceDefinition:
    resource_type: str
    params: Mapping[str, SearchParam]
    # The reference parameter placing this type in a patient's compartment; "_self" for Patient.
    compartment: str | None = None


@dataclass(frozen=True)
class Definitions:
    version: str
    resources: Mapping[str, ResourceDefinition]

    def param(self, resource_type: str, name: str) -> SearchParam | None:
        definition = self.resources.get(resource_type)
        return definition.params.get(name) if definition else None


def load_definitions(path: Path = DATA_FILE) -> Definitions:
    """Read and check the parameter file: known types, paths rooted at their resource."""
    raw = json.loads(path.read_text())
    resources: dict[str, ResourceDefinition] = {}
    for resource_type, spec in raw["resources"].items():
        params: dict[str, SearchParam] = {}
        for p in spec["params"]:
            if p["type"] not in PARAM_TYPES:
                raise ValueError(f"{resource_type}.{p['name']}: unknown type {p['type']!r}")
            if not p["path"].startswith(f"{resource_type}."):
                raise ValueError(f"{resource_type}.{p['name']}: path must start {resource_type}.")
            if p["type"] == "reference" and not p.get("target"):
                raise ValueError(f"{resource_type}.{p['name']}: a reference needs its targets")
            params[p["name"]] = SearchParam(
                p["name"],
                resource_type,
                p["type"],
                p["path"],
                tuple(p.get("target", ())),
                p.get("doc", ""),
            )
        compartment = spec.get("compartment")
        if compartment not in (None, "_self") and compartment not in params:
            raise ValueError(f"{resource_type}: compartment parameter {compartment!r} not defined")
        resources[resource_type] = ResourceDefinition(resource_type, params, compartment)
    return Definitions(raw["version"], resources)


@lru_cache(maxsize=1)
def definitions() -> Definitions:
    return load_definitions()


def supported_types() -> list[str]:
    return sorted(definitions().resources)
