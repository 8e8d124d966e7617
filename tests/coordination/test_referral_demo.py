"""The demo's referrals: made through the service functions for the GP practice's patients,
some beyond their target, and loaded once."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from integrated_care.coordination import referral_waits as rw
from integrated_care.coordination.demo import STORIES, load_referrals_demo
from integrated_care.coordination.referral_models import Referral
from integrated_care.db import utcnow
from integrated_care.record.identifiers import nhs_number_check_digit
from integrated_care.runtime import Runtime
from tests.coordination.referral_support import (
    add_registered_patient,
    build_world,
    cheap_password_hashing,  # noqa: F401
)


def _nhs_numbers(count: int) -> list[str]:
    found, stem = [], 943476600
    while len(found) < count:
        check = nhs_number_check_digit(str(stem))
        if check is not None:
            found.append(f"{stem}{check}")
        stem += 1
    return found


def test_demo_referrals(runtime: Runtime) -> None:
    world = build_world(runtime)
    for number in _nhs_numbers(len(STORIES) - 1):
        add_registered_patient(runtime, world.principals["gp"], number, family="Demo")

    summary = load_referrals_demo(runtime)
    assert summary.endswith(", 4 beyond their waiting-time target"), summary
    with runtime.sessions() as s:
        rows = list(s.scalars(select(Referral).order_by(Referral.id)))
        waits = rw.waits(s, rows, utcnow().date())
    assert len(rows) == len(STORIES) == 11
    assert len({r.patient_id for r in rows}) == 11
    assert Counter(r.status for r in rows) == {
        "requested": 6,
        "accepted": 2,
        "completed": 1,
        "declined": 1,
        "withdrawn": 1,
    }
    assert {r.from_org_code for r in rows} == {"C82001"}
    assert "VQK101" in {r.to_org_code for r in rows}
    # By hand from STORIES: social prescribing waiting 30 days (target 14), falls waiting 35
    # (28), debt advice waiting 20 (10), carers accepted after 35 days (28).
    assert [(w.days, w.target_days) for w in waits if w.breached] == [
        (30, 14),
        (35, 28),
        (20, 10),
        (35, 28),
    ]

    # The housing referral goes to a council in the practice's own place.
    from integrated_care.footprint.services import get_organisation

    housing = next(r for r in rows if r.reason.startswith("Damp flat"))
    with runtime.sessions() as s:
        council, practice = get_organisation(s, housing.to_org_code), get_organisation(s, "C82001")
    assert council.org_type == "local_authority"  # type: ignore[union-attr]
    assert council.place_code == practice.place_code  # type: ignore[union-attr]

    again = load_referrals_demo(runtime)
    assert again.endswith("referrals already loaded")
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Referral)) == 11
