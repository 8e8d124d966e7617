"""The registered population of the ICS, from the warehouse: by age and sex, place and deprivation.

Counted from the pseudonymised warehouse, so people with a national data opt-out are not in
these figures (the load manifest says how many were withheld); the home page says so beside them.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import ibis
from ibis import _
from ibis.expr.types import Table
from pydantic import BaseModel

from integrated_care import reference
from integrated_care.settings import Settings
from integrated_care.warehouse.connection import WarehouseError, connect, location

AGE_BANDS = [(lo, lo + 4) for lo in range(0, 90, 5)] + [(90, 200)]
SMALL_NUMBER = 10  # counts below this are suppressed in public figures (NHS practice: 1-9 hidden)


def band_label(lo: int, hi: int) -> str:
    return f"{lo}+" if hi >= 200 else f"{lo}-{hi}"


class AgeSexCount(BaseModel):
    age_band: str
    band_order: int
    sex: str
    registered: int | None  # None only in public figures, where 1-9 are suppressed
    ons_expected: float  # the ONS mid-2022 age/sex share applied to the registered total


class PlaceCount(BaseModel):
    place_code: str
    place_name: str
    registered: int


class QuintileCount(BaseModel):
    imd_quintile: int  # 1 = most deprived fifth of England (IMD 2019)
    registered: int


class PopulationProfile(BaseModel):
    as_of: dt.date
    registered: int
    withheld_for_opt_out: int
    by_age_sex: list[AgeSexCount]
    by_place: list[PlaceCount]
    by_imd_quintile: list[QuintileCount]
    ons_source: str = "ONS mid-2022 population estimates by sub-ICB location"


def suppress(n: int) -> int | None:
    """Public figures hide counts of 1-9 so nobody can be picked out."""
    return None if 0 < n < SMALL_NUMBER else n


def _as_of(con: ibis.BaseBackend) -> dt.date:
    """The extract date: the latest GP appointment, else the latest registration."""
    for table, column in (("gp_appointments", "date"), ("registrations", "start_date")):
        latest = con.table(table)[column].max().execute()
        if latest is not None and latest == latest:  # not null / NaT
            return dt.date.fromisoformat(str(latest)[:10])
    return dt.date.today()


def registered_population(con: ibis.BaseBackend, as_of: dt.date) -> Table:
    """One row per person alive and registered with a practice of the ICS on `as_of`."""
    patients = con.table("patients")
    regs = con.table("registrations")
    lsoas = con.table("lsoas")
    day = ibis.literal(as_of)
    current = (
        regs.filter((regs.start_date <= day) & (regs.end_date.isnull() | (regs.end_date > day)))
        .select("patient_id", "practice_code")
        .distinct(on="patient_id")
    )
    alive = patients.filter(patients.date_of_death.isnull() | (patients.date_of_death > day))
    age = (
        day.year()
        - alive.date_of_birth.year()
        - (day.month() < alive.date_of_birth.month()).cast("int64")
    )
    people = alive.select("patient_id", "sex", "lsoa_code", age=age).join(current, "patient_id")
    return people.left_join(lsoas.select("lsoa_code", "place_code", "imd_decile"), "lsoa_code")


def ons_shares(icb_sicbls: set[str]) -> dict[tuple[int, str], float]:
    """Share of the ONS mid-2022 population in each (age band index, sex) for these SICBLs."""
    totals: dict[tuple[int, str], float] = {}
    for row in reference.rows("sicbl_population_mid2022.csv"):
        code = row["SICBL 2023 Name"].rsplit(" - ", 1)[-1]
        if code not in icb_sicbls:
            continue
        for sex, prefix in (("female", "F"), ("male", "M")):
            for age in range(91):
                band = min(age // 5, len(AGE_BANDS) - 1)
                totals[(band, sex)] = totals.get((band, sex), 0.0) + float(row[f"{prefix}{age}"])
    grand = sum(totals.values()) or 1.0
    return {k: v / grand for k, v in totals.items()}


def _manifest_withheld(con: ibis.BaseBackend) -> int:
    if "load_manifest" not in con.list_tables():
        return 0
    manifest = con.table("load_manifest")
    row = manifest.filter(manifest.table == "patients").execute()
    return int(row["rows_withheld_opt_out"].iloc[0]) if len(row) else 0


def build_profile(con: ibis.BaseBackend) -> PopulationProfile:
    as_of = _as_of(con)
    people = registered_population(con, as_of)
    by_band = (
        people.filter(people.sex.isin(["female", "male"]))
        .mutate(band=ibis.least(_.age // 5, len(AGE_BANDS) - 1))
        .group_by("band", "sex")
        .aggregate(n=_.count())
        .execute()
    )
    places = con.table("places")
    by_place = (
        people.group_by("place_code")
        .aggregate(n=_.count())
        .join(places.select("place_code", "name"), "place_code")
        .order_by("place_code")
        .execute()
    )
    by_quintile = (
        people.filter(people.imd_decile.notnull())
        .mutate(imd_quintile=(_.imd_decile + 1) // 2)
        .group_by("imd_quintile")
        .aggregate(n=_.count())
        .order_by("imd_quintile")
        .execute()
    )
    registered = int(by_place["n"].sum())
    sicbls = _icb_sicbls(con)
    shares = ons_shares(sicbls)
    counts = {(int(r.band), r.sex): int(r.n) for r in by_band.itertuples()}
    sexed_total = sum(counts.values())
    return PopulationProfile(
        as_of=as_of,
        registered=registered,
        withheld_for_opt_out=_manifest_withheld(con),
        by_age_sex=[
            AgeSexCount(
                age_band=band_label(*AGE_BANDS[b]),
                band_order=b,
                sex=sex,
                registered=counts.get((b, sex), 0),
                ons_expected=round(shares.get((b, sex), 0.0) * sexed_total, 1),
            )
            for b in range(len(AGE_BANDS))
            for sex in ("female", "male")
        ],
        by_place=[
            PlaceCount(place_code=r.place_code, place_name=r.name, registered=int(r.n))
            for r in by_place.itertuples()
        ],
        by_imd_quintile=[
            QuintileCount(imd_quintile=int(r.imd_quintile), registered=int(r.n))
            for r in by_quintile.itertuples()
        ],
    )


def _icb_sicbls(con: ibis.BaseBackend) -> set[str]:
    """The sub-ICB location codes of the ICS, from its organisations in the warehouse."""
    orgs = con.table("organisations")
    icb = orgs.filter(orgs.org_type == "icb").select("org_code").execute()
    codes = set(icb["org_code"])
    for row in reference.rows("icb_summary.csv"):
        if row["ICB23CDH_ODS"] in codes:
            return set(row["sub_icb_location_ods_codes"].split(";"))
    return set()


@lru_cache(maxsize=4)
def _cached_profile(path: str, modified: float) -> PopulationProfile:
    con = connect(Settings(warehouse_url=f"duckdb:///{path}"), read_only=True)
    try:
        return build_profile(con)
    finally:
        con.disconnect()


def population_profile(settings: Settings) -> PopulationProfile | None:
    """The profile of the loaded warehouse, or None when nothing has been loaded yet.

    Cached per warehouse file version: `ics load` replaces the file, which changes its mtime.
    """
    where = location(settings)
    if where.path is None or not Path(where.path).exists():
        return None
    try:
        return _cached_profile(str(where.path), Path(where.path).stat().st_mtime)
    except WarehouseError:
        return None
