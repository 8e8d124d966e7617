"""Finance: risk and gain share agreements held as data, and contract variations.

Both tables are append-only (triggers refuse UPDATE and DELETE, and TRUNCATE on PostgreSQL,
reusing 0005's finance_append_only function). An agreement is changed by a new version that
supersedes the one before; a contract is changed by a variation that supersedes the one before
(or, for the first, the contract as registered). The registered contract itself becomes
append-only too, so every figure stays traceable to who entered it and when.

Revision ID: 0012_finance_agreements
Revises: 0011_mdt_care_plans
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from integrated_care.migrations.append_only import make_append_only

revision = "0012_finance_agreements"
down_revision = "0011_mdt_care_plans"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
AGREEMENTS = "finance_share_agreement"
VARIATIONS = "finance_contract_variation"

# A new version must supersede a version of the same agreement; a variation, one of the same
# contract.
SAME_CHAIN = {
    AGREEMENTS: "reference",
    VARIATIONS: "contract_id",
}


def _recorded() -> list[sa.Column]:
    return [
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_by_organisation", sa.String(length=20), nullable=True),
        sa.Column("recorded_at", Timestamp, nullable=False),
    ]


def _same_chain(dialect: str, table: str, column: str) -> list[str]:
    message = f"a new version must supersede a row with the same {column}"
    if dialect == "sqlite":
        return [
            f"""CREATE TRIGGER {table}_same_chain BEFORE INSERT ON {table}
            WHEN NEW.supersedes_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {table} t WHERE t.id = NEW.supersedes_id
                AND t.{column} = NEW.{column})
            BEGIN SELECT RAISE(ABORT, '{message}'); END"""  # noqa: S608 (constant names)
        ]
    if dialect == "postgresql":
        return [
            f"""CREATE FUNCTION {table}_same_chain() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.supersedes_id IS NOT NULL AND NOT EXISTS (
                  SELECT 1 FROM {table} t WHERE t.id = NEW.supersedes_id
                  AND t.{column} = NEW.{column}) THEN
                RAISE EXCEPTION '{message}';
              END IF;
              RETURN NEW;
            END $$""",  # noqa: S608 (constant names)
            f"""CREATE TRIGGER {table}_same_chain BEFORE INSERT ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_same_chain()""",
        ]
    return []


def _create_agreements() -> None:
    op.create_table(
        AGREEMENTS,
        sa.Column("id", BigId, nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("financial_year", sa.String(length=7), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("parties", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("supersedes_id", BigId, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        *_recorded(),
        sa.CheckConstraint(
            "status IN ('proposed', 'agreed', 'withdrawn')",
            name=op.f("ck_finance_share_agreement_status"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            [f"{AGREEMENTS}.id"],
            name=op.f("fk_finance_share_agreement_supersedes_id_finance_share_agreement"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_share_agreement")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_finance_share_agreement_supersedes_id")),
    )
    op.create_index(
        op.f("ix_finance_share_agreement_financial_year"), AGREEMENTS, ["financial_year"]
    )
    root = "supersedes_id IS NULL"
    op.create_index(
        "uq_finance_share_agreement_root",
        AGREEMENTS,
        ["reference"],
        unique=True,
        sqlite_where=sa.text(root),
        postgresql_where=sa.text(root),
    )


def _create_variations() -> None:
    op.create_table(
        VARIATIONS,
        sa.Column("id", BigId, nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("commissioner_code", sa.String(length=12), nullable=False),
        sa.Column("holder_code", sa.String(length=12), nullable=False),
        sa.Column("contract_type", sa.String(length=20), nullable=False),
        sa.Column("parent_contract_id", sa.String(length=40), nullable=True),
        sa.Column("services", sa.Text(), nullable=False),
        sa.Column("annual_value_pence", sa.BigInteger(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("procurement_route", sa.String(length=30), nullable=False),
        sa.Column("supersedes_id", BigId, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        *_recorded(),
        sa.CheckConstraint(
            "contract_type IN ('alliance', 'icp_lead_provider', 'sub_contract', "
            "'nhs_standard', 'section_75')",
            name=op.f("ck_finance_contract_variation_contract_type"),
        ),
        sa.CheckConstraint(
            "procurement_route IN ('direct_award_a', 'direct_award_b', 'direct_award_c', "
            "'most_suitable_provider', 'competitive', 'legacy')",
            name=op.f("ck_finance_contract_variation_route"),
        ),
        sa.CheckConstraint(
            "annual_value_pence >= 0", name=op.f("ck_finance_contract_variation_annual_value")
        ),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date",
            name=op.f("ck_finance_contract_variation_dates"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["finance_contract.contract_id"],
            name=op.f("fk_finance_contract_variation_contract_id_finance_contract"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            [f"{VARIATIONS}.id"],
            name=op.f("fk_finance_contract_variation_supersedes_id_finance_contract_variation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finance_contract_variation")),
        sa.UniqueConstraint(
            "supersedes_id", name=op.f("uq_finance_contract_variation_supersedes_id")
        ),
    )
    op.create_index(op.f("ix_finance_contract_variation_contract_id"), VARIATIONS, ["contract_id"])
    root = "supersedes_id IS NULL"
    op.create_index(
        "uq_finance_contract_variation_root",
        VARIATIONS,
        ["contract_id"],
        unique=True,
        sqlite_where=sa.text(root),
        postgresql_where=sa.text(root),
    )


def upgrade() -> None:
    _create_agreements()
    _create_variations()
    dialect = op.get_bind().dialect.name
    for table in (AGREEMENTS, VARIATIONS, "finance_contract"):
        make_append_only(table, guard="finance_append_only")
    for table, column in SAME_CHAIN.items():
        for statement in _same_chain(dialect, table, column):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER finance_contract_no_{event}")
    elif dialect == "postgresql":
        for trigger in ("no_change", "no_truncate"):
            op.execute(f"DROP TRIGGER finance_contract_{trigger} ON finance_contract")
    op.drop_table(VARIATIONS)
    op.drop_table(AGREEMENTS)
    if dialect == "postgresql":
        for table in SAME_CHAIN:
            op.execute(f"DROP FUNCTION {table}_same_chain()")
