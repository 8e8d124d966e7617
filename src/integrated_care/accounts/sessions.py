"""Browser sessions: a server-side row per signed-in browser, found by a signed cookie.

The cookie carries a random secret signed with the platform's key; the row's id is the secret's
SHA-256, so neither a leaked database nor a forged cookie is enough to take over a session. A
session ends when it expires, when its owner signs out, or when its user is deactivated.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts.models import User, WebSession

TOUCH_EVERY = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class CookieSigner:
    """Signs and checks the session cookie and the pre-session CSRF cookie."""

    secret_key: str
    max_age: int

    def _serializer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt=salt)

    def sign_session(self, secret: str) -> str:
        return self._serializer("ics.session").dumps(secret)

    def session_secret(self, cookie: str | None) -> str | None:
        return self._load("ics.session", cookie, self.max_age)

    def sign_csrf(self, token: str) -> str:
        return self._serializer("ics.csrf").dumps(token)

    def csrf_token(self, cookie: str | None) -> str | None:
        return self._load("ics.csrf", cookie, self.max_age)

    def _load(self, salt: str, cookie: str | None, max_age: int) -> str | None:
        if not cookie:
            return None
        try:
            value = self._serializer(salt).loads(cookie, max_age=max_age)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None


def start_session(
    session: Session, user: User, client: str | None, max_age: int
) -> tuple[str, WebSession]:
    """A new session for `user`; returns the secret for the cookie and the row."""
    secret = secrets.token_urlsafe(32)
    now = db.utcnow()
    row = WebSession(
        id=_digest(secret),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=max_age),
        last_seen_at=now,
        csrf_token=secrets.token_urlsafe(32),
        client=(client or "")[:100] or None,
    )
    session.add(row)
    session.flush()
    return secret, row


def find_session(session: Session, secret: str) -> WebSession | None:
    """The live session for a cookie's secret: not expired, not revoked, its user active."""
    row = session.get(WebSession, _digest(secret))
    now = db.utcnow()
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        return None
    if not row.user.active:
        return None
    if now - _aware(row.last_seen_at) > TOUCH_EVERY:
        row.last_seen_at = now
    return row


def end_session(session: Session, secret: str) -> WebSession | None:
    """Revoke the session for a cookie's secret (signing out); returns it if it was live."""
    row = session.get(WebSession, _digest(secret))
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at = db.utcnow()
    return row
