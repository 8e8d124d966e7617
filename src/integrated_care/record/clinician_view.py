"""What the clinician pages ask of the record, through the FHIR service layer (service.py).

Every look goes through the same interactions as the API, so the one access decision
(access.authorise) and the audit happen exactly as for a FHIR call: finding a patient is a
``Patient`` search (audited ``record.search``, restricted to patients the user may see), opening
a record is ``Patient/{id}/$everything`` (audited ``record.everything``; refusals audited as
denied), and breaking the glass is a read of the Patient with the reason given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from integrated_care.record import break_glass, identifiers, search, service, timeline
from integrated_care.record.access import AccessContext
from integrated_care.record.access_models import BreakGlass
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime

MAX_RESULTS = 50
NHS_NUMBER = timeline.NHS_NUMBER_SYSTEM
_SEPARATORS = re.compile(r"[\s-]")


@dataclass
class FindQuery:
    nhs_number: str = ""
    family: str = ""
    given: str = ""
    birth_date: str = ""

    @property
    def empty(self) -> bool:
        return not any((self.nhs_number, self.family, self.given, self.birth_date))


@dataclass
class FindResult:
    errors: dict[str, str] = field(default_factory=dict)  # form field -> what is wrong
    patients: list[timeline.PatientSummary] = field(default_factory=list)
    total: int = 0
    searched: bool = False
    # An NHS number found in the record, but of a patient the user may not see: open the
    # record page, which refuses with the reason (and offers break-glass), audited.
    refused_patient_id: str | None = None


def nhs_number_error(raw: str) -> str | None:
    """Why `raw` is not an NHS number (spaces and hyphens allowed), else None."""
    value = _SEPARATORS.sub("", raw)
    if not value.isdigit() or len(value) != 10:
        return "Enter an NHS number of 10 digits, like 943 476 5919"
    problem = identifiers.nhs_number_problem(value)
    if problem is None:
        return None
    return f"Enter a valid NHS number: {problem.removeprefix('this is not a valid NHS number: ')}"


def _query_errors(query: FindQuery) -> dict[str, str]:
    errors: dict[str, str] = {}
    if query.nhs_number:
        problem = nhs_number_error(query.nhs_number)
        if problem:
            errors["nhs_number"] = problem
        return errors
    if not query.family.strip():
        errors["family"] = "Enter the patient's last name (or search by NHS number)"
    if not query.birth_date:
        errors["birth_date"] = "Enter the patient's date of birth"
    else:
        try:
            born = date.fromisoformat(query.birth_date)
        except ValueError:
            errors["birth_date"] = "Date of birth must be a real date, like 1960-04-01"
        else:
            if born > date.today():
                errors["birth_date"] = "Date of birth must be in the past"
    return errors


def _search_pairs(query: FindQuery) -> list[tuple[str, str]]:
    if query.nhs_number:
        number = _SEPARATORS.sub("", query.nhs_number)
        pairs = [("identifier", f"{NHS_NUMBER}|{number}")]
    else:
        pairs = [("family", query.family.strip()), ("birthdate", query.birth_date)]
        if query.given.strip():
            pairs.append(("given", query.given.strip()))
    return [*pairs, ("_count", str(MAX_RESULTS)), ("_include", "Patient:general-practitioner")]


def find_patients(runtime: Runtime, caller: Caller, query: FindQuery) -> FindResult:
    """Patients matching the query that the user may see (a FHIR search, audited)."""
    if query.empty:
        return FindResult()
    result = FindResult(errors=_query_errors(query))
    if result.errors:
        return result
    result.searched = True
    reply = service.search_type(runtime, caller, "Patient", _search_pairs(query))
    if reply.status != 200:
        result.errors["form"] = _diagnostics(reply)
        return result
    bundle = reply.json()
    resources = [e["resource"] for e in bundle.get("entry") or [] if "resource" in e]
    organisations = timeline.organisations_of(resources)
    matches = [
        e["resource"]
        for e in bundle.get("entry") or []
        if (e.get("search") or {}).get("mode") == "match"
    ]
    result.patients = [timeline.summarise_patient(p, organisations) for p in matches]
    result.total = int(bundle.get("total") or 0)
    if query.nhs_number and not result.patients:
        result.refused_patient_id = _unseen_patient(runtime, query)
    return result


def _unseen_patient(runtime: Runtime, query: FindQuery) -> str | None:
    """The id of the patient with this NHS number when the user's search could not show them.
    Only the id is used: the record page then asks the access decision, which refuses (audited)
    with the reason and, for a clinician, offers break-glass."""
    number = _SEPARATORS.sub("", query.nhs_number)
    with runtime.sessions() as session:
        found = search.find_ids(session, "Patient", [("identifier", f"{NHS_NUMBER}|{number}")])
    return found[0] if len(found) == 1 else None


@dataclass
class RecordLook:
    """The outcome of opening a record: the record, or the refusal's status and reason."""

    status: int
    record: timeline.PatientRecord | None = None
    reason: str | None = None
    break_glass: BreakGlass | None = None  # in force for this user: the page says so


def _diagnostics(reply: service.Reply) -> str:
    body = reply.json() or {}
    return "; ".join(i.get("diagnostics", "") for i in body.get("issue") or []) or "refused"


def open_record(runtime: Runtime, caller: Caller, patient_id: str) -> RecordLook:
    """The patient's whole record as the user may see it ($everything: authorised, sealed
    entries withheld, audited)."""
    reply = service.everything(runtime, caller, patient_id, [])
    if reply.status != 200:
        return RecordLook(reply.status, reason=_diagnostics(reply))
    bundle = reply.json()
    resources = [e["resource"] for e in bundle.get("entry") or [] if "resource" in e]
    glass = None
    if caller.principal is not None:
        with runtime.sessions() as session:
            glass = break_glass.active(session, caller.principal.username, patient_id)
    return RecordLook(200, timeline.build_record(patient_id, resources), break_glass=glass)


def break_the_glass(runtime: Runtime, caller: Caller, patient_id: str, reason: str) -> RecordLook:
    """Open the record in an emergency, giving a reason: the access decision allows it for a
    user holding record:break-glass, records it for the Caldicott guardian and audits it."""
    if not reason.strip():
        return RecordLook(422, reason="Give the reason you need this record in an emergency")
    glass = Caller(
        caller.principal,
        base=caller.base,
        client=caller.client,
        access=AccessContext(break_glass_reason=reason.strip()),
    )
    reply = service.read(runtime, glass, "Patient", patient_id)
    if reply.status != 200:
        return RecordLook(reply.status, reason=_diagnostics(reply))
    return RecordLook(200)
