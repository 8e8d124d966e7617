"""The bearer-token check every API request makes (accounts middleware), on each store."""

from __future__ import annotations

from contextlib import ExitStack

from sqlalchemy import update

from integrated_care import db
from integrated_care.accounts import services
from integrated_care.accounts.middleware import TokenPrincipals
from integrated_care.accounts.models import ApiToken
from integrated_care.runtime import Runtime


def _autocommit(connection) -> bool:  # type: ignore[no-untyped-def]
    raw = connection.connection.dbapi_connection
    if connection.dialect.name == "postgresql":
        return bool(raw.autocommit)
    return raw.isolation_level is None  # pysqlite's autocommit


def test_a_token_check_leaves_every_pooled_connection_transactional(runtime: Runtime) -> None:
    with runtime.transaction() as session:
        services.create_user(session, "gp.t", "a-long-enough-password", ["clinician"], "C82038")
        token = services.create_token(session, "gp.t", ["record:read"])
    tokens = TokenPrincipals()
    for _ in range(3):
        principal = tokens.principal(runtime, token)
        assert principal is not None and principal.username == "gp.t"
    # The check's own SELECT runs outside a transaction on PostgreSQL; the connection it used
    # must go back to the pool as it came, or a later write would commit statement by statement.
    with ExitStack() as stack:
        pooled = [stack.enter_context(runtime.engine.connect()) for _ in range(4)]
        assert not any(_autocommit(c) for c in pooled)
    with runtime.transaction() as session:
        session.execute(update(ApiToken).values(revoked_at=db.utcnow()))
    assert tokens.principal(runtime, token) is None  # revoked: refused at once
