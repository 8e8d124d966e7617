"""The workforce plan: planned vs actual FTE by organisation and staff group by month,
vacancies, staff in new roles, and staff working across organisations.

Loaded from the input layer's ``staff`` and ``workforce_plan`` tables (``ics synth`` writes
them). Actual FTE in a month is the FTE of staff in post on its first day (started on or before
it, not left before it). Vacancies are planned FTE less actual FTE where that is positive, per
organisation and staff group, then added up (an over-establishment in one group does not fill a
gap in another). Month 1 of a financial year is April.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from integrated_care.footprint.models import Organisation
from integrated_care.workforce.common import Actor, audit
from integrated_care.workforce.models import STAFF_GROUPS, Movement, NewRoleMonth, PlanMonth
from integrated_care.workforce.passport import default_checklists


def month_of(financial_year: str, month: int) -> date:
    """The first day of month `month` (1 = April) of `financial_year` ("2025/26")."""
    start = int(financial_year[:4])
    calendar = (month + 2) % 12 + 1
    return date(start + (1 if calendar < 4 else 0), calendar, 1)


def _rows(folder: Path, table: str) -> list[dict[str, Any]]:
    path = folder / f"{table}.parquet"
    if not path.exists():
        path = folder / table
    return pq.read_table(path).to_pylist()


def has_extract(folder: Path) -> bool:
    return all(
        (folder / f"{t}.parquet").exists() or (folder / t).is_dir()
        for t in ("staff", "workforce_plan")
    )


@dataclass
class LoadReport:
    months: int = 0
    rows: int = 0
    new_role_rows: int = 0
    organisations: int = 0
    unknown_organisations: list[str] = field(default_factory=list)


def in_post(staff: list[dict[str, Any]], day: date) -> list[dict[str, Any]]:
    """Staff in post on `day`."""
    return [
        s
        for s in staff
        if s["start_date"] <= day and (s["end_date"] is None or s["end_date"] >= day)
    ]


def build_months(
    staff: list[dict[str, Any]], plan: list[dict[str, Any]], known: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Plan rows and new-role rows per (organisation, month, ...), and unknown organisations."""
    new_roles = set(default_checklists()["new_roles"])
    planned: dict[tuple[str, date, str], float] = {}
    unknown: set[str] = set()
    for p in plan:
        if p["org_code"] not in known:
            unknown.add(p["org_code"])
            continue
        key = (p["org_code"], month_of(p["financial_year"], p["month"]), p["staff_group"])
        planned[key] = planned.get(key, 0.0) + float(p["planned_fte"])
    months = sorted({k[1] for k in planned})
    actual: dict[tuple[str, date, str], list[float]] = defaultdict(lambda: [0.0, 0])
    roles: dict[tuple[str, date, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for s in staff:
        if s["employer_code"] not in known:
            unknown.add(s["employer_code"])
    for day in months:
        for s in in_post(staff, day):
            if s["employer_code"] not in known:
                continue
            a = actual[(s["employer_code"], day, s["staff_group"])]
            a[0] += float(s["fte"])
            a[1] += 1
            if s["role"] in new_roles:
                r = roles[(s["employer_code"], day, s["role"])]
                r[0] += float(s["fte"])
                r[1] += 1
    plan_rows = [
        {
            "org_code": org,
            "month": day,
            "staff_group": group,
            "planned_fte": planned.get((org, day, group)),
            "actual_fte": round(actual.get((org, day, group), [0.0, 0])[0], 2),
            "headcount": int(actual.get((org, day, group), [0.0, 0])[1]),
        }
        for org, day, group in sorted(set(planned) | set(actual))
    ]
    role_rows = [
        {"org_code": o, "month": d, "role": r, "fte": round(v[0], 2), "headcount": int(v[1])}
        for (o, d, r), v in sorted(roles.items())
    ]
    return plan_rows, role_rows, sorted(unknown)


def store_months(
    session: Session,
    actor: Actor,
    plan_rows: list[dict[str, Any]],
    role_rows: list[dict[str, Any]],
    source: str,
) -> None:
    """Replace the stored plan with these rows, audited as ``workforce.plan.loaded``."""
    session.execute(delete(PlanMonth))
    session.execute(delete(NewRoleMonth))
    session.add_all(PlanMonth(**r) for r in plan_rows)
    session.add_all(NewRoleMonth(**r) for r in role_rows)
    session.flush()
    audit(
        session,
        actor,
        "plan.loaded",
        "plan",
        source,
        {"rows": len(plan_rows), "new_role_rows": len(role_rows)},
    )


def load_extract(session: Session, folder: Path, actor: Actor) -> LoadReport:
    """Load the plan from the ``staff`` and ``workforce_plan`` extracts in `folder`."""
    known = set(session.scalars(select(Organisation.org_code)))
    plan_rows, role_rows, unknown = build_months(
        _rows(folder, "staff"), _rows(folder, "workforce_plan"), known
    )
    store_months(session, actor, plan_rows, role_rows, str(folder))
    return LoadReport(
        months=len({r["month"] for r in plan_rows}),
        rows=len(plan_rows),
        new_role_rows=len(role_rows),
        organisations=len({r["org_code"] for r in plan_rows}),
        unknown_organisations=unknown,
    )


# ---- reading the plan --------------------------------------------------------------------------


@dataclass
class MonthFigure:
    month: date
    planned_fte: float
    actual_fte: float
    vacancies_fte: float
    headcount: int


@dataclass
class GroupFigure:
    staff_group: str
    planned_fte: float
    actual_fte: float
    vacancies_fte: float


def _plan_rows(session: Session, org_code: str | None) -> list[PlanMonth]:
    stmt = select(PlanMonth)
    if org_code:
        stmt = stmt.where(PlanMonth.org_code == org_code)
    return list(session.scalars(stmt))


def _gap(row: PlanMonth) -> float:
    return max((row.planned_fte or 0.0) - row.actual_fte, 0.0)


def by_month(session: Session, org_code: str | None = None) -> list[MonthFigure]:
    """Planned and actual FTE, vacancies and headcount by month (all organisations, or one)."""
    out: dict[date, MonthFigure] = {}
    for r in _plan_rows(session, org_code):
        f = out.setdefault(r.month, MonthFigure(r.month, 0.0, 0.0, 0.0, 0))
        f.planned_fte += r.planned_fte or 0.0
        f.actual_fte += r.actual_fte
        f.vacancies_fte += _gap(r)
        f.headcount += r.headcount
    return [_rounded(out[m]) for m in sorted(out)]


def by_group(
    session: Session, month: date | None = None, org_code: str | None = None
) -> list[GroupFigure]:
    """Planned and actual FTE and vacancies by staff group in `month` (default: the latest)."""
    rows = _plan_rows(session, org_code)
    if not rows:
        return []
    month = month or max(r.month for r in rows)
    out = {g: GroupFigure(g, 0.0, 0.0, 0.0) for g in STAFF_GROUPS}
    for r in rows:
        if r.month != month:
            continue
        f = out[r.staff_group]
        f.planned_fte += r.planned_fte or 0.0
        f.actual_fte += r.actual_fte
        f.vacancies_fte += _gap(r)
    return [_rounded(f) for f in out.values() if f.planned_fte or f.actual_fte]


def _rounded(f: Any) -> Any:
    for name in ("planned_fte", "actual_fte", "vacancies_fte"):
        setattr(f, name, round(getattr(f, name), 1))
    return f


def new_roles(
    session: Session, month: date | None = None, org_code: str | None = None
) -> list[dict[str, Any]]:
    """Staff in post in the new roles in `month` (default: the latest), by role."""
    stmt = select(NewRoleMonth)
    if org_code:
        stmt = stmt.where(NewRoleMonth.org_code == org_code)
    rows = list(session.scalars(stmt))
    if not rows:
        return []
    month = month or max(r.month for r in rows)
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for r in rows:
        if r.month == month:
            totals[r.role][0] += r.fte
            totals[r.role][1] += r.headcount
    return [
        {"role": role, "fte": round(v[0], 1), "headcount": int(v[1])}
        for role, v in sorted(totals.items())
    ]


def working_across(session: Session, on: date) -> list[dict[str, Any]]:
    """Active movements on `on`, counted by home and host organisation."""
    rows = session.execute(
        select(Movement.home_org_code, Movement.host_org_code, func.count())
        .where(Movement.status == "active", Movement.start_date <= on, Movement.end_date >= on)
        .group_by(Movement.home_org_code, Movement.host_org_code)
        .order_by(Movement.home_org_code, Movement.host_org_code)
    ).all()
    return [{"home": h, "host": g, "people": n} for h, g, n in rows]


def organisations_in_plan(session: Session) -> list[str]:
    return sorted(set(session.scalars(select(PlanMonth.org_code))))
