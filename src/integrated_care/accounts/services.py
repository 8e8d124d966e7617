"""Account service functions: users, sign-in, API tokens. Plain functions over a session.

Every change is audited in the caller's transaction, so the change and its audit record are
committed together or not at all.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts import passwords, throttle
from integrated_care.accounts.audit import record_event
from integrated_care.accounts.models import ApiToken, User, UserRole
from integrated_care.accounts.policy import Principal, grants

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,149}$")
TOKEN_PREFIX = "ics_"  # noqa: S105 - a marker for secret scanners, not a secret
CLI_ACTOR = "ics-cli"


class AccountError(ValueError):
    """A request about accounts that cannot be done, with a message fit to show the person."""


class SignInRefused(Exception):
    """Sign-in refused. The failure is already recorded in the session: commit it anyway."""

    def __init__(self, message: str, *, locked: bool = False, retry_minutes: int | None = None):
        super().__init__(message)
        self.message = message
        self.locked = locked
        self.retry_minutes = retry_minutes


def _actor_fields(actor: Principal | str | None) -> dict[str, str | None]:
    if isinstance(actor, Principal):
        return {"actor": actor.username, "organisation": actor.organisation_code}
    return {"actor": actor or CLI_ACTOR, "organisation": None}


def organisation_name(session: Session, code: str) -> str | None:
    """The name of organisation `code` in the footprint; None if unknown or no footprint."""
    from integrated_care.footprint import services as footprint

    lookup = getattr(footprint, "get_organisation", None)
    organisation = lookup(session, code) if lookup else None
    return organisation.name if organisation is not None else None


def _footprint_loaded(session: Session) -> bool:
    from integrated_care.footprint.services import system_summary

    return system_summary(session) is not None


def check_roles(roles: Iterable[str]) -> list[str]:
    """The roles, de-duplicated and sorted, or AccountError naming any that do not exist."""
    chosen = sorted(set(roles))
    if not chosen:
        raise AccountError("choose at least one role")
    unknown = [r for r in chosen if r not in grants().roles]
    if unknown:
        raise AccountError(
            f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(grants().roles)}"
        )
    return chosen


def get_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.organisation_code, User.username)))


def create_user(
    session: Session,
    username: str,
    password: str,
    roles: Iterable[str],
    organisation_code: str,
    display_name: str | None = None,
    actor: Principal | str | None = None,
) -> User:
    """Create an active user acting for `organisation_code`; audited as "user.create".

    Raises AccountError for a bad or taken username, a short password, an unknown role, or an
    organisation not in the footprint (any code is accepted while no footprint is loaded).
    """
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise AccountError(
            "a username is 2-150 characters: lower-case letters, digits and . _ @ - only"
        )
    try:
        passwords.check_password_strength(password)
    except ValueError as exc:
        raise AccountError(str(exc)) from exc
    chosen = check_roles(roles)
    code = organisation_code.strip().upper()
    if not code:
        raise AccountError("give the ODS code of the organisation the user acts for")
    if organisation_name(session, code) is None and _footprint_loaded(session):
        raise AccountError(f"organisation {code} is not in this ICS's footprint")
    if get_user(session, username) is not None:
        raise AccountError(f"the username {username} is already taken")
    user = User(
        username=username,
        display_name=(display_name or username).strip(),
        password_hash=passwords.hash_password(password),
        organisation_code=code,
        active=True,
        created_at=db.utcnow(),
    )
    user.roles = [UserRole(role=r) for r in chosen]
    session.add(user)
    session.flush()
    record_event(
        session,
        **_actor_fields(actor),
        action="user.create",
        outcome="success",
        record_type="User",
        record_id=username,
        detail={"roles": chosen, "organisation_code": code},
    )
    return user


def set_active(
    session: Session, username: str, active: bool, actor: Principal | str | None = None
) -> User:
    """Deactivate (a leaver) or reactivate an account; its sessions and tokens stop working
    while it is inactive. Audited as "user.deactivate" / "user.activate"."""
    user = get_user(session, username)
    if user is None:
        raise AccountError(f"there is no user {username}")
    if user.active != active:
        user.active = active
        record_event(
            session,
            **_actor_fields(actor),
            action="user.activate" if active else "user.deactivate",
            outcome="success",
            record_type="User",
            record_id=user.username,
        )
    return user


def principal_for_user(
    session: Session,
    user: User,
    *,
    scopes: frozenset[str] | None = None,
    auth_method: str = "session",
) -> Principal:
    """The principal `user` acts as (a token's `scopes` narrow it)."""
    code = user.organisation_code
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=frozenset(user.role_names),
        organisation_code=code,
        organisation_name=organisation_name(session, code) or code,
        scopes=scopes,
        auth_method=auth_method,
    )


def authenticate(session: Session, username: str, password: str, client: str) -> Principal:
    """The principal for a correct username and password, else SignInRefused.

    Refused while throttled, even with the right password. Failures, throttling and successes
    are written to `session` (failure records and audit events), so commit it either way.
    """
    username = username.strip().lower()
    now = db.utcnow()
    audit = {"action": "sign-in", "record_type": "User", "record_id": username, "client": client}
    lock = throttle.lockout(session, username, client, now)
    if lock is not None:
        minutes = lock.minutes_left(now)
        record_event(
            session,
            actor="anonymous",
            outcome="denied",
            **audit,
            detail={"reason": f"throttled by {lock.scope}", "locked_until": lock.until},
        )
        raise SignInRefused(
            f"Too many failed sign-in attempts. Try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}.",
            locked=True,
            retry_minutes=minutes,
        )
    user = get_user(session, username) if username else None
    ok = passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        why = "unknown username" if user is None else ("inactive" if ok else "wrong password")
        throttle.record_failure(session, username, client)
        record_event(session, actor="anonymous", outcome="failure", **audit, detail={"reason": why})
        raise SignInRefused("The username or password is not right.")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    throttle.clear_failures(session, username)
    record_event(
        session, actor=username, organisation=user.organisation_code, outcome="success", **audit
    )
    return principal_for_user(session, user)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    username: str,
    scopes: Iterable[str],
    days: int = 90,
    name: str | None = None,
    actor: Principal | str | None = None,
) -> str:
    """Issue an API token for `username`; returns the token, which is never stored or shown again.

    Every scope must be a permission the user's roles grant, or a SMART-on-FHIR scope
    (``patient/*.read``, ``user/Observation.write``...) whose record permissions they grant.
    """
    user = get_user(session, username)
    if user is None or not user.active:
        raise AccountError(f"there is no active user {username}")
    chosen = sorted(set(scopes))
    if not chosen:
        raise AccountError("give the token at least one scope")
    allowed = grants().permissions_of(user.role_names)
    refused = [s for s in chosen if s not in allowed and not _smart_scope_allowed(s, allowed)]
    if refused:
        raise AccountError(
            f"{user.username}'s roles do not grant {', '.join(refused)}; "
            f"they may have: {', '.join(sorted(allowed))}"
        )
    if not 1 <= days <= 366:
        raise AccountError("a token lasts between 1 and 366 days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = db.utcnow()
    row = ApiToken(
        user_id=user.id,
        name=(name or f"token {now:%Y-%m-%d %H:%M}")[:100],
        token_sha256=token_digest(token),
        scopes=chosen,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        **_actor_fields(actor),
        action="token.create",
        outcome="success",
        record_type="ApiToken",
        record_id=str(row.id),
        detail={"user": user.username, "scopes": chosen, "days": days, "name": row.name},
    )
    return token


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def principal_for_token(session: Session, token: str) -> Principal | None:
    """The principal a bearer token stands for, or None if unknown, revoked or expired."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_digest(token)))
    now = db.utcnow()
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        return None
    if not row.user.active:
        return None
    # Touch at most once a minute: a busy API client should not write on every call.
    if row.last_used_at is None or now - _aware(row.last_used_at) > timedelta(minutes=1):
        row.last_used_at = now
    return principal_for_user(session, row.user, scopes=frozenset(row.scopes), auth_method="token")


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(session: Session, token_id: int, actor: Principal) -> ApiToken:
    """Revoke one of `actor`'s own tokens (or any, for a users:manage holder); audited."""
    from integrated_care.accounts.policy import allows

    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.user_id and not allows(actor, "users:manage")):
        raise AccountError("there is no such token of yours")
    if row.revoked_at is None:
        row.revoked_at = db.utcnow()
        record_event(
            session,
            **_actor_fields(actor),
            action="token.revoke",
            outcome="success",
            record_type="ApiToken",
            record_id=str(row.id),
            detail={"user": row.user.username, "name": row.name},
        )
    return row


def _smart_scope_allowed(scope: str, allowed: frozenset[str]) -> bool:
    """A SMART scope is allowed when the roles grant the record permissions it implies."""
    # Imported here: the record domain defines SMART scopes, and accounts must not need it to load.
    from integrated_care.record import smart

    parsed = smart.parse(scope)
    return parsed is not None and smart.implied_permissions([parsed]) <= allowed
