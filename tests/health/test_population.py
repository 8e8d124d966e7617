"""The registered-population profile, checked against an independent pandas calculation made
straight from the generated extract files (not through Ibis or the warehouse)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from integrated_care.health.population import AGE_BANDS, population_profile
from integrated_care.settings import Settings
from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.warehouse.load import load


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    root = tmp_path_factory.mktemp("population")
    extract = root / "extract"
    generate(
        SynthConfig(icb="QK1", out=extract, population=4000, years=2, seed=11), show_progress=False
    )
    settings = Settings(data_dir=root / "ics-data")
    load(extract, settings)
    return extract, settings


def _independent(extract: Path) -> dict:
    patients = pd.read_parquet(extract / "patients.parquet")
    withheld = int(patients["national_opt_out"].sum())
    regs = pd.read_parquet(extract / "registrations.parquet")
    lsoas = pd.read_parquet(extract / "lsoas.parquet")
    as_of = pd.read_parquet(extract / "gp_appointments.parquet")["date"].max()
    as_of = pd.Timestamp(as_of)
    patients = patients[~patients["national_opt_out"]]
    dob = pd.to_datetime(patients["date_of_birth"])
    dod = pd.to_datetime(patients["date_of_death"])
    alive = patients[dod.isna() | (dod > as_of)].copy()
    dob = pd.to_datetime(alive["date_of_birth"])
    alive["age"] = as_of.year - dob.dt.year - (as_of.month < dob.dt.month).astype(int)
    start, end = pd.to_datetime(regs["start_date"]), pd.to_datetime(regs["end_date"])
    current = regs[(start <= as_of) & (end.isna() | (end > as_of))]
    people = alive[alive["patient_id"].isin(current["patient_id"])].merge(
        lsoas[["lsoa_code", "place_code", "imd_decile"]], on="lsoa_code", how="left"
    )
    people["band"] = (people["age"] // 5).clip(upper=len(AGE_BANDS) - 1)
    return {
        "as_of": as_of.date(),
        "registered": len(people),
        "withheld": withheld,
        "by_band_sex": people[people["sex"].isin(["female", "male"])]
        .groupby(["band", "sex"])
        .size()
        .to_dict(),
        "by_place": people.groupby("place_code").size().to_dict(),
        "by_quintile": people.groupby((people["imd_decile"] + 1) // 2).size().to_dict(),
    }


def test_profile_matches_an_independent_count(loaded) -> None:
    extract, settings = loaded
    expected = _independent(extract)
    profile = population_profile(settings)
    assert profile is not None
    assert profile.as_of == expected["as_of"]
    assert profile.registered == expected["registered"]
    assert profile.withheld_for_opt_out == expected["withheld"] > 0
    got = {(r.band_order, r.sex): r.registered for r in profile.by_age_sex if r.registered}
    assert got == {(int(b), s): n for (b, s), n in expected["by_band_sex"].items()}
    assert {p.place_code: p.registered for p in profile.by_place} == expected["by_place"]
    assert {q.imd_quintile: q.registered for q in profile.by_imd_quintile} == {
        int(k): v for k, v in expected["by_quintile"].items()
    }


def test_ons_shape_is_scaled_to_the_registered_total(loaded) -> None:
    _, settings = loaded
    profile = population_profile(settings)
    sexed = sum(r.registered for r in profile.by_age_sex)
    assert sum(r.ons_expected for r in profile.by_age_sex) == pytest.approx(sexed, rel=1e-3)
    # Older people are a small share of any ICS: the ONS 85+ shape is well under a tenth.
    old = sum(r.ons_expected for r in profile.by_age_sex if r.band_order >= 17)
    assert 0 < old < 0.1 * sexed


def test_no_warehouse_means_no_profile(tmp_path) -> None:
    assert population_profile(Settings(data_dir=tmp_path)) is None


def test_public_api_suppresses_small_numbers(loaded, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from integrated_care.runtime import Runtime
    from integrated_care.web.app import create_app

    _, settings = loaded
    runtime = Runtime(settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/o.db"}))
    with TestClient(create_app(runtime)) as client:
        data = client.get("/api/population").json()
    counts = [r["registered"] for r in data["by_age_sex"]]
    assert all(c is None or c == 0 or c >= 10 for c in counts)
    full = population_profile(settings)
    hidden = [r for r in full.by_age_sex if 0 < r.registered < 10]
    assert sum(c is None for c in counts) == len(hidden)
