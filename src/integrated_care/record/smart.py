"""SMART-on-FHIR scopes on API tokens: ``patient/*.read``, ``user/Observation.write``,
``system/*.*``, and the SMART v2 forms (``patient/Condition.rs``, ``user/*.cruds``).

A token whose scopes include any SMART scope is governed by them for the record: each one
implies the platform permission it needs (``record:read`` for reading and searching,
``record:write`` for creating, updating and deleting), which the user's roles must still grant,
and then the interaction must be covered by a scope for that resource type. A token without
SMART scopes keeps working with platform permissions (``record:read``) alone.

- ``patient/``: only the record of one patient (reads of resources in a patient compartment,
  searches confined to one patient, $everything); no unscoped searches, no shared resources
  such as Practitioner. There is no SMART launch context yet, so which patient is still decided
  by the relationship rules.
- ``user/``: whatever the user may see or do.
- ``system/``: as ``user/`` (a token always acts for a user here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from integrated_care.accounts.policy import Decision

_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|[cruds]+)$")
# The SMART v2 permission letter each FHIR interaction needs.
LETTERS = {
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "search-type": "s",
    "history-type": "s",
    "everything": "r",
    "create": "c",
    "update": "u",
    "delete": "d",
}
V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True)
class SmartScope:
    context: str  # patient | user | system
    resource_type: str  # a type or "*"
    letters: str  # of c r u d s

    def covers(self, resource_type: str, letter: str) -> bool:
        return self.resource_type in ("*", resource_type) and letter in self.letters


def parse(scope: str) -> SmartScope | None:
    """A SMART scope, or None when `scope` is not one (e.g. a platform permission)."""
    found = _SCOPE.match(scope)
    if found is None:
        return None
    context, resource_type, access = found.groups()
    letters = V1.get(access, access)
    return SmartScope(context, resource_type, letters)


def is_smart_scope(scope: str) -> bool:
    return parse(scope) is not None


def smart_scopes(scopes: frozenset[str] | None) -> list[SmartScope]:
    return [s for s in (parse(x) for x in scopes or ()) if s is not None]


def implied_permissions(scopes: list[SmartScope]) -> set[str]:
    """The platform permissions SMART scopes need: record:read and/or record:write."""
    implied = set()
    for scope in scopes:
        if set(scope.letters) & set("rs"):
            implied.add("record:read")
        if set(scope.letters) & set("cud"):
            implied.add("record:write")
    return implied


def decide(
    scopes: list[SmartScope], interaction: str, resource_type: str, patient_id: str | None
) -> Decision:
    """Do the token's SMART scopes cover this interaction on this type?"""
    letter = LETTERS[interaction]
    for scope in scopes:
        if not scope.covers(resource_type, letter):
            continue
        if scope.context == "patient" and not patient_id:
            continue
        return Decision(True, f"SMART scope {scope.context}/{scope.resource_type}")
    wanted = "read" if letter in "rs" else "write"
    where = "" if patient_id else " outside one patient's record"
    return Decision(
        False,
        f"this API token's SMART scopes do not allow {interaction} on {resource_type}{where} "
        f"(it needs e.g. user/{resource_type}.{wanted})",
    )
