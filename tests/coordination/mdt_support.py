"""The world the MDT and care plan tests share: the hand-made cohort population of
tests/health/test_cohorts_population.py (marts built once per process), its footprint in the
operational store (PCN U00001 = practices A00001 and A00002; PCN U00002 = B00001), a shared care
record holding every person but one, and users at each practice and at the trust.

Who is in each cohort is the hand-worked table of that module (EXPECTED, PRACTICE, PCN); the
record's Patient of person N has the id ``pN``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from integrated_care.accounts import passwords, services
from integrated_care.accounts.policy import Principal, grants
from integrated_care.footprint.models import (
    FootprintPcn,
    FootprintPlace,
    FootprintPractice,
    Organisation,
)
from integrated_care.record import store
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from tests.conftest import DatabaseTemplates
from tests.health.handmade import nhs_number
from tests.health.test_cohorts_population import PRACTICE, shared_cohort_data

PASSWORD = "a-long-enough-password"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
NOT_IN_RECORD = 22  # an SMI cohort member of PCN U00001 whose record is not loaded
SCOPES = [
    "care:read",
    "care:write",
    "record:read",
    "record:write",
    "analytics:read",
    "analytics:reidentify",
]
# username -> (roles, organisation)
USERS = {
    "gp_a1": (["clinician"], "A00001"),
    "gp_a2": (["clinician"], "A00002"),
    "gp_b1": (["clinician"], "B00001"),
    "carer_a1": (["care_professional"], "A00001"),  # no analytics:reidentify
    "nurse": (["clinician"], "RWE"),
    "director": (["clinician"], "U00001"),  # the PCN's clinical director, acting for the PCN
}
ORGANISATIONS = {
    "A00001": ("Practice A1", "gp_practice"),
    "A00002": ("Practice A2", "gp_practice"),
    "B00001": ("Practice B1", "gp_practice"),
    "U00001": ("PCN One", "pcn"),
    "RWE": ("Test Hospitals NHS Trust", "acute_trust"),
    "VCS01": ("Test Age Concern", "vcse"),
}


def patient_id(person: int) -> str:
    return f"p{person}"


def _footprint(session: Session) -> None:
    for code, la in (("PL1", "E06000016"), ("PL2", "E10000018")):
        session.add(
            FootprintPlace(
                code=code,
                name=f"Place {code}",
                kind="local_authority",
                local_authority_code=la,
                sub_icb_location_code="03W",
                population=1500,
                population_basis="test",
            )
        )
    session.flush()
    session.add_all(
        [
            FootprintPcn(code="U00001", name="PCN One", place_code="PL1"),
            FootprintPcn(code="U00002", name="PCN Two", place_code="PL2"),
        ]
    )
    session.flush()
    for code, pcn, place in (
        ("A00001", "U00001", "PL1"),
        ("A00002", "U00001", "PL1"),
        ("B00001", "U00002", "PL2"),
    ):
        session.add(
            FootprintPractice(
                code=code,
                name=ORGANISATIONS[code][0],
                postcode="LE1 1AA",
                pcn_code=pcn,
                place_code=place,
                sub_icb_location_code="03W",
                list_size=10,
            )
        )
    for code, (name, kind) in ORGANISATIONS.items():
        session.add(
            Organisation(
                org_code=code,
                name=name,
                org_type=kind,
                sector="voluntary" if kind == "vcse" else "nhs",
                statutory=kind != "vcse",
            )
        )


def _record(session: Session) -> None:
    for code, (name, _) in ORGANISATIONS.items():
        body = {
            "resourceType": "Organization",
            "identifier": [{"system": ODS, "value": code}],
            "name": name,
        }
        store.create(session, "Organization", body, resource_id=code)
    for person, practice in sorted(PRACTICE.items()):
        if person == NOT_IN_RECORD:
            continue
        body = {
            "resourceType": "Patient",
            "identifier": [{"system": NHS, "value": nhs_number(person)}],
            "gender": "female",
            "birthDate": "1960-01-01",
            "generalPractitioner": [{"reference": f"Organization/{practice}"}],
        }
        store.create(session, "Patient", body, resource_id=patient_id(person))


def build_store(session: Session) -> None:
    """The template database: footprint, record and users (built once per backend)."""
    _footprint(session)
    session.flush()
    _record(session)
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    for username, (roles, org) in USERS.items():
        services.create_user(session, username, "x" * 12, roles, org, username)
        user = services.get_user(session, username)
        user.password_hash = cheap.hash(PASSWORD)  # type: ignore[union-attr]


def cohort_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The hand-made cohort marts, with the identifiable patients extract where the platform
    keeps it (<data dir>/extract), as `ics demo` leaves it."""
    settings = shared_cohort_data(tmp_path_factory)
    extract = settings.data_dir / "extract"
    if not (extract / "patients.parquet").exists():
        extract.mkdir(parents=True, exist_ok=True)
        source = settings.data_dir.parent / "extract" / "patients.parquet"
        shutil.copyfile(source, extract / "patients.parquet")
    return settings


@dataclass
class World:
    runtime: Runtime
    principals: dict[str, Principal]
    tokens: dict[str, str]
    app: Any = None

    def client(self, user: str) -> TestClient:
        """The app (built once per world) as `user`'s API client."""
        if self.app is None:
            from integrated_care.web.app import create_app

            self.app = create_app(self.runtime)
        client = TestClient(self.app)
        client.headers["Authorization"] = f"Bearer {self.tokens[user]}"
        return client


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy-password-for-timing"))


def make_world(db_url: str, settings: Settings) -> World:
    runtime = Runtime(
        Settings(data_dir=settings.data_dir, database_url=db_url, secret_key="test-key")
    )
    with runtime.transaction() as session:
        tokens = {
            u: services.create_token(
                session, u, [s for s in SCOPES if s in grants().permissions_of(roles)]
            )
            for u, (roles, _) in USERS.items()
        }
        principals = {u: services.principal_for_token(session, t) for u, t in tokens.items()}
    return World(runtime, principals, tokens)  # type: ignore[arg-type]


def open_world(
    backend: str, db_templates: DatabaseTemplates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A world on its own database (for a test module's ``world`` fixture)."""
    settings = cohort_settings(tmp_path_factory)
    url = db_templates.clone(backend, "mdt", build_store)
    w = make_world(url, settings)
    yield w
    w.runtime.engine.dispose()
    db_templates.release(url)
