"""Referrals' tables: the directory of services organisations take referrals into, referrals
between organisations, and each referral's append-only status history.

Organisations are held by ODS code (the footprint's ``org_code``) and checked through the
footprint's service functions, not by a foreign key into another domain's tables. The patient
is the shared care record's Patient id; the referral keeps the NHS number, name and date of
birth the referrer sent, as a referral letter does, so the receiving service can identify the
person without opening the record.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from integrated_care.db import Base, BigId, Timestamp, utcnow

SERVICE_KINDS = (
    "social_prescribing",
    "community_nursing",
    "mental_health",
    "falls",
    "debt_advice",
    "carers_support",
    "physiotherapy",
    "housing_support",
    "befriending",
    "weight_management",
)
URGENCIES = ("routine", "urgent", "two_week_wait")
STATUSES = ("requested", "accepted", "declined", "completed", "withdrawn")
OPEN_STATUSES = ("requested", "accepted")


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Service(Base):
    """A service an organisation takes referrals into (the service directory)."""

    __tablename__ = "coord_service"
    __table_args__ = (
        CheckConstraint(one_of("kind", SERVICE_KINDS), name="kind"),
        CheckConstraint("wait_target_days > 0", name="wait_target_positive"),
        UniqueConstraint("org_code", "name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text)
    criteria: Mapped[str] = mapped_column(Text)
    wait_target_days: Mapped[int] = mapped_column(Integer)
    accepting: Mapped[bool] = mapped_column(Boolean)


class Referral(Base):
    """A referral of a patient from one organisation to another's service."""

    __tablename__ = "coord_referral"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("urgency", URGENCIES), name="urgency"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    nhs_number: Mapped[str] = mapped_column(String(10))
    patient_name: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    service_id: Mapped[int] = mapped_column(BigId, ForeignKey("coord_service.id"), index=True)
    from_org_code: Mapped[str] = mapped_column(String(12), index=True)
    to_org_code: Mapped[str] = mapped_column(String(12), index=True)
    referred_by: Mapped[str] = mapped_column(String(150))
    reason: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(15))
    consent_recorded_by: Mapped[str] = mapped_column(String(150))
    consent_note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), index=True)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(Timestamp)
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    service_request_id: Mapped[str | None] = mapped_column(String(64))
    task_id: Mapped[str | None] = mapped_column(String(64))


class ReferralEvent(Base):
    """One change of a referral's status: who, when, from what to what, and why (append-only:
    the database refuses updates and deletes)."""

    __tablename__ = "coord_referral_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    referral_id: Mapped[int] = mapped_column(BigId, ForeignKey("coord_referral.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    by: Mapped[str] = mapped_column(String(150))
    by_org_code: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
