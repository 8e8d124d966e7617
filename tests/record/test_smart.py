"""SMART-on-FHIR scopes on API tokens narrow what a token may do per resource type and
interaction, on top of the user's roles and the access rules; platform-only tokens keep
working."""

from __future__ import annotations

from sqlalchemy import select

from integrated_care.accounts.models import ApiToken
from integrated_care.accounts.services import token_digest
from integrated_care.record import smart
from tests.record.conftest import condition
from tests.record.test_access_rules import World, assert_refused, world  # noqa: F401


def _narrow(w: World, user: str, scopes: list[str]) -> None:
    """Give the user's token SMART scopes (what `ics token create --scope patient/*.read` will
    store once accounts accepts SMART scopes)."""
    with w.runtime.transaction() as session:
        row = session.scalar(
            select(ApiToken).where(ApiToken.token_sha256 == token_digest(w.tokens[user]))
        )
        assert row is not None
        row.scopes = scopes


def _observation(pid: str) -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{pid}"},
    }


def test_scopes_parse_in_both_smart_versions() -> None:
    assert smart.parse("patient/*.read") == smart.SmartScope("patient", "*", "rs")
    assert smart.parse("user/Observation.write") == smart.SmartScope("user", "Observation", "cud")
    assert smart.parse("system/*.*") == smart.SmartScope("system", "*", "cruds")
    assert smart.parse("patient/Condition.rs") == smart.SmartScope("patient", "Condition", "rs")
    assert smart.parse("record:read") is None and smart.parse("user/*.bogus") is None
    assert smart.implied_permissions([smart.parse("user/Observation.write")]) == {"record:write"}  # type: ignore[list-item]


def test_patient_scope_reads_one_patients_record_only(world: World) -> None:  # noqa: F811
    _narrow(world, "gp_a", ["patient/*.read"])
    assert world.get("gp_a", "Condition/p1-dm").status_code == 200
    assert world.get("gp_a", "Condition?patient=p1").json()["total"] == 1
    assert world.get("gp_a", "Patient/p1/$everything").status_code == 200
    assert_refused(world.get("gp_a", "Condition"), "outside one patient's record")
    assert_refused(world.get("gp_a", "Organization/org-a"), "SMART scopes do not allow read")
    assert_refused(world.post("gp_a", "Condition", condition("p1")), "do not include record:write")
    # The relationship rules still apply underneath.
    assert_refused(world.get("gp_a", "Condition/p2-dm"), "no care relationship")
    assert world.events(actor="gp_a", outcome="denied")[0].action == "record.read"


def test_user_scopes_narrow_by_resource_type(world: World) -> None:  # noqa: F811
    _narrow(world, "gp_a", ["user/*.read", "user/Observation.write"])
    assert world.post("gp_a", "Observation", _observation("p1")).status_code == 201
    assert_refused(world.post("gp_a", "Condition", condition("p1")), "user/Condition.write")
    assert world.get("gp_a", "Condition").json()["total"] == 1
    assert world.get("gp_a", "Organization/org-a").status_code == 200


def test_system_scope_allows_everything_the_roles_do(world: World) -> None:  # noqa: F811
    _narrow(world, "gp_a", ["system/*.*"])
    assert world.post("gp_a", "Condition", condition("p1")).status_code == 201
    assert world.get("gp_a", "Condition").json()["total"] == 2
    # Roles still bound a SMART token: the guardian has no record:read to imply.
    _narrow(world, "guardian", ["system/*.*", "audit:read"])
    assert_refused(world.get("guardian", "Condition"), "grants record:read")


def test_platform_scopes_keep_working(world: World) -> None:  # noqa: F811
    _narrow(world, "gp_a", ["record:read"])
    assert world.get("gp_a", "Condition/p1-dm").status_code == 200
    assert_refused(world.post("gp_a", "Condition", condition("p1")), "record:write")
