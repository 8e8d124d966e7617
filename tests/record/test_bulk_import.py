"""FHIR NDJSON bulk import (`ics record import`): the Synthea export goes in through the bulk
path, validated, with counts per type and searches checked against the files; an invalid
resource refuses the whole import; a crash leaves whole patients; a re-import makes versions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from integrated_care.accounts.audit import verify_chain
from integrated_care.accounts.models import AuditEvent
from integrated_care.record import service
from integrated_care.record.bulk import ImportRefused, import_folder
from integrated_care.record.models import RecordResource, SearchToken
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime
from tests.record.test_synthea import FIXTURE, _check_searches_against_the_files, _files


def _total(runtime: Runtime, caller: Caller, resource_type: str, *pairs: tuple[str, str]) -> int:
    reply = service.search_type(runtime, caller, resource_type, [*pairs, ("_count", "0")])
    return reply.json()["total"]


def test_the_synthea_export_imports_with_counts_per_type(
    record_runtime: Runtime, gp_caller: Caller
) -> None:
    files = _files()
    result = import_folder(record_runtime, FIXTURE, actor="test", patients_per_batch=4)
    assert dict(result.stored) == {t: len(items) for t, items in files.items()}
    assert result.patients == len(files["Patient"])
    for resource_type, items in files.items():
        assert _total(record_runtime, gp_caller, resource_type) == len(items), resource_type
    per_patient = Counter(c["subject"]["reference"].split("/")[1] for c in files["Condition"])
    for patient_id, expected in per_patient.items():
        assert _total(record_runtime, gp_caller, "Condition", ("patient", patient_id)) == expected
    _check_searches_against_the_files(record_runtime, gp_caller, files)

    # Conditional references (Practitioner?identifier=...) were resolved to the ids they name.
    encounter = files["Encounter"][0]
    stored = service.read(record_runtime, gp_caller, "Encounter", encounter["id"]).json()
    reference = stored["participant"][0]["individual"]["reference"]
    assert reference.startswith("Practitioner/")
    npi = encounter["participant"][0]["individual"]["reference"].split("|")[1]
    practitioner = service.read(record_runtime, gp_caller, *reference.split("/")).json()
    assert npi in [i["value"] for i in practitioner["identifier"]]

    # One audit event per batch: shared resources, then the patients 4 at a time.
    with record_runtime.transaction() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "record.import"))
        events = list(events)
        assert verify_chain(session).ok
    assert len(events) == 1 + -(-len(files["Patient"]) // 4)
    assert sorted(p for e in events for p in e.detail["patients"]) == sorted(
        p["id"] for p in files["Patient"]
    )

    # Importing again gives every resource a second version, not a second copy.
    again = import_folder(record_runtime, FIXTURE, actor="test")
    assert again.resources == result.resources
    patient_id = files["Patient"][0]["id"]
    assert service.read(record_runtime, gp_caller, "Patient", patient_id).headers["ETag"] == 'W/"2"'
    # The first version (stored once, as the current row) moved to history when superseded.
    history = service.history(record_runtime, gp_caller, "Patient", patient_id, []).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    first = service.read(record_runtime, gp_caller, "Patient", patient_id, "1").json()
    assert first["meta"]["versionId"] == "1"
    assert first["identifier"] == files["Patient"][0]["identifier"]
    assert _total(record_runtime, gp_caller, "Condition") == len(files["Condition"])
    with record_runtime.transaction() as session:
        tokens = session.scalar(
            select(func.count())
            .select_from(SearchToken)
            .where(
                SearchToken.resource_type == "Patient",
                SearchToken.resource_id == patient_id,
                SearchToken.param == "identifier",
            )
        )
    assert tokens == len({(i.get("system"), i["value"]) for i in files["Patient"][0]["identifier"]})


def _copy_export(target: Path, change: Any = None) -> Path:
    target.mkdir()
    for path in FIXTURE.glob("*.ndjson"):
        lines = path.read_text().splitlines()
        if change is not None:
            lines = change(path.name, lines)
        (target / path.name).write_text("\n".join(lines) + "\n")
    return target


def test_an_invalid_resource_refuses_the_whole_import(
    record_runtime: Runtime, tmp_path: Path
) -> None:
    def spoil(name: str, lines: list[str]) -> list[str]:
        if name.startswith("Condition"):
            bad = json.loads(lines[3])
            bad["onsetDateTime"] = "not a date"
            lines[3] = json.dumps(bad)
        if name.startswith("Patient"):
            bad = json.loads(lines[0])
            bad["identifier"] = [
                {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765918"}
            ]
            lines[0] = json.dumps(bad)
        return lines

    folder = _copy_export(tmp_path / "export", spoil)
    with pytest.raises(ImportRefused) as refused:
        import_folder(record_runtime, folder, actor="test")
    problems = "\n".join(refused.value.problems)
    assert "Condition.000.ndjson:4" in problems and "onsetDateTime" in problems
    assert "Patient.000.ndjson:1" in problems and "check digit" in problems
    with record_runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(RecordResource)) == 0


def test_a_crash_mid_import_leaves_no_partial_patient(record_runtime: Runtime) -> None:
    files = _files()
    batches: list[list[str]] = []

    def crash_on_second(session: Any, patients: list[str]) -> None:
        batches.append(patients)
        if len(batches) == 2:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        import_folder(
            record_runtime, FIXTURE, actor="test", patients_per_batch=3, on_batch=crash_on_second
        )
    kept = set(batches[0])
    with record_runtime.transaction() as session:
        by_patient = Counter(
            session.scalars(
                select(RecordResource.patient_id).where(RecordResource.patient_id.is_not(None))
            )
        )
    # Every patient is there whole or not at all.
    expected = Counter()
    for items in files.values():
        for r in items:
            ref = (r.get("subject") or r.get("patient") or {}).get("reference", "")
            owner = r["id"] if r["resourceType"] == "Patient" else ref.split("/")[-1]
            if owner in kept:
                expected[owner] += 1
    assert dict(by_patient) == dict(expected)
