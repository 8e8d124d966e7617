"""Finance: plan versions and their status, the ledger, control totals, monthly returns.

Every finance table is append-only in the database as well as in code: triggers refuse UPDATE
and DELETE (and TRUNCATE on PostgreSQL). A correction is a new row superseding the old one, and
triggers refuse a correction that names a row of a different cell.

Revision ID: 0005_finance
Revises: 0004_record
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integrated_care.migrations.append_only import append_only_statements, guard_function

revision = "0005_finance"
down_revision = "0004_record"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
APPEND_ONLY = (
    "finance_plan_version",
    "finance_plan_status",
    "finance_return",
    "finance_entry",
    "finance_control_total",
)
# A correction must supersede a row of the same cell (the cell's columns, compared with
# IS / IS NOT DISTINCT FROM so that a NULL plan version matches NULL).
SQLITE_SAME_CELL = (
    """CREATE TRIGGER finance_entry_same_cell BEFORE INSERT ON finance_entry
    WHEN NEW.supersedes_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM finance_entry e WHERE e.id = NEW.supersedes_id
        AND e.org_code = NEW.org_code AND e.financial_year = NEW.financial_year
        AND e.month = NEW.month AND e.line = NEW.line AND e.kind = NEW.kind
        AND e.recurrent = NEW.recurrent AND e.plan_version_id IS NEW.plan_version_id)
    BEGIN SELECT RAISE(ABORT, 'a correction must supersede a row of the same cell'); END""",
    """CREATE TRIGGER finance_control_total_same_cell BEFORE INSERT ON finance_control_total
    WHEN NEW.supersedes_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM finance_control_total t WHERE t.id = NEW.supersedes_id
        AND t.org_code = NEW.org_code AND t.financial_year = NEW.financial_year)
    BEGIN SELECT RAISE(ABORT, 'a correction must supersede a row of the same cell'); END""",
)
POSTGRES_FUNCTIONS = (
    guard_function("finance_append_only"),
    """CREATE FUNCTION finance_entry_same_cell() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.supersedes_id IS NOT NULL AND NOT EXISTS (
          SELECT 1 FROM finance_entry e WHERE e.id = NEW.supersedes_id
          AND e.org_code = NEW.org_code AND e.financial_year = NEW.financial_year
          AND e.month = NEW.month AND e.line = NEW.line AND e.kind = NEW.kind
          AND e.recurrent = NEW.recurrent
          AND e.plan_version_id IS NOT DISTINCT FROM NEW.plan_version_id) THEN
        RAISE EXCEPTION 'a correction must supersede a row of the same cell';
      END IF;
      RETURN NEW;
    END $$""",
    """CREATE FUNCTION finance_control_total_same_cell() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.supersedes_id IS NOT NULL AND NOT EXISTS (
          SELECT 1 FROM finance_control_total t WHERE t.id = NEW.supersedes_id
          AND t.org_code = NEW.org_code AND t.financial_year = NEW.financial_year) THEN
        RAISE EXCEPTION 'a correction must supersede a row of the same cell';
      END IF;
      RETURN NEW;
    END $$""",
)


def _sqlite_triggers() -> list[str]:
    out = [
        statement
        for table in APPEND_ONLY
        for statement in append_only_statements("sqlite", table, guard="finance_append_only")
    ]
    return [*out, *SQLITE_SAME_CELL]


def _postgres_triggers() -> list[str]:
    out = list(POSTGRES_FUNCTIONS)
    for table in APPEND_ONLY:
        out += append_only_statements("postgresql", table, guard="finance_append_only")
    for table in ("finance_entry", "finance_control_total"):
        out.append(
            f"""CREATE TRIGGER {table}_same_cell BEFORE INSERT ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_same_cell()"""
        )
    return out


def _recorded() -> list[sa.Column]:
    return [
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_by_organisation", sa.String(length=20), nullable=True),
        sa.Column("recorded_at", Timestamp, nullable=False),
    ]


def _create_plans() -> None:
    op.create_table(
        "finance_plan_version",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("based_on_id", BigId, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        *_recorded(),
        sa.CheckConstraint("number >= 1", name=op.f("ck_finance_plan_version_number")),
        sa.ForeignKeyConstraint(
            ["based_on_id"],
            ["finance_plan_version.id"],
            name=op.f("fk_finance_plan_version_based_on_id_finance_plan_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_plan_version")),
        sa.UniqueConstraint(
            "org_code",
            "financial_year",
            "number",
            name=op.f("uq_finance_plan_version_org_code"),
        ),
    )
    op.create_table(
        "finance_plan_status",
        sa.Column("id", BigId, nullable=False),
        sa.Column("plan_version_id", BigId, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        *_recorded(),
        sa.CheckConstraint(
            "status IN ('submitted', 'revised', 'agreed')",
            name=op.f("ck_finance_plan_status_status"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_version_id"],
            ["finance_plan_version.id"],
            name=op.f("fk_finance_plan_status_plan_version_id_finance_plan_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_plan_status")),
    )
    op.create_index(
        op.f("ix_finance_plan_status_plan_version_id"), "finance_plan_status", ["plan_version_id"]
    )


def _create_returns() -> None:
    op.create_table(
        "finance_return",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=4), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("entries_added", sa.Integer(), nullable=False),
        *_recorded(),
        sa.CheckConstraint("month BETWEEN 1 AND 12", name=op.f("ck_finance_return_month")),
        sa.CheckConstraint(
            "format IN ('xlsx', 'csv', 'json')", name=op.f("ck_finance_return_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_return")),
    )
    op.create_index(op.f("ix_finance_return_org_code"), "finance_return", ["org_code"])


def _create_ledger() -> None:
    op.create_table(
        "finance_entry",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("line", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("plan_version_id", BigId, nullable=True),
        sa.Column("recurrent", sa.Boolean(), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("supersedes_id", BigId, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("return_id", sa.String(length=36), nullable=True),
        *_recorded(),
        sa.CheckConstraint("month BETWEEN 1 AND 12", name=op.f("ck_finance_entry_month")),
        sa.CheckConstraint(
            "kind IN ('plan', 'actual', 'forecast')", name=op.f("ck_finance_entry_kind")
        ),
        sa.CheckConstraint(
            "source IN ('manual', 'return', 'api', 'import')",
            name=op.f("ck_finance_entry_source"),
        ),
        sa.CheckConstraint(
            "(kind = 'plan' AND plan_version_id IS NOT NULL) "
            "OR (kind <> 'plan' AND plan_version_id IS NULL)",
            name=op.f("ck_finance_entry_plan_version"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_version_id"],
            ["finance_plan_version.id"],
            name=op.f("fk_finance_entry_plan_version_id_finance_plan_version"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["finance_entry.id"],
            name=op.f("fk_finance_entry_supersedes_id_finance_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["finance_return.id"],
            name=op.f("fk_finance_entry_return_id_finance_return"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_entry")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_finance_entry_supersedes_id")),
    )
    op.create_index("ix_finance_entry_org_year", "finance_entry", ["org_code", "financial_year"])
    op.create_index(op.f("ix_finance_entry_return_id"), "finance_entry", ["return_id"])
    roots = "supersedes_id IS NULL AND plan_version_id IS NULL"
    op.create_index(
        "uq_finance_entry_cell_root",
        "finance_entry",
        ["org_code", "financial_year", "month", "line", "kind", "recurrent"],
        unique=True,
        sqlite_where=sa.text(roots),
        postgresql_where=sa.text(roots),
    )
    plan_roots = "supersedes_id IS NULL AND plan_version_id IS NOT NULL"
    op.create_index(
        "uq_finance_entry_plan_cell_root",
        "finance_entry",
        ["plan_version_id", "month", "line", "recurrent"],
        unique=True,
        sqlite_where=sa.text(plan_roots),
        postgresql_where=sa.text(plan_roots),
    )


def _create_control_totals() -> None:
    op.create_table(
        "finance_control_total",
        sa.Column("id", BigId, nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("supersedes_id", BigId, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        *_recorded(),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["finance_control_total.id"],
            name=op.f("fk_finance_control_total_supersedes_id_finance_control_total"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_control_total")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_finance_control_total_supersedes_id")),
    )
    root = "supersedes_id IS NULL"
    op.create_index(
        "uq_finance_control_total_root",
        "finance_control_total",
        ["org_code", "financial_year"],
        unique=True,
        sqlite_where=sa.text(root),
        postgresql_where=sa.text(root),
    )


def upgrade() -> None:
    _create_plans()
    _create_returns()
    _create_ledger()
    _create_control_totals()
    triggers = {"sqlite": _sqlite_triggers, "postgresql": _postgres_triggers}
    make = triggers.get(op.get_bind().dialect.name)
    for statement in make() if make else ():
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in reversed(APPEND_ONLY):
        op.drop_table(table)
    if postgres:
        for function in (
            "finance_append_only",
            "finance_entry_same_cell",
            "finance_control_total_same_cell",
        ):
            op.execute(f"DROP FUNCTION {function}()")
