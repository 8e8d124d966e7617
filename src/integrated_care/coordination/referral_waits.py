"""Waiting times: how long each referral waited (or has waited so far) for the receiving
service's decision, against the service's target, and the charts that show it.

The clock starts on the day the referral is made and stops on the day the service accepts it
(or declines it, or the referrer withdraws it); an undecided referral is still waiting today.
A referral breaches when it waits more days than its target: the service's own target, capped
for urgent and two-week-wait style referrals (directory.effective_target).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.coordination.directory import effective_target
from integrated_care.coordination.referral_models import Referral, Service
from integrated_care.web.charts import NHS_BLUE

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
WITHIN, BEYOND = "Within target", "Beyond target"
BREACH_RED = "#d5281b"


@dataclass(frozen=True)
class Wait:
    referral_id: int
    service_id: int
    status: str
    urgency: str
    days: int
    target_days: int
    waiting: bool  # still awaiting the service's decision

    @property
    def breached(self) -> bool:
        return self.days > self.target_days


@dataclass(frozen=True)
class ServiceWaits:
    service_id: int
    service: str
    org_code: str
    target_days: int
    referrals: int
    waiting: int
    waiting_beyond_target: int
    decided: int
    decided_beyond_target: int
    median_days_to_decision: float | None


def _day(moment: datetime) -> date:
    return moment.date()


def wait_of(r: Referral, service_target: int, today: date) -> Wait:
    """How many days the referral waited for a decision (to today if it still waits)."""
    decided = r.accepted_at or (r.closed_at if r.status in ("declined", "withdrawn") else None)
    end = _day(decided) if decided is not None else today
    return Wait(
        referral_id=r.id,
        service_id=r.service_id,
        status=r.status,
        urgency=r.urgency,
        days=max(0, (end - _day(r.created_at)).days),
        target_days=effective_target(service_target, r.urgency),
        waiting=decided is None,
    )


def waits(session: Session, referrals: Iterable[Referral], today: date) -> list[Wait]:
    rows = list(referrals)
    ids = {r.service_id for r in rows}
    targets = dict(
        session.execute(
            select(Service.id, Service.wait_target_days).where(Service.id.in_(ids))
        ).all()
    )
    return [wait_of(r, targets[r.service_id], today) for r in rows]


def breaches(all_waits: Sequence[Wait]) -> list[Wait]:
    """Referrals that waited longer than their target: those still waiting first, longest
    wait first."""
    return sorted(
        (w for w in all_waits if w.breached), key=lambda w: (not w.waiting, -w.days, w.referral_id)
    )


def by_service(session: Session, all_waits: Sequence[Wait]) -> list[ServiceWaits]:
    """Waiting-time figures per service, for the waits given."""
    grouped: dict[int, list[Wait]] = {}
    for w in all_waits:
        grouped.setdefault(w.service_id, []).append(w)
    services = {
        s.id: s for s in session.scalars(select(Service).where(Service.id.in_(grouped.keys())))
    }
    out = []
    for service_id, group in grouped.items():
        s = services[service_id]
        waiting = [w for w in group if w.waiting]
        decided = [w for w in group if not w.waiting]
        out.append(
            ServiceWaits(
                service_id=service_id,
                service=s.name,
                org_code=s.org_code,
                target_days=s.wait_target_days,
                referrals=len(group),
                waiting=len(waiting),
                waiting_beyond_target=sum(w.breached for w in waiting),
                decided=len(decided),
                decided_beyond_target=sum(w.breached for w in decided),
                median_days_to_decision=float(median(w.days for w in decided)) if decided else None,
            )
        )
    return sorted(out, key=lambda x: (-x.waiting_beyond_target, x.service, x.org_code))


def service_waits(session: Session, service_id: int, today: date) -> list[Wait]:
    """Every referral to one service (for its own page: counts only, nobody identified)."""
    rows = session.scalars(select(Referral).where(Referral.service_id == service_id))
    return waits(session, rows, today)


# ---- charts -----------------------------------------------------------------------------------


def summary_rows(figures: Sequence[ServiceWaits], names: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "service": f"{f.service} ({names.get(f.org_code, f.org_code)})",
            WITHIN: f.waiting - f.waiting_beyond_target,
            BEYOND: f.waiting_beyond_target,
            "Target (days)": f.target_days,
            "Median days to decision": f.median_days_to_decision
            if f.median_days_to_decision is not None
            else "–",
        }
        for f in figures
    ]


def summary_chart(figures: Sequence[ServiceWaits], names: dict[str, str]) -> dict[str, Any]:
    """Referrals waiting now per service: within and beyond the service's target."""
    return {
        "$schema": SCHEMA,
        "width": "container",
        "data": {"values": summary_rows(figures, names)},
        "transform": [{"fold": [WITHIN, BEYOND], "as": ["against", "referrals"]}],
        "mark": "bar",
        "encoding": {
            "y": {
                "field": "service",
                "type": "nominal",
                "title": "Service",
                "sort": "-x",
                "axis": {"labelLimit": 320},
            },
            "x": {
                "field": "referrals",
                "type": "quantitative",
                "title": "Referrals waiting for a decision",
                "stack": "zero",
                "axis": {"tickMinStep": 1, "format": "d"},
            },
            "color": {
                "field": "against",
                "type": "nominal",
                "title": "Wait so far",
                "scale": {"domain": [WITHIN, BEYOND], "range": [NHS_BLUE, BREACH_RED]},
            },
            "tooltip": [
                {"field": "service", "title": "Service"},
                {"field": "against", "title": "Wait so far"},
                {"field": "referrals", "title": "Referrals"},
            ],
        },
    }


def week_rows(service_waits_: Sequence[Wait]) -> list[dict[str, Any]]:
    """Referrals by whole weeks waited for a decision (waiting now and decided alike)."""
    counts: dict[tuple[int, bool], int] = {}
    for w in service_waits_:
        key = (w.days // 7, w.breached)
        counts[key] = counts.get(key, 0) + 1
    return [
        {
            "weeks": f"{weeks}-{weeks + 1} weeks",
            "order": weeks,
            "against": BEYOND if breached else WITHIN,
            "referrals": n,
        }
        for (weeks, breached), n in sorted(counts.items())
    ]


def service_chart(service_waits_: Sequence[Wait]) -> dict[str, Any]:
    """One service: how many referrals waited how long for a decision, against the target."""
    return {
        "$schema": SCHEMA,
        "width": "container",
        "data": {"values": week_rows(service_waits_)},
        "mark": "bar",
        "encoding": {
            "x": {
                "field": "weeks",
                "type": "ordinal",
                "title": "Wait for a decision",
                "sort": {"field": "order"},
                "axis": {"labelAngle": 0},
            },
            "y": {
                "field": "referrals",
                "type": "quantitative",
                "title": "Referrals",
                "axis": {"tickMinStep": 1, "format": "d"},
            },
            "color": {
                "field": "against",
                "type": "nominal",
                "title": "Against target",
                "scale": {"domain": [WITHIN, BEYOND], "range": [NHS_BLUE, BREACH_RED]},
            },
            "tooltip": [
                {"field": "weeks", "title": "Wait"},
                {"field": "against", "title": "Against target"},
                {"field": "referrals", "title": "Referrals"},
            ],
        },
    }
