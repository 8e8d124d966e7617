"""Sign-in, sessions, CSRF, refusals and security headers through the real app."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from integrated_care import db
from integrated_care.accounts import services
from integrated_care.accounts.middleware import CONTENT_SECURITY_POLICY
from integrated_care.accounts.models import WebSession
from integrated_care.runtime import Runtime
from tests.accounts.conftest import PASSWORD, UserMaker, audit_rows, csrf_token, sign_in


def events(runtime: Runtime, **where: str) -> list:  # type: ignore[type-arg]
    with runtime.transaction() as session:
        return audit_rows(session, **where)


def test_signed_out_pages_redirect_to_sign_in_and_apis_get_401(
    web: TestClient, app_runtime: Runtime
) -> None:
    for path in ("/audit", "/admin/users", "/account"):
        response = web.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in?next=%2F")
    for path in ("/api/audit", "/api/users", "/api/me"):
        response = web.get(path)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    refusals = events(app_runtime, action="access.denied")
    assert len(refusals) == 6
    assert {(e.actor, e.outcome, e.detail["status"]) for e in refusals} == {
        ("anonymous", "denied", 401)
    }
    assert {e.detail["path"] for e in refusals} >= {"/audit", "/api/users"}
    assert {e.detail["permission"] for e in refusals} >= {"audit:read", "users:manage"}


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(
    web: TestClient, make_user: UserMaker, app_runtime: Runtime
) -> None:
    make_user("gp.a", "clinician")
    response = sign_in(web, "gp.a", next_path="/account")
    assert response.status_code == 303 and response.headers["location"] == "/account"
    cookie = response.headers["set-cookie"]
    assert "ics_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age=28800" in cookie and "Secure" not in cookie
    page = web.get("/account")
    assert page.status_code == 200 and "gp.a Test" in page.text and "Clinician" in page.text
    assert page.headers["cache-control"] == "no-store"
    stolen = web.cookies.get("ics_session")
    response = web.post(
        "/sign-out", data={"csrf_token": csrf_token(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    web.cookies.set("ics_session", stolen)  # a copy of the cookie is no use once signed out
    assert web.get("/api/me").status_code == 401
    actions = [(e.action, e.outcome) for e in events(app_runtime)]
    assert ("sign-in", "success") in actions and ("sign-out", "success") in actions


def test_next_only_goes_to_local_paths(web: TestClient, make_user: UserMaker) -> None:
    make_user("gp.a", "clinician")
    response = sign_in(web, "gp.a", next_path="//evil.example/steal")
    assert response.headers["location"] == "/"


def test_failed_sign_in_shows_an_error_and_is_audited(
    web: TestClient, make_user: UserMaker, app_runtime: Runtime
) -> None:
    make_user("gp.a", "clinician")
    response = sign_in(web, "gp.a", password="not-the-password")
    assert response.status_code == 401 and "nhsuk-error-summary" in response.text
    assert "The username or password is not right." in response.text
    [event] = events(app_runtime, action="sign-in")
    assert event.outcome == "failure" and event.record_id == "gp.a"


def test_sign_in_is_throttled_even_with_the_right_password(
    web: TestClient, make_user: UserMaker, app_runtime: Runtime
) -> None:
    make_user("gp.a", "clinician")
    for _ in range(5):
        assert sign_in(web, "gp.a", password="not-the-password").status_code == 401
    response = sign_in(web, "gp.a")
    assert response.status_code == 429 and "Too many failed sign-in attempts" in response.text
    assert "ics_session" not in response.headers.get("set-cookie", "")
    assert events(app_runtime, action="sign-in", outcome="denied")


def test_expired_and_revoked_sessions_are_refused(
    web: TestClient, make_user: UserMaker, app_runtime: Runtime
) -> None:
    make_user("gp.a", "clinician")
    sign_in(web, "gp.a")
    assert web.get("/api/me").status_code == 200
    with app_runtime.transaction() as session:
        session.execute(update(WebSession).values(expires_at=db.utcnow() - timedelta(seconds=1)))
    response = web.get("/api/me")
    assert response.status_code == 401 and "session has ended" in response.json()["detail"]
    sign_in(web, "gp.a")
    with app_runtime.transaction() as session:
        session.execute(update(WebSession).values(revoked_at=db.utcnow()))
    assert web.get("/api/me").status_code == 401


def test_a_forged_cookie_is_ignored(web: TestClient, make_user: UserMaker) -> None:
    make_user("gp.a", "clinician")
    web.cookies.set("ics_session", "made-up.value.signature")
    assert web.get("/api/me").status_code == 401


def test_a_user_without_the_role_gets_403_and_it_is_audited(
    web: TestClient, make_user: UserMaker, app_runtime: Runtime
) -> None:
    make_user("analyst.a", "analyst")
    sign_in(web, "analyst.a")
    page = web.get("/audit")
    assert page.status_code == 403 and "recorded in the audit log" in page.text
    assert web.get("/api/users").status_code == 403
    [first, second] = sorted(events(app_runtime, action="access.denied"), key=lambda e: e.id)
    assert (first.actor, first.actor_organisation, first.outcome) == ("analyst.a", "QK1", "denied")
    assert first.detail["status"] == 403 and first.detail["permission"] == "audit:read"
    assert "analyst" in first.detail["reason"] and second.detail["path"] == "/api/users"


def test_the_menu_shows_only_what_the_roles_allow(web: TestClient, make_user: UserMaker) -> None:
    make_user("cg.a", "caldicott_guardian")
    assert 'href="/audit"' not in web.get("/sign-in").text
    sign_in(web, "cg.a")
    home = web.get("/account").text
    assert 'href="/audit"' in home and 'href="/admin/users"' not in home


def test_a_post_without_the_csrf_token_is_refused(
    web: TestClient, make_user: UserMaker, app_runtime: Runtime
) -> None:
    make_user("admin.a", "admin")
    sign_in(web, "admin.a")
    form = {
        "username": "new.user",
        "password": PASSWORD,
        "organisation_code": "QK1",
        "roles": ["analyst"],
    }
    assert web.post("/admin/users", data=form).status_code == 403
    assert web.post("/admin/users", data={**form, "csrf_token": "guess"}).status_code == 403
    assert web.post("/sign-out", follow_redirects=False).status_code == 403
    refusals = events(app_runtime, action="access.denied")
    assert len(refusals) == 3 and all("CSRF" in e.detail["reason"] for e in refusals)
    assert not events(app_runtime, action="user.create", record_id="new.user")
    # With the token (as a form field or a header) the same requests go through.
    token = csrf_token(web.get("/admin/users").text)
    response = web.post("/admin/users", data={**form, "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert web.get("/api/me", headers={"X-CSRF-Token": token}).status_code == 200
    [created] = events(app_runtime, action="user.create", record_id="new.user")
    assert (created.actor, created.record_id) == ("admin.a", "new.user")


def test_sign_in_form_needs_its_pre_session_token(web: TestClient, make_user: UserMaker) -> None:
    make_user("gp.a", "clinician")
    response = web.post(
        "/sign-in", data={"username": "gp.a", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "ics_session" not in response.headers.get("set-cookie", "")


def test_admin_creates_users_through_the_form_and_api(
    web: TestClient, make_user: UserMaker, app_runtime: Runtime
) -> None:
    make_user("admin.a", "admin")
    sign_in(web, "admin.a")
    token = csrf_token(web.get("/admin/users").text)
    bad = web.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "x.y",
            "password": "short",
            "organisation_code": "QK1",
            "roles": ["analyst"],
        },
    )
    assert bad.status_code == 400 and "at least 12 characters" in bad.text
    response = web.post(
        "/api/users",
        headers={"X-CSRF-Token": token},
        json={
            "username": "board.b",
            "password": PASSWORD,
            "roles": ["board_member"],
            "organisation_code": "QK1",
            "display_name": "Board B",
        },
    )
    assert response.status_code == 201 and response.json()["roles"] == ["board_member"]
    listed = web.get("/api/users").json()
    assert {u["username"] for u in listed} == {"admin.a", "board.b"}
    assert "board.b" in web.get("/admin/users").text


def test_bearer_tokens_work_within_their_scopes(
    make_user: UserMaker, web: TestClient, app_runtime: Runtime
) -> None:
    make_user("cg.a", "caldicott_guardian", "admin")
    with app_runtime.transaction() as session:
        token = services.create_token(session, "cg.a", ["audit:read"])
    auth = {"Authorization": f"Bearer {token}"}
    response = web.get("/api/audit", headers=auth)
    assert response.status_code == 200 and response.json()["total"] >= 1
    me = web.get("/api/me", headers=auth).json()
    assert me["auth_method"] == "token" and me["scopes"] == ["audit:read"]
    # users:manage is allowed by the admin role but not by this token's scopes.
    assert web.get("/api/users", headers=auth).status_code == 403
    # Tokens are exempt from CSRF: a browser cannot send them cross-site.
    response = web.post(
        "/api/users",
        headers=auth,
        json={
            "username": "x.y",
            "password": PASSWORD,
            "roles": ["analyst"],
            "organisation_code": "QK1",
        },
    )
    assert response.status_code == 403
    [denied] = [
        e
        for e in events(app_runtime, action="access.denied")
        if e.detail["path"] == "/api/users" and e.detail["method"] == "GET"
    ]
    assert denied.detail["auth_method"] == "token" and "scopes" in denied.detail["reason"]


def test_revoked_and_expired_tokens_get_401(
    make_user: UserMaker, web: TestClient, app_runtime: Runtime
) -> None:
    make_user("cg.a", "caldicott_guardian")
    with app_runtime.transaction() as session:
        token = services.create_token(session, "cg.a", ["audit:read"])
    auth = {"Authorization": f"Bearer {token}"}
    assert web.get("/api/audit", headers=auth).status_code == 200
    with app_runtime.transaction() as session:
        from integrated_care.accounts.models import ApiToken

        session.execute(update(ApiToken).values(expires_at=db.utcnow() - timedelta(days=1)))
    response = web.get("/api/audit", headers=auth)
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    with app_runtime.transaction() as session:
        session.execute(
            update(ApiToken).values(
                expires_at=db.utcnow() + timedelta(days=1), revoked_at=db.utcnow()
            )
        )
    assert web.get("/api/audit", headers=auth).status_code == 401
    assert (
        web.get("/api/audit", headers={"Authorization": "Bearer ics_nonsense"}).status_code == 401
    )


def test_tokens_made_and_revoked_on_the_account_page(make_user: UserMaker, web: TestClient) -> None:
    make_user("an.a", "analyst")
    sign_in(web, "an.a")
    csrf = csrf_token(web.get("/account").text)
    made = web.post(
        "/account/tokens",
        data={"csrf_token": csrf, "name": "notebook", "scopes": ["analytics:read"], "days": "7"},
    )
    assert made.status_code == 201 and "ics_" in made.text
    token = made.text.split('id="new-token">')[1].split("<")[0]
    assert web.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    refused = web.post("/account/tokens", data={"csrf_token": csrf, "scopes": ["audit:read"]})
    assert refused.status_code == 400 and "do not grant audit:read" in refused.text
    token_id = made.text.split("/account/tokens/")[1].split("/")[0]
    web.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert web.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_security_headers_on_every_response(web: TestClient, make_user: UserMaker) -> None:
    for path in ("/sign-in", "/api/health", "/no-such-page", "/api/me"):
        headers = web.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert (
            "'unsafe-inline'"
            not in headers["content-security-policy"].split("script-src")[1].split(";")[0]
        )
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert "camera=()" in headers["permissions-policy"]
    assert web.get("/sign-in").headers["cache-control"] == "no-store"


def test_audit_page_filters_pages_and_checks_the_chain(
    make_user: UserMaker, web: TestClient, app_runtime: Runtime
) -> None:
    make_user("cg.a", "caldicott_guardian")
    for _ in range(3):
        web.get("/api/users")  # three refusals to find
    sign_in(web, "cg.a")
    page = web.get("/audit", params={"action": "access.denied"})
    assert page.status_code == 200 and "3 entries matching" in page.text
    assert page.text.count("nhsuk-tag--red") == 3
    assert "The chain has not been checked yet" in page.text
    check = web.get("/audit/verify")
    assert check.status_code == 200 and "The chain is intact" in check.text
    assert "by cg.a: <strong>intact</strong>" in " ".join(web.get("/audit").text.split())
    status = web.get("/api/audit/verify").json()
    assert status["ok"] and status["rows_checked"] >= 5
    reads = events(app_runtime, action="audit.read")
    first_read = reads[-1]  # newest first
    assert first_read.actor == "cg.a" and first_read.detail["filters"] == {
        "action": "access.denied"
    }
    verified = events(app_runtime, action="audit.verify")
    assert [(v.outcome, v.detail["ok"], v.detail["path"]) for v in verified] == [
        ("success", True, "/api/audit/verify"),
        ("success", True, "/audit/verify"),
    ]


def test_openapi_declares_the_bearer_scheme(web: TestClient) -> None:
    spec = web.get("/api/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerToken"]["description"],
    }
    operation = spec["paths"]["/api/audit"]["get"]
    assert operation["tags"] == ["audit"]
    assert {"bearerToken": []} in operation["security"]
    assert spec["paths"]["/api/users"]["post"]["tags"] == ["accounts"]


def test_the_header_names_the_user_and_their_footprint_organisation(
    client: TestClient, runtime: Runtime
) -> None:
    from integrated_care.footprint.services import list_organisations

    with runtime.transaction() as session:
        org = list_organisations(session)[0]
        services.create_user(session, "fd.a", PASSWORD, ["finance"], org.org_code, "Fay Director")
    sign_in(client, "fd.a")
    page = client.get("/account").text
    assert f"Fay Director ({org.name})" in page.replace("&#39;", "'").replace("&amp;", "&")
    # The header's sign-out form carries this session's CSRF token, and it works.
    header = page.split("</header>")[0]
    assert 'action="/sign-out"' in header
    response = client.post(
        "/sign-out", data={"csrf_token": csrf_token(header)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/api/me").status_code == 401
