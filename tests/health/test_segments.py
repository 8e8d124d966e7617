"""Bridges to Health segments, activity and cost against a hand calculation on the hand-made
population (who is who: tests/health/handmade.py)."""

from __future__ import annotations

from collections.abc import Iterator

import ibis
import pytest

from integrated_care.health.segments import activity_12m, segments, segments_mart
from integrated_care.health.summary import patient_summary
from integrated_care.warehouse.connection import connect
from tests.health.handmade import AS_OF, shared_warehouse

EXPECTED = {
    "end_of_life": {20},
    "frailty_dementia": {15, 18, 21},
    "organ_failure": {22, 23, 24},
    "incurable_cancer": {26, 27},
    "disability": {17, 28},
    "long_term_conditions": {1, 2, 3, 4, 5, 7, 12, 13, 14, 25, 32, 33, 36},
    "maternal": {29, 30},
    "healthy": {6, 8, 9, 16, 19, 31, 34, 35, 37, 38},
}
# Cost in the 12 months to 31 March 2026, by hand:
#  24: COPD admission 2,000 + A&E 150; 27: cancer admission 3,500; 29: maternity 3,000;
#  18: home care 700/week, 1 Oct 2025 - 31 Mar 2026 = 182 days = 26 weeks = 18,200;
#  21: home care 350/week, 1 Apr - 30 Jun 2025 inside the window = 91 days = 13 weeks = 4,550;
#  31: outpatient 120 (the DNA costs nothing) + community 60 + mental health 200 = 380;
#  38: emergency admission 1,000. 25's admission (Feb 2024) is outside the window.
COST = {
    "end_of_life": 0.0,
    "frailty_dementia": 18200.0 + 4550.0,
    "organ_failure": 2150.0,
    "incurable_cancer": 3500.0,
    "disability": 0.0,
    "long_term_conditions": 0.0,
    "maternal": 3000.0,
    "healthy": 380.0 + 1000.0,
}
EMERGENCY = {"organ_failure": 1, "incurable_cancer": 1, "healthy": 1}  # 24, 27, 38 (method 22)


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ibis.BaseBackend]:
    backend = connect(shared_warehouse(tmp_path_factory), read_only=True)
    yield backend
    backend.disconnect()


@pytest.fixture(scope="module")
def summary(con: ibis.BaseBackend) -> list[dict]:
    return patient_summary(con, AS_OF).to_pyarrow().to_pylist()


def test_hierarchy_is_the_documented_order() -> None:
    assert [s.key for s in segments()] == list(EXPECTED)
    assert [s.rank for s in segments()] == list(range(1, 9))


def test_each_person_is_in_the_hand_worked_segment(summary: list[dict]) -> None:
    got: dict[str, set[int]] = {}
    for row in summary:
        got.setdefault(row["segment"], set()).add(row["patient_id"])
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in EXPECTED.items() if v}


def test_activity_and_cost_by_hand(con: ibis.BaseBackend) -> None:
    rows = {r["patient_id"]: r for r in activity_12m(con, AS_OF).to_pyarrow().to_pylist()}
    assert rows[18]["social_care_cost_12m"] == pytest.approx(18200.0)
    assert rows[21]["social_care_cost_12m"] == pytest.approx(4550.0)
    p31 = rows[31]
    assert (p31["op_attendances_12m"], p31["op_cost_12m"]) == (1, 120.0)
    assert (p31["community_cost_12m"], p31["mh_cost_12m"], p31["cost_12m"]) == (60.0, 200.0, 380.0)
    assert p31["gp_appointments_12m"] == 1 and str(p31["last_gp_contact"]) == "2026-03-01"
    assert rows[24]["emergency_admissions_12m"] == 1 and rows[24]["ae_attendances_12m"] == 1
    assert rows[24]["copd_admission_12m"] and not rows[25]["copd_admission_12m"]
    assert rows[25]["emergency_admissions_12m"] == 0
    assert rows[27]["cancer_admission_12m"] and rows[29]["maternity_12m"]
    assert rows[29]["emergency_admissions_12m"] == 0 and rows[29]["elective_admissions_12m"] == 0
    assert rows[38]["emergency_admissions_12m"] == 1


def test_segments_mart_counts_cost_and_activity(con: ibis.BaseBackend) -> None:
    mart = segments_mart(patient_summary(con, AS_OF)).to_pyarrow().to_pylist()
    assert [r["segment"] for r in mart] == list(EXPECTED)
    for row in mart:
        key = row["segment"]
        assert row["people"] == len(EXPECTED[key]), key
        assert row["pct_of_population"] == pytest.approx(round(100 * len(EXPECTED[key]) / 36, 3))
        assert row["cost_12m"] == pytest.approx(COST[key]), key
        assert row["emergency_admissions_12m"] == EMERGENCY.get(key, 0), key
        if row["people"]:
            assert row["cost_per_person"] == pytest.approx(round(COST[key] / row["people"], 2))


def test_summary_has_one_row_per_registered_person(summary: list[dict]) -> None:
    ids = [r["patient_id"] for r in summary]
    assert ids == sorted(set(range(1, 39)) - {10, 11})
    row = {r["patient_id"]: r for r in summary}
    assert row[12]["practice_code"] == "B00001" and row[12]["pcn_code"] == "U00002"
    assert row[12]["place_code"] == "PL2" and row[2]["place_code"] == "PL1"
    assert row[1]["age"] == 70 and row[30]["age"] == 0 and row[1]["imd_decile"] == 1
    assert row[2]["dm"] and not row[3]["dm"]  # register flags apply the age rule (17+)
    assert not row[14]["dep"] and row[13]["dep"]
    assert row[35]["cvdpp"] is False and row[33]["cvdpp"]
    assert row[1]["cms_score"] == pytest.approx(2.17)
    assert row[15]["efi_category"] == "moderate" and row[17]["efi_score"] is None
    assert row[1]["risk_score"] is None and row[1]["risk_band"] is None
    assert row[24]["cost_12m"] == pytest.approx(2150.0)
