"""Fixtures for the workforce tests: two member organisations of the test footprint and a
nurse whose passport is built by hand, so every gap in the tests can be checked by eye."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy.orm import Session

from integrated_care.footprint.services import list_organisations
from integrated_care.workforce import passport
from integrated_care.workforce.common import Actor
from integrated_care.workforce.passport import Need

TODAY = date(2026, 11, 25)


@dataclass
class Orgs:
    home: str  # the mental health (and community) trust
    host: str  # a GP practice


def pick_orgs(session: Session) -> Orgs:
    orgs = list_organisations(session)
    home = sorted(o.org_code for o in orgs if o.org_type == "mental_health_trust")[0]
    host = sorted(o.org_code for o in orgs if o.org_type == "gp_practice")[0]
    return Orgs(home, host)


HOST_NURSE_CHECKLIST = [
    Need("identity_check"),
    Need("right_to_work"),
    Need("dbs", "enhanced_barred"),
    Need("professional_registration", "NMC"),
    Need("core_skills", "safeguarding_adults"),
    Need("core_skills", "resuscitation"),
    Need("occupational_health"),
]


def build_nurse(session: Session, orgs: Orgs, *, with_dbs: bool) -> int:
    """A district nurse of `orgs.home` holding everything the host's checklist asks, except
    (unless `with_dbs`) a DBS check. Resuscitation training expires on 2026-12-10."""
    home = Actor("homelead", orgs.home)
    host = Actor("hostlead", orgs.host)
    passport.set_checklist(session, host, orgs.host, "District nurse", HOST_NURSE_CHECKLIST)
    nurse = passport.add_staff(
        session,
        home,
        name="Asha Patel",
        home_org_code=orgs.home,
        staff_group="nursing",
        role="District nurse",
    )
    add = lambda **kw: passport.add_credential(session, home, nurse.id, **kw)  # noqa: E731
    add(kind="identity_check", evidence_ref="ID-1", issued_on=date(2020, 1, 6))
    add(kind="right_to_work", evidence_ref="RTW-1", issued_on=date(2020, 1, 6))
    add(
        kind="professional_registration",
        registration_body="NMC",
        registration_number="12A3456B",
        evidence_ref="NMC register",
        issued_on=date(2026, 3, 1),
        expires_on=date(2027, 3, 1),
    )
    add(
        kind="core_skills",
        subject="safeguarding_adults",
        evidence_ref="ESR",
        issued_on=date(2025, 1, 1),
    )
    add(
        kind="core_skills",
        subject="resuscitation",
        evidence_ref="ESR",
        issued_on=date(2025, 12, 10),  # refresher: 1 year, so expires 2026-12-10
    )
    add(kind="occupational_health", evidence_ref="OH-9", issued_on=date(2020, 1, 2))
    if with_dbs:
        add_dbs(session, orgs, nurse.id, "enhanced_barred")
    session.flush()
    return nurse.id


def add_dbs(session: Session, orgs: Orgs, staff_id: int, level: str) -> None:
    passport.add_credential(
        session,
        Actor("homelead", orgs.home),
        staff_id,
        kind="dbs",
        dbs_level=level,
        evidence_ref=f"DBS-{level}",
        issued_on=date(2026, 6, 1),
        expires_on=date(2029, 6, 1),
    )


@pytest.fixture
def orgs(footprint_session: Session) -> Orgs:
    return pick_orgs(footprint_session)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id's cheapest parameters: the production ones cost ~0.4 s a hash."""
    from argon2 import PasswordHasher, profiles

    from integrated_care.accounts import passwords

    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy-password-for-timing"))
