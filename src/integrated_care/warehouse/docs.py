"""docs/input-layer.md, generated from the schema so the two cannot drift apart.

``ics input-layer docs`` writes it; a test fails if the committed file differs from ``render()``.
"""

from __future__ import annotations

import csv
from importlib import resources

from integrated_care.warehouse.model import Column, TableSpec
from integrated_care.warehouse.schema import TABLES

GROUPS = {
    "footprint": "Footprint",
    "population": "Population (GP and demographic)",
    "hospital": "Hospital (SUS-shaped)",
    "community": "Community, mental health and social care",
    "finance": "Finance and contracts",
    "workforce": "Workforce",
}

INTRO = """\
# The input layer

<!-- Generated from src/integrated_care/warehouse/schema.py by `ics input-layer docs`.
     Edit the schema (or warehouse/docs.py), not this file. -->

The platform reads an ICS's extracts in one shape: a folder with one file per table, as
`name.parquet`, `name.csv`, or a folder `name/` of `*.parquet` (or `*.csv`) parts. `ics synth`
writes exactly this shape; a real ICS writes its own extracts in it.

```
ics check DIR        # every problem as file, row, column, value and reason; exit 1 on any error
ics load DIR         # check, then replace the warehouse all-or-nothing
ics import-fhir DIR OUT   # a FHIR R4 bulk export (NDJSON) -> an input-layer folder
```

Writers can take each table's exact Parquet schema from the code:
`integrated_care.warehouse.schema.arrow_schema("patients")`; `TABLES` holds every table, column
and rule below.

## Types

| type | Parquet (Arrow) | CSV text |
|---|---|---|
| string | string | as is |
| int64 | int64 (any integer type accepted) | `123` |
| float64 | double (any number accepted) | `12.5` |
| decimal | decimal128(18, 2) (any number accepted); money is GBP | `2450.50` |
| bool | bool | `true` / `false` |
| date | date32 | ISO `2024-01-31` |
| timestamp | timestamp (microseconds, local time) | ISO `2024-01-31 14:05:00` |

An empty CSV field is null. Extra columns and unknown files are reported as warnings and ignored.

## What `ics check` enforces

- every required table is present, and every column of each table present;
- each value has the column's type; no nulls where a value is required;
- values in the allowed set or code list; codes of the right shape (ICD-10, OPCS-4, SNOMED CT,
  HRG, ONS and ODS codes); numbers within their range;
- NHS numbers are 10 digits with a valid modulus-11 check digit; dates of birth are the first
  of a month; financial years read like `2025/26`;
- dates and times in order within a row (see each table);
- primary keys unique; every foreign key found in the table it references (a `practice_code`
  must be an organisation of type `gp_practice`).

`ics check` reads the files in place with DuckDB (CSV through pyarrow), one vectorised scan per
table plus hash joins for keys, and loads nothing.

## What `ics load` does

- Refuses, with the problems, if `ics check` finds any error; the warehouse is then unchanged.
- Builds the new warehouse (through Ibis) in a new DuckDB file beside the current one and swaps it
  in with one atomic rename: a failure at any point leaves the previous warehouse exactly as it
  was. Every table of the contract exists after a load (empty if not supplied).
- **Secondary use only.** `nhs_number` is never stored in the warehouse. Every row of a patient
  with `national_opt_out = true` is withheld from every patient-level table (those marked
  *patient-level* below), including `patients` itself. `type1_opt_out` is carried through as a
  column for analyses that must honour it.
- Writes `load_manifest`: one row per table with `table`, `rows_in`, `rows_loaded`,
  `rows_withheld_opt_out`, `loaded_at` (UTC), `source_folder` and `checksum` (SHA-256 of the
  source files; empty when the table was not supplied).
"""

ADDITIONS = """\
## Additions to the minimum contract

- Identifier types: `patient_id` and every activity identifier (`spell_id`, `attendance_id`,
  `appointment_id`, `pathway_id`, `contact_id`, `service_id`, `entry_id`, `staff_id`) are 64-bit
  integers; `contract_id` is a string.
- Nullable where the source may not know: `patients.ethnicity`, `patients.lsoa_code`,
  `apc_spells.discharge_date` (still in hospital), `ae_attendances.departure_time` and `acuity`,
  `deaths.underlying_cause` and `place_of_death`, `medications.bnf_chapter`,
  `contracts.end_date`, `staff.end_date`.
- `admission_method` also accepts the current emergency codes 2A-2D.
- `department_type` and `acuity` are integers; `bnf_chapter` is the two-digit chapter code.
- `finance_ledger.line` is one of the listed lines; `contracts.services` is pipe-separated.
- `social_care_services.local_authority_code` must be the `local_authority_code` of a place.
- `load_manifest` (written by the loader, not an input).
- Synthetic NHS numbers: the reserved range starting 999 holds only 909,091 valid numbers
  (`nhs_number.TEST_RANGE_SIZE`); a larger synthetic population needs numbers outside it that
  still pass the modulus-11 check, which the checker accepts.
"""


def _code_list_rows(name: str) -> list[dict[str, str]]:
    text = resources.files("integrated_care.warehouse").joinpath(f"data/{name}.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


def _rules(column: Column) -> str:
    parts = []
    if column.code_list:
        parts.append(f"code list [{column.code_list}](#{column.code_list.replace('_', '-')})")
    elif column.allowed is not None:
        parts.append("one of " + ", ".join(f"`{v}`" for v in column.allowed))
    if column.pattern_name:
        parts.append(column.pattern_name)
    if column.minimum is not None:
        parts.append(f">= {column.minimum:g}")
    if column.maximum is not None:
        parts.append(f"<= {column.maximum:g}")
    if column.special == "nhs_number":
        parts.append("modulus-11 check digit")
    if column.special == "first_of_month":
        parts.append("first of the month")
    if column.special == "financial_year":
        parts.append('like "2025/26"')
    if column.references:
        parts.append(f"-> {column.references.describe()}")
    if column.identifiable:
        parts.append("**identifiable: never loaded**")
    return "; ".join(parts)


def _table(spec: TableSpec) -> list[str]:
    flags = ["required" if spec.required else "optional"]
    if spec.patient_level:
        flags.append("patient-level (opt-outs withheld)")
    lines = [f"### {spec.name}", "", f"{spec.description}. *{', '.join(flags)}*.", ""]
    if spec.primary_key:
        lines.append(f"Primary key: {', '.join(f'`{k}`' for k in spec.primary_key)}.")
    for rule in spec.order_rules:
        lines.append(f"`{rule.later}` is on or after `{rule.earlier}`.")
    if spec.primary_key or spec.order_rules:
        lines.append("")
    lines += ["| column | type | null | rules | description |", "|---|---|---|---|---|"]
    for c in spec.columns:
        null = "yes" if c.nullable else ""
        desc = c.description.replace("|", "\\|")
        lines.append(f"| `{c.name}` | {c.type} | {null} | {_rules(c)} | {desc} |")
    return [*lines, ""]


def _code_lists() -> list[str]:
    names = sorted({c.code_list for t in TABLES.values() for c in t.columns if c.code_list})
    lines = ["## Code lists", "", "Kept as CSV in `src/integrated_care/warehouse/data/`.", ""]
    for name in names:
        rows = _code_list_rows(name)
        lines += [f"### {name}", "", "| code | meaning |", "|---|---|"]
        lines += [f"| `{r['code']}` | {r['name']} |" for r in rows]
        lines.append("")
    return lines


def _fhir_section() -> list[str]:
    from integrated_care.warehouse import fhir

    mapping = (fhir.__doc__ or "").split("\n\n", 1)[1].strip()
    return ["## Importing a FHIR R4 bulk export", "", "`ics import-fhir DIR OUT`. " + mapping, ""]


def render() -> str:
    """The whole of docs/input-layer.md."""
    lines = [INTRO]
    for group, title in GROUPS.items():
        specs = [t for t in TABLES.values() if t.group == group]
        if specs:
            lines += [f"## {title}", ""]
            for spec in specs:
                lines += _table(spec)
    lines += _code_lists()
    lines += _fhir_section()
    lines.append(ADDITIONS)
    return "\n".join(lines).rstrip() + "\n"
