"""The access rules' own table: break-glass uses, kept for the Caldicott guardian's review.

One row per break-glass: who (username and organisation), whose record, the reason given, when
it started and until when it lasts (``break_glass.DURATION``), and the guardian's review. The
per-interaction audit events stay in the platform audit log; this table is the guardian's
worklist and the record of how long access was opened.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from integrated_care.db import Base, BigId, Timestamp


class BreakGlass(Base):
    """A clinician opened a record without a care relationship, giving a reason."""

    __tablename__ = "record_break_glass"
    __table_args__ = (
        Index("ix_record_break_glass_user_patient", "username", "patient_id", "expires_at"),
        Index("ix_record_break_glass_reviewed", "reviewed_at"),
        Index("ix_record_break_glass_patient", "patient_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    organisation_code: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    interaction: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    reviewed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    reviewed_by: Mapped[str | None] = mapped_column(String(150))
    review_note: Mapped[str | None] = mapped_column(Text)
