"""The contracts register: every contract, who holds it and in which sector, the chain of
sub-contracts under it, its value, term, procurement route and decision record; flags for what
needs a closer look; and spend by holder sector over time.

Flags (:data:`FLAGS`):

- an integrated care provider (ICP) lead-provider contract held by a non-statutory body;
- a sub-contract chain deeper than two (prime -> sub -> sub-sub): every contract in that chain;
- a contract ending within six months of the day the register is looked at;
- a sub-contract whose parent is not in the register, or a chain that loops;
- sub-contracts worth more than the contract they sit under;
- no decision record (who decided, on what best-value rationale, which conflicts declared).

**Spend by sector** counts each contract's *net* value: its annual value less its direct
sub-contracts' (the sub-contractors' share is counted in their own sectors), so money passed
down a chain is counted once, where it ends up. Each month of a contract's term gets its net
annual value x the days in force that month / the days in that financial year, to the penny.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_event
from integrated_care.finance.contract_history import (
    FIELDS,
    ContractError,
    ContractRecord,
    current_records,
    problems,
    vary,
)
from integrated_care.finance.contract_models import Contract, ContractDecision
from integrated_care.finance.ledger import By

PENNY = Decimal("0.01")
ZERO = Decimal("0.00")
SECTORS = ("nhs", "local_government", "voluntary", "private", "unknown")
SECTOR_LABELS = {
    "nhs": "NHS",
    "local_government": "Local government",
    "voluntary": "Voluntary, community and social enterprise",
    "private": "Independent sector",
    "unknown": "Holder not in the footprint",
}
TYPE_LABELS = {
    "alliance": "Alliance",
    "icp_lead_provider": "Integrated care provider (lead provider)",
    "sub_contract": "Sub-contract",
    "nhs_standard": "NHS Standard Contract",
    "section_75": "Section 75 agreement",
}
ROUTE_LABELS = {
    "direct_award_a": "Direct award A (PSR)",
    "direct_award_b": "Direct award B (PSR)",
    "direct_award_c": "Direct award C (PSR)",
    "most_suitable_provider": "Most suitable provider (PSR)",
    "competitive": "Competitive",
    "legacy": "Legacy (before the Provider Selection Regime)",
}
FLAGS = {
    "icp_non_statutory": "ICP contract held by a non-statutory body",
    "deep_chain": "Sub-contract chain deeper than two",
    "ending_soon": "Ends within six months",
    "missing_parent": "Parent contract not in the register",
    "circular_chain": "Sub-contract chain loops back on itself",
    "subcontracts_exceed_value": "Sub-contracts worth more than the contract",
    "no_decision": "No decision record",
}
MAX_CHAIN_DEPTH = 2
ENDING_WITHIN_MONTHS = 6
IMPORTER = By("contracts-import")


@dataclass(frozen=True)
class Holder:
    name: str
    sector: str
    statutory: bool


@dataclass(frozen=True)
class DecisionRecord:
    decided_by: str
    decision_body: str | None
    decided_on: date
    best_value_rationale: str
    conflicts_declared: list[dict[str, Any]]
    recorded_by: str
    recorded_at: Any = None


@dataclass(frozen=True)
class RegisterLine:
    contract: ContractRecord
    holder_name: str
    holder_sector: str
    holder_statutory: bool | None
    commissioner_name: str
    chain: list[str]  # contract ids from the prime contract down to this one
    depth: int  # 1 for a prime contract, 2 for its sub-contract, ...
    children: list[str]
    net_value: Decimal  # annual value less direct sub-contracts
    flags: list[str]
    decision: DecisionRecord | None = None
    decisions: int = 0


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day if it is shorter)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def _chains(contracts: Mapping[str, ContractRecord]) -> dict[str, tuple[list[str], str | None]]:
    """Each contract's chain from its prime contract, and a problem with it if any."""
    out: dict[str, tuple[list[str], str | None]] = {}
    for cid in contracts:
        chain, seen, problem = [cid], {cid}, None
        parent = contracts[cid].parent_contract_id
        while parent is not None:
            if parent in seen:
                problem = "circular_chain"
                break
            if parent not in contracts:
                problem = "missing_parent"
                break
            chain.insert(0, parent)
            seen.add(parent)
            parent = contracts[parent].parent_contract_id
        out[cid] = (chain, problem)
    return out


def analyse(
    contracts: Iterable[ContractRecord],
    holders: Mapping[str, Holder],
    decisions: Mapping[str, Sequence[DecisionRecord]],
    as_at: date,
) -> list[RegisterLine]:
    """The register as at `as_at`: chains, net values, sectors and flags (a pure function)."""
    by_id = {c.contract_id: c for c in contracts}
    chains = _chains(by_id)
    children: dict[str, list[str]] = defaultdict(list)
    for c in by_id.values():
        if c.parent_contract_id in by_id:
            children[c.parent_contract_id].append(c.contract_id)
    deep = {cid for cid, (chain, _) in chains.items() if len(chain) > MAX_CHAIN_DEPTH}
    in_deep_chain = {x for cid in deep for x in chains[cid][0]}
    horizon = add_months(as_at, ENDING_WITHIN_MONTHS)
    lines = []
    for cid in sorted(by_id):
        c = by_id[cid]
        chain, problem = chains[cid]
        holder = holders.get(c.holder_code)
        sub_value = sum((by_id[k].annual_value for k in children[cid]), ZERO)
        flags = []
        if c.contract_type == "icp_lead_provider" and (holder is None or not holder.statutory):
            flags.append("icp_non_statutory")
        if cid in in_deep_chain:
            flags.append("deep_chain")
        if c.end_date is not None and as_at <= c.end_date <= horizon:
            flags.append("ending_soon")
        if problem:
            flags.append(problem)
        if sub_value > c.annual_value:
            flags.append("subcontracts_exceed_value")
        made = decisions.get(cid, [])
        if not made:
            flags.append("no_decision")
        commissioner = holders.get(c.commissioner_code)
        lines.append(
            RegisterLine(
                contract=c,
                holder_name=holder.name if holder else c.holder_code,
                holder_sector=holder.sector if holder else "unknown",
                holder_statutory=holder.statutory if holder else None,
                commissioner_name=commissioner.name if commissioner else c.commissioner_code,
                chain=chain,
                depth=len(chain),
                children=sorted(children[cid]),
                net_value=c.annual_value - sub_value,
                flags=flags,
                decision=made[-1] if made else None,
                decisions=len(made),
            )
        )
    return lines


# ---- spend by sector over time ------------------------------------------------------------------


def financial_year_of(day: date) -> str:
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def _year_days(financial_year: str) -> int:
    start = int(financial_year[:4])
    return (date(start + 1, 4, 1) - date(start, 4, 1)).days


@dataclass(frozen=True)
class SpendRow:
    month: date  # the first of the month
    financial_year: str
    sector: str
    amount: Decimal


def monthly_spend(line: RegisterLine, until: date) -> dict[date, Decimal]:
    """A contract's net value month by month over its term (open-ended: to `until`)."""
    c = line.contract
    end = c.end_date or until
    out = {}
    month = date(c.start_date.year, c.start_date.month, 1)
    while month <= end:
        following = add_months(month, 1)
        first, last = max(month, c.start_date), min(following - timedelta(days=1), end)
        days = (last - first).days + 1
        fy = financial_year_of(month)
        out[month] = (line.net_value * days / _year_days(fy)).quantize(PENNY, ROUND_HALF_EVEN)
        month = following
    return out


def spend_by_sector(lines: Iterable[RegisterLine], until: date) -> list[SpendRow]:
    """Net contract value by holder sector and month, every sector present in every month."""
    totals: dict[tuple[date, str], Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        for month, amount in monthly_spend(line, until).items():
            totals[(month, line.holder_sector)] += amount
    months = sorted({m for m, _ in totals})
    sectors = [s for s in SECTORS if s != "unknown" or any(k[1] == s for k in totals)]
    return [
        SpendRow(m, financial_year_of(m), s, totals.get((m, s), ZERO))
        for m in months
        for s in sectors
    ]


def spend_by_year(rows: Iterable[SpendRow]) -> dict[str, dict[str, Decimal]]:
    """Financial year -> sector -> spend."""
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for r in rows:
        out[r.financial_year][r.sector] += r.amount
    return {y: dict(s) for y, s in sorted(out.items())}


# ---- the store ---------------------------------------------------------------------------------


def holders(session: Session) -> dict[str, Holder]:
    from integrated_care.footprint.models import Organisation

    rows = session.execute(
        select(
            Organisation.org_code, Organisation.name, Organisation.sector, Organisation.statutory
        )
    ).all()
    return {code: Holder(name, sector, statutory) for code, name, sector, statutory in rows}


def decision_records(session: Session) -> dict[str, list[DecisionRecord]]:
    out: dict[str, list[DecisionRecord]] = defaultdict(list)
    for d in session.scalars(select(ContractDecision).order_by(ContractDecision.id)):
        out[d.contract_id].append(
            DecisionRecord(
                d.decided_by,
                d.decision_body,
                d.decided_on,
                d.best_value_rationale,
                list(d.conflicts_declared or []),
                d.recorded_by,
                d.recorded_at,
            )
        )
    return out


def register(session: Session, as_at: date) -> list[RegisterLine]:
    """Every contract held, as in force (its latest variation), analysed as at `as_at`."""
    contracts = list(current_records(session).values())
    return analyse(contracts, holders(session), decision_records(session), as_at)


def record_decision(
    session: Session,
    contract_id: str,
    decided_by: str,
    decided_on: date,
    best_value_rationale: str,
    conflicts_declared: list[dict[str, str]],
    by: By,
    decision_body: str | None = None,
) -> ContractDecision:
    """Add a decision record to a contract (records are never changed: a later one is added)."""
    found = []
    if session.get(Contract, contract_id) is None:
        found.append(f"there is no contract {contract_id}")
    if not decided_by.strip():
        found.append("say who decided")
    if not best_value_rationale.strip():
        found.append("give the best-value rationale")
    for i, c in enumerate(conflicts_declared):
        if not str(c.get("declared_by", "")).strip() or not str(c.get("interest", "")).strip():
            found.append(f"conflict {i + 1}: say who declared it and what the interest is")
    if found:
        raise ContractError(found)
    row = ContractDecision(
        contract_id=contract_id,
        decided_by=decided_by.strip(),
        decision_body=decision_body,
        decided_on=decided_on,
        best_value_rationale=best_value_rationale.strip(),
        conflicts_declared=[
            {k: str(c.get(k, "")) for k in ("declared_by", "interest", "action")}
            for c in conflicts_declared
        ],
        recorded_by=by.username,
        recorded_by_organisation=by.organisation,
    )
    session.add(row)
    session.flush()
    return row


# ---- loading the input layer --------------------------------------------------------------------


@dataclass
class ContractsImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)


def _record_from_extract(r: Mapping[str, Any]) -> ContractRecord:
    value = r["annual_value"]
    value = value if isinstance(value, Decimal) else Decimal(repr(value)).quantize(PENNY)
    return ContractRecord(
        str(r["contract_id"]),
        str(r["commissioner_code"]),
        str(r["holder_code"]),
        str(r["contract_type"]),
        r.get("parent_contract_id") or None,
        str(r.get("services") or ""),
        value.quantize(PENNY),
        r["start_date"],
        r.get("end_date"),
        str(r["procurement_route"]),
    )


def store_contracts(
    session: Session, records: Iterable[ContractRecord], by: By
) -> ContractsImportReport:
    """Register new contracts, and vary changed ones (a variation supersedes the version in
    force; nothing is overwritten). All or nothing: any invalid record and nothing is stored."""
    records = list(records)
    found = [p for c in records for p in problems(c)]
    if found:
        raise ContractError(found)
    report = ContractsImportReport()
    held = current_records(session)
    for c in records:
        if c.contract_id not in held:
            values = {k: getattr(c, k) for k in FIELDS}
            session.add(
                Contract(
                    contract_id=c.contract_id,
                    recorded_by=by.username,
                    recorded_by_organisation=by.organisation,
                    **values,
                )
            )
            report.added += 1
        elif held[c.contract_id] != c:
            vary(session, c, by, "changed in the contracts extract")
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()
    return report


def import_contracts(
    session: Session, folder: Path, actor: str = "ics-cli"
) -> ContractsImportReport:
    """Load the input layer's ``contracts`` table from `folder` (``contracts.parquet`` or a
    ``contracts/`` folder of parts) into the register, audited as ``finance.contracts.import``.
    Loading the same extract again changes nothing."""
    import pyarrow.parquet as pq

    path = folder / "contracts.parquet"
    if not path.exists():
        if not (folder / "contracts").is_dir():
            raise FileNotFoundError(f"{folder} has no contracts.parquet (nor a contracts/ folder)")
        path = folder / "contracts"
    records = [_record_from_extract(r) for r in pq.read_table(path).to_pylist()]
    report = store_contracts(session, records, IMPORTER)
    known = holders(session)
    report.problems = sorted(
        f"{c.contract_id}: {role} {code} is not in the footprint"
        for c in records
        for role, code in (("holder", c.holder_code), ("commissioner", c.commissioner_code))
        if code not in known
    )
    record_event(
        session,
        actor=actor,
        action="finance.contracts.import",
        outcome="success",
        record_type="finance_contract",
        record_id=str(folder)[:200],
        detail=asdict(report),
    )
    return report
