"""The footprint validation report is for administrators only, and every look is audited."""

from __future__ import annotations

from sqlalchemy import select

from integrated_care.accounts.models import AuditEvent
from integrated_care.accounts.services import create_token, create_user

PASSWORD = "a-long-enough-password"


def _token(runtime, username: str, role: str, scope: str) -> str:
    with runtime.transaction() as session:
        create_user(session, username, PASSWORD, [role], "QK1")
        return create_token(session, username, [scope])


def test_signed_out_gets_401_and_analyst_gets_403(client, runtime) -> None:
    assert client.get("/api/footprint/validation").status_code == 401
    analyst = _token(runtime, "ana", "analyst", "footprint:read")
    response = client.get(
        "/api/footprint/validation", headers={"Authorization": f"Bearer {analyst}"}
    )
    assert response.status_code == 403
    with runtime.sessions() as session:
        refusals = session.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert {e.actor for e in refusals} >= {"anonymous", "ana"}


def test_admin_sees_findings_and_the_look_is_audited(client, runtime) -> None:
    admin = _token(runtime, "root", "admin", "footprint:manage")
    response = client.get("/api/footprint/validation", headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200
    findings = response.json()
    # QK1's real PCNs include some outside 30-50k registered patients: warnings, not errors.
    assert any(f["rule"] == "pcn_size" and f["severity"] == "warning" for f in findings)
    assert all(f["severity"] in {"error", "warning"} for f in findings)
    with runtime.sessions() as session:
        looks = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "footprint.validate")
        ).all()
    assert [e.actor for e in looks] == ["root"]


def test_validation_page_renders_for_admin_via_session(client, runtime) -> None:
    import re

    with runtime.transaction() as session:
        create_user(session, "boss", PASSWORD, ["admin"], "QK1")
    page = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/sign-in", data={"username": "boss", "password": PASSWORD, "csrf_token": token})
    response = client.get("/footprint/validation")
    assert response.status_code == 200
    assert "Footprint validation" in response.text
