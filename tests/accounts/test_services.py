"""Users, passwords, sign-in throttling and API tokens, against a real store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integrated_care import db
from integrated_care.accounts import passwords, services, throttle
from integrated_care.accounts.models import ApiToken, SignInFailure, User
from integrated_care.accounts.services import AccountError, SignInRefused
from tests.accounts.conftest import PASSWORD, audit_rows


def add_user(session: Session, username: str = "nurse.a", *roles: str) -> User:
    user = services.create_user(
        session, username, PASSWORD, roles or ("care_professional",), "qk1", display_name="Nurse A"
    )
    session.commit()
    return user


def test_production_hashing_is_argon2id_with_rfc9106_parameters() -> None:
    hasher = passwords.DEFAULT_HASHER
    assert hasher.type is Type.ID
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) >= (3, 65536, 4)
    assert hasher.hash(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_create_user_stores_an_argon2id_hash_never_the_password(session: Session) -> None:
    user = add_user(session, "Nurse.A")
    stored = session.scalar(select(User).where(User.username == "nurse.a"))
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert PasswordHasher().verify(stored.password_hash, PASSWORD)
    assert (user.organisation_code, user.role_names, user.display_name) == (
        "QK1",
        ["care_professional"],
        "Nurse A",
    )
    [event] = audit_rows(session, action="user.create")
    assert (event.actor, event.record_id, event.outcome) == ("ics-cli", "nurse.a", "success")
    assert event.detail == {"organisation_code": "QK1", "roles": ["care_professional"]}


@pytest.mark.parametrize(
    ("username", "password", "roles", "org", "message"),
    [
        ("ok.name", "short", ["analyst"], "QK1", "at least 12 characters"),
        ("ok.name", PASSWORD, ["wizard"], "QK1", "unknown role"),
        ("ok.name", PASSWORD, [], "QK1", "at least one role"),
        ("bad name!", PASSWORD, ["analyst"], "QK1", "lower-case letters"),
        ("ok.name", PASSWORD, ["analyst"], " ", "ODS code"),
    ],
)
def test_create_user_refuses_bad_input_clearly(
    session: Session, username: str, password: str, roles: list[str], org: str, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        services.create_user(session, username, password, roles, org)


def test_usernames_are_unique(session: Session) -> None:
    add_user(session)
    with pytest.raises(AccountError, match="already taken"):
        services.create_user(session, "NURSE.A", PASSWORD, ["analyst"], "QK1")


def test_authenticate_returns_the_principal_and_audits(session: Session) -> None:
    add_user(session, "gp.b", "clinician", "analyst")
    principal = services.authenticate(session, " GP.B ", PASSWORD, "198.51.100.1")
    session.commit()
    assert principal.username == "gp.b" and principal.roles == {"clinician", "analyst"}
    assert principal.organisation_code == "QK1" and principal.scopes is None
    [event] = audit_rows(session, action="sign-in")
    assert (event.actor, event.outcome, event.client) == ("gp.b", "success", "198.51.100.1")


def test_wrong_password_and_unknown_user_are_refused_alike(session: Session) -> None:
    add_user(session)
    for name, password in (("nurse.a", "wrong-password-123"), ("nobody", PASSWORD)):
        with pytest.raises(SignInRefused, match="not right") as refused:
            services.authenticate(session, name, password, "198.51.100.1")
        assert not refused.value.locked
    session.commit()
    events = audit_rows(session, action="sign-in")
    assert [(e.outcome, e.detail["reason"]) for e in events] == [
        ("failure", "unknown username"),
        ("failure", "wrong password"),
    ]


def test_inactive_users_cannot_sign_in(session: Session) -> None:
    user = add_user(session)
    user.active = False
    session.commit()
    with pytest.raises(SignInRefused):
        services.authenticate(session, "nurse.a", PASSWORD, "198.51.100.1")


def test_throttling_locks_a_username_even_for_the_right_password(session: Session) -> None:
    add_user(session)
    for _ in range(throttle.MAX_PER_USERNAME):
        with pytest.raises(SignInRefused):
            services.authenticate(session, "nurse.a", "wrong-password-123", "198.51.100.1")
    session.commit()
    with pytest.raises(SignInRefused, match="Try again in 15 minutes") as refused:
        services.authenticate(session, "nurse.a", PASSWORD, "198.51.100.2")
    assert refused.value.locked
    session.commit()
    [locked] = audit_rows(session, action="sign-in", outcome="denied")
    assert locked.detail["reason"] == "throttled by username"
    # Once the failures are older than the window, the right password works again.
    session.execute(
        update(SignInFailure).values(
            attempted_at=db.utcnow() - throttle.WINDOW - timedelta(seconds=1)
        )
    )
    assert services.authenticate(session, "nurse.a", PASSWORD, "198.51.100.2").username == "nurse.a"
    assert session.scalars(select(SignInFailure)).all() == []  # a success clears the count


def test_throttling_locks_a_client_address(session: Session) -> None:
    add_user(session)
    # Failures from one address across many usernames (a password-spraying client).
    session.add_all(
        SignInFailure(username=f"guess{i}", client="203.0.113.9")
        for i in range(throttle.MAX_PER_CLIENT - 1)
    )
    with pytest.raises(SignInRefused):
        services.authenticate(session, "guess-last", "wrong-password-123", "203.0.113.9")
    with pytest.raises(SignInRefused) as refused:
        services.authenticate(session, "nurse.a", PASSWORD, "203.0.113.9")
    assert refused.value.locked
    assert services.authenticate(session, "nurse.a", PASSWORD, "203.0.113.10")


def test_password_is_rehashed_when_parameters_change(session: Session) -> None:
    user = add_user(session)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    session.commit()
    services.authenticate(session, "nurse.a", PASSWORD, "198.51.100.1")
    session.commit()
    assert user.password_hash != weak and PasswordHasher().verify(user.password_hash, PASSWORD)


def test_tokens_are_stored_as_digests_and_limited_to_the_roles(session: Session) -> None:
    add_user(session, "analyst.c", "analyst")
    token = services.create_token(session, "analyst.c", ["analytics:read"], days=30, name="nb")
    session.commit()
    row = session.scalar(select(ApiToken))
    assert token.startswith("ics_") and token not in (row.token_sha256, row.name)
    assert row.token_sha256 == services.token_digest(token) and row.scopes == ["analytics:read"]
    principal = services.principal_for_token(session, token)
    assert principal.auth_method == "token" and principal.scopes == {"analytics:read"}
    with pytest.raises(AccountError, match="do not grant record:read"):
        services.create_token(session, "analyst.c", ["record:read"])
    with pytest.raises(AccountError, match="no active user"):
        services.create_token(session, "ghost", ["analytics:read"])
    [event] = audit_rows(session, action="token.create")
    assert event.detail["scopes"] == ["analytics:read"] and token not in str(event.detail)


def test_revoked_and_expired_tokens_stand_for_nobody(session: Session) -> None:
    add_user(session, "analyst.c", "analyst")
    revoked = services.create_token(session, "analyst.c", ["analytics:read"])
    expired = services.create_token(session, "analyst.c", ["analytics:read"])
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_sha256 == services.token_digest(revoked))
        .values(revoked_at=db.utcnow())
    )
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_sha256 == services.token_digest(expired))
        .values(expires_at=db.utcnow() - timedelta(minutes=1))
    )
    assert services.principal_for_token(session, revoked) is None
    assert services.principal_for_token(session, expired) is None
    assert services.principal_for_token(session, "ics_made-up") is None


def test_footprint_organisations_are_checked_once_a_footprint_is_loaded(
    footprint_session: Session,
) -> None:
    from integrated_care.footprint.services import list_organisations

    org = list_organisations(footprint_session)[0]
    user = services.create_user(footprint_session, "finance.d", PASSWORD, ["finance"], org.org_code)
    assert services.principal_for_user(footprint_session, user).organisation_name == org.name
    with pytest.raises(AccountError, match="not in this ICS's footprint"):
        services.create_user(footprint_session, "finance.e", PASSWORD, ["finance"], "ZZZ99")
