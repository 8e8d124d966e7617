"""What every workforce module shares: who is acting, the errors a rule raises, the audit call."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from integrated_care.accounts.audit import record_domain_event


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


# Appends ``workforce.<action>`` to the audit log in the caller's transaction.
audit = partial(record_domain_event, "workforce")
