"""`import-fhir` turns a FHIR R4 bulk export into a valid, pseudonymised input-layer folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from integrated_care.settings import Settings
from integrated_care.warehouse import nhs_number
from integrated_care.warehouse.check import check
from integrated_care.warehouse.cli import register
from integrated_care.warehouse.fhir import import_fhir, stable_id
from integrated_care.warehouse.load import load

SYNTHEA = Path(__file__).parent / "fixtures" / "synthea-10"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fhir") / "input"
    import_fhir(SYNTHEA, out)
    return out


def rows(folder: Path, name: str) -> list[dict]:
    return pq.read_table(folder / f"{name}.parquet").to_pylist()


def test_the_import_passes_check(imported: Path) -> None:
    report = check(imported)
    assert report.ok and report.warnings == 0, list(report.iter_problems())


def test_every_patient_and_organisation_arrives(imported: Path) -> None:
    patients = rows(imported, "patients")
    assert len(patients) == 13
    assert len(rows(imported, "organisations")) == 43
    assert len(rows(imported, "deaths")) == sum(1 for p in patients if p["date_of_death"])
    assert len(rows(imported, "registrations")) == 13
    for name in ("gp_events", "gp_appointments", "apc_spells", "ae_attendances"):
        assert rows(imported, name), name


def test_people_get_pseudonymous_ids_and_test_range_nhs_numbers(imported: Path) -> None:
    patients = rows(imported, "patients")
    numbers = [p["nhs_number"] for p in patients]
    assert len(set(numbers)) == len(numbers)
    assert all(n.startswith("999") and nhs_number.is_valid(n) for n in numbers)
    assert all(p["date_of_birth"].day == 1 for p in patients)
    first = "129c6ac7-8d06-89de-ad63-0204a93e76c3"
    assert stable_id("patient", first) in {p["patient_id"] for p in patients}


def test_no_source_identifier_survives(imported: Path) -> None:
    text = b"".join(p.read_bytes() for p in imported.glob("*.parquet"))
    for identifier in (b"999-94-5397", b"129c6ac7-8d06-89de-ad63-0204a93e76c3", b"Medhurst46"):
        assert identifier not in text


def test_the_same_export_gives_the_same_tables(imported: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    import_fhir(SYNTHEA, again)
    for path in sorted(imported.glob("*.parquet")):
        assert pq.read_table(again / path.name).equals(pq.read_table(path)), path.name


def test_unmapped_resources_are_counted_not_invented(tmp_path: Path) -> None:
    source = tmp_path / "export"
    shutil.copytree(SYNTHEA, source)
    (source / "MedicationRequest.000.ndjson").write_text('{"resourceType": "MedicationRequest"}\n')
    result = import_fhir(source, tmp_path / "out")
    assert result.skipped["MedicationRequest"] == 1
    assert result.rows["medications"] == 0
    # Synthea's vaccines are coded in CVX only: none is given an invented SNOMED code.
    cvx = sum(1 for _ in (SYNTHEA / "Immunization.000.ndjson").open())
    assert result.skipped["Immunization"] == cvx > 0


def _uk_coded(patient_ref: str) -> list[dict]:
    """A dm+d-coded prescription and a SNOMED-coded flu vaccination, as a UK export has them."""
    return [
        {
            "resourceType": "MedicationRequest",
            "id": "uk-med-1",
            "status": "active",
            "intent": "order",
            "subject": {"reference": patient_ref},
            "authoredOn": "2020-03-04T10:00:00+00:00",
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": "https://dmd.nhs.uk",
                        "code": "39732311000001104",
                        "display": "Amlodipine 5mg tablets",
                    }
                ]
            },
        },
        {
            "resourceType": "Immunization",
            "id": "uk-imm-1",
            "status": "completed",
            "patient": {"reference": patient_ref},
            "occurrenceDateTime": "2020-10-01T09:00:00+00:00",
            "vaccineCode": {
                "coding": [{"system": "http://snomed.info/sct", "code": "39114911000001105"}]
            },
            "extension": [
                {
                    "url": "https://fhir.hl7.org.uk/StructureDefinition/"
                    "Extension-UKCore-VaccinationProcedure",
                    "valueCodeableConcept": {
                        "coding": [{"system": "http://snomed.info/sct", "code": "884861000000100"}]
                    },
                }
            ],
        },
    ]


def test_uk_coded_prescriptions_and_vaccinations_are_mapped(tmp_path: Path) -> None:
    source = tmp_path / "export"
    shutil.copytree(SYNTHEA, source)
    first = "129c6ac7-8d06-89de-ad63-0204a93e76c3"
    (source / "MedicationRequest.000.ndjson").write_text(
        "".join(json.dumps(r) + "\n" for r in _uk_coded(f"Patient/{first}")[:1])
    )
    with (source / "Immunization.000.ndjson").open("a") as f:
        f.write(json.dumps(_uk_coded(f"Patient/{first}")[1]) + "\n")
    out = tmp_path / "out"
    import_fhir(source, out)
    medicines = rows(out, "medications")
    assert [(m["patient_id"], m["dmd_code"], str(m["date"])) for m in medicines] == [
        (stable_id("patient", first), "39732311000001104", "2020-03-04")
    ]
    events = rows(out, "gp_events")
    flu = [e for e in events if e["snomed_code"] == "884861000000100"]
    assert [(e["patient_id"], str(e["date"])) for e in flu] == [
        (stable_id("patient", first), "2020-10-01")
    ]
    assert check(out).ok


def test_imported_folder_loads(imported: Path, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    result = load(imported, Settings(data_dir=tmp_path, warehouse_url=url))
    assert result.rows_withheld == 0
    assert {t.table: t.rows_loaded for t in result.tables}["patients"] == 13


def test_import_fhir_command(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A fresh `ics`."""

    register(app)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["import-fhir", str(SYNTHEA), str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_observations_in_gp_encounters_become_measurements(tmp_path: Path) -> None:
    source = tmp_path / "export"
    shutil.copytree(SYNTHEA, source)
    # the first procedure in the export was done in a GP encounter (at GRACEMED HEALTH CLINIC)
    procedure = json.loads((SYNTHEA / "Procedure.000.ndjson").read_text().splitlines()[0])
    observation = {
        "resourceType": "Observation",
        "id": "bmi-1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "39156-5"}]},
        "subject": procedure["subject"],
        "encounter": procedure["encounter"],
        "effectiveDateTime": "2022-06-22T12:31:08-04:00",
        "valueQuantity": {"value": 31.2, "unit": "kg/m2"},
    }
    (source / "Observation.000.ndjson").write_text(json.dumps(observation) + "\n")
    import_fhir(source, tmp_path / "out")
    events = rows(tmp_path / "out", "gp_events")
    assert [(e["date"].isoformat(), e["numeric_value"]) for e in events
            if e["snomed_code"] == "60621009"] == [("2022-06-22", 31.2)]  # fmt: skip
