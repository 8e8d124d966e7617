"""The forms on an organisation's finance page: its finance team sends a plan (a CSV of every
month and line, a new version each time); the ICB sets its control total and agrees a plan
version. Each goes through the same handler as its JSON twin (so the same checks and the same
audit record), then back to the page. The plan of record downloads as the same CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from integrated_care.accounts.policy import Principal, require
from integrated_care.finance import api, ledger
from integrated_care.finance.api import open_session, resolve_year

PLAN_COLUMNS = ("month", "line", "recurrent", "amount")
MAX_PLAN_BYTES = 1_000_000

router = APIRouter()


def _back(org: str, year: str) -> RedirectResponse:
    return RedirectResponse(f"/finance/organisations/{org}?year={year}", status_code=303)


@router.post("/finance/organisations/{org}/control-total", include_in_schema=False)
def control_total_submit(
    request: Request,
    org: str,
    financial_year: str = Form(...),
    amount: str = Form(""),
    reason: str = Form(""),
    principal: Principal = Depends(require("finance:write")),
) -> RedirectResponse:
    try:
        pounds = Decimal(amount.replace(",", "").replace("£", "").strip())
    except InvalidOperation:
        raise HTTPException(
            422, f"Control total: {amount!r} is not an amount in pounds, e.g. -1500000"
        ) from None
    body = api.ControlTotalIn(financial_year=financial_year, amount=pounds, reason=reason or None)
    api.api_control_total(request, org, body, principal)
    return _back(org, financial_year)


@router.post("/finance/plans/{version_id}/agree", include_in_schema=False)
def agree_plan_submit(
    request: Request,
    version_id: int,
    org: str = Form(...),
    financial_year: str = Form(...),
    principal: Principal = Depends(require("finance:write")),
) -> RedirectResponse:
    api.api_agree_plan(request, version_id, principal)
    return _back(org, financial_year)


@router.get("/finance/organisations/{org}/plan.csv", include_in_schema=False)
def plan_csv(
    request: Request,
    org: str,
    year: str | None = None,
    _: Principal = Depends(require("finance:read")),
) -> Response:
    """The organisation's plan of record as CSV: the starting point for a revision."""
    with open_session(request) as session:
        year = resolve_year(session, year)
        figures = [f for f in ledger.figures(session, year, [org]) if f.kind == "plan"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PLAN_COLUMNS)
    for f in sorted(figures, key=lambda f: (f.month, f.line, not f.recurrent)):
        writer.writerow((f.month, f.line, "true" if f.recurrent else "false", f.amount))
    name = f"plan-{org}-{year.replace('/', '-')}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def read_plan_csv(text: str) -> list[api.PlanFigureIn]:
    """Plan figures from CSV, or 422 naming every bad row and column (nothing is stored)."""
    rows = csv.DictReader(io.StringIO(text))
    missing = [c for c in PLAN_COLUMNS if c not in (rows.fieldnames or [])]
    if missing:
        raise HTTPException(422, f"The plan CSV has no column {', '.join(missing)}.")
    figures, problems = [], []
    for n, row in enumerate(rows, start=2):
        month, amount = (row.get("month") or "").strip(), (row.get("amount") or "").strip()
        recurrent = (row.get("recurrent") or "").strip().lower()
        if not month.isdigit() or not 1 <= int(month) <= 12:
            problems.append(f"row {n}, month: {month!r} should be 1 (April) to 12 (March)")
        if recurrent not in ("true", "false"):
            problems.append(f"row {n}, recurrent: {recurrent!r} should be true or false")
        try:
            pounds = ledger.money(amount)
        except ValueError as e:
            problems.append(f"row {n}, amount: {e}")
            continue
        if not problems:
            figures.append(
                api.PlanFigureIn(
                    month=int(month),
                    line=(row.get("line") or "").strip(),
                    amount=pounds,
                    recurrent=recurrent == "true",
                )
            )
    if problems:
        raise HTTPException(422, "Nothing was stored: " + "; ".join(problems))
    return figures


@router.post("/finance/organisations/{org}/plan", include_in_schema=False)
async def plan_submit(
    request: Request,
    org: str,
    financial_year: str = Form(...),
    note: str = Form(""),
    file: UploadFile = File(...),
    principal: Principal = Depends(require("finance:write")),
) -> RedirectResponse:
    content = await file.read(MAX_PLAN_BYTES + 1)
    if len(content) > MAX_PLAN_BYTES:
        raise HTTPException(413, "The plan CSV is larger than 1 MB.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, "The plan should be a CSV file (UTF-8 text).") from None
    body = api.PlanIn(financial_year=financial_year, note=note or None, figures=read_plan_csv(text))
    api.api_submit_plan(request, org, body, principal)
    return _back(org, financial_year)
