"""Workforce over real HTTP: the must-show movement (blocked for a missing DBS check, then
allowed once it is added) through the API, with organisation-scoped workforce:manage (the home
lead approves and keeps the passport, the host lead checks and activates), the person's own
consent through the page form with its CSRF token, refusals audited, and the pages rendered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from integrated_care.accounts import services as accounts
from integrated_care.accounts.models import AuditEvent
from integrated_care.accounts.policy import grants
from integrated_care.runtime import Runtime
from integrated_care.workforce import routes
from integrated_care.workforce.models import StaffMember
from tests.accounts.conftest import PASSWORD, csrf_token, sign_in
from tests.workforce.conftest import TODAY, Orgs, build_nurse, pick_orgs


@dataclass
class World:
    orgs: Orgs
    nurse: int
    tokens: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(routes, "_today", lambda: TODAY)
    with runtime.transaction() as s:
        orgs = pick_orgs(s)
        nurse = build_nurse(s, orgs, with_dbs=False)
        users = {
            "homelead": ("workforce_lead", orgs.home),
            "hostlead": ("workforce_lead", orgs.host),
            "analyst": ("analyst", orgs.home),
            "asha": ("care_professional", orgs.home),
            "gp": ("clinician", orgs.host),
        }
        tokens = {}
        for username, (role, org) in users.items():
            user = accounts.create_user(s, username, PASSWORD, [role], org, username.title())
            if username == "asha":
                s.get(StaffMember, nurse).user_id = user.id
            tokens[username] = accounts.create_token(
                s, username, sorted(grants().roles[role].permissions)
            )
    yield World(orgs, nurse, tokens)


def _movement_body(w: World) -> dict:
    return {
        "staff_id": w.nurse,
        "host_org_code": w.orgs.host,
        "role": "District nurse",
        "site": "Main surgery",
        "mechanism": "sharing_agreement",
        "start_date": "2026-12-01",
        "end_date": "2027-02-28",
    }


def test_movement_blocked_for_missing_dbs_then_allowed(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    home, host = bearer(world.tokens["homelead"]), bearer(world.tokens["hostlead"])
    created = client.post("/api/workforce/movements", json=_movement_body(world), headers=home)
    assert created.status_code == 201, created.text
    mid = created.json()["id"]
    step = f"/api/workforce/movements/{mid}/steps/"

    # only the home employer approves
    refused = client.post(step + "approve", headers=host)
    assert refused.status_code == 403 and world.orgs.home in refused.json()["detail"]
    assert client.post(step + "approve", headers=home).json()["status"] == "home_approved"

    # the person consents themself, through the page's form
    web = TestClient(client.app)
    assert sign_in(web, "asha").status_code == 303
    page = web.get(f"/workforce/movements/{mid}")
    assert page.status_code == 200 and "Consent" in page.text
    posted = web.post(
        f"/workforce/movements/{mid}/steps/consent",
        data={"csrf_token": csrf_token(page.text)},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    no_csrf = web.post(f"/workforce/movements/{mid}/steps/withdraw", follow_redirects=False)
    assert no_csrf.status_code == 403

    # the host's check names the missing DBS check; activation is not allowed
    blocked = client.post(step + "check", headers=host)
    assert blocked.status_code == 409
    assert "DBS check (enhanced with barred lists): none recorded" in blocked.json()["detail"]
    assert client.post(step + "activate", headers=host).status_code == 422
    detail = client.get(f"/api/workforce/movements/{mid}", headers=host).json()
    assert detail["movement"]["status"] == "consented"
    assert [g["kind"] for g in detail["assessment"]["missing"]] == ["dbs"]

    # the host cannot add to the passport; the home lead adds the DBS check
    dbs = {
        "kind": "dbs",
        "dbs_level": "enhanced_barred",
        "evidence_ref": "DBS 001234567890",
        "issued_on": "2026-11-20",
        "expires_on": "2029-11-20",
    }
    cred = f"/api/workforce/staff/{world.nurse}/credentials"
    assert client.post(cred, json=dbs, headers=host).status_code == 403
    assert client.post(cred, json=dbs, headers=home).status_code == 201

    assert client.post(step + "check", headers=host).json()["status"] == "checked"
    assert client.post(step + "activate", headers=host).json()["status"] == "active"
    detail = client.get(f"/api/workforce/movements/{mid}", headers=host).json()
    assert [(s["step"], s["outcome"]) for s in detail["steps"]] == [
        ("request", "success"),
        ("approve", "success"),
        ("consent", "success"),
        ("check", "denied"),
        ("check", "success"),
        ("activate", "success"),
    ]
    assert detail["steps"][2]["by"] == "asha"

    with runtime.sessions() as s:
        refusals = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "workforce.refused")
        ).all()
    assert len(refusals) >= 3  # approve by host, credential by host, activate too early


def test_pages_and_permissions(client: TestClient, world: World) -> None:
    analyst = bearer(world.tokens["analyst"])
    gp = bearer(world.tokens["gp"])
    passport = client.get(f"/api/workforce/staff/{world.nurse}", headers=analyst).json()
    assert passport["staff"]["name"] == "Asha Patel"
    assert len(passport["credentials"]) == 6
    assessment = client.get(
        f"/api/workforce/staff/{world.nurse}/assessment",
        params={"org": world.orgs.host, "role": "District nurse"},
        headers=analyst,
    ).json()
    assert [g["problem"] for g in assessment["missing"]] == ["missing"]
    assert [g["expires_on"] for g in assessment["expiring"]] == [date(2026, 12, 10).isoformat()]
    assert client.get("/api/workforce/staff", headers=gp).status_code == 403
    # an analyst sees but cannot change
    body = {"kind": "identity_check", "evidence_ref": "x", "issued_on": "2026-01-01"}
    assert (
        client.post(
            f"/api/workforce/staff/{world.nurse}/credentials", json=body, headers=analyst
        ).status_code
        == 403
    )
    # the home lead sets the role's checklist at home: the passport page then shows the gap
    checklist = f"/api/workforce/checklists/{world.orgs.home}"
    needs = ["identity_check", "dbs:enhanced_barred"]
    put = client.put(checklist, params={"role": "District nurse"}, json=needs, headers=analyst)
    assert put.status_code == 403
    home = bearer(world.tokens["homelead"])
    put = client.put(checklist, params={"role": "District nurse"}, json=needs, headers=home)
    assert put.status_code == 200
    assert client.get(checklist, headers=analyst).json() == {"District nurse": needs}
    web = TestClient(client.app)
    sign_in(web, "analyst")
    for path in ("/workforce", f"/workforce/staff/{world.nurse}", "/workforce/plan"):
        r = web.get(path)
        assert r.status_code == 200, path
    page = web.get(f"/workforce/staff/{world.nurse}").text
    assert "DBS check (enhanced with barred lists): none recorded" in page
    assert "Add a credential" not in page  # no workforce:manage
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/workforce/plan", "/api/workforce/movements/{movement_id}/steps/{step}"} <= set(
        paths
    )
