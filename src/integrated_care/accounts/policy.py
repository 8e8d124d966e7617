"""The one place that decides who may do what.

Every read, search and write asks :func:`decide` (or :func:`allows`, or the FastAPI dependency
:func:`require`). Role -> permission grants live in the versioned data file ``data/roles.json``;
an API token's scopes (permission strings) narrow what its user's roles allow. Resource-level
rules (organisation ownership now; a legitimate relationship to a patient, consent and
break-glass later) are registered with :func:`register_resource_rule` and can only narrow a grant,
never widen it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPBearer

ROLES_FILE = Path(__file__).parent / "data" / "roles.json"
SESSION_COOKIE = "ics_session"


@dataclass(frozen=True)
class PermissionDefinition:
    name: str
    description: str
    organisation_scoped: bool = False


@dataclass(frozen=True)
class RoleDefinition:
    name: str
    title: str
    description: str
    permissions: frozenset[str]


@dataclass(frozen=True)
class Grants:
    """The contents of ``roles.json``: which permissions exist and which roles grant them."""

    version: str
    permissions: Mapping[str, PermissionDefinition]
    roles: Mapping[str, RoleDefinition]

    def permissions_of(self, roles: Iterable[str]) -> frozenset[str]:
        granted: set[str] = set()
        for role in roles:
            if role in self.roles:
                granted |= self.roles[role].permissions
        return frozenset(granted)

    def roles_granting(self, permission: str) -> list[str]:
        return sorted(r.name for r in self.roles.values() if permission in r.permissions)


def load_grants(path: Path = ROLES_FILE) -> Grants:
    """Read and check a roles file: every permission a role grants must be declared."""
    raw = json.loads(path.read_text())
    permissions = {
        name: PermissionDefinition(name, spec["description"], bool(spec.get("organisation_scoped")))
        for name, spec in raw["permissions"].items()
    }
    roles: dict[str, RoleDefinition] = {}
    for name, spec in raw["roles"].items():
        undeclared = set(spec["permissions"]) - permissions.keys()
        if undeclared:
            raise ValueError(f"role {name!r} grants undeclared permissions {sorted(undeclared)}")
        roles[name] = RoleDefinition(
            name, spec["title"], spec["description"], frozenset(spec["permissions"])
        )
    return Grants(version=raw["version"], permissions=permissions, roles=roles)


@lru_cache(maxsize=1)
def grants() -> Grants:
    """The platform's grants, read once from ``roles.json``."""
    return load_grants()


def role_names() -> list[str]:
    return list(grants().roles)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in person (browser session, API token or the command line)."""

    user_id: int | None
    username: str
    display_name: str
    roles: frozenset[str]
    organisation_code: str
    organisation_name: str
    # None: everything the roles allow (a browser session); a token's scopes narrow that further.
    scopes: frozenset[str] | None = None
    auth_method: str = "session"  # "session" | "token" | "cli"

    @property
    def permissions(self) -> frozenset[str]:
        """What this principal may do before any resource-level rule."""
        granted = grants().permissions_of(self.roles)
        return granted if self.scopes is None else granted & self.scopes


@dataclass(frozen=True)
class Resource:
    """The record a request touches, with the facts resource rules decide on.

    ``attributes`` carries domain facts a rule needs (e.g. ``{"relationship": True}`` or
    ``{"break_glass_reason": "..."}``), worked out by the domain before it asks.
    """

    record_type: str
    record_id: str | None = None
    organisation_code: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


ResourceRule = Callable[[Principal, str, Resource], Decision | None]
_resource_rules: dict[str, list[ResourceRule]] = {}


def register_resource_rule(permission: str, rule: ResourceRule) -> None:
    """Add a rule consulted whenever `permission` is asked for on a resource.

    A rule returns a refusing :class:`Decision` to deny, or None to raise no objection.
    """
    if permission not in grants().permissions:
        raise ValueError(f"unknown permission {permission!r}")
    rules = _resource_rules.setdefault(permission, [])
    if rule not in rules:
        rules.append(rule)


def _organisation_rule(
    principal: Principal, permission: str, resource: Resource
) -> Decision | None:
    if not grants().permissions[permission].organisation_scoped:
        return None
    if resource.organisation_code and resource.organisation_code != principal.organisation_code:
        return Decision(
            False,
            f"{permission} applies only to records of {principal.organisation_code}, the "
            f"organisation you act for; this record belongs to {resource.organisation_code}",
        )
    return None


def decide(
    principal: Principal | None, permission: str, *, resource: Resource | None = None
) -> Decision:
    """May `principal` do `permission` (on `resource`, if given)? With the reason either way."""
    if principal is None:
        return Decision(False, "not signed in")
    known = grants()
    if permission not in known.permissions:
        return Decision(False, f"unknown permission {permission!r}")
    if permission not in known.permissions_of(principal.roles):
        held = ", ".join(sorted(principal.roles)) or "none"
        return Decision(False, f"none of your roles ({held}) grants {permission}")
    if principal.scopes is not None and permission not in principal.scopes:
        return Decision(False, f"this API token's scopes do not include {permission}")
    if resource is not None:
        for rule in (_organisation_rule, *_resource_rules.get(permission, [])):
            verdict = rule(principal, permission, resource)
            if verdict is not None and not verdict.allowed:
                return verdict
    granting = sorted(principal.roles & set(known.roles_granting(permission)))
    return Decision(True, f"{permission} granted by role {', '.join(granting)}")


def allows(principal: Any, permission: str) -> bool:
    """True when `principal` may do `permission` (no resource rules); False for no principal."""
    return decide(principal, permission).allowed


# Declared so the OpenAPI document shows how to authenticate; the middleware does the work.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerToken",
    description="An API token from `ics token create` or your account page; its scopes are "
    "permission strings such as footprint:read.",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="sessionCookie",
    description="The signed session cookie set by signing in at /sign-in.",
)


def current_principal(request: Request) -> Principal | None:
    """The principal the accounts middleware resolved for this request, if any."""
    return getattr(request.state, "principal", None)


def _refuse(request: Request, status: int, permission: str | None, reason: str) -> HTTPException:
    from integrated_care.accounts.audit import record_event_now

    principal = current_principal(request)
    record_event_now(
        request.app.state.runtime.sessions,
        actor=principal.username if principal else "anonymous",
        organisation=principal.organisation_code if principal else None,
        action="access.denied",
        outcome="denied",
        detail={
            "status": status,
            "permission": permission,
            "method": request.method,
            "path": request.url.path,
            "reason": reason,
            "auth_method": principal.auth_method if principal else None,
        },
        client=request.client.host if request.client else None,
    )
    if status == 401:
        return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})
    return HTTPException(403, reason)


def _guard(permission: str | None) -> Callable[..., Principal]:
    def dependency(
        request: Request,
        _bearer: Any = Depends(bearer_scheme),
        _cookie: Any = Depends(cookie_scheme),
    ) -> Principal:
        principal = current_principal(request)
        if principal is None:
            reason = getattr(request.state, "auth_problem", None) or "sign in to see this"
            raise _refuse(request, 401, permission, reason)
        if permission is not None:
            decision = decide(principal, permission)
            if not decision.allowed:
                raise _refuse(request, 403, permission, decision.reason)
        return principal

    return dependency


def require(permission: str) -> Callable[..., Principal]:
    """A FastAPI dependency: the principal, if it may do `permission`; else 401/403, audited.

    ``principal: Principal = Depends(require("audit:read"))``
    """
    if permission not in grants().permissions:
        raise ValueError(f"unknown permission {permission!r}")
    return _guard(permission)


def require_signed_in() -> Callable[..., Principal]:
    """A FastAPI dependency for pages about the signed-in person themself (401 if nobody)."""
    return _guard(None)


def roles_markdown(known: Grants | None = None) -> str:
    """The roles and what each may do, as the Markdown table in docs/accounts.md."""
    known = known or grants()
    lines = [
        f"Grants version `{known.version}`.",
        "",
        "| Role | Who | May |",
        "|---|---|---|",
    ]
    for role in known.roles.values():
        may = ", ".join(f"`{p}`" for p in sorted(role.permissions))
        lines.append(f"| `{role.name}` ({role.title}) | {role.description} | {may} |")
    lines += ["", "| Permission | Allows | Granted to |", "|---|---|---|"]
    for permission in known.permissions.values():
        scoped = " Own organisation's records only." if permission.organisation_scoped else ""
        holders = ", ".join(f"`{r}`" for r in known.roles_granting(permission.name))
        lines.append(f"| `{permission.name}` | {permission.description}.{scoped} | {holders} |")
    return "\n".join(lines) + "\n"
