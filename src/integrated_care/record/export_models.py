"""Bulk $export jobs: one row per asynchronous export, polled by the client until complete.

The NDJSON files themselves live on disk under ``<data_dir>/exports/<job id>/``; the row keeps
who asked, what they asked for (level, ``_type``, ``_since``), the job's progress and, once
complete, the manifest's ``output`` and ``error`` lists and how many patients were left out for
the national data opt-out or recorded dissent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from integrated_care.db import Base, Timestamp


class ExportJob(Base):
    """A bulk data export requested with ``Prefer: respond-async``."""

    __tablename__ = "record_export_job"
    __table_args__ = (Index("ix_record_export_job_user", "username", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    level: Mapped[str] = mapped_column(String(20))  # system | group | patient
    group_id: Mapped[str | None] = mapped_column(String(64))
    resource_types: Mapped[str | None] = mapped_column(Text)  # comma-separated ``_type``
    since: Mapped[datetime | None] = mapped_column(Timestamp)
    request_url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # queued | running | complete | failed | ...
    progress: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    transaction_time: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    output: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    patients_exported: Mapped[int | None] = mapped_column(Integer)
    patients_opted_out: Mapped[int | None] = mapped_column(Integer)
    patients_dissented: Mapped[int | None] = mapped_column(Integer)
