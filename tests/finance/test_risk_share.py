"""Risk and gain share: a worked example by hand, and properties that must hold for any
agreement: the system total is unchanged (exactly), caps and floors hold, and variances inside
their corridors stay where they are."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from integrated_care.finance.risk_share import (
    Agreement,
    Corridor,
    Limits,
    OrgInput,
    Scenario,
    ShareError,
    agreement_from_dict,
    agreement_to_dict,
    apply,
    run_scenarios,
    scenario_from_dict,
    split,
    standard_scenarios,
)
from tests.finance.conftest import D

M = Decimal(1_000_000)

# The worked example of docs/finance.md: an acute trust 12m adrift of its control total, a
# community trust 1.5m ahead, a mental-health trust 0.5m behind; the ICB hosts.
ORGS = {
    "ACUTE": OrgInput(-12 * M, turnover=800 * M),
    "COMMUNITY": OrgInput(D("1.5") * M, turnover=200 * M),
    "MENTAL": OrgInput(D("-0.5") * M, turnover=150 * M),
    "ICB": OrgInput(D(0)),
}
EXAMPLE = {
    "name": "Worked example",
    "method": "turnover",
    "corridor": {"share_of_turnover": "0.005"},
    "limits": {"ACUTE": {"floor": "-8000000"}},
    "host": "ICB",
}


def test_the_worked_example_by_hand() -> None:
    result = apply(agreement_from_dict(EXAMPLE), ORGS)
    got = {x.org_code: x for x in result.lines}
    # Corridors: 0.5% of turnover keeps 4m, 1m and 0.75m either way.
    assert [got[o].kept for o in ("ACUTE", "COMMUNITY", "MENTAL")] == [-4 * M, M, D("-0.5") * M]
    assert result.pool == D("-7.5") * M
    # Shared 800:200:150 the acute trust would end at -9.22m, below its -8m floor; the 1.22m
    # held back is shared 200:150 between the other two, who end at -1m and -2m.
    assert got["ACUTE"].after == -8 * M and got["ACUTE"].limited
    assert got["COMMUNITY"].after == -M and got["MENTAL"].after == -2 * M
    assert got["ICB"].after == 0 and result.host_absorbed == 0
    assert result.total_after == result.total_before == -11 * M
    assert got["COMMUNITY"].transfer == D("-2.5") * M


def test_the_host_absorbs_what_no_one_has_room_for() -> None:
    tight = {
        **EXAMPLE,
        "limits": {
            "ACUTE": {"floor": "-8000000"},
            "COMMUNITY": {"floor": "-500000"},
            "MENTAL": {"floor": "-1000000"},
        },
    }
    result = apply(agreement_from_dict(tight), ORGS)
    got = {x.org_code: x.after for x in result.lines}
    assert got == {"ACUTE": -8 * M, "COMMUNITY": D("-0.5") * M, "MENTAL": -M, "ICB": D("-1.5") * M}
    assert result.host_absorbed == D("-1.5") * M
    with pytest.raises(ShareError, match="cannot all hold"):
        apply(agreement_from_dict({**tight, "host": None}), ORGS)


def test_fixed_shares_and_allocation() -> None:
    orgs = {"A": OrgInput(D(-100), allocation=D(3)), "B": OrgInput(D(40), allocation=D(1))}
    fixed = agreement_from_dict(
        {"name": "f", "method": "fixed", "fixed_shares": {"A": "0.25", "B": "0.75"}}
    )
    assert [x.after for x in apply(fixed, orgs).lines] == [D(-15), D(-45)]
    by_allocation = agreement_from_dict({"name": "a", "method": "allocation"})
    assert [x.after for x in apply(by_allocation, orgs).lines] == [D(-45), D(-15)]


def test_agreements_that_make_no_sense_are_refused() -> None:
    for bad in (
        {"name": "x", "method": "fixed", "fixed_shares": {"A": "0.5", "B": "0.4"}},
        {"name": "x", "method": "by_size"},
        {"name": "x", "method": "turnover", "corridor": {"lower": "10"}},
        {"name": "x", "method": "turnover", "limits": {"A": {"floor": "5", "cap": "1"}}},
        {"name": "x", "method": "turnover", "fixed_shares": {"A": 0.5}},
        {"method": "turnover"},
    ):
        with pytest.raises(ShareError):
            agreement_from_dict(bad)


def test_split_is_exact_and_deterministic() -> None:
    assert split(100, {"a": D(1), "b": D(1), "c": D(1)}) == {"a": 34, "b": 33, "c": 33}
    assert split(-100, {"a": D(1), "b": D(1), "c": D(1)}) == {"a": -34, "b": -33, "c": -33}
    assert split(7, {"a": D(0), "b": D(2)}) == {"a": 0, "b": 7}


def test_scenarios_scale_adverse_and_favourable_variances() -> None:
    agreement = agreement_from_dict(EXAMPLE)
    names = [s.name for s in standard_scenarios()]
    assert names == ["best", "base", "worst"]
    results = run_scenarios(agreement, ORGS, standard_scenarios())
    totals = [r.total_after for r in results]
    # best: -12 * 0.5 + 1.5 * 1.25 - 0.5 * 0.5; worst: -12 * 1.5 + 1.5 * 0.5 - 0.5 * 1.5
    assert totals == [D("-4.375") * M, -11 * M, -18 * M]
    what_if = Scenario("acute recovers", overrides={"ACUTE": D(0)})
    [r] = run_scenarios(agreement, ORGS, [what_if])
    assert r.total_after == M and r.scenario == "acute recovers"


# Properties -------------------------------------------------------------------------------

CODES = ["A", "B", "C", "D", "E", "F"]
money = st.integers(-5 * 10**9, 5 * 10**9).map(lambda p: Decimal(p) / 100)


@st.composite
def cases(draw):  # type: ignore[no-untyped-def]
    codes = CODES[: draw(st.integers(2, 6))]
    orgs = {
        o: OrgInput(
            draw(money),
            Decimal(draw(st.integers(1, 10**11))) / 100,
            Decimal(draw(st.integers(1, 10**11))) / 100,
        )
        for o in codes
    }
    method = draw(st.sampled_from(["fixed", "turnover", "allocation"]))
    parts = [draw(st.integers(1, 100)) for _ in codes]
    shares = {o: Decimal(p) / sum(parts) for o, p in zip(codes, parts, strict=True)}
    shares[codes[-1]] = 1 - sum(v for o, v in shares.items() if o != codes[-1])
    if draw(st.booleans()):
        corridor = Corridor(share_of_turnover=Decimal(draw(st.integers(0, 300))) / 10000)
    else:
        corridor = Corridor(-draw(money).copy_abs(), draw(money).copy_abs())
    limits = {}
    for o in codes:
        floor = draw(st.none() | money)
        cap = draw(st.none() | money)
        if floor is not None and cap is not None and floor > cap:
            floor, cap = cap, floor
        limits[o] = Limits(floor, cap)
    host = draw(st.none() | st.sampled_from(codes))
    if host:
        limits.pop(host)
    agreement = Agreement(
        "p", method, fixed_shares=shares, corridor=corridor, limits=limits, host=host
    )
    return agreement, orgs


@settings(max_examples=400, deadline=None)
@given(cases())
def test_sharing_never_changes_the_system_total_and_limits_hold(case) -> None:  # type: ignore[no-untyped-def]
    agreement, orgs = case
    total = sum(i.variance for i in orgs.values())
    try:
        result = apply(agreement, orgs)
    except ShareError:
        # Only when the limits truly cannot hold: no host, and the floors (or caps) of
        # everyone together leave no way to reach the total.
        assert agreement.host is None
        floors = [agreement.limits[o].floor for o in orgs]
        caps = [agreement.limits[o].cap for o in orgs]
        too_low = all(f is not None for f in floors) and sum(floors) > total  # type: ignore[arg-type]
        too_high = all(c is not None for c in caps) and sum(caps) < total  # type: ignore[arg-type]
        assert too_low or too_high
        return
    assert result.total_after == total == result.total_before
    for x in result.lines:
        if x.org_code != agreement.host:
            assert x.floor is None or x.after >= x.floor
            assert x.cap is None or x.after <= x.cap
        assert x.after == x.after.quantize(Decimal("0.01"))
    if agreement.host is None:
        assert result.host_absorbed == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(money, min_size=2, max_size=6))
def test_inside_the_corridor_each_keeps_its_own_variance(variances) -> None:  # type: ignore[no-untyped-def]
    width = max(abs(v) for v in variances)
    assume(width > 0)
    orgs = {CODES[i]: OrgInput(v, turnover=D(1)) for i, v in enumerate(variances)}
    agreement = Agreement("c", "turnover", corridor=Corridor(-width, width))
    result = apply(agreement, orgs)
    assert result.pool == 0
    assert [x.after for x in result.lines] == variances


@settings(max_examples=100, deadline=None)
@given(cases(), st.data())
def test_scenarios_and_parties_never_change_the_system_total(case, data) -> None:  # type: ignore[no-untyped-def]
    """Under any scenario, sharing among some of the organisations leaves the system total (the
    parties' shared total plus everyone else's own variance) as the scenario made it; the
    agreement survives being stored as data."""
    agreement, orgs = case
    codes = sorted(orgs)
    parties = data.draw(st.lists(st.sampled_from(codes), min_size=1, unique=True))
    keep = set(parties) | {agreement.host} - {None}
    agreement = Agreement(
        agreement.name,
        agreement.method,
        fixed_shares={o: s for o, s in agreement.fixed_shares.items() if o in keep}
        if agreement.method != "fixed"
        else agreement.fixed_shares,
        corridor=agreement.corridor,
        limits={o: x for o, x in agreement.limits.items() if o in keep},
        host=agreement.host,
        parties=tuple(sorted(keep)) if agreement.method != "fixed" else tuple(codes),
    )
    assert agreement_from_dict(agreement_to_dict(agreement)) == agreement
    factor = st.integers(0, 300).map(lambda p: Decimal(p) / 100)
    scenario = Scenario("what-if", data.draw(factor), data.draw(factor))
    moved = {o: scenario.variance(o, i.variance) for o, i in orgs.items()}
    try:
        [result] = run_scenarios(agreement, orgs, [scenario])
    except ShareError:
        assume(False)
    outside = sum((v for o, v in moved.items() if not agreement.covers(o)), Decimal(0))
    assert {x.org_code for x in result.lines} == {o for o in orgs if agreement.covers(o)}
    assert result.total_after == result.total_before
    assert result.total_after + outside == sum(moved.values())


@pytest.mark.parametrize(
    "bad",
    [
        {"limits": {"A": {"floor": "NaN"}}},
        {"corridor": {"lower": "-1e400"}},
        {"corridor": {"share_of_turnover": "Infinity"}},
        {"method": "fixed", "fixed_shares": {"A": "2", "B": "-1"}},
        {"method": "allocation", "allocation": {"A": "1e30"}},
    ],
)
def test_amounts_that_are_not_amounts_are_refused(bad: dict) -> None:
    with pytest.raises(ShareError):
        agreement_from_dict({"name": "x", "method": "turnover", **bad})
    for scenario in ({"name": "s", "adverse": "NaN"}, {"name": "s", "overrides": {"A": "1e40"}}):
        with pytest.raises(ShareError):
            scenario_from_dict(scenario)
