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

A bearer token's principal is remembered for a minute (:class:`TokenPrincipals`), but every
request still checks, in one indexed query, that the token is neither revoked nor expired and
that its user is active, with the same organisation and roles: a revocation takes effect at
once.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs

from anyio import to_thread
from sqlalchemy import Connection, bindparam, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrated_care import db
from integrated_care.accounts import services, sessions
from integrated_care.accounts.audit import record_event_now
from integrated_care.accounts.models import ApiToken, User, UserRole
from integrated_care.accounts.policy import SESSION_COOKIE, Principal
from integrated_care.prepared import PreparedQuery
from integrated_care.runtime import Runtime
from integrated_care.threads import run_blocking, runs_inline

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

_SECURITY_RAW = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


@dataclass
class Identity:
    """What the middleware worked out about the request's sender."""

    principal: Principal | None = None
    csrf_token: str | None = None  # the token this sender's forms must carry
    session_secret: str | None = None  # set when authenticated by session cookie
    new_csrf_cookie: str | None = None  # a pre-session token to set as a cookie
    problem: str | None = None  # why credentials that were offered were not accepted


class TokenPrincipals:
    """Bearer token -> principal, remembered for `lifetime` seconds and revalidated on every use.

    Building a principal takes several queries (token, user, roles, organisation name); the
    check on each use is one: the token's revocation and expiry and its user's activity,
    organisation and roles, compared with what the principal was built from. Anything else
    that changes (the organisation's display name, the last-used stamp, which is touched at
    most once a minute anyway) is picked up when the entry is rebuilt.
    """

    def __init__(self, lifetime: float = 60.0, size: int = 10_000) -> None:
        self.lifetime = lifetime
        self.size = size
        self._known: dict[str, tuple[Principal, tuple[Any, ...], float]] = {}
        self._lock = threading.Lock()

    def principal(self, runtime: Runtime, token: str) -> Principal | None:
        digest = services.token_digest(token)
        # A plain connection, not an ORM session: this runs on every API request. Its one
        # SELECT needs no transaction (on PostgreSQL, no BEGIN and ROLLBACK round trips).
        with runtime.reading_engine.connect() as connection:
            facts = _token_facts(connection, digest)
        if facts is None:
            return None
        with self._lock:
            known = self._known.get(digest)
        if known is not None and known[1] == facts and time.monotonic() - known[2] < self.lifetime:
            return known[0]
        with runtime.transaction() as session:
            principal = services.principal_for_token(session, token)
        with self._lock:
            if len(self._known) >= self.size:
                self._known.clear()
            if principal is None:
                self._known.pop(digest, None)
            else:
                self._known[digest] = (principal, facts, time.monotonic())
        return principal


def _token_facts(connection: Connection, digest: str) -> tuple[Any, ...] | None:
    """What a token's principal depends on, or None if the token is not usable now."""
    rows = _TOKEN_FACTS.rows(connection, {"digest": digest})
    if not rows:
        return None
    first = rows[0]
    expires = first.expires_at
    expires = expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires
    if first.revoked_at is not None or expires <= db.utcnow() or not first.active:
        return None
    roles = tuple(sorted(r.role for r in rows if r.role is not None))
    return (first.id, first.organisation_code, roles, tuple(first.scopes or ()))


# Prepared once: every API request runs it.
_TOKEN_FACTS = PreparedQuery(
    select(
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.scopes,
        User.id,
        User.active,
        User.organisation_code,
        UserRole.role,
    )
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .where(ApiToken.token_sha256 == bindparam("digest"))
)


class AccountsMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.signer = sessions.CookieSigner(
            runtime.settings.session_secret(), runtime.settings.session_max_age_seconds
        )
        self.tokens = TokenPrincipals()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        identity = Identity()
        if path.startswith("/static/"):
            pass
        elif runs_inline(self.runtime) and _bearer(request):
            identity = self._identify(request)  # one indexed query (see TokenPrincipals)
        else:
            identity = await run_blocking(self._identify, request)
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
            principal = self.tokens.principal(self.runtime, credentials.strip())
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
                # Raw header pairs, not MutableHeaders: this runs on every response.
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _value in headers}
                headers += [pair for pair in _SECURITY_RAW if pair[0] not in present]
                if private:
                    headers = [pair for pair in headers if pair[0].lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                if identity.new_csrf_cookie:
                    cookie = cookie_header(
                        CSRF_COOKIE,
                        identity.new_csrf_cookie,
                        settings.session_max_age_seconds,
                        settings.secure_cookies,
                    )
                    headers.append((b"set-cookie", cookie.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        return decorated


def _bearer(request: Request) -> bool:
    return request.headers.get("authorization", "")[:7].lower() == "bearer "


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
