"""`check` names every broken row by file, row, column, value and reason, and loads nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from integrated_care.warehouse.check import Problem, check
from tests.warehouse.fixture import OPTED_OUT, to_arrow, valid_tables, write_folder

D = dt.date


def errors(folder: Path) -> list[Problem]:
    return [p for p in check(folder).iter_problems() if p.severity == "error"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_valid_folder_passes(tmp_path: Path, fmt: str) -> None:
    report = check(write_folder(tmp_path / "in", fmt=fmt))
    assert report.ok, list(report.iter_problems())
    assert report.problems.num_rows == 0
    assert report.rows["patients"] == 6 and "mh_contacts" not in report.rows
    assert report.total_rows == sum(len(rows) for rows in valid_tables().values())


# (table, 0-based row, column, bad value, shown value, reason)
BROKEN: list[tuple[str, int, str, Any, str, str]] = [
    ("patients", 1, "nhs_number", "9990000019", "9990000019", "bad NHS number check digit"),
    ("patients", 2, "nhs_number", "999000001", "999000001", "NHS number not 10 digits"),
    ("patients", 2, "date_of_birth", D(1960, 3, 15), "1960-03-15", "not the first of a month"),
    ("patients", 3, "sex", "f", "f", "not one of: female, male, intersex, unknown"),
    ("patients", 3, "ethnicity", "Q", "Q", "unknown code: not in the ethnic categories list"),
    ("patients", 4, "lsoa_code", "E01999999", "E01999999", "lsoa_code not in lsoas"),
    ("patients", 5, "date_of_death", D(1900, 1, 1),
     "date_of_birth=1990-06-01, date_of_death=1900-01-01", "date_of_death before date_of_birth"),
    ("patients", 0, "sex", None, None, "null where a value is required"),
    ("registrations", 2, "practice_code", "RWE", "RWE", "not an organisation of type gp_practice"),
    ("registrations", 2, "end_date", D(2010, 1, 1),
     "start_date=2015-04-01, end_date=2010-01-01", "end_date before start_date"),
    ("gp_events", 0, "patient_id", 42, "42", "patient_id not in patients"),
    ("gp_events", 1, "snomed_code", "0123", "0123", "not a valid SNOMED CT code"),
    ("medications", 0, "bnf_chapter", "16", "16", "unknown code: not in the bnf chapters list"),
    ("apc_spells", 0, "discharge_date", D(2023, 1, 1),
     "admission_date=2024-01-10, discharge_date=2023-01-01",
     "discharge_date before admission_date"),
    ("apc_spells", 1, "primary_diagnosis", "ZZZ", "ZZZ", "not a valid ICD-10 code"),
    ("apc_spells", 1, "secondary_diagnoses", "I10|", "I10|",
     "not a valid pipe-separated ICD-10 codes"),
    ("apc_spells", 2, "primary_procedure", "W3", "W3", "not a valid OPCS-4 code"),
    ("apc_spells", 0, "admission_method", "29", "29",
     "unknown code: not in the admission methods list"),
    ("apc_spells", 3, "provider_code", "XXX99", "XXX99", "not in organisations.org_code"),
    ("apc_spells", 3, "cost", Decimal("-1"), "-1.00", "below the minimum 0"),
    ("ae_attendances", 0, "departure_time", dt.datetime(2024, 1, 5, 9, 0),
     "arrival_time=2024-01-05 10:00:00, departure_time=2024-01-05 09:00:00",
     "departure_time before arrival_time"),
    ("ae_attendances", 1, "department_type", 4, "4", "not one of: 1, 2, 3"),
    ("ae_attendances", 2, "acuity", 6, "6", "above the maximum 5"),
    ("ae_attendances", 3, "disposal", "home", "home",
     "not one of: admitted, discharged, referred, left_before_treatment, died"),
    ("op_appointments", 0, "treatment_function_code", "999", "999",
     "unknown code: not in the treatment function codes list"),
    ("rtt_pathways", 0, "clock_stop_date", D(2023, 1, 1),
     "clock_start_date=2024-01-01, clock_stop_date=2023-01-01",
     "clock_stop_date before clock_start_date"),
    ("social_care_services", 0, "local_authority_code", "E06000099", "E06000099",
     "local_authority_code not in places"),
    ("lsoas", 0, "imd_decile", 11, "11", "above the maximum 10"),
    ("organisations", 1, "org_type", "trust", "trust",
     "not one of: icb, sub_icb_location, acute_trust, community_trust, mental_health_trust, "
     "ambulance_trust, gp_practice, pcn, local_authority, vcse, independent_provider, hospice"),
    ("finance_ledger", 1, "financial_year", "2025/27", "2025/27",
     'not a financial year such as "2025/26"'),
    ("finance_ledger", 1, "supersedes", 77, "77", "not in finance_ledger.entry_id"),
    ("finance_ledger", 0, "month", 13, "13", "above the maximum 12"),
    ("contracts", 1, "parent_contract_id", "C9", "C9", "not in contracts.contract_id"),
    ("contracts", 1, "procurement_route", "tender", "tender",
     "not one of: direct_award_a, direct_award_b, direct_award_c, most_suitable_provider, "
     "competitive, legacy"),
    ("staff", 0, "staff_group", "doctor", "doctor",
     "not one of: medical, nursing, ahp, scientific, admin, estates, social_care, other"),
]  # fmt: skip


def test_broken_cells_are_distinct() -> None:
    cells = [(name, index, column) for name, index, column, *_ in BROKEN]
    assert len(set(cells)) == len(cells)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_each_broken_row_is_named(tmp_path: Path, fmt: str) -> None:
    # One folder holds every breakage (each in its own cell), so one check names them all.
    tables = valid_tables()
    for name, index, column, bad, _, _ in BROKEN:
        tables[name][index][column] = bad
    folder = write_folder(tmp_path / "in", tables, fmt)
    expected = [
        Problem("error", name, f"{name}.{fmt}", index + 1, column, shown, reason)
        for name, index, column, _, shown, reason in BROKEN
    ]
    found = errors(folder)
    missing = [p for p in expected if p not in found]
    unexpected = [p for p in found if p not in expected]
    assert (missing, unexpected) == ([], [])


def test_duplicate_primary_key_names_every_row_sharing_it(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["apc_spells"][3]["spell_id"] = tables["apc_spells"][1]["spell_id"]
    found = errors(write_folder(tmp_path / "in", tables))
    assert [(p.row, p.column, p.value, p.reason) for p in found] == [
        (2, "spell_id", "11", "duplicate primary key: 2 rows share it"),
        (4, "spell_id", "11", "duplicate primary key: 2 rows share it"),
    ]


def test_composite_primary_key(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["workforce_plan"].append(dict(tables["workforce_plan"][0]))
    found = errors(write_folder(tmp_path / "in", tables))
    assert {(p.row, p.column, p.value) for p in found} == {
        (1, "org_code, financial_year, month, staff_group", "RWE|2025/26|1|nursing"),
        (2, "org_code, financial_year, month, staff_group", "RWE|2025/26|1|nursing"),
    }


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    tables = valid_tables()
    template = tables["gp_events"][0]
    tables["gp_events"] = [dict(template, patient_id=-i) for i in range(1, 2501)]
    report = check(write_folder(tmp_path / "in", tables))
    assert report.errors == 2500
    assert [p.row for p in report.iter_problems()] == list(range(1, 2501))
    assert sum(1 for _ in report.iter_problems(limit=10)) == 10


def test_several_problems_in_one_row_are_all_named(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["patients"][1].update(nhs_number="1234567890", sex="x", date_of_birth=D(1950, 2, 2))
    found = errors(write_folder(tmp_path / "in", tables))
    assert {(p.row, p.column) for p in found} == {
        (2, "nhs_number"), (2, "sex"), (2, "date_of_birth"),
    }  # fmt: skip


def test_missing_required_table_and_column(tmp_path: Path) -> None:
    tables = valid_tables()
    del tables["lsoas"]
    folder = write_folder(tmp_path / "in", tables)
    pq.write_table(
        to_arrow("staff", tables["staff"]).drop_columns(["fte"]), folder / "staff.parquet"
    )
    found = errors(folder)
    assert (
        Problem("error", "lsoas", "lsoas.parquet", None, "", None, "required table missing")
        in found
    )
    assert (
        Problem("error", "staff", "staff.parquet", None, "fte", None, "required column missing")
        in found
    )
    # lsoa_code references a missing table: nothing to check it against, so no row is blamed
    assert not [p for p in found if p.column == "lsoa_code"]


def test_optional_tables_may_be_absent(tmp_path: Path) -> None:
    tables = {k: v for k, v in valid_tables().items() if k in
              {"organisations", "places", "lsoas", "patients", "registrations"}}  # fmt: skip
    assert check(write_folder(tmp_path / "in", tables)).ok


def test_wrong_parquet_type_is_a_column_problem(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "in")
    data = to_arrow("staff", valid_tables()["staff"])
    data = data.set_column(4, "fte", pa.array(["full"], pa.string()))
    data = data.set_column(0, "staff_id", pa.array([1.5], pa.float64()))
    pq.write_table(data, folder / "staff.parquet")
    found = errors(folder)
    assert Problem("error", "staff", "staff.parquet", None, "staff_id", "double",
                   "wrong type: double, expected int64") in found  # fmt: skip
    # text in a Parquet file is cast row by row, as CSV is
    assert Problem("error", "staff", "staff.parquet", 1, "fte", "full",
                   "wrong type: not a valid float64") in found  # fmt: skip


def test_csv_text_of_the_wrong_type(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "in", fmt="csv")
    (folder / "staff.csv").write_text(
        "staff_id,employer_code,staff_group,role,fte,start_date,end_date\n"
        "1,RWE,nursing,Nurse,1.0,2020-01-01,\n"
        "abc,RWE,nursing,Nurse,one,2020-13-01,\n"
    )
    found = [(p.row, p.column, p.value, p.reason) for p in errors(folder)]
    assert found == [
        (2, "fte", "one", "wrong type: not a valid float64"),
        (2, "staff_id", "abc", "wrong type: not a valid int64"),
        (2, "start_date", "2020-13-01", "wrong type: not a valid date"),
    ]


def test_folder_of_parts_reports_rows_per_part(tmp_path: Path) -> None:
    tables = valid_tables()
    events = tables.pop("gp_events")
    folder = write_folder(tmp_path / "in", tables)
    (folder / "gp_events").mkdir()
    events[5]["snomed_code"] = "abc"
    data = to_arrow("gp_events", events)
    pq.write_table(data.slice(0, 4), folder / "gp_events" / "part-0.parquet")
    pq.write_table(data.slice(4), folder / "gp_events" / "part-1.parquet")
    report = check(folder)
    assert report.rows["gp_events"] == len(events)
    assert [(p.file, p.row, p.column) for p in report.iter_problems()] == [
        ("gp_events/part-1.parquet", 2, "snomed_code")
    ]


def test_extra_columns_and_files_are_warnings(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "in")
    data = to_arrow("places", valid_tables()["places"])
    pq.write_table(data.append_column("notes", pa.array(["x"])), folder / "places.parquet")
    (folder / "README.txt").write_text("notes")
    report = check(folder)
    assert report.ok and report.warnings == 2
    assert {(p.file, p.column, p.reason) for p in report.iter_problems()} == {
        ("README.txt", "", "not an input-layer table; ignored"),
        ("places.parquet", "notes", "column not in the schema; ignored"),
    }


def test_two_sources_for_one_table_is_an_error(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "in")
    pacsv.write_csv(to_arrow("staff", valid_tables()["staff"]), folder / "staff.csv")
    found = errors(folder)
    assert [(p.table, p.reason) for p in found] == [
        ("staff", "more than one source for this table")
    ]


def test_problems_csv_has_every_problem(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["patients"][OPTED_OUT % 10 - 1]["sex"] = "?"
    report = check(write_folder(tmp_path / "in", tables))
    out = tmp_path / "problems.csv"
    report.write_csv(out)
    written = pacsv.read_csv(out)
    assert written.column_names == ["severity", "table", "file", "row", "column", "value", "reason"]
    assert written.num_rows == report.problems.num_rows == 1


def test_check_writes_nothing_into_the_folder(valid_folder: Path) -> None:
    before = sorted(p.name for p in valid_folder.rglob("*"))
    check(valid_folder)
    assert sorted(p.name for p in valid_folder.rglob("*")) == before


@pytest.mark.parametrize(
    ("file", "content", "reason"),
    [("patients.parquet", b"not parquet at all", "unreadable: "),
     ("staff.csv", b"staff_id,employer_code\n1,RWE,extra\n", "unreadable: CSV parse error")],
)  # fmt: skip
def test_unreadable_files_are_problems_not_crashes(
    tmp_path: Path, file: str, content: bytes, reason: str
) -> None:
    folder = write_folder(tmp_path / "in")
    (folder / file).write_bytes(content)
    (folder / "staff.parquet").unlink()
    report = check(folder)
    found = [p for p in report.iter_problems() if p.file == file]
    assert len(found) == 1 and found[0].reason.startswith(reason), found
    assert not report.ok
