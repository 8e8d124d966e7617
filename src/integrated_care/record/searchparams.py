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
    # The compartment parameter (`patient` of an Encounter) names the patient whose record the
    # resource is in, which record_resource.patient_id already holds for every resource: its
    # rows would repeat that column (2.15 of 4.3 million reference rows of a whole-ICS record),
    # so none are stored, and a search for it, or for a broader parameter reading its rows
    # (`subject`), reads the column instead. (Its element holds one reference in every R4
    # type with a compartment here, and patient_id is that reference.)
    reads_compartment: bool = False


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
        shared = _sharing_rows(resource_type, params)
        resources[resource_type] = ResourceDefinition(
            resource_type, _from_compartment(resource_type, shared, compartment), compartment
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


def _from_compartment(
    resource_type: str, params: dict[str, SearchParam], compartment: str | None
) -> dict[str, SearchParam]:
    """Mark the parameters answered from record_resource.patient_id (`reads_compartment`):
    the compartment parameter, which then stores no rows, and those reading its rows."""
    if compartment in (None, "_self"):
        return params
    if params[compartment].targets != ("Patient",):
        # patient_id holds one Patient; a parameter with other targets needs its rows.
        raise ValueError(f"{resource_type}.{compartment}: a compartment refers to Patient only")
    return {
        name: replace(
            param,
            indexed_targets=() if name == compartment else param.indexed_targets,
            rows_of=tuple(n for n in param.rows_of if n != compartment),
            reads_compartment=True,
        )
        if compartment in param.rows_of
        else param
        for name, param in params.items()
    }


@lru_cache(maxsize=1)
def definitions() -> Definitions:
    return load_definitions()


def supported_types() -> list[str]:
    return sorted(definitions().resources)
