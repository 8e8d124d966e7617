"""The accounts domain's tables: users and their roles, web sessions, failed sign-ins, API tokens,
and the append-only, hash-chained audit log.

Secrets are never stored: passwords as argon2id hashes, session ids and API tokens as SHA-256
digests of the value the client holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from integrated_care.db import Base, BigId, Timestamp, utcnow

# SQLite only auto-numbers a plain INTEGER primary key; PostgreSQL gets a 64-bit identity.


class User(Base):
    """A person who signs in, acting for one organisation (by ODS code)."""

    __tablename__ = "account_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    organisation_code: Mapped[str] = mapped_column(String(20), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_names(self) -> list[str]:
        return sorted(r.role for r in self.roles)


class UserRole(Base):
    """One role a user holds; a user may hold several."""

    __tablename__ = "account_user_role"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("account_user.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(50), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


class WebSession(Base):
    """A signed-in browser. The cookie carries a signed secret; ``id`` is its SHA-256."""

    __tablename__ = "account_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("account_user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    csrf_token: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(100))

    user: Mapped[User] = relationship(lazy="joined")


class SignInFailure(Base):
    """A failed sign-in, kept for throttling by username and by client address."""

    __tablename__ = "account_sign_in_failure"
    __table_args__ = (
        Index("ix_account_sign_in_failure_username_at", "username", "attempted_at"),
        Index("ix_account_sign_in_failure_client_at", "client", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    client: Mapped[str] = mapped_column(String(100))
    attempted_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class ApiToken(Base):
    """A bearer token for the API; only the SHA-256 of the token is kept."""

    __tablename__ = "account_api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("account_user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp)

    user: Mapped[User] = relationship(lazy="joined")


class AuditEvent(Base):
    """One interaction: who, acting for which organisation, did what to which record, when,
    why and with what outcome. Rows are chained: ``hash`` covers the row and ``prev_hash``.

    ``id`` is the position in the chain (1, 2, 3...), assigned under the chain lock, so a gap is
    as visible as a broken hash.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        CheckConstraint("outcome IN ('success', 'denied', 'failure')", name="outcome"),
        Index("ix_audit_event_occurred_at", "occurred_at"),
        Index("ix_audit_event_actor", "actor"),
        Index("ix_audit_event_record", "record_type", "record_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(Timestamp)
    actor: Mapped[str] = mapped_column(String(150))
    actor_organisation: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(80), index=True)
    record_type: Mapped[str | None] = mapped_column(String(80))
    record_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(10))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    client: Mapped[str | None] = mapped_column(String(100))
    # Not unique-indexed (migration 0018): the consecutive ids already refuse a fork, and
    # verify_chain checks every hash.
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
