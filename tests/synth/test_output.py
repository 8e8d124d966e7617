"""The written input layer: reproducible, complete, valid and internally consistent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from integrated_care.footprint.reference_build import footprint_from_reference
from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.synth.identifiers import is_valid_nhs_number
from integrated_care.warehouse.check import check
from integrated_care.warehouse.schema import TABLES

from .conftest import ICB, PEOPLE, SEED, YEARS

PATIENT_TABLES = ("registrations", "gp_events", "gp_appointments", "medications", "deaths",
                  "apc_spells", "ae_attendances", "op_appointments", "rtt_pathways",
                  "community_contacts", "mh_contacts", "social_care_services")  # fmt: skip


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }  # fmt: skip


def test_same_seed_gives_identical_bytes(out: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(SynthConfig(icb=ICB, out=again, population=PEOPLE, years=YEARS, seed=SEED),
             show_progress=False)  # fmt: skip
    assert _digests(again) == _digests(out)


def test_every_input_layer_table_is_written(out: Path) -> None:
    assert {p.stem for p in out.glob("*.parquet")} == set(TABLES)
    assert (out / "truth" / "emergency_admission_risk.parquet").exists()


def test_checker_finds_no_errors(out: Path) -> None:
    report = check(out)
    assert report.errors == 0, list(report.iter_problems(limit=20))
    # the only remark is that truth/ is not an input-layer table (loaders ignore it)
    assert all("not an input-layer table" in p.reason for p in report.iter_problems())


def test_nhs_numbers_are_valid_unique_and_in_the_test_range(db: duckdb.DuckDBPyConnection) -> None:
    numbers = [r[0] for r in db.execute("SELECT nhs_number FROM patients").fetchall()]
    assert len(set(numbers)) == len(numbers)
    assert all(n.startswith("999") and is_valid_nhs_number(n) for n in numbers)


def test_patient_ids_are_unique_and_not_sequential(db: duckdb.DuckDBPyConnection) -> None:
    ids = [r[0] for r in db.execute("SELECT patient_id FROM patients").fetchall()]
    assert len(set(ids)) == len(ids)
    assert ids != sorted(ids)
    assert max(ids) > 2**40  # spread over the 63-bit range, not a counter


def test_every_patient_id_resolves(db: duckdb.DuckDBPyConnection) -> None:
    for table in PATIENT_TABLES:
        orphans = db.execute(
            f"SELECT count(*) FROM {table} "
            "WHERE patient_id NOT IN (SELECT patient_id FROM patients)"
        ).fetchone()[0]
        assert orphans == 0, table


def test_practices_and_lsoas_are_the_icbs_real_ones(db: duckdb.DuckDBPyConnection) -> None:
    fp = footprint_from_reference(ICB)
    practices = {p.code for p in fp.practices}
    lsoas = {x.code for x in fp.lsoas}
    for table in ("registrations", "gp_events", "gp_appointments", "medications"):
        used = {r[0] for r in db.execute(f"SELECT DISTINCT practice_code FROM {table}").fetchall()}
        assert used <= practices, table
    used = {r[0] for r in db.execute("SELECT DISTINCT lsoa_code FROM patients").fetchall()}
    assert used <= lsoas
    assert len(used) > 0.5 * len(lsoas)


def test_dates_and_times_are_in_order(db: duckdb.DuckDBPyConnection) -> None:
    checks = {
        "ae_attendances": "departure_time < arrival_time",
        "apc_spells": "discharge_date < admission_date",
        "registrations": "end_date < start_date",
        "rtt_pathways": "clock_stop_date < clock_start_date",
        "social_care_services": "end_date < start_date",
        "patients": "date_of_death < date_of_birth",
    }
    for table, wrong in checks.items():
        assert db.execute(f"SELECT count(*) FROM {table} WHERE {wrong}").fetchone()[0] == 0, table
    # registrations of one person do not overlap
    overlaps = db.execute("""
        SELECT count(*) FROM (
          SELECT start_date,
                 lag(end_date) OVER (PARTITION BY patient_id ORDER BY start_date) AS prev
          FROM registrations) WHERE prev >= start_date
    """).fetchone()[0]  # fmt: skip
    assert overlaps == 0


def test_nobody_has_care_after_death(db: duckdb.DuckDBPyConnection) -> None:
    for table, column in (("gp_appointments", "date"), ("op_appointments", "date"),
                          ("apc_spells", "admission_date"), ("medications", "date")):  # fmt: skip
        late = db.execute(f"""
            SELECT count(*) FROM {table} t JOIN patients p USING (patient_id)
            WHERE p.date_of_death IS NOT NULL AND t.{column} > p.date_of_death
        """).fetchone()[0]  # fmt: skip
        assert late == 0, table


def test_truth_has_a_probability_for_final_year_people(db: duckdb.DuckDBPyConnection,
                                                        out: Path) -> None:  # fmt: skip
    truth = out / "truth" / "emergency_admission_risk.parquet"
    n, lo, hi, mean = db.execute(f"""
        SELECT count(*), min(probability_emergency_admission), max(probability_emergency_admission),
               avg(probability_emergency_admission) FROM read_parquet('{truth}')
    """).fetchone()  # fmt: skip
    assert n > 0.95 * PEOPLE
    assert 0 < lo < hi < 1
    assert 0.05 < mean < 0.15  # about 110 admissions per 1,000, some people more than once
