"""MDT worklists: a PCN multi-disciplinary team's snapshot of a case-finding cohort.

A worklist is made once from a saved cohort for one PCN at one date; its entries are the
re-identified patients (FHIR Patient ids of the shared care record) who were members then.
Each entry carries its current action, owner, due date and status; every discussion, assignment
and status change is also appended to ``mdt_entry_event`` (the database refuses to change or
delete those rows), so the team's progress can be charted over time and nothing is rewritten.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from integrated_care.db import Base, BigId, Timestamp, utcnow

ENTRY_STATUSES = ("open", "in_progress", "done")
EVENT_KINDS = ("added", "discussed", "assigned", "status")


class MdtWorklist(Base):
    """One cohort's members for one PCN, as they were on ``as_of``."""

    __tablename__ = "mdt_worklist"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pcn_code: Mapped[str] = mapped_column(String(12), index=True)
    title: Mapped[str] = mapped_column(String(200))
    cohort_name: Mapped[str] = mapped_column(String(63))
    cohort_version: Mapped[str] = mapped_column(String(20))
    cohort_title: Mapped[str] = mapped_column(String(200))
    as_of: Mapped[date] = mapped_column(Date)
    # Members of the cohort in the PCN on as_of; entries are those found in the shared care
    # record (the record may hold fewer people than the warehouse).
    cohort_members: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(150))
    created_by_organisation: Mapped[str] = mapped_column(String(20))

    entries: Mapped[list[MdtWorklistEntry]] = relationship(
        back_populates="worklist", order_by="MdtWorklistEntry.id"
    )


class MdtWorklistEntry(Base):
    """One patient on a worklist, with the team's current action for them."""

    __tablename__ = "mdt_worklist_entry"
    __table_args__ = (
        UniqueConstraint("worklist_id", "patient_id"),
        CheckConstraint("status IN ('open', 'in_progress', 'done')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    worklist_id: Mapped[int] = mapped_column(ForeignKey("mdt_worklist.id"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    practice_code: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12), default="open")
    action: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(150))
    due_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(150))
    done_at: Mapped[datetime | None] = mapped_column(Timestamp)

    worklist: Mapped[MdtWorklist] = relationship(back_populates="entries")


class MdtEntryEvent(Base):
    """Append-only history of an entry: added, discussed (a note), assigned, status changed."""

    __tablename__ = "mdt_entry_event"
    __table_args__ = (
        CheckConstraint("kind IN ('added', 'discussed', 'assigned', 'status')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("mdt_worklist_entry.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(150))
    due_date: Mapped[date | None] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    by: Mapped[str] = mapped_column(String(150))
