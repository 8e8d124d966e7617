"""Reading the input-layer extracts of the patients in a record load's scope (`loader.py`).

The extracts (Parquet files, folders of parts or CSV) are staged in DuckDB for the patients in
scope, numbered into chunks of patients, and read back a chunk at a time by the builders.
"""

# SQL text is built from this module's table list and the extract folder's path only.
# ruff: noqa: S608
from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Scope:
    """Whose record to load: a PCN's registered patients, a place's, or everyone's."""

    kind: str  # "pcn" | "place" | "all"
    code: str | None = None

    def describe(self) -> str:
        return "everyone" if self.kind == "all" else f"{self.kind.upper()} {self.code}"


def _source(folder: Path, table: str) -> str:
    """The DuckDB table expression of one input-layer table (Parquet, folder of parts, CSV)."""
    for candidate, reader in (
        (folder / f"{table}.parquet", "read_parquet"),
        (folder / table, "read_parquet"),
        (folder / f"{table}.csv", "read_csv_auto"),
    ):
        if candidate.exists():
            target = candidate / "*.parquet" if candidate.is_dir() else candidate
            return f"{reader}('{str(target).replace(chr(39), chr(39) * 2)}')"
    raise FileNotFoundError(f"{folder} has no {table} extract (.parquet, folder or .csv)")


# (table, columns in the order the builders unpack them, sort columns after patient_id)
_TABLES = {
    "registrations": ("practice_code, start_date, end_date", "start_date, practice_code"),
    "gp_appointments": (
        "date, practice_code, staff_role, mode, status",
        "date, practice_code, staff_role, mode, status",
    ),
    "gp_events": (
        "date, snomed_code, numeric_value, practice_code",
        "date, snomed_code, numeric_value, practice_code",
    ),
    "medications": ("date, dmd_code, practice_code", "date, dmd_code, practice_code"),
    "apc_spells": (
        "spell_id, provider_code, admission_date, discharge_date, admission_method, "
        "primary_diagnosis, secondary_diagnoses, primary_procedure, discharge_destination",
        "spell_id",
    ),
    "ae_attendances": (
        "attendance_id, provider_code, arrival_time, departure_time, chief_complaint, "
        "diagnosis, disposal",
        "attendance_id",
    ),
    "op_appointments": (
        "appointment_id, provider_code, date, treatment_function_code, first_attendance, status",
        "appointment_id",
    ),
    "community_contacts": ("contact_id, provider_code, date, service", "contact_id"),
    "mh_contacts": ("contact_id, provider_code, date, service", "contact_id"),
    "social_care_services": (
        "service_id, local_authority_code, service_type, start_date, end_date",
        "service_id",
    ),
}


def _text(value: str) -> str:
    """A DuckDB string literal. Values are written into the SQL rather than bound: binding
    parameters makes DuckDB import pandas, a second of CPU for nothing."""
    return "'" + str(value).replace("'", "''") + "'"


class Extracts:
    """The extracts of the patients in scope, staged in DuckDB and read a chunk at a time."""

    def __init__(
        self, folder: Path, scope: Scope, chunk_patients: int, part: tuple[int, int] = (0, 1)
    ) -> None:
        """`part` (k, n): stage only the rows of chunks k, k + n, ... (builder k of n)."""
        import duckdb

        self.folder = folder
        self._spill = tempfile.TemporaryDirectory(prefix="ics-record-load-")
        self.con = duckdb.connect()
        self.con.execute(f"SET temp_directory = '{self._spill.name}'")
        self.con.execute(
            f"CREATE TEMP TABLE org AS SELECT * FROM {_source(folder, 'organisations')}"
        )
        practices = self.practices(scope)
        if not practices:
            raise ValueError(f"no GP practices in {scope.describe()}")
        self.con.execute(
            f"""
            CREATE TEMP TABLE scope AS
            WITH latest AS (
                SELECT patient_id, practice_code, end_date,
                       row_number() OVER (PARTITION BY patient_id
                                          ORDER BY start_date DESC, practice_code) AS n
                FROM {_source(folder, "registrations")})
            SELECT p.patient_id, p.nhs_number, p.date_of_birth, p.sex, p.ethnicity,
                   p.date_of_death, l.practice_code, l.end_date IS NULL AS registered,
                   (row_number() OVER (ORDER BY p.patient_id) - 1) // {int(chunk_patients)}
                       AS chunk
            FROM {_source(folder, "patients")} p JOIN latest l USING (patient_id)
            WHERE l.n = 1 AND l.practice_code IN ({", ".join(map(_text, practices))})
            """
        )
        for table, (columns, order) in _TABLES.items():
            selected = ", ".join(f"t.{c.strip()}" for c in columns.split(","))
            self.con.execute(
                f"""CREATE TEMP TABLE s_{table} AS
                SELECT s.chunk, t.patient_id, {selected}
                FROM {_source(folder, table)} t JOIN scope s USING (patient_id)
                WHERE s.chunk % {int(part[1])} = {int(part[0])}
                ORDER BY s.chunk, t.patient_id, {order}"""
            )
        self.chunks = self.con.execute("SELECT coalesce(max(chunk) + 1, 0) FROM scope").fetchone()[
            0
        ]  # type: ignore[index]
        self.patients = self.con.execute("SELECT count(*) FROM scope").fetchone()[0]  # type: ignore[index]

    def close(self) -> None:
        self.con.close()
        self._spill.cleanup()

    def practices(self, scope: Scope) -> list[str]:
        where = {
            "pcn": "parent_code = {code}",
            "place": "(place_code = {code} OR parent_code IN "
            "(SELECT org_code FROM org WHERE org_type = 'pcn' AND place_code = {code}))",
            "all": "TRUE",
        }[scope.kind].format(code=_text(scope.code or ""))
        rows = self.con.execute(
            f"SELECT org_code FROM org WHERE org_type = 'gp_practice' AND ({where}) ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def organisations(self) -> list[tuple[Any, ...]]:
        return self.con.execute(
            "SELECT org_code, name, org_type, parent_code, postcode FROM org ORDER BY org_code"
        ).fetchall()

    def chunk(self, number: int) -> tuple[list[tuple[Any, ...]], dict[str, dict[int, list]]]:  # type: ignore[type-arg]
        """The patients of chunk `number` and, per table, their rows grouped by patient."""
        people = self.con.execute(
            "SELECT patient_id, nhs_number, date_of_birth, sex, ethnicity, date_of_death, "
            f"practice_code, registered FROM scope WHERE chunk = {int(number)} ORDER BY patient_id"
        ).fetchall()
        rows: dict[str, dict[int, list]] = {}  # type: ignore[type-arg]
        for table in _TABLES:
            grouped: dict[int, list] = defaultdict(list)  # type: ignore[type-arg]
            for row in self.con.execute(
                f"SELECT * EXCLUDE (chunk) FROM s_{table} WHERE chunk = {int(number)}"
            ).fetchall():
                grouped[row[0]].append(row[1:])
            rows[table] = grouped
        return people, rows


def default_pcn(folder: Path) -> str:
    """The PCN of the first practice by ODS code (the demo GP user's practice)."""
    import duckdb

    with duckdb.connect() as con:
        row = con.execute(
            f"SELECT parent_code FROM {_source(folder, 'organisations')} "
            "WHERE org_type = 'gp_practice' ORDER BY org_code LIMIT 1"
        ).fetchone()
    if row is None:
        raise ValueError(f"{folder} has no GP practices")
    return str(row[0])
