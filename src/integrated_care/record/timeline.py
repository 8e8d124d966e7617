"""A patient's record as a clinician reads it: one timeline across every partner, with the
problems, medicines, recent results and care plans, each entry naming the organisation that
recorded it.

Built only from what ``Patient/{id}/$everything`` returned to the user (service.everything), so
it shows exactly what the API shows them: sealed entries are already withheld.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from integrated_care.record import sensitive

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
CARE_SETTING_SYSTEM = "https://integrated-care.example/fhir/CodeSystem/care-setting"
SYSTEM_NAMES = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://loinc.org": "LOINC",
    "https://dmd.nhs.uk": "dm+d",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
}
# When an encounter does not name its care setting, its class says roughly where it happened.
CLASS_SETTINGS = {
    "EMER": "Accident and emergency",
    "IMP": "Hospital admission",
    "ACUTE": "Hospital admission",
    "HH": "Community health service",
    "AMB": "Outpatient or clinic",
    "VR": "Virtual consultation",
}
CLASS_NAMES = {
    "AMB": "Appointment",
    "EMER": "Emergency attendance",
    "IMP": "Inpatient stay",
    "ACUTE": "Inpatient stay",
    "HH": "Home visit",
    "VR": "Virtual consultation",
}
CONTACT_TYPES = ("Encounter", "EpisodeOfCare")
# Who and where, not what happened: shown as labels, not as entries.
NOT_ENTRIES = ("Patient", "Organization", "Practitioner", "PractitionerRole", "Location")
RECENT_RESULTS = 20
TIMELINE_ROWS = 200
CHART_MONTHS = 36


@dataclass(frozen=True)
class Organisation:
    ods_code: str
    name: str | None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.ods_code})" if self.name else self.ods_code


@dataclass
class Entry:
    """One line of the record: what, when, where, and who recorded it."""

    resource_type: str
    resource_id: str
    what: str
    when: str | None
    status: str | None
    setting: str | None
    recorded_by: Organisation | None
    detail: str | None = None

    @property
    def organisation_label(self) -> str:
        return self.recorded_by.label if self.recorded_by else "Not stated"


@dataclass
class PatientSummary:
    id: str
    name: str
    nhs_number: str | None
    birth_date: str | None
    gender: str | None
    registered_with: Organisation | None


@dataclass
class PatientRecord:
    patient: PatientSummary
    timeline: list[Entry] = field(default_factory=list)
    problems: list[Entry] = field(default_factory=list)
    medications: list[Entry] = field(default_factory=list)
    results: list[Entry] = field(default_factory=list)
    care_plans: list[Entry] = field(default_factory=list)
    contacts_by_month: list[dict[str, Any]] = field(default_factory=list)
    organisations: list[dict[str, Any]] = field(default_factory=list)
    total_entries: int = 0


# --- reading FHIR -------------------------------------------------------------------------------


def _concept(value: Any) -> str | None:
    """A readable name for a CodeableConcept / Coding: text, display, else system and code."""
    if not isinstance(value, dict):
        return None
    if value.get("text"):
        return str(value["text"])
    codings = value.get("coding") or ([value] if "code" in value else [])
    for coding in codings:
        if coding.get("display"):
            return str(coding["display"])
    for coding in codings:
        if coding.get("code"):
            system = SYSTEM_NAMES.get(coding.get("system", ""))
            return f"{system} {coding['code']}" if system else str(coding["code"])
    return None


def _first_concept(values: Any) -> str | None:
    for value in values or []:
        name = _concept(value)
        if name:
            return name
    return None


def _date(resource: dict[str, Any]) -> str | None:
    for key in (
        "effectiveDateTime",
        "onsetDateTime",
        "performedDateTime",
        "occurrenceDateTime",
        "authoredOn",
        "recordedDate",
        "issued",
        "dateTime",
        "date",
    ):
        if resource.get(key):
            return str(resource[key])
    for key in ("period", "effectivePeriod", "performedPeriod", "onsetPeriod"):
        start = (resource.get(key) or {}).get("start")
        if start:
            return str(start)
    return None


def _reference_id(value: Any, resource_type: str) -> str | None:
    reference = value.get("reference", "") if isinstance(value, dict) else ""
    prefix = f"{resource_type}/"
    return reference[len(prefix) :] if reference.startswith(prefix) else None


def _patient(resource: dict[str, Any], organisations: dict[str, Organisation]) -> PatientSummary:
    names = resource.get("name") or [{}]
    official = next((n for n in names if n.get("use") == "official"), names[0])
    given = " ".join(official.get("given") or [])
    name = official.get("text") or " ".join(p for p in (given, official.get("family")) if p)
    nhs = next(
        (
            i.get("value")
            for i in resource.get("identifier") or []
            if i.get("system") == NHS_NUMBER_SYSTEM
        ),
        None,
    )
    practice = None
    for reference in [
        *(resource.get("generalPractitioner") or []),
        resource.get("managingOrganization"),
    ]:
        code = _reference_id(reference, "Organization")
        if code:
            practice = organisations.get(code) or Organisation(code, reference.get("display"))
            break
    return PatientSummary(
        id=str(resource.get("id")),
        name=name or "(no name recorded)",
        nhs_number=nhs,
        birth_date=resource.get("birthDate"),
        gender=resource.get("gender"),
        registered_with=practice,
    )


def format_nhs_number(value: str | None) -> str:
    """943 476 5919: the way NHS numbers are written for people to read."""
    if not value or len(value) != 10:
        return value or "Not recorded"
    return f"{value[:3]} {value[3:6]} {value[6:]}"


def summarise_patient(
    resource: dict[str, Any], organisations: dict[str, Organisation] | None = None
) -> PatientSummary:
    return _patient(resource, organisations or {})


def organisations_of(resources: Iterable[dict[str, Any]]) -> dict[str, Organisation]:
    """Organisations with their ODS code and name, by resource id and by ODS code (entries
    refer to them by id, and are stamped with the recording organisation's ODS code)."""
    found = {}
    for resource in resources:
        if resource.get("resourceType") != "Organization":
            continue
        ods = next(
            (
                i.get("value")
                for i in resource.get("identifier") or []
                if i.get("system") == ODS_SYSTEM
            ),
            None,
        )
        organisation = Organisation(ods or str(resource["id"]), resource.get("name"))
        found[str(resource["id"])] = organisation
        found.setdefault(organisation.ods_code, organisation)
    return found


def _organisation_references(resource: dict[str, Any]) -> Iterable[Any]:
    yield resource.get("serviceProvider")
    yield resource.get("managingOrganization")
    yield resource.get("requester")
    yield resource.get("recorder")
    yield resource.get("asserter")
    yield resource.get("author")
    for performer in resource.get("performer") or []:
        yield performer.get("actor", performer) if isinstance(performer, dict) else None


def recorder(
    resource: dict[str, Any],
    organisations: dict[str, Organisation],
    encounters: dict[str, dict[str, Any]],
) -> Organisation | None:
    """Who recorded the entry: the organisation stamped on it when written, else the one it
    names as responsible, else the provider of the encounter it belongs to."""
    code = sensitive.recorded_by(resource)
    display = None
    if code is None:
        for reference in _organisation_references(resource):
            code = _reference_id(reference, "Organization")
            if code:
                display = reference.get("display")
                break
    if code is None:
        encounter = encounters.get(_reference_id(resource.get("encounter"), "Encounter") or "")
        if encounter is not None and encounter is not resource:
            return recorder(encounter, organisations, {})
    if code is None:
        return None
    return organisations.get(code) or Organisation(code, display)


def setting_of(resource: dict[str, Any], encounters: dict[str, dict[str, Any]]) -> str | None:
    """Where care happened: the encounter's care setting, an episode's type, or the class."""
    for concept in resource.get("type") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == CARE_SETTING_SYSTEM:
                return coding.get("display") or coding.get("code")
    if resource.get("resourceType") == "EpisodeOfCare":
        return _first_concept(resource.get("type")) or "Episode of care"
    klass = resource.get("class")
    if isinstance(klass, dict) and klass.get("code") in CLASS_SETTINGS:
        return CLASS_SETTINGS[klass["code"]]
    encounter = encounters.get(_reference_id(resource.get("encounter"), "Encounter") or "")
    if encounter is not None and encounter is not resource:
        return setting_of(encounter, {})
    return None


def _what(resource: dict[str, Any]) -> str:
    kind = resource["resourceType"]
    if kind == "Encounter":
        klass = resource.get("class") if isinstance(resource.get("class"), dict) else {}
        return (
            _concept(resource.get("serviceType"))
            or _first_concept(resource.get("reasonCode"))
            or klass.get("display")
            or CLASS_NAMES.get(klass.get("code", ""))
            or "Contact"
        )
    if kind == "MedicationRequest":
        return _concept(resource.get("medicationCodeableConcept")) or "Medicine"
    if kind == "Immunization":
        return _concept(resource.get("vaccineCode")) or "Immunisation"
    if kind in ("CarePlan", "ServiceRequest") and resource.get("title"):
        return str(resource["title"])
    if kind == "Task":
        return resource.get("description") or _concept(resource.get("code")) or "Task"
    if kind == "EpisodeOfCare":
        return _first_concept(resource.get("type")) or "Episode of care"
    return _concept(resource.get("code")) or _first_concept(resource.get("category")) or kind


def _status(resource: dict[str, Any]) -> str | None:
    if resource.get("clinicalStatus"):
        return _concept(resource["clinicalStatus"])
    return resource.get("status")


def _value(resource: dict[str, Any]) -> str | None:
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and "value" in quantity:
        unit = quantity.get("unit") or quantity.get("code") or ""
        return (
            f"{quantity['value']:g} {unit}".strip()
            if isinstance(quantity["value"], (int, float))
            else str(quantity["value"])
        )
    for key in ("valueString", "valueBoolean", "valueInteger"):
        if key in resource:
            return str(resource[key])
    if resource.get("valueCodeableConcept"):
        return _concept(resource["valueCodeableConcept"])
    return None


SECTIONS = {
    "Condition": "problems",
    "MedicationRequest": "medications",
    "Observation": "results",
}
PLAN_TYPES = ("CarePlan", "ServiceRequest", "Task")


def _when(entry: Entry) -> str:
    return entry.when or ""  # undated entries sort last when newest come first


def build_record(patient_id: str, resources: list[dict[str, Any]]) -> PatientRecord:
    """The clinician's view of the resources $everything returned for `patient_id`."""
    organisations = organisations_of(resources)
    encounters = {r["id"]: r for r in resources if r.get("resourceType") == "Encounter"}
    patient_resource = next(
        (r for r in resources if r.get("resourceType") == "Patient" and r.get("id") == patient_id),
        {"id": patient_id},
    )
    record = PatientRecord(patient=_patient(patient_resource, organisations))
    entries = []
    for resource in resources:
        kind = resource.get("resourceType")
        if kind is None or kind in NOT_ENTRIES:
            continue
        entry = Entry(
            resource_type=kind,
            resource_id=str(resource.get("id")),
            what=_what(resource),
            when=_date(resource),
            status=_status(resource),
            setting=setting_of(resource, encounters),
            recorded_by=recorder(resource, organisations, encounters),
            detail=_value(resource) if kind == "Observation" else None,
        )
        entries.append(entry)
        section = SECTIONS.get(kind)
        if section:
            getattr(record, section).append(entry)
        elif kind in PLAN_TYPES:
            record.care_plans.append(entry)
    for name in ("problems", "medications", "results", "care_plans"):
        getattr(record, name).sort(key=_when, reverse=True)
    record.results = record.results[:RECENT_RESULTS]
    entries.sort(key=_when, reverse=True)
    record.total_entries = len(entries)
    record.timeline = entries[:TIMELINE_ROWS]
    record.contacts_by_month = contacts_by_month(
        [e for e in entries if e.resource_type in CONTACT_TYPES]
    )
    record.organisations = organisation_counts(entries)
    return record


def contacts_by_month(contacts: list[Entry]) -> list[dict[str, Any]]:
    """Contacts (encounters and episodes started) per month and care setting, the last
    ``CHART_MONTHS`` months that have any."""
    counts: Counter[tuple[str, str]] = Counter(
        (e.when[:7], e.setting or "Other") for e in contacts if e.when and len(e.when) >= 7
    )
    months = sorted({month for month, _ in counts})[-CHART_MONTHS:]
    return [
        {"month": month, "setting": setting, "contacts": count}
        for (month, setting), count in sorted(counts.items())
        if month in months
    ]


def organisation_counts(entries: list[Entry]) -> list[dict[str, Any]]:
    """How many entries each organisation recorded, most first."""
    counts = Counter(e.organisation_label for e in entries)
    return [
        {"organisation": name, "entries": count}
        for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def contacts_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Vega-Lite: contacts per month, stacked by care setting."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": "container",
        "height": 220,
        "data": {"values": rows},
        "mark": {"type": "bar"},
        "encoding": {
            "x": {"field": "month", "type": "ordinal", "title": "Month"},
            "y": {"field": "contacts", "type": "quantitative", "title": "Contacts"},
            "color": {"field": "setting", "type": "nominal", "title": "Care setting"},
            "tooltip": [
                {"field": "month", "title": "Month"},
                {"field": "setting", "title": "Care setting"},
                {"field": "contacts", "title": "Contacts"},
            ],
        },
    }
