"""Break-glass: a clinician opens a record without a care relationship, giving a reason.

A use lasts ``DURATION`` (8 hours, a clinical shift) for that user and patient: within it the
user reads and writes the record without giving the reason again; after it they must break the
glass again. Each use is a row the Caldicott guardian reviews (with a note), and an audit event
``record.break-glass`` carrying the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts.audit import record_event
from integrated_care.accounts.policy import Principal
from integrated_care.record.access_models import BreakGlass

DURATION = timedelta(hours=8)
MAX_REASON = 2000


def active(session: Session, username: str, patient_id: str) -> BreakGlass | None:
    """The user's break-glass on this patient's record still in force, if any."""
    return session.scalars(
        select(BreakGlass)
        .where(
            BreakGlass.username == username,
            BreakGlass.patient_id == patient_id,
            BreakGlass.expires_at > db.utcnow(),
        )
        .order_by(BreakGlass.id.desc())
        .limit(1)
    ).first()


def active_patients(username: str):  # type: ignore[no-untyped-def]
    """A SELECT of the patients whose records `username` has broken the glass on, in force
    when the statement runs (the time is taken at each execution, so the SELECT can be built
    once and reused)."""
    now = bindparam("break_glass_now", callable_=db.utcnow, type_=BreakGlass.expires_at.type)
    return select(BreakGlass.patient_id).where(
        BreakGlass.username == username, BreakGlass.expires_at > now
    )


def start(
    session: Session, principal: Principal, patient_id: str, reason: str, interaction: str
) -> BreakGlass:
    """Record a break-glass (in the caller's transaction) and audit it."""
    now = db.utcnow()
    row = BreakGlass(
        username=principal.username,
        organisation_code=principal.organisation_code,
        patient_id=patient_id,
        reason=reason.strip()[:MAX_REASON],
        interaction=interaction,
        started_at=now,
        expires_at=now + DURATION,
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=principal.username,
        organisation=principal.organisation_code,
        action="record.break-glass",
        outcome="success",
        record_type="Patient",
        record_id=patient_id,
        reason=row.reason,
        detail={
            "patient": patient_id,
            "access": "break-glass",
            "interaction": interaction,
            "break_glass_id": row.id,
            "expires_at": row.expires_at.isoformat(),
            "auth_method": principal.auth_method,
        },
    )
    return row


@dataclass(frozen=True)
class BreakGlassFilter:
    reviewed: bool | None = None  # None: all
    username: str | None = None
    patient_id: str | None = None


def uses(
    session: Session, where: BreakGlassFilter, *, limit: int = 100, offset: int = 0
) -> list[BreakGlass]:
    """Break-glass uses, newest first."""
    query = select(BreakGlass)
    if where.reviewed is True:
        query = query.where(BreakGlass.reviewed_at.is_not(None))
    elif where.reviewed is False:
        query = query.where(BreakGlass.reviewed_at.is_(None))
    if where.username:
        query = query.where(BreakGlass.username == where.username)
    if where.patient_id:
        query = query.where(BreakGlass.patient_id == where.patient_id)
    return list(session.scalars(query.order_by(BreakGlass.id.desc()).limit(limit).offset(offset)))


class ReviewError(ValueError):
    pass


def review(session: Session, use_id: int, reviewer: Principal, note: str) -> BreakGlass:
    """The Caldicott guardian marks a break-glass reviewed, with a note (audited)."""
    row = session.get(BreakGlass, use_id)
    if row is None:
        raise ReviewError(f"there is no break-glass use {use_id}")
    if not note.strip():
        raise ReviewError("write a note saying what was found")
    row.reviewed_at = db.utcnow()
    row.reviewed_by = reviewer.username
    row.review_note = note.strip()[:MAX_REASON]
    session.flush()
    record_event(
        session,
        actor=reviewer.username,
        organisation=reviewer.organisation_code,
        action="record.break-glass-review",
        outcome="success",
        record_type="BreakGlass",
        record_id=str(row.id),
        reason=row.review_note,
        detail={"patient": row.patient_id, "user": row.username},
    )
    return row


def as_dict(row: BreakGlass) -> dict[str, object]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": row.id,
        "user": row.username,
        "organisation": row.organisation_code,
        "patient": row.patient_id,
        "reason": row.reason,
        "interaction": row.interaction,
        "started_at": iso(row.started_at),
        "expires_at": iso(row.expires_at),
        "reviewed_at": iso(row.reviewed_at),
        "reviewed_by": row.reviewed_by,
        "review_note": row.review_note,
    }
