"""Contracts change by variation, never by overwriting: every version is kept with who entered
it and when; the register shows the version in force; only the commissioner's finance team
varies a contract, and every variation is audited."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from integrated_care.accounts import passwords
from integrated_care.accounts import services as accounts
from integrated_care.accounts.models import AuditEvent
from integrated_care.finance import contract_history
from integrated_care.finance import contracts as reg
from integrated_care.finance.contract_models import ContractVariation
from integrated_care.finance.ledger import By
from integrated_care.finance.services import icb_code
from integrated_care.runtime import Runtime
from tests.finance.test_contracts import _footprint_contracts

D = Decimal


def _value(session, contract_id: str) -> Decimal:  # type: ignore[no-untyped-def]
    lines = reg.register(session, date(2025, 11, 1))
    return next(x.contract.annual_value for x in lines if x.contract.contract_id == contract_id)


def test_a_changed_contract_is_a_new_version_and_nothing_is_overwritten(
    footprint_session,
) -> None:  # type: ignore[no-untyped-def]
    s = footprint_session
    rows = _footprint_contracts(s)
    reg.store_contracts(s, rows, By("loader", "QK1"))
    raised = [replace(r, annual_value=D("2500000")) if r.contract_id == "C4" else r for r in rows]
    report = reg.store_contracts(s, raised, By("loader.two"))
    assert (report.added, report.updated, report.unchanged) == (0, 1, 3)
    assert _value(s, "C4") == D("2500000")
    # C4's net value moves with it; C1 to C3 are as they were.
    assert _value(s, "C1") == D("1000000.50")
    history = contract_history.versions(s, "C4")
    assert [(v.version, v.contract.annual_value, v.recorded_by) for v in history] == [
        (1, D("2000000"), "loader"),
        (2, D("2500000"), "loader.two"),
    ]
    assert history[1].reason == "changed in the contracts extract"
    extended = replace(history[1].contract, end_date=date(2027, 3, 31))
    third = contract_history.vary(s, extended, By("icb.fd", "QK1"), "extended a year")
    assert third is not None and third.supersedes_id == history[1].variation_id
    assert contract_history.vary(s, extended, By("icb.fd"), "again") is None
    assert [v.contract.end_date for v in contract_history.versions(s, "C4")][-1] == date(
        2027, 3, 31
    )
    s.commit()
    for statement in (
        "UPDATE finance_contract SET annual_value_pence = 1",
        "DELETE FROM finance_contract_variation",
        "UPDATE finance_contract_variation SET reason = 'x'",
    ):
        with pytest.raises(DBAPIError):
            s.execute(text(statement))
        s.rollback()


def test_a_bad_variation_is_refused_naming_every_problem(footprint_session) -> None:  # type: ignore[no-untyped-def]
    s = footprint_session
    rows = _footprint_contracts(s)
    reg.store_contracts(s, rows, By("loader"))
    bad = replace(rows[0], end_date=date(2020, 1, 1), procurement_route="handshake")
    with pytest.raises(reg.ContractError) as refused:
        contract_history.vary(s, bad, By("x"), " ")
    assert len(refused.value.problems) == 3  # ends before it starts; route; no reason
    missing = replace(rows[0], contract_id="NOPE")
    with pytest.raises(reg.ContractError, match="no contract NOPE"):
        contract_history.vary(s, missing, By("x"), "why")
    assert s.scalar(select(func.count()).select_from(ContractVariation)) == 0


def test_only_the_commissioner_varies_a_contract_audited(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    with runtime.transaction() as s:
        rows = _footprint_contracts(s)
        reg.store_contracts(s, rows, By("loader"))
        icb = icb_code(s)
        trust = rows[1].holder_code
        accounts.create_user(s, "icb.fd", "a-long-enough-password", ["finance"], icb, "ICB FD")
        accounts.create_user(s, "trust.fd", "a-long-enough-password", ["finance"], trust, "T")
        scopes = ["finance:read", "finance:write"]
        icb_h = {"Authorization": f"Bearer {accounts.create_token(s, 'icb.fd', scopes)}"}
        trust_h = {"Authorization": f"Bearer {accounts.create_token(s, 'trust.fd', scopes)}"}
    change = {"annual_value": "2100000.25", "reason": "uplift for winter"}
    refused = client.post("/api/finance/contracts/C4/variations", json=change, headers=trust_h)
    assert refused.status_code == 403
    done = client.post("/api/finance/contracts/C4/variations", json=change, headers=icb_h)
    assert done.status_code == 200, done.text
    assert done.json()["version"] == 2 and done.json()["contract"]["annual_value"] == "2100000.25"
    bad = client.post(
        "/api/finance/contracts/C4/variations",
        json={"end_date": "2000-01-01", "reason": "x"},
        headers=icb_h,
    )
    assert bad.status_code == 422 and "ends before it starts" in bad.text
    versions = client.get("/api/finance/contracts/C4/versions", headers=trust_h).json()
    assert [(v["version"], v["recorded_by"]) for v in versions] == [(1, "loader"), (2, "icb.fd")]
    one = client.get("/api/finance/contracts/C4?as_at=2025-11-01", headers=trust_h).json()
    assert one["contract"]["annual_value"] == "2100000.25" and len(one["versions"]) == 2

    page = client.get("/finance/contracts/C4", headers=icb_h)
    assert page.status_code == 200 and "uplift for winter" in page.text
    assert "Record the variation" in page.text
    assert "Record the variation" not in client.get("/finance/contracts/C4", headers=trust_h).text
    form = {"annual_value": "lots", "end_date": "", "services": "svc", "reason": "typo"}
    bad_form = client.post("/finance/contracts/C4/variations", data=form, headers=icb_h)
    assert bad_form.status_code == 422 and 'href="#annual_value"' in bad_form.text
    form["annual_value"] = "2,200,000"
    ok = client.post(
        "/finance/contracts/C4/variations", data=form, headers=icb_h, follow_redirects=False
    )
    assert ok.status_code == 303
    decision = {
        "decided_by": "ICB board",
        "decided_on": "2025-03-01",
        "best_value_rationale": "",
        "conflict_declared_by": "Dr A",
        "conflict_interest": "Trustee of the charity",
        "conflict_action": "left the meeting",
    }
    url = "/finance/contracts/C4/decisions"
    assert client.post(url, data=decision, headers=icb_h).status_code == 422  # no rationale
    decision["best_value_rationale"] = "Only provider with the capacity"
    assert client.post(url, data=decision, headers=trust_h).status_code == 403
    made = client.post(url, data=decision, headers=icb_h, follow_redirects=False)
    assert made.status_code == 303
    page = client.get("/finance/contracts/C4", headers=trust_h).text
    assert "Only provider with the capacity" in page and "Trustee of the charity" in page
    with runtime.sessions() as s:
        assert len(reg.decision_records(s)["C4"]) == 1
        assert [v.contract.annual_value for v in contract_history.versions(s, "C4")] == [
            D("2000000"),
            D("2100000.25"),
            D("2200000"),
        ]
        audited = s.scalar(select(func.count()).where(AuditEvent.action == "finance.contract.vary"))
        assert audited == 2
