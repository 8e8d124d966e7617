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
