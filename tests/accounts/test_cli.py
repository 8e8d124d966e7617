"""`ics user`, `ics token` and `ics audit` through the real command, on a store in tmp."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from integrated_care import db
from integrated_care.accounts import services
from integrated_care.accounts.models import User
from integrated_care.cli import app
from tests.accounts.conftest import PASSWORD, audit_rows
from tests.accounts.test_audit import tamper

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, empty_db_url: str) -> str:
    monkeypatch.setenv("ICS_DATA_DIR", str(tmp_path / "ics-data"))
    monkeypatch.setenv("ICS_DATABASE_URL", empty_db_url)
    return empty_db_url


def ics(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=input)


def test_user_add_with_a_prompted_password_then_list(cli_env: str, session: Session) -> None:
    result = ics(
        "user",
        "add",
        "dr.who",
        "--role",
        "clinician",
        "--role",
        "analyst",
        "--org",
        "qk1",
        "--display-name",
        "Dr Who",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "created user dr.who (analyst, clinician) acting for QK1" in result.output
    user = session.scalar(select(User).where(User.username == "dr.who"))
    assert user.display_name == "Dr Who" and PASSWORD not in user.password_hash
    listed = ics("user", "list")
    assert listed.exit_code == 0 and "dr.who" in listed.output and "Dr Who" in listed.output


def test_user_add_refuses_clearly(cli_env: str) -> None:
    result = ics("user", "add", "x.y", "--role", "wizard", "--org", "QK1", "--password", PASSWORD)
    assert result.exit_code == 2 and "unknown role(s) wizard" in result.output
    result = ics("user", "add", "x.y", "--role", "admin", "--org", "QK1", "--password", "short")
    assert result.exit_code == 2 and "at least 12 characters" in result.output


def test_token_create_prints_a_working_token(cli_env: str, session: Session) -> None:
    ics(
        "user",
        "add",
        "cg.a",
        "--role",
        "caldicott_guardian",
        "--org",
        "QK1",
        "--password",
        PASSWORD,
    )
    result = ics("token", "create", "--user", "cg.a", "--scope", "audit:read", "--days", "7")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    principal = services.principal_for_token(session, token)
    assert principal.username == "cg.a" and principal.scopes == {"audit:read"}
    refused = ics("token", "create", "--user", "cg.a", "--scope", "finance:write")
    assert refused.exit_code == 2 and "do not grant finance:write" in refused.output


def test_audit_verify_and_show(cli_env: str, engine: Engine) -> None:
    for name in ("a.one", "a.two", "a.three"):
        ics("user", "add", name, "--role", "analyst", "--org", "QK1", "--password", PASSWORD)
    ok = ics("audit", "verify")
    assert ok.exit_code == 0 and "audit log intact: 3 rows checked" in ok.output
    shown = ics("audit", "show", "--limit", "2")
    assert shown.exit_code == 0 and "2 of 4 audit events" in shown.output  # + the verify


def test_audit_verify_exits_1_on_an_edited_row(cli_env: str, engine: Engine) -> None:
    with db.transaction(db.session_factory(engine)) as session:
        for name in ("a.one", "a.two", "a.three"):
            services.create_user(session, name, PASSWORD, ["analyst"], "QK1")
    tamper(engine, "UPDATE audit_event SET actor = 'innocent' WHERE id = 2")
    result = ics("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN at row 2" in result.output and "edited" in result.output


def test_audit_verify_exits_1_on_a_deleted_row(cli_env: str, engine: Engine) -> None:
    with db.transaction(db.session_factory(engine)) as session:
        for name in ("a.one", "a.two", "a.three"):
            services.create_user(session, name, PASSWORD, ["analyst"], "QK1")
    tamper(engine, "DELETE FROM audit_event WHERE id = 2")
    result = ics("audit", "verify")
    assert result.exit_code == 1 and "BROKEN at row 3" in result.output
    assert "row(s) 2 missing" in result.output


def test_a_deactivated_user_cannot_sign_in_or_use_tokens(cli_env: str, session: Session) -> None:
    ics("user", "add", "leaver", "--role", "analyst", "--org", "QK1", "--password", PASSWORD)
    token = ics("token", "create", "--user", "leaver", "--scope", "analytics:read")
    token = token.output.strip().splitlines()[-1]
    result = ics("user", "deactivate", "leaver")
    assert result.exit_code == 0 and "deactivated" in result.output
    assert services.principal_for_token(session, token) is None
    with pytest.raises(services.SignInRefused):
        services.authenticate(session, "leaver", PASSWORD, "127.0.0.1")
    session.rollback()
    assert ics("user", "activate", "leaver").exit_code == 0
    session.expire_all()
    assert services.principal_for_token(session, token).username == "leaver"
    assert ics("user", "deactivate", "nobody").exit_code == 2
    actions = [e.action for e in audit_rows(session, record_type="User")]
    assert actions[:2] == ["user.activate", "user.deactivate"]
