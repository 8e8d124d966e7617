"""The demo ICS's workforce: default role checklists at the main providers and three practices,
four fictional members of staff with passports (data/demo_staff.json), three movements (one
active, one blocked at the host's check for a missing DBS check, one awaiting the home employer),
and the workforce plan.

The plan comes from the synthetic ICS's ``staff`` and ``workforce_plan`` extracts when the data
directory has them; otherwise :func:`generate_plan` makes a small one (seeded, so the same every
time): 12 months of the current financial year for up to six organisations, with staff who join
and leave and some in new roles. Everything goes through the service functions, so the audit
trail is the one real use would leave.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.footprint.services import list_organisations
from integrated_care.workforce import movement, passport, plan
from integrated_care.workforce.common import Actor
from integrated_care.workforce.models import StaffMember

ACTOR = Actor("ics demo")
DATA = Path(__file__).parent / "data"
CHECKLIST_TYPES = ("acute_trust", "mental_health_trust", "community_trust", "ambulance_trust")


def _pick(orgs: list[Any], org_type: str, n: int = 0) -> str | None:
    found = sorted(o.org_code for o in orgs if o.org_type == org_type)
    return found[n] if len(found) > n else None


def _financial_year(day: date) -> str:
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def generate_plan(
    org_codes: list[str], today: date, seed: int = 42
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A small staff list and monthly plan for `org_codes` (the input layer's shape)."""
    r = np.random.default_rng(seed)
    fy = _financial_year(today)
    groups = {"medical": 40, "nursing": 90, "ahp": 30, "admin": 50}
    new_roles = {"medical": "Physician associate", "nursing": "Advanced nurse practitioner"}
    first = plan.month_of(fy, 1)
    staff: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for k, code in enumerate(org_codes):
        scale = 1.0 / (1 + k)
        for group, base in groups.items():
            planned = round(base * scale, 1) + 1
            for m in range(1, 13):
                rows.append(
                    {
                        "org_code": code,
                        "financial_year": fy,
                        "month": m,
                        "staff_group": group,
                        "planned_fte": round(planned * (1 + 0.002 * m), 2),
                    }
                )
            for i in range(max(int(planned * 0.95), 1)):
                role = new_roles.get(group) if i % 8 == 0 else None
                start = first - timedelta(days=int(r.integers(30, 3000)))
                if r.random() < 0.25:
                    start = first + timedelta(days=int(r.integers(0, 330)))
                end = first + timedelta(days=int(r.integers(0, 360))) if r.random() < 0.1 else None
                staff.append(
                    {
                        "employer_code": code,
                        "staff_group": group,
                        "role": role or group.title(),
                        "fte": float(r.choice([1.0, 1.0, 0.8, 0.6])),
                        "start_date": start,
                        "end_date": end,
                    }
                )
    return staff, rows


def _load_plan(session: Session, orgs: list[Any], extract: Path | None, today: date) -> str:
    if extract is not None and plan.has_extract(extract):
        report = plan.load_extract(session, extract, ACTOR)
        return f"plan from the extract: {report.rows} rows, {report.organisations} organisations"
    codes = [
        c
        for c in (
            _pick(orgs, "acute_trust"),
            _pick(orgs, "mental_health_trust"),
            _pick(orgs, "ambulance_trust"),
            *(_pick(orgs, "gp_practice", i) for i in range(3)),
        )
        if c
    ]
    staff, rows = generate_plan(codes, today)
    known = {o.org_code for o in orgs}
    plan_rows, role_rows, _ = plan.build_months(staff, rows, known)
    plan.store_months(session, ACTOR, plan_rows, role_rows, "demo generator")
    return f"generated plan: {len(plan_rows)} rows, {len(codes)} organisations"


def _credential(session: Session, staff_id: int, spec: dict[str, Any], today: date) -> int:
    fields = {k: v for k, v in spec.items() if k not in ("issued", "expires", "subject")}
    issued = today + timedelta(days=spec["issued"])
    expires = today + timedelta(days=spec["expires"]) if "expires" in spec else None
    subjects = [spec.get("subject")]
    if spec.get("subject") == "*":
        subjects = list(passport.core_skills())
    for subject in subjects:
        passport.add_credential(
            session,
            ACTOR,
            staff_id,
            issued_on=issued,
            expires_on=expires,
            subject=subject,
            **fields,
        )
    return len(subjects)


def _movement(
    session: Session, orgs: list[Any], people: dict[str, int], spec: dict[str, Any], today: date
) -> str:
    host = _pick(orgs, spec["host"])
    if host is None:
        return "skipped"
    m = movement.request_movement(
        session,
        ACTOR,
        staff_id=people[spec["who"]],
        host_org_code=host,
        role=spec["role"],
        site=spec["site"],
        mechanism=spec["mechanism"],
        start_date=today + timedelta(days=spec["start"]),
        end_date=today + timedelta(days=spec["end"]),
    )
    now = datetime.combine(today, datetime.min.time(), UTC)
    if spec["to"] == "requested":
        return m.status
    movement.take_step(session, ACTOR, m.id, "approve")
    movement.take_step(session, ACTOR, m.id, "consent", note="recorded on the person's behalf")
    if not movement.check(session, ACTOR, m.id, today).ok or spec["to"] == "checked":
        return m.status
    movement.activate(session, ACTOR, m.id, now)
    return m.status


def load_demo(session: Session, extract: Path | None = None, today: date | None = None) -> str:
    """Build the demo workforce on the footprint (once: a second call changes nothing)."""
    if session.scalar(select(StaffMember.id).limit(1)) is not None:
        return "workforce already loaded"
    today = today or date.today()
    orgs = list_organisations(session)
    codes = [c for t in CHECKLIST_TYPES if (c := _pick(orgs, t))]
    codes += [c for i in range(3) if (c := _pick(orgs, "gp_practice", i))]
    lines = passport.apply_default_checklists(session, ACTOR, codes)
    spec = json.loads((DATA / "demo_staff.json").read_text())
    people: dict[str, int] = {}
    for s in spec["staff"]:
        home = _pick(orgs, s["employer"])
        if home is None:
            continue
        person = passport.add_staff(
            session,
            ACTOR,
            name=s["name"],
            home_org_code=home,
            staff_group=s["staff_group"],
            role=s["role"],
        )
        people[s["key"]] = person.id
        for c in s["credentials"]:
            _credential(session, person.id, c, today)
    outcomes = [
        _movement(session, orgs, people, m, today) for m in spec["movements"] if m["who"] in people
    ]
    planned = _load_plan(session, orgs, extract, today)
    return (
        f"{lines} checklist lines at {len(codes)} organisations, {len(people)} passports, "
        f"movements: {', '.join(outcomes)}; {planned}"
    )
