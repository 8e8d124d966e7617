"""Building the shared care record of an ICS from its input-layer extracts, through the bulk path.

The extracts (``/work/shared/spec/input-layer.md``; ``ics synth`` writes them) become FHIR R4
resources: every Organization (id = ODS code); a Patient per person in scope with their NHS
number (only the ``patients`` extract has it: the warehouse is pseudonymised by design), ethnic
category and registered practice (``generalPractitioner``); an EpisodeOfCare per GP
registration and per social-care service; an Encounter per GP appointment, hospital spell (APC),
A&E attendance, outpatient appointment, community and mental-health contact; Conditions (GP
diagnoses as problem-list items, hospital and A&E diagnoses as encounter diagnoses),
Observations (GP measurements), Procedures (hospital procedures, GP care processes) and
MedicationRequests (GP issues). Each resource names the organisation that recorded it
(serviceProvider, managingOrganization, performer or requester). The extracts hold no
practitioners, so no Practitioner resources are made.

Scope: the patients whose latest registration is at a practice of one PCN (the default), of a
place, or everyone. Resource ids are keyed hashes (the deployment's secret key) of the source
keys, so a reload gives the same ids while the record's ids cannot be linked to the
pseudonymised warehouse without the key. Patients already in the record are skipped, so a load
that stopped part-way can simply be run again.

Resources are built from fixed templates that the tests validate against the FHIR R4B models;
they are not validated one by one here (that would cost more than everything else together).
"""

# SQL text is built from this module's table list and the extract folder's path only.
# ruff: noqa: S608
from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import pickle
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from queue import Empty, Full
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from integrated_care.record import bulk, store
from integrated_care.record.models import RecordResource
from integrated_care.record.sensitive import RECORDED_BY_SYSTEM
from integrated_care.runtime import Runtime

DATA = Path(__file__).parent / "data"
LONDON = ZoneInfo("Europe/London")
ACTOR = "ics record load"
ACTION = "record.bulk-load"


@lru_cache(maxsize=1)
def mapping() -> dict[str, Any]:
    """Code systems and value maps (``data/input_layer_fhir.json``)."""
    return json.loads((DATA / "input_layer_fhir.json").read_text())


@lru_cache(maxsize=1)
def gp_diagnosis_codes() -> dict[str, str]:
    """SNOMED code -> term of the GP events that are diagnoses (the rest are measurements,
    when they carry a value, or care processes)."""
    with (DATA / "gp_diagnosis_codes.csv").open() as handle:
        return {row["snomed_code"]: row["term"] for row in csv.DictReader(handle)}


@dataclass(frozen=True)
class Scope:
    """Whose record to load: a PCN's registered patients, a place's, or everyone's."""

    kind: str  # "pcn" | "place" | "all"
    code: str | None = None

    def describe(self) -> str:
        return "everyone" if self.kind == "all" else f"{self.kind.upper()} {self.code}"


# --- reading the extracts ---------------------------------------------------------------------


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


# --- building resources -----------------------------------------------------------------------


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _moment(value: datetime | None) -> str | None:
    # Extract timestamps are English local time; FHIR needs the offset.
    return value.replace(tzinfo=LONDON).isoformat() if value is not None else None


def _coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _recorded_by(code: str | None) -> dict[str, Any]:
    """meta stamping the recording organisation, as the API stamps every write (sensitive.py)."""
    return {"tag": [{"system": RECORDED_BY_SYSTEM, "code": code}]} if code else {}


def _recorder(resource: dict[str, Any]) -> str | None:
    """The ODS code of the organisation a built resource names as responsible for it."""
    performer = (resource.get("performer") or [None])[0] or {}
    for reference in (
        resource.get("serviceProvider"),
        resource.get("managingOrganization"),
        resource.get("requester"),
        performer.get("actor", performer),
    ):
        if isinstance(reference, dict) and str(reference.get("reference", "")).startswith(
            "Organization/"
        ):
            return reference["reference"].split("/", 1)[1]
    return None


class Builder:
    """Turns one patient's extract rows into resources (dicts), with stable keyed ids."""

    def __init__(self, secret: str, organisation_names: dict[str, str]) -> None:
        self._key = hashlib.sha256(secret.encode()).digest()
        self.orgs = organisation_names
        m = mapping()
        self.s = m["systems"]
        self.m = m
        self.diagnoses = gp_diagnosis_codes()

    def rid(self, *parts: Any) -> str:
        """The keyed hash of `parts` as a version-4 UUID (what ``uuid.UUID(bytes=digest,
        version=4)`` gives, formatted without building the object)."""
        digest = bytearray(
            hashlib.blake2b(
                "|".join(map(str, parts)).encode(), key=self._key, digest_size=16
            ).digest()
        )
        digest[6] = (digest[6] & 0x0F) | 0x40
        digest[8] = (digest[8] & 0x3F) | 0x80
        h = digest.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def org(self, code: str | None) -> dict[str, Any] | None:
        if not code:
            return None
        reference = {"reference": f"Organization/{code}"}
        if code in self.orgs:
            reference["display"] = self.orgs[code]
        return reference

    def organisation(self, row: tuple[Any, ...]) -> dict[str, Any]:
        code, name, org_type, parent, postcode = row
        resource: dict[str, Any] = {
            "resourceType": "Organization",
            "id": code,
            "identifier": [{"system": self.s["ods"], "value": code}],
            "active": True,
            "type": [_coded(self.s["organisation_type"], org_type)],
            "name": name,
        }
        if postcode:
            resource["address"] = [{"postalCode": postcode, "country": "GB"}]
        if parent:
            resource["partOf"] = {"reference": f"Organization/{parent}"}
        return resource

    def patient(self, person: tuple[Any, ...], patient_id: str) -> dict[str, Any]:
        _, nhs, born, sex, ethnicity, died, practice, registered = person
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "id": patient_id,
            "identifier": [{"system": self.s["nhs_number"], "value": nhs}],
            "active": True,
            "gender": self.m["gender"].get(sex, "unknown"),
            "birthDate": _day(born),
        }
        if ethnicity:
            resource["extension"] = [
                {
                    "url": self.s["ethnic_category_extension"],
                    "valueCodeableConcept": _coded(self.s["ethnic_category"], ethnicity),
                }
            ]
        if died is not None:
            resource["deceasedDateTime"] = _day(died)
        if registered and practice:
            resource["generalPractitioner"] = [self.org(practice)]
            resource["managingOrganization"] = self.org(practice)
        return resource

    def record(
        self, person: tuple[Any, ...], rows: dict[str, list[tuple[Any, ...]]]
    ) -> list[dict[str, Any]]:
        """The patient and every resource of their record."""
        nhs = person[1]
        patient_id = self.rid("Patient", nhs)
        subject = {"reference": f"Patient/{patient_id}"}
        out = [self.patient(person, patient_id)]
        ids = Counter[str]()

        def rid(kind: str, *parts: Any) -> str:
            # Rows without a source id (GP data) are told apart by their order.
            key = "|".join(map(str, (kind, *parts)))
            ids[key] += 1
            return self.rid(nhs, key, ids[key])

        s, m = self.s, self.m
        out[0]["meta"] = _recorded_by(person[6])
        for practice, start, end in rows.get("registrations", ()):
            out.append(
                self._episode(
                    rid("reg", practice, start),
                    subject,
                    "gp-registration",
                    "GP registration",
                    practice,
                    start,
                    end,
                )
            )
        for service_id, la, service_type, start, end in rows.get("social_care_services", ()):
            out.append(
                self._episode(
                    rid("sc", service_id),
                    subject,
                    f"social-care-{service_type}",
                    f"Adult social care: {service_type.replace('_', ' ')}",
                    la,
                    start,
                    end,
                )
            )
        for day, practice, role, mode, status in rows.get("gp_appointments", ()):
            klass = m["gp_mode_class"].get(mode, m["default_class"])
            out.append(
                self._encounter(
                    rid("gpa", day, practice, role, mode, status),
                    subject,
                    m["appointment_status"].get(status, "unknown"),
                    klass,
                    _coded(s["service"], f"gp-{role}", f"GP practice: {role}"),
                    practice,
                    _day(day),
                    _day(day),
                    "gp",
                )
            )
        for day, code, value, practice in rows.get("gp_events", ()):
            out.append(
                self._gp_event(rid("gpe", day, code, practice), subject, day, code, value, practice)
            )
        for day, dmd, practice in rows.get("medications", ()):
            out.append(
                {
                    "resourceType": "MedicationRequest",
                    "id": rid("med", day, dmd, practice),
                    "status": "completed",
                    "intent": "order",
                    "medicationCodeableConcept": _coded(s["dmd"], dmd),
                    "subject": subject,
                    "authoredOn": _day(day),
                    "requester": self.org(practice),
                }
            )
        for row in rows.get("apc_spells", ()):
            out.extend(self._spell(rid("apc", row[0]), subject, row))
        for row in rows.get("ae_attendances", ()):
            out.extend(self._attendance(rid("ae", row[0]), subject, row))
        for appt, provider, day, tfc, first, status in rows.get("op_appointments", ()):
            encounter = self._encounter(
                rid("op", appt),
                subject,
                m["appointment_status"].get(status, "unknown"),
                m["default_class"],
                _coded(s["treatment_function"], tfc),
                provider,
                _day(day),
                _day(day),
                "op",
            )
            encounter["type"].append(_coded(s["service"], "first" if first else "follow-up"))
            out.append(encounter)
        for setting, table in (("community", "community_contacts"), ("mh", "mh_contacts")):
            for contact, provider, day, service in rows.get(table, ()):
                klass = m["community_class"].get(service, m["default_class"])
                out.append(
                    self._encounter(
                        rid(setting, contact),
                        subject,
                        "finished",
                        klass,
                        _coded(s["service"], f"{setting}-{service}", service.replace("_", " ")),
                        provider,
                        _day(day),
                        _day(day),
                        setting,
                    )
                )
        providers = {r["id"]: _recorder(r) for r in out if r["resourceType"] == "Encounter"}
        for resource in out[1:]:
            if "meta" not in resource:
                encounter = (resource.get("encounter") or {}).get("reference", "/")
                code = _recorder(resource) or providers.get(encounter.split("/", 1)[1])
                resource["meta"] = _recorded_by(code)
        return out

    def _episode(
        self,
        episode_id: str,
        subject: dict,
        code: str,
        display: str,
        org: str,  # type: ignore[type-arg]
        start: date,
        end: date | None,
    ) -> dict[str, Any]:
        period = {"start": _day(start)}
        if end is not None:
            period["end"] = _day(end)
        return {
            "resourceType": "EpisodeOfCare",
            "id": episode_id,
            "status": "finished" if end is not None else "active",
            "type": [_coded(self.s["episode_type"], code, display)],
            "patient": subject,
            "managingOrganization": self.org(org),
            "period": period,
        }

    def _encounter(
        self,
        encounter_id: str,
        subject: dict,
        status: str,
        klass: list[str],  # type: ignore[type-arg]
        service: dict,
        provider: str,
        start: str | None,
        end: str | None,  # type: ignore[type-arg]
        setting: str,
    ) -> dict[str, Any]:
        period = {"start": start}
        if end is not None:
            period["end"] = end
        return {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": status,
            "class": {"system": self.s["act_code"], "code": klass[0], "display": klass[1]},
            "type": [_coded(self.s["care_setting"], setting, self.m["settings"][setting])],
            "serviceType": service,
            "subject": subject,
            "period": period,
            "serviceProvider": self.org(provider),
        }

    def _gp_event(
        self,
        event_id: str,
        subject: dict,
        day: date,
        code: str,
        value: float | None,  # type: ignore[type-arg]
        practice: str,
    ) -> dict[str, Any]:
        s = self.s
        if code in self.diagnoses:
            return {
                "resourceType": "Condition",
                "id": event_id,
                "clinicalStatus": _coded(s["condition_clinical"], "active"),
                "category": [
                    _coded(s["condition_category"], "problem-list-item", "Problem List Item")
                ],
                "code": _coded(s["snomed"], code, self.diagnoses[code]),
                "subject": subject,
                "onsetDateTime": _day(day),
                "recordedDate": _day(day),
                "meta": _recorded_by(practice),
            }
        if value is not None and value == value:  # not NaN
            return {
                "resourceType": "Observation",
                "id": event_id,
                "status": "final",
                "code": _coded(s["snomed"], code),
                "subject": subject,
                "effectiveDateTime": _day(day),
                "performer": [self.org(practice)],
                "valueQuantity": {"value": round(float(value), 3)},
            }
        return {
            "resourceType": "Procedure",
            "id": event_id,
            "status": "completed",
            "code": _coded(s["snomed"], code),
            "subject": subject,
            "performedDateTime": _day(day),
            "performer": [{"actor": self.org(practice)}],
        }

    def _diagnosis(
        self,
        condition_id: str,
        subject: dict,
        system: str,
        code: str,  # type: ignore[type-arg]
        encounter_id: str,
        day: str | None,
    ) -> dict[str, Any]:
        return {
            "resourceType": "Condition",
            "id": condition_id,
            "category": [
                _coded(self.s["condition_category"], "encounter-diagnosis", "Encounter Diagnosis")
            ],
            "code": _coded(system, code),
            "subject": subject,
            "encounter": {"reference": f"Encounter/{encounter_id}"},
            "recordedDate": day,
        }

    def _spell(self, encounter_id: str, subject: dict, row: tuple[Any, ...]) -> list[dict]:  # type: ignore[type-arg]
        (_, provider, admitted, discharged, method, primary, secondary, procedure, destination) = (
            row
        )
        s = self.s
        encounter = self._encounter(
            encounter_id,
            subject,
            "finished" if discharged else "in-progress",
            ["IMP", "inpatient encounter"],
            _coded(s["service"], "apc-admission"),
            provider,
            _day(admitted),
            _day(discharged),
            "apc",
        )
        hospitalization: dict[str, Any] = {"admitSource": _coded(s["admission_method"], method)}
        if destination:
            hospitalization["dischargeDisposition"] = _coded(
                s["discharge_destination"], destination
            )
        encounter["hospitalization"] = hospitalization
        out = [encounter]
        codes = [primary, *(secondary.split("|") if secondary else [])]
        for n, code in enumerate(c for c in codes if c):
            if n == 0:
                encounter["reasonCode"] = [_coded(s["icd10"], code)]
            out.append(
                self._diagnosis(
                    self.rid(encounter_id, "dx", n),
                    subject,
                    s["icd10"],
                    code,
                    encounter_id,
                    _day(admitted),
                )
            )
        if procedure:
            out.append(
                {
                    "resourceType": "Procedure",
                    "id": self.rid(encounter_id, "proc"),
                    "status": "completed",
                    "code": _coded(s["opcs4"], procedure),
                    "subject": subject,
                    "encounter": {"reference": f"Encounter/{encounter_id}"},
                    "performedDateTime": _day(admitted),
                    "performer": [{"actor": self.org(provider)}],
                }
            )
        return out

    def _attendance(self, encounter_id: str, subject: dict, row: tuple[Any, ...]) -> list[dict]:  # type: ignore[type-arg]
        _, provider, arrived, departed, complaint, diagnosis, disposal = row
        s = self.s
        encounter = self._encounter(
            encounter_id,
            subject,
            "finished",
            ["EMER", "emergency"],
            _coded(s["service"], "ae-attendance"),
            provider,
            _moment(arrived),
            _moment(departed),
            "ae",
        )
        if complaint:
            encounter["reasonCode"] = [_coded(s["snomed"], complaint)]
        if disposal:
            encounter["hospitalization"] = {
                "dischargeDisposition": _coded(s["service"], f"ae-{disposal}")
            }
        out = [encounter]
        if diagnosis:
            out.append(
                self._diagnosis(
                    self.rid(encounter_id, "dx"),
                    subject,
                    s["snomed"],
                    diagnosis,
                    encounter_id,
                    _moment(arrived),
                )
            )
        return out


# --- loading ----------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What a load stored, and how fast."""

    scope: str
    patients: int = 0
    skipped_patients: int = 0  # already in the record
    stored: Counter[str] = field(default_factory=Counter)
    index_rows: int = 0
    seconds: float = 0.0
    write_seconds: float = 0.0  # time the writing process spent in database transactions
    index_seconds: float = 0.0  # building deferred indexes at the end
    last_batch: tuple[int, int] = (0, 0)  # (resources, patients) written by the latest batch

    @property
    def resources(self) -> int:
        return sum(self.stored.values())

    @property
    def per_second(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


@dataclass
class _Plan:
    """What the building side needs: picklable, so it can run in a worker process."""

    folder: Path
    scope: Scope
    secret: str
    patients_per_batch: int
    chunk_patients: int
    dialect: str
    part: tuple[int, int] = (0, 1)  # (k, n): this builder makes chunks k, k + n, ...


def _produce(plan: _Plan) -> Iterator[tuple[str, Any]]:
    """One builder's messages, in order: ``("start", (patients in scope, organisation rows,
    chunks))``, then for each chunk of its part (`plan.part`) ``("batch", (patient ids,
    store.Rows))`` per batch of patients (every row of their records, encoded for the database
    and ready to insert) and ``("chunk", number)`` at the chunk's end."""
    extracts = Extracts(plan.folder, plan.scope, plan.chunk_patients, plan.part)
    try:
        organisations = extracts.organisations()
        yield "start", (extracts.patients, organisations, extracts.chunks)
        builder = Builder(plan.secret, {o[0]: o[1] for o in organisations})
        part, parts = plan.part
        for number in range(part, extracts.chunks, parts):
            people, rows = extracts.chunk(number)
            for start in range(0, len(people), plan.patients_per_batch):
                batch = people[start : start + plan.patients_per_batch]
                yield "batch", _batch_rows(builder, batch, rows, plan.dialect)
            yield "chunk", number
    finally:
        extracts.close()


def _in_order(parts: list[Iterator[tuple[str, Any]]]) -> Iterator[tuple[str, Any]]:
    """The builders' messages merged in the order one builder would send them: the first
    builder's start, then chunk after chunk (chunk c comes from builder c mod n), so the
    store gets the same rows in the same order however many builders made them."""
    starts = [next(part) for part in parts]
    if any(kind != "start" for kind, _ in starts):
        raise RuntimeError("a record builder did not start with its scope")
    patients, organisations, chunks = starts[0][1]
    yield "start", (patients, organisations)
    for number in range(chunks):
        for kind, payload in parts[number % len(parts)]:
            if kind == "chunk":
                if payload != number:
                    raise RuntimeError(f"a record builder sent chunk {payload}, not {number}")
                break
            yield kind, payload
        else:
            raise RuntimeError(f"a record builder stopped before chunk {number} was complete")


def _batch_rows(
    builder: Builder,
    people: list[tuple[Any, ...]],
    rows: dict[str, dict[int, list]],  # type: ignore[type-arg]
    dialect: str,
) -> tuple[list[str], store.Rows]:
    """The patient ids of `people` and every row of their records, as version 1."""
    moment = store.now()
    last_updated = store.instant(moment)
    out = store.Rows()
    patient_ids = []
    for person in people:
        own = {table: grouped.get(person[0], []) for table, grouped in rows.items()}
        record = builder.record(person, own)
        patient_ids.append(record[0]["id"])
        for resource in record:
            out.add(resource["resourceType"], resource["id"], resource, 1, moment, last_updated)
    return patient_ids, out.encode(dialect)


def _worker(plan: _Plan, queue: Any, stop: Any) -> None:
    """Run `_produce` in a worker process, handing each message to `queue` until `stop`."""
    try:
        with closing(_produce(plan)) as messages:
            for message in messages:
                while not stop.is_set():
                    try:
                        queue.put(message, timeout=0.2)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
        queue.put(("done", None))
    except BaseException as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(traceback.format_exc())
        queue.put(("error", exc))


@contextmanager
def _messages(plan: _Plan, *, builders: int) -> Iterator[Iterator[tuple[str, Any]]]:
    """The load's messages (`_produce`'s, merged by `_in_order`): from `builders` worker
    processes (building the resources there while this process writes), or built here when
    `builders` is 0."""
    if builders < 1:
        with closing(_produce(plan)) as messages:
            yield _in_order([messages])
        return
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    workers: list[tuple[Any, Any]] = []
    try:
        for part in range(builders):
            queue = context.Queue(maxsize=2)
            worker = context.Process(
                target=_worker,
                args=(replace(plan, part=(part, builders)), queue, stop),
                daemon=True,
            )
            worker.start()
            workers.append((worker, queue))
        yield _in_order([_received(worker, queue) for worker, queue in workers])
    finally:
        stop.set()
        for worker, queue in workers:
            _finish(worker, queue)


def _received(worker: Any, queue: Any) -> Iterator[tuple[str, Any]]:
    """The messages of one builder process until it is done; its error raised here."""
    while True:
        try:
            kind, payload = queue.get(timeout=1)
        except Empty:
            if not worker.is_alive():
                raise RuntimeError(
                    f"the record builder stopped unexpectedly (exit code {worker.exitcode})"
                ) from None
            continue
        if kind == "done":
            return
        if kind == "error":
            raise payload
        yield kind, payload


def _finish(worker: Any, queue: Any) -> None:
    """Wait for a builder process told to stop, draining its queue so it is never blocked
    handing over a batch."""
    deadline = time.monotonic() + 30
    while worker.is_alive() and time.monotonic() < deadline:
        with suppress(Empty):
            queue.get(timeout=0.1)
    if worker.is_alive():
        worker.terminate()
    worker.join()
    queue.close()


def _stored(session: Any, resource_type: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 900):
        found.update(
            session.scalars(
                select(RecordResource.id).where(
                    RecordResource.resource_type == resource_type,
                    RecordResource.id.in_(ids[start : start + 900]),
                )
            )
        )
    return found


# Builder processes of a parallel load. Two, even on two CPUs: building costs the more CPU
# and this process waits for the database part of its time (commits, page writes).
BUILDERS = 2


def load_record(
    runtime: Runtime,
    folder: Path,
    scope: Scope,
    *,
    patients_per_batch: int = 500,
    chunk_patients: int = 5000,
    on_batch: bulk.BatchHook | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    actor: str = ACTOR,
    parallel: bool | None = None,
    builders: int = BUILDERS,
    defer_indexes: bool | None = None,
) -> LoadResult:
    """Load the record of everyone in `scope` from the extracts in `folder`.

    One database transaction and one audit event per `patients_per_batch` patients, so a
    failure leaves whole patients only; `on_batch(session, patient_ids)` runs inside each
    transaction before it commits. `progress(resources, patients, patients_in_scope)` after
    each batch. Resources are built in `builders` worker processes while this one writes
    (`parallel`; by default when there is more than one CPU).

    `defer_indexes` drops the store's secondary indexes for the load and builds them again at
    the end (by default for a load at least as large as the record already stored, or when an
    earlier deferred load was interrupted). Each batch still commits whole patients; if the
    process is killed part-way, the indexes are rebuilt by the next load (searches scan until
    then).
    """
    started = time.perf_counter()
    result = LoadResult(scope.describe())
    plan = _Plan(
        folder,
        scope,
        runtime.settings.secret_key,
        patients_per_batch,
        chunk_patients,
        runtime.engine.dialect.name,
    )
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1 and "fork" in multiprocessing.get_all_start_methods()
    detail = {"scope": scope.describe(), "source": str(folder)[:200]}
    in_scope = 0
    deferred = False
    try:
        with _messages(plan, builders=builders if parallel else 0) as messages:
            for kind, payload in messages:
                if kind == "start":
                    in_scope, organisations = payload
                    deferred = _defer_indexes(runtime, in_scope, defer_indexes)
                    _load_organisations(runtime, plan.secret, organisations, result, actor, detail)
                    continue
                began = time.perf_counter()
                _write_batch(runtime, *payload, result, on_batch, actor, detail)
                result.write_seconds += time.perf_counter() - began
                if progress is not None:
                    progress(*result.last_batch, in_scope)
    finally:
        if deferred:
            began = time.perf_counter()
            with runtime.transaction() as session:
                bulk.create_indexes(session)
            result.index_seconds = time.perf_counter() - began
    if result.patients and runtime.engine.dialect.name == "postgresql":
        # Autovacuum analyses a big new table only later: until then PostgreSQL's planner
        # thinks the index tables are small and scans tens of thousands of index rows per
        # compartment search (76 ms instead of 0.6 ms measured at 100,000 patients).
        with runtime.transaction() as session:
            for table in RECORD_TABLES:
                session.execute(text(f"ANALYZE {table}"))
    result.seconds = time.perf_counter() - started
    return result


def _write_batch(
    runtime: Runtime,
    patient_ids: list[str],
    rows: store.Rows,
    result: LoadResult,
    on_batch: bulk.BatchHook | None,
    actor: str,
    detail: dict[str, Any],
) -> None:
    """One batch of patients in one transaction with its audit event; patients already in the
    record (an earlier load) are skipped whole."""
    with runtime.transaction() as session:
        bulk.begin(session)
        done = _stored(session, "Patient", patient_ids)
        if done:
            rows = rows.without_patients(done)
            patient_ids = [p for p in patient_ids if p not in done]
            result.skipped_patients += len(done)
        result.last_batch = (len(rows.resources), len(patient_ids))
        if not patient_ids:
            return
        bulk.insert_new(session, rows)
        written = bulk.Written(len(rows.resources), rows.index_count, 0, rows.by_type)
        bulk.audit_batch(
            session,
            actor=actor,
            action=ACTION,
            written=written,
            patients=patient_ids,
            detail=detail,
        )
        if on_batch is not None:
            on_batch(session, patient_ids)
    result.stored.update(rows.by_type)
    result.index_rows += rows.index_count
    result.patients += len(patient_ids)


RECORD_TABLES = (
    "record_resource",
    "record_search_token",
    "record_search_string",
    "record_search_date",
    "record_search_reference",
)
DEFER_FROM_PATIENTS = 2000  # smaller loads keep the indexes up to date as they go


def _defer_indexes(runtime: Runtime, in_scope: int, wanted: bool | None) -> bool:
    """Drop the secondary indexes for this load? See `load_record`."""
    with runtime.transaction() as session:
        if bulk.missing_indexes(session):
            return True  # an interrupted deferred load: finish it
        if wanted is None:
            stored = session.scalar(
                select(func.count())
                .select_from(RecordResource)
                .where(RecordResource.resource_type == "Patient")
            )
            wanted = in_scope >= max(DEFER_FROM_PATIENTS, stored or 0)
        if wanted:
            bulk.drop_indexes(session)
        return wanted


def _load_organisations(
    runtime: Runtime,
    secret: str,
    organisations: list[tuple[Any, ...]],
    result: LoadResult,
    actor: str,
    detail: dict[str, Any],
) -> None:
    """Every Organization of the extract not yet in the record, in one transaction."""
    builder = Builder(secret, {o[0]: o[1] for o in organisations})
    with runtime.transaction() as session:
        have = _stored(session, "Organization", [o[0] for o in organisations])
    new = [
        bulk.prepare("Organization", o[0], builder.organisation(o))
        for o in organisations
        if o[0] not in have
    ]
    if not new:
        return
    with runtime.transaction() as session:
        written = bulk.write(session, new, all_new=True)
        bulk.audit_batch(
            session, actor=actor, action=ACTION, written=written, patients=[], detail=detail
        )
    result.stored.update(written.by_type)
    result.index_rows += written.index_rows
