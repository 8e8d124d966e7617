"""Risk and gain share agreements held in the store: versioned, append-only, traceable.

An agreement is known by its reference (e.g. "RS-2026-27") and has versions: the first is
recorded when the ICB's finance team sets it up, and every change (new rules, new parties, a
status from proposed to agreed or withdrawn) is a new version superseding the one before. The
version in force is the one no later version supersedes; every version keeps who recorded it,
for which organisation, when and why. Its rules are plain data, read by
:func:`integrated_care.finance.risk_share.agreement_from_dict`, so an agreement that cannot be
applied (shares not adding up to one, a floor above a cap, a rule naming an organisation that
is not a party) is refused before anything is stored.

Callers own the transaction and the audit record (see ``finance.agreement.save``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.finance import ledger
from integrated_care.finance.chart import check_financial_year
from integrated_care.finance.ledger import By
from integrated_care.finance.models import AGREEMENT_STATUSES, ShareAgreement
from integrated_care.finance.risk_share import (
    Agreement,
    ShareError,
    agreement_from_dict,
    agreement_to_dict,
)

REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,39}$")


class AgreementError(ValueError):
    """An agreement that cannot be stored, with every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class StoredAgreement:
    """One version of an agreement, with its rules read and checked."""

    id: int
    reference: str
    version: int  # 1 for the first, counting along the chain
    financial_year: str
    name: str
    status: str
    agreement: Agreement
    supersedes_id: int | None
    reason: str | None
    recorded_by: str
    recorded_by_organisation: str | None
    recorded_at: datetime

    @property
    def parties(self) -> tuple[str, ...]:
        return self.agreement.parties

    @property
    def rules(self) -> dict[str, Any]:
        return _rules(self.agreement)


def _rules(agreement: Agreement) -> dict[str, Any]:
    raw = agreement_to_dict(agreement)
    return {k: v for k, v in raw.items() if k not in ("name", "parties")}


def _read(row: ShareAgreement, version: int) -> StoredAgreement:
    agreement = agreement_from_dict({**row.rules, "name": row.name, "parties": row.parties})
    return StoredAgreement(
        row.id,
        row.reference,
        version,
        row.financial_year,
        row.name,
        row.status,
        agreement,
        row.supersedes_id,
        row.reason,
        row.recorded_by,
        row.recorded_by_organisation,
        row.recorded_at,
    )


def history(session: Session, reference: str) -> list[StoredAgreement]:
    """Every version of the agreement, first to last (empty if there is none)."""
    rows = session.scalars(
        select(ShareAgreement).where(ShareAgreement.reference == reference)
    ).all()
    after = {r.supersedes_id: r for r in rows}
    chain, row = [], after.get(None)
    while row is not None:
        chain.append(row)
        row = after.get(row.id)
    return [_read(r, n) for n, r in enumerate(chain, start=1)]


def in_force(session: Session, reference: str) -> StoredAgreement | None:
    """The version of the agreement now in force, or None if there is no such agreement."""
    versions = history(session, reference)
    return versions[-1] if versions else None


def agreements(
    session: Session, financial_year: str, *, include_withdrawn: bool = False
) -> list[StoredAgreement]:
    """The version in force of each agreement for the year, by reference."""
    references = session.scalars(
        select(ShareAgreement.reference)
        .where(ShareAgreement.financial_year == financial_year)
        .distinct()
    ).all()
    found = [in_force(session, r) for r in sorted(references)]
    return [
        a
        for a in found
        if a is not None and a.financial_year == financial_year
        and (include_withdrawn or a.status != "withdrawn")
    ]  # fmt: skip


def _problems(
    session: Session,
    reference: str,
    financial_year: str,
    name: str,
    status: str,
    rules: Mapping[str, Any],
) -> tuple[list[str], Agreement | None]:
    problems = []
    if not REFERENCE.match(reference or ""):
        problems.append(
            "reference: 1 to 40 letters, digits, hyphens or underscores, e.g. RS-2026-27"
        )
    try:
        check_financial_year(financial_year)
    except ValueError as e:
        problems.append(f"financial_year: {e}")
    if not name.strip():
        problems.append("name: give the agreement a name")
    if status not in AGREEMENT_STATUSES:
        problems.append(f"status: {status!r} should be one of {', '.join(AGREEMENT_STATUSES)}")
    parties = rules.get("parties") or []
    if len(parties) < 2:
        problems.append("parties: an agreement shares between two or more organisations")
    elif unknown := ledger.unknown_organisations(session, parties):
        problems.append(f"parties: {', '.join(sorted(unknown))} not in the footprint")
    agreement = None
    try:
        agreement = agreement_from_dict({**rules, "name": name.strip()})
    except ShareError as e:
        problems.append(f"rules: {e}")
    return problems, agreement


def save(
    session: Session,
    reference: str,
    financial_year: str,
    name: str,
    status: str,
    rules: Mapping[str, Any],
    by: By,
    reason: str | None = None,
) -> StoredAgreement | None:
    """Record an agreement, or a new version of one (superseding the version in force).

    ``rules`` holds ``parties`` and the sharing rules (see docs/finance.md). Returns the new
    version, or None if it would change nothing. Raises :class:`AgreementError` naming every
    problem, storing nothing.
    """
    problems, agreement = _problems(session, reference, financial_year, name, status, rules)
    current = in_force(session, reference) if not problems else None
    if current is not None and current.financial_year != financial_year:
        problems.append(
            f"financial_year: {reference} is an agreement for {current.financial_year}; "
            "start a new agreement for another year"
        )
    if current is not None and not (reason or "").strip():
        problems.append("reason: say why the agreement is being changed")
    if problems or agreement is None:
        raise AgreementError(problems)
    same = current is not None and (
        (current.name, current.status, current.agreement) == (agreement.name, status, agreement)
    )
    if same:
        return None
    row = ShareAgreement(
        reference=reference,
        financial_year=financial_year,
        name=agreement.name,
        status=status,
        parties=list(agreement.parties),
        rules=_rules(agreement),
        supersedes_id=current.id if current else None,
        reason=(reason or "").strip() or None,
        **by.stamp(),
    )
    session.add(row)
    session.flush()
    return _read(row, current.version + 1 if current else 1)
