"""The accounts middleware: who is asking, CSRF checks, and security headers on every response.

A pure ASGI middleware, so it sees every request (every domain's routes, errors, static files):
- resolves ``request.state.principal`` from ``Authorization: Bearer <token>`` or from the signed
  session cookie (checked against its server-side row);
- refuses (403, audited) a state-changing request authenticated by cookie that does not carry
  the session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``), and an
  anonymous form post (e.g. signing in) that does not carry the pre-session token of the signed
  ``ics_csrf`` cookie; bearer-token requests are exempt, as browsers cannot send them cross-site;
- adds the Content-Security-Policy, frame denial and related headers, and ``no-store`` caching on
  anything shown to a signed-in person.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from anyio import to_thread
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrated_care.accounts import services, sessions
from integrated_care.accounts.audit import record_event_now
from integrated_care.accounts.policy import SESSION_COOKIE, Principal
from integrated_care.runtime import Runtime

CSRF_COOKIE = "ics_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The content types a cross-site HTML form can send without a CORS preflight.
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "cross-origin-opener-policy": "same-origin",
}


@dataclass
class Identity:
    """What the middleware worked out about the request's sender."""

    principal: Principal | None = None
    csrf_token: str | None = None  # the token this sender's forms must carry
    session_secret: str | None = None  # set when authenticated by session cookie
    new_csrf_cookie: str | None = None  # a pre-session token to set as a cookie
    problem: str | None = None  # why credentials that were offered were not accepted


class AccountsMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.signer = sessions.CookieSigner(
            runtime.settings.session_secret(), runtime.settings.session_max_age_seconds
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        identity = Identity()
        if not path.startswith("/static/"):
            identity = await to_thread.run_sync(self._identify, request)
        state = scope.setdefault("state", {})
        state.update(
            principal=identity.principal,
            csrf_token=identity.csrf_token,
            session_secret=identity.session_secret,
            auth_problem=identity.problem,
        )
        send = self._decorating(send, identity, path)
        if scope["method"] in UNSAFE_METHODS and self._csrf_applies(request, identity):
            body = await _read_body(receive)
            receive = _replay(body, receive)
            presented = request.headers.get(CSRF_HEADER) or await _form_token(scope, body)
            if not (
                presented
                and identity.csrf_token
                and hmac.compare_digest(presented, identity.csrf_token)
            ):
                await self._refuse_csrf(scope, receive, send, identity)
                return
        await self.app(scope, receive, send)

    def _identify(self, request: Request) -> Identity:
        authorization = request.headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            with self.runtime.transaction() as session:
                principal = services.principal_for_token(session, credentials.strip())
            problem = (
                None if principal else "the API token is not valid, or has expired or been revoked"
            )
            return Identity(principal=principal, problem=problem)
        identity = Identity()
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            secret = self.signer.session_secret(cookie)
            with self.runtime.transaction() as session:
                row = sessions.find_session(session, secret) if secret else None
                if row is not None:
                    identity.principal = services.principal_for_user(session, row.user)
                    identity.csrf_token = row.csrf_token
                    identity.session_secret = secret
            if identity.principal is None:
                identity.problem = "your session has ended; sign in again"
        if identity.principal is None:
            token = self.signer.csrf_token(request.cookies.get(CSRF_COOKIE))
            # API clients authenticate with tokens and post JSON: no form, no cookie needed.
            if token is None and not request.url.path.startswith(("/api/", "/fhir")):
                token = secrets.token_urlsafe(32)
                identity.new_csrf_cookie = self.signer.sign_csrf(token)
            identity.csrf_token = token
        return identity

    @staticmethod
    def _csrf_applies(request: Request, identity: Identity) -> bool:
        if identity.principal is not None:
            return identity.principal.auth_method == "session"
        if request.headers.get("authorization"):
            return False
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        return content_type in FORM_TYPES

    async def _refuse_csrf(
        self, scope: Scope, receive: Receive, send: Send, identity: Identity
    ) -> None:
        from integrated_care.web.errors import http_error

        request = Request(scope, receive)
        principal = identity.principal
        reason = (
            "the form was missing its security token or it did not match; go back and try again"
        )
        await to_thread.run_sync(
            lambda: record_event_now(
                self.runtime.sessions,
                actor=principal.username if principal else "anonymous",
                organisation=principal.organisation_code if principal else None,
                action="access.denied",
                outcome="denied",
                detail={
                    "status": 403,
                    "reason": "CSRF token missing or wrong",
                    "method": request.method,
                    "path": request.url.path,
                },
                client=request.client.host if request.client else None,
            )
        )
        response = await http_error(request, HTTPException(403, reason))
        await response(scope, receive, send)

    def _decorating(self, send: Send, identity: Identity, path: str) -> Send:
        settings = self.runtime.settings
        private = identity.principal is not None or path == "/sign-in"

        async def decorated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if private:
                    headers["cache-control"] = "no-store"
                if identity.new_csrf_cookie:
                    headers.append(
                        "set-cookie",
                        cookie_header(
                            CSRF_COOKIE,
                            identity.new_csrf_cookie,
                            settings.session_max_age_seconds,
                            settings.secure_cookies,
                        ),
                    )
            await send(message)

        return decorated


def cookie_header(name: str, value: str, max_age: int, secure: bool) -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Lax, whole site, Secure behind HTTPS."""
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = Request(scope).headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
        return values[0] if values else None
    if content_type == "text/plain":
        for line in body.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition("=")
            if name == CSRF_FIELD:
                return value
        return None
    if content_type == "multipart/form-data":
        form = await Request(scope, _replay(body, _no_more)).form()
        value: Any = form.get(CSRF_FIELD)
        await form.close()
        return value if isinstance(value, str) else None
    return None


async def _no_more() -> Message:
    return {"type": "http.disconnect"}
