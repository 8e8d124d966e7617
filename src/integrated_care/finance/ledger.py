"""The ledger: plan versions, actuals and forecasts, control totals. Append-only.

Plans are versioned: an organisation submits version 1, revises it with version 2, 3, ...
(each a complete set of monthly plan figures), and one version is agreed; the agreed version is
the plan of record (until one is agreed, the latest version is, flagged as not agreed).
Actuals and forecasts are single figures per cell; a new figure for a cell supersedes the one in
force, so a monthly return that repeats last month's figures changes nothing, and a re-forecast
or a correction keeps the figure it replaced. Every row records who entered it, for which
organisation they acted, and when.

Callers own the transaction: these functions add and flush, the caller commits (or rolls back
everything on any error).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from integrated_care.db import utcnow
from integrated_care.finance.chart import Figure, chart, check_financial_year
from integrated_care.finance.models import (
    PENNY,
    ControlTotal,
    LedgerEntry,
    PlanStatus,
    PlanVersion,
)

ENTERED_KINDS = ("actual", "forecast")  # plans arrive as versions, see create_plan_version


class LedgerError(ValueError):
    """A figure the ledger will not take, with every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class By:
    """Who is entering figures, and for which organisation they act."""

    username: str
    organisation: str | None = None

    @classmethod
    def of(cls, principal: Any) -> By:
        return cls(principal.username, principal.organisation_code)

    def stamp(self) -> dict[str, Any]:
        return {
            "recorded_by": self.username,
            "recorded_by_organisation": self.organisation,
            "recorded_at": utcnow(),
        }


@dataclass(frozen=True)
class EntryInput:
    """A figure to record for one cell (actual or forecast)."""

    org_code: str
    financial_year: str
    month: int
    line: str
    kind: str
    amount: Decimal
    recurrent: bool = True


@dataclass(frozen=True)
class PlanFigure:
    month: int
    line: str
    amount: Decimal
    recurrent: bool = True


@dataclass
class Recorded:
    """What recording a batch did: rows appended (new or superseding) and figures unchanged."""

    added: list[LedgerEntry] = field(default_factory=list)
    superseded: int = 0
    unchanged: int = 0


def money(value: Any) -> Decimal:
    """A Decimal of whole pence from an int, Decimal or numeric string; never from a float."""
    if isinstance(value, bool | float):
        raise ValueError(f"{value!r} is not an amount in pounds and pence (floats are refused)")
    try:
        amount = (
            Decimal(str(value).strip().replace(",", ""))
            if isinstance(value, str)
            else (Decimal(value))
        )
    except (InvalidOperation, TypeError):
        raise ValueError(f"{value!r} is not an amount in pounds") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not an amount in pounds")
    if amount != amount.quantize(PENNY):
        raise ValueError(f"{value} has fractions of a penny")
    if abs(amount) >= Decimal("1e12"):
        raise ValueError(f"{value} is larger than any organisation's budget")
    return amount.quantize(PENNY)


def figure_problems(
    month: Any, line: Any, kind: Any | None = None, financial_year: Any | None = None
) -> list[str]:
    """Why a cell's coordinates are invalid (empty list: they are valid)."""
    problems = []
    if financial_year is not None:
        try:
            check_financial_year(str(financial_year))
        except ValueError as e:
            problems.append(str(e))
    if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
        problems.append(f"month {month!r} should be 1 (April) to 12 (March)")
    if line not in chart().lines:
        problems.append(f"line {line!r} is not in the chart of lines ({chart().version})")
    if kind is not None and kind not in ENTERED_KINDS:
        problems.append(f"kind {kind!r} should be one of {', '.join(ENTERED_KINDS)}")
    return problems


def unknown_organisations(session: Session, codes: Iterable[str]) -> list[str]:
    """The codes that are not organisations of the footprint."""
    from integrated_care.footprint.services import get_organisation

    return sorted(c for c in set(codes) if get_organisation(session, c) is None)


def _check_org(session: Session, code: str) -> None:
    if unknown_organisations(session, [code]):
        raise LedgerError([f"{code!r} is not an organisation of this ICS"])


# Plans -------------------------------------------------------------------------------------


def latest_plan_version(session: Session, org_code: str, year: str) -> PlanVersion | None:
    return session.scalar(
        select(PlanVersion)
        .where(PlanVersion.org_code == org_code, PlanVersion.financial_year == year)
        .order_by(PlanVersion.number.desc())
        .limit(1)
    )


def plan_status(session: Session, version_id: int) -> str:
    """A plan version's status: its latest step (submitted, revised or agreed)."""
    return (
        session.scalar(
            select(PlanStatus.status)
            .where(PlanStatus.plan_version_id == version_id)
            .order_by(PlanStatus.id.desc())
            .limit(1)
        )
        or "submitted"
    )


def create_plan_version(
    session: Session,
    org_code: str,
    financial_year: str,
    figures: Sequence[PlanFigure],
    by: By,
    note: str | None = None,
) -> PlanVersion:
    """A new version of an organisation's plan: submitted if the first, else revised."""
    _check_org(session, org_code)
    problems = []
    try:
        check_financial_year(financial_year)
    except ValueError as e:
        problems.append(str(e))
    seen: set[tuple[int, str, bool]] = set()
    for f in figures:
        problems += [f"plan {f.month}/{f.line}: {p}" for p in figure_problems(f.month, f.line)]
        try:
            money(f.amount)
        except ValueError as e:
            problems.append(f"plan {f.month}/{f.line}: {e}")
        key = (f.month, f.line, f.recurrent)
        if key in seen:
            problems.append(f"plan {f.month}/{f.line} is given twice")
        seen.add(key)
    if not figures:
        problems.append("a plan needs at least one figure")
    if problems:
        raise LedgerError(problems)
    previous = latest_plan_version(session, org_code, financial_year)
    version = PlanVersion(
        org_code=org_code,
        financial_year=financial_year,
        number=previous.number + 1 if previous else 1,
        based_on_id=previous.id if previous else None,
        note=note,
        **by.stamp(),
    )
    session.add(version)
    session.flush()
    status = "revised" if previous else "submitted"
    session.add(PlanStatus(plan_version_id=version.id, status=status, note=note, **by.stamp()))
    for f in figures:
        session.add(
            LedgerEntry(
                org_code=org_code,
                financial_year=financial_year,
                month=f.month,
                line=f.line,
                kind="plan",
                plan_version_id=version.id,
                recurrent=f.recurrent,
                amount=money(f.amount),
                source="manual",
                **by.stamp(),
            )
        )
    session.flush()
    return version


def agree_plan(session: Session, version_id: int, by: By, note: str | None = None) -> PlanStatus:
    """Record that a plan version is agreed. Only the latest version can be agreed, once."""
    version = session.get(PlanVersion, version_id)
    if version is None:
        raise LedgerError([f"there is no plan version {version_id}"])
    latest = latest_plan_version(session, version.org_code, version.financial_year)
    assert latest is not None
    if latest.id != version.id:
        raise LedgerError(
            [f"version {version.number} has been replaced by version {latest.number}"]
        )
    if plan_status(session, version.id) == "agreed":
        raise LedgerError([f"version {version.number} is already agreed"])
    step = PlanStatus(plan_version_id=version.id, status="agreed", note=note, **by.stamp())
    session.add(step)
    session.flush()
    return step


def plan_of_record(session: Session, org_code: str, year: str) -> PlanVersion | None:
    """The latest agreed version; if none is agreed yet, the latest version."""
    agreed = session.scalar(
        select(PlanVersion)
        .join(PlanStatus, PlanStatus.plan_version_id == PlanVersion.id)
        .where(
            PlanVersion.org_code == org_code,
            PlanVersion.financial_year == year,
            PlanStatus.status == "agreed",
        )
        .order_by(PlanVersion.number.desc())
        .limit(1)
    )
    return agreed or latest_plan_version(session, org_code, year)


@dataclass(frozen=True)
class PlanVersionSummary:
    id: int
    number: int
    status: str
    of_record: bool
    recorded_by: str
    recorded_at: Any
    note: str | None


def plan_versions(session: Session, org_code: str, year: str) -> list[PlanVersionSummary]:
    record = plan_of_record(session, org_code, year)
    versions = session.scalars(
        select(PlanVersion)
        .where(PlanVersion.org_code == org_code, PlanVersion.financial_year == year)
        .order_by(PlanVersion.number)
    ).all()
    return [
        PlanVersionSummary(
            v.id,
            v.number,
            plan_status(session, v.id),
            record is not None and v.id == record.id,
            v.recorded_by,
            v.recorded_at,
            v.note,
        )
        for v in versions
    ]


# Actuals and forecasts ---------------------------------------------------------------------


def _not_superseded() -> Any:
    later = aliased(LedgerEntry)
    return ~exists().where(later.supersedes_id == LedgerEntry.id)


def _cell_key(e: EntryInput | LedgerEntry) -> tuple[str, str, int, str, str, bool]:
    return (e.org_code, e.financial_year, e.month, e.line, e.kind, bool(e.recurrent))


def entry_problems(entry: EntryInput) -> list[str]:
    """Why an entry cannot be recorded, apart from its organisation (checked in bulk)."""
    problems = figure_problems(entry.month, entry.line, entry.kind, entry.financial_year)
    try:
        money(entry.amount)
    except ValueError as e:
        problems.append(str(e))
    return problems


def _live_cells(
    session: Session, org_codes: set[str], years: set[str]
) -> dict[tuple[str, str, int, str, str, bool], LedgerEntry]:
    rows = session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.org_code.in_(org_codes),
            LedgerEntry.financial_year.in_(years),
            LedgerEntry.kind.in_(ENTERED_KINDS),
            _not_superseded(),
        )
    ).all()
    return {_cell_key(r): r for r in rows}


def record_entries(
    session: Session,
    entries: Sequence[EntryInput],
    by: By,
    *,
    source: str = "manual",
    reason: str | None = None,
    return_id: str | None = None,
) -> Recorded:
    """Record actual and forecast figures, all or none.

    A figure equal to the one in force changes nothing; a different one supersedes it.
    """
    out = prepare_entries(session, entries, by, source=source, reason=reason, return_id=return_id)
    session.add_all(out.added)
    session.flush()
    return out


def prepare_entries(
    session: Session,
    entries: Sequence[EntryInput],
    by: By,
    *,
    source: str = "manual",
    reason: str | None = None,
    return_id: str | None = None,
) -> Recorded:
    """The rows :func:`record_entries` would add (not yet added to the session), or
    LedgerError with every problem."""
    problems = []
    seen: set[tuple[str, str, int, str, str, bool]] = set()
    for i, e in enumerate(entries, start=1):
        problems += [f"entry {i}: {p}" for p in entry_problems(e)]
        key = _cell_key(e)
        if key in seen:
            problems.append(f"entry {i}: the same cell is given twice")
        seen.add(key)
    problems += [
        f"{code!r} is not an organisation of this ICS"
        for code in unknown_organisations(session, {e.org_code for e in entries})
    ]
    if problems:
        raise LedgerError(problems)
    live = _live_cells(session, {e.org_code for e in entries}, {e.financial_year for e in entries})
    out = Recorded()
    for e in entries:
        amount = money(e.amount)
        current = live.get(_cell_key(e))
        if current is not None and current.amount == amount:
            out.unchanged += 1
            continue
        row = LedgerEntry(
            org_code=e.org_code,
            financial_year=e.financial_year,
            month=e.month,
            line=e.line,
            kind=e.kind,
            recurrent=e.recurrent,
            amount=amount,
            supersedes_id=current.id if current else None,
            reason=reason,
            source=source,
            return_id=return_id,
            **by.stamp(),
        )
        out.added.append(row)
        out.superseded += current is not None
    return out


def correct_entry(session: Session, entry_id: int, amount: Any, by: By, reason: str) -> LedgerEntry:
    """Correct an actual or forecast figure in force; the reason is kept with the correction."""
    old = session.get(LedgerEntry, entry_id)
    if old is None:
        raise LedgerError([f"there is no ledger entry {entry_id}"])
    if old.kind not in ENTERED_KINDS:
        raise LedgerError(["plan figures change by a new plan version, not a correction"])
    if not (reason or "").strip():
        raise LedgerError(["a correction needs a reason"])
    if session.scalar(select(LedgerEntry.id).where(LedgerEntry.supersedes_id == entry_id)):
        raise LedgerError([f"entry {entry_id} has already been superseded; correct the latest"])
    row = LedgerEntry(
        org_code=old.org_code,
        financial_year=old.financial_year,
        month=old.month,
        line=old.line,
        kind=old.kind,
        recurrent=old.recurrent,
        amount=money(amount),
        supersedes_id=old.id,
        reason=reason.strip(),
        source="manual",
        **by.stamp(),
    )
    session.add(row)
    session.flush()
    return row


def entry_history(session: Session, entry_id: int) -> list[LedgerEntry]:
    """Every version of the figure `entry_id` belongs to, oldest first."""
    entry = session.get(LedgerEntry, entry_id)
    if entry is None:
        return []
    chain = [entry]
    while chain[0].supersedes_id is not None:
        chain.insert(0, session.get(LedgerEntry, chain[0].supersedes_id))  # type: ignore[arg-type]
    while True:
        newer = session.scalar(select(LedgerEntry).where(LedgerEntry.supersedes_id == chain[-1].id))
        if newer is None:
            return chain
        chain.append(newer)


def plans_of_record(session: Session, financial_year: str) -> dict[str, int]:
    """Each organisation's plan of record for the year (version id): its latest agreed
    version, or its latest version if none is agreed."""
    versions = session.execute(
        select(PlanVersion.org_code, PlanVersion.id)
        .where(PlanVersion.financial_year == financial_year)
        .order_by(PlanVersion.number)
    ).all()
    agreed = set(
        session.scalars(
            select(PlanStatus.plan_version_id)
            .join(PlanVersion, PlanVersion.id == PlanStatus.plan_version_id)
            .where(PlanVersion.financial_year == financial_year, PlanStatus.status == "agreed")
        )
    )
    latest = {org: vid for org, vid in versions}
    latest_agreed = {org: vid for org, vid in versions if vid in agreed}
    return {**latest, **latest_agreed}


def figures(
    session: Session, financial_year: str, org_codes: Iterable[str] | None = None
) -> list[Figure]:
    """The figures in force for a year: the plan of record, and actuals and forecasts."""
    e = LedgerEntry
    stmt = select(
        e.org_code, e.month, e.line, e.kind, e.amount, e.recurrent, e.plan_version_id
    ).where(e.financial_year == financial_year, _not_superseded())
    if org_codes is not None:
        stmt = stmt.where(e.org_code.in_(list(org_codes)))
    plan_ids = plans_of_record(session, financial_year)
    return [
        Figure(org, month, line, kind, amount, recurrent)
        for org, month, line, kind, amount, recurrent, version in session.execute(stmt)
        if kind != "plan" or version == plan_ids.get(org)
    ]


# Control totals ----------------------------------------------------------------------------


def _live_control_total(session: Session, org_code: str, year: str) -> ControlTotal | None:
    later = aliased(ControlTotal)
    return session.scalar(
        select(ControlTotal).where(
            ControlTotal.org_code == org_code,
            ControlTotal.financial_year == year,
            ~exists().where(later.supersedes_id == ControlTotal.id),
        )
    )


def set_control_total(
    session: Session, org_code: str, year: str, amount: Any, by: By, reason: str | None = None
) -> ControlTotal | None:
    """Set an organisation's control total (surplus + / deficit -). None if unchanged."""
    check_financial_year(year)
    _check_org(session, org_code)
    value = money(amount)
    current = _live_control_total(session, org_code, year)
    if current is not None and current.amount == value:
        return None
    if current is not None and not (reason or "").strip():
        raise LedgerError(["changing a control total needs a reason"])
    row = ControlTotal(
        org_code=org_code,
        financial_year=year,
        amount=value,
        supersedes_id=current.id if current else None,
        reason=reason,
        **by.stamp(),
    )
    session.add(row)
    session.flush()
    return row


def control_totals(session: Session, year: str) -> dict[str, Decimal]:
    """Each organisation's control total in force for the year."""
    later = aliased(ControlTotal)
    rows = session.execute(
        select(ControlTotal.org_code, ControlTotal.amount).where(
            ControlTotal.financial_year == year,
            ~exists().where(later.supersedes_id == ControlTotal.id),
        )
    ).all()
    return {org: amount for org, amount in rows}


def system_control_total(session: Session, year: str) -> Decimal:
    """The system's control total: always the sum of its organisations'."""
    return sum(control_totals(session, year).values(), Decimal("0.00"))


def financial_years(session: Session) -> list[str]:
    """Years the ledger holds figures or control totals for, newest first."""
    years = set(session.scalars(select(LedgerEntry.financial_year).distinct()))
    years |= set(session.scalars(select(ControlTotal.financial_year).distinct()))
    return sorted(years, reverse=True)


def recent_entries(
    session: Session, org_code: str, financial_year: str, limit: int = 15
) -> list[LedgerEntry]:
    """The organisation's latest ledger rows for the year, newest first: who entered each
    figure, when, from where and why."""
    return list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.org_code == org_code, LedgerEntry.financial_year == financial_year)
            .order_by(LedgerEntry.id.desc())
            .limit(limit)
        )
    )
