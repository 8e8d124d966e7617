"""A small, valid input-layer folder: a handful of patients, practices and activity.

``valid_tables()`` returns every table as plain Python rows (lists of dicts) so tests can break a
row before writing; ``write_folder`` writes them as Parquet or CSV through the schema's own Arrow
types, as a real extract (or ``ics synth``) would.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from integrated_care.warehouse import nhs_number
from integrated_care.warehouse.schema import TABLES, arrow_schema

Rows = list[dict[str, Any]]

D = dt.date
OPTED_OUT = 1_000_000_000_004  # patient_id of the one patient with a national data opt-out
PATIENT_IDS = [1_000_000_000_000 + i for i in range(1, 7)]


def _organisations() -> Rows:
    def org(code, name, org_type, sector, parent=None, place="P1", statutory=True):
        return {
            "org_code": code,
            "name": name,
            "org_type": org_type,
            "sector": sector,
            "statutory": statutory,
            "parent_code": parent,
            "place_code": place,
            "postcode": "LE1 5WW",
        }

    return [
        org("QK1", "Test ICB", "icb", "nhs", place=None),
        org("RWE", "Test Hospitals NHS Trust", "acute_trust", "nhs", "QK1"),
        org("RT5", "Test Community Trust", "community_trust", "nhs", "QK1"),
        org("U12345", "Test PCN", "pcn", "nhs", "QK1"),
        org("C82001", "Park Surgery", "gp_practice", "nhs", "U12345"),
        org("C82002", "Hill Surgery", "gp_practice", "nhs", "U12345"),
        org("VC001", "Test Carers Trust", "vcse", "voluntary", "QK1", statutory=False),
    ]


def _patients() -> Rows:
    rows = []
    for i, pid in enumerate(PATIENT_IDS):
        rows.append(
            {
                "patient_id": pid,
                "nhs_number": nhs_number.test_range_number(i),
                "date_of_birth": D(1940 + 10 * i, 1 + i, 1),
                "sex": ("female", "male")[i % 2],
                "ethnicity": "ABCDEZ"[i],
                "lsoa_code": ("E01025633", "E01025634")[i % 2],
                "date_of_death": D(2024, 3, 2) if i == 0 else None,
                "national_opt_out": pid == OPTED_OUT,
                "type1_opt_out": False,
            }
        )
    return rows


def _spells() -> Rows:
    return [
        {
            "spell_id": 10 + i,
            "patient_id": pid,
            "provider_code": "RWE",
            "admission_date": D(2024, 1, 10 + i),
            "discharge_date": D(2024, 1, 12 + i),
            "admission_method": ("21", "11", "2A")[i % 3],
            "primary_diagnosis": ("J18.9", "I21.4", "E119")[i % 3],
            "secondary_diagnoses": "I10|E11.9" if i % 2 else None,
            "primary_procedure": "W37.1" if i == 1 else None,
            "hrg_code": "DZ11V",
            "cost": Decimal("2450.50"),
            "discharge_destination": "19",
        }
        for i, pid in enumerate(PATIENT_IDS[1:])
    ]


def _activity() -> dict[str, Rows]:
    p = PATIENT_IDS
    t = dt.datetime
    return {
        "registrations": [
            {"patient_id": pid, "practice_code": ("C82001", "C82002")[i % 2],
             "start_date": D(2015, 4, 1), "end_date": None}
            for i, pid in enumerate(p)
        ],
        "gp_events": [
            {"patient_id": pid, "date": D(2023, 6, 1), "snomed_code": "44054006",
             "numeric_value": None, "practice_code": "C82001"}
            for pid in p
        ] + [{"patient_id": p[1], "date": D(2023, 6, 1), "snomed_code": "60621009",
              "numeric_value": 31.5, "practice_code": "C82001"}],
        "gp_appointments": [
            {"patient_id": pid, "date": D(2024, 2, 1), "practice_code": "C82002",
             "staff_role": "gp", "mode": "telephone", "status": "attended"}
            for pid in p
        ],
        "medications": [
            {"patient_id": pid, "date": D(2024, 2, 1), "dmd_code": "39113611000001102",
             "bnf_chapter": "06", "practice_code": "C82001"}
            for pid in p[1:]
        ],
        "deaths": [{"patient_id": p[0], "date_of_death": D(2024, 3, 2),
                    "underlying_cause": "I21.9", "place_of_death": "hospital"}],
        "ae_attendances": [
            {"attendance_id": 100 + i, "patient_id": pid, "provider_code": "RWE",
             "arrival_time": t(2024, 1, 5, 10, 0), "departure_time": t(2024, 1, 5, 13, 30),
             "department_type": 1, "acuity": 3, "chief_complaint": "21522001",
             "diagnosis": None, "disposal": "discharged", "cost": Decimal("310")}
            for i, pid in enumerate(p)
        ],
        "op_appointments": [
            {"appointment_id": 200 + i, "patient_id": pid, "provider_code": "RWE",
             "date": D(2024, 4, 2), "treatment_function_code": "110",
             "first_attendance": i % 2 == 0, "status": "attended", "cost": Decimal("160")}
            for i, pid in enumerate(p)
        ],
        "rtt_pathways": [
            {"pathway_id": 300 + i, "patient_id": pid, "provider_code": "RWE",
             "treatment_function_code": "110", "clock_start_date": D(2024, 1, 1),
             "clock_stop_date": None if i % 2 else D(2024, 5, 1)}
            for i, pid in enumerate(p)
        ],
        "community_contacts": [
            {"contact_id": 400, "patient_id": p[3], "provider_code": "RT5",
             "date": D(2024, 2, 2), "service": "district_nursing", "cost": Decimal("55")}
        ],
        "social_care_services": [
            {"service_id": 500, "patient_id": p[3], "local_authority_code": "E06000016",
             "service_type": "home_care", "start_date": D(2023, 1, 1), "end_date": None,
             "weekly_cost": Decimal("420.00")}
        ],
    }  # fmt: skip


def _finance() -> dict[str, Rows]:
    recorded = dt.datetime(2025, 5, 10, 9, 0)
    return {
        "finance_control_totals": [
            {"org_code": "RWE", "financial_year": "2025/26", "control_total": Decimal("-1500000")}
        ],
        "finance_ledger": [
            {"entry_id": 1, "org_code": "RWE", "financial_year": "2025/26", "month": 1,
             "line": "pay", "kind": "plan", "amount": Decimal("1000000"),
             "recorded_at": recorded, "supersedes": None},
            {"entry_id": 2, "org_code": "RWE", "financial_year": "2025/26", "month": 1,
             "line": "pay", "kind": "plan", "amount": Decimal("1010000"),
             "recorded_at": recorded, "supersedes": 1},
        ],
        "contracts": [
            {"contract_id": "C1", "commissioner_code": "QK1", "holder_code": "RWE",
             "contract_type": "alliance", "parent_contract_id": None,
             "services": "acute|community", "annual_value": Decimal("9000000"),
             "start_date": D(2025, 4, 1), "end_date": D(2028, 3, 31),
             "procurement_route": "direct_award_a"},
            {"contract_id": "C2", "commissioner_code": "RWE", "holder_code": "VC001",
             "contract_type": "sub_contract", "parent_contract_id": "C1",
             "services": "carers_support", "annual_value": Decimal("120000"),
             "start_date": D(2025, 4, 1), "end_date": None,
             "procurement_route": "most_suitable_provider"},
        ],
        "staff": [
            {"staff_id": 1, "employer_code": "RWE", "staff_group": "nursing",
             "role": "Staff nurse", "fte": 1.0, "start_date": D(2020, 1, 1), "end_date": None}
        ],
        "workforce_plan": [
            {"org_code": "RWE", "financial_year": "2025/26", "month": 1,
             "staff_group": "nursing", "planned_fte": 1200.5}
        ],
    }  # fmt: skip


def valid_tables() -> dict[str, Rows]:
    """Every input-layer table, valid, as lists of row dicts (mental-health contacts omitted)."""
    tables: dict[str, Rows] = {
        "organisations": _organisations(),
        "places": [{"place_code": "P1", "name": "Leicester", "local_authority_code": "E06000016"}],
        "lsoas": [
            {"lsoa_code": code, "place_code": "P1", "imd_decile": decile, "population": 1500}
            for code, decile in (("E01025633", 1), ("E01025634", 7))
        ],
        "patients": _patients(),
        "apc_spells": _spells(),
        **_activity(),
        **_finance(),
    }
    return tables


def to_arrow(name: str, rows: Rows) -> pa.Table:
    """Rows as Arrow with the table's column types; nulls allowed anywhere, as a faulty writer
    could produce them."""
    schema = pa.schema([f.with_nullable(True) for f in arrow_schema(name)])
    return pa.Table.from_pylist(rows, schema=schema)


def write_table(folder: Path, name: str, table: pa.Table, fmt: str = "parquet") -> Path:
    """Write one table as ``name.parquet`` or ``name.csv``."""
    path = folder / f"{name}.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)
    return path


def write_folder(folder: Path, tables: dict[str, Rows] | None = None, fmt: str = "parquet") -> Path:
    """Write tables (default: ``valid_tables()``) into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (tables if tables is not None else valid_tables()).items():
        assert name in TABLES
        write_table(folder, name, to_arrow(name, rows), fmt)
    return folder


def row_counts(tables: dict[str, Rows]) -> dict[str, int]:
    return {name: len(rows) for name, rows in tables.items()}
