"""Staff passports against hand-made checklists: what is missing, expired, at too low a level,
or expiring, each named the way a workforce lead would read it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.accounts.models import AuditEvent
from integrated_care.workforce import passport
from integrated_care.workforce.common import Actor, WorkforceError
from integrated_care.workforce.passport import Need
from tests.workforce.conftest import TODAY, Orgs, add_dbs, build_nurse


def test_the_eleven_core_skills_subjects_are_data() -> None:
    subjects = passport.core_skills()
    assert len(subjects) == 11
    assert subjects["resuscitation"]["refresher_years"] == 1


def test_missing_dbs_is_named(footprint_session: Session, orgs: Orgs) -> None:
    nurse = build_nurse(footprint_session, orgs, with_dbs=False)
    result = passport.assess(footprint_session, nurse, orgs.host, "District nurse", as_of=TODAY)
    assert not result.ok
    assert [(g.need.kind, g.problem) for g in result.missing] == [("dbs", "missing")]
    assert result.missing[0].text == "DBS check (enhanced with barred lists): none recorded"
    # resuscitation training (1-year refresher from 2025-12-10) expires within 30 days
    assert [(g.need.detail, g.expires_on) for g in result.expiring] == [
        ("resuscitation", date(2026, 12, 10))
    ]


def test_a_lower_dbs_level_than_required_does_not_count(
    footprint_session: Session, orgs: Orgs
) -> None:
    nurse = build_nurse(footprint_session, orgs, with_dbs=False)
    add_dbs(footprint_session, orgs, nurse, "standard")
    result = passport.assess(footprint_session, nurse, orgs.host, "District nurse", as_of=TODAY)
    assert [(g.need.kind, g.problem) for g in result.missing] == [("dbs", "lower_level")]
    assert "standard" in result.missing[0].text
    assert "enhanced with barred lists" in result.missing[0].text
    # a higher level satisfies a lower requirement
    passport.set_checklist(
        footprint_session, Actor("x"), orgs.host, "Receptionist", [Need("dbs", "basic")]
    )
    assert passport.assess(footprint_session, nurse, orgs.host, "Receptionist", as_of=TODAY).ok


def test_an_expired_credential_is_missing_from_its_expiry_date(
    footprint_session: Session, orgs: Orgs
) -> None:
    nurse = build_nurse(footprint_session, orgs, with_dbs=True)
    day_before = passport.assess(
        footprint_session, nurse, orgs.host, "District nurse", as_of=date(2026, 12, 9)
    )
    assert day_before.ok
    on_expiry = passport.assess(
        footprint_session, nurse, orgs.host, "District nurse", as_of=date(2026, 12, 10)
    )
    assert [(g.need.detail, g.problem) for g in on_expiry.missing] == [("resuscitation", "expired")]
    assert on_expiry.missing[0].text == "Training: Resuscitation: expired on 2026-12-10"
    # the NMC registration (to 2027-03-01) is flagged when the window reaches it
    wide = passport.assess(
        footprint_session, nurse, orgs.host, "District nurse", as_of=TODAY, within_days=120
    )
    assert {g.need.kind for g in wide.expiring} == {"core_skills", "professional_registration"}


def test_checklists_are_per_organisation(footprint_session: Session, orgs: Orgs) -> None:
    nurse = build_nurse(footprint_session, orgs, with_dbs=False)
    # the home organisation has no checklist for the role yet: nothing is required there
    assert passport.assess(footprint_session, nurse, orgs.home, "District nurse", as_of=TODAY).ok
    written = passport.apply_default_checklists(footprint_session, Actor("x"), [orgs.home])
    assert written > 0
    home = passport.assess(footprint_session, nurse, orgs.home, "District nurse", as_of=TODAY)
    needs = passport.default_needs("District nurse")
    assert len(home.checklist) == len(needs)
    held = {"identity_check", "right_to_work", "occupational_health", "professional_registration"}
    held_subjects = {"safeguarding_adults", "resuscitation"}
    expected = [
        n
        for n in needs
        if n.kind not in held and not (n.kind == "core_skills" and n.detail in held_subjects)
    ]
    assert [g.need for g in home.missing] == expected


def test_credentials_are_validated_and_audited(footprint_session: Session, orgs: Orgs) -> None:
    nurse = build_nurse(footprint_session, orgs, with_dbs=False)
    a = Actor("homelead", orgs.home)
    with pytest.raises(WorkforceError, match="needs a level"):
        passport.add_credential(
            footprint_session, a, nurse, kind="dbs", evidence_ref="x", issued_on=TODAY
        )
    with pytest.raises(WorkforceError, match="body"):
        passport.add_credential(
            footprint_session,
            a,
            nurse,
            kind="professional_registration",
            registration_body="GMC",
            evidence_ref="x",
            issued_on=TODAY,
        )
    with pytest.raises(WorkforceError, match="unknown core skills"):
        passport.add_credential(
            footprint_session,
            a,
            nurse,
            kind="core_skills",
            subject="knitting",
            evidence_ref="x",
            issued_on=TODAY,
        )
    actions = footprint_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("workforce.%"))
    ).all()
    assert actions.count("workforce.credential.added") == 6
    assert "workforce.staff.added" in actions
