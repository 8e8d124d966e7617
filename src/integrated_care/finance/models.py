"""The finance domain's tables: plan versions and their status, the ledger, control totals and
the monthly returns figures arrived in.

Every table is append-only (database triggers refuse UPDATE and DELETE, see migration
0005_finance). A correction is a new row that names the row it supersedes; the figure in force
for a cell is the one no later row supersedes. Two indexes keep each cell's history a single
chain: only one row per cell may supersede nothing, and no row may be superseded twice.

Money is held as whole pence in a 64-bit integer and handed to Python as ``Decimal`` pounds:
exact on SQLite (which has no decimal type) and PostgreSQL alike, and never a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from integrated_care.db import Base, BigId, Timestamp, utcnow

PENNY = Decimal("0.01")

KINDS = ("plan", "actual", "forecast")
PLAN_STATUSES = ("submitted", "revised", "agreed")
SOURCES = ("manual", "return", "api", "import")
RETURN_FORMATS = ("xlsx", "csv", "json")
AGREEMENT_STATUSES = ("proposed", "agreed", "withdrawn")


class Money(TypeDecorator[Decimal]):
    """Pounds as ``Decimal`` in Python, whole pence as BIGINT in the database."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be a Decimal or an int, never a float")
        pounds = Decimal(value)
        if pounds != pounds.quantize(PENNY):
            raise ValueError(f"{value} has fractions of a penny")
        return int(pounds * 100)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(PENNY)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class _Recorded:
    """Who entered a row, for whom, and when: every figure is traceable."""

    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_by_organisation: Mapped[str | None] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class PlanVersion(_Recorded, Base):
    """One version of an organisation's plan for a financial year (1, 2, ...)."""

    __tablename__ = "finance_plan_version"
    __table_args__ = (
        UniqueConstraint("org_code", "financial_year", "number"),
        CheckConstraint("number >= 1", name="number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_code: Mapped[str] = mapped_column(String(12))
    financial_year: Mapped[str] = mapped_column(String(7))
    number: Mapped[int] = mapped_column(Integer)
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("finance_plan_version.id"))
    note: Mapped[str | None] = mapped_column(Text)


class PlanStatus(_Recorded, Base):
    """A step in a plan version's life: submitted, revised (replacing an earlier version) or
    agreed. The latest step is the version's status."""

    __tablename__ = "finance_plan_status"
    __table_args__ = (CheckConstraint(_one_of("status", PLAN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_version_id: Mapped[int] = mapped_column(ForeignKey("finance_plan_version.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)


class MonthlyReturn(_Recorded, Base):
    """A monthly return as received: the file, its checksum and what it changed."""

    __tablename__ = "finance_return"
    __table_args__ = (
        CheckConstraint("month BETWEEN 1 AND 12", name="month"),
        CheckConstraint(_one_of("format", RETURN_FORMATS), name="format"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_code: Mapped[str] = mapped_column(String(12), index=True)
    financial_year: Mapped[str] = mapped_column(String(7))
    month: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(4))
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    cells: Mapped[int] = mapped_column(Integer)
    entries_added: Mapped[int] = mapped_column(Integer)


class LedgerEntry(_Recorded, Base):
    """One figure: an organisation's plan, actual or forecast for one month and line.

    A cell is (organisation, year, month, line, kind, plan version, recurrent). Amounts are
    positive as entered; the chart of lines (data/lines.csv) says whether a line adds to or
    takes from the surplus.
    """

    __tablename__ = "finance_entry"
    __table_args__ = (
        CheckConstraint("month BETWEEN 1 AND 12", name="month"),
        CheckConstraint(_one_of("kind", KINDS), name="kind"),
        CheckConstraint(_one_of("source", SOURCES), name="source"),
        CheckConstraint(
            "(kind = 'plan' AND plan_version_id IS NOT NULL) "
            "OR (kind <> 'plan' AND plan_version_id IS NULL)",
            name="plan_version",
        ),
        UniqueConstraint("supersedes_id"),
        Index("ix_finance_entry_org_year", "org_code", "financial_year"),
        Index(
            "uq_finance_entry_cell_root",
            "org_code",
            "financial_year",
            "month",
            "line",
            "kind",
            "recurrent",
            unique=True,
            sqlite_where=text("supersedes_id IS NULL AND plan_version_id IS NULL"),
            postgresql_where=text("supersedes_id IS NULL AND plan_version_id IS NULL"),
        ),
        Index(
            "uq_finance_entry_plan_cell_root",
            "plan_version_id",
            "month",
            "line",
            "recurrent",
            unique=True,
            sqlite_where=text("supersedes_id IS NULL AND plan_version_id IS NOT NULL"),
            postgresql_where=text("supersedes_id IS NULL AND plan_version_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_code: Mapped[str] = mapped_column(String(12))
    financial_year: Mapped[str] = mapped_column(String(7))
    month: Mapped[int] = mapped_column(Integer)
    line: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(10))
    plan_version_id: Mapped[int | None] = mapped_column(ForeignKey("finance_plan_version.id"))
    recurrent: Mapped[bool] = mapped_column(Boolean, default=True)
    amount: Mapped[Decimal] = mapped_column("amount_pence", Money)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("finance_entry.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10))
    return_id: Mapped[str | None] = mapped_column(ForeignKey("finance_return.id"), index=True)


class ControlTotal(_Recorded, Base):
    """An organisation's control total for a year: planned surplus (+) or deficit (-).

    The system's control total is the sum of its organisations' and is never stored, so it
    cannot disagree with them.
    """

    __tablename__ = "finance_control_total"
    __table_args__ = (
        UniqueConstraint("supersedes_id"),
        Index(
            "uq_finance_control_total_root",
            "org_code",
            "financial_year",
            unique=True,
            sqlite_where=text("supersedes_id IS NULL"),
            postgresql_where=text("supersedes_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_code: Mapped[str] = mapped_column(String(12))
    financial_year: Mapped[str] = mapped_column(String(7))
    amount: Mapped[Decimal] = mapped_column("amount_pence", Money)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("finance_control_total.id"))
    reason: Mapped[str | None] = mapped_column(Text)


class ShareAgreement(_Recorded, Base):
    """One version of a risk / gain share agreement between organisations for a year.

    ``reference`` names the agreement across its versions; a change is a new row superseding
    the version before (migration 0012_finance_agreements). ``rules`` holds the sharing rules
    as plain data (method, basis, fixed shares, corridors, caps and floors, host), read by
    :func:`integrated_care.finance.risk_share.agreement_from_dict`.
    """

    __tablename__ = "finance_share_agreement"
    __table_args__ = (
        CheckConstraint(_one_of("status", AGREEMENT_STATUSES), name="status"),
        UniqueConstraint("supersedes_id"),
        Index(
            "uq_finance_share_agreement_root",
            "reference",
            unique=True,
            sqlite_where=text("supersedes_id IS NULL"),
            postgresql_where=text("supersedes_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40))
    financial_year: Mapped[str] = mapped_column(String(7), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    parties: Mapped[list[str]] = mapped_column(JSON)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("finance_share_agreement.id"))
    reason: Mapped[str | None] = mapped_column(Text)


# The contracts register's tables live in their own module; imported here so that every finance
# table is registered with the metadata Alembic compares against.
from integrated_care.finance import contract_models as _contract_models  # noqa: E402, F401
