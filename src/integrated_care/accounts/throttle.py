"""Sign-in throttling, kept in the database so it holds across processes and restarts.

After 5 failures for one username, or 20 from one client address, within 15 minutes, further
attempts are refused (even with the right password) until enough failures age out of the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts.models import SignInFailure

WINDOW = timedelta(minutes=15)
MAX_PER_USERNAME = 5
MAX_PER_CLIENT = 20


@dataclass(frozen=True)
class Lockout:
    scope: str  # "username" | "client"
    until: datetime

    def minutes_left(self, now: datetime) -> int:
        return max(1, int((self.until - now).total_seconds() // 60) + 1)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _lock_from(stamps: list[datetime], limit: int, scope: str) -> Lockout | None:
    if len(stamps) < limit:
        return None
    # Locked until the failure that tipped the count over `limit` leaves the window.
    ordered = sorted(_aware(s) for s in stamps)
    return Lockout(scope, ordered[len(ordered) - limit] + WINDOW)


def lockout(
    session: Session, username: str, client: str, now: datetime | None = None
) -> Lockout | None:
    """The lock that refuses a sign-in for this username or client address, if any."""
    now = now or db.utcnow()
    since = now - WINDOW
    by_user = session.scalars(
        select(SignInFailure.attempted_at).where(
            SignInFailure.username == username.lower(), SignInFailure.attempted_at > since
        )
    ).all()
    by_client = session.scalars(
        select(SignInFailure.attempted_at).where(
            SignInFailure.client == client, SignInFailure.attempted_at > since
        )
    ).all()
    return _lock_from(list(by_user), MAX_PER_USERNAME, "username") or _lock_from(
        list(by_client), MAX_PER_CLIENT, "client"
    )


def record_failure(session: Session, username: str, client: str) -> None:
    session.add(SignInFailure(username=username.lower()[:150], client=client[:100]))
    session.flush()


def clear_failures(session: Session, username: str) -> None:
    """Forget a username's failures once its owner has signed in."""
    session.execute(delete(SignInFailure).where(SignInFailure.username == username.lower()))
