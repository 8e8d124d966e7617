"""Finance over real HTTP: who may see and enter what, returns through the API and the upload
form, control totals, risk share, pages and their JSON twins."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from integrated_care.accounts import passwords
from integrated_care.accounts import services as accounts
from integrated_care.accounts.models import AuditEvent
from integrated_care.finance import ledger, services
from integrated_care.finance.ledger import By, PlanFigure
from integrated_care.finance.models import LedgerEntry
from integrated_care.footprint.services import list_organisations
from integrated_care.runtime import Runtime
from tests.finance.conftest import YEAR, D

PASSWORD = "a-long-enough-password"
CSV_HEAD = "org_code,financial_year,return_month,line,month,recurrent,amount"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy-password-for-timing"))


@pytest.fixture
def world(runtime: Runtime) -> Iterator[dict[str, str]]:
    """Two trusts and the ICB; a finance user for one trust and one for the ICB, an analyst;
    their API tokens; plans, control totals and a month-2 return for both trusts."""
    with runtime.transaction() as s:
        trusts = sorted(o.org_code for o in list_organisations(s) if o.org_type.endswith("_trust"))
        icb = services.icb_code(s)
        assert icb and len(trusts) >= 2
        a, b = trusts[:2]
        accounts.create_user(s, "trust.fd", PASSWORD, ["finance"], a, "Trust FD")
        accounts.create_user(s, "icb.fd", PASSWORD, ["finance"], icb, "ICB FD")
        accounts.create_user(s, "analyst", PASSWORD, ["analyst"], icb, "Analyst")
        tokens = {
            "trust": accounts.create_token(s, "trust.fd", ["finance:read", "finance:write"]),
            "icb": accounts.create_token(s, "icb.fd", ["finance:read", "finance:write"]),
            "analyst": accounts.create_token(s, "analyst", ["finance:read"]),
        }
        setup = By("setup", icb)
        for org in (a, b):
            figures = [
                PlanFigure(m, line, D(v))
                for m in range(1, 13)
                for line, v in (("income", 1000), ("pay", 900))
            ]
            ledger.create_plan_version(s, org, YEAR, figures, setup)
            ledger.set_control_total(s, org, YEAR, "1200", setup)
        ledger.record_entries(
            s,
            [ledger.EntryInput(b, YEAR, m, "pay", "actual", D(950)) for m in (1, 2)]
            + [ledger.EntryInput(b, YEAR, m, "income", "actual", D(1000)) for m in (1, 2)],
            setup,
        )
    yield {"a": a, "b": b, "icb": icb, **{f"token_{k}": v for k, v in tokens.items()}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entries(runtime: Runtime) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def test_position_api_needs_finance_read_and_gives_exact_money(client: TestClient, world) -> None:
    assert client.get("/api/finance/position").status_code == 401
    got = client.get("/api/finance/position", headers=bearer(world["token_analyst"]))
    assert got.status_code == 200
    body = got.json()
    # Trust B is 50 a month worse than plan on pay in April and May; A has sent nothing yet.
    assert body["as_at_month"] == 2
    system = body["system"]
    assert system["control_total"] == "2400.00"
    assert Decimal(system["forecast_outturn"]) == D(1200 * 2 - 100)
    assert Decimal(system["variance_ytd_by_driver"]["pay"]) == D(-100)
    assert [o["org_code"] for o in body["organisations"]] == sorted([world["a"], world["b"]])
    assert system["unreported_months"] == [1, 2]  # trust A's, counted at plan


def test_a_trust_sends_its_own_return_and_no_one_else_s(
    client: TestClient, runtime: Runtime, world
) -> None:
    a, b = world["a"], world["b"]
    csv = "\n".join([CSV_HEAD, *[f"{a},{YEAR},3,pay,{m},true,880" for m in (1, 2, 3)]])
    sent = client.post(
        f"/api/finance/organisations/{a}/returns",
        content=csv,
        headers={**bearer(world["token_trust"]), "Content-Type": "text/csv"},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["entries_added"] == 3
    before = entries(runtime)
    other = csv.replace(a, b)
    refused = client.post(
        f"/api/finance/organisations/{b}/returns",
        content=other,
        headers={**bearer(world["token_trust"]), "Content-Type": "text/csv"},
    )
    assert refused.status_code == 403
    assert f"records of {a}" in refused.json()["detail"]
    assert entries(runtime) == before
    with runtime.sessions() as s:
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "finance.return.store" in actions and actions[-1] == "access.denied"


def test_a_bad_return_is_refused_whole_through_the_api(
    client: TestClient, runtime: Runtime, world
) -> None:
    a = world["a"]
    csv = "\n".join([CSV_HEAD, f"{a},{YEAR},3,pay,1,true,880", f"{a},{YEAR},3,pay,2,true,8.8.0"])
    before = entries(runtime)
    got = client.post(
        f"/api/finance/organisations/{a}/returns",
        content=csv,
        headers={**bearer(world["token_trust"]), "Content-Type": "text/csv"},
    )
    assert got.status_code == 422
    assert got.json()["problems"] == [
        {"sheet": "csv", "cell": "G3", "reason": "is not an amount in pounds", "value": "8.8.0"}
    ]
    assert entries(runtime) == before
    with runtime.sessions() as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (last.action, last.outcome) == ("finance.return.reject", "failure")


def test_a_return_racing_another_is_refused_and_stores_nothing(
    client: TestClient, runtime: Runtime, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If another return lands between reading the figures held and writing, the database's
    one-chain-per-cell index refuses the write: 409, nothing stored."""
    b = world["b"]
    monkeypatch.setattr(ledger, "_live_cells", lambda *args: {})  # a stale read
    before = entries(runtime)
    csv = f"{CSV_HEAD}\n{b},{YEAR},2,income,3,true,5\n{b},{YEAR},2,pay,1,true,7\n"
    token = accounts_token(runtime, "b.fd", b)
    got = client.post(
        f"/api/finance/organisations/{b}/returns",
        content=csv,
        headers={**bearer(token), "Content-Type": "text/csv"},
    )
    assert got.status_code == 409 and "nothing of yours was stored" in got.json()["detail"]
    assert entries(runtime) == before


def accounts_token(runtime: Runtime, username: str, org: str) -> str:
    with runtime.transaction() as s:
        accounts.create_user(s, username, PASSWORD, ["finance"], org, username)
        return accounts.create_token(s, username, ["finance:write", "finance:read"])


def test_control_totals_are_the_icb_s_to_set(client: TestClient, world) -> None:
    a = world["a"]
    body = {"financial_year": YEAR, "amount": "-500000.25", "reason": "agreed deficit plan"}
    trust = client.post(
        f"/api/finance/organisations/{a}/control-total",
        json=body,
        headers=bearer(world["token_trust"]),
    )
    assert trust.status_code == 403
    icb = client.post(
        f"/api/finance/organisations/{a}/control-total",
        json=body,
        headers=bearer(world["token_icb"]),
    )
    assert icb.status_code == 200, icb.text
    assert icb.json()["system_control_total"] == str(D("-500000.25") + D(1200))
    position = client.get("/api/finance/position", headers=bearer(world["token_icb"])).json()
    assert position["system"]["control_total"] == icb.json()["system_control_total"]


def test_plans_are_submitted_by_the_trust_and_agreed_by_the_icb(client: TestClient, world) -> None:
    a = world["a"]
    plan = {
        "financial_year": YEAR,
        "note": "after the May review",
        "figures": [{"month": m, "line": "income", "amount": "1100.00"} for m in range(1, 13)],
    }
    sent = client.post(
        f"/api/finance/organisations/{a}/plans", json=plan, headers=bearer(world["token_trust"])
    )
    assert sent.status_code == 201 and sent.json()["status"] == "revised"
    version = sent.json()["id"]
    assert (
        client.post(
            f"/api/finance/plans/{version}/agree", headers=bearer(world["token_trust"])
        ).status_code
        == 403
    )
    agreed = client.post(f"/api/finance/plans/{version}/agree", headers=bearer(world["token_icb"]))
    assert agreed.json() == {"id": version, "number": 2, "status": "agreed"}
    org = client.get(f"/api/finance/organisations/{a}", headers=bearer(world["token_icb"])).json()
    assert [(v["number"], v["status"], v["of_record"]) for v in org["plan_versions"]] == [
        (1, "submitted", False),
        (2, "agreed", True),
    ]
    assert org["position"]["plan_full_year"] == "13200.00"


def test_risk_share_through_the_api_keeps_the_system_total(client: TestClient, world) -> None:
    agreement = {
        "name": "50:50",
        "method": "fixed",
        "fixed_shares": {world["a"]: "0.5", world["b"]: "0.5"},
    }
    got = client.post(
        "/api/finance/risk-share",
        json={"agreement": agreement},
        headers=bearer(world["token_analyst"]),
    )
    assert got.status_code == 200, got.text
    results = got.json()["results"]
    assert [r["scenario"] for r in results] == ["best", "base", "worst"]
    base = results[1]
    # B is 100 adrift of its control total (A is at plan): each bears 50.
    assert base["total_before"] == base["total_after"] == "-100.00"
    assert {o["org_code"]: o["after"] for o in base["organisations"]} == {
        world["a"]: "-50.00",
        world["b"]: "-50.00",
    }


def test_template_download_and_history(client: TestClient, world) -> None:
    got = client.get(
        f"/api/finance/organisations/{world['a']}/return-template",
        params={"year": YEAR, "month": 3},
        headers=bearer(world["token_analyst"]),
    )
    assert got.status_code == 200 and got.content[:2] == b"PK"
    assert "attachment" in got.headers["content-disposition"]
    history = client.get("/api/finance/entries/1/history", headers=bearer(world["token_analyst"]))
    assert history.status_code == 200 and history.json()[0]["recorded_by"] == "setup"


def _sign_in(client: TestClient, username: str) -> None:
    page = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(
        "/sign-in",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"},
    )


def test_pages_and_the_upload_form(client: TestClient, runtime: Runtime, world) -> None:
    a, b = world["a"], world["b"]
    assert client.get("/finance", follow_redirects=False).status_code in (401, 303)
    _sign_in(client, "trust.fd")
    page = client.get("/finance")
    assert page.status_code == 200
    assert "System financial position" in page.text and "£2,400" in page.text
    assert 'href="/finance"' in page.text  # the menu entry
    mine = client.get(f"/finance/organisations/{a}")
    assert mine.status_code == 200 and "Send return" in mine.text
    theirs = client.get(f"/finance/organisations/{b}")
    assert "Send return" not in theirs.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', mine.text).group(1)
    bad = f"{CSV_HEAD}\n{a},{YEAR},3,bonus,1,true,5\n".encode()
    before = entries(runtime)
    refused = client.post(
        f"/finance/organisations/{a}/return",
        data={"csrf_token": token, "format": "csv"},
        files={"file": ("march.csv", bad, "text/csv")},
    )
    assert refused.status_code == 422
    assert "The return was not stored" in refused.text and "D2" in refused.text
    assert entries(runtime) == before
    good = f"{CSV_HEAD}\n{a},{YEAR},3,pay,1,true,5\n".encode()
    stored = client.post(
        f"/finance/organisations/{a}/return",
        data={"csrf_token": token, "format": "csv"},
        files={"file": ("march.csv", good, "text/csv")},
    )
    assert stored.status_code == 200 and "Return stored" in stored.text
    assert entries(runtime) == before + 1


def test_openapi_documents_the_finance_api(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/finance",
        "/api/finance/position",
        "/api/finance/risk-share",
        "/api/finance/organisations/{org}/returns",
    ):
        assert path in paths


def test_the_risk_share_what_if_page(client: TestClient, world) -> None:
    _sign_in(client, "analyst")
    # B is 100 adrift of its control total, A on it; with no corridor the 100 is pooled and
    # shared pro rata to turnover (12,000 of planned income each): 50 each.
    page = client.get("/finance/risk-share", params={"corridor": "0", "floor": ""})
    assert page.status_code == 200, page.text
    base = page.text.split("Each organisation, base scenario")[1]
    # Shares of the pool and positions after sharing: -50 four times; B's own -100 once.
    assert base.count("-£50") == 4 and base.count("-£100") == 1
    # Floors of 0.1% of turnover (12) cannot hold for a 100 deficit, and the ICB (which has no
    # control total here) is not in the agreement to host it: the page says so.
    tight = client.get("/finance/risk-share", params={"corridor": "0", "floor": "0.1"})
    assert "cannot be applied" in tight.text and "cannot all hold" in tight.text
    assert client.get("/finance/risk-share", params={"corridor": "lots"}).status_code == 422


def test_a_figure_is_corrected_with_a_reason_by_its_own_organisation(
    client: TestClient, runtime: Runtime, world
) -> None:
    with runtime.sessions() as s:
        pay = s.scalars(
            select(LedgerEntry).where(
                LedgerEntry.org_code == world["b"],
                LedgerEntry.kind == "actual",
                LedgerEntry.line == "pay",
            )
        ).first()
    body = {"amount": "940.00", "reason": "agency invoice credited"}
    refused = client.post(
        f"/api/finance/entries/{pay.id}/correct", json=body, headers=bearer(world["token_trust"])
    )
    assert refused.status_code == 403  # trust.fd acts for A, not B
    token = accounts_token(runtime, "b.fd", world["b"])
    fixed = client.post(f"/api/finance/entries/{pay.id}/correct", json=body, headers=bearer(token))
    assert fixed.status_code == 201, fixed.text
    assert (fixed.json()["supersedes_id"], fixed.json()["amount"]) == (pay.id, "940.00")
    again = client.post(f"/api/finance/entries/{pay.id}/correct", json=body, headers=bearer(token))
    assert again.status_code == 422 and "already been superseded" in again.json()["detail"]
    history = client.get(f"/api/finance/entries/{pay.id}/history", headers=bearer(token)).json()
    assert [(h["amount"], h["recorded_by"], h["reason"]) for h in history] == [
        ("950.00", "setup", None),
        ("940.00", "b.fd", "agency invoice credited"),
    ]


def test_the_icb_sets_control_totals_and_agrees_plans_on_the_page(
    client: TestClient, runtime: Runtime, world
) -> None:
    a, b = world["a"], world["b"]
    icb, trust = bearer(world["token_icb"]), bearer(world["token_trust"])
    page = client.get(f"/finance/organisations/{b}?year={YEAR}", headers=icb)
    assert "Set the control total" in page.text and "Agree version 1" in page.text
    # Every figure is traceable: B's actuals were entered by "setup", acting for the ICB.
    assert page.text.count(f"setup ({world['icb']})") >= 4
    # Reported and underlying: all of B's figures are recurrent. B: plan 100 a month, actual
    # 50 in April and May, so the outturn is 1,100 against 1,200.
    underlying = page.text.split("Reported and underlying")[1].split("</table>")[0]
    assert underlying.count("£1,100") == 2 and underlying.count("£0") == 3
    mine = client.get(f"/finance/organisations/{a}?year={YEAR}", headers=trust)
    assert "Set the control total" not in mine.text and "Agree version" not in mine.text

    form = {"financial_year": YEAR, "amount": "900", "reason": "revised at the board"}
    url = f"/finance/organisations/{b}/control-total"
    assert client.post(url, data=form, headers=trust).status_code == 403
    assert client.post(url, data={**form, "amount": "lots"}, headers=icb).status_code == 422
    done = client.post(url, data=form, headers=icb, follow_redirects=False)
    assert done.status_code == 303
    with runtime.sessions() as s:
        assert ledger.control_totals(s, YEAR) == {a: D(1200), b: D(900)}
        assert ledger.system_control_total(s, YEAR) == D(2100)
        [version] = ledger.plan_versions(s, b, YEAR)
    agree = {"org": b, "financial_year": YEAR}
    assert (
        client.post(f"/finance/plans/{version.id}/agree", data=agree, headers=trust).status_code
        == 403
    )
    agreed = client.post(
        f"/finance/plans/{version.id}/agree", data=agree, headers=icb, follow_redirects=False
    )
    assert agreed.status_code == 303
    with runtime.sessions() as s:
        assert ledger.plan_versions(s, b, YEAR)[0].status == "agreed"
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.actor == "icb.fd")))
    assert {"finance.control_total.set", "finance.plan.agree"} <= actions


def test_a_trust_revises_its_plan_from_the_page(
    client: TestClient, runtime: Runtime, world
) -> None:
    a = world["a"]
    trust, icb = bearer(world["token_trust"]), bearer(world["token_icb"])
    csv_text = client.get(f"/finance/organisations/{a}/plan.csv?year={YEAR}", headers=trust).text
    lines = csv_text.splitlines()
    assert lines[0] == "month,line,recurrent,amount" and len(lines) == 1 + 24
    assert "1,income,true,1000.00" in lines and "1,pay,true,900.00" in lines
    revised = csv_text.replace("\n1,pay,true,900.00", "\n1,pay,true,950.00")
    form = {"financial_year": YEAR, "note": "pay award"}
    url = f"/finance/organisations/{a}/plan"
    bad = revised.replace("\n2,pay,true,900.00", "\n2,pay,true,lots")
    refused = client.post(url, data=form, files={"file": ("p.csv", bad)}, headers=trust)
    assert refused.status_code == 422 and "row 5, amount" in refused.text
    other = client.post(url, data=form, files={"file": ("p.csv", revised)}, headers=icb)
    assert other.status_code == 403  # the ICB agrees plans; the trust sends its own
    with runtime.sessions() as s:
        assert len(ledger.plan_versions(s, a, YEAR)) == 1
    sent = client.post(
        url, data=form, files={"file": ("p.csv", revised)}, headers=trust, follow_redirects=False
    )
    assert sent.status_code == 303
    with runtime.sessions() as s:
        versions = ledger.plan_versions(s, a, YEAR)
        assert [(v.number, v.status, v.note) for v in versions] == [
            (1, "submitted", None),
            (2, "revised", "pay award"),
        ]
        plan = services.system_view(s, YEAR).organisations
    # The plan of record is the latest version (none agreed): 50 less surplus in April.
    assert next(p for p in plan if p.org_code == a).plan_full_year == D(1150)
