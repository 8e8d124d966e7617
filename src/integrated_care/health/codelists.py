"""Code lists, register rules and score definitions, read from the versioned files in health/data.

Every clinical definition the population-health marts use is data: SNOMED CT, ICD-10 and dm+d
code lists (``data/codelists/*.csv``), QOF register age rules (``data/register_rules.csv``), the
Cambridge Multimorbidity Score components (``data/cms_components.csv``, weights from
``reference/data/cms_weights.json``) and the eFI deficits (``data/efi_deficits.csv``, categories
from ``reference/data/efi_definition.json``). Each row carries its ``list_version``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

DATA = Path(str(resources.files("integrated_care.health") / "data"))
REFERENCE = Path(str(resources.files("integrated_care.reference") / "data"))
CODELIST_FILES = ("snomed_conditions.csv", "icd10_conditions.csv", "dmd_treatments.csv")


@dataclass(frozen=True)
class Code:
    condition: str
    code_system: str  # snomed | icd10 | dmd
    code: str
    term: str
    list_version: str
    source: str


@dataclass(frozen=True)
class RegisterRule:
    """A QOF register: who counts in the numerator (reg ages) and the denominator (den ages)."""

    condition: str
    qof_group: str
    label: str
    reg_min_age: int
    reg_max_age: int
    den_min_age: int
    den_max_age: int


@dataclass(frozen=True)
class CmsComponent:
    """One of the 20 Cambridge Multimorbidity Score conditions and how it is recognised."""

    name: str
    conditions: tuple[str, ...]
    rule: str  # ever | first_5y | code_and_rx_12m | code_12m_or_rx4_12m | code_or_rx4_12m | rx4_12m
    treatment: str | None
    weight: float


@dataclass(frozen=True)
class EfiDeficit:
    name: str
    conditions: tuple[str, ...]
    rule: str  # ever | polypharmacy


@dataclass(frozen=True)
class EfiDefinition:
    deficits: tuple[EfiDeficit, ...]
    thresholds: tuple[tuple[float, str], ...]  # (upper bound inclusive, category), ascending
    top_category: str
    source: str


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@lru_cache(maxsize=1)
def codes() -> tuple[Code, ...]:
    """Every diagnosis and treatment code, from all code list files."""
    rows = [r for name in CODELIST_FILES for r in _read(DATA / "codelists" / name)]
    return tuple(Code(**r) for r in rows)


@lru_cache(maxsize=1)
def resolved_codes() -> tuple[Code, ...]:
    """Codes that end a condition (QOF "resolved" codes) when later than its latest diagnosis."""
    return tuple(Code(**r) for r in _read(DATA / "codelists" / "resolved.csv"))


def codes_for(code_system: str) -> tuple[Code, ...]:
    return tuple(c for c in codes() if c.code_system == code_system)


def diagnosis_conditions() -> tuple[str, ...]:
    """Every condition key with a SNOMED list, in file order: the columns of condition_flags."""
    seen: dict[str, None] = {}
    for c in codes_for("snomed"):
        seen.setdefault(c.condition, None)
    return tuple(seen)


def list_versions() -> dict[str, str]:
    """The version of each code list file (each file holds one version)."""
    out = {}
    for name in (*CODELIST_FILES, "resolved.csv"):
        versions = {r["list_version"] for r in _read(DATA / "codelists" / name)}
        out[name] = ",".join(sorted(versions))
    return out


@lru_cache(maxsize=1)
def register_rules() -> tuple[RegisterRule, ...]:
    return tuple(
        RegisterRule(
            condition=r["condition"],
            qof_group=r["qof_group"],
            label=r["label"],
            reg_min_age=int(r["reg_min_age"]),
            reg_max_age=int(r["reg_max_age"]),
            den_min_age=int(r["den_min_age"]),
            den_max_age=int(r["den_max_age"]),
        )
        for r in _read(DATA / "register_rules.csv")
    )


@lru_cache(maxsize=1)
def qof_england_prevalence() -> dict[str, float]:
    """National QOF 2019/20 prevalence (%) per group, for comparison beside the registers."""
    rows = _read(REFERENCE / "qof_prevalence_by_imd_decile_1920.csv")
    return {r["qof_group"]: float(r["england_pct"]) for r in rows}


@lru_cache(maxsize=1)
def cms_components() -> tuple[CmsComponent, ...]:
    weights = json.loads((REFERENCE / "cms_weights.json").read_text())["general_outcome_weights_20"]
    rows = _read(DATA / "cms_components.csv")
    if {r["cms_condition"] for r in rows} != set(weights):
        raise ValueError("cms_components.csv and cms_weights.json name different conditions")
    return tuple(
        CmsComponent(
            name=r["cms_condition"],
            conditions=tuple(r["conditions"].split("|")),
            rule=r["rule"],
            treatment=r["treatment"] or None,
            weight=float(weights[r["cms_condition"]]),
        )
        for r in rows
    )


@lru_cache(maxsize=1)
def efi_definition() -> EfiDefinition:
    spec = json.loads((REFERENCE / "efi_definition.json").read_text())
    rows = _read(DATA / "efi_deficits.csv")
    names = [r["deficit"] for r in rows]
    if sorted(names) != sorted(spec["deficits"]) or len(names) != spec["n_deficits"]:
        raise ValueError("efi_deficits.csv does not list the deficits of efi_definition.json")
    deficits = tuple(
        EfiDeficit(r["deficit"], tuple(filter(None, r["conditions"].split("|"))), r["rule"])
        for r in rows
    )
    # Clegg et al.: fit <= 0.12 < mild <= 0.24 < moderate <= 0.36 < severe
    return EfiDefinition(
        deficits=deficits,
        thresholds=((0.12, "fit"), (0.24, "mild"), (0.36, "moderate")),
        top_category="severe",
        source=spec["source"],
    )
