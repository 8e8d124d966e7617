"""The schema is coherent: keys, references, rules and code lists all point at real things."""

from __future__ import annotations

import pyarrow as pa
import pytest

from integrated_care.warehouse.schema import TABLES, arrow_schema, code_list, table
from tests.warehouse.fixture import to_arrow, valid_tables

CONTRACT = {
    "footprint": {"organisations", "places", "lsoas"},
    "population": {"patients", "registrations", "gp_events", "gp_appointments", "medications",
                   "deaths"},
    "hospital": {"apc_spells", "ae_attendances", "op_appointments", "rtt_pathways"},
    "community": {"community_contacts", "mh_contacts", "social_care_services"},
    "finance": {"finance_control_totals", "finance_ledger", "contracts"},
    "workforce": {"staff", "workforce_plan"},
}  # fmt: skip


def test_every_contract_table_is_declared_in_its_group() -> None:
    for group, names in CONTRACT.items():
        assert {t.name for t in TABLES.values() if t.group == group} == names


def test_keys_rules_and_references_name_real_columns() -> None:
    for spec in TABLES.values():
        for key in spec.primary_key:
            assert spec.has_column(key), (spec.name, key)
        for rule in spec.order_rules:
            assert spec.has_column(rule.earlier) and spec.has_column(rule.later)
        for column in spec.columns:
            if column.references:
                target = TABLES[column.references.table]
                assert target.has_column(column.references.column)
                if column.references.where:
                    assert target.has_column(column.references.where[0])


def test_patient_level_tables_reference_patients() -> None:
    patient_level = {t.name for t in TABLES.values() if t.patient_level}
    assert patient_level >= CONTRACT["population"] | CONTRACT["hospital"] | CONTRACT["community"]
    assert not patient_level & (CONTRACT["finance"] | CONTRACT["footprint"])
    for name in patient_level - {"patients"}:
        assert table(name).column("patient_id").references.table == "patients"


def test_nhs_number_is_the_only_identifiable_column() -> None:
    identifiable = {(t.name, c.name) for t in TABLES.values() for c in t.columns if c.identifiable}
    assert identifiable == {("patients", "nhs_number")}
    assert "nhs_number" not in arrow_schema("patients", warehouse=True).names


def test_arrow_schema_types() -> None:
    schema = arrow_schema("apc_spells")
    assert schema.field("spell_id").type == pa.int64()
    assert schema.field("admission_date").type == pa.date32()
    assert schema.field("cost").type == pa.decimal128(18, 2)
    assert schema.field("discharge_date").nullable and not schema.field("patient_id").nullable
    assert arrow_schema("ae_attendances").field("arrival_time").type == pa.timestamp("us")


@pytest.mark.parametrize(
    ("name", "member"),
    [("treatment_function_codes", "110"), ("admission_methods", "2A"),
     ("discharge_destinations", "19"), ("ethnic_categories", "Z"), ("bnf_chapters", "02")],
)  # fmt: skip
def test_code_lists_load(name: str, member: str) -> None:
    assert member in code_list(name)


def test_unknown_table_is_named() -> None:
    with pytest.raises(KeyError, match="no input-layer table 'nope'"):
        table("nope")


def test_fixture_rows_fit_the_arrow_schemas() -> None:
    for name, rows in valid_tables().items():
        schema = to_arrow(name, rows).schema
        assert [(f.name, f.type) for f in schema] == [(f.name, f.type) for f in arrow_schema(name)]
