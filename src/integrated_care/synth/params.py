"""The generator's versioned parameters and code lists, read from ``synth/data``.

Every figure the generator uses lives in a data file with its source (see data/manifest.json);
this module only parses them into arrays.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).parent / "data"
PROFILE_KNOTS = np.array([0, 5, 10, 18, 30, 40, 50, 60, 70, 80, 90, 100], dtype=np.float64)


def read_csv(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@cache
def read_json(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Condition:
    """One long-term condition (a QOF group, or a CMS / eFI component)."""

    index: int
    key: str
    label: str
    qof_group: str | None
    reg_min_age: float
    reg_max_age: float
    den_min_age: float
    den_max_age: float
    target_pct: float | None
    profile: str
    female_or: float
    latent_loading: float
    dep_log_or: float
    mean_years_diagnosed: float
    snomed_code: str
    snomed_term: str
    icd10: str | None
    cms: str | None
    efi: str | None
    mortality_log_hr: float
    requires: str | None  # only people with this (earlier) condition can have this one


def _opt(value: str) -> str | None:
    return value.strip() or None


@lru_cache(maxsize=1)
def conditions() -> tuple[Condition, ...]:
    out = []
    for i, r in enumerate(read_csv("conditions.csv")):
        out.append(
            Condition(
                index=i,
                key=r["key"],
                label=r["label"],
                qof_group=_opt(r["qof_group"]),
                reg_min_age=float(r["reg_min_age"]),
                reg_max_age=float(r["reg_max_age"]),
                den_min_age=float(r["den_min_age"]),
                den_max_age=float(r["den_max_age"]),
                target_pct=float(r["target_pct"]) if r["target_pct"] else None,
                profile=r["profile"],
                female_or=float(r["female_or"]),
                latent_loading=float(r["latent_loading"]),
                dep_log_or=float(r["dep_log_or"] or 0),
                mean_years_diagnosed=float(r["mean_years_diagnosed"]),
                snomed_code=r["snomed_code"],
                snomed_term=r["snomed_term"],
                icd10=_opt(r["icd10"]),
                cms=_opt(r["cms"]),
                efi=_opt(r["efi"]),
                mortality_log_hr=float(r["mortality_log_hr"]),
                requires=_opt(r["requires"]),
            )
        )
    return tuple(out)


def condition_index() -> dict[str, int]:
    return {c.key: c.index for c in conditions()}


@lru_cache(maxsize=1)
def age_profiles() -> dict[str, np.ndarray]:
    """Log-odds of each age profile at PROFILE_KNOTS (from prevalence % in the file)."""
    out = {}
    for r in read_csv("age_profiles.csv"):
        pct = np.array([float(r[f"p{int(k)}"]) for k in PROFILE_KNOTS]) / 100.0
        out[r["profile"]] = np.log(pct / (1 - pct))
    return out


def profile_logit(profile: str, age: np.ndarray) -> np.ndarray:
    """The age profile's log-odds at each age, linear between knots."""
    return np.interp(age, PROFILE_KNOTS, age_profiles()[profile]).astype(np.float64)


@lru_cache(maxsize=1)
def dependencies() -> tuple[tuple[str, str, float], ...]:
    return tuple(
        (r["parent"], r["child"], float(r["log_odds_ratio"])) for r in read_csv("dependencies.csv")
    )


@lru_cache(maxsize=1)
def unit_costs() -> dict[str, float]:
    return {r["item"]: float(r["cost_gbp"]) for r in read_csv("unit_costs.csv")}


def categorical(spec: dict[str, float]) -> tuple[list[str], np.ndarray]:
    """Keys and normalised probabilities of a {value: weight} mapping, in file order."""
    keys = list(spec)
    p = np.array([spec[k] for k in keys], dtype=np.float64)
    return keys, p / p.sum()
