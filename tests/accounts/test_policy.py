"""The policy engine: grants from roles.json, token scopes, resource rules, the FastAPI guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrated_care.accounts import policy
from integrated_care.accounts.policy import (
    Decision,
    Principal,
    Resource,
    allows,
    decide,
    grants,
    load_grants,
    register_resource_rule,
    require,
)

REQUIRED_ROLES = {
    "admin",
    "clinician",
    "care_professional",
    "analyst",
    "finance",
    "board_secretary",
    "board_member",
    "workforce_lead",
    "caldicott_guardian",
}


def person(*roles: str, scopes: set[str] | None = None, org: str = "QK1") -> Principal:
    return Principal(
        user_id=1,
        username="someone",
        display_name="Some One",
        roles=frozenset(roles),
        organisation_code=org,
        organisation_name=org,
        scopes=frozenset(scopes) if scopes is not None else None,
        auth_method="token" if scopes is not None else "session",
    )


def test_roles_file_declares_every_role_with_a_version() -> None:
    known = grants()
    assert set(known.roles) >= REQUIRED_ROLES
    assert known.version
    for role in known.roles.values():
        assert role.permissions <= set(known.permissions), role.name


def test_a_role_granting_an_undeclared_permission_is_rejected(tmp_path) -> None:
    bad = {
        "version": "x",
        "permissions": {"a:read": {"description": "a"}},
        "roles": {"r": {"title": "R", "description": "r", "permissions": ["b:write"]}},
    }
    path = tmp_path / "roles.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="b:write"):
        load_grants(path)


@pytest.mark.parametrize(
    ("role", "permission", "expected"),
    [
        ("caldicott_guardian", "audit:read", True),
        ("admin", "audit:read", True),
        ("admin", "users:manage", True),
        ("admin", "record:read", False),
        ("clinician", "record:read", True),
        ("clinician", "audit:read", False),
        ("analyst", "analytics:read", True),
        ("analyst", "record:read", False),
        ("finance", "finance:write", True),
        ("board_member", "finance:write", False),
        ("board_secretary", "governance:manage", True),
        ("workforce_lead", "workforce:manage", True),
        ("care_professional", "users:manage", False),
    ],
)
def test_role_grants(role: str, permission: str, expected: bool) -> None:
    assert allows(person(role), permission) is expected


def test_refusals_say_why() -> None:
    assert decide(None, "audit:read") == Decision(False, "not signed in")
    refused = decide(person("analyst"), "record:read")
    assert not refused and "analyst" in refused.reason and "record:read" in refused.reason
    assert "unknown permission" in decide(person("admin"), "nonsense:do").reason
    granted = decide(person("admin", "analyst"), "footprint:read")
    assert granted and "admin" in granted.reason


def test_token_scopes_narrow_but_never_widen_the_roles() -> None:
    token = person("admin", scopes={"audit:read", "record:read"})
    assert allows(token, "audit:read")
    assert not allows(token, "users:manage")  # the role allows it, the token's scopes do not
    assert not allows(token, "record:read")  # in scope, but no role grants it
    assert "scopes" in decide(token, "users:manage").reason
    assert token.permissions == {"audit:read"}


def test_organisation_scoped_permission_applies_only_to_own_organisation() -> None:
    finance = person("finance", org="RWE")
    assert decide(finance, "finance:write", resource=Resource("Plan", "1", "RWE"))
    refused = decide(finance, "finance:write", resource=Resource("Plan", "2", "RT5"))
    assert not refused and "RT5" in refused.reason
    # finance:read is not organisation scoped: the system position is shared.
    assert decide(finance, "finance:read", resource=Resource("Plan", "2", "RT5"))


def test_registered_resource_rules_can_only_narrow(monkeypatch) -> None:
    monkeypatch.setattr(policy, "_resource_rules", {})

    def needs_relationship(principal: Principal, permission: str, resource: Resource):
        if not resource.attributes.get("relationship"):
            return Decision(False, "no legitimate relationship with this patient")
        return None

    register_resource_rule("record:read", needs_relationship)
    clinician = person("clinician")
    assert decide(
        clinician,
        "record:read",
        resource=Resource("Patient", "9", attributes={"relationship": True}),
    )
    assert not decide(clinician, "record:read", resource=Resource("Patient", "9"))
    # A rule cannot grant what no role grants.
    register_resource_rule("record:read", lambda *_: Decision(True, "always"))
    assert not decide(
        person("analyst"),
        "record:read",
        resource=Resource("Patient", "9", attributes={"relationship": True}),
    )
    with pytest.raises(ValueError):
        register_resource_rule("no:such", needs_relationship)


def test_require_rejects_unknown_permissions_at_import_time() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        require("footprint:reed")


def test_docs_show_the_grants_as_they_are() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "accounts.md").read_text()
    table = docs.split("<!-- roles:begin")[1].split("-->", 1)[1].split("<!-- roles:end -->")[0]
    assert table.strip() == policy.roles_markdown().strip(), "run `ics user roles` into the docs"
