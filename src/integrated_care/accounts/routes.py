"""Accounts pages: sign in and out, your account and tokens, user administration, the audit log.

Their JSON twins are in ``api.py``. Every page but signing in needs a principal; the policy's
``require`` dependency refuses (and audits) everyone else.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import asdict
from datetime import UTC
from math import ceil
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from integrated_care.accounts import services, sessions
from integrated_care.accounts.audit import (
    AuditFilter,
    audit_request,
    last_verification,
    search_events,
    verify_and_record,
)
from integrated_care.accounts.middleware import cookie_header
from integrated_care.accounts.models import ApiToken, User
from integrated_care.accounts.policy import (
    SESSION_COOKIE,
    Principal,
    grants,
    require,
    require_signed_in,
)
from integrated_care.db import utcnow
from integrated_care.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the home page (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _sign_in_page(
    request: Request,
    *,
    errors: list[dict[str, str]] | None = None,
    username: str = "",
    next_path: str = "/",
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "accounts/sign_in.html",
        {
            "page_title": ("Error: " if errors else "") + "Sign in",
            "errors": errors or [],
            "username": username,
            "next": safe_next(next_path),
        },
        status_code=status,
    )


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str = "/") -> Response:
    if request.state.principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _sign_in_page(request, next_path=next)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    errors = []
    if not username.strip():
        errors.append({"text": "Enter your username", "href": "#username"})
    if not password:
        errors.append({"text": "Enter your password", "href": "#password"})
    if errors:
        return _sign_in_page(request, errors=errors, username=username, next_path=next, status=400)
    runtime = request.app.state.runtime
    with runtime.transaction() as session:
        try:
            principal = services.authenticate(session, username, password, _client(request))
        except services.SignInRefused as refused:
            status = 429 if refused.locked else 401
            errors = [{"text": refused.message, "href": "#username"}]
        else:
            if request.state.session_secret:
                sessions.end_session(session, request.state.session_secret)
            user = session.get(User, principal.user_id)
            secret, _ = sessions.start_session(
                session, user, _client(request), runtime.settings.session_max_age_seconds
            )
    if errors:
        return _sign_in_page(
            request, errors=errors, username=username, next_path=next, status=status
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    signer = sessions.CookieSigner(
        runtime.settings.session_secret(), runtime.settings.session_max_age_seconds
    )
    response.headers.append(
        "set-cookie",
        cookie_header(
            SESSION_COOKIE,
            signer.sign_session(secret),
            runtime.settings.session_max_age_seconds,
            runtime.settings.secure_cookies,
        ),
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    secret = request.state.session_secret
    if secret:
        with request.app.state.runtime.transaction() as session:
            if sessions.end_session(session, secret) is not None:
                audit_request(
                    request,
                    session,
                    action="sign-out",
                    record_type="User",
                    record_id=request.state.principal.username,
                )
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


def _account_context(session: Any, principal: Principal) -> dict[str, Any]:
    known = grants()
    return {
        "page_title": "Your account",
        "roles": [known.roles[r] for r in sorted(principal.roles) if r in known.roles],
        "permissions": [known.permissions[p] for p in sorted(principal.permissions)],
        "tokens": [_token_view(t) for t in services.tokens_of(session, principal.user_id)]
        if principal.user_id
        else [],
    }


def _token_view(token: ApiToken) -> dict[str, Any]:
    expires = (
        token.expires_at.replace(tzinfo=UTC)
        if token.expires_at.tzinfo is None
        else (token.expires_at)
    )
    status = "revoked" if token.revoked_at else ("expired" if expires <= utcnow() else "active")
    return {
        "id": token.id,
        "name": token.name,
        "scopes": token.scopes,
        "status": status,
        "created": token.created_at,
        "expires": expires,
        "last_used": token.last_used_at,
    }


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, principal: Principal = Depends(require_signed_in())) -> Response:
    with request.app.state.runtime.transaction() as session:
        context = _account_context(session, principal)
    return render(request, "accounts/account.html", context)


@router.post("/account/tokens", response_class=HTMLResponse)
def account_create_token(
    request: Request,
    name: str = Form(""),
    scopes: list[str] = Form(default_factory=list),
    days: int = Form(90),
    principal: Principal = Depends(require_signed_in()),
) -> Response:
    with request.app.state.runtime.transaction() as session:
        token, error = None, None
        try:
            token = services.create_token(
                session, principal.username, scopes, days=days, name=name or None, actor=principal
            )
        except services.AccountError as exc:
            error = str(exc)
        context = _account_context(session, principal)
    context.update(new_token=token, token_error=error)
    return render(request, "accounts/account.html", context, status_code=400 if error else 201)


@router.post("/account/tokens/{token_id}/revoke")
def account_revoke_token(
    request: Request, token_id: int, principal: Principal = Depends(require_signed_in())
) -> Response:
    # Not theirs: show the account page unchanged, and leak nothing.
    with request.app.state.runtime.transaction() as session, suppress(services.AccountError):
        services.revoke_token(session, token_id, principal)
    return RedirectResponse("/account", status_code=303)


def _users_page(
    request: Request,
    session: Any,
    *,
    errors: list[dict[str, str]] | None = None,
    form: dict[str, Any] | None = None,
    created: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "accounts/users.html",
        {
            "page_title": ("Error: " if errors else "") + "Users",
            "users": services.list_users(session),
            "roles": list(grants().roles.values()),
            "errors": errors or [],
            "form": form or {},
            "created": created,
        },
        status_code=status,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    created: str | None = None,
    principal: Principal = Depends(require("users:manage")),
) -> Response:
    with request.app.state.runtime.transaction() as session:
        audit_request(request, session, action="users.list", record_type="User")
        return _users_page(request, session, created=created)


@router.post("/admin/users", response_class=HTMLResponse)
def users_create(
    request: Request,
    username: str = Form(""),
    display_name: str = Form(""),
    organisation_code: str = Form(""),
    password: str = Form(""),
    roles: list[str] = Form(default_factory=list),
    principal: Principal = Depends(require("users:manage")),
) -> Response:
    form = {
        "username": username,
        "display_name": display_name,
        "organisation_code": organisation_code,
        "roles": roles,
    }
    runtime = request.app.state.runtime
    try:
        with runtime.transaction() as session:
            services.create_user(
                session,
                username,
                password,
                roles,
                organisation_code,
                display_name=display_name or None,
                actor=principal,
            )
    except services.AccountError as exc:
        with runtime.transaction() as session:
            errors = [{"text": str(exc)[:1].upper() + str(exc)[1:], "href": "#username"}]
            return _users_page(request, session, errors=errors, form=form, status=400)
    return RedirectResponse(f"/admin/users?created={username.strip().lower()}", status_code=303)


def audit_filter(
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    record_type: str | None = None,
    record_id: str | None = None,
) -> AuditFilter:
    return AuditFilter(
        actor=actor or None,
        action=action or None,
        outcome=outcome or None,
        record_type=record_type or None,
        record_id=record_id or None,
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    page: int = 1,
    where: AuditFilter = Depends(audit_filter),
    principal: Principal = Depends(require("audit:read")),
) -> Response:
    page = max(1, page)
    with request.app.state.runtime.transaction() as session:
        events, total = search_events(
            session, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        filters = {k: v for k, v in asdict(where).items() if v}
        checked = last_verification(session)
        audit_request(
            request,
            session,
            action="audit.read",
            record_type="AuditEvent",
            detail={"filters": filters, "page": page},
        )
    pages = max(1, ceil(total / PAGE_SIZE))
    query = urlencode(filters)
    return render(
        request,
        "accounts/audit.html",
        {
            "page_title": "Audit log",
            "events": events,
            "total": total,
            "page": page,
            "pages": pages,
            "filters": filters,
            "query": query,
            "checked": checked,
        },
    )


@router.get("/audit/verify", response_class=HTMLResponse)
def audit_verify_page(
    request: Request, principal: Principal = Depends(require("audit:read"))
) -> Response:
    with request.app.state.runtime.transaction() as session:
        report = verify_and_record(request, session)
    return render(
        request,
        "accounts/audit_verify.html",
        {"page_title": "Audit log chain check", "report": report},
    )
