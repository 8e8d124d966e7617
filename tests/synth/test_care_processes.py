"""Medication reviews, SMI health checks and metastatic cancer in the generated GP and hospital
records, counted independently from the written files on their own small ICS."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.synth.params import DATA
from integrated_care.synth.report import calibration_report

from .conftest import ICB

PEOPLE, YEARS, SEED = 60_000, 3, 3
END = "DATE '2026-03-31'"
LAST_YEAR = f"date > {END} - INTERVAL 365 DAY AND date <= {END}"
REVIEW, STRUCTURED = "182836005", "1239511000000100"
SMI, CANCER, METASTATIC = "58214004", "363346000", "128462008"
SYSTOLIC, DIASTOLIC, BMI, HBA1C = "271649006", "271650006", "60621009", "999791000000106"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("care") / "ics"
    generate(SynthConfig(icb=ICB, out=out, population=PEOPLE, years=YEARS, seed=SEED),
             show_progress=False)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def db(folder: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    for f in folder.glob("*.parquet"):
        con.execute(f"CREATE VIEW {f.stem} AS SELECT * FROM read_parquet('{f}')")
    # registered people alive at the end of the window, with age then
    con.execute(f"""
        CREATE TABLE alive AS
        SELECT patient_id, date_diff('month', date_of_birth, {END}) // 12 AS age FROM patients
        WHERE (date_of_death IS NULL OR date_of_death > {END})
          AND patient_id IN (SELECT patient_id FROM registrations WHERE end_date IS NULL)
    """)  # fmt: skip
    yield con
    con.close()


def _one(db: duckdb.DuckDBPyConnection, sql: str):  # type: ignore[no-untyped-def]
    return db.execute(sql).fetchone()[0]


def _has(code: str, when: str = f"date <= {END}") -> str:
    events = f"SELECT patient_id FROM gp_events WHERE snomed_code = '{code}' AND {when}"
    return f"patient_id IN ({events})"


REVIEWED = f"({_has(REVIEW, LAST_YEAR)} OR {_has(STRUCTURED, LAST_YEAR)})"
ANY_REVIEW = f"snomed_code IN ('{REVIEW}', '{STRUCTURED}')"


def _efi_deficits(db: duckdb.DuckDBPyConnection) -> None:
    """Electronic frailty index deficits counted from the record: coded conditions that are eFI
    deficits (the SNOMED codes of conditions.csv), plus polypharmacy (5+ distinct medicines in
    the last 12 months)."""
    with (DATA / "conditions.csv").open() as f:
        pairs = [(r["snomed_code"], r["efi"]) for r in csv.DictReader(f) if r["efi"]]
    db.execute("CREATE OR REPLACE TABLE efi_codes (code VARCHAR, deficit VARCHAR)")
    db.executemany("INSERT INTO efi_codes VALUES (?, ?)", pairs)
    db.execute(f"""
        CREATE OR REPLACE TABLE deficits AS
        WITH d AS (
            SELECT DISTINCT patient_id, deficit FROM gp_events JOIN efi_codes ON snomed_code = code
            WHERE date <= {END}
            UNION
            SELECT patient_id, 'polypharmacy' FROM medications WHERE {LAST_YEAR}
            GROUP BY 1 HAVING count(DISTINCT dmd_code) >= 5)
        SELECT patient_id, count(*) AS n FROM d GROUP BY 1
    """)  # fmt: skip


def test_reviews_fall_on_a_repeat_issue_day_of_the_same_person(
    db: duckdb.DuckDBPyConnection,
) -> None:
    reviews = _one(db, f"SELECT count(*) FROM gp_events WHERE {ANY_REVIEW}")
    assert reviews > 0.1 * PEOPLE
    without = _one(db, f"""
        SELECT count(*) FROM gp_events g WHERE {ANY_REVIEW}
        AND NOT EXISTS (SELECT 1 FROM medications m
                        WHERE m.patient_id = g.patient_id AND m.date = g.date)
    """)  # fmt: skip
    assert without == 0
    never_medicated = _one(db, f"""
        SELECT count(*) FROM gp_events WHERE snomed_code IN ('{REVIEW}', '{STRUCTURED}')
        AND patient_id NOT IN (SELECT patient_id FROM medications)
    """)  # fmt: skip
    assert never_medicated == 0
    twice_a_year = _one(db, f"""
        SELECT count(*) FROM (SELECT patient_id FROM gp_events
            WHERE snomed_code IN ('{REVIEW}', '{STRUCTURED}') AND {LAST_YEAR}
            GROUP BY 1 HAVING count(*) > 1)
    """)  # fmt: skip
    assert twice_a_year == 0  # at most one a financial year, and the last 12 months are one


def test_reviews_are_commoner_with_more_repeat_medicines(db: duckdb.DuckDBPyConnection) -> None:
    rows = db.execute(f"""
        WITH items AS (SELECT patient_id, count(DISTINCT dmd_code) AS n FROM (
                SELECT patient_id, dmd_code FROM medications WHERE {LAST_YEAR}
                GROUP BY ALL HAVING count(*) >= 2) GROUP BY 1)
        SELECT n >= 8 AS many, avg({REVIEWED}::INT)
        FROM alive JOIN items USING (patient_id) WHERE n = 1 OR n >= 8 GROUP BY 1
    """).fetchall()  # fmt: skip
    share = dict(rows)
    assert 0.45 < share[False] < share[True] < 0.9, share


def test_a_realistic_minority_of_severely_frail_people_had_no_review(
    db: duckdb.DuckDBPyConnection,
) -> None:
    _efi_deficits(db)
    n, not_reviewed = db.execute(f"""
        SELECT count(*), avg((NOT {REVIEWED})::INT)
        FROM alive JOIN deficits USING (patient_id)
        WHERE age >= 65 AND n >= 13
          AND patient_id IN (SELECT patient_id FROM medications WHERE {LAST_YEAR})
    """).fetchone()  # fmt: skip
    assert n >= 40
    assert 0.15 < not_reviewed < 0.45, (n, not_reviewed)


def test_structured_reviews_go_mostly_to_the_frail_and_start_in_october_2020(
    db: duckdb.DuckDBPyConnection,
) -> None:
    _efi_deficits(db)
    rate = dict(db.execute(f"""
        SELECT coalesce(n, 0) >= 9 AS frail, avg(({_has(STRUCTURED, LAST_YEAR)})::INT)
        FROM alive LEFT JOIN deficits USING (patient_id) WHERE age >= 65 GROUP BY 1
    """).fetchall())  # fmt: skip
    assert rate[True] > 4 * rate[False] > 0, rate
    first = _one(db, f"SELECT min(date) FROM gp_events WHERE snomed_code = '{STRUCTURED}'")
    assert first >= dt.date(2020, 10, 1)


def test_about_half_to_three_fifths_of_the_smi_register_had_a_full_check(
    db: duckdb.DuckDBPyConnection,
) -> None:
    n, checked = db.execute(f"""
        WITH elements AS (
            SELECT patient_id, count(DISTINCT CASE WHEN snomed_code IN ('{SYSTOLIC}', '{DIASTOLIC}')
                                                   THEN 'bp' ELSE snomed_code END) AS k
            FROM gp_events WHERE {LAST_YEAR}
              AND snomed_code IN ('{SYSTOLIC}', '{DIASTOLIC}', '{BMI}', '{HBA1C}')
            GROUP BY 1)
        SELECT count(*), avg((coalesce(k, 0) = 3)::INT)
        FROM alive LEFT JOIN elements USING (patient_id) WHERE {_has(SMI)}
    """).fetchone()  # fmt: skip
    assert n > 300
    assert 0.45 < checked < 0.65, (n, checked)


def test_checks_record_every_element_on_one_day(db: duckdb.DuckDBPyConnection) -> None:
    """The check's readings share a day; other people's readings rarely coincide."""
    rows = db.execute(f"""
        WITH same_day AS (
            SELECT DISTINCT patient_id FROM gp_events WHERE {LAST_YEAR}
              AND snomed_code IN ('{SYSTOLIC}', '{BMI}', '{HBA1C}')
            GROUP BY patient_id, date HAVING count(DISTINCT snomed_code) = 3)
        SELECT {_has(SMI)} AS smi, avg((patient_id IN (SELECT * FROM same_day))::INT)
        FROM alive WHERE {_has(SMI)} OR {_has("44054006")} GROUP BY 1
    """).fetchall()  # fmt: skip
    share = dict(rows)  # SMI register vs people with diabetes (frequent readings) without SMI
    assert share[True] > 0.45 and share[False] < 0.05, share


def test_metastatic_cancer_only_after_a_cancer_diagnosis(db: duckdb.DuckDBPyConnection) -> None:
    orphans = _one(db, f"""
        SELECT count(*) FROM gp_events m WHERE snomed_code = '{METASTATIC}'
        AND NOT EXISTS (SELECT 1 FROM gp_events c WHERE c.patient_id = m.patient_id
                        AND c.snomed_code = '{CANCER}' AND c.date <= m.date)
    """)  # fmt: skip
    assert orphans == 0
    people, cancer, meta = db.execute(
        f"SELECT count(*), sum(({_has(CANCER)})::INT), sum(({_has(METASTATIC)})::INT) FROM alive"
    ).fetchone()  # fmt: skip
    assert 0.0015 < meta / people < 0.006, (meta, people)
    assert 0.05 < meta / cancer < 0.25, (meta, cancer)


def test_secondary_cancer_admissions_and_deaths(db: duckdb.DuckDBPyConnection) -> None:
    secondary = "substr(primary_diagnosis, 1, 3) IN ('C77', 'C78', 'C79')"
    admitted = _one(db, f"SELECT count(*) FROM apc_spells WHERE {secondary}")
    assert admitted > 20
    wrong = f"SELECT count(*) FROM apc_spells WHERE {secondary} AND NOT {_has(METASTATIC)}"
    assert _one(db, wrong) == 0
    # secondary cancer is never an underlying cause of death: the primary is
    assert _one(db, "SELECT count(*) FROM deaths WHERE substr(underlying_cause, 1, 3) "
                    "IN ('C77', 'C78', 'C79')") == 0  # fmt: skip
    died = db.execute(f"""
        SELECT avg((date_of_death IS NOT NULL)::INT) FILTER (WHERE {_has(METASTATIC)}),
               avg((date_of_death IS NOT NULL)::INT) FILTER (WHERE {_has(CANCER)}
                                                             AND NOT {_has(METASTATIC)})
        FROM patients
    """).fetchone()  # fmt: skip
    assert died[0] > 2 * died[1], died


def test_report_summarises_the_care_processes(folder: Path) -> None:
    rows = {name: value for name, value, _ in calibration_report(folder, ICB).care_processes}
    assert 0.45 < rows["SMI register with blood pressure, BMI and HbA1c, %"] / 100 < 0.65
    assert 0.1 < rows["Metastatic cancer code, % of people"] < 0.6
    assert 50 < rows["Medication review, % of people on repeat medicines"] < 75
