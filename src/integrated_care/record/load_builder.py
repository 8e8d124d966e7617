"""FHIR R4 resources (dicts) built from one patient's input-layer rows (`loader.py`).

Resource ids are keyed hashes of the source keys; resources come from fixed templates that the
tests validate against the FHIR R4B models.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from integrated_care.record.sensitive import RECORDED_BY_SYSTEM

DATA = Path(__file__).parent / "data"
LONDON = ZoneInfo("Europe/London")


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
