"""The population-health pages' figures, shaped from the marts `ics analyse` stored.

Everything here is an aggregate of the marts (counts per register, segment, band, area, group);
no function returns a row about a person. Each page's figures are computed by DuckDB from
``<data-dir>/marts.duckdb`` and cached per version of that file (it is replaced whole by each
`ics analyse`, which changes its modification time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import ibis
import pandas as pd
from ibis import _
from ibis.backends import BaseBackend
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care import reference
from integrated_care.footprint.models import FootprintPcn, FootprintPlace, FootprintPractice
from integrated_care.health.marts import MartsNotBuilt, marts_manifest, marts_path
from integrated_care.health.page_schemas import (
    EfiCategoryCount,
    Headline,
    NationalSource,
    PopulationHealthOverview,
    RegisterPrevalence,
    RiskBandFigures,
    RiskHistogramBin,
    SegmentFigures,
)
from integrated_care.health.population import (
    AGE_BANDS,
    AgeSexCount,
    PlaceCount,
    PopulationProfile,
    QuintileCount,
    band_label,
    ons_shares,
)
from integrated_care.settings import Settings

NATIONAL_PREVALENCE = "qof_prevalence_by_imd_decile_1920.csv"
RISK_BIN_WIDTH = 0.02
EFI_LABELS = {
    "fit": "Fit",
    "mild": "Mild frailty",
    "moderate": "Moderate frailty",
    "severe": "Severe frailty",
}


def marts_version(settings: Settings) -> tuple[str, float]:
    """The marts file and its modification time: the key the pages' figures are cached on."""
    path = marts_path(settings)
    if not path.exists():
        raise MartsNotBuilt(f"no population-health marts at {path}: run `ics analyse` first")
    return str(path), path.stat().st_mtime


@dataclass(frozen=True)
class AreaNames:
    """Practice, PCN and place names by code, from the footprint."""

    practices: Mapping[str, str] = field(default_factory=dict)
    pcns: Mapping[str, str] = field(default_factory=dict)
    places: Mapping[str, str] = field(default_factory=dict)

    def practice(self, code: str) -> str:
        return self.practices.get(code, code)

    def pcn(self, code: str | None) -> str:
        if code is None:
            return "Practices in no PCN"
        return self.pcns.get(code, code)

    def place(self, code: str) -> str:
        return self.places.get(code, code)


def area_names(session: Session) -> AreaNames:
    def names(model: type) -> dict[str, str]:
        return dict(session.execute(select(model.code, model.name)).all())  # type: ignore[attr-defined,arg-type]

    return AreaNames(
        practices=names(FootprintPractice), pcns=names(FootprintPcn), places=names(FootprintPlace)
    )


def clean_value(value: object) -> object:
    """None for a missing value (None, NaN, NaT, pd.NA) from a mart read with pandas."""
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


# ---- overview ----------------------------------------------------------------------------------


def overview(settings: Settings, names: AreaNames) -> PopulationHealthOverview:
    """The overview page's figures (raises MartsNotBuilt before the first `ics analyse`)."""
    found = _cached_overview(*marts_version(settings)).model_copy(deep=True)
    for place in found.population.by_place:
        place.place_name = names.place(place.place_code)
    manifest = marts_manifest(settings)
    if manifest and manifest.get("built_at"):
        found.headline.built_at = dt.datetime.fromisoformat(manifest["built_at"])
    return found


@lru_cache(maxsize=4)
def _cached_overview(path: str, modified: float) -> PopulationHealthOverview:
    con = ibis.duckdb.connect(path, read_only=True)
    try:
        tables = set(con.list_tables())
        summary = con.table("patient_summary")
        profile = _profile(summary)
        headline = Headline(
            registered=profile.registered,
            as_of=profile.as_of,
            built_at=dt.datetime.fromtimestamp(modified, dt.UTC).replace(microsecond=0),
            practices=int(summary.practice_code.nunique().execute()),
            pcns=int(summary.pcn_code.nunique().execute()),
            places=int(summary.place_code.nunique().execute()),
        )
        return PopulationHealthOverview(
            headline=headline,
            population=profile,
            registers=_system_registers(con),
            national_source=national_source(),
            segments=_segments(con) if "segments" in tables else [],
            risk_bands=_risk_bands(con) if "risk" in tables else [],
            risk_histogram=_risk_histogram(summary),
            efi_categories=_efi(summary),
        )
    finally:
        con.disconnect()


def _profile(summary: ibis.Table) -> PopulationProfile:
    """The registered population by age band and sex, place and IMD quintile, with the ONS
    mid-2022 age/sex shape of the ICS's sub-ICB locations (its places) at the same total."""
    last = len(AGE_BANDS) - 1
    bands = (
        summary.filter(summary.sex.isin(["female", "male"]))
        .mutate(band=ibis.least(_.age // 5, last))
        .group_by("band", "sex")
        .aggregate(n=_.count())
        .execute()
    )
    places = summary.group_by("place_code").aggregate(n=_.count()).order_by("place_code").execute()
    quintiles = (
        summary.filter(summary.imd_decile.notnull())
        .mutate(q=(_.imd_decile + 1) // 2)
        .group_by("q")
        .aggregate(n=_.count())
        .order_by("q")
        .execute()
    )
    as_of = summary.as_of.max().execute()
    counts = {(int(r.band), r.sex): int(r.n) for r in bands.itertuples()}
    sexed = sum(counts.values())
    shares = ons_shares({c for c in places["place_code"] if isinstance(c, str)})
    return PopulationProfile(
        as_of=pd.Timestamp(as_of).date(),
        registered=int(places["n"].sum()),
        withheld_for_opt_out=0,
        by_age_sex=[
            AgeSexCount(
                age_band=band_label(*AGE_BANDS[b]),
                band_order=b,
                sex=sex,
                registered=counts.get((b, sex), 0),
                ons_expected=round(shares.get((b, sex), 0.0) * sexed, 1),
            )
            for b in range(len(AGE_BANDS))
            for sex in ("female", "male")
        ],
        by_place=[
            PlaceCount(place_code=r.place_code, place_name=r.place_code, registered=int(r.n))
            for r in places.itertuples()
            if isinstance(r.place_code, str)
        ],
        by_imd_quintile=[
            QuintileCount(imd_quintile=int(r.q), registered=int(r.n))
            for r in quintiles.itertuples()
        ],
    )


def national_source() -> NationalSource:
    entry = next(e for e in reference.manifest() if e["file"] == NATIONAL_PREVALENCE)
    return NationalSource(source=entry["source"], year=entry["year"], file=NATIONAL_PREVALENCE)


def national_prevalence() -> dict[str, float]:
    """England's published QOF prevalence (%) by QOF group."""
    return {r["qof_group"]: float(r["england_pct"]) for r in reference.rows(NATIONAL_PREVALENCE)}


def _system_registers(con: BaseBackend) -> list[RegisterPrevalence]:
    regs = con.table("registers")
    rows = regs.filter(regs.level == "system").order_by("qof_group").execute()
    england = national_prevalence()
    out = []
    for r in rows.itertuples():
        ics = None if pd.isna(r.prevalence_pct) else float(r.prevalence_pct)
        national = england.get(r.qof_group)
        out.append(
            RegisterPrevalence(
                qof_group=r.qof_group,
                label=r.label,
                numerator=int(r.numerator),
                denominator=int(r.denominator),
                prevalence_pct=ics,
                england_pct=national,
                difference_pct_points=None if ics is None or national is None else ics - national,
            )
        )
    return out


def _segments(con: BaseBackend) -> list[SegmentFigures]:
    rows = con.table("segments").order_by("segment_rank").execute()
    return [
        SegmentFigures.model_validate({k: clean_value(v) for k, v in r.items()})
        for r in rows.to_dict("records")
    ]


def _risk_bands(con: BaseBackend) -> list[RiskBandFigures]:
    rows = con.table("risk").execute()
    return [
        RiskBandFigures.model_validate({k: clean_value(v) for k, v in r.items()})
        for r in rows.to_dict("records")
    ]


def _risk_histogram(summary: ibis.Table) -> list[RiskHistogramBin]:
    bins = round(1 / RISK_BIN_WIDTH)
    scored = summary.filter(summary.risk_score.notnull())
    counts = (
        scored.mutate(
            bin=ibis.least((scored.risk_score / RISK_BIN_WIDTH).floor().cast("int64"), bins - 1)
        )
        .group_by("bin")
        .aggregate(n=_.count())
        .execute()
    )
    if counts.empty:
        return []
    found = dict(zip(counts["bin"].astype(int), counts["n"].astype(int), strict=True))
    top = max(found)
    return [
        RiskHistogramBin(
            lower=round(b * RISK_BIN_WIDTH, 4),
            upper=round((b + 1) * RISK_BIN_WIDTH, 4),
            people=found.get(b, 0),
        )
        for b in range(top + 1)
    ]


def _efi(summary: ibis.Table) -> list[EfiCategoryCount]:
    rows = (
        summary.filter(summary.efi_category.notnull())
        .group_by("efi_category")
        .aggregate(n=_.count())
        .execute()
    )
    counts = dict(zip(rows["efi_category"], rows["n"].astype(int), strict=True))
    total = sum(counts.values()) or 1
    return [
        EfiCategoryCount(
            efi_category=c,
            label=label,
            people=counts.get(c, 0),
            pct_of_65_plus=counts.get(c, 0) / total * 100,
        )
        for c, label in EFI_LABELS.items()
    ]
