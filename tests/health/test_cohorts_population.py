"""A small hand-made population for the cohort tests (no tests here), built once per process.

Every person is there for one rule or edge case of the four shipped cohorts; who should be in
each cohort is written out by hand below (EXPECTED), not worked out by the code under test.
Ages are on AS_OF (31 March 2026). Windows: "in 365 days" is after 31 March 2025, so a code on
31 March 2025 is just outside and one on 1 April 2025 just inside; "seen in 183 days" is an
attended appointment after 29 September 2025.

Practices: A00001 and A00002 (PCN U00001, place PL1, LSOA IMD decile 1); B00001 (PCN U00002,
place PL2, LSOA IMD decile 10).

 id  age practice what                                                           in
  1  80  A00001  13 eFI deficits (severe), no medication review                   frailty
  2  80  A00001  severe, medication review 1 June 2025                            -
  3  80  A00002  severe, structured medication review 31 March 2025 (just out)     frailty
  4  80  B00001  severe, medication review 1 April 2025 (just in)                  -
  5  64  A00001  13 deficits but under 65: no eFI                                 -
  6  80  A00001  12 deficits: moderate                                            -
  7  80  B00001  severe, medication review only after the date (April 2026)       frailty
 10  56  A00001  hypertension, no BP ever                                         hyp
 11  56  A00001  hypertension, systolic BP Oct 2025                               -
 12  56  A00002  hypertension, diastolic BP only, May 2025                        -
 13  56  B00001  hypertension, O/E BP 31 March 2025 (just out)                    hyp
 14  56  A00001  hypertension resolved the same day: not on the register          -
 15  56  A00001  no hypertension, no BP                                           -
 16  56  B00001  hypertension, BP Jan 2024 and after the date                     hyp
 20  40  A00001  SMI; BP, BMI and HbA1c all in the year                          -
 21  40  A00001  SMI; BP and BMI in the year, HbA1c Jan 2025                      smi
 22  40  A00002  SMI; nothing recorded                                            smi
 23  40  B00001  SMI; systolic, BMI, HbA1c in the year                            -
 24  40  B00001  SMI; BP and HbA1c in the year, BMI 31 March 2025 (just out)      smi
 30  60  A00001  risk very_high, never seen                                       top risk
 31  60  A00001  risk very_high, seen Jan 2026                                    -
 32  60  A00002  risk high, last seen 29 Sept 2025 (just out)                     top risk
 33  60  B00001  risk high, seen 30 Sept 2025 (just in)                           -
 34  60  B00001  risk high, attended Jan 2025, did not attend Feb 2026            top risk
 35  60  A00001  risk moderate, never seen                                        -
 36  60  B00001  risk very_high, an appointment only after the date              top risk
 40  30  A00001  male, healthy                                                    -
 41  30  A00002  male, healthy                                                    -
 42  30  B00001  male, healthy                                                    -
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
from ibis.expr.types import Table

from integrated_care.health.cohort_mart import cohorts_step
from integrated_care.health.pipeline import run_pipeline, store_marts
from integrated_care.settings import Settings
from integrated_care.warehouse.connection import connect
from tests.health.handmade import AS_OF, HYP, HYP_RES, MH, THIRTEEN, D, Handmade

MED_REVIEW, SMR = "182836005", "1239511000000100"
SYSTOLIC, DIASTOLIC, OE_BP = "271649006", "271650006", "163020007"
BMI, HBA1C = "60621009", "999791000000106"

PRACTICE = {
    **dict.fromkeys((1, 2, 5, 6, 10, 11, 14, 15, 20, 21, 30, 31, 35, 40), "A00001"),
    **dict.fromkeys((3, 12, 22, 32, 41), "A00002"),
    **dict.fromkeys((4, 7, 13, 16, 23, 24, 33, 34, 36, 42), "B00001"),
}
PCN = {"A00001": "U00001", "A00002": "U00001", "B00001": "U00002"}
BORN = {
    **dict.fromkeys((1, 2, 3, 4, 6, 7), D(1946, 1, 1)),
    5: D(1962, 1, 1),
    **dict.fromkeys((10, 11, 12, 13, 14, 15, 16), D(1970, 1, 1)),
    **dict.fromkeys((20, 21, 22, 23, 24), D(1986, 1, 1)),
    **dict.fromkeys((30, 31, 32, 33, 34, 35, 36), D(1966, 1, 1)),
    **dict.fromkeys((40, 41, 42), D(1996, 1, 1)),
}
RISK = {30: ("very_high", 0.9), 31: ("very_high", 0.8), 36: ("very_high", 0.7)}
RISK |= {32: ("high", 0.5), 33: ("high", 0.45), 34: ("high", 0.4), 35: ("moderate", 0.2)}

EXPECTED = {
    "severe-frailty-no-medication-review": {1, 3, 7},
    "hypertension-no-bp-reading": {10, 13, 16},
    "smi-no-health-check": {21, 22, 24},
    "top-risk-not-seen-6-months": {30, 32, 34, 36},
}


def population() -> Handmade:
    h = Handmade()
    for pid, practice in PRACTICE.items():
        lsoa = "E01000002" if practice == "B00001" else "E01000001"
        sex = "male" if pid >= 40 else "female"
        h.person(pid, BORN[pid], practice, sex=sex, lsoa=lsoa)
    for pid in (1, 2, 3, 4, 5, 7):
        for code in THIRTEEN:
            h.code(pid, code, D(2023, 1, 1))
    for code in THIRTEEN[:12]:
        h.code(6, code, D(2023, 1, 1))
    h.code(2, MED_REVIEW, D(2025, 6, 1)).code(3, SMR, D(2025, 3, 31))
    h.code(4, MED_REVIEW, D(2025, 4, 1)).code(7, MED_REVIEW, D(2026, 4, 15))

    for pid in (10, 11, 12, 13, 14, 16):
        h.code(pid, HYP, D(2015, 1, 1))
    h.code(14, HYP_RES, D(2015, 1, 1))
    h.code(11, SYSTOLIC, D(2025, 10, 1), 128.0).code(12, DIASTOLIC, D(2025, 5, 1), 82.0)
    h.code(13, OE_BP, D(2025, 3, 31)).code(16, SYSTOLIC, D(2024, 1, 1), 150.0)
    h.code(16, SYSTOLIC, D(2026, 4, 2), 140.0)

    for pid in (20, 21, 22, 23, 24):
        h.code(pid, MH, D(2015, 1, 1))
    h.code(20, OE_BP, D(2025, 6, 1)).code(20, BMI, D(2025, 6, 1), 27.0)
    h.code(20, HBA1C, D(2025, 6, 1), 40.0)
    h.code(21, OE_BP, D(2025, 6, 1)).code(21, BMI, D(2025, 6, 1), 27.0)
    h.code(21, HBA1C, D(2025, 1, 1), 40.0)
    h.code(23, SYSTOLIC, D(2025, 12, 1), 120.0).code(23, BMI, D(2025, 12, 1), 30.0)
    h.code(23, HBA1C, D(2025, 12, 1), 38.0)
    h.code(24, DIASTOLIC, D(2025, 9, 1), 80.0).code(24, HBA1C, D(2025, 9, 1), 41.0)
    h.code(24, BMI, D(2025, 3, 31), 31.0)

    h.gp_visit(31, D(2026, 1, 10)).gp_visit(32, D(2025, 9, 29)).gp_visit(33, D(2025, 9, 30))
    h.gp_visit(34, D(2025, 1, 1)).gp_visit(34, D(2026, 2, 1), "did_not_attend")
    h.gp_visit(36, D(2026, 4, 10))
    return h


def hand_risk(con: ibis.BaseBackend, as_of: dt.date, summary: Table) -> Table:
    """The pipeline's risk step, with scores and bands set by hand (everyone else low)."""
    ids = sorted(PRACTICE)
    return ibis.memtable(
        {
            "patient_id": ids,
            "risk_score": [RISK.get(p, ("low", 0.01))[1] for p in ids],
            "risk_band": [RISK.get(p, ("low", 0.01))[0] for p in ids],
        }
    )


def build(root: Path, settings_for_store: Settings | None = None) -> Settings:
    """Load the population, run the pipeline (with the cohorts mart), store the marts."""
    settings = population().load_warehouse(root)
    con = connect(settings, read_only=True)
    try:
        marts = run_pipeline(
            con,
            AS_OF,
            settings.data_dir / "marts",
            progress=False,
            risk=hand_risk,
            extra=[cohorts_step(settings_for_store)],
        )
    finally:
        con.disconnect()
    store_marts(marts, settings.data_dir)
    return settings


_BUILT: dict[str, Settings] = {}


def shared_cohort_data(tmp_path_factory: object) -> Settings:
    """The warehouse and marts built once per test process."""
    if "data" not in _BUILT:
        root = tmp_path_factory.mktemp("cohorts")  # type: ignore[attr-defined]
        _BUILT["data"] = build(root)
    return _BUILT["data"]
