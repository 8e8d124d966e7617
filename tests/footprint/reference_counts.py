"""Counts taken straight from the shipped CSVs with the csv module, independent of the builder."""

from __future__ import annotations

import csv
from collections import Counter
from functools import cache
from pathlib import Path

import integrated_care.reference as reference

DATA = Path(reference.__file__).parent / "data"


@cache
def _read(name: str) -> tuple[dict[str, str], ...]:
    with (DATA / name).open(encoding="utf-8-sig", newline="") as f:
        return tuple(csv.DictReader(f))


def icb_row(icb: str) -> dict[str, str]:
    return next(r for r in _read("icb_summary.csv") if r["ICB23CDH_ODS"] == icb)


def icb_codes() -> list[str]:
    return sorted(r["ICB23CDH_ODS"] for r in _read("icb_summary.csv"))


def sub_icb_locations(icb: str) -> set[str]:
    return set(icb_row(icb)["sub_icb_location_ods_codes"].split(";"))


def population(icb: str) -> int:
    return int(icb_row(icb)["pop_mid2022_ons"])


def practices(icb: str) -> list[dict[str, str]]:
    """Practices whose CCG code (January 2022) is one of the ICB's 2022 sub-ICB locations."""
    codes = sub_icb_locations(icb)
    return [r for r in _read("gp_practices_jan2022.csv") if r["CCG_CODE"] in codes]


def pcn_codes(icb: str) -> set[str]:
    return {r["PCN_CODE"] for r in practices(icb) if r["PCN_CODE"] != "U"}


@cache
def _list_sizes() -> dict[str, int]:
    return {r["PRACTICE_CODE"]: int(r["TOTAL"]) for r in _read("gp_list_size_apr2020.csv")}


def list_size(practice: str) -> int | None:
    return _list_sizes().get(practice)


def lsoas(icb: str) -> list[dict[str, str]]:
    return [r for r in _read("lsoa_footprint.csv") if r["icb_code"] == icb]


def local_authorities_over(icb: str, share: float) -> set[str]:
    counts = Counter(r["la_code"] for r in lsoas(icb))
    total = sum(counts.values())
    return {la for la, n in counts.items() if n >= share * total}
