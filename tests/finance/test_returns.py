"""The monthly return: the workbook round trip, every bad cell named, nothing stored unless all
of it is valid; CSV and JSON through the same validator."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrated_care.finance import ledger, returns
from integrated_care.finance.chart import chart
from integrated_care.finance.ledger import By
from integrated_care.finance.models import LedgerEntry, MonthlyReturn
from integrated_care.finance.returns import CellProblem, ReturnRejected
from tests.finance.conftest import YEAR, D

BY = By("trust.finance", "RWE")
ROW = {line: returns.FIRST_LINE_ROW + i for i, line in enumerate(chart().lines)}
COL = "CDEFGHIJKLMN"  # April .. March


def fill(content: bytes, edits: dict[tuple[str, str], object]) -> bytes:
    wb = load_workbook(io.BytesIO(content))
    for (sheet, ref), value in edits.items():
        wb[sheet][ref] = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def month6(org: str, session: Session) -> bytes:
    """A return at month 6: income 1,000.00 and pay 600.50 every month; a one-off 25.00 in May."""
    edits: dict[tuple[str, str], object] = {}
    for m in range(12):
        edits[("Recurrent", f"{COL[m]}{ROW['income']}")] = 1000
        edits[("Recurrent", f"{COL[m]}{ROW['pay']}")] = 600.5
    edits[("Non-recurrent", f"D{ROW['income']}")] = "25.00"
    return fill(returns.template(session, org, YEAR, 6), edits)


def count(session: Session, model: type = LedgerEntry) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def upload(session: Session, org: str, content: bytes, fmt: str = "xlsx"):  # type: ignore[no-untyped-def]
    stored = returns.store(session, returns.read(fmt, content), org, BY, fmt=fmt, content=content)
    session.commit()
    return stored


def test_template_names_the_organisation_and_every_line(footprint_session: Session, orgs) -> None:
    wb = load_workbook(io.BytesIO(returns.template(footprint_session, orgs[0], YEAR, 6)))
    assert wb.sheetnames == ["Cover", "Recurrent", "Non-recurrent", "Plan (reference)"]
    assert (wb["Cover"]["B3"].value, wb["Cover"]["B4"].value, wb["Cover"]["B5"].value) == (
        orgs[0],
        YEAR,
        6,
    )
    sheet = wb["Recurrent"]
    assert [sheet[f"A{r}"].value for r in ROW.values()] == list(chart().lines)
    assert (sheet["H2"].value, sheet["I2"].value) == ("Actual", "Forecast")  # Sep, Oct


def test_a_valid_return_is_stored_as_actuals_and_forecasts(
    footprint_session: Session, orgs
) -> None:
    s, org = footprint_session, orgs[0]
    stored = upload(s, org, month6(org, s))
    assert (stored.cells, stored.entries_added, stored.unchanged) == (25, 25, 0)
    got = ledger.figures(s, YEAR, [org])
    kinds = {(f.line, f.month, f.recurrent): (f.kind, f.amount) for f in got}
    assert kinds[("income", 6, True)] == ("actual", D("1000.00"))
    assert kinds[("income", 7, True)] == ("forecast", D("1000.00"))
    assert kinds[("pay", 12, True)] == ("forecast", D("600.50"))
    assert kinds[("income", 2, False)] == ("actual", D("25.00"))
    row = s.get(MonthlyReturn, stored.id)
    assert (row.recorded_by, row.month, row.format, len(row.sha256)) == (BY.username, 6, "xlsx", 64)
    assert (row.cells, row.entries_added) == (25, 25)
    assert {e.return_id for e in s.scalars(select(LedgerEntry))} == {stored.id}
    # The template now comes back filled with what is held, and sending it again changes nothing.
    again = upload(s, org, returns.template(s, org, YEAR, 6))
    assert (again.entries_added, again.unchanged) == (0, 25)
    assert count(s) == 25


def test_a_return_with_one_bad_cell_is_rejected_whole(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    upload(s, org, month6(org, s))
    before = count(s), count(s, MonthlyReturn), ledger.figures(s, YEAR, [org])
    good = month6(org, s)
    bad = fill(good, {("Recurrent", f"E{ROW['pay']}"): "six hundred"})
    with pytest.raises(ReturnRejected) as rejected:
        returns.store(s, returns.read_xlsx(bad), org, BY, fmt="xlsx", content=bad)
    s.rollback()
    assert rejected.value.problems == [
        CellProblem("Recurrent", f"E{ROW['pay']}", "is not an amount in pounds", "six hundred")
    ]
    assert (count(s), count(s, MonthlyReturn), ledger.figures(s, YEAR, [org])) == before


def test_every_problem_is_named_by_sheet_and_cell(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    content = fill(
        returns.template(s, org, YEAR, 6),
        {
            ("Cover", "B3"): orgs[1],
            ("Cover", "B4"): "2026/28",
            ("Recurrent", f"C{ROW['pay']}"): 1234.567,
            ("Recurrent", f"O{ROW['pay']}"): 5,
            ("Recurrent", f"D{ROW['non_pay']}"): "=1+1",
            ("Recurrent", "A40"): "bonus",
            ("Recurrent", "C40"): 10,
            ("Non-recurrent", "F41"): 3,
            ("Non-recurrent", "D3"): "April",
        },
    )
    with pytest.raises(ReturnRejected) as rejected:
        returns.store(s, returns.read_xlsx(content), org, BY, fmt="xlsx", content=content)
    where = {(p.sheet, p.cell): p.reason for p in rejected.value.problems}
    assert where == {
        ("Cover", "B3"): f"this return is for {org}",
        ("Cover", "B4"): "financial year '2026/28': 28 does not follow 2026",
        ("Recurrent", f"C{ROW['pay']}"): "has fractions of a penny",
        ("Recurrent", f"O{ROW['pay']}"): "outside the return's table: columns run April to "
        "March only",
        ("Recurrent", f"D{ROW['non_pay']}"): "a formula with no calculated value: save the "
        "file in Excel, or paste values",
        ("Recurrent", "A40"): "not a line of the chart",
        ("Non-recurrent", "F41"): "a figure on a row with no line code",
        ("Non-recurrent", "D3"): "this column should be May: columns were moved",
    }
    assert count(s) == 0 and count(s, MonthlyReturn) == 0


def test_spreadsheet_arithmetic_is_read_to_the_penny(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    content = fill(returns.template(s, org, YEAR, 1), {("Recurrent", f"C{ROW['pay']}"): 0.1 + 0.2})
    upload(s, org, content)
    [pay] = [f for f in ledger.figures(s, YEAR, [org]) if f.line == "pay"]
    assert pay.amount == D("0.30")


def test_missing_sheet_and_not_a_workbook(footprint_session: Session, orgs) -> None:
    wb = load_workbook(io.BytesIO(returns.template(footprint_session, orgs[0], YEAR, 6)))
    del wb["Non-recurrent"]
    out = io.BytesIO()
    wb.save(out)
    problems = returns.read_xlsx(out.getvalue()).problems
    assert problems == [CellProblem("Non-recurrent", "A1", "this sheet is missing")]
    assert returns.read_xlsx(b"not a workbook").problems[0].reason.startswith("not an Excel")


CSV_HEAD = ",".join(returns.CSV_COLUMNS)


def test_csv_return_through_the_same_validator(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    rows = [f"{org},{YEAR},3,income,{m},true,1000.00" for m in range(1, 13)]
    rows.append(f"{org},{YEAR},3,pay,3,false,12.34")
    upload(s, org, "\n".join([CSV_HEAD, *rows]).encode(), fmt="csv")
    got = {(f.line, f.month, f.kind, f.recurrent): f.amount for f in ledger.figures(s, YEAR)}
    assert got[("income", 3, "actual", True)] == D("1000.00")
    assert got[("income", 4, "forecast", True)] == D("1000.00")
    assert got[("pay", 3, "actual", False)] == D("12.34")
    bad = [
        CSV_HEAD,
        f"{org},{YEAR},3,income,1,true,5",
        f"{org},{YEAR},3,income,2,maybe,5",
        f"{org},{YEAR},3,pay,13,true,5",
        f"{org},{YEAR},3,pay,1,true,£1.999",
    ]
    before = count(s)
    with pytest.raises(ReturnRejected) as rejected:
        upload(s, org, "\n".join(bad).encode(), fmt="csv")
    s.rollback()
    assert [(p.cell, p.reason) for p in rejected.value.problems] == [
        ("F3", "recurrent should be true or false"),
        ("G5", "has fractions of a penny"),
        ("D4", "month should be 1 to 12"),
    ]
    assert count(s) == before


def test_csv_cover_problems_name_their_cells(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    rows = [CSV_HEAD, f"{org},{YEAR},13,income,1,true,5", f"{org},2026/27x,13,income,2,true,5"]
    with pytest.raises(ReturnRejected) as rejected:
        upload(s, org, "\n".join(rows).encode(), fmt="csv")
    assert [(p.cell, p.reason) for p in rejected.value.problems] == [
        ("B3", "every row should have the same financial_year as the first (2026/27)"),
        ("C2", "the return's month should be 1 (April) to 12 (March)"),
    ]
    with pytest.raises(ReturnRejected) as empty:
        upload(s, org, CSV_HEAD.encode(), fmt="csv")
    assert [(p.cell, p.reason) for p in empty.value.problems][:1] == [
        ("A2", "the return has no figures")
    ]


def test_json_return_is_exact_and_names_the_bad_figure(footprint_session: Session, orgs) -> None:
    s, org = footprint_session, orgs[0]
    doc = {
        "org_code": org,
        "financial_year": YEAR,
        "month": 2,
        "figures": [
            {"line": "income", "month": 1, "amount": 123456789.01},
            {"line": "pay", "month": 1, "amount": "0.10", "recurrent": False},
        ],
    }
    # json.dumps writes 123456789.01 as it is; the reader parses it as a Decimal, not a float.
    upload(s, org, json.dumps(doc).encode(), fmt="json")
    got = {(f.line, f.recurrent): f.amount for f in ledger.figures(s, YEAR)}
    assert got == {("income", True): D("123456789.01"), ("pay", False): D("0.10")}
    doc["figures"][1]["amount"] = "ten pence"
    doc["figures"].append({"line": "pay", "month": 0, "amount": 1})
    with pytest.raises(ReturnRejected) as rejected:
        upload(s, org, json.dumps(doc).encode(), fmt="json")
    assert [(p.sheet, p.cell) for p in rejected.value.problems] == [
        ("json", "/figures/1/amount"),
        ("json", "/figures/2/line"),
    ]
