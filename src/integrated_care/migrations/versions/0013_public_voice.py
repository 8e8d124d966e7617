"""Governance public voice: papers uploaded as PDF, residents' questions to meetings,
consultations on draft plans with comments, themes and the ICS's responses, and the engagement
log of partners' part in meetings and consultations.

Revision ID: 0013_public_voice
Revises: 0012_finance_agreements
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_public_voice"
down_revision = "0012_finance_agreements"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", BigId, nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def _index(table: str, column: str, unique: bool = False) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=unique)


def upgrade() -> None:
    op.create_table(
        "governance_paper_file",
        _id(),
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=150), nullable=False),
        sa.Column("uploaded_at", Timestamp, nullable=False),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_governance_paper_file_size")),
        _fk("governance_paper_file", "item_id", "governance_item"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_paper_file")),
    )
    _index("governance_paper_file", "item_id")

    op.create_table(
        "governance_question",
        _id(),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("meeting_id", BigId, nullable=False),
        sa.Column("asker_name", sa.String(length=200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", Timestamp, nullable=False),
        sa.Column("respond_by", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("moderation_reason", sa.Text(), nullable=True),
        sa.Column("moderated_by", sa.String(length=150), nullable=True),
        sa.Column("moderated_at", Timestamp, nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=150), nullable=True),
        sa.Column("answered_at", Timestamp, nullable=True),
        sa.CheckConstraint(
            "status IN ('submitted', 'accepted', 'rejected', 'answered')",
            name=op.f("ck_governance_question_status"),
        ),
        sa.CheckConstraint(
            "status <> 'rejected' OR moderation_reason IS NOT NULL",
            name=op.f("ck_governance_question_rejection_reason"),
        ),
        sa.CheckConstraint(
            "status <> 'answered' OR answer IS NOT NULL",
            name=op.f("ck_governance_question_answer"),
        ),
        _fk("governance_question", "meeting_id", "governance_meeting"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_question")),
        sa.UniqueConstraint("reference", name=op.f("uq_governance_question_reference")),
    )
    _index("governance_question", "meeting_id")
    _index("governance_question", "client_key")

    op.create_table(
        "governance_consultation",
        _id(),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("draft_plan", sa.Text(), nullable=False),
        sa.Column("body_id", BigId, nullable=True),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("published_at", Timestamp, nullable=True),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint("closes_on >= opens_on", name=op.f("ck_governance_consultation_dates")),
        _fk("governance_consultation", "body_id", "governance_body"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_consultation")),
        sa.UniqueConstraint("title", name=op.f("uq_governance_consultation_title")),
    )

    op.create_table(
        "governance_theme",
        _id(),
        sa.Column("consultation_id", BigId, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("responded_by", sa.String(length=150), nullable=True),
        sa.Column("responded_at", Timestamp, nullable=True),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        _fk("governance_theme", "consultation_id", "governance_consultation"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_theme")),
    )
    _index("governance_theme", "consultation_id")

    op.create_table(
        "governance_comment",
        _id(),
        sa.Column("consultation_id", BigId, nullable=False),
        sa.Column("theme_id", BigId, nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("respondent_kind", sa.String(length=15), nullable=False),
        sa.Column("organisation_name", sa.String(length=200), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "respondent_kind IN ('resident', 'organisation')",
            name=op.f("ck_governance_comment_respondent_kind"),
        ),
        sa.CheckConstraint(
            "respondent_kind <> 'organisation' OR organisation_name IS NOT NULL",
            name=op.f("ck_governance_comment_organisation"),
        ),
        _fk("governance_comment", "consultation_id", "governance_consultation"),
        _fk("governance_comment", "theme_id", "governance_theme"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_comment")),
    )
    _index("governance_comment", "consultation_id")
    _index("governance_comment", "theme_id")
    _index("governance_comment", "client_key")

    op.create_table(
        "governance_engagement",
        _id(),
        sa.Column("organisation_name", sa.String(length=200), nullable=False),
        sa.Column("org_code", sa.String(length=12), nullable=True),
        sa.Column("participant_kind", sa.String(length=30), nullable=False),
        sa.Column("person_name", sa.String(length=200), nullable=True),
        sa.Column("meeting_id", BigId, nullable=True),
        sa.Column("consultation_id", BigId, nullable=True),
        sa.Column("contribution", sa.String(length=20), nullable=False),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "participant_kind IN ('pcn_clinical_director', 'clinician', "
            "'local_medical_committee', 'healthwatch', 'council')",
            name=op.f("ck_governance_engagement_participant_kind"),
        ),
        sa.CheckConstraint(
            "contribution IN ('attended', 'presented', 'asked_question', 'commented', "
            "'formal_response')",
            name=op.f("ck_governance_engagement_contribution"),
        ),
        sa.CheckConstraint(
            "(meeting_id IS NULL) <> (consultation_id IS NULL)",
            name=op.f("ck_governance_engagement_one_occasion"),
        ),
        _fk("governance_engagement", "meeting_id", "governance_meeting"),
        _fk("governance_engagement", "consultation_id", "governance_consultation"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_governance_engagement")),
    )
    _index("governance_engagement", "organisation_name")
    _index("governance_engagement", "meeting_id")
    _index("governance_engagement", "consultation_id")


def downgrade() -> None:
    for table in (
        "governance_engagement",
        "governance_comment",
        "governance_theme",
        "governance_consultation",
        "governance_question",
        "governance_paper_file",
    ):
        op.drop_table(table)
