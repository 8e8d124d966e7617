"""The workforce plan from hand-made staff and plan rows: actual FTE is the FTE in post on the
first of each month, vacancies are per organisation and staff group, new roles are counted; the
extract loader reads the input layer's Parquet; the demo builds a plan and three movements."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from integrated_care.workforce import demo, plan
from integrated_care.workforce.common import Actor
from integrated_care.workforce.models import Movement
from tests.workforce.conftest import Orgs

FY = "2025/26"


def test_month_of_the_financial_year() -> None:
    assert plan.month_of(FY, 1) == date(2025, 4, 1)
    assert plan.month_of(FY, 9) == date(2025, 12, 1)
    assert plan.month_of(FY, 10) == date(2026, 1, 1)
    assert plan.month_of(FY, 12) == date(2026, 3, 1)


def _hand_made(orgs: Orgs) -> tuple[list[dict], list[dict]]:
    a, b = orgs.home, orgs.host
    staff = [
        # in post all year
        {
            "employer_code": a,
            "staff_group": "nursing",
            "role": "Staff nurse",
            "fte": 1.0,
            "start_date": date(2020, 1, 1),
            "end_date": None,
        },
        # joins on 1 May (counts from May)
        {
            "employer_code": a,
            "staff_group": "nursing",
            "role": "Advanced nurse practitioner",
            "fte": 0.8,
            "start_date": date(2025, 5, 1),
            "end_date": None,
        },
        # leaves 30 April (in post on 1 April only)
        {
            "employer_code": a,
            "staff_group": "medical",
            "role": "Consultant",
            "fte": 0.5,
            "start_date": date(2019, 1, 1),
            "end_date": date(2025, 4, 30),
        },
        {
            "employer_code": b,
            "staff_group": "nursing",
            "role": "Practice nurse",
            "fte": 3.0,
            "start_date": date(2018, 1, 1),
            "end_date": None,
        },
        {
            "employer_code": "ZZZ99",
            "staff_group": "nursing",
            "role": "Staff nurse",
            "fte": 1.0,
            "start_date": date(2018, 1, 1),
            "end_date": None,
        },
    ]
    rows = (
        [
            {
                "org_code": a,
                "financial_year": FY,
                "month": m,
                "staff_group": "nursing",
                "planned_fte": 2.0,
            }
            for m in (1, 2)
        ]
        + [
            {
                "org_code": a,
                "financial_year": FY,
                "month": m,
                "staff_group": "medical",
                "planned_fte": 0.5,
            }
            for m in (1, 2)
        ]
        + [
            {
                "org_code": b,
                "financial_year": FY,
                "month": m,
                "staff_group": "nursing",
                "planned_fte": 2.0,
            }
            for m in (1, 2)
        ]
    )
    return staff, rows


def test_planned_actual_and_vacancies(footprint_session: Session, orgs: Orgs) -> None:
    staff, rows = _hand_made(orgs)
    plan_rows, role_rows, unknown = plan.build_months(staff, rows, {orgs.home, orgs.host})
    assert unknown == ["ZZZ99"]
    plan.store_months(footprint_session, Actor("x"), plan_rows, role_rows, "test")
    months = plan.by_month(footprint_session)
    # April: planned 2 + 0.5 + 2 = 4.5; actual 1.0 + 0.5 + 3.0 = 4.5; vacancies: a nursing 1.0
    # (b's 1.0 over-establishment does not fill it)
    assert [
        (m.month, m.planned_fte, m.actual_fte, m.vacancies_fte, m.headcount) for m in months
    ] == [
        (date(2025, 4, 1), 4.5, 4.5, 1.0, 3),
        # May: a nursing 1.8 (gap 0.2), a medical 0 (gap 0.5), b 3.0
        (date(2025, 5, 1), 4.5, 4.8, 0.7, 3),
    ]
    home = plan.by_month(footprint_session, orgs.home)
    assert [(m.planned_fte, m.actual_fte) for m in home] == [(2.5, 1.5), (2.5, 1.8)]
    groups = plan.by_group(footprint_session)  # latest month: May
    assert [(g.staff_group, g.planned_fte, g.actual_fte, g.vacancies_fte) for g in groups] == [
        ("medical", 0.5, 0.0, 0.5),
        ("nursing", 4.0, 4.8, 0.2),
    ]
    assert plan.new_roles(footprint_session) == [
        {"role": "Advanced nurse practitioner", "fte": 0.8, "headcount": 1}
    ]
    assert plan.new_roles(footprint_session, date(2025, 4, 1)) == []


def test_load_from_the_extract(footprint_session: Session, orgs: Orgs, tmp_path: Path) -> None:
    staff, rows = _hand_made(orgs)
    for i, s in enumerate(staff):
        s["staff_id"] = i + 1
    pq.write_table(pa.Table.from_pylist(staff), tmp_path / "staff.parquet")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "workforce_plan.parquet")
    assert plan.has_extract(tmp_path)
    report = plan.load_extract(footprint_session, tmp_path, Actor("x"))
    assert (report.months, report.organisations, report.unknown_organisations) == (2, 2, ["ZZZ99"])
    assert [m.actual_fte for m in plan.by_month(footprint_session)] == [4.5, 4.8]


def test_demo_without_an_extract(footprint_session: Session, tmp_path: Path) -> None:
    today = date(2026, 11, 25)
    outcome = demo.load_demo(footprint_session, tmp_path, today=today)
    assert "generated plan" in outcome
    statuses = sorted(m.status for m in footprint_session.query(Movement))
    assert statuses == ["active", "consented", "requested"]
    months = plan.by_month(footprint_session)
    assert len(months) == 12 and months[0].month == date(2026, 4, 1)
    assert {r["role"] for r in plan.new_roles(footprint_session)} == {
        "Advanced nurse practitioner",
        "Physician associate",
    }
    assert plan.working_across(footprint_session, today)[0]["people"] == 1
    assert demo.load_demo(footprint_session, tmp_path, today=today) == "workforce already loaded"
