"""Contracts change by variation, never by overwriting: each contract's versions.

A contract as first registered is version 1 and is never changed (the table is append-only).
A change (a new value, an extension, a new holder) is a variation carrying the whole contract as
varied, superseding the variation before it; the contract in force is its latest version. Every
version keeps who entered it, for which organisation, when and why, so every figure in the
register can be traced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.finance.contract_models import (
    CONTRACT_TYPES,
    PROCUREMENT_ROUTES,
    Contract,
    ContractVariation,
)
from integrated_care.finance.ledger import By

FIELDS = (
    "commissioner_code",
    "holder_code",
    "contract_type",
    "parent_contract_id",
    "services",
    "annual_value",
    "start_date",
    "end_date",
    "procurement_route",
)


@dataclass(frozen=True)
class ContractRecord:
    contract_id: str
    commissioner_code: str
    holder_code: str
    contract_type: str
    parent_contract_id: str | None
    services: str
    annual_value: Decimal
    start_date: date
    end_date: date | None
    procurement_route: str


class ContractError(ValueError):
    """A contract or decision that cannot be recorded, with every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ContractVersion:
    """One version of a contract: 1 as registered, 2 onwards its variations."""

    version: int
    contract: ContractRecord
    variation_id: int | None  # None for the contract as registered
    reason: str | None
    recorded_by: str
    recorded_by_organisation: str | None
    recorded_at: datetime


def problems(c: ContractRecord) -> list[str]:
    """What is wrong with a contract's figures (empty: nothing)."""
    out = []
    if c.contract_type not in CONTRACT_TYPES:
        out.append(f"{c.contract_id}: unknown contract type {c.contract_type!r}")
    if c.procurement_route not in PROCUREMENT_ROUTES:
        out.append(f"{c.contract_id}: unknown procurement route {c.procurement_route!r}")
    if c.annual_value < 0:
        out.append(f"{c.contract_id}: negative annual value")
    if c.end_date is not None and c.end_date < c.start_date:
        out.append(f"{c.contract_id}: ends before it starts")
    if c.parent_contract_id == c.contract_id:
        out.append(f"{c.contract_id}: cannot sit under itself")
    return out


def _record(contract_id: str, row: Contract | ContractVariation) -> ContractRecord:
    return ContractRecord(contract_id, *(getattr(row, k) for k in FIELDS))


def _chain(variations: Iterable[ContractVariation]) -> list[ContractVariation]:
    after = {v.supersedes_id: v for v in variations}
    chain, row = [], after.get(None)
    while row is not None:
        chain.append(row)
        row = after.get(row.id)
    return chain


def versions(session: Session, contract_id: str) -> list[ContractVersion]:
    """Every version of a contract, as registered first (empty if there is no such contract)."""
    registered = session.get(Contract, contract_id)
    if registered is None:
        return []
    rows: list[Contract | ContractVariation] = [registered]
    rows += _chain(
        session.scalars(
            select(ContractVariation).where(ContractVariation.contract_id == contract_id)
        )
    )
    return [
        ContractVersion(
            n,
            _record(contract_id, row),
            row.id if isinstance(row, ContractVariation) else None,
            row.reason if isinstance(row, ContractVariation) else None,
            row.recorded_by,
            row.recorded_by_organisation,
            row.recorded_at,
        )
        for n, row in enumerate(rows, start=1)
    ]


def current_records(session: Session) -> dict[str, ContractRecord]:
    """Every contract as in force: its latest variation, or as registered."""
    out = {c.contract_id: _record(c.contract_id, c) for c in session.scalars(select(Contract))}
    by_contract: dict[str, list[ContractVariation]] = {}
    for v in session.scalars(select(ContractVariation)):
        by_contract.setdefault(v.contract_id, []).append(v)
    for contract_id, variations in by_contract.items():
        chain = _chain(variations)
        if chain:
            out[contract_id] = _record(contract_id, chain[-1])
    return out


def vary(session: Session, record: ContractRecord, by: By, reason: str) -> ContractVariation | None:
    """Record `record` as the contract's new version, superseding the one in force; None if it
    changes nothing. Raises :class:`ContractError` naming every problem, storing nothing."""
    found = versions(session, record.contract_id)
    out = problems(record)
    if not found:
        out.append(f"there is no contract {record.contract_id}")
    if not reason.strip():
        out.append("say why the contract is being varied")
    if out:
        raise ContractError(out)
    if found[-1].contract == record:
        return None
    row = ContractVariation(
        contract_id=record.contract_id,
        **{k: getattr(record, k) for k in FIELDS},
        supersedes_id=found[-1].variation_id,
        reason=reason.strip(),
        **by.stamp(),
    )
    session.add(row)
    session.flush()
    return row
