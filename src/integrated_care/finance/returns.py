"""The monthly return: a workbook per organisation, and the one validator for xlsx, CSV and JSON.

A return for month M of a year carries, for every line of the chart, actuals for April to month
M and the forecast for the months after, on two sheets (recurrent and non-recurrent figures).
Every cell is checked and every problem named by sheet, cell and reason; the ledger changes only
if the whole return is valid, and then in the caller's one transaction. A blank cell means "no
figure given" (the figure in force stays); enter 0 to report nothing spent or earned.

Spreadsheet numbers arrive as binary floats; a value is accepted when, read to Excel's 15
significant digits, it is whole pence (so 0.1 + 0.2 computed in Excel is 0.30), and refused if
it has fractions of a penny.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from integrated_care.finance import ledger
from integrated_care.finance.chart import MONTHS, chart, check_financial_year, month_label
from integrated_care.finance.ledger import By, EntryInput
from integrated_care.finance.models import PENNY, MonthlyReturn

COVER, RECURRENT, NON_RECURRENT, PLAN = "Cover", "Recurrent", "Non-recurrent", "Plan (reference)"
FIGURE_SHEETS = {RECURRENT: True, NON_RECURRENT: False}
FIRST_LINE_ROW = 4  # rows 1-3: title, actual/forecast, month names
FIRST_MONTH_COLUMN = 3  # A: line code, B: line name, C..N: April..March
COVER_CELLS = {"org_code": "B3", "financial_year": "B4", "month": "B5"}
CSV_COLUMNS = ("org_code", "financial_year", "return_month", "line", "month", "recurrent", "amount")
MAX_BYTES = 5_000_000
MAX_ROWS = 500


@dataclass(frozen=True)
class CellProblem:
    """One thing wrong with a return: where (sheet and cell) and why."""

    sheet: str
    cell: str  # A1 reference (xlsx, CSV) or JSON pointer
    reason: str
    value: str | None = None

    def __str__(self) -> str:
        shown = f" (value {self.value!r})" if self.value is not None else ""
        return f"{self.sheet}!{self.cell}: {self.reason}{shown}"


class ReturnRejected(ValueError):
    """The return was not stored; `problems` names every cell at fault."""

    def __init__(self, problems: Sequence[CellProblem]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s): " + "; ".join(map(str, problems[:5])))


@dataclass(frozen=True)
class ReturnCell:
    sheet: str
    cell: str
    line: str
    month: int
    recurrent: bool
    amount: Decimal


@dataclass
class ParsedReturn:
    """A return read from its file: the cover, the figures and any problem met reading them."""

    org_code: Any = None
    financial_year: Any = None
    month: Any = None
    cells: list[ReturnCell] = field(default_factory=list)
    problems: list[CellProblem] = field(default_factory=list)
    cover_at: dict[str, tuple[str, str]] = field(default_factory=dict)  # field -> (sheet, cell)


@dataclass(frozen=True)
class StoredReturn:
    id: str
    org_code: str
    financial_year: str
    month: int
    cells: int
    entries_added: int
    unchanged: int


# Reading a value ---------------------------------------------------------------------------


def _amount(value: Any) -> Decimal:
    """A spreadsheet, CSV or JSON value as pounds and pence, or ValueError saying why not."""
    if isinstance(value, bool | datetime | date | time):
        raise ValueError("is not an amount in pounds")
    if isinstance(value, float):
        value = Decimal(format(value, ".15g"))
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    else:
        text = str(value).strip().replace(",", "").removeprefix("£")
        try:
            amount = Decimal(text)
        except ArithmeticError:
            raise ValueError("is not an amount in pounds") from None
    if not amount.is_finite():
        raise ValueError("is not an amount in pounds")
    if amount != amount.quantize(PENNY):
        raise ValueError("has fractions of a penny")
    if abs(amount) >= Decimal("1e12"):
        raise ValueError("is larger than any organisation's budget")
    return amount.quantize(PENNY)


def _shown(value: Any) -> str:
    return str(value)[:100]


# The one validator -------------------------------------------------------------------------


def validate(session: Session, parsed: ParsedReturn, expected_org: str) -> list[CellProblem]:
    """Every problem with a parsed return, whatever format it came in."""
    problems = list(parsed.problems)

    def at(name: str) -> tuple[str, str]:
        return parsed.cover_at.get(name, (COVER, COVER_CELLS[name]))

    org = parsed.org_code
    if org != expected_org:
        problems.append(
            CellProblem(*at("org_code"), f"this return is for {expected_org}", _shown(org))
        )
    elif ledger.unknown_organisations(session, [org]):
        problems.append(CellProblem(*at("org_code"), "not an organisation of this ICS", org))
    try:
        check_financial_year(str(parsed.financial_year))
    except ValueError as e:
        problems.append(CellProblem(*at("financial_year"), str(e)))
    month = parsed.month
    if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
        problems.append(
            CellProblem(
                *at("month"), "the return's month should be 1 (April) to 12 (March)", _shown(month)
            )
        )
    seen: dict[tuple[str, int, bool], str] = {}
    lines = chart().lines
    for c in parsed.cells:
        if c.line not in lines:
            problems.append(CellProblem(c.sheet, c.cell, "not a line of the chart", c.line))
        if not 1 <= c.month <= 12:
            problems.append(CellProblem(c.sheet, c.cell, "month should be 1 to 12", str(c.month)))
        key = (c.line, c.month, c.recurrent)
        if key in seen:
            problems.append(CellProblem(c.sheet, c.cell, f"the same figure is at {seen[key]}"))
        seen.setdefault(key, f"{c.sheet}!{c.cell}")
    return problems


def store(
    session: Session,
    parsed: ParsedReturn,
    expected_org: str,
    by: By,
    *,
    fmt: str,
    content: bytes,
    filename: str | None = None,
) -> StoredReturn:
    """Validate a parsed return and, only if all of it is valid, record it in the ledger.

    Months up to the return's month are actuals, later months forecasts. Raises
    :class:`ReturnRejected` (having stored nothing) if any cell is at fault.
    """
    problems = validate(session, parsed, expected_org)
    if problems:
        raise ReturnRejected(problems)
    return_id = str(uuid.uuid4())
    entries = [
        EntryInput(
            parsed.org_code,
            parsed.financial_year,
            c.month,
            c.line,
            "actual" if c.month <= parsed.month else "forecast",
            c.amount,
            c.recurrent,
        )
        for c in parsed.cells
    ]
    recorded = ledger.prepare_entries(
        session,
        entries,
        by,
        source="return",
        reason=f"monthly return for {month_label(parsed.month, parsed.financial_year)}",
        return_id=return_id,
    )
    session.add(
        MonthlyReturn(
            id=return_id,
            org_code=parsed.org_code,
            financial_year=parsed.financial_year,
            month=parsed.month,
            format=fmt,
            filename=(filename or "")[:255] or None,
            sha256=hashlib.sha256(content).hexdigest(),
            cells=len(entries),
            entries_added=len(recorded.added),
            **by.stamp(),
        )
    )
    session.flush()  # the return first: its entries refer to it
    session.add_all(recorded.added)
    session.flush()
    return StoredReturn(
        return_id,
        parsed.org_code,
        parsed.financial_year,
        parsed.month,
        len(entries),
        len(recorded.added),
        recorded.unchanged,
    )


# Excel -------------------------------------------------------------------------------------


def template(session: Session, org_code: str, financial_year: str, month: int) -> bytes:
    """The return workbook for an organisation and month, filled with the figures in force."""
    from integrated_care.footprint.services import get_organisation

    org = get_organisation(session, org_code)
    in_force = ledger.figures(session, financial_year, [org_code])
    wb = Workbook()
    cover = wb.active
    cover.title = COVER
    _cover_sheet(cover, org_code, org.name if org else org_code, financial_year, month)
    for sheet, recurrent in FIGURE_SHEETS.items():
        values = {
            (f.line, f.month): f.amount
            for f in in_force
            if f.recurrent == recurrent and f.kind == ("actual" if f.month <= month else "forecast")
        }
        _figure_sheet(wb.create_sheet(sheet), financial_year, month, values, recurrent)
    plan = {(f.line, f.month): f.amount for f in in_force if f.kind == "plan" and f.recurrent}
    _figure_sheet(
        wb.create_sheet(PLAN),
        financial_year,
        0,
        plan,
        True,
        title="Plan of record (for reference; not read back)",
    )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cover_sheet(ws: Any, org_code: str, name: str, year: str, month: int) -> None:
    ws["A1"] = f"Monthly finance return: {name}"
    ws["A1"].font = Font(bold=True, size=14)
    rows = [
        ("Organisation name", name),
        ("Organisation code", org_code),
        ("Financial year", year),
        ("Month (1 = April)", month),
        ("Month", month_label(month, year)),
    ]
    for i, (label, value) in enumerate(rows, start=2):
        ws.cell(i, 1, label).font = Font(bold=True)
        ws.cell(i, 2, value)
    ws["A8"] = (
        f"Enter actuals for April to {MONTHS[month - 1]} and your forecast for the months after "
        "on the Recurrent and Non-recurrent sheets, in pounds. Leave a cell blank to keep the "
        "figure already held; enter 0 for none. Do not add, remove or move rows or columns."
    )
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 40


def _figure_sheet(
    ws: Any,
    year: str,
    month: int,
    values: dict[tuple[str, int], Decimal],
    recurrent: bool,
    title: str | None = None,
) -> None:
    ws["A1"] = title or ("Recurrent" if recurrent else "Non-recurrent (one-off)") + " figures, £"
    ws["A1"].font = Font(bold=True, size=12)
    ws.cell(3, 1, "Line code").font = Font(bold=True)
    ws.cell(3, 2, "Line").font = Font(bold=True)
    forecast_fill = PatternFill("solid", fgColor="E8EDEE")
    for m in range(1, 13):
        col = FIRST_MONTH_COLUMN + m - 1
        ws.cell(2, col, "Plan" if month == 0 else "Actual" if m <= month else "Forecast")
        ws.cell(3, col, MONTHS[m - 1]).font = Font(bold=True)
        ws.cell(3, col).alignment = Alignment(horizontal="right")
        ws.column_dimensions[get_column_letter(col)].width = 14
    for i, line in enumerate(chart().lines.values()):
        row = FIRST_LINE_ROW + i
        ws.cell(row, 1, line.line)
        ws.cell(row, 2, line.name)
        for m in range(1, 13):
            cell = ws.cell(row, FIRST_MONTH_COLUMN + m - 1, values.get((line.line, m)))
            cell.number_format = "#,##0.00"
            if 0 < month < m:
                cell.fill = forecast_fill
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 34
    ws.freeze_panes = ws.cell(FIRST_LINE_ROW, FIRST_MONTH_COLUMN)


def read_xlsx(content: bytes) -> ParsedReturn:
    """Read a return workbook, noting every cell that cannot be read."""
    parsed = ParsedReturn()
    if len(content) > MAX_BYTES:
        parsed.problems.append(CellProblem("file", "-", f"larger than {MAX_BYTES:,} bytes"))
        return parsed
    try:
        formulas = load_workbook(io.BytesIO(content), data_only=False)
        values = load_workbook(io.BytesIO(content), data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a file that is not a workbook
        parsed.problems.append(
            CellProblem("file", "-", f"not an Excel workbook ({type(e).__name__})")
        )
        return parsed
    for sheet in (COVER, *FIGURE_SHEETS):
        if sheet not in values.sheetnames:
            parsed.problems.append(CellProblem(sheet, "A1", "this sheet is missing"))
    if parsed.problems:
        return parsed

    def value(sheet: str, ref: str) -> Any:
        raw = formulas[sheet][ref].value
        got = values[sheet][ref].value
        if isinstance(raw, str) and raw.startswith("=") and got is None:
            parsed.problems.append(
                CellProblem(
                    sheet,
                    ref,
                    "a formula with no calculated value: save the file in Excel, or paste values",
                    raw,
                )
            )
            return None
        return got

    parsed.org_code = _text(value(COVER, COVER_CELLS["org_code"]))
    parsed.financial_year = _text(value(COVER, COVER_CELLS["financial_year"]))
    parsed.month = _whole(value(COVER, COVER_CELLS["month"]))
    for sheet, recurrent in FIGURE_SHEETS.items():
        _read_figure_sheet(parsed, values[sheet], sheet, recurrent, value)
    return parsed


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _read_figure_sheet(
    parsed: ParsedReturn, ws: Any, sheet: str, recurrent: bool, value: Any
) -> None:
    last_col = FIRST_MONTH_COLUMN + 11
    for m in range(1, 13):
        ref = f"{get_column_letter(FIRST_MONTH_COLUMN + m - 1)}3"
        if value(sheet, ref) != MONTHS[m - 1]:
            parsed.problems.append(
                CellProblem(
                    sheet,
                    ref,
                    f"this column should be {MONTHS[m - 1]}: columns were moved",
                    _shown(value(sheet, ref)),
                )
            )
    if ws.max_row > MAX_ROWS:
        parsed.problems.append(CellProblem(sheet, f"A{ws.max_row}", f"more than {MAX_ROWS} rows"))
        return
    for row in range(FIRST_LINE_ROW, ws.max_row + 1):
        line = _text(value(sheet, f"A{row}"))
        for col in range(last_col + 1, ws.max_column + 1):
            ref = f"{get_column_letter(col)}{row}"
            if value(sheet, ref) not in (None, ""):
                parsed.problems.append(
                    CellProblem(
                        sheet,
                        ref,
                        "outside the return's table: columns run April to March only",
                        _shown(value(sheet, ref)),
                    )
                )
        if line not in (None, "") and line not in chart().lines:
            parsed.problems.append(
                CellProblem(sheet, f"A{row}", "not a line of the chart", _shown(line))
            )
            continue
        for m in range(1, 13):
            ref = f"{get_column_letter(FIRST_MONTH_COLUMN + m - 1)}{row}"
            got = value(sheet, ref)
            if got is None or (isinstance(got, str) and not got.strip()):
                continue
            if line in (None, ""):
                parsed.problems.append(
                    CellProblem(sheet, ref, "a figure on a row with no line code", _shown(got))
                )
                continue
            try:
                amount = _amount(got)
            except ValueError as e:
                parsed.problems.append(CellProblem(sheet, ref, str(e), _shown(got)))
                continue
            parsed.cells.append(ReturnCell(sheet, ref, str(line), m, recurrent, amount))


# CSV and JSON ------------------------------------------------------------------------------


def read_csv(content: bytes, sheet: str = "csv") -> ParsedReturn:
    """A return as CSV: one row per figure, columns ``CSV_COLUMNS``; problems name A1 cells."""
    parsed = ParsedReturn()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        parsed.problems.append(CellProblem(sheet, "-", "not UTF-8 text"))
        return parsed
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(h.strip() for h in rows[0]) != CSV_COLUMNS:
        parsed.problems.append(
            CellProblem(sheet, "A1", f"the header should be {','.join(CSV_COLUMNS)}")
        )
        return parsed
    if len(rows) > MAX_ROWS * 30:
        parsed.problems.append(CellProblem(sheet, "A1", "too many rows"))
        return parsed
    col = {name: get_column_letter(i + 1) for i, name in enumerate(CSV_COLUMNS)}
    cover_field = {
        "org_code": "org_code",
        "financial_year": "financial_year",
        "return_month": "month",
    }
    # Until a row names them, problems with the cover point at the first data row.
    parsed.cover_at = {f: (sheet, f"{col[k]}2") for k, f in cover_field.items()}
    cover: dict[str, str] = {}  # the first row's org_code, financial_year and return_month
    differs: set[str] = set()
    for n, row in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in row):
            continue
        if len(row) != len(CSV_COLUMNS):
            parsed.problems.append(
                CellProblem(sheet, f"A{n}", f"{len(row)} columns; expected {len(CSV_COLUMNS)}")
            )
            continue
        r = dict(zip(CSV_COLUMNS, (v.strip() for v in row), strict=True))
        for k, field_name in cover_field.items():
            if k not in cover:
                cover[k] = r[k]
                parsed.cover_at[field_name] = (sheet, f"{col[k]}{n}")
            elif r[k] != cover[k] and k not in differs:
                differs.add(k)
                parsed.problems.append(
                    CellProblem(
                        sheet,
                        f"{col[k]}{n}",
                        f"every row should have the same {k} as the first ({cover[k]})",
                        r[k],
                    )
                )
        month = _whole(r["month"])
        if not isinstance(month, int):
            parsed.problems.append(
                CellProblem(sheet, f"{col['month']}{n}", "month should be 1 to 12", r["month"])
            )
            continue
        if r["recurrent"].lower() not in ("true", "false", "yes", "no", "1", "0"):
            parsed.problems.append(
                CellProblem(
                    sheet,
                    f"{col['recurrent']}{n}",
                    "recurrent should be true or false",
                    r["recurrent"],
                )
            )
            continue
        try:
            amount = _amount(r["amount"])
        except ValueError as e:
            parsed.problems.append(CellProblem(sheet, f"{col['amount']}{n}", str(e), r["amount"]))
            continue
        parsed.cells.append(
            ReturnCell(
                sheet,
                f"{col['line']}{n}",
                r["line"],
                month,
                r["recurrent"].lower() in ("true", "yes", "1"),
                amount,
            )
        )
    if not parsed.cells and not parsed.problems:
        parsed.problems.append(CellProblem(sheet, "A2", "the return has no figures"))
    parsed.org_code = cover.get("org_code")
    parsed.financial_year = cover.get("financial_year")
    parsed.month = _whole(cover.get("return_month"))
    return parsed


def read_json(content: bytes) -> ParsedReturn:
    """A return as JSON: ``{"org_code", "financial_year", "month", "figures": [{"line",
    "month", "recurrent", "amount"}]}``; amounts as strings or numbers (read exactly)."""
    parsed = ParsedReturn(
        cover_at={k: ("json", f"/{'month' if k == 'month' else k}") for k in COVER_CELLS}
    )
    try:
        doc = json.loads(content, parse_float=Decimal)
    except ValueError as e:
        parsed.problems.append(CellProblem("json", "/", f"not JSON ({e})"))
        return parsed
    if not isinstance(doc, dict) or not isinstance(doc.get("figures"), list):
        parsed.problems.append(CellProblem("json", "/figures", "a list of figures is required"))
        return parsed
    parsed.org_code = doc.get("org_code")
    parsed.financial_year = doc.get("financial_year")
    parsed.month = doc.get("month")
    for i, item in enumerate(doc["figures"]):
        where = f"/figures/{i}"
        if not isinstance(item, dict):
            parsed.problems.append(CellProblem("json", where, "each figure should be an object"))
            continue
        month, recurrent = item.get("month"), item.get("recurrent", True)
        if isinstance(month, bool) or not isinstance(month, int):
            parsed.problems.append(
                CellProblem("json", f"{where}/month", "month should be 1 to 12", _shown(month))
            )
            continue
        if not isinstance(recurrent, bool):
            parsed.problems.append(
                CellProblem(
                    "json",
                    f"{where}/recurrent",
                    "recurrent should be true or false",
                    _shown(recurrent),
                )
            )
            continue
        try:
            amount = _amount(item.get("amount"))
        except ValueError as e:
            parsed.problems.append(
                CellProblem("json", f"{where}/amount", str(e), _shown(item.get("amount")))
            )
            continue
        parsed.cells.append(
            ReturnCell("json", f"{where}/line", str(item.get("line")), month, recurrent, amount)
        )
    return parsed


READERS = {"xlsx": read_xlsx, "csv": read_csv, "json": read_json}


def read(fmt: str, content: bytes) -> ParsedReturn:
    if fmt not in READERS:
        raise ValueError(f"returns come as {', '.join(READERS)}, not {fmt!r}")
    return READERS[fmt](content)


def problems_as_dicts(problems: Sequence[CellProblem]) -> list[dict[str, Any]]:
    return [asdict(p) for p in problems]
