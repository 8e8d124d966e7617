"""Risk share agreements held in the store: versioned and append-only, refused whole when they
cannot be applied, kept by ICB finance only (audited), and applied to the forecast under best,
base, worst and what-if scenarios, checked against a calculation by hand on small figures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from argon2 import PasswordHasher, profiles
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from integrated_care.accounts import passwords
from integrated_care.accounts import services as accounts
from integrated_care.accounts.models import AuditEvent
from integrated_care.finance import agreements, ledger, risk_share, services
from integrated_care.finance.agreements import AgreementError
from integrated_care.finance.ledger import By, EntryInput, PlanFigure
from integrated_care.finance.models import ShareAgreement
from integrated_care.footprint.services import list_organisations
from integrated_care.runtime import Runtime
from tests.finance.conftest import ICB_FINANCE, YEAR, D

PASSWORD = "a-long-enough-password"


def _year_in_progress(s: Session, a: str, b: str, c: str) -> None:
    """Plans of £100 surplus a month for all three (income 1,000, pay 900); three months of
    actuals: `a` £100 a month worse than plan, `b` £50 better, `c` on plan. Control totals
    1,200, 1,200 and 1,150, so at month 3 the forecast variances against control total are
    a: -300, b: +150, c: +50 (the months after 3 count at plan)."""
    setup = By("setup", "QK1")
    plan = [PlanFigure(m, line, D(v)) for m in range(1, 13) for line, v in
            (("income", 1000), ("pay", 900))]  # fmt: skip
    for org, total in ((a, "1200"), (b, "1200"), (c, "1150")):
        ledger.create_plan_version(s, org, YEAR, plan, setup)
        ledger.set_control_total(s, org, YEAR, total, setup)
    pay = {a: 1000, b: 850, c: 900}
    ledger.record_entries(
        s,
        [
            EntryInput(org, YEAR, m, line, "actual", D(v))
            for org in (a, b, c)
            for m in (1, 2, 3)
            for line, v in (("income", 1000), ("pay", pay[org]))
        ],
        setup,
    )


def _rules(a: str, b: str, c: str, floor: str = "-80") -> dict:
    return {
        "parties": [a, b, c],
        "method": "turnover",
        "corridor": {"lower": "-50", "upper": "50"},
        "limits": {a: {"floor": floor}},
        "host": c,
    }


@pytest.fixture
def trusts(footprint_session: Session) -> list[str]:
    codes = sorted(
        o.org_code for o in list_organisations(footprint_session) if o.org_type.endswith("_trust")
    )
    return codes[:3]


def test_an_agreement_is_versioned_and_append_only(footprint_session: Session, trusts) -> None:
    a, b, c = trusts
    s = footprint_session
    first = agreements.save(s, "RS-1", YEAR, "System risk share", "proposed",
                            _rules(a, b, c), ICB_FINANCE)  # fmt: skip
    assert first is not None and first.version == 1 and first.supersedes_id is None
    assert first.parties == (a, b, c) and first.agreement.limits[a].floor == D(-80)
    # The same again changes nothing; a change needs a reason and supersedes version 1.
    same = agreements.save(s, "RS-1", YEAR, "System risk share", "proposed",
                           _rules(a, b, c), ICB_FINANCE, "no change")  # fmt: skip
    assert same is None
    with pytest.raises(AgreementError, match="reason"):
        agreements.save(s, "RS-1", YEAR, "System risk share", "agreed", _rules(a, b, c),
                        ICB_FINANCE)  # fmt: skip
    second = agreements.save(s, "RS-1", YEAR, "System risk share", "agreed",
                             _rules(a, b, c, floor="-200"), By("icb.fd", "QK1"),
                             "agreed by the board")  # fmt: skip
    assert second is not None and second.version == 2 and second.supersedes_id == first.id
    chain = agreements.history(s, "RS-1")
    assert [(v.version, v.status, v.recorded_by) for v in chain] == [
        (1, "proposed", ICB_FINANCE.username),
        (2, "agreed", "icb.fd"),
    ]
    assert chain[0].agreement.limits[a].floor == D(-80)  # the old version is kept as it was
    assert [x.reference for x in agreements.agreements(s, YEAR)] == ["RS-1"]
    s.commit()
    with pytest.raises(DBAPIError):
        s.execute(text("UPDATE finance_share_agreement SET status = 'withdrawn'"))
    s.rollback()
    with pytest.raises(DBAPIError):
        s.execute(text("DELETE FROM finance_share_agreement"))
    s.rollback()


REFUSALS = [
    ({"method": "fixed", "fixed_shares": {"A": "0.5"}}, "not a party"),
    ({"method": "fixed"}, "add up to exactly 1"),
    ({"limits": {"A": {"floor": "10", "cap": "5"}}}, "floor 10 is above cap 5"),
    ({"host": "ZZZ"}, "host name ZZZ, not a party"),
    ({"parties": ["ZZZ1", "ZZZ2"], "limits": {}, "host": None}, "not in the footprint"),
    ({"corridor": {"share_of_turnover": "NaN"}}, "rules"),
]


def test_an_agreement_that_cannot_be_applied_is_refused_whole(
    footprint_session: Session, trusts
) -> None:
    a, b, c = trusts
    for change, problem in REFUSALS:
        rules = {**_rules(a, b, c), **change}
        with pytest.raises(AgreementError, match=problem):
            agreements.save(footprint_session, "RS-X", YEAR, "Bad", "proposed", rules, ICB_FINANCE)
    assert footprint_session.scalar(select(func.count()).select_from(ShareAgreement)) == 0


def test_applied_to_the_forecast_matches_the_hand_calculation(
    footprint_session: Session, trusts
) -> None:
    a, b, c = trusts
    s = footprint_session
    _year_in_progress(s, a, b, c)
    stored = agreements.save(s, "RS-1", YEAR, "Risk share", "agreed", _rules(a, b, c),
                             ICB_FINANCE)  # fmt: skip
    assert stored is not None
    what_if = risk_share.Scenario("b slips", overrides={b: D(-100)})
    view = services.agreement_view(
        s, stored.agreement, YEAR, None, [*risk_share.standard_scenarios(), what_if]
    )
    assert view.position.as_at_month == 3 and view.parties_without_variance == []
    after = {r.scenario: {x.org_code: x.after for x in r.lines} for r in view.results}
    # Base. Variances -300, +150, +50; each keeps up to 50 either way, so the pool is
    # -250 + 100 + 0 = -150, a third each (equal turnover): a -100, b 0, c 0. a's floor of -80
    # holds back 20, which b takes (the host c has no limits and takes only what no one can).
    assert after["base"] == {a: D(-80), b: D(-20), c: D(0)}
    # Worst: adverse x1.5, favourable x0.5 -> -450, +75, +25; kept -50, 50, 25; pool -375,
    # -125 each: a -175 (held at -80, 95 back), b -75 - 95 = -170, c -100.
    assert after["worst"] == {a: D(-80), b: D(-170), c: D(-100)}
    # Best: adverse x0.5, favourable x1.25 -> -150, +187.50, +62.50; kept -50, 50, 50; pool
    # -100 + 137.50 + 12.50 = 50: 16.666.. each, so 16.66 each and the two pennies left over
    # go to the first two by code (a and b).
    assert after["best"] == {a: D("-33.33"), b: D("66.67"), c: D("66.66")}
    # What-if: b at -100 -> kept -50, pool -250 - 50 + 0 = -300; -100 each: a -150 (held at
    # -80, 70 back), b -150 - 70 = -220, c -50.
    assert after["b slips"] == {a: D(-80), b: D(-220), c: D(-50)}
    for r in view.results:
        assert r.total_after == r.total_before  # sharing never changes the total


@pytest.fixture(autouse=False)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy-password-for-timing"))


@pytest.fixture
def people(runtime: Runtime, cheap_hashing: None) -> Iterator[dict[str, str]]:
    with runtime.transaction() as s:
        codes = sorted(o.org_code for o in list_organisations(s) if o.org_type.endswith("_trust"))
        a, b, c = codes[:3]
        icb = services.icb_code(s)
        assert icb
        _year_in_progress(s, a, b, c)
        accounts.create_user(s, "trust.fd", PASSWORD, ["finance"], a, "Trust FD")
        accounts.create_user(s, "icb.fd", PASSWORD, ["finance"], icb, "ICB FD")
        tokens = {
            "trust": accounts.create_token(s, "trust.fd", ["finance:read", "finance:write"]),
            "icb": accounts.create_token(s, "icb.fd", ["finance:read", "finance:write"]),
            "icb_read": accounts.create_token(s, "icb.fd", ["finance:read"]),
        }
    yield {"a": a, "b": b, "c": c, **tokens}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _audits(runtime: Runtime, action: str) -> int:
    with runtime.sessions() as s:
        return s.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


def test_icb_finance_keeps_agreements_through_the_api(
    client: TestClient, runtime: Runtime, people
) -> None:
    a, b, c = people["a"], people["b"], people["c"]
    body = {"reference": "RS-1", "financial_year": YEAR, "name": "Risk share",
            "status": "proposed", **_rules(a, b, c)}  # fmt: skip
    assert client.post("/api/finance/agreements", json=body).status_code == 401
    for who in ("trust", "icb_read"):
        refused = client.post("/api/finance/agreements", json=body, headers=bearer(people[who]))
        assert refused.status_code == 403
    assert _audits(runtime, "access.denied") >= 1
    bad = client.post(
        "/api/finance/agreements",
        json={**body, "method": "fixed", "fixed_shares": {a: "0.6", b: "0.3"}},
        headers=bearer(people["icb"]),
    )
    assert bad.status_code == 422 and "add up to exactly 1" in bad.text
    made = client.post("/api/finance/agreements", json=body, headers=bearer(people["icb"]))
    assert made.status_code == 201, made.text
    assert made.json()["version"] == 1 and made.json()["recorded_by"] == "icb.fd"
    assert made.json()["rules"]["limits"][a] == {"floor": "-80", "cap": None}
    again = client.post("/api/finance/agreements", json=body, headers=bearer(people["icb"]))
    assert again.status_code == 409

    change = {k: v for k, v in body.items() if k != "reference"}
    change |= {"status": "agreed", "limits": {}}
    no_reason = client.post(
        "/api/finance/agreements/RS-1/versions", json=change, headers=bearer(people["icb"])
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    changed = client.post(
        "/api/finance/agreements/RS-1/versions",
        json={**change, "reason": "floors dropped at the board"},
        headers=bearer(people["icb"]),
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    versions = client.get("/api/finance/agreements/RS-1/versions", headers=bearer(people["trust"]))
    assert [v["status"] for v in versions.json()] == ["proposed", "agreed"]
    assert _audits(runtime, "finance.agreement.save") == 2

    applied = client.post(
        "/api/finance/agreements/RS-1/apply",
        json={"scenarios": [{"name": "base"}]},
        headers=bearer(people["trust"]),
    )
    assert applied.status_code == 200, applied.text
    [base] = applied.json()["results"]
    after = {x["org_code"]: x["after"] for x in base["organisations"]}
    # Without a's floor: -100, 0, 0 (see the hand calculation above).
    assert after == {a: "-100.00", b: "0.00", c: "0.00"}
    assert base["total_before"] == base["total_after"] == "-100.00"
    listed = client.get(f"/api/finance/agreements?year={YEAR}", headers=bearer(people["trust"]))
    assert [x["reference"] for x in listed.json()] == ["RS-1"]


def test_agreement_pages_set_up_show_and_change(
    client: TestClient, runtime: Runtime, people
) -> None:
    a, b, c = people["a"], people["b"], people["c"]
    icb = bearer(people["icb"])
    assert client.get("/finance/agreements/new", headers=bearer(people["trust"])).status_code == 403
    form = client.get(f"/finance/agreements/new?year={YEAR}", headers=icb)
    assert form.status_code == 200 and f'id="party-{a}"' in form.text
    fields = {
        "financial_year": YEAR,
        "reference": "RS-2",
        "name": "Fixed shares",
        "status": "agreed",
        "method": "fixed",
        "basis": "control_total",
        "corridor_amount": "50",
        "party": [a, b, c],
        f"share-{a}": "50",
        f"share-{b}": "30",
        f"share-{c}": "10",
        f"floor-{b}": "lots",
    }
    bad = client.post("/finance/agreements/new", data=fields, headers=icb)
    assert bad.status_code == 422
    assert f'href="#floor-{b}"' in bad.text and "is not an amount in pounds" in bad.text
    fields.pop(f"floor-{b}")
    bad = client.post("/finance/agreements/new", data=fields, headers=icb)
    assert bad.status_code == 422 and "add up to exactly 1" in bad.text
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ShareAgreement)) == 0
    fields[f"share-{c}"] = "20"
    done = client.post("/finance/agreements/new", data=fields, headers=icb, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/finance/agreements/RS-2"

    page = client.get("/finance/agreements/RS-2", headers=bearer(people["trust"]))
    assert page.status_code == 200 and "agreement-sharing" in page.text
    assert "Change this agreement" not in page.text  # a trust sees, the ICB changes
    # Base: kept -50, 50, 50; pool -250 + 100 + 0 = -150 shared 50:30:20 -> -75, -45, -30.
    shown = re.findall(r"After sharing </span>(-?£[\d,]+)", page.text)
    assert shown == ["-£125", "£5", "£20"]
    what_if = client.get(f"/finance/agreements/RS-2?override-{a}=0", headers=icb)
    assert what_if.status_code == 200 and "what-if scenario" in what_if.text
    bad_what_if = client.get("/finance/agreements/RS-2?adverse=lots", headers=icb)
    assert bad_what_if.status_code == 422
    listing = client.get("/finance/risk-share", headers=icb)
    assert "/finance/agreements/RS-2" in listing.text and "Set up an agreement" in listing.text

    edit = client.get("/finance/agreements/RS-2/edit", headers=icb)
    assert edit.status_code == 200 and 'value="50.00"' in edit.text
    fields |= {"status": "withdrawn", "reason": "replaced by RS-3"}
    fields.pop("reference")
    changed = client.post(
        "/finance/agreements/RS-2/edit", data=fields, headers=icb, follow_redirects=False
    )
    assert changed.status_code == 303
    with runtime.sessions() as s:
        assert [v.status for v in agreements.history(s, "RS-2")] == ["agreed", "withdrawn"]
        assert agreements.agreements(s, YEAR) == []
    assert _audits(runtime, "finance.agreement.save") == 2


def test_sharing_pro_rata_to_allocation_uses_the_agreed_allocations() -> None:
    orgs = {"A": risk_share.OrgInput(D(-90)), "B": risk_share.OrgInput(D(0)),
            "C": risk_share.OrgInput(D(30))}  # fmt: skip
    agreement = risk_share.agreement_from_dict(
        {"name": "x", "method": "allocation", "parties": ["A", "B"],
         "allocation": {"A": "2000", "B": "1000"}}
    )  # fmt: skip
    result = risk_share.apply(agreement, orgs)
    # C is not a party and keeps its own; -90 is shared 2:1 between A and B.
    assert {x.org_code: x.after for x in result.lines} == {"A": D(-60), "B": D(-30)}
    assert risk_share.agreement_from_dict(risk_share.agreement_to_dict(agreement)) == agreement
    assert sum(x.after for x in result.lines) == Decimal(-90)


def test_the_demo_agreement_shares_among_the_trusts_with_the_icb_hosting(
    footprint_session: Session, trusts
) -> None:
    from integrated_care.finance.demo import REFERENCE, record_demo_agreement

    a, b, c = trusts
    s = footprint_session
    _year_in_progress(s, a, b, c)
    icb = services.icb_code(s)
    ledger.set_control_total(s, icb, YEAR, "0", ICB_FINANCE)
    made = record_demo_agreement(s, YEAR)
    assert made is not None and made.parties == (a, b, c, icb) and made.agreement.host == icb
    # Floors at 1% of planned income (12,000 each).
    assert {o: x.floor for o, x in made.agreement.limits.items()} == {o: D(-120) for o in trusts}
    assert record_demo_agreement(s, YEAR).id == made.id  # recorded once
    [base] = services.agreement_view(
        s, made.agreement, YEAR, None, [risk_share.Scenario("base")]
    ).results
    # Corridors of 0.5% (60): kept -60, 60, 50; pool -240 + 90 = -150, a third to each trust
    # (the ICB has no planned income, so no share): -110, 10, 0; the ICB keeps its 0.
    assert {x.org_code: x.after for x in base.lines} == {a: D(-110), b: D(10), c: D(0), icb: D(0)}
    assert agreements.in_force(s, REFERENCE).recorded_by == "ics-demo"
