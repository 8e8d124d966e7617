"""The population-health domain's tables in the operational store: saved case-finding cohorts.

A cohort is a name; each saved definition is a new row of ``cohort_version`` (1, 2, 3...), never
an update, so every list an analyst ran can be run again exactly as it was. Who saved each
version, and when, is kept with it (and in the audit log).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from integrated_care.db import Base, BigId, Timestamp, utcnow


class Cohort(Base):
    """A saved case-finding cohort, identified by its name."""

    __tablename__ = "cohort"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(150))

    versions: Mapped[list[CohortVersion]] = relationship(
        back_populates="cohort", order_by="CohortVersion.version", lazy="selectin"
    )


class CohortVersion(Base):
    """One saved definition of a cohort (``health.cohorts.CohortDefinition`` as JSON)."""

    __tablename__ = "cohort_version"
    __table_args__ = (UniqueConstraint("cohort_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    definition_sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(150))
    created_by_organisation: Mapped[str | None] = mapped_column(String(20))

    cohort: Mapped[Cohort] = relationship(back_populates="versions")
