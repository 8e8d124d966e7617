"""Staff movement: a member of staff working at another member organisation for a time.

A movement goes requested -> home_approved (the home employer agrees) -> consented (the person
agrees) -> checked (the host's checklist for the role is met) -> active (access at the host) ->
ended (its end date passed, or ended early). Until it is active it may be declined (by either
employer) or withdrawn (by the person). No other transition is allowed. Activation repeats the
credential check, so a passport that has lapsed since the check cannot be activated. Every step,
and every refusal of the check, is kept in ``workforce_movement_step`` and the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.db import utcnow
from integrated_care.workforce.common import SYSTEM, Actor, NotFound, WorkforceError, audit
from integrated_care.workforce.models import MECHANISMS, Movement, MovementStep
from integrated_care.workforce.passport import Assessment, _known_org, assess, get_staff

OPEN = ("requested", "home_approved", "consented", "checked")
# step -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("requested",), "home_approved"),
    "consent": (("home_approved",), "consented"),
    "check": (("consented", "checked"), "checked"),
    "activate": (("checked",), "active"),
    "end": (("active",), "ended"),
    "decline": (OPEN, "declined"),
    "withdraw": (OPEN, "withdrawn"),
}
MECHANISM_LABELS = {
    "sharing_agreement": "Workforce-sharing agreement",
    "secondment": "Secondment",
    "honorary_contract": "Honorary contract",
    "bank": "Bank",
}
STATUS_LABELS = {
    "requested": "Requested",
    "home_approved": "Approved by home employer",
    "consented": "Consented",
    "checked": "Credentials checked",
    "active": "Active",
    "ended": "Ended",
    "declined": "Declined",
    "withdrawn": "Withdrawn",
}


class MovementBlocked(WorkforceError):
    """The host's checklist is not met; `assessment.missing` names what is missing."""

    def __init__(self, assessment: Assessment) -> None:
        super().__init__(f"cannot activate: {assessment.summary()}")
        self.assessment = assessment


@dataclass
class StepResult:
    movement: Movement
    assessment: Assessment | None = None

    @property
    def ok(self) -> bool:
        return self.assessment is None or self.assessment.ok


def get_movement(session: Session, movement_id: int) -> Movement:
    movement = session.get(Movement, movement_id)
    if movement is None:
        raise NotFound(f"no movement {movement_id}")
    return movement


def allowed_steps(movement: Movement) -> list[str]:
    """The steps that may be taken next from the movement's status."""
    return [step for step, (sources, _) in TRANSITIONS.items() if movement.status in sources]


def _record(
    session: Session,
    actor: Actor,
    movement: Movement,
    step: str,
    to_status: str,
    *,
    outcome: str = "success",
    note: str | None = None,
    detail: dict | None = None,
) -> None:
    session.add(
        MovementStep(
            movement_id=movement.id,
            step=step,
            from_status=movement.status,
            to_status=to_status,
            outcome=outcome,
            note=note,
            by=actor.username,
        )
    )
    audit(
        session,
        actor,
        f"movement.{step}",
        "movement",
        movement.id,
        {"from": movement.status, "to": to_status, **(detail or {})},
        outcome=outcome,
        reason=note,
    )
    if outcome == "success":
        movement.status = to_status
        movement.updated_at = utcnow()
    session.flush()


def _transition(session: Session, actor: Actor, movement: Movement, step: str) -> str:
    sources, target = TRANSITIONS[step]
    if movement.status not in sources:
        raise WorkforceError(
            f"step {step!r} is not allowed on a movement that is "
            f"{STATUS_LABELS[movement.status].lower()}; allowed: "
            f"{', '.join(allowed_steps(movement)) or 'none'}"
        )
    return target


def request_movement(
    session: Session,
    actor: Actor,
    *,
    staff_id: int,
    host_org_code: str,
    role: str,
    mechanism: str,
    start_date: date,
    end_date: date,
    site: str | None = None,
) -> Movement:
    """Ask for a member of staff to work at `host_org_code`; audited as ``movement.request``."""
    person = get_staff(session, staff_id)
    _known_org(session, host_org_code)
    if host_org_code == person.home_org_code:
        raise WorkforceError("the host must be another organisation than the home employer")
    if mechanism not in MECHANISMS:
        raise WorkforceError(f"mechanism must be one of {', '.join(MECHANISMS)}")
    if end_date < start_date:
        raise WorkforceError("a movement cannot end before it starts")
    if not role.strip():
        raise WorkforceError("a movement needs the role to be worked at the host")
    movement = Movement(
        staff_id=staff_id,
        home_org_code=person.home_org_code,
        host_org_code=host_org_code,
        role=role.strip(),
        site=site,
        mechanism=mechanism,
        start_date=start_date,
        end_date=end_date,
        status="requested",
        requested_by=actor.username,
    )
    session.add(movement)
    session.flush()
    session.add(
        MovementStep(
            movement_id=movement.id,
            step="request",
            from_status="requested",
            to_status="requested",
            outcome="success",
            by=actor.username,
        )
    )
    audit(
        session,
        actor,
        "movement.request",
        "movement",
        movement.id,
        {
            "staff_id": staff_id,
            "home": person.home_org_code,
            "host": host_org_code,
            "role": movement.role,
            "mechanism": mechanism,
            "start": start_date,
            "end": end_date,
        },
    )
    session.flush()
    return movement


def take_step(
    session: Session, actor: Actor, movement_id: int, step: str, note: str | None = None
) -> Movement:
    """approve, consent, decline, withdraw or end a movement (not check or activate)."""
    if step in ("check", "activate") or step not in TRANSITIONS:
        raise WorkforceError(f"unknown step {step!r}")
    movement = get_movement(session, movement_id)
    target = _transition(session, actor, movement, step)
    _record(session, actor, movement, step, target, note=note)
    return movement


def _check_now(session: Session, movement: Movement, today: date) -> Assessment:
    return assess(
        session,
        movement.staff_id,
        movement.host_org_code,
        movement.role,
        as_of=max(today, movement.start_date),
        expiring_by=movement.end_date,
    )


def check(session: Session, actor: Actor, movement_id: int, today: date) -> StepResult:
    """The host's credential check against its checklist for the role, as of the start date
    (or `today`, if later). A failed check is recorded (outcome denied, naming what is missing)
    and leaves the status as it was; the caller commits either way."""
    movement = get_movement(session, movement_id)
    target = _transition(session, actor, movement, "check")
    result = _check_now(session, movement, today)
    _record(
        session,
        actor,
        movement,
        "check",
        target,
        outcome="success" if result.ok else "denied",
        note=None if result.ok else result.summary(),
        detail={
            "missing": [g.text for g in result.missing],
            "expiring": [g.text for g in result.expiring],
        },
    )
    return StepResult(movement, result)


def activate(session: Session, actor: Actor, movement_id: int, now: datetime) -> StepResult:
    """Give the person access at the host. The check is repeated; if the passport no longer
    meets the checklist the activation is refused (recorded, status unchanged)."""
    movement = get_movement(session, movement_id)
    target = _transition(session, actor, movement, "activate")
    result = _check_now(session, movement, now.date())
    if movement.end_date < now.date():
        raise WorkforceError("the movement's end date has passed")
    _record(
        session,
        actor,
        movement,
        "activate",
        target,
        outcome="success" if result.ok else "denied",
        note=None if result.ok else f"cannot activate: {result.summary()}",
        detail={"missing": [g.text for g in result.missing]},
    )
    return StepResult(movement, result)


def revoke_expired(session: Session, now: datetime, actor: Actor = SYSTEM) -> list[int]:
    """End every active movement whose end date is before `now`'s date; their ids."""
    due = session.scalars(
        select(Movement).where(Movement.status == "active", Movement.end_date < now.date())
    ).all()
    for movement in due:
        _record(session, actor, movement, "end", "ended", note="end date passed")
    return [m.id for m in due]


def is_active(session: Session, staff_id: int, host_org_code: str, when: date | datetime) -> bool:
    """Whether `staff_id` has active access at `host_org_code` on `when`."""
    day = when.date() if isinstance(when, datetime) else when
    found = session.scalar(
        select(Movement.id).where(
            Movement.staff_id == staff_id,
            Movement.host_org_code == host_org_code,
            Movement.status == "active",
            Movement.start_date <= day,
            Movement.end_date >= day,
        )
    )
    return found is not None


def movements(
    session: Session, *, org_code: str | None = None, staff_id: int | None = None
) -> list[Movement]:
    """Movements, newest first; of one organisation (as home or host) or one person."""
    stmt = select(Movement).order_by(Movement.id.desc())
    if org_code:
        stmt = stmt.where(
            (Movement.home_org_code == org_code) | (Movement.host_org_code == org_code)
        )
    if staff_id:
        stmt = stmt.where(Movement.staff_id == staff_id)
    return list(session.scalars(stmt))


def steps_of(session: Session, movement_id: int) -> list[MovementStep]:
    return list(
        session.scalars(
            select(MovementStep)
            .where(MovementStep.movement_id == movement_id)
            .order_by(MovementStep.id)
        )
    )
