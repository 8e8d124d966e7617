"""Code lists, condition flags and QOF registers against hand calculations on the hand-made
population (tests/health/handmade.py: who is who, and why, is in `population()`'s docstring)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import ibis
import pytest

from integrated_care.health import codelists
from integrated_care.health.registers import condition_flags, registers_mart
from integrated_care.warehouse.connection import connect
from tests.health.handmade import AS_OF, shared_warehouse

SYNTH = Path(__file__).parents[2] / "src/integrated_care/synth/data"


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ibis.BaseBackend]:
    backend = connect(shared_warehouse(tmp_path_factory), read_only=True)
    yield backend
    backend.disconnect()


def _icd10_covered(code: str, prefixes: set[str]) -> bool:
    plain = code.replace(".", "").upper()
    return any(plain.startswith(p) for p in prefixes)


def test_every_code_the_generator_emits_is_in_the_code_lists() -> None:
    snomed = {(c.condition, c.code) for c in codelists.codes_for("snomed")}
    icd10 = {}
    for c in codelists.codes_for("icd10"):
        icd10.setdefault(c.condition, set()).add(c.code)
    with (SYNTH / "conditions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 50
    for row in rows:
        key = row["key"].lower()
        assert (key, row["snomed_code"]) in snomed, row["key"]
        if row["icd10"]:
            assert _icd10_covered(row["icd10"], icd10[key]), row["key"]
    # The medicines the Cambridge score's treatment rules count are the ones the generator issues.
    dmd = {c.code for c in codelists.codes_for("dmd")}
    with (SYNTH / "medications.csv").open() as f:
        for med in csv.DictReader(f):
            if med["condition"] in ("AST", "EP", "DEP", "ANX", "IBS", "CONST", "PAIN"):
                assert med["dmd_code"] in dmd, med


def test_code_lists_are_well_formed_and_versioned() -> None:
    shapes = {
        "snomed": r"[1-9][0-9]{5,17}",
        "dmd": r"[1-9][0-9]{5,17}",
        "icd10": r"[A-Z][0-9A-Z]{0,4}",
    }
    seen = set()
    for c in (*codelists.codes(), *codelists.resolved_codes()):
        assert re.fullmatch(shapes[c.code_system], c.code), c
        assert c.list_version == "2026.1" and c.source and c.term
        assert (c.condition, c.code_system, c.code) not in seen, c
        seen.add((c.condition, c.code_system, c.code))
    groups = {r.qof_group for r in codelists.register_rules()}
    assert groups == set(codelists.qof_england_prevalence())  # the 21 QOF 2019/20 groups
    for rule in codelists.register_rules():
        assert rule.condition in codelists.diagnosis_conditions()
        assert len([c for c in codelists.codes_for("snomed") if c.condition == rule.condition])
    assert set(codelists.list_versions().values()) == {"2026.1"}


def test_condition_flags_one_row_per_patient(con: ibis.BaseBackend) -> None:
    flags = condition_flags(con, AS_OF).to_pyarrow().to_pylist()
    assert sorted(r["patient_id"] for r in flags) == list(range(1, 39))
    by_id = {r["patient_id"]: r for r in flags}
    assert {"dm", "hyp", "chd", "copd", "af", "ckd45", "falls", "can_meta"} <= set(flags[0])
    assert by_id[1]["dm"] and by_id[1]["hyp"] and by_id[1]["af"] and not by_id[1]["chd"]
    assert not by_id[6]["dm"]  # resolved after the diagnosis
    assert by_id[7]["dm"]  # diagnosed again after being resolved
    assert not by_id[8]["hyp"]  # resolved the same day: resolved wins
    assert not by_id[9]["chd"]  # coded after the date
    assert by_id[10]["hf"] and by_id[11]["copd"]  # flags are for every patient, alive or not
    assert by_id[23]["ckd"] and by_id[23]["ckd45"]
    assert by_id[33]["cvdpp"] and not by_id[34]["cvdpp"] and by_id[37]["cvdpp"]
    assert by_id[35]["cvdpp"]  # no age rule in the flags
    assert not any(v for k, v in by_id[38].items() if k != "patient_id")


def test_hospital_diagnoses_add_flags_when_asked(con: ibis.BaseBackend) -> None:
    flags = condition_flags(con, AS_OF, include_hospital=True).to_pyarrow().to_pylist()
    p38 = next(r for r in flags if r["patient_id"] == 38)
    on = {k for k, v in p38.items() if k != "patient_id" and v}
    assert on == {"hyp", "dm", "ckd", "ckd45"}  # I10, E11.9, N18.4
    p24 = next(r for r in flags if r["patient_id"] == 24)
    assert p24["copd"]


# Worked out by hand from the population table: registered people are 1-38 except 10 (dead) and
# 11 (deregistered); 36 people. Ages under 17: 3 (16), 4 (5), 5 (6), 30 (0); 17-year-olds: 2, 14.
SYSTEM = {
    # group: (numerator, denominator)
    "AF": (1, 36),  # 1
    "AST": (1, 36),  # 5 (4 is under 6); denominator all ages
    "CAN": (3, 36),  # 20, 27, 32 (26 has only a secondary-cancer code)
    "CHD": (1, 36),  # 33 (9's code is after the date)
    "CKD": (1, 32 - 2),  # 23; 18+
    "COPD": (2, 36),  # 24, 25 (11 deregistered)
    "CVDPP": (2, 22),  # 33 (12.5), 37 (no value); 34 is 8.0, 35 is 76; 22 people aged 30-74
    "DEM": (1, 36),  # 21
    "DEP": (1, 30),  # 13 (14 is 17); 18+
    "DM": (3, 32),  # 1, 2, 7 (3 is 16, 6 resolved); 17+
    "EP": (1, 30),  # 12; 18+
    "HF": (1, 36),  # 22 (10 died)
    "HYP": (1, 36),  # 1 (8 resolved)
    "LD": (1, 36),  # 28
    "MH": (1, 36),  # 33
    "OB": (1, 30),  # 29; 18+
    "OST": (1, 24),  # 36; 24 people aged 50+
    "PAD": (1, 36),  # 33
    "PC": (1, 36),  # 20
    "RA": (1, 33),  # 33; 16+ (3 is 16)
    "STIA": (1, 36),  # 33
}


def test_each_register_matches_the_hand_count(con: ibis.BaseBackend) -> None:
    mart = registers_mart(con, AS_OF).to_pyarrow().to_pylist()
    system = {r["qof_group"]: r for r in mart if r["level"] == "system"}
    assert set(system) == set(SYSTEM)
    for group, (numerator, denominator) in SYSTEM.items():
        row = system[group]
        assert (row["numerator"], row["denominator"]) == (numerator, denominator), group
        assert row["prevalence_pct"] == pytest.approx(100 * numerator / denominator)
        assert row["area_code"] == "ICS"
    assert system["DM"]["england_pct"] == pytest.approx(7.072)


def test_registers_at_practice_pcn_and_place(con: ibis.BaseBackend) -> None:
    mart = registers_mart(con, AS_OF).to_pyarrow().to_pylist()
    dm = {(r["level"], r["area_code"]): (r["numerator"], r["denominator"]) for r in mart
          if r["qof_group"] == "DM"}  # fmt: skip
    # A00001: 26 people, 3 under 17 (4, 5, 30); DM: 1, 7. A00002: 2, 3, 38; DM: 2 (3 is 16).
    # B00001: 12, 32-37, all 46+; no DM.
    assert dm[("practice", "A00001")] == (2, 23)
    assert dm[("practice", "A00002")] == (1, 2)
    assert dm[("practice", "B00001")] == (0, 7)
    assert dm[("pcn", "U00001")] == (3, 25)
    assert dm[("pcn", "U00002")] == (0, 7)
    assert dm[("place", "PL1")] == (3, 25)
    assert dm[("place", "PL2")] == (0, 7)
    ep = {(r["level"], r["area_code"]): r["numerator"] for r in mart if r["qof_group"] == "EP"}
    assert ep[("practice", "B00001")] == 1  # 12 moved from A00001 to B00001
    assert ep[("practice", "A00001")] == 0
    levels = [r["level"] for r in mart]
    assert levels == sorted(levels, key=["practice", "pcn", "place", "system"].index)
    assert len(mart) == 21 * (3 + 2 + 2 + 1)
