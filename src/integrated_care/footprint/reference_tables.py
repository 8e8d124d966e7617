"""The public reference files the footprint is built from, parsed once per process.

Each table is read from ``integrated_care/reference/data`` (see its ``manifest.json`` for the
publication and year) and kept in memory, so building any number of footprints costs one parse.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from integrated_care import reference

ICB_FILE = "icb_summary.csv"
SICBL_POPULATION_FILE = "sicbl_population_mid2022.csv"
PRACTICES_FILE = "gp_practices_jan2022.csv"
LIST_SIZE_FILE = "gp_list_size_apr2020.csv"
LSOA_FILE = "lsoa_footprint.csv"
TRUSTS_FILE = "nhs_trusts_by_icb.csv"

UNALLOCATED_PCN = "U"  # NHS Digital's PCN code for a practice not (yet) in a network


@dataclass(frozen=True)
class IcbRow:
    code: str
    ons_code: str
    name: str
    region: str
    region_code: str
    sicbl_codes: tuple[str, ...]
    population: int


@dataclass(frozen=True)
class LsoaRow:
    code: str
    name: str
    la_code: str
    la_name: str
    sicbl_code: str
    icb_code: str
    imd_rank: int
    imd_decile: int


@dataclass(frozen=True)
class PracticeRow:
    code: str
    name: str
    postcode: str
    pcn_code: str | None
    pcn_name: str | None
    sicbl_code: str
    icb_code: str


@dataclass(frozen=True)
class TrustRow:
    code: str
    name: str
    icb_code: str


@dataclass(frozen=True)
class ReferenceTables:
    """Everything the builder reads, keyed for quick lookup. Tests may pass an edited copy."""

    icbs: dict[str, IcbRow]
    lsoas_by_icb: dict[str, tuple[LsoaRow, ...]]
    la_lsoa_counts: dict[str, int]  # every LSOA of each local authority, nationally
    practices: tuple[PracticeRow, ...]
    list_sizes: dict[str, int]
    sicbl_population: dict[str, int]
    sicbl_names: dict[str, str]  # the CCG each sub-ICB location succeeded: 'Fylde and Wyre'
    trusts: tuple[TrustRow, ...]

    @property
    def sicbl_to_icb(self) -> dict[str, str]:
        return {s: icb.code for icb in self.icbs.values() for s in icb.sicbl_codes}


def _icbs() -> dict[str, IcbRow]:
    out: dict[str, IcbRow] = {}
    for r in reference.rows(ICB_FILE):
        code = r["ICB23CDH_ODS"]
        out[code] = IcbRow(
            code=code,
            ons_code=r["ICB23CD"],
            name=r["ICB23NM"],
            region=r["NHSER23NM"],
            region_code=r["NHSER23CD"],
            sicbl_codes=tuple(r["sub_icb_location_ods_codes"].split(";")),
            population=int(r["pop_mid2022_ons"]),
        )
    return out


def _lsoas() -> tuple[dict[str, tuple[LsoaRow, ...]], dict[str, int]]:
    by_icb: dict[str, list[LsoaRow]] = defaultdict(list)
    la_counts: dict[str, int] = defaultdict(int)
    for r in reference.rows(LSOA_FILE):
        row = LsoaRow(
            code=r["lsoa11_code"],
            name=r["lsoa11_name"],
            la_code=r["la_code"],
            la_name=r["la_name"],
            sicbl_code=r["sicbl_code"],
            icb_code=r["icb_code"],
            imd_rank=int(r["imd2019_rank"]),
            imd_decile=int(r["imd2019_decile"]),
        )
        by_icb[row.icb_code].append(row)
        la_counts[row.la_code] += 1
    return {k: tuple(v) for k, v in by_icb.items()}, dict(la_counts)


def _practices() -> tuple[PracticeRow, ...]:
    out = []
    for r in reference.rows(PRACTICES_FILE):
        pcn = r["PCN_CODE"].strip()
        in_pcn = bool(pcn) and pcn != UNALLOCATED_PCN
        out.append(
            PracticeRow(
                code=r["PRACTICE_CODE"],
                name=r["PRACTICE_NAME"],
                postcode=r["PRACTICE_POSTCODE"],
                pcn_code=pcn if in_pcn else None,
                pcn_name=r["PCN_NAME"] if in_pcn else None,
                sicbl_code=r["CCG_CODE"],
                icb_code=r["STP_CODE"],
            )
        )
    return tuple(out)


def _sicbl_names() -> dict[str, str]:
    names = {}
    for r in reference.rows(PRACTICES_FILE):
        name = r["CCG_NAME"].strip().removeprefix("NHS ").removesuffix(" CCG").strip()
        names.setdefault(r["CCG_CODE"], name)
    return names


def _list_sizes() -> dict[str, int]:
    return {
        r["PRACTICE_CODE"]: int(r["TOTAL"])
        for r in reference.rows(LIST_SIZE_FILE)
        if r["TOTAL"].strip()
    }


def _sicbl_population() -> dict[str, int]:
    # The ODS code is only in the name ("NHS South Yorkshire ICB - 02P").
    return {
        r["SICBL 2023 Name"].rsplit(" - ", 1)[-1].strip(): int(r["Total"])
        for r in reference.rows(SICBL_POPULATION_FILE)
    }


def _trusts() -> tuple[TrustRow, ...]:
    seen: set[tuple[str, str]] = set()
    out = []
    for r in reference.rows(TRUSTS_FILE):
        key = (r["der_provider_code"], r["icb_code"])
        if key not in seen:
            seen.add(key)
            out.append(TrustRow(code=key[0], name=r["name"].strip(), icb_code=key[1]))
    return tuple(out)


@lru_cache(maxsize=1)
def reference_tables() -> ReferenceTables:
    """The parsed reference files (cached: the LSOA lookup alone has 32,844 rows)."""
    lsoas, la_counts = _lsoas()
    return ReferenceTables(
        icbs=_icbs(),
        lsoas_by_icb=lsoas,
        la_lsoa_counts=la_counts,
        practices=_practices(),
        list_sizes=_list_sizes(),
        sicbl_population=_sicbl_population(),
        sicbl_names=_sicbl_names(),
        trusts=_trusts(),
    )


def source_years() -> dict[str, str]:
    """The year each figure relates to, for citing beside it."""
    return {
        "population": reference.source_year(ICB_FILE),
        "list_size": reference.source_year(LIST_SIZE_FILE),
        "practices": reference.source_year(PRACTICES_FILE),
        "imd": "2019",
        "trusts": reference.source_year(TRUSTS_FILE),
    }
