"""Real third-party data: the Synthea bulk export (NDJSON per type) goes in through transaction
bundles of PUTs (ids kept, conditional references resolved), every resource validates, and what
is stored matches the files, counted independently."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from integrated_care.record import bundles, service
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "synthea-10"
# Referenced resources first, so conditional references (Practitioner?identifier=...) resolve.
ORDER = ["Organization", "Location", "Practitioner", "PractitionerRole", "Patient", "Encounter"]
BATCH = 400


def _files() -> dict[str, list[dict]]:  # type: ignore[type-arg]
    resources: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for path in sorted(FIXTURE.glob("*.ndjson")):
        if path.name == "log.ndjson":
            continue
        resource_type = path.name.split(".")[0]
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        assert all(r["resourceType"] == resource_type for r in lines)
        resources.setdefault(resource_type, []).extend(lines)
    return resources


def _patient_of(resource: dict) -> str:  # type: ignore[type-arg]
    reference = (resource.get("subject") or resource.get("patient"))["reference"]
    return reference.split("/")[1]


def _codings(value: dict | None) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(c.get("system"), c["code"]) for c in (value or {}).get("coding", [])}


def _range_end(resource: dict) -> datetime | None:  # type: ignore[type-arg]
    """When a Procedure's performance ended, in UTC (+1 s: the precision of the stamp)."""
    stamp = resource.get("performedDateTime") or (resource.get("performedPeriod") or {}).get("end")
    return datetime.fromisoformat(stamp).astimezone(UTC) + timedelta(seconds=1) if stamp else None


def _check_searches_against_the_files(runtime: Runtime, caller: Caller, files: dict) -> None:  # type: ignore[type-arg]
    """Patient + code (and status, date) searches on each clinical type, against a count made
    by reading the files in Python."""

    def total(resource_type: str, *pairs: tuple[str, str]) -> int:
        reply = service.search_type(runtime, caller, resource_type, [*pairs, ("_count", "0")])
        return reply.json()["total"]

    coded = {
        "Procedure": ("code", "code"),
        "Immunization": ("vaccine-code", "vaccineCode"),
        "AllergyIntolerance": ("code", "code"),
        "MedicationRequest": ("code", "medicationCodeableConcept"),
        "Condition": ("code", "code"),
    }
    for resource_type, (param, element) in coded.items():
        items = files[resource_type]
        first = next(r for r in items if _codings(r.get(element)))
        patient_id = _patient_of(first)
        system, code = sorted(_codings(first[element]))[0]
        expected = sum(
            1 for r in items
            if _patient_of(r) == patient_id and (system, code) in _codings(r.get(element))
        )  # fmt: skip
        assert total(resource_type, ("patient", patient_id), (param, f"{system}|{code}")) == (
            expected
        ), resource_type
        everyone = sum(1 for r in items if (system, code) in _codings(r.get(element)))
        assert total(resource_type, (param, code)) == everyone, resource_type

    procedures = files["Procedure"]
    completed = sum(1 for r in procedures if r["status"] == "completed")
    assert total("Procedure", ("status", "completed")) == completed
    since = datetime(2015, 1, 1, tzinfo=UTC)
    after = sum(1 for r in procedures if (end := _range_end(r)) is not None and end > since)
    assert total("Procedure", ("date", "ge2015-01-01T00:00:00Z")) == after
    active = sum(
        1 for r in files["AllergyIntolerance"] if ("http://terminology.hl7.org/CodeSystem/"
        "allergyintolerance-clinical", "active") in _codings(r.get("clinicalStatus"))
    )  # fmt: skip
    assert total("AllergyIntolerance", ("clinical-status", "active")) == active
    finished = sum(1 for r in files["Encounter"] if r["status"] == "finished")
    assert total("Encounter", ("status", "finished")) == finished


def test_synthea_export_stores_every_resource(record_runtime: Runtime, gp_caller: Caller) -> None:
    files = _files()
    order = ORDER + sorted(set(files) - set(ORDER))
    for resource_type in order:
        items = files[resource_type]
        for start in range(0, len(items), BATCH):
            entries = [
                {"resource": r, "request": {"method": "PUT", "url": f"{resource_type}/{r['id']}"}}
                for r in items[start : start + BATCH]
            ]
            reply = bundles.transaction(
                record_runtime,
                gp_caller,
                {"resourceType": "Bundle", "type": "transaction", "entry": entries},
            )
            assert reply.status == 200, reply.json()

    for resource_type, items in files.items():
        found = service.search_type(record_runtime, gp_caller, resource_type, [("_count", "0")])
        assert found.json()["total"] == len(items), resource_type

    # Each patient's conditions, counted from the file, are what the index finds.
    per_patient = Counter(c["subject"]["reference"].split("/")[1] for c in files["Condition"])
    for patient_id, expected in per_patient.items():
        found = service.search_type(
            record_runtime, gp_caller, "Condition", [("patient", patient_id), ("_count", "0")]
        )
        assert found.json()["total"] == expected

    _check_searches_against_the_files(record_runtime, gp_caller, files)

    # Conditional references were resolved to the practitioners they name.
    encounter = files["Encounter"][0]
    stored = service.read(record_runtime, gp_caller, "Encounter", encounter["id"]).json()
    reference = stored["participant"][0]["individual"]["reference"]
    assert reference.startswith("Practitioner/")
    npi = encounter["participant"][0]["individual"]["reference"].split("|")[1]
    practitioner = service.read(record_runtime, gp_caller, *reference.split("/")).json()
    assert npi in [i["value"] for i in practitioner["identifier"]]

    # $everything holds the patient's whole compartment.
    patient_id = files["Patient"][0]["id"]
    own = sum(
        1
        for resource_type, items in files.items()
        for r in items
        if any(
            (r.get(field) or {}).get("reference") == f"Patient/{patient_id}"
            for field in ("subject", "patient")
        )
    )
    everything = service.everything(
        record_runtime, gp_caller, patient_id, [("_type", ",".join(files))]
    ).json()
    in_compartment = [
        e for e in everything["entry"] if e["resource"]["resourceType"] not in ORDER[:4]
    ]
    assert len(in_compartment) == own + 1  # + the patient
