"""The one access decision of the shared care record, consulted by every FHIR interaction.

Today: ``record:read`` for reading, searching, history and $everything; ``record:write`` for
writes (roles in accounts/data/roles.json, narrowed by an API token's scopes). The rules still to
come (a legitimate relationship, break-glass, sealed information, consent and dissent) belong in
:func:`authorise` too, which is why it is told who is asking (with their organisation), which
patient's record is touched and the resource itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from integrated_care.accounts import policy
from integrated_care.accounts.policy import Decision, Principal

READ_INTERACTIONS = frozenset(
    {"read", "vread", "search-type", "history-instance", "history-type", "everything"}
)
WRITE_INTERACTIONS = frozenset({"create", "update", "delete"})


def permission_for(interaction: str) -> str:
    if interaction in READ_INTERACTIONS:
        return "record:read"
    if interaction in WRITE_INTERACTIONS:
        return "record:write"
    raise ValueError(f"unknown FHIR interaction {interaction!r}")


@dataclass(frozen=True)
class AccessContext:
    """Facts about the request that later rules decide on (break-glass reason, purpose)."""

    break_glass_reason: str | None = None
    purpose: str | None = None


def authorise(
    principal: Principal | None,
    interaction: str,
    resource_type: str,
    patient_id: str | None = None,
    resource: dict[str, Any] | None = None,
    *,
    resource_id: str | None = None,
    session: Session | None = None,
    context: AccessContext | None = None,
) -> Decision:
    """May `principal` do `interaction` on `resource_type` (in `patient_id`'s record, on
    `resource` when known)? `session` lets rules look up relationships and consent."""
    attributes: dict[str, Any] = {"interaction": interaction, "patient_id": patient_id}
    if resource is not None:
        attributes["resource"] = resource
    if context is not None and context.break_glass_reason:
        attributes["break_glass_reason"] = context.break_glass_reason
    return policy.decide(
        principal,
        permission_for(interaction),
        resource=policy.Resource(
            record_type=resource_type,
            record_id=resource_id or (resource or {}).get("id"),
            attributes=attributes,
        ),
    )
