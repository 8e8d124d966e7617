"""The resource types served and their search parameters (``data/search_parameters.json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
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
    # Where the index keeps this parameter's values. Usually under its own name, for all its
    # targets; but `subject` and `patient` of an Observation read one element, and storing
    # every patient reference twice made a sixth of all index rows. So the narrower parameter
    # (`patient`) stores its targets, the broader (`subject`) only the targets the narrower
    # one lacks (a Group, a Device), and a search for the broader reads the rows of both.
    indexed_targets: tuple[str, ...] = ()
    rows_of: tuple[str, ...] = ()


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
        resources[resource_type] = ResourceDefinition(
            resource_type, _sharing_rows(resource_type, params), compartment
        )
    return Definitions(raw["version"], resources)


def _sharing_rows(resource_type: str, params: dict[str, SearchParam]) -> dict[str, SearchParam]:
    """Fill in `indexed_targets` and `rows_of`: a reference parameter whose path another
    reference parameter shares with a strict subset of its targets keeps only the targets the
    other lacks, and its searches read both parameters' rows."""
    shared: dict[str, SearchParam] = {}
    for name, param in params.items():
        narrower = [
            other
            for other in params.values()
            if param.type == other.type == "reference"
            and other.path == param.path
            and set(other.targets) < set(param.targets)
        ]
        if len(narrower) > 1:
            raise ValueError(
                f"{resource_type}.{name}: more than one narrower parameter shares its path"
            )
        if narrower:
            kept = tuple(t for t in param.targets if t not in narrower[0].targets)
            shared[name] = replace(param, indexed_targets=kept, rows_of=(name, narrower[0].name))
        else:
            shared[name] = replace(param, indexed_targets=param.targets, rows_of=(name,))
    return shared


@lru_cache(maxsize=1)
def definitions() -> Definitions:
    return load_definitions()


def supported_types() -> list[str]:
    return sorted(definitions().resources)
