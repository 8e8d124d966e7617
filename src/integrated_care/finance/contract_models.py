"""The contracts register's tables: every contract the ICB (or a lead provider) has let, its
variations, and the decision record behind each award.

``parent_contract_id`` is a plain indexed string, not a foreign key, so that the register can
name a sub-contract whose parent is missing instead of refusing it (as the footprint does for
organisations). Every table is append-only (database triggers refuse UPDATE and DELETE, see
migrations 0006_contracts and 0012_finance_agreements): a contract as registered is never
changed; a change is a :class:`ContractVariation` carrying the whole contract as varied and
superseding the variation before, so every figure can be traced to who entered it and when. A
later decision on the same contract is a new row.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from integrated_care.db import Base
from integrated_care.finance.models import BigId, Money, _one_of, _Recorded

CONTRACT_TYPES = ("alliance", "icp_lead_provider", "sub_contract", "nhs_standard", "section_75")
PROCUREMENT_ROUTES = (
    "direct_award_a",
    "direct_award_b",
    "direct_award_c",
    "most_suitable_provider",
    "competitive",
    "legacy",
)


class Contract(_Recorded, Base):
    """One contract: who commissions it, who holds it, what it sits under, its value and term."""

    __tablename__ = "finance_contract"
    __table_args__ = (
        CheckConstraint(_one_of("contract_type", CONTRACT_TYPES), name="contract_type"),
        CheckConstraint(_one_of("procurement_route", PROCUREMENT_ROUTES), name="route"),
        CheckConstraint("annual_value_pence >= 0", name="annual_value"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
    )

    contract_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    commissioner_code: Mapped[str] = mapped_column(String(12), index=True)
    holder_code: Mapped[str] = mapped_column(String(12), index=True)
    contract_type: Mapped[str] = mapped_column(String(20))
    parent_contract_id: Mapped[str | None] = mapped_column(String(40), index=True)
    services: Mapped[str] = mapped_column(Text)
    annual_value: Mapped[Decimal] = mapped_column("annual_value_pence", Money)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    procurement_route: Mapped[str] = mapped_column(String(30))


class ContractVariation(_Recorded, Base):
    """A change to a contract: the whole contract as varied. The first variation of a contract
    supersedes the contract as registered (``supersedes_id`` None); each later one, the
    variation before it."""

    __tablename__ = "finance_contract_variation"
    __table_args__ = (
        CheckConstraint(_one_of("contract_type", CONTRACT_TYPES), name="contract_type"),
        CheckConstraint(_one_of("procurement_route", PROCUREMENT_ROUTES), name="route"),
        CheckConstraint("annual_value_pence >= 0", name="annual_value"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        UniqueConstraint("supersedes_id"),
        Index(
            "uq_finance_contract_variation_root",
            "contract_id",
            unique=True,
            sqlite_where=text("supersedes_id IS NULL"),
            postgresql_where=text("supersedes_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("finance_contract.contract_id"), index=True)
    commissioner_code: Mapped[str] = mapped_column(String(12))
    holder_code: Mapped[str] = mapped_column(String(12))
    contract_type: Mapped[str] = mapped_column(String(20))
    parent_contract_id: Mapped[str | None] = mapped_column(String(40))
    services: Mapped[str] = mapped_column(Text)
    annual_value: Mapped[Decimal] = mapped_column("annual_value_pence", Money)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    procurement_route: Mapped[str] = mapped_column(String(30))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("finance_contract_variation.id"))
    reason: Mapped[str | None] = mapped_column(Text)


class ContractDecision(_Recorded, Base):
    """The decision to award a contract: who decided, on what best-value rationale, and which
    conflicts of interest were declared (a list of {"declared_by", "interest", "action"})."""

    __tablename__ = "finance_contract_decision"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("finance_contract.contract_id"), index=True)
    decided_by: Mapped[str] = mapped_column(String(200))
    decision_body: Mapped[str | None] = mapped_column(String(200))
    decided_on: Mapped[date] = mapped_column(Date)
    best_value_rationale: Mapped[str] = mapped_column(Text)
    conflicts_declared: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
