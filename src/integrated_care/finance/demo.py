"""The demo's risk share agreement: what a system might agree for the year in progress.

The NHS trusts and the ICB share their forecast variances against control totals: each trust
keeps the first 0.5% of its turnover either way; the rest is pooled and shared pro rata to
turnover (planned income); no trust ends more than 1% of its turnover below its control total;
the ICB hosts what those floors hold back. Recorded once by the demo (as ``ics-demo``, audited);
finance users can change it on its page like any other agreement.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_event
from integrated_care.finance import agreements, services
from integrated_care.finance.ledger import By
from integrated_care.footprint.services import list_organisations

REFERENCE = "RS-DEMO"
TRUSTS = ("acute_trust", "community_trust", "mental_health_trust", "ambulance_trust")


def record_demo_agreement(
    session: Session, financial_year: str
) -> agreements.StoredAgreement | None:
    """The demo's agreement for the year (recorded the first time; found after that); None if
    the footprint has fewer than two organisations to share."""
    held = agreements.in_force(session, REFERENCE)
    if held is not None:
        return held
    icb = services.icb_code(session)
    turnover = services.planned_income(session, financial_year)
    trusts = sorted(
        o.org_code
        for o in list_organisations(session)
        if o.org_type in TRUSTS and o.org_code in turnover
    )
    floors = {t: {"floor": str(-(turnover[t] / 100).quantize(Decimal("0.01")))} for t in trusts}
    rules = {
        "parties": [*trusts, *([icb] if icb else [])],
        "method": "turnover",
        "corridor": {"share_of_turnover": "0.005"},
        "limits": floors,
        "host": icb,
    }
    if len(rules["parties"]) < 2:
        return None
    name = f"NHS partners' risk and gain share {financial_year}"
    saved = agreements.save(session, REFERENCE, financial_year, name, "agreed", rules,
                            By("ics-demo"), None)  # fmt: skip
    assert saved is not None  # the first version always records something
    record_event(
        session,
        actor="ics-demo",
        action="finance.agreement.save",
        outcome="success",
        record_type="finance_share_agreement",
        record_id=str(saved.id),
        detail={"reference": REFERENCE, "version": 1, "parties": rules["parties"]},
    )
    return saved
