"""Conditional funding against a hand calculation, and the fund always accounted for."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrated_care.finance.conditional_funding import (
    Delivery,
    FundingError,
    FundingRule,
    apply,
    rule_from_dict,
    standard_rules,
)


def D(value: str) -> Decimal:
    return Decimal(value)


# Turnover 600 : 300 : 100 (£m). A misses its control total by £1m; B beats it by £0.5m;
# C lands exactly on it.
ORGS = {
    "A": Delivery(D("-2000000"), D("-1000000"), turnover=D("600000000")),
    "B": Delivery(D("500000"), D("0"), turnover=D("300000000")),
    "C": Delivery(D("-100000"), D("-100000"), turnover=D("100000000")),
}
# The system with only these three: outturn -1.6m against -1.1m, so it misses.
SYSTEM_MISSES = (D("-1600000"), D("-1100000"))
# With the ICB (not a recipient) £1m ahead of its control total of 0: -0.6m against -1.1m.
SYSTEM_DELIVERS = (D("-600000"), D("-1100000"))


def rule(**kw: object) -> FundingRule:
    base = {"name": "Fund", "fund": D("1000000"), "basis": "turnover", "system_element": D("0.25")}
    return FundingRule(**(base | kw))  # type: ignore[arg-type]


def by_org(result) -> dict[str, tuple[Decimal, Decimal]]:  # type: ignore[no-untyped-def]
    return {x.org_code: (x.earned, x.lost) for x in result.lines}


def test_system_misses_so_only_organisational_elements_of_those_that_deliver_are_earned() -> None:
    # Shares 600k / 300k / 100k; organisational element 75%: 450k / 225k / 75k.
    r = apply(rule(), ORGS, *SYSTEM_MISSES)
    assert [x.share for x in r.lines] == [D("600000.00"), D("300000.00"), D("100000.00")]
    assert [x.system_element for x in r.lines] == [D("150000.00"), D("75000.00"), D("25000.00")]
    assert [x.delivers for x in r.lines] == [False, True, True]
    assert by_org(r) == {
        "A": (D("0.00"), D("600000.00")),
        "B": (D("225000.00"), D("75000.00")),
        "C": (D("75000.00"), D("25000.00")),
    }
    assert (r.system_delivers, r.gated) == (False, False)
    assert (r.earned, r.lost) == (D("300000.00"), D("700000.00"))


def test_system_delivers_so_everyone_earns_the_system_element() -> None:
    r = apply(rule(), ORGS, *SYSTEM_DELIVERS)
    assert by_org(r) == {
        "A": (D("150000.00"), D("450000.00")),
        "B": (D("300000.00"), D("0.00")),
        "C": (D("100000.00"), D("0.00")),
    }
    assert (r.earned, r.lost) == (D("550000.00"), D("450000.00"))


def test_system_gate_holds_back_everything_when_the_system_misses() -> None:
    gated = apply(rule(system_gate=True, system_element=D(0)), ORGS, *SYSTEM_MISSES)
    assert gated.gated and gated.earned == 0 and gated.lost == D("1000000.00")
    open_ = apply(rule(system_gate=True, system_element=D(0)), ORGS, *SYSTEM_DELIVERS)
    assert not open_.gated
    assert by_org(open_)["A"] == (D("0.00"), D("600000.00"))
    assert open_.earned == D("400000.00")


def test_tolerance_counts_a_near_miss_as_delivery() -> None:
    r = apply(rule(tolerance=D("1000000"), system_element=D(0)), ORGS, *SYSTEM_MISSES)
    assert all(x.delivers for x in r.lines)
    assert r.earned == D("1000000.00")


def test_pennies_split_by_largest_remainder_and_elements_round_half_up() -> None:
    orgs = {k: Delivery(D("0"), D("0")) for k in ("X", "Y", "Z")}
    r = apply(
        FundingRule("Tiny", D("100.00"), "equal", system_element=D("0.5")),
        orgs,
        D("-1"),
        D("0"),
    )
    assert [x.share for x in r.lines] == [D("33.34"), D("33.33"), D("33.33")]
    # 33.34 / 2 = 16.67; 33.33 / 2 = 16.665 -> 16.67 half up, leaving 16.66 organisational.
    assert [x.system_element for x in r.lines] == [D("16.67"), D("16.67"), D("16.67")]
    assert [x.earned for x in r.lines] == [D("16.67"), D("16.66"), D("16.66")]
    assert r.earned + r.lost == D("100.00")


def test_bad_rules_are_refused_with_the_reason() -> None:
    with pytest.raises(FundingError, match="basis"):
        rule_from_dict({"fund": "1", "basis": "vibes"})
    with pytest.raises(FundingError, match="strings"):
        rule_from_dict({"fund": 1.5})
    with pytest.raises(FundingError, match="fixed shares"):
        rule_from_dict({"fund": "1", "basis": "fixed", "fixed_shares": {"A": "0.4"}})
    with pytest.raises(FundingError, match="unknown"):
        rule_from_dict({"fund": "1", "colour": "red"})
    with pytest.raises(FundingError, match="no recipient"):
        apply(FundingRule("F", D("10"), "allocation"), ORGS, D(0), D(0))


def test_the_shipped_rules_load() -> None:
    rules = standard_rules()
    assert rules and all(r.fund > 0 for r in rules)


money = st.integers(-(10**9), 10**9).map(lambda p: Decimal(p) / 100)


@settings(max_examples=150, deadline=None)
@given(
    fund=st.integers(0, 10**11),
    element=st.integers(0, 100),
    gate=st.booleans(),
    orgs=st.dictionaries(
        st.text("ABCDEFGH", min_size=1, max_size=3),
        st.tuples(money, money, st.integers(1, 10**12)),
        min_size=1,
        max_size=8,
    ),
    system=st.tuples(money, money),
)
def test_the_fund_is_always_accounted_for(fund, element, gate, orgs, system) -> None:  # type: ignore[no-untyped-def]
    deliveries = {
        k: Delivery(out, ct, turnover=Decimal(t) / 100) for k, (out, ct, t) in orgs.items()
    }
    r = apply(
        FundingRule("P", Decimal(fund) / 100, "turnover", Decimal(element) / 100, gate),
        deliveries,
        *system,
    )
    assert sum(x.share for x in r.lines) == r.fund
    assert all(x.earned + x.lost == x.share for x in r.lines)
    assert all(x.organisation_element + x.system_element == x.share for x in r.lines)
    assert r.earned + r.lost == r.fund
    assert all(x.earned == 0 for x in r.lines if not x.delivers and not r.system_delivers)


def test_api_and_page_apply_rules_to_the_ledger(client, runtime) -> None:  # type: ignore[no-untyped-def]
    from integrated_care.accounts import services as accounts
    from integrated_care.finance import ledger
    from integrated_care.finance.ledger import By, PlanFigure
    from integrated_care.finance.services import icb_code
    from integrated_care.footprint.services import list_organisations

    with runtime.transaction() as s:
        a, b = sorted(o.org_code for o in list_organisations(s) if o.org_type.endswith("_trust"))[
            :2
        ]
        icb = icb_code(s)
        setup = By("setup", icb)
        # A plans income 3,000 and pay 2,000 a month; B 1,000 and 900. A's control total is
        # beyond its plan (misses); B's is its plan (delivers). System: plan 13,200 against
        # control totals 13,200 + 1,200 = 14,400: misses.
        for org, income, pay, ct in ((a, 3000, 2000, "13200"), (b, 1000, 900, "1200")):
            figures = [PlanFigure(m, "income", D(str(income))) for m in range(1, 13)]
            figures += [PlanFigure(m, "pay", D(str(pay))) for m in range(1, 13)]
            ledger.create_plan_version(s, org, "2026/27", figures, setup)
            ledger.set_control_total(s, org, "2026/27", ct, setup)
        accounts.create_user(s, "fd", "a-long-enough-password", ["finance"], icb, "FD")
        token = accounts.create_token(s, "fd", ["finance:read"])
    h = {"Authorization": f"Bearer {token}"}
    rule = {"name": "T", "fund": "1000", "basis": "turnover", "system_element": "0.5"}
    r = client.post("/api/finance/conditional-funding", json={"rule": rule}, headers=h)
    assert r.status_code == 200, r.text
    result = r.json()["results"][0]
    # Turnover 36,000 : 12,000 -> shares 750 : 250; the system misses, so only B's own half.
    lines = {x["org_code"]: x for x in result["lines"]}
    assert (lines[a]["share"], lines[a]["earned"]) == ("750.00", "0.00")
    assert (lines[b]["share"], lines[b]["earned"]) == ("250.00", "125.00")
    assert (result["earned"], result["lost"]) == ("125.00", "875.00")
    assert r.json()["provisional"] is True
    bad = client.post("/api/finance/conditional-funding", json={"rule": {"fund": 1.5}}, headers=h)
    assert bad.status_code == 422
    assert client.get("/api/finance/conditional-funding", headers=h).status_code == 200
    page = client.get("/finance/conditional-funding", headers=h)
    assert page.status_code == 200 and "System sustainability fund" in page.text
