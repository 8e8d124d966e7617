"""Fixtures for the referral tests: the test footprint's service directory, a GP, a social
prescribing link worker at a voluntary organisation, an outsider at another, and one patient
registered at the GP's practice in the shared care record.

Imported by the referral test modules (not a conftest, which the MDT tests share)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher, profiles

from integrated_care.accounts import passwords, services
from integrated_care.accounts.policy import Principal
from integrated_care.coordination import directory
from integrated_care.record import service
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime

PASSWORD = "a-long-enough-password"
PRACTICE = "C82001"  # SOUTH LEICESTERSHIRE MEDICAL PARTNERSHIP, in the test ICB (QK1)
AGE_UK = "VQK101"  # Age UK Charnwood: its social prescribing link workers
CITIZENS_ADVICE = "VQK104"
NHS_NUMBER = "9434765919"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
SCOPES = ["care:read", "care:write", "record:read", "record:write"]
# username -> (roles, organisation)
USERS = {
    "gp": (["clinician"], PRACTICE),
    "linkworker": (["care_professional"], AGE_UK),
    "adviser": (["care_professional"], CITIZENS_ADVICE),
}


@dataclass
class World:
    runtime: Runtime
    principals: dict[str, Principal]
    tokens: dict[str, str]
    patient_id: str
    social_prescribing: int  # Age UK's social prescribing service
    closed_service: int  # Age UK's strength and balance classes: not accepting


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy-password-for-timing"))


def add_registered_patient(
    runtime: Runtime, gp: Principal, nhs_number: str = NHS_NUMBER, family: str = "Shaw"
) -> str:
    """The practice's Organization (if missing) and a patient registered there, written
    through the record's service layer as the GP."""
    caller = Caller(gp, base="http://test/fhir")
    with runtime.sessions() as session:
        from integrated_care.record import store

        have_practice = store.current(session, "Organization", PRACTICE) is not None
    if not have_practice:
        org = {
            "resourceType": "Organization",
            "id": PRACTICE,
            "identifier": [{"system": ODS, "value": PRACTICE}],
            "name": "South Leicestershire Medical Partnership",
        }
        assert service.update(runtime, caller, "Organization", PRACTICE, org).status == 201
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs_number}],
        "name": [{"family": family, "given": ["Margaret"]}],
        "gender": "female",
        "birthDate": "1941-06-12",
        "generalPractitioner": [{"reference": f"Organization/{PRACTICE}"}],
        "managingOrganization": {"reference": f"Organization/{PRACTICE}"},  # as the loader does
    }
    reply = service.create(runtime, caller, "Patient", patient)
    assert reply.status == 201, reply.json()
    return reply.json()["id"]


def build_world(runtime: Runtime) -> World:
    principals, tokens = {}, {}
    with runtime.transaction() as session:
        for username, (roles, org) in USERS.items():
            services.create_user(session, username, PASSWORD, roles, org, username.title())
            tokens[username] = services.create_token(session, username, SCOPES)
        for username, token in tokens.items():
            principals[username] = services.principal_for_token(session, token)
        directory.load_directory(session, actor="test")
        sp = directory.find_service(session, AGE_UK, "Social prescribing link workers")
        closed = directory.find_service(session, AGE_UK, "Strength and balance classes")
    patient_id = add_registered_patient(runtime, principals["gp"])
    return World(runtime, principals, tokens, patient_id, sp.id, closed.id)  # type: ignore[union-attr]
