"""The real footprint of the ICB as arrays the generator indexes into.

Built from ``integrated_care.footprint.reference_build.footprint_from_reference`` (places,
organisations, practices, LSOAs with IMD deciles) and the ONS mid-2022 single-year-of-age
population of the ICB's sub-ICB locations.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from integrated_care import reference
from integrated_care.footprint.reference_build import FootprintData, footprint_from_reference

ONS_FILE = "sicbl_population_mid2022.csv"
MAX_AGE_COLUMN = 90  # the ONS file's last column is 90+


@dataclass(frozen=True)
class Footprint:
    data: FootprintData
    place_codes: tuple[str, ...]
    place_sicbl: tuple[str, ...]
    lsoa_codes: np.ndarray  # str
    lsoa_place: np.ndarray  # int32 index into place_codes
    lsoa_decile: np.ndarray  # int8, 1 = most deprived
    lsoa_la: np.ndarray  # str local authority code
    lsoa_weight: np.ndarray  # float64 population weight (equal within place: see footprint)
    practice_codes: np.ndarray  # str
    practice_place: np.ndarray  # int32
    practice_weight: np.ndarray  # float64 list size (median where unknown)
    sicbl_codes: tuple[str, ...]
    ons_counts: np.ndarray  # [sicbl, sex (0 female, 1 male), age 0..90+] mid-2022 population
    acute: tuple[str, ...]
    community: tuple[str, ...]
    mental_health: tuple[str, ...]
    local_authorities: tuple[str, ...]  # the places' councils (social care providers)

    @property
    def population(self) -> int:
        return int(self.ons_counts.sum())

    def lsoa_sicbl(self) -> np.ndarray:
        """Index into sicbl_codes of each LSOA's sub-ICB location."""
        lookup = {s: i for i, s in enumerate(self.sicbl_codes)}
        place_s = np.array([lookup[s] for s in self.place_sicbl], dtype=np.int32)
        return place_s[self.lsoa_place]


def ons_population(sicbl_codes: tuple[str, ...]) -> np.ndarray:
    """ONS mid-2022 population [sicbl, sex, age 0..90+] for the given sub-ICB location codes."""
    rows = {}
    for r in reference.rows(ONS_FILE):
        code = r["SICBL 2023 Name"].rsplit(" - ", 1)[-1].strip()
        rows[code] = r
    out = np.zeros((len(sicbl_codes), 2, MAX_AGE_COLUMN + 1), dtype=np.float64)
    for i, code in enumerate(sicbl_codes):
        r = rows[code]
        for s, prefix in enumerate(("F", "M")):
            out[i, s] = [float(r[f"{prefix}{a}"]) for a in range(MAX_AGE_COLUMN + 1)]
    return out


@lru_cache(maxsize=1)
def england_population() -> np.ndarray:
    """ONS mid-2022 population of England [sex, age 0..90+], for national rate standards."""
    out = np.zeros((2, MAX_AGE_COLUMN + 1))
    for r in reference.rows(ONS_FILE):
        for s, prefix in enumerate(("F", "M")):
            out[s] += [float(r[f"{prefix}{a}"]) for a in range(MAX_AGE_COLUMN + 1)]
    return out


def _providers(data: FootprintData, first: str, *fallbacks: str) -> tuple[str, ...]:
    """Codes of the ICB's organisations of the first org type present (acute trusts last)."""
    for org_type in (first, *fallbacks, "acute_trust"):
        codes = tuple(sorted(o.org_code for o in data.organisations if o.org_type == org_type))
        if codes:
            return codes
    raise ValueError(f"ICB {data.system.code} has no {first} or acute trust")


@lru_cache(maxsize=4)
def load_footprint(icb_code: str) -> Footprint:
    data = footprint_from_reference(icb_code)
    place_codes = tuple(p.code for p in data.places)
    place_index = {c: i for i, c in enumerate(place_codes)}
    lsoas = sorted(data.lsoas, key=lambda x: x.code)
    practices = sorted(data.practices, key=lambda x: x.code)
    known = [p.list_size for p in practices if p.list_size]
    median = float(np.median(known)) if known else 7800.0
    sicbls = tuple(sorted({p.sub_icb_location_code for p in data.places}))
    las = tuple(sorted({p.local_authority_code for p in data.places}))
    return Footprint(
        data=data,
        place_codes=place_codes,
        place_sicbl=tuple(p.sub_icb_location_code for p in data.places),
        lsoa_codes=np.array([x.code for x in lsoas]),
        lsoa_place=np.array([place_index[x.place_code] for x in lsoas], dtype=np.int32),
        lsoa_decile=np.array([x.imd_decile for x in lsoas], dtype=np.int8),
        lsoa_la=np.array([x.la_code for x in lsoas]),
        lsoa_weight=np.array([max(x.population, 1) for x in lsoas], dtype=np.float64),
        practice_codes=np.array([p.code for p in practices]),
        practice_place=np.array([place_index[p.place_code] for p in practices], dtype=np.int32),
        practice_weight=np.array([float(p.list_size or median) for p in practices]),
        sicbl_codes=sicbls,
        ons_counts=ons_population(sicbls),
        acute=_providers(data, "acute_trust"),
        community=_providers(data, "community_trust", "mental_health_trust"),
        mental_health=_providers(data, "mental_health_trust", "community_trust"),
        local_authorities=las,
    )
