"""Staff movement: the state machine allows only its transitions, every step is audited, and a
person whose passport lacks a required credential cannot be activated (the issue's must-show:
blocked for a missing DBS check, then allowed once it is added)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import verify_chain
from integrated_care.accounts.models import AuditEvent
from integrated_care.workforce import movement as mv
from integrated_care.workforce.common import Actor, WorkforceError
from tests.workforce.conftest import Orgs, add_dbs, build_nurse

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _request(session: Session, orgs: Orgs, staff_id: int) -> int:
    m = mv.request_movement(
        session,
        Actor("homelead", orgs.home),
        staff_id=staff_id,
        host_org_code=orgs.host,
        role="District nurse",
        site="Main surgery",
        mechanism="sharing_agreement",
        start_date=date(2026, 12, 1),
        end_date=date(2027, 2, 28),
    )
    return m.id


def _to_consented(session: Session, orgs: Orgs, movement_id: int) -> None:
    mv.take_step(session, Actor("homelead", orgs.home), movement_id, "approve")
    mv.take_step(session, Actor("asha", orgs.home), movement_id, "consent")


def test_blocked_for_missing_dbs_then_allowed_once_added(
    footprint_session: Session, orgs: Orgs
) -> None:
    s = footprint_session
    nurse = build_nurse(s, orgs, with_dbs=False)
    movement_id = _request(s, orgs, nurse)
    _to_consented(s, orgs, movement_id)
    host = Actor("hostlead", orgs.host)

    refused = mv.check(s, host, movement_id, today=NOW.date())
    assert not refused.ok
    assert refused.movement.status == "consented"
    assert [g.need.kind for g in refused.assessment.missing] == ["dbs"]
    with pytest.raises(
        WorkforceError, match="'activate' is not allowed on a movement that is consented"
    ):
        mv.activate(s, host, movement_id, NOW)
    assert not mv.is_active(s, nurse, orgs.host, date(2026, 12, 1))

    add_dbs(s, orgs, nurse, "enhanced_barred")
    checked = mv.check(s, host, movement_id, today=NOW.date())
    assert checked.ok and checked.movement.status == "checked"
    # resuscitation training expires 2026-12-10, inside the movement: a warning, not a block
    assert [g.need.detail for g in checked.assessment.expiring] == ["resuscitation"]
    active = mv.activate(s, host, movement_id, NOW)
    assert active.ok and active.movement.status == "active"
    assert mv.is_active(s, nurse, orgs.host, date(2026, 12, 1))
    assert not mv.is_active(s, nurse, orgs.host, date(2026, 11, 30))  # before the start date
    assert not mv.is_active(s, nurse, orgs.home, date(2026, 12, 1))

    steps = [(x.step, x.outcome) for x in mv.steps_of(s, movement_id)]
    assert steps == [
        ("request", "success"),
        ("approve", "success"),
        ("consent", "success"),
        ("check", "denied"),
        ("check", "success"),
        ("activate", "success"),
    ]
    events = s.execute(
        select(AuditEvent.action, AuditEvent.outcome, AuditEvent.reason)
        .where(AuditEvent.record_type == "workforce_movement")
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.outcome) for e in events] == [
        ("workforce.movement.request", "success"),
        ("workforce.movement.approve", "success"),
        ("workforce.movement.consent", "success"),
        ("workforce.movement.check", "denied"),
        ("workforce.movement.check", "success"),
        ("workforce.movement.activate", "success"),
    ]
    assert "DBS check (enhanced with barred lists): none recorded" in events[3].reason
    s.commit()
    assert verify_chain(s).ok


def test_activation_repeats_the_check(footprint_session: Session, orgs: Orgs) -> None:
    """Checked in November; by the time of activation the DBS check has expired."""
    s = footprint_session
    nurse = build_nurse(s, orgs, with_dbs=False)
    from integrated_care.workforce import passport

    passport.add_credential(
        s,
        Actor("homelead", orgs.home),
        nurse,
        kind="dbs",
        dbs_level="enhanced_barred",
        evidence_ref="DBS-old",
        issued_on=date(2023, 12, 3),
        expires_on=date(2026, 12, 3),
    )
    movement_id = _request(s, orgs, nurse)
    _to_consented(s, orgs, movement_id)
    host = Actor("hostlead", orgs.host)
    assert mv.check(s, host, movement_id, today=NOW.date()).ok
    late = mv.activate(s, host, movement_id, datetime(2026, 12, 5, 9, tzinfo=UTC))
    assert not late.ok and late.movement.status == "checked"
    assert late.assessment.missing[0].text == (
        "DBS check (enhanced with barred lists): expired on 2026-12-03"
    )


def test_only_allowed_transitions(footprint_session: Session, orgs: Orgs) -> None:
    s = footprint_session
    nurse = build_nurse(s, orgs, with_dbs=True)
    movement_id = _request(s, orgs, nurse)
    a = Actor("someone", orgs.home)
    with pytest.raises(WorkforceError, match="'consent' is not allowed"):
        mv.take_step(s, a, movement_id, "consent")  # before home approval
    with pytest.raises(WorkforceError):
        mv.check(s, a, movement_id, today=NOW.date())
    with pytest.raises(WorkforceError):
        mv.take_step(s, a, movement_id, "end")
    mv.take_step(s, a, movement_id, "withdraw", note="changed my mind")
    assert mv.get_movement(s, movement_id).status == "withdrawn"
    for step in ("approve", "consent", "decline", "withdraw", "end"):
        with pytest.raises(WorkforceError):
            mv.take_step(s, a, movement_id, step)
    with pytest.raises(WorkforceError, match="another organisation"):
        mv.request_movement(
            s,
            a,
            staff_id=nurse,
            host_org_code=orgs.home,
            role="District nurse",
            mechanism="bank",
            start_date=date(2027, 1, 1),
            end_date=date(2027, 1, 2),
        )


def test_end_date_revokes_access(footprint_session: Session, orgs: Orgs) -> None:
    s = footprint_session
    nurse = build_nurse(s, orgs, with_dbs=True)
    movement_id = _request(s, orgs, nurse)
    _to_consented(s, orgs, movement_id)
    host = Actor("hostlead", orgs.host)
    mv.check(s, host, movement_id, today=NOW.date())
    assert mv.activate(s, host, movement_id, NOW).ok
    assert mv.revoke_expired(s, datetime(2027, 2, 28, 23, tzinfo=UTC)) == []  # last day
    assert mv.is_active(s, nurse, orgs.host, date(2027, 2, 28))
    assert mv.revoke_expired(s, datetime(2027, 3, 1, 0, 5, tzinfo=UTC)) == [movement_id]
    assert mv.get_movement(s, movement_id).status == "ended"
    assert not mv.is_active(s, nurse, orgs.host, date(2027, 2, 28))
    assert mv.revoke_expired(s, datetime(2027, 3, 2, tzinfo=UTC)) == []
