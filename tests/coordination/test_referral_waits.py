"""Waiting times against hand-worked figures on a few referrals with known dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from integrated_care.coordination import directory
from integrated_care.coordination import referral_waits as rw
from integrated_care.coordination.referral_models import Referral

TODAY = date(2026, 11, 25)


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)


def _referral(service_id: int, made: str, status: str = "requested", **extra) -> Referral:  # type: ignore[no-untyped-def]
    return Referral(
        patient_id="p",
        nhs_number="9434765919",
        service_id=service_id,
        from_org_code="C82001",
        to_org_code="VQK101",
        referred_by="gp",
        reason="r",
        urgency=extra.pop("urgency", "routine"),
        consent_recorded_by="gp",
        status=status,
        created_at=_at(made),
        updated_at=_at(made),
        **extra,
    )


def test_waits_breaches_and_figures_per_service(footprint_session: Session) -> None:
    s = footprint_session
    directory.load_directory(s, actor="test")
    social = directory.find_service(s, "VQK101", "Social prescribing link workers")  # 14 days
    mind = directory.find_service(s, "VQK102", "Wellbeing and peer support")  # 21 days
    assert social is not None and mind is not None
    rows = [
        # still waiting: 24 days > 14: a breach
        _referral(social.id, "2026-11-01"),
        # still waiting: 10 days, within 14
        _referral(social.id, "2026-11-15"),
        # accepted after 16 days (> 14): a past breach
        _referral(social.id, "2026-10-01", "completed", accepted_at=_at("2026-10-17")),
        # accepted after 5 days
        _referral(social.id, "2026-10-10", "accepted", accepted_at=_at("2026-10-15")),
        # urgent, still waiting 9 days: the 7-day cap makes it a breach
        _referral(mind.id, "2026-11-16", urgency="urgent"),
        # declined after 3 days: decided within target
        _referral(mind.id, "2026-11-01", "declined", closed_at=_at("2026-11-04")),
    ]
    s.add_all(rows)
    s.flush()
    waits = rw.waits(s, rows, TODAY)
    assert [(w.days, w.target_days, w.waiting, w.breached) for w in waits] == [
        (24, 14, True, True),
        (10, 14, True, False),
        (16, 14, False, True),
        (5, 14, False, False),
        (9, 7, True, True),
        (3, 21, False, False),
    ]
    # still waiting first, longest first; then past breaches
    assert [w.referral_id for w in rw.breaches(waits)] == [rows[0].id, rows[4].id, rows[2].id]
    figures = {f.service: f for f in rw.by_service(s, waits)}
    sp = figures["Social prescribing link workers"]
    assert (sp.referrals, sp.waiting, sp.waiting_beyond_target) == (4, 2, 1)
    assert (sp.decided, sp.decided_beyond_target, sp.median_days_to_decision) == (2, 1, 10.5)
    wb = figures["Wellbeing and peer support"]
    assert (wb.waiting, wb.waiting_beyond_target, wb.median_days_to_decision) == (1, 1, 3.0)

    chart = rw.summary_chart(rw.by_service(s, waits), {"VQK101": "Age UK", "VQK102": "Mind"})
    values = {v["service"]: v for v in chart["data"]["values"]}
    sp_row = values["Social prescribing link workers (Age UK)"]
    assert (sp_row[rw.WITHIN], sp_row[rw.BEYOND]) == (1, 1)
    weeks = rw.week_rows(waits[:4])
    assert weeks == [
        {"weeks": "0-1 weeks", "order": 0, "against": rw.WITHIN, "referrals": 1},
        {"weeks": "1-2 weeks", "order": 1, "against": rw.WITHIN, "referrals": 1},
        {"weeks": "2-3 weeks", "order": 2, "against": rw.BEYOND, "referrals": 1},
        {"weeks": "3-4 weeks", "order": 3, "against": rw.BEYOND, "referrals": 1},
    ]
