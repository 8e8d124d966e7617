"""Search on small hand-made data: every parameter type, modifiers and prefixes, paging,
sorting, _include / _revinclude and $everything. Expected ids are worked out by hand."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.record.conftest import NHS, SNOMED, condition, patient, put

LOINC = "http://loinc.org"


def _put(fhir: TestClient, resource: dict[str, Any]) -> dict[str, Any]:
    response = put(fhir, f"{resource['resourceType']}/{resource['id']}", resource)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def data(fhir: TestClient) -> dict[str, dict[str, Any]]:
    """Four patients at two practices, with conditions, an encounter, results and a medicine."""
    gp = [{"reference": "Organization/org1"}]
    resources = [
        {"resourceType": "Organization", "id": "org1", "name": "Beacon Surgery"},
        {"resourceType": "Organization", "id": "org2", "name": "Riverside Practice"},
        {
            **patient("Smith", "Jane", "1960-04-01", "9434765919"),
            "id": "a",
            "generalPractitioner": gp,
        },
        {
            **patient("Smyth", "John", "1975-06-15", "4010232137", "male"),
            "id": "b",
            "generalPractitioner": gp,
        },
        {
            **patient("Núñez", "Zoë", "1990-01-20", "1000000001"),
            "id": "c",
            "generalPractitioner": [{"reference": "Organization/org2"}],
        },
        {
            "resourceType": "Patient",
            "id": "d",
            "name": [{"family": "Brown", "given": ["Sam"]}],
            "gender": "male",
            "birthDate": "1960-11-30",
        },
        {**condition("a", "44054006", "2020-03-01"), "id": "a-diabetes"},
        {**condition("a", "195967001", "2015", status="resolved"), "id": "a-asthma"},
        {**condition("b", "44054006", "2022-07-10"), "id": "b-diabetes"},
        {
            **{k: v for k, v in condition("c", "38341003").items() if k != "onsetDateTime"},
            "onsetPeriod": {"start": "2019-01-01"},
            "id": "c-hypertension",
        },
        {
            "resourceType": "Encounter",
            "id": "enc-1",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/a"},
            "period": {"start": "2024-01-05T09:00:00Z", "end": "2024-01-05T10:00:00Z"},
        },
        {
            "resourceType": "Observation",
            "id": "a-hba1c",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "4548-4"}]},
            "subject": {"reference": "Patient/a"},
            "encounter": {"reference": "Encounter/enc-1"},
            "effectiveDateTime": "2024-01-05T09:30:00Z",
        },
        {
            "resourceType": "Observation",
            "id": "b-hba1c",
            "status": "preliminary",
            "code": {"coding": [{"system": LOINC, "code": "4548-4"}]},
            "subject": {"reference": "Patient/b"},
            "effectiveDateTime": "2023-06-01",
        },
        {
            "resourceType": "MedicationRequest",
            "id": "a-metformin",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/a"},
            "medicationCodeableConcept": {"coding": [{"system": SNOMED, "code": "109081006"}]},
            "authoredOn": "2020-03-02",
        },
    ]
    return {r["id"]: _put(fhir, r) for r in resources}


def ids(fhir: TestClient, query: str, mode: str = "match", **headers: str) -> list[str]:
    response = fhir.get(f"/fhir/{query}", headers=headers)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def same(found: list[str], expected: set[str]) -> bool:
    return len(found) == len(set(found)) and set(found) == expected


def test_token(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    assert same(ids(fhir, f"Patient?identifier={NHS}|4010232137"), {"b"})
    assert same(ids(fhir, "Patient?identifier=4010232137"), {"b"})
    assert same(ids(fhir, "Patient?identifier=http://other|4010232137"), set())
    assert same(ids(fhir, "Patient?gender=female"), {"a", "c"})
    assert same(ids(fhir, "Patient?gender=|male"), {"b", "d"})
    assert same(ids(fhir, f"Condition?code={SNOMED}|44054006"), {"a-diabetes", "b-diabetes"})
    assert same(
        ids(fhir, "Condition?code=44054006,38341003"),
        {"a-diabetes", "b-diabetes", "c-hypertension"},
    )
    assert same(ids(fhir, "Condition?code:not=44054006"), {"a-asthma", "c-hypertension"})
    assert same(ids(fhir, "Condition?clinical-status=resolved"), {"a-asthma"})
    assert same(
        ids(fhir, "Condition?category=problem-list-item&clinical-status=active"),
        {"a-diabetes", "b-diabetes", "c-hypertension"},
    )
    assert same(ids(fhir, "Observation?status=final"), {"a-hba1c"})
    assert same(ids(fhir, f"Observation?code={LOINC}|4548-4"), {"a-hba1c", "b-hba1c"})
    assert same(ids(fhir, "MedicationRequest?code=109081006&status=active"), {"a-metformin"})
    assert same(ids(fhir, "Encounter?class=AMB&status=finished"), {"enc-1"})
    assert same(ids(fhir, "Patient?identifier:missing=true"), {"d"})
    assert same(ids(fhir, "Patient?identifier:missing=false"), {"a", "b", "c"})


def test_string(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    assert same(ids(fhir, "Patient?name=smi"), {"a"})
    assert same(ids(fhir, "Patient?name=SM"), {"a", "b"})
    assert same(ids(fhir, "Patient?family=nunez"), {"c"})  # accents and case ignored
    assert same(ids(fhir, "Patient?given=zoe"), {"c"})
    assert same(ids(fhir, "Patient?family:exact=Núñez"), {"c"})
    assert same(ids(fhir, "Patient?family:exact=nunez"), set())
    assert same(ids(fhir, "Patient?name:contains=myt"), {"b"})
    assert same(ids(fhir, "Patient?name=jane"), {"a"})  # given names are in name too
    assert same(ids(fhir, "Patient?family=smith,brown"), {"a", "d"})
    assert same(ids(fhir, "Patient?name=100%"), set())  # LIKE wildcards are literal
    assert same(ids(fhir, "Organization?name=beacon"), {"org1"})


def test_date_prefixes(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    # Birth dates: a 1960-04-01, b 1975-06-15, c 1990-01-20, d 1960-11-30.
    assert same(ids(fhir, "Patient?birthdate=1960"), {"a", "d"})
    assert same(ids(fhir, "Patient?birthdate=1960-04"), {"a"})
    assert same(ids(fhir, "Patient?birthdate=eq1975-06-15"), {"b"})
    assert same(ids(fhir, "Patient?birthdate=ne1960"), {"b", "c"})
    assert same(ids(fhir, "Patient?birthdate=ge1975-06-15"), {"b", "c"})
    assert same(ids(fhir, "Patient?birthdate=gt1975-06-15"), {"c"})
    assert same(ids(fhir, "Patient?birthdate=lt1960-11-30"), {"a"})
    assert same(ids(fhir, "Patient?birthdate=le1960-11-30"), {"a", "d"})
    assert same(ids(fhir, "Patient?birthdate=sa1975"), {"c"})
    assert same(ids(fhir, "Patient?birthdate=eb1975"), {"a", "d"})
    assert same(ids(fhir, "Patient?birthdate=ge1960&birthdate=lt1961"), {"a", "d"})
    assert same(ids(fhir, "Patient?birthdate=1960-04-01,1990-01-20"), {"a", "c"})
    # Onsets: asthma 2015 (the year), diabetes 2020-03-01 and 2022-07-10,
    # hypertension a Period from 2019-01-01 that has not ended.
    assert same(ids(fhir, "Condition?onset-date=ge2021"), {"b-diabetes", "c-hypertension"})
    assert same(ids(fhir, "Condition?onset-date=lt2016"), {"a-asthma"})
    assert same(ids(fhir, "Condition?onset-date=2015"), {"a-asthma"})
    assert same(ids(fhir, "Condition?onset-date=2015-06"), set())  # a year is not in a month
    assert same(ids(fhir, "Encounter?date=2024-01-05"), {"enc-1"})
    assert same(ids(fhir, "Encounter?date=2024-01-05T09:30:00Z"), set())
    assert same(ids(fhir, "Encounter?date=ge2024-01-05T09:30:00Z"), {"enc-1"})
    assert same(ids(fhir, "Observation?date=2024"), {"a-hba1c"})
    assert same(ids(fhir, "MedicationRequest?authoredon=le2020-03-02"), {"a-metformin"})


def test_reference(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    assert same(ids(fhir, "Condition?patient=a"), {"a-diabetes", "a-asthma"})
    assert same(ids(fhir, "Condition?subject=Patient/a"), {"a-diabetes", "a-asthma"})
    assert same(ids(fhir, "Condition?subject:Patient=a"), {"a-diabetes", "a-asthma"})
    assert same(ids(fhir, "Condition?patient=a&code=44054006"), {"a-diabetes"})
    assert same(
        ids(fhir, "Condition?patient=a,b&clinical-status=active"), {"a-diabetes", "b-diabetes"}
    )
    assert same(ids(fhir, "Patient?general-practitioner=Organization/org1"), {"a", "b"})
    assert same(ids(fhir, "Patient?general-practitioner=org2"), {"c"})
    assert same(ids(fhir, "Observation?encounter=enc-1"), {"a-hba1c"})
    assert same(ids(fhir, "Encounter?patient=http://elsewhere/fhir/Patient/a"), {"enc-1"})
    assert same(ids(fhir, "Patient?general-practitioner:missing=true"), {"d"})


def test_subject_finds_patients_and_other_subjects(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    # A patient is indexed under `patient` only, a group under `subject` only (see
    # SearchParam.rows_of): every form of `subject` search must still find both.
    _put(
        fhir,
        {
            "resourceType": "Observation",
            "id": "group-count",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "4548-4"}]},
            "subject": {"reference": "Group/g1"},
        },
    )
    assert same(ids(fhir, "Observation?subject=Patient/a"), {"a-hba1c"})
    assert same(ids(fhir, "Observation?subject=a"), {"a-hba1c"})
    assert same(ids(fhir, "Observation?subject:Group=g1"), {"group-count"})
    assert same(ids(fhir, "Observation?subject=Group/g1,Patient/b"), {"group-count", "b-hba1c"})
    assert same(ids(fhir, "Observation?patient=Group/g1"), set())
    assert same(ids(fhir, "Observation?code=4548-4&subject=Patient/b"), {"b-hba1c"})
    assert same(ids(fhir, "Observation?subject:missing=true"), set())
    # by the referenced id: a, b, g1
    assert ids(fhir, "Observation?_sort=subject") == ["a-hba1c", "b-hba1c", "group-count"]
    assert ids(fhir, "Observation?_id=a-hba1c&_include=Observation:subject", "include") == ["a"]
    assert same(
        ids(fhir, "Patient?_id=a,b&_revinclude=Observation:subject", "include"),
        {"a-hba1c", "b-hba1c"},
    )


def test_the_patient_parameter_follows_the_resource_record(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    # `patient` is answered from the resource's own patient_id (no index rows are kept for it):
    # moving a result to another record, taking its subject away and deleting it must all
    # show in `patient`, `subject`, :missing, _sort and _revinclude at once.
    result = {
        "resourceType": "Observation",
        "id": "moved",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "4548-4"}]},
        "subject": {"reference": "Patient/a"},
    }
    _put(fhir, result)
    assert "moved" in ids(fhir, "Observation?patient=a")
    assert "moved" in ids(fhir, "Patient?_id=a&_revinclude=Observation:patient", "include")
    response = put(fhir, "Observation/moved", {**result, "subject": {"reference": "Patient/b"}})
    assert response.status_code == 200, response.text
    assert "moved" not in ids(fhir, "Observation?patient=a")
    assert "moved" in ids(fhir, "Observation?subject=Patient/b")
    assert "moved" not in ids(fhir, "Patient?_id=a&_revinclude=Observation:patient", "include")
    assert ids(fhir, "Observation?_sort=-patient")[:2] == sorted(["moved", "b-hba1c"])
    assert same(ids(fhir, "Observation?patient:missing=true"), set())
    response = put(fhir, "Observation/moved", {k: v for k, v in result.items() if k != "subject"})
    assert response.status_code == 200, response.text
    assert same(ids(fhir, "Observation?patient:missing=true"), {"moved"})
    assert "moved" not in ids(fhir, "Observation?patient:missing=false")
    assert "moved" not in ids(fhir, "Observation?patient=b")
    _put(fhir, {**result, "id": "gone"})
    assert fhir.delete("/fhir/Observation/gone").status_code in (200, 204)
    assert "gone" not in ids(fhir, "Observation?patient=a")
    assert "gone" not in ids(fhir, "Patient?_id=a&_revinclude=Observation:patient", "include")


def test_id_and_last_updated(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    assert same(ids(fhir, "Patient?_id=a,c"), {"a", "c"})
    assert same(ids(fhir, "Patient?_lastUpdated=lt2000"), set())
    assert same(ids(fhir, "Patient?_lastUpdated=ge2000"), {"a", "b", "c", "d"})
    stamp = data["b"]["meta"]["lastUpdated"]  # milliseconds, UTC
    later = {k for k in "abcd" if data[k]["meta"]["lastUpdated"] > stamp}
    not_later = {k for k in "abcd"} - later
    assert same(ids(fhir, f"Patient?_lastUpdated=gt{stamp}"), later)
    assert same(ids(fhir, f"Patient?_lastUpdated=le{stamp}"), not_later)
    assert "b" in ids(fhir, f"Patient?_lastUpdated={stamp}")


def _walk(fhir: TestClient, url: str) -> tuple[list[str], list[dict]]:  # type: ignore[type-arg]
    seen, bundles = [], []
    while url:
        parts = urlsplit(url)
        bundle = fhir.get(f"{parts.path}?{parts.query}").json()
        bundles.append(bundle)
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        url = next((lk["url"] for lk in bundle["link"] if lk["relation"] == "next"), "")
    return seen, bundles


def test_paging_walks_every_match_once(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    first = fhir.get("/fhir/Condition?_count=1&_sort=onset-date").json()
    assert first["total"] == 4 and len(first["entry"]) == 1
    seen, bundles = _walk(fhir, next(lk["url"] for lk in first["link"] if lk["relation"] == "self"))
    assert seen == ["a-asthma", "c-hypertension", "a-diabetes", "b-diabetes"]
    assert all(b["total"] == 4 for b in bundles)
    relations = [{lk["relation"] for lk in b["link"]} for b in bundles]
    assert "previous" not in relations[0] and "next" in relations[0]
    assert "previous" in relations[1] and "next" not in relations[-1]
    seen, _ = _walk(fhir, "/fhir/Patient?_count=3")  # default order: by id
    assert seen == ["a", "b", "c", "d"]
    assert fhir.get("/fhir/Patient?_count=0").json()["total"] == 4


def test_sort(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    assert ids(fhir, "Patient?_sort=birthdate") == ["a", "d", "b", "c"]
    assert ids(fhir, "Patient?_sort=-birthdate") == ["c", "b", "d", "a"]
    assert ids(fhir, "Patient?_sort=family") == ["d", "c", "a", "b"]  # brown nunez smith smyth
    # name sorts by the first of all name parts: brown (d), jane (a), john (b), nunez (c).
    assert ids(fhir, "Patient?_sort=name") == ["d", "a", "b", "c"]
    assert ids(fhir, "Patient?_sort=gender,birthdate") == ["a", "c", "d", "b"]
    by_update = sorted("abcd", key=lambda k: (data[k]["meta"]["lastUpdated"], k))
    assert ids(fhir, "Patient?_sort=_lastUpdated") == by_update
    assert ids(fhir, "Patient?_sort=-_id") == ["d", "c", "b", "a"]
    # Resources without the sort value come last: d has no identifier.
    assert ids(fhir, "Patient?_sort=identifier")[-1] == "d"
    assert ids(fhir, "Condition?patient=a&_sort=-onset-date") == ["a-diabetes", "a-asthma"]


def test_include_and_revinclude(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    query = "Condition?patient=a&_include=Condition:patient"
    assert same(ids(fhir, query), {"a-diabetes", "a-asthma"})
    assert ids(fhir, query, "include") == ["a"]  # once, though both conditions refer to it
    assert ids(
        fhir, "MedicationRequest?patient=a&_include=MedicationRequest:patient", "include"
    ) == ["a"]
    assert ids(fhir, "Observation?encounter=enc-1&_include=Observation:encounter", "include") == [
        "enc-1"
    ]
    assert same(
        ids(fhir, "Patient?_include=Patient:general-practitioner", "include"), {"org1", "org2"}
    )
    assert same(
        ids(fhir, "Patient?_id=a&_revinclude=Condition:patient", "include"),
        {"a-diabetes", "a-asthma"},
    )
    assert same(
        ids(
            fhir,
            "Patient?_id=a,b&_revinclude=Encounter:patient&_revinclude=Observation:patient",
            "include",
        ),
        {"enc-1", "a-hba1c", "b-hba1c"},
    )
    bundle = fhir.get("/fhir/Patient?_id=a&_revinclude=Condition:patient").json()
    assert bundle["total"] == 1  # total counts matches only


def test_unknown_parameters_lenient_and_strict(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    bundle = fhir.get("/fhir/Patient?family=smith&shoe-size=9").json()
    assert [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"] == ["a"]
    [outcome] = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert "shoe-size" in outcome["issue"][0]["diagnostics"]
    assert outcome["issue"][0]["severity"] == "warning"
    strict = fhir.get(
        "/fhir/Patient?family=smith&shoe-size=9", headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    assert strict.json()["resourceType"] == "OperationOutcome"
    assert (
        fhir.get(
            "/fhir/Patient?family:sounds-like=smith", headers={"Prefer": "handling=strict"}
        ).status_code
        == 400
    )


def test_post_search(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    response = fhir.post(
        "/fhir/Patient/_search",
        content="family=smith",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert [e["resource"]["id"] for e in response.json()["entry"]] == ["a"]


def test_everything(fhir: TestClient, data: dict) -> None:  # type: ignore[type-arg]
    bundle = fhir.get("/fhir/Patient/a/$everything").json()
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
    assert found == {
        ("Patient", "a"),
        ("Condition", "a-diabetes"),
        ("Condition", "a-asthma"),
        ("Encounter", "enc-1"),
        ("Observation", "a-hba1c"),
        ("MedicationRequest", "a-metformin"),
        ("Organization", "org1"),
    }
    assert bundle["total"] == 7
    only = fhir.get("/fhir/Patient/a/$everything?_type=Condition").json()
    assert {e["resource"]["id"] for e in only["entry"]} == {"a-diabetes", "a-asthma"}
    assert fhir.get("/fhir/Patient/zz/$everything").status_code == 404


@pytest.mark.parametrize(
    ("resource_type", "pairs", "expected"),
    [
        ("Encounter", [("patient", "p1")], "p1"),
        ("Encounter", [("patient", "Patient/p1"), ("date", "ge2024")], "p1"),
        ("Patient", [("_id", "p1")], "p1"),
        # Not one patient's record by the parameter that places a resource in it:
        ("Encounter", [("patient", "p1,p2")], None),
        ("Encounter", [("patient", "p1"), ("patient", "p2")], None),
        ("Encounter", [("patient:missing", "true")], None),
        ("Observation", [("performer", "Patient/p1")], None),
        ("Observation", [("subject", "Patient/p1")], None),
        ("Organization", [("_id", "RWE")], None),
        ("Encounter", [("date", "ge2024")], None),
    ],
)
def test_a_search_of_one_patients_record_is_recognised(
    resource_type: str, pairs: list[tuple[str, str]], expected: str | None
) -> None:
    # run_search restricts such a search to that record alone, so only these may qualify.
    from integrated_care.record import search

    assert search.parse(resource_type, pairs).compartment_patient() == expected
