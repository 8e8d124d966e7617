"""A patient's consent and dissent to sharing their record, from their Consent resources.

Only active Consent resources with scope ``patient-privacy`` count:

- **dissent**: the base provision is ``deny``: the patient objects to sharing, so only their
  registered practice (and break-glass) may see the record;
- **consent to share sealed information**: a ``permit`` provision (the base one or a nested one)
  naming sensitive categories (codes of ``CATEGORY_SYSTEM`` in ``provision.code`` or
  ``provision.securityLabel``) lets organisations with a care relationship see information of
  those categories, which is otherwise sealed to the organisation that recorded it.

The national data opt-out (an active Consent with scope ``research`` and category
``NATIONAL_OPT_OUT``) does not apply to direct care, so the access rules ignore it; bulk
``$export`` (secondary use) excludes those patients (:func:`national_opt_out_patients`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from integrated_care.record.models import RecordResource, SearchToken
from integrated_care.record.relationships import patients_of

CATEGORY_SYSTEM = "https://fhir.integrated-care.nhs.uk/CodeSystem/sensitive-category"
SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
OPT_OUT_SYSTEM = "https://fhir.integrated-care.nhs.uk/CodeSystem/consent-category"
NATIONAL_OPT_OUT = "national-data-opt-out"
R = RecordResource
T = SearchToken


def _codes(provision: dict[str, Any]) -> set[str]:
    found = set()
    for concept in provision.get("code") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == CATEGORY_SYSTEM and coding.get("code"):
                found.add(coding["code"])
    for coding in provision.get("securityLabel") or []:
        if coding.get("system") == CATEGORY_SYSTEM and coding.get("code"):
            found.add(coding["code"])
    return found


def _provisions(provision: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield provision
    for nested in provision.get("provision") or []:
        yield from _provisions(nested)


def _is_privacy(consent: dict[str, Any]) -> bool:
    if consent.get("status") != "active":
        return False
    scope = consent.get("scope") or {}
    return any(c.get("code") == "patient-privacy" for c in scope.get("coding") or [])


@dataclass(frozen=True)
class Preferences:
    dissent: bool = False
    shared_categories: frozenset[str] = frozenset()


def preferences(session: Session, patient_id: str) -> Preferences:
    """The patient's active privacy consents, read from their compartment (an index range)."""
    rows = session.scalars(
        select(R.content).where(
            R.patient_id == patient_id, R.resource_type == "Consent", R.deleted.is_(False)
        )
    )
    return _preferences(rows)


def preferences_among(session: Session, patient_ids: Iterable[str]) -> dict[str, Preferences]:
    """:func:`preferences` of each of these patients: one query per 500 patients."""
    ids = sorted(set(patient_ids))
    contents: dict[str, list[str | None]] = {p: [] for p in ids}
    for start in range(0, len(ids), 500):
        rows = session.execute(_CONSENTS_AMONG, {"ids": ids[start : start + 500]})
        for patient_id, content in rows:
            contents[patient_id].append(content)
    return {p: _preferences(found) for p, found in contents.items()}


_CONSENTS_AMONG = select(R.patient_id, R.content).where(
    R.patient_id.in_(bindparam("ids", expanding=True)),
    R.resource_type == "Consent",
    R.deleted.is_(False),
)


def _preferences(contents: Iterable[str | None]) -> Preferences:
    dissent, shared = False, set()
    for content in contents:
        consent = orjson.loads(content or "{}")
        if not _is_privacy(consent):
            continue
        base = consent.get("provision") or {}
        if base.get("type") == "deny":
            dissent = True
        for provision in _provisions(base):
            kind = provision.get("type", base.get("type"))
            if kind == "permit":
                shared |= _codes(provision)
    return Preferences(dissent, frozenset(shared))


def dissenting_patients() -> Select:
    """A SELECT of the patients with an active privacy Consent whose base provision is deny
    (from the search index: the same rule as :func:`preferences`)."""
    active = select(T.resource_id).where(
        T.resource_type == "Consent", T.param == "status", T.code == "active"
    )
    privacy = select(T.resource_id).where(
        T.resource_type == "Consent", T.param == "scope", T.code == "patient-privacy"
    )
    deny = select(T.resource_id).where(
        T.resource_type == "Consent", T.param == "provision-type", T.code == "deny"
    )
    return patients_of("Consent", R.id.in_(active), R.id.in_(privacy), R.id.in_(deny))


def national_opt_out_patients() -> Select:
    """A SELECT of the patients with an active national data opt-out: a Consent with category
    ``OPT_OUT_SYSTEM|national-data-opt-out`` (from the search index, like dissent)."""
    active = select(T.resource_id).where(
        T.resource_type == "Consent", T.param == "status", T.code == "active"
    )
    opt_out = select(T.resource_id).where(
        T.resource_type == "Consent",
        T.param == "category",
        T.system == OPT_OUT_SYSTEM,
        T.code == NATIONAL_OPT_OUT,
    )
    return patients_of("Consent", R.id.in_(active), R.id.in_(opt_out))
