"""Loading the input layer's finance extract as a year in progress, on a small hand-made
extract in the shape `ics synth` writes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrated_care.accounts.models import AuditEvent
from integrated_care.finance import ledger
from integrated_care.finance.extract import import_extract
from integrated_care.finance.models import LedgerEntry
from integrated_care.finance.positions import system_position
from tests.finance.conftest import D

YEAR = "2025/26"
MONEY = pa.decimal128(18, 2)


def write_extract(folder: Path, org: str) -> None:
    """One organisation: plan income 100 / pay 90 a month; actuals for all twelve months
    (income 100, pay 95), April's pay corrected to 93; forecast from October: pay 96.
    And a control total for an organisation the footprint does not have."""
    rows: list[tuple] = []

    def add(month: int, line: str, kind: str, amount: str, supersedes: int | None = None) -> int:
        rows.append(
            (
                len(rows) + 1,
                org,
                YEAR,
                month,
                line,
                kind,
                Decimal(amount),
                datetime(2025, 4, 1),
                supersedes,
            )
        )
        return len(rows)

    first_pay = None
    for m in range(1, 13):
        add(m, "income", "plan", "100.00")
        add(m, "pay", "plan", "90.00")
        add(m, "income", "actual", "100.00")
        entry = add(m, "pay", "actual", "95.00")
        first_pay = first_pay or entry
        if m > 6:
            add(m, "income", "forecast", "100.00")
            add(m, "pay", "forecast", "96.00")
    add(1, "pay", "actual", "93.00", supersedes=first_pay)
    names = [
        "entry_id",
        "org_code",
        "financial_year",
        "month",
        "line",
        "kind",
        "amount",
        "recorded_at",
        "supersedes",
    ]
    columns = list(zip(*rows, strict=True))
    types = [
        pa.int64(),
        pa.string(),
        pa.string(),
        pa.int64(),
        pa.string(),
        pa.string(),
        MONEY,
        pa.timestamp("us"),
        pa.int64(),
    ]
    table = pa.table([pa.array(c, t) for c, t in zip(columns, types, strict=True)], names=names)
    pq.write_table(table, folder / "finance_ledger.parquet")
    totals = pa.table(
        {
            "org_code": [org, "ZZZ99"],
            "financial_year": [YEAR, YEAR],
            "control_total": pa.array([Decimal("120.00"), Decimal("5.00")], MONEY),
        }
    )
    pq.write_table(totals, folder / "finance_control_totals.parquet")


def test_the_extract_loads_as_a_year_in_progress(
    footprint_session: Session, orgs, tmp_path: Path
) -> None:
    s, org = footprint_session, orgs[0]
    write_extract(tmp_path, org)
    report = import_extract(s, tmp_path)
    s.commit()
    assert (report.financial_year, report.as_at_month, report.plans_created) == (YEAR, 6, 1)
    assert report.unknown_organisations == ["ZZZ99"]
    assert report.later_actuals_left_out == 12
    # 12 actuals to September (+1 correction) and 12 forecasts after it.
    assert report.entries_added == 12 + 1 + 12
    assert ledger.control_totals(s, YEAR) == {org: D("120.00")}
    [version] = ledger.plan_versions(s, org, YEAR)
    assert (version.status, version.of_record, version.recorded_by) == (
        "agreed",
        True,
        "finance-import",
    )
    view = system_position(YEAR, ledger.figures(s, YEAR), ledger.control_totals(s, YEAR))
    p = view.system
    # To date: 6 x (100 - 95) + 2 for April's correction = 32, against a plan of 60.
    # Forecast: 6 x (100 - 96) = 24, so the outturn is 56 against a control total of 120.
    assert (view.as_at_month, p.actual_ytd, p.plan_ytd, p.forecast_outturn) == (
        6,
        D(32),
        D(60),
        D(56),
    )
    assert p.variance_to_control_total == D(-64) and not p.meets_control_total
    april = [
        e
        for e in s.scalars(
            select(LedgerEntry).where(
                LedgerEntry.month == 1, LedgerEntry.line == "pay", LedgerEntry.kind == "actual"
            )
        )
    ]
    assert [(e.amount, e.reason) for e in ledger.entry_history(s, april[0].id)] == [
        (D("95.00"), None),
        (D("93.00"), "correction in the finance extract"),
    ]
    audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "finance.import")).one()
    assert audit.detail["entries_added"] == 25 and audit.actor == "ics-cli"
    again = import_extract(s, tmp_path)
    s.commit()
    assert (again.entries_added, again.plans_created, again.control_totals_set) == (0, 0, 0)
    assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 24 + 25


def write_detail(folder: Path, org: str) -> None:
    """The detail the input layer's ledger cannot carry: an efficiency plan of 10 a month, 6
    of it recurrent and 4 one-off; delivered 3 recurrent and 5 one-off a month to September and
    forecast the same after; a one-off strike cost of 7 in June."""
    rows: list[dict] = []

    def add(month: int, line: str, kind: str, recurrent: bool, amount: str) -> None:
        rows.append({"entry_id": len(rows) + 1, "org_code": org, "financial_year": YEAR,
                     "month": month, "line": line, "kind": kind, "recurrent": recurrent,
                     "amount": Decimal(amount), "recorded_at": datetime(2025, 4, 1)})  # fmt: skip

    for m in range(1, 13):
        add(m, "efficiency", "plan", True, "6.00")
        add(m, "efficiency", "plan", False, "4.00")
        add(m, "efficiency", "actual" if m <= 6 else "forecast", True, "3.00")
        add(m, "efficiency", "actual" if m <= 6 else "forecast", False, "5.00")
    add(3, "industrial_action", "actual", False, "7.00")
    (folder / "finance_detail").mkdir()
    table = pa.Table.from_pylist(rows)
    table = table.set_column(7, "amount", pa.array([r["amount"] for r in rows], MONEY))
    pq.write_table(table, folder / "finance_detail" / "ledger_detail.parquet")


def test_the_detail_gives_underlying_and_reported_positions_and_drivers(
    footprint_session: Session, orgs, tmp_path: Path
) -> None:
    s, org = footprint_session, orgs[0]
    write_extract(tmp_path, org)
    write_detail(tmp_path, org)
    report = import_extract(s, tmp_path)
    s.commit()
    assert report.entries_added == 25 + 12 * 2 + 1
    flags = {(f.line, f.recurrent) for f in ledger.figures(s, YEAR) if f.kind == "actual"}
    assert ("efficiency", False) in flags and ("industrial_action", False) in flags
    p = system_position(YEAR, ledger.figures(s, YEAR), ledger.control_totals(s, YEAR)).system
    # Reported outturn: 56 from the main lines (above) + 12 x (3 + 5) efficiency - 7 strike
    # = 145, against a plan of 120 + 12 x 10 = 240. Underlying (recurrent only): 56 + 12 x 3
    # = 92 against 120 + 12 x 6 = 192; non-recurrent 12 x 5 - 7 = 53 against 48 planned.
    assert (p.forecast_outturn, p.plan_full_year) == (D(145), D(240))
    assert (p.underlying_outturn, p.underlying_plan) == (D(92), D(192))
    assert (p.non_recurrent_outturn, p.non_recurrent_plan) == (D(53), D(48))
    drivers = p.forecast_variance_by_driver
    # Efficiency: 96 delivered against 120 planned; strike days 7 unplanned; pay: 12 x 90 plan
    # against 6 x 95 - 2 + 6 x 96 actual and forecast = 1,144, so 64 adverse.
    assert (drivers["efficiency"], drivers["industrial_action"], drivers["pay"]) == (
        D(-24),
        D(-7),
        D(-64),
    )
    again = import_extract(s, tmp_path)
    assert again.entries_added == 0
