"""Load the input layer's finance extract (``finance_ledger``, ``finance_control_totals``) into
the ledger, as a year in progress.

The extract's plans become each organisation's plan version 1, recorded as agreed; control
totals are set; actuals up to the month the forecast was made are recorded (the extract's own
corrections supersede the figures they correct, as they did at source); and the forecast for
the months after. Actuals the extract holds for later months are left out, so the ledger shows
the year as it stood at that month. Loading the same extract again changes nothing.

The input layer's ledger has no recurrent flag and only the main lines. When the extract also
holds ``finance_detail/ledger_detail.parquet`` (the synthetic ICS writes it: the same columns
plus ``recurrent``), its figures are loaded with the rest: efficiency, inflation, activity
income, industrial action, and non-recurrent figures, so underlying and reported positions
differ as they do in life. Everything in the input layer's ledger is recurrent.

Organisations the extract names but the footprint does not hold are left out and reported.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_event
from integrated_care.finance import ledger
from integrated_care.finance.ledger import By, EntryInput, PlanFigure

IMPORTER = By("finance-import")


@dataclass
class ImportReport:
    financial_year: str = ""
    as_at_month: int = 0
    organisations: int = 0
    plans_created: int = 0
    control_totals_set: int = 0
    entries_added: int = 0
    later_actuals_left_out: int = 0
    unknown_organisations: list[str] = field(default_factory=list)


def _rows(folder: Path, table: str) -> list[dict[str, Any]]:
    path = folder / f"{table}.parquet"
    if not path.exists():
        parts = folder / table
        if not parts.is_dir():
            raise FileNotFoundError(f"{folder} has no {table}.parquet (nor a {table}/ folder)")
        path = parts
    return pq.read_table(path).to_pylist()


DETAIL = Path("finance_detail") / "ledger_detail.parquet"


def _ledger_rows(folder: Path) -> list[dict[str, Any]]:
    """The ledger's rows, each with ``recurrent``: the input layer's (all recurrent) and the
    detail's, if the extract has it (its entry ids follow the ledger's)."""
    rows = [{**r, "recurrent": True} for r in _rows(folder, "finance_ledger")]
    if (folder / DETAIL).exists():
        last = max((r["entry_id"] for r in rows), default=0)
        rows += [
            {
                **r,
                "entry_id": last + r["entry_id"],
                "supersedes": None,
                "recurrent": bool(r["recurrent"]),
            }
            for r in pq.read_table(folder / DETAIL).to_pylist()
        ]
    return rows


def _amount(value: Any) -> Decimal:
    # The input layer keeps money as decimal(18,2); a float column is read to the penny.
    return value if isinstance(value, Decimal) else Decimal(repr(value)).quantize(Decimal("0.01"))


def import_extract(
    session: Session,
    folder: Path,
    financial_year: str | None = None,
    as_at_month: int | None = None,
    actor: str = "ics-cli",
) -> ImportReport:
    """Load one financial year of the extract in `folder` (default: its latest), audited as
    ``finance.import`` by `actor` in the caller's transaction."""
    ledger_rows = _ledger_rows(folder)
    totals = _rows(folder, "finance_control_totals")
    year = financial_year or max(r["financial_year"] for r in ledger_rows)
    rows = [r for r in ledger_rows if r["financial_year"] == year]
    codes = {r["org_code"] for r in rows} | {
        t["org_code"] for t in totals if t["financial_year"] == year
    }
    unknown = set(ledger.unknown_organisations(session, codes))
    rows = [r for r in rows if r["org_code"] not in unknown]
    forecast_months = [r["month"] for r in rows if r["kind"] == "forecast"]
    if as_at_month is None:
        as_at_month = (
            min(forecast_months) - 1
            if forecast_months
            else max((r["month"] for r in rows if r["kind"] == "actual"), default=0)
        )
    report = ImportReport(
        year, as_at_month, len(codes - unknown), unknown_organisations=sorted(unknown)
    )
    for t in totals:
        if t["financial_year"] != year or t["org_code"] in unknown:
            continue
        amount = _amount(t["control_total"])
        reason = "control total in the finance extract"
        if ledger.set_control_total(session, t["org_code"], year, amount, IMPORTER, reason):
            report.control_totals_set += 1
    report.plans_created = _plans(session, rows, year)
    live = [r for r in rows if r["kind"] == "actual" and r["month"] <= as_at_month]
    report.later_actuals_left_out = sum(
        1 for r in rows if r["kind"] == "actual" and r["month"] > as_at_month
    )
    forecasts = [r for r in rows if r["kind"] == "forecast" and r["month"] > as_at_month]
    live, forecasts = _not_yet_held(session, year, live), _not_yet_held(session, year, forecasts)
    originals = [r for r in live if r["supersedes"] is None]
    corrections = sorted(
        (r for r in live if r["supersedes"] is not None), key=lambda r: r["entry_id"]
    )
    batches = [originals + forecasts, *_one_per_cell(corrections)]
    for i, batch in enumerate(batches):
        recorded = ledger.record_entries(
            session,
            [
                EntryInput(
                    r["org_code"],
                    year,
                    r["month"],
                    r["line"],
                    r["kind"],
                    _amount(r["amount"]),
                    r["recurrent"],
                )
                for r in batch
            ],
            IMPORTER,
            source="import",
            reason="correction in the finance extract" if i else None,
        )
        report.entries_added += len(recorded.added)
    record_event(
        session,
        actor=actor,
        action="finance.import",
        outcome="success",
        record_type="finance_extract",
        record_id=str(folder)[:200],
        detail=asdict(report),
    )
    return report


def _cell(r: dict[str, Any]) -> tuple[str, int, str, str, bool]:
    return (r["org_code"], r["month"], r["line"], r["kind"], r["recurrent"])


def _not_yet_held(session: Session, year: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of cells whose final figure in the extract the ledger does not already hold, so
    that loading again neither adds nor replays anything."""
    held = {
        (f.org_code, f.month, f.line, f.kind, f.recurrent): f.amount
        for f in ledger.figures(session, year)
        if f.kind != "plan"
    }
    final: dict[tuple[str, int, str, str, bool], dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r["entry_id"]):
        final[_cell(r)] = r
    done = {c for c, r in final.items() if held.get(c) == _amount(r["amount"])}
    return [r for r in rows if _cell(r) not in done]


def _plans(session: Session, rows: list[dict[str, Any]], year: str) -> int:
    by_org: dict[str, list[PlanFigure]] = defaultdict(list)
    for r in rows:
        if r["kind"] == "plan" and r["supersedes"] is None:
            by_org[r["org_code"]].append(
                PlanFigure(r["month"], r["line"], _amount(r["amount"]), r["recurrent"])
            )
    created = 0
    for org, figures in sorted(by_org.items()):
        if ledger.latest_plan_version(session, org, year) is not None:
            continue  # loaded before: plans change only by a new version someone submits
        version = ledger.create_plan_version(
            session, org, year, figures, IMPORTER, "plan in the finance extract"
        )
        ledger.agree_plan(session, version.id, IMPORTER, "agreed plan in the finance extract")
        created += 1
    return created


def _one_per_cell(corrections: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Corrections in the order made, in batches that touch each cell at most once: a cell's
    second correction goes in the batch after its first."""
    batches: list[list[dict[str, Any]]] = []
    last: dict[tuple[str, int, str, bool], int] = {}
    for r in corrections:
        cell = (r["org_code"], r["month"], r["line"], r["recurrent"])
        index = last.get(cell, -1) + 1
        if index == len(batches):
            batches.append([])
        batches[index].append(r)
        last[cell] = index
    return batches
