"""`ics import-fhir`: a FHIR R4 bulk export (NDJSON) -> an input-layer folder.

The export arrives as a real source system's extract would. The mapping (this text is also the
FHIR section of docs/input-layer.md):

- Organization -> organisations. Its type is read from how encounters use it: a hospice by name;
  any inpatient or emergency encounter -> acute_trust; any home-health encounter ->
  community_trust; otherwise gp_practice. Codes are `F` + 6 hex digits of a hash of the id.
- Patient -> patients (and deaths for the deceased). `patient_id` is a pseudonymous 63-bit hash
  of the resource id; the NHS number is a valid 999-range test number derived from it (source
  identifiers such as US SSNs are never carried over); the birth date becomes the first of its
  month; US Core race maps to the nearest NHS "any other" ethnic category. No geography, so
  `lsoa_code` is null and places / lsoas are empty.
- Encounter, by class: AMB / VR at a GP practice -> gp_appointments (VR as video); AMB elsewhere
  -> op_appointments (treatment function 300); EMER -> ae_attendances (type 1); IMP ->
  apc_spells; HH -> community_contacts (district nursing). Costs are 0: a FHIR export carries no
  NHS tariff. Spells have no ICD-10 coding in the export: `R69X` (unspecified illness) and HRG
  `UZ01Z` (data invalid for grouping) say so honestly.
- registrations: each patient's practice is the GP practice of most of their GP encounters,
  from the first of them, ending at death.
- Condition, and Procedure / Observation in GP encounters, -> gp_events (SNOMED CT codes; LOINC
  observations via `data/loinc_to_snomed.csv`, with their numeric value).
- MedicationRequest -> medications when the medication is coded in dm+d (system
  `https://dmd.nhs.uk`, or SNOMED CT, whose IDs dm+d codes are), as UK exports are.
- Immunization -> gp_events when the vaccination is coded in SNOMED CT (UK Core's vaccination
  procedure extension, else the vaccine code).
- US exports code medicines in RxNorm and vaccines in CVX; there is no open mapping from those to
  dm+d / SNOMED CT here, so such resources are counted as skipped rather than given invented codes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from integrated_care.warehouse import nhs_number
from integrated_care.warehouse.schema import TABLES, arrow_schema

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ZERO = Decimal("0.00")
RACE_TO_ETHNICITY = {"2106-3": "C", "2054-5": "P", "2028-9": "L"}  # white, black, asian
DMD = "https://dmd.nhs.uk"
VACCINATION_PROCEDURE = "Extension-UKCore-VaccinationProcedure"

Row = dict[str, Any]


@dataclass
class ImportResult:
    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)  # resource type -> count not mapped


def stable_id(kind: str, source_id: str) -> int:
    """A positive 63-bit integer that always maps the same source id to the same value."""
    digest = hashlib.sha256(f"{kind}:{source_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def org_code(source_id: str) -> str:
    return "F" + hashlib.sha256(source_id.encode()).hexdigest()[:6].upper()


def read_ndjson(folder: Path, resource_type: str) -> Iterator[dict[str, Any]]:
    """Every resource of one type in the export's ``<Type>*.ndjson`` files."""
    for path in sorted(folder.glob(f"{resource_type}*.ndjson")):
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    yield orjson.loads(line)


def ref_id(reference: dict[str, Any] | None) -> str | None:
    """The id in ``Type/id`` or ``Type?identifier=system|id`` references."""
    if not reference or "reference" not in reference:
        return None
    ref = reference["reference"]
    return ref.rsplit("|", 1)[-1] if "|" in ref else ref.rsplit("/", 1)[-1]


def local_time(value: str) -> dt.datetime:
    """A FHIR dateTime as local wall-clock time (the input layer's timestamps are local)."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=None)


def snomed_code(concept: dict[str, Any] | None, systems: tuple[str, ...] = (SNOMED,)) -> str | None:
    """The first SNOMED CT-style (numeric) code of a concept in one of `systems`."""
    for coding in (concept or {}).get("coding", []):
        if coding.get("system") in systems and str(coding.get("code", "")).isdigit():
            return str(coding["code"])
    return None


def _vaccination_code(immunization: dict[str, Any]) -> str | None:
    for ext in immunization.get("extension", []):
        if str(ext.get("url", "")).endswith(VACCINATION_PROCEDURE):
            code = snomed_code(ext.get("valueCodeableConcept"))
            if code:
                return code
    return snomed_code(immunization.get("vaccineCode"))


def _loinc_map() -> dict[str, str]:
    text = resources.files("integrated_care.warehouse").joinpath("data/loinc_to_snomed.csv")
    return {r["loinc"]: r["code"] for r in csv.DictReader(text.read_text().splitlines())}


@dataclass
class Encounter:
    id: str
    patient: str
    org: str | None
    klass: str
    start: dt.datetime
    end: dt.datetime
    reason: str | None


def _encounters(folder: Path) -> list[Encounter]:
    found = []
    for e in read_ndjson(folder, "Encounter"):
        period = e.get("period", {})
        start = local_time(period["start"])
        end = local_time(period["end"]) if period.get("end") else start
        reason = snomed_code((e.get("reasonCode") or [None])[0])
        patient = ref_id(e.get("subject"))
        if patient:
            found.append(
                Encounter(
                    e["id"],
                    patient,
                    ref_id(e.get("serviceProvider")),
                    e["class"]["code"],
                    start,
                    end,
                    reason,
                )
            )
    return found


def _org_type(name: str, classes: set[str]) -> str:
    if "HOSPICE" in name.upper():
        return "hospice"
    if classes & {"IMP", "EMER"}:
        return "acute_trust"
    if "HH" in classes:
        return "community_trust"
    return "gp_practice"


def _organisations(folder: Path, encounters: list[Encounter]) -> dict[str, Row]:
    classes: dict[str, set[str]] = defaultdict(set)
    for e in encounters:
        if e.org:
            classes[e.org].add(e.klass)
    orgs = {}
    for o in read_ndjson(folder, "Organization"):
        kind = _org_type(o.get("name", ""), classes[o["id"]])
        orgs[o["id"]] = {
            "org_code": org_code(o["id"]),
            "name": o.get("name", o["id"]),
            "org_type": kind,
            "sector": "voluntary" if kind == "hospice" else "nhs",
            "statutory": kind != "hospice",
            "parent_code": None,
            "place_code": None,
            "postcode": None,
        }
    return orgs


def _patient(p: dict[str, Any], taken: set[str]) -> Row:
    number, attempt = nhs_number.test_range_number_for(p["id"]), 0
    while number in taken:
        attempt += 1
        number = nhs_number.test_range_number_for(f"{p['id']}#{attempt}")
    taken.add(number)
    race = next((x for x in p.get("extension", []) if x["url"].endswith("us-core-race")), None)
    race_code = race["extension"][0]["valueCoding"]["code"] if race else None
    born = dt.date.fromisoformat(p["birthDate"])
    died = p.get("deceasedDateTime")
    return {
        "patient_id": stable_id("patient", p["id"]),
        "nhs_number": number,
        "date_of_birth": born.replace(day=1),
        "sex": p.get("gender") if p.get("gender") in ("female", "male") else "unknown",
        "ethnicity": RACE_TO_ETHNICITY.get(race_code or "", "S" if race_code else "Z"),
        "lsoa_code": None,
        "date_of_death": local_time(died).date() if died else None,
        "national_opt_out": False,
        "type1_opt_out": False,
    }


class _Mapper:
    """Holds the export's patients, organisations and encounters while tables are built."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.encounters = _encounters(folder)
        self.by_id = {e.id: e for e in self.encounters}
        self.by_patient: dict[str, list[Encounter]] = defaultdict(list)
        for e in self.encounters:
            self.by_patient[e.patient].append(e)
        self.orgs = _organisations(folder, self.encounters)
        taken: set[str] = set()
        source = list(read_ndjson(folder, "Patient"))
        self.patients = {p["id"]: _patient(p, taken) for p in source}
        self.practice = self._registered_practice()

    def org_type(self, org: str | None) -> str | None:
        return self.orgs[org]["org_type"] if org in self.orgs else None

    def _registered_practice(self) -> dict[str, tuple[str, dt.date]]:
        visits: dict[str, Counter[str]] = defaultdict(Counter)
        first: dict[tuple[str, str], dt.date] = {}
        for e in self.encounters:
            if self.org_type(e.org) == "gp_practice" and e.patient in self.patients:
                assert e.org is not None
                visits[e.patient][e.org] += 1
                key = (e.patient, e.org)
                first[key] = min(first.get(key, e.start.date()), e.start.date())
        chosen = {}
        for patient, counts in visits.items():
            org = max(sorted(counts), key=lambda o: counts[o])
            chosen[patient] = (org, first[(patient, org)])
        return chosen

    def registrations(self) -> list[Row]:
        rows = []
        for patient, (org, start) in sorted(self.practice.items()):
            p = self.patients[patient]
            died = p["date_of_death"]
            rows.append(
                {
                    "patient_id": p["patient_id"],
                    "practice_code": self.orgs[org]["org_code"],
                    "start_date": start,
                    "end_date": max(died, start) if died else None,
                }
            )
        return rows

    def deaths(self) -> list[Row]:
        return [
            {
                "patient_id": p["patient_id"],
                "date_of_death": p["date_of_death"],
                "underlying_cause": None,
                "place_of_death": None,
            }
            for p in self.patients.values()
            if p["date_of_death"]
        ]

    def _died_between(self, patient: str, start: dt.datetime, end: dt.datetime) -> bool:
        died = self.patients[patient]["date_of_death"]
        return died is not None and start.date() <= died <= end.date()

    def _starts(self, patient: str, klass: str) -> list[tuple[dt.datetime, dt.datetime]]:
        return [(e.start, e.end) for e in self.by_patient[patient] if e.klass == klass]

    def activity(self) -> dict[str, list[Row]]:
        """Encounters split into the input layer's activity tables, by class and provider."""
        tables: dict[str, list[Row]] = defaultdict(list)
        seen_at: set[tuple[str, str]] = set()
        for e in sorted(self.encounters, key=lambda x: (x.start, x.id)):
            if e.patient not in self.patients or e.org not in self.orgs:
                continue
            org = self.orgs[e.org]
            base = {"patient_id": self.patients[e.patient]["patient_id"]}
            if e.klass in ("AMB", "VR") and org["org_type"] == "gp_practice":
                tables["gp_appointments"].append(base | self._gp_appointment(e, org["org_code"]))
            elif e.klass in ("AMB", "VR"):
                first = (e.patient, e.org) not in seen_at
                seen_at.add((e.patient, e.org))
                tables["op_appointments"].append(base | self._outpatient(e, org, first))
            elif e.klass == "EMER":
                tables["ae_attendances"].append(base | self._ae(e, org["org_code"]))
            elif e.klass == "IMP":
                tables["apc_spells"].append(base | self._spell(e, org["org_code"]))
            elif e.klass == "HH":
                tables["community_contacts"].append(base | self._home_visit(e, org["org_code"]))
        return dict(tables)

    def _gp_appointment(self, e: Encounter, code: str) -> Row:
        return {
            "date": e.start.date(),
            "practice_code": code,
            "staff_role": "gp",
            "mode": "video" if e.klass == "VR" else "face_to_face",
            "status": "attended",
        }

    def _outpatient(self, e: Encounter, org: Row, first: bool) -> Row:
        return {
            "appointment_id": stable_id("encounter", e.id),
            "provider_code": org["org_code"],
            "date": e.start.date(),
            "treatment_function_code": "300",
            "first_attendance": first,
            "status": "attended",
            "cost": ZERO,
        }

    def _ae(self, e: Encounter, code: str) -> Row:
        window = e.end + dt.timedelta(hours=24)
        admitted = any(e.start <= start <= window for start, _ in self._starts(e.patient, "IMP"))
        died = self._died_between(e.patient, e.start, e.end)
        return {
            "attendance_id": stable_id("encounter", e.id),
            "provider_code": code,
            "arrival_time": e.start,
            "departure_time": e.end,
            "department_type": 1,
            "acuity": None,
            "chief_complaint": e.reason,
            "diagnosis": None,
            "disposal": "died" if died else "admitted" if admitted else "discharged",
            "cost": ZERO,
        }

    def _spell(self, e: Encounter, code: str) -> Row:
        via_ae = any(
            start <= e.start <= end + dt.timedelta(hours=24)
            for start, end in self._starts(e.patient, "EMER")
        )
        died = self._died_between(e.patient, e.start, e.end)
        return {
            "spell_id": stable_id("encounter", e.id),
            "provider_code": code,
            "admission_date": e.start.date(),
            "discharge_date": e.end.date(),
            "admission_method": "21" if via_ae else "11",
            "primary_diagnosis": "R69X",
            "secondary_diagnoses": None,
            "primary_procedure": None,
            "hrg_code": "UZ01Z",
            "cost": ZERO,
            "discharge_destination": "79" if died else "19",
        }

    def _home_visit(self, e: Encounter, code: str) -> Row:
        return {
            "contact_id": stable_id("encounter", e.id),
            "provider_code": code,
            "date": e.start.date(),
            "service": "district_nursing",
            "cost": ZERO,
        }

    def gp_events(self, skipped: Counter[str]) -> list[Row]:
        """Conditions, GP-encounter procedures and observations, and SNOMED-coded immunisations,
        as coded GP events."""
        loinc = _loinc_map()
        rows = []
        for kind in ("Condition", "Procedure", "Observation", "Immunization"):
            for r in read_ndjson(self.folder, kind):
                row = self._gp_event(kind, r, loinc)
                if row is None:
                    skipped[kind] += 1
                else:
                    rows.append(row)
        return sorted(rows, key=lambda x: (x["patient_id"], x["date"], x["snomed_code"]))

    def medications(self, skipped: Counter[str]) -> list[Row]:
        """dm+d-coded medication requests of registered patients."""
        rows = []
        for r in read_ndjson(self.folder, "MedicationRequest"):
            patient = ref_id(r.get("subject"))
            code = snomed_code(r.get("medicationCodeableConcept"), (DMD, SNOMED))
            when = _when(r)
            if patient not in self.practice or code is None or when is None:
                skipped["MedicationRequest"] += 1
                continue
            rows.append(
                {
                    "patient_id": self.patients[patient]["patient_id"],
                    "date": local_time(when).date(),
                    "dmd_code": code,
                    "bnf_chapter": None,
                    "practice_code": self.orgs[self.practice[patient][0]]["org_code"],
                }
            )
        return sorted(rows, key=lambda x: (x["patient_id"], x["date"], x["dmd_code"]))

    def _gp_event(self, kind: str, r: dict[str, Any], loinc: dict[str, str]) -> Row | None:
        patient = ref_id(r.get("subject") or r.get("patient"))
        if patient not in self.practice:
            return None  # no GP registration to hold the record
        encounter = self.by_id.get(ref_id(r.get("encounter")) or "")
        if kind not in ("Condition", "Immunization") and (
            encounter is None or self.org_type(encounter.org) != "gp_practice"
        ):
            return None
        when = _when(r)
        code, value = snomed_code(r.get("code")), None
        if kind == "Immunization":
            if r.get("status", "completed") != "completed":
                return None
            code = _vaccination_code(r)
        if kind == "Observation":
            codings = r.get("code", {}).get("coding", [])
            code = next(
                (
                    loinc[c["code"]]
                    for c in codings
                    if c.get("system") == LOINC and c.get("code") in loinc
                ),
                None,
            )
            value = (r.get("valueQuantity") or {}).get("value")
        if code is None or when is None:
            return None
        return {
            "patient_id": self.patients[patient]["patient_id"],
            "date": local_time(when).date(),
            "snomed_code": code,
            "numeric_value": None if value is None else float(value),
            "practice_code": self.orgs[self.practice[patient][0]]["org_code"],
        }


def _when(resource: dict[str, Any]) -> str | None:
    """When a clinical resource happened: its onset, performance or effective time."""
    for key in (
        "onsetDateTime",
        "recordedDate",
        "performedDateTime",
        "effectiveDateTime",
        "occurrenceDateTime",
        "authoredOn",
    ):
        if resource.get(key):
            return str(resource[key])
    return (resource.get("performedPeriod") or {}).get("start")


def _write(out: Path, name: str, rows: list[Row]) -> int:
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(name)), out / f"{name}.parquet")
    return len(rows)


def import_fhir(folder: Path | str, out: Path | str) -> ImportResult:
    """Map the FHIR R4 bulk export in ``folder`` to an input-layer folder ``out`` (Parquet)."""
    folder, out = Path(folder), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mapper = _Mapper(folder)
    result = ImportResult(out)
    tables: dict[str, list[Row]] = {
        "organisations": sorted(mapper.orgs.values(), key=lambda o: o["org_code"]),
        "places": [],
        "lsoas": [],
        "patients": sorted(mapper.patients.values(), key=lambda p: p["patient_id"]),
        "registrations": mapper.registrations(),
        "deaths": mapper.deaths(),
        "gp_events": mapper.gp_events(result.skipped),
        "medications": mapper.medications(result.skipped),
        **mapper.activity(),
    }
    for name in TABLES:
        if name in tables:
            result.rows[name] = _write(out, name, tables[name])
    return result
