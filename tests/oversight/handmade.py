"""A tiny hand-made ICS for the oversight tests: two trusts, two places, a handful of rows per
standard, each there to hit one rule or one edge (exactly 4 hours, exactly 18 weeks, a
readmission on day 29 against one on day 30, a discharge to death, a maternity spell, ...).

People 1-2 live in place PL1, 3-4 in PL2, 5 has no recorded address (counted in the system, in no
place). The expected figures are worked out in the tests by plain loops over these rows, and a
few by hand.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from integrated_care.settings import Settings
from integrated_care.warehouse.schema import arrow_schema
from tests.health.handmade import ORGANISATIONS, Handmade

AS_OF = dt.date(2026, 3, 31)
D = dt.date
T = dt.datetime
PLACE = {1: "PL1", 2: "PL1", 3: "PL2", 4: "PL2", 5: None}
TRUSTS = ("RWE", "RXX")


def _ae(i: int, pid: int, trust: str, arrived: dt.datetime, minutes: int | None, dept: int) -> dict:
    return {
        "attendance_id": i,
        "patient_id": pid,
        "provider_code": trust,
        "arrival_time": arrived,
        "departure_time": arrived + dt.timedelta(minutes=minutes) if minutes is not None else None,
        "department_type": dept,
        "acuity": 3,
        "chief_complaint": None,
        "diagnosis": None,
        "disposal": "discharged",
        "cost": Decimal("150.00"),
    }


# (attendance, person, trust, arrival, minutes in department or None, department type)
AE = [
    (1, 1, "RWE", T(2026, 1, 5, 9, 0), 239, 1),
    (2, 2, "RWE", T(2026, 1, 6, 9, 0), 240, 1),  # exactly 4 hours: within
    (3, 3, "RWE", T(2026, 1, 7, 9, 0), 241, 1),
    (4, 4, "RWE", T(2026, 1, 8, 9, 0), 60, 3),
    (5, 1, "RXX", T(2026, 1, 9, 9, 0), 13 * 60, 1),  # over 12 hours
    (6, 2, "RXX", T(2026, 1, 10, 9, 0), None, 1),  # no departure: left out
    (7, 3, "RXX", T(2026, 1, 11, 9, 0), 12 * 60, 1),  # exactly 12 hours: not over
    (8, 1, "RWE", T(2026, 1, 31, 23, 0), 180, 1),  # leaves in February, counted in January
    (9, 2, "RWE", T(2026, 2, 10, 9, 0), 300, 3),
    (10, 5, "RWE", T(2026, 2, 11, 9, 0), 30, 3),  # no address
    (11, 4, "RXX", T(2026, 2, 12, 9, 0), 12 * 60 + 1, 1),
    (12, 3, "RXX", T(2026, 2, 13, 9, 0), 200, 2),  # a type 2 (single-specialty) department
]

# (pathway, person, trust, clock start, clock stop)
RTT = [
    (1, 1, "RWE", D(2024, 1, 10), None),  # the first clock start: series from January 2026
    (2, 2, "RWE", D(2025, 12, 1), D(2026, 2, 15)),
    (3, 3, "RXX", D(2025, 9, 25), None),
    (4, 4, "RXX", D(2025, 9, 27), None),  # 126 days on 31 January: within 18 weeks
    (5, 1, "RWE", D(2025, 1, 31), None),  # 365 days on 31 January 2026: over 52 weeks
    (6, 2, "RWE", D(2025, 11, 1), D(2026, 1, 31)),  # stopped on the snapshot day: not waiting
    (7, 5, "RXX", D(2026, 3, 1), None),
]

# (appointment, person, trust, date, status)
OP = [
    (1, 1, "RWE", D(2026, 1, 5), "attended"),
    (2, 2, "RWE", D(2026, 1, 6), "did_not_attend"),
    (3, 3, "RWE", D(2026, 1, 7), "cancelled"),  # left out
    (4, 4, "RXX", D(2026, 1, 8), "did_not_attend"),
    (5, 3, "RXX", D(2026, 2, 9), "attended"),
    (6, 1, "RWE", D(2026, 2, 10), "attended"),
    (7, 5, "RWE", D(2026, 2, 11), "did_not_attend"),
]

# (spell, person, trust, admitted, discharged, method, destination)
APC = [
    (1, 1, "RWE", D(2026, 1, 5), D(2026, 1, 8), "11", "19"),  # readmitted by spell 2
    (2, 1, "RWE", D(2026, 1, 20), D(2026, 1, 25), "21", "19"),  # readmitted by 8 (same day)
    (3, 2, "RWE", D(2026, 1, 10), D(2026, 1, 10), "12", "19"),  # day case; 30 days to spell 4
    (4, 2, "RXX", D(2026, 2, 9), D(2026, 2, 11), "22", "19"),
    (5, 3, "RXX", D(2026, 1, 3), D(2026, 1, 6), "21", "79"),  # died: not an index discharge
    (6, 4, "RXX", D(2026, 1, 1), D(2026, 1, 2), "31", "19"),  # maternity: not an index
    (7, 4, "RXX", D(2026, 1, 5), D(2026, 1, 5), "2A", "19"),
    (8, 1, "RWE", D(2026, 1, 25), D(2026, 1, 28), "21", "19"),
    (9, 4, "RWE", D(2026, 3, 20), D(2026, 3, 22), "21", "19"),  # March: not yet followed 30 days
    (10, 3, "RWE", D(2026, 3, 25), None, "21", None),  # still in hospital
    (11, 3, "RWE", D(2026, 2, 1), D(2026, 2, 4), "13", "19"),  # readmitted 29 days later by 12
    (12, 3, "RWE", D(2026, 3, 5), D(2026, 3, 6), "24", "19"),
]


def oversight_ics() -> Handmade:
    h = Handmade()
    for pid in range(1, 6):
        lsoa = {"PL1": "E01000001", "PL2": "E01000002", None: None}[PLACE[pid]]
        h.person(pid, D(1960, 1, 1), lsoa=lsoa)  # type: ignore[arg-type]
    h.ae_attendances = [_ae(*row) for row in AE]
    h.op_appointments = [
        {
            "appointment_id": i,
            "patient_id": pid,
            "provider_code": trust,
            "date": on,
            "treatment_function_code": "300",
            "first_attendance": True,
            "status": status,
            "cost": Decimal("120.00"),
        }
        for i, pid, trust, on, status in OP
    ]
    h.apc_spells = [
        {
            "spell_id": i,
            "patient_id": pid,
            "provider_code": trust,
            "admission_date": admitted,
            "discharge_date": discharged,
            "admission_method": method,
            "primary_diagnosis": "J44.1",
            "secondary_diagnoses": None,
            "primary_procedure": None,
            "hrg_code": "DZ65K",
            "cost": Decimal("1000.00"),
            "discharge_destination": destination,
        }
        for i, pid, trust, admitted, discharged, method, destination in APC
    ]
    return h


def load_oversight_ics(root: Path) -> Settings:
    """Write the hand-made ICS (with a second trust and RTT pathways) and load it."""
    from integrated_care.warehouse.load import load

    h = oversight_ics()
    folder = h.write(root / "extract")
    organisations = [
        dict(
            zip(
                (
                    "org_code",
                    "name",
                    "org_type",
                    "sector",
                    "statutory",
                    "parent_code",
                    "place_code",
                ),
                row,
                strict=True,
            ),
            postcode=None,
        )
        for row in [
            *ORGANISATIONS,
            ("RXX", "Other Hospitals NHS Trust", "acute_trust", "nhs", True, "QK1", None),
        ]
    ]
    pq.write_table(
        pa.Table.from_pylist(organisations, schema=arrow_schema("organisations")),
        folder / "organisations.parquet",
    )
    rtt = [
        {
            "pathway_id": i,
            "patient_id": pid,
            "provider_code": trust,
            "treatment_function_code": "300",
            "clock_start_date": start,
            "clock_stop_date": stop,
        }
        for i, pid, trust, start, stop in RTT
    ]
    pq.write_table(
        pa.Table.from_pylist(rtt, schema=arrow_schema("rtt_pathways")),
        folder / "rtt_pathways.parquet",
    )
    settings = Settings(data_dir=root / "ics-data")
    load(folder, settings)
    return settings
