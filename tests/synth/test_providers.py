"""Hospital activity spread across the ICB's providers, their differing performance, the elective
day-case split and emergency readmissions."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np

from integrated_care.synth.admissions import Discharges, _readmissions
from integrated_care.synth.core import rng
from integrated_care.synth.footprint import load_footprint
from integrated_care.synth.params import read_json
from integrated_care.synth.providers import hospital_providers
from integrated_care.synth.report import calibration_report

from .conftest import ICB

ELECTIVE = "admission_method IN ('11', '12', '13')"
EMERGENCY = "admission_method LIKE '2%'"


def test_planned_care_reaches_the_independent_sector(db: duckdb.DuckDBPyConnection) -> None:
    spec = read_json("providers.json")["independent_sector"]
    by_provider = dict(db.execute(
        f"SELECT provider_code, count(*) FROM apc_spells WHERE {ELECTIVE} GROUP BY 1"
    ).fetchall())  # fmt: skip
    assert set(by_provider) == {"RWE", "XQK102"}  # the acute trust and the independent hospital
    share = by_provider["XQK102"] / sum(by_provider.values())
    assert 0.04 < share < 0.12  # England: about 8-10% of elective admissions
    # emergency and maternity care stay with the acute trust
    assert db.execute(
        f"SELECT DISTINCT provider_code FROM apc_spells WHERE NOT ({ELECTIVE})"
    ).fetchall() == [("RWE",)]  # fmt: skip
    for table in ("op_appointments", "rtt_pathways"):
        specialties = {r[0] for r in db.execute(
            f"SELECT DISTINCT treatment_function_code FROM {table} WHERE provider_code = 'XQK102'"
        ).fetchall()}  # fmt: skip
        assert specialties and specialties <= set(spec["specialties"]), table
    # some type 3 attendances go to the independent urgent care provider, only type 3
    types = db.execute(
        "SELECT DISTINCT department_type FROM ae_attendances WHERE provider_code = 'XQK103'"
    ).fetchall()  # fmt: skip
    assert types == [(3,)]


def test_four_hour_performance_differs_between_acute_trusts(
    multi_trust: duckdb.DuckDBPyConnection,
) -> None:
    rows = multi_trust.execute("""
        SELECT provider_code, count(*),
               avg((departure_time - arrival_time <= INTERVAL 4 HOUR)::INT)
        FROM ae_attendances WHERE department_type = 1 GROUP BY 1 ORDER BY 1
    """).fetchall()  # fmt: skip
    assert [r[0] for r in rows] == ["RAX", "RJ6", "RJ7", "RVR"]
    assert all(n > 300 for _, n, _ in rows)
    within4 = [share for _, _, share in rows]
    assert max(within4) - min(within4) > 0.05
    assert all(0.3 < share < 0.9 for share in within4)


def test_provider_multipliers_are_fixed_by_the_seed_and_within_their_ranges() -> None:
    fp = load_footprint("QWE")
    people = SimpleNamespace(n=10, lsoa0=np.zeros(10, np.int64))
    a = hospital_providers(fp, people, seed=3)  # type: ignore[arg-type]
    b = hospital_providers(fp, people, seed=3)  # type: ignore[arg-type]
    c = hospital_providers(fp, people, seed=4)  # type: ignore[arg-type]
    assert a.codes[:4] == fp.acute
    np.testing.assert_array_equal(a.ae_time, b.ae_time)
    assert not np.array_equal(a.ae_time, c.ae_time)
    perf = read_json("providers.json")["performance"]
    for k, code in enumerate(a.codes):
        kind = "acute_trust" if code in fp.acute else "independent_sector"
        for name, values in (("ae_time_multiplier", a.ae_time), ("rtt_wait_multiplier",
                             a.rtt_wait), ("dna_multiplier", a.dna)):  # fmt: skip
            lo, hi = perf[kind][name]
            assert lo <= values[k] <= hi, (code, name)


def test_most_elective_admissions_are_day_cases(db: duckdb.DuckDBPyConnection) -> None:
    day_case, overnight = db.execute(f"""
        SELECT avg((discharge_date = admission_date)::INT),
               sum((discharge_date > admission_date)::INT)
        FROM apc_spells WHERE {ELECTIVE}
    """).fetchone()  # fmt: skip
    assert 0.72 < day_case < 0.88  # England: about 80%
    assert overnight > 500


def test_thirty_day_emergency_readmissions(db: duckdb.DuckDBPyConnection) -> None:
    """As the oversight measure counts them: discharges alive (not maternity) followed by an
    emergency admission 0-29 days later, for discharges that could be followed 30 days."""
    end = db.execute("SELECT max(admission_date) FROM apc_spells").fetchone()[0]
    rate, n = db.execute(f"""
        WITH s AS (SELECT row_number() OVER () AS k, * FROM apc_spells),
             idx AS (SELECT * FROM s WHERE admission_method <> '31'
                     AND discharge_destination NOT IN ('79', '98')
                     AND discharge_date <= DATE '{end}' - INTERVAL 30 DAY)
        SELECT avg((EXISTS (SELECT 1 FROM s e WHERE e.patient_id = idx.patient_id
                            AND e.{EMERGENCY} AND e.k <> idx.k
                            AND e.admission_date >= idx.discharge_date
                            AND e.admission_date < idx.discharge_date + 30))::INT), count(*)
        FROM idx
    """).fetchone()  # fmt: skip
    assert n > 5000
    assert 0.09 < rate < 0.16  # England: about 14%


def test_readmissions_fall_in_the_thirty_days_after_discharge() -> None:
    y = SimpleNamespace(who=np.arange(4))
    death = np.array([10**6, 10**6, 105, 10**6])
    index = Discharges(row=np.repeat(np.arange(4), 5000), day=np.full(20000, 100))
    flat = np.ones(4)
    row, day = _readmissions(rng(1, "test"), y, index, 0.2, flat, death, end=10**6)  # type: ignore[arg-type]
    assert ((day >= 100) & (day <= 129)).all()
    assert (day[row == 2] < 105).all()  # none on or after the death
    share = np.bincount(row, minlength=4) / 5000
    assert abs(share[0] - 0.2) < 0.02 and abs(share[3] - 0.2) < 0.02
    # the hazard falls after discharge: the first week has more than the last
    assert (day < 107).sum() > 2 * (day >= 123).sum()
    _, late = _readmissions(rng(1, "test"), y, index, 0.2, flat, death, end=110)  # type: ignore[arg-type]
    assert late.max() <= 110
    # four times the risk, twice the chance (risk_exponent 0.5); the mean stays at 0.2
    risk = np.array([1.0, 1.0, 1.0, 4.0])
    row, _ = _readmissions(rng(2, "test"), y, index, 0.2, risk, np.full(4, 10**6), end=10**6)  # type: ignore[arg-type]
    share = np.bincount(row, minlength=4) / 5000
    assert abs(share[3] / share[0] - 2) < 0.25
    assert abs(share.mean() - 0.2) < 0.01


def test_emergency_admissions_stay_at_their_calibrated_rate(out: Path) -> None:
    report = calibration_report(out, ICB)
    rows = {name: (synthetic, expected) for name, synthetic, _, expected in report.activity}
    synthetic, expected = rows["Emergency admissions per 1,000"]
    assert abs(synthetic / expected - 1) < 0.06
