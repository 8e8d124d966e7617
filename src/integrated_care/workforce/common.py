"""What every workforce module shares: who is acting, the errors a rule raises, the audit call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_event


@dataclass(frozen=True)
class Actor:
    """Who is doing something: a username, the organisation they act for, their address."""

    username: str
    organisation: str | None = None
    client: str | None = None

    @classmethod
    def of(cls, principal: Any, client: str | None = None) -> Actor:
        return cls(principal.username, principal.organisation_code, client)


SYSTEM = Actor("ics-workforce")


class WorkforceError(ValueError):
    """A workforce rule refused a change; the message says which and why."""


class NotFound(WorkforceError):
    pass


def audit(
    session: Session,
    actor: Actor,
    action: str,
    record_type: str,
    record_id: int | str,
    detail: dict[str, Any] | None = None,
    *,
    outcome: str = "success",
    reason: str | None = None,
) -> None:
    """Append ``workforce.<action>`` to the audit log in the caller's transaction."""
    record_event(
        session,
        actor=actor.username,
        organisation=actor.organisation,
        action=f"workforce.{action}",
        outcome=outcome,
        record_type=f"workforce_{record_type}",
        record_id=str(record_id),
        reason=reason,
        detail=detail,
        client=actor.client,
    )
