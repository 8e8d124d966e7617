"""The workforce domain's tables: staff members and their passports (credentials), the checklist
each role requires at each organisation, movements between member organisations with their step
history, and the monthly workforce plan (planned and actual FTE by organisation and staff group).

Organisations are held by ODS code (the footprint's ``org_code``) and checked through the
footprint's service functions, not by a foreign key into another domain's tables.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from integrated_care.db import Base, BigId, Timestamp, utcnow

STAFF_GROUPS = (
    "medical",
    "nursing",
    "ahp",
    "scientific",
    "admin",
    "estates",
    "social_care",
    "other",
)
CREDENTIAL_KINDS = (
    "identity_check",
    "right_to_work",
    "dbs",
    "professional_registration",
    "core_skills",
    "occupational_health",
)
# In increasing order: a check at one level satisfies a requirement at any level below it.
DBS_LEVELS = ("basic", "standard", "enhanced", "enhanced_barred")
REGISTRATION_BODIES = ("GMC", "NMC", "HCPC", "GPhC", "SWE")
MECHANISMS = ("sharing_agreement", "secondment", "honorary_contract", "bank")
MOVEMENT_STATUSES = (
    "requested",
    "home_approved",
    "consented",
    "checked",
    "active",
    "ended",
    "declined",
    "withdrawn",
)


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class StaffMember(Base):
    """A member of staff of a member organisation; optionally the platform user they sign in as."""

    __tablename__ = "workforce_staff"
    __table_args__ = (CheckConstraint(one_of("staff_group", STAFF_GROUPS), name="staff_group"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    home_org_code: Mapped[str] = mapped_column(String(12), index=True)
    staff_group: Mapped[str] = mapped_column(String(15))
    role: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("account_user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Credential(Base):
    """One entry in a staff passport: a check, registration or training, with its evidence.

    ``subject`` is the core skills subject for training; ``dbs_level`` the level of a DBS check;
    ``registration_body`` and ``registration_number`` a professional registration.
    """

    __tablename__ = "workforce_credential"
    __table_args__ = (
        CheckConstraint(one_of("kind", CREDENTIAL_KINDS), name="kind"),
        CheckConstraint(f"dbs_level IS NULL OR {one_of('dbs_level', DBS_LEVELS)}", name="dbs"),
        CheckConstraint(
            f"registration_body IS NULL OR {one_of('registration_body', REGISTRATION_BODIES)}",
            name="registration_body",
        ),
        CheckConstraint("expires_on IS NULL OR expires_on >= issued_on", name="dates"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("workforce_staff.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    subject: Mapped[str | None] = mapped_column(String(60))
    dbs_level: Mapped[str | None] = mapped_column(String(20))
    registration_body: Mapped[str | None] = mapped_column(String(10))
    registration_number: Mapped[str | None] = mapped_column(String(30))
    issuer_org_code: Mapped[str | None] = mapped_column(String(12))
    issuer_name: Mapped[str | None] = mapped_column(String(200))
    evidence_ref: Mapped[str] = mapped_column(String(200))
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Requirement(Base):
    """One line of a role's checklist at an organisation.

    ``detail`` is the minimum DBS level (kind dbs), the registration body (kind
    professional_registration) or the training subject (kind core_skills); otherwise empty.
    """

    __tablename__ = "workforce_requirement"
    __table_args__ = (
        CheckConstraint(one_of("kind", CREDENTIAL_KINDS), name="kind"),
        UniqueConstraint("org_code", "role", "kind", "detail"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_code: Mapped[str] = mapped_column(String(12), index=True)
    role: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str] = mapped_column(String(60), default="")


class Movement(Base):
    """A request for a member of staff to work at another member organisation for a time."""

    __tablename__ = "workforce_movement"
    __table_args__ = (
        CheckConstraint(one_of("mechanism", MECHANISMS), name="mechanism"),
        CheckConstraint(one_of("status", MOVEMENT_STATUSES), name="status"),
        CheckConstraint("end_date >= start_date", name="dates"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("workforce_staff.id"), index=True)
    home_org_code: Mapped[str] = mapped_column(String(12))
    host_org_code: Mapped[str] = mapped_column(String(12), index=True)
    role: Mapped[str] = mapped_column(String(100))
    site: Mapped[str | None] = mapped_column(String(200))
    mechanism: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(15), default="requested", index=True)
    requested_by: Mapped[str] = mapped_column(String(150))
    requested_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class MovementStep(Base):
    """One step a movement went through (or was refused), newest last."""

    __tablename__ = "workforce_movement_step"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    movement_id: Mapped[int] = mapped_column(ForeignKey("workforce_movement.id"), index=True)
    step: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str] = mapped_column(String(15))
    to_status: Mapped[str] = mapped_column(String(15))
    outcome: Mapped[str] = mapped_column(String(10))  # success | denied
    note: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(150))
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class PlanMonth(Base):
    """Planned and actual FTE and headcount of one staff group at one organisation in a month.

    ``month`` is the first day of the month; actual FTE is of staff in post on that day.
    """

    __tablename__ = "workforce_plan_month"
    __table_args__ = (
        CheckConstraint(one_of("staff_group", STAFF_GROUPS), name="staff_group"),
        UniqueConstraint("org_code", "month", "staff_group"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_code: Mapped[str] = mapped_column(String(12), index=True)
    month: Mapped[date] = mapped_column(Date)
    staff_group: Mapped[str] = mapped_column(String(15))
    planned_fte: Mapped[float | None] = mapped_column(Float)
    actual_fte: Mapped[float] = mapped_column(Float)
    headcount: Mapped[int] = mapped_column(Integer)


class NewRoleMonth(Base):
    """Staff in post in one of the new roles (physician associate, ANP, ...) in a month."""

    __tablename__ = "workforce_new_role_month"
    __table_args__ = (UniqueConstraint("org_code", "month", "role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_code: Mapped[str] = mapped_column(String(12), index=True)
    month: Mapped[date] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(100))
    fte: Mapped[float] = mapped_column(Float)
    headcount: Mapped[int] = mapped_column(Integer)
