"""Index extraction: FHIR dates as ranges, paths with choice types, values by shape."""

from __future__ import annotations

from datetime import datetime

from integrated_care.record.extract import (
    MAX_DATE,
    compartment_patient,
    date_range,
    evaluate,
    index_rows,
    normalise,
)


def test_date_precision_becomes_a_half_open_range() -> None:
    assert date_range("2020") == (datetime(2020, 1, 1), datetime(2021, 1, 1))
    assert date_range("2020-02") == (datetime(2020, 2, 1), datetime(2020, 3, 1))
    assert date_range("2020-12") == (datetime(2020, 12, 1), datetime(2021, 1, 1))
    assert date_range("2020-02-29") == (datetime(2020, 2, 29), datetime(2020, 3, 1))
    assert date_range("2020-02-29T10:00:05Z") == (
        datetime(2020, 2, 29, 10, 0, 5),
        datetime(2020, 2, 29, 10, 0, 6),
    )
    # 01:30 at +02:00 is 23:30 UTC the day before.
    assert date_range("2020-03-01T01:30:00+02:00")[0] == datetime(2020, 2, 29, 23, 30)
    assert date_range("2020-03-01T01:30:00.250Z") == (
        datetime(2020, 3, 1, 1, 30, 0, 250000),
        datetime(2020, 3, 1, 1, 30, 0, 251000),
    )
    assert date_range("9999")[1] == MAX_DATE
    assert date_range("2020-13-01") is None
    assert date_range("childhood") is None


def test_choice_paths_and_lists() -> None:
    condition = {
        "resourceType": "Condition",
        "onsetPeriod": {"start": "2019"},
        "category": [{"coding": [{"code": "a"}]}, {"coding": [{"code": "b"}]}],
    }
    assert evaluate(condition, "Condition.onset[x]") == [{"start": "2019"}]
    assert evaluate(condition, "Condition.category.coding") == [{"code": "a"}, {"code": "b"}]
    assert evaluate(condition, "Condition.code") == []


def test_index_rows_of_a_patient() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
        "name": [{"family": "Núñez", "given": ["Zoë", "Anne"]}],
        "birthDate": "1960-04-01",
        "gender": "female",
        "generalPractitioner": [{"reference": "Organization/C82001"}],
    }
    rows = index_rows("Patient", "p1", patient)
    tokens = {(r["param"], r["system"], r["code"]) for r in rows.tokens}
    assert ("identifier", "https://fhir.nhs.uk/Id/nhs-number", "9434765919") in tokens
    assert ("gender", None, "female") in tokens
    names = {(r["param"], r["value"]) for r in rows.strings}
    assert {("name", "nunez"), ("name", "zoe"), ("name", "anne"), ("family", "nunez")} <= names
    assert {(r["param"], r["exact"]) for r in rows.strings if r["param"] == "given"} == {
        ("given", "Zoë"),
        ("given", "Anne"),
    }
    assert [(r["low"], r["high"]) for r in rows.dates] == [
        (datetime(1960, 4, 1), datetime(1960, 4, 2))
    ]
    assert [(r["target_type"], r["target_id"]) for r in rows.references] == [
        ("Organization", "C82001")
    ]
    assert compartment_patient("Patient", "p1", patient) == "p1"


def test_references_and_compartment() -> None:
    observation = {
        "resourceType": "Observation",
        "subject": {"reference": "https://example.org/fhir/Patient/p9/_history/2"},
        "encounter": {"reference": "urn:uuid:0f6b"},
        "performer": [{"reference": "Practitioner?identifier=x|1"}],
        "effectivePeriod": {"start": "2024-01-01", "end": "2024-01-03"},
    }
    rows = index_rows("Observation", "o1", observation)
    refs = {(r["param"], r["target_type"], r["target_id"]) for r in rows.references}
    # The patient is the compartment: stored as the resource's patient_id, not as index rows
    # (`patient` and `subject` searches read that column).
    assert refs == set()
    assert [(r["low"], r["high"]) for r in rows.dates] == [
        (datetime(2024, 1, 1), datetime(2024, 1, 4))
    ]
    assert compartment_patient("Observation", "o1", observation) == "p9"


def test_a_subject_that_is_not_a_patient_is_indexed_under_subject() -> None:
    observation = {"resourceType": "Observation", "subject": {"reference": "Group/g1"}}
    rows = index_rows("Observation", "o2", observation)
    refs = {(r["param"], r["target_type"], r["target_id"]) for r in rows.references}
    assert refs == {("subject", "Group", "g1")}


def test_normalise() -> None:
    assert normalise("  Ørsted-SMITH  Ångström ") == "ørsted-smith angstrom"
