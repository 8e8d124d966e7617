"""The ledger: versioned plans, superseding corrections, control totals, and a database that
refuses to overwrite or delete a figure, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from integrated_care.finance import ledger
from integrated_care.finance.chart import chart, check_financial_year, month_label
from integrated_care.finance.ledger import By, EntryInput, LedgerError, PlanFigure
from integrated_care.finance.models import ControlTotal, LedgerEntry
from tests.finance.conftest import ICB_FINANCE, YEAR, D

TRUST_FINANCE = By("trust.finance", "RWE")


def plan(*amounts: str) -> list[PlanFigure]:
    """Twelve months of income at the given monthly amount(s), and pay at 60% of it."""
    out = []
    for m in range(1, 13):
        income = D(amounts[(m - 1) % len(amounts)])
        out += [PlanFigure(m, "income", income), PlanFigure(m, "pay", income * D("0.6"))]
    return out


def actual(org: str, month: int, line: str, amount: str, kind: str = "actual") -> EntryInput:
    return EntryInput(org, YEAR, month, line, kind, D(amount))


def test_chart_has_every_driver_of_the_issue() -> None:
    c = chart()
    assert set(c.drivers) == {
        "pay",
        "non_pay",
        "income",
        "efficiency",
        "activity",
        "inflation",
        "industrial_action",
        "other",
    }
    assert {line.driver for line in c.lines.values()} == set(c.drivers)
    assert c.lines["income"].sign == 1 and c.lines["pay"].sign == -1
    assert c.lines["efficiency"].sign == 1  # a saving adds to the surplus


def test_financial_years_and_months() -> None:
    assert check_financial_year("2026/27") == "2026/27"
    for bad in ("2026/28", "2026-27", "26/27", ""):
        with pytest.raises(ValueError):
            check_financial_year(bad)
    assert month_label(1, "2026/27") == "Apr 2026"
    assert month_label(12, "2026/27") == "Mar 2027"


def test_money_is_exact_and_never_a_float() -> None:
    assert ledger.money("1,234.50") == D("1234.50")
    assert ledger.money(7) == D("7.00")
    for bad in (0.1, "1.005", "abc", "NaN", True):
        with pytest.raises(ValueError):
            ledger.money(bad)


def test_plan_versions_submitted_revised_agreed(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    v1 = ledger.create_plan_version(s, org, YEAR, plan("1000.00"), TRUST_FINANCE, "first cut")
    v2 = ledger.create_plan_version(s, org, YEAR, plan("1100.00"), TRUST_FINANCE, "revised")
    s.commit()
    assert (v1.number, v2.number, v2.based_on_id) == (1, 2, v1.id)
    assert [v.status for v in ledger.plan_versions(s, org, YEAR)] == ["submitted", "revised"]
    # Until one is agreed, the latest version is the plan of record.
    assert ledger.plan_of_record(s, org, YEAR).id == v2.id
    with pytest.raises(LedgerError, match="replaced by version 2"):
        ledger.agree_plan(s, v1.id, ICB_FINANCE)
    ledger.agree_plan(s, v2.id, ICB_FINANCE, "agreed at the May board")
    with pytest.raises(LedgerError, match="already agreed"):
        ledger.agree_plan(s, v2.id, ICB_FINANCE)
    # A later revision does not displace the agreed plan until it is itself agreed.
    v3 = ledger.create_plan_version(s, org, YEAR, plan("900.00"), TRUST_FINANCE)
    s.commit()
    versions = ledger.plan_versions(s, org, YEAR)
    assert [(v.number, v.status, v.of_record) for v in versions] == [
        (1, "submitted", False),
        (2, "agreed", True),
        (3, "revised", False),
    ]
    income = [f for f in ledger.figures(s, YEAR, [org]) if f.line == "income"]
    assert len(income) == 12 and sum(f.amount for f in income) == D("13200.00")
    ledger.agree_plan(s, v3.id, ICB_FINANCE)
    income = [f for f in ledger.figures(s, YEAR, [org]) if f.line == "income"]
    assert sum(f.amount for f in income) == D("10800.00")


def test_plan_with_a_bad_figure_is_refused_whole(footprint_session: Session, orgs) -> None:
    s = footprint_session
    bad = [
        PlanFigure(1, "income", D("10")),
        PlanFigure(13, "income", D("10")),
        PlanFigure(2, "bonus", D("10")),
    ]
    with pytest.raises(LedgerError) as refused:
        ledger.create_plan_version(s, orgs[0], YEAR, bad, TRUST_FINANCE)
    assert len(refused.value.problems) == 2
    with pytest.raises(LedgerError, match="not an organisation"):
        ledger.create_plan_version(s, "ZZZ99", YEAR, plan("1"), TRUST_FINANCE)
    s.rollback()
    assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_a_new_figure_supersedes_and_a_repeat_changes_nothing(
    footprint_session: Session, orgs
) -> None:
    s, org = footprint_session, orgs[0]
    first = ledger.record_entries(s, [actual(org, 1, "pay", "600.00")], TRUST_FINANCE)
    again = ledger.record_entries(s, [actual(org, 1, "pay", "600.00")], TRUST_FINANCE)
    fixed = ledger.record_entries(
        s, [actual(org, 1, "pay", "650.25")], ICB_FINANCE, reason="late invoice"
    )
    s.commit()
    assert (len(first.added), again.unchanged, len(again.added), fixed.superseded) == (1, 1, 0, 1)
    [in_force] = [f for f in ledger.figures(s, YEAR, [org]) if f.kind == "actual"]
    assert in_force.amount == D("650.25")
    history = ledger.entry_history(s, first.added[0].id)
    assert [(e.amount, e.recorded_by, e.reason) for e in history] == [
        (D("600.00"), "trust.finance", None),
        (D("650.25"), "icb.finance", "late invoice"),
    ]
    assert history[1].supersedes_id == history[0].id
    assert history[0].recorded_at <= history[1].recorded_at
    correction = ledger.correct_entry(s, history[1].id, "640.00", TRUST_FINANCE, "credit note")
    with pytest.raises(LedgerError, match="already been superseded"):
        ledger.correct_entry(s, history[0].id, "1.00", TRUST_FINANCE, "wrong one")
    with pytest.raises(LedgerError, match="needs a reason"):
        ledger.correct_entry(s, correction.id, "1.00", TRUST_FINANCE, " ")
    s.commit()
    assert [e.amount for e in ledger.entry_history(s, correction.id)] == [
        D("600.00"),
        D("650.25"),
        D("640.00"),
    ]
    assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 3


def test_a_batch_with_one_bad_entry_records_nothing(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    batch = [
        actual(org, 1, "pay", "1.00"),
        actual(org, 2, "pay", "1.001"),
        actual(org, 3, "pay", "2.00"),
        actual(org, 3, "pay", "3.00"),
    ]
    with pytest.raises(LedgerError) as refused:
        ledger.record_entries(s, batch, TRUST_FINANCE)
    assert refused.value.problems == [
        "entry 2: 1.001 has fractions of a penny",
        "entry 4: the same cell is given twice",
    ]
    assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_recurrent_and_non_recurrent_are_separate_figures(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    one_off = EntryInput(org, YEAR, 4, "income", "actual", D("50.00"), recurrent=False)
    ledger.record_entries(s, [actual(org, 4, "income", "1000.00"), one_off], TRUST_FINANCE)
    s.commit()
    got = sorted((f.recurrent, f.amount) for f in ledger.figures(s, YEAR))
    assert got == [(False, D("50.00")), (True, D("1000.00"))]


def test_control_totals_and_the_system_total_is_their_sum(footprint_session: Session, orgs) -> None:
    s = footprint_session
    for org, amount in zip(orgs, ("1000000.00", "-250000.50", "0.00"), strict=True):
        ledger.set_control_total(s, org, YEAR, amount, ICB_FINANCE)
    assert ledger.set_control_total(s, orgs[2], YEAR, "0.00", ICB_FINANCE) is None
    with pytest.raises(LedgerError, match="needs a reason"):
        ledger.set_control_total(s, orgs[1], YEAR, "-200000", ICB_FINANCE)
    ledger.set_control_total(s, orgs[1], YEAR, "-200000", ICB_FINANCE, "revised by NHSE")
    s.commit()
    totals = ledger.control_totals(s, YEAR)
    assert totals == {orgs[0]: D("1000000.00"), orgs[1]: D("-200000.00"), orgs[2]: D("0.00")}
    assert ledger.system_control_total(s, YEAR) == D("800000.00")
    assert s.scalar(select(func.count()).select_from(ControlTotal)) == 4
    assert ledger.financial_years(s) == [YEAR]


# The database itself: append-only, one chain per cell ---------------------------------------


def _fails(s: Session, statement: str, **params: object) -> None:
    with pytest.raises(DBAPIError):
        s.execute(text(statement), params)
        s.flush()
    s.rollback()


def test_the_database_refuses_updates_and_deletes(footprint_session: Session, orgs) -> None:
    s = footprint_session
    v = ledger.create_plan_version(s, orgs[0], YEAR, plan("10"), TRUST_FINANCE)
    ledger.record_entries(s, [actual(orgs[0], 1, "pay", "6")], TRUST_FINANCE)
    ledger.set_control_total(s, orgs[0], YEAR, "1", ICB_FINANCE)
    s.commit()
    for table in (
        "finance_entry",
        "finance_control_total",
        "finance_plan_version",
        "finance_plan_status",
    ):
        _fails(s, f"UPDATE {table} SET recorded_by = 'someone else'")
        _fails(s, f"DELETE FROM {table}")
    _fails(s, "UPDATE finance_entry SET amount_pence = 1 WHERE plan_version_id = :v", v=v.id)
    if s.get_bind().dialect.name == "postgresql":
        _fails(s, "TRUNCATE finance_entry CASCADE")
    assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 25


def _raw_entry(s: Session, org: str, month: int, line: str, amount: str, **kw: object) -> None:
    s.add(
        LedgerEntry(
            org_code=org,
            financial_year=YEAR,
            month=month,
            line=line,
            kind="actual",
            recurrent=True,
            amount=D(amount),
            source="manual",
            recorded_by="x",
            **kw,
        )
    )
    s.flush()


def test_the_database_keeps_one_chain_per_cell(footprint_session: Session, orgs) -> None:
    """Even code that bypasses the ledger's functions cannot fork or cross a cell's history."""
    s, org = footprint_session, orgs[0]
    first = ledger.record_entries(s, [actual(org, 1, "pay", "6")], TRUST_FINANCE).added[0]
    other = ledger.record_entries(s, [actual(org, 2, "pay", "7")], TRUST_FINANCE).added[0]
    s.commit()
    with pytest.raises(DBAPIError):  # a second figure for a cell that has one
        _raw_entry(s, org, 1, "pay", "9")
    s.rollback()
    with pytest.raises(DBAPIError):  # a correction naming another cell's figure
        _raw_entry(s, org, 1, "pay", "9", supersedes_id=other.id)
    s.rollback()
    _raw_entry(s, org, 1, "pay", "9", supersedes_id=first.id)
    s.commit()
    with pytest.raises(DBAPIError):  # superseding the same figure twice
        _raw_entry(s, org, 1, "pay", "10", supersedes_id=first.id)
    s.rollback()
    assert [f.amount for f in ledger.figures(s, YEAR) if f.month == 1] == [D("9.00")]


def test_float_amounts_never_reach_the_database(footprint_session: Session, orgs) -> None:
    s = footprint_session
    s.add(
        LedgerEntry(
            org_code=orgs[0],
            financial_year=YEAR,
            month=1,
            line="pay",
            kind="actual",
            amount=0.1,
            source="manual",
            recorded_by="x",
        )
    )
    with pytest.raises(Exception, match="never a float"):
        s.flush()


def test_pence_survive_large_sums(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    months = [actual(org, m, "income", "123456789.01") for m in range(1, 13)]
    ledger.record_entries(s, months, TRUST_FINANCE)
    s.commit()
    total = sum(f.amount for f in ledger.figures(s, YEAR))
    assert total == D("1481481468.12") and isinstance(total, Decimal)
