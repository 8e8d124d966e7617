"""The contracts register: chains, flags and spend by sector against hand calculations; the
loader from the input layer; decision records; the public page and the signed-in register."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from integrated_care.accounts import services as accounts
from integrated_care.finance import contracts as reg
from integrated_care.finance.contract_models import Contract, ContractDecision
from integrated_care.finance.contracts import ContractRecord, DecisionRecord, Holder
from integrated_care.finance.ledger import By
from integrated_care.finance.services import icb_code
from integrated_care.footprint.models import Organisation
from integrated_care.runtime import Runtime

D = Decimal
YEAR_START, YEAR_END = date(2025, 4, 1), date(2026, 3, 31)
HOLDERS = {
    "ICB": Holder("The ICB", "nhs", True),
    "ACUTE": Holder("Acute trust", "nhs", True),
    "CIC": Holder("Urgent care CIC", "voluntary", False),
    "PRIV": Holder("Independent hospital", "private", False),
    "LA": Holder("County council", "local_government", True),
}


def c(
    cid: str,
    holder: str,
    kind: str,
    value: str,
    parent: str | None = None,
    end: date | None = YEAR_END,
) -> ContractRecord:
    return ContractRecord(
        cid, "ICB", holder, kind, parent, "svc", D(value), YEAR_START, end, "competitive"
    )


CONTRACTS = [
    c("ICP1", "CIC", "icp_lead_provider", "1000000"),  # ICP held by a non-statutory body
    c("S1", "ACUTE", "sub_contract", "300000", "ICP1"),
    c("S2", "PRIV", "sub_contract", "100000", "S1"),  # depth 3: the chain is too deep
    c("NHS1", "ACUTE", "nhs_standard", "2000000"),
    c("S75", "LA", "section_75", "365000", end=None),  # open-ended
    c("ORPHAN", "PRIV", "sub_contract", "5000", "GONE"),
]


def test_chains_and_flags_by_hand() -> None:
    decided = DecisionRecord("ICB board", None, date(2025, 3, 1), "best value", [], "x")
    lines = {
        x.contract.contract_id: x
        for x in reg.analyse(CONTRACTS, HOLDERS, {"NHS1": [decided]}, date(2025, 11, 1))
    }
    assert lines["S2"].chain == ["ICP1", "S1", "S2"] and lines["S2"].depth == 3
    assert set(lines["ICP1"].flags) == {
        "icp_non_statutory",
        "deep_chain",
        "ending_soon",
        "no_decision",
    }
    assert "deep_chain" in lines["S1"].flags and "deep_chain" in lines["S2"].flags
    assert "deep_chain" not in lines["NHS1"].flags
    # Ends 31 March 2026, within six months of 1 November 2025 (up to 1 May 2026).
    assert lines["NHS1"].flags == ["ending_soon"]
    assert "ending_soon" not in lines["S75"].flags  # open-ended
    assert "missing_parent" in lines["ORPHAN"].flags
    # Net values: the ICP less S1; S1 less S2.
    assert lines["ICP1"].net_value == D("700000")
    assert lines["S1"].net_value == D("200000")
    assert lines["ICP1"].holder_sector == "voluntary" and lines["ICP1"].holder_statutory is False
    # Seen from 1 October 2025, 31 March 2026 is six months away to the day: still flagged;
    # from 30 September 2025 it is not.
    early = {
        x.contract.contract_id: x for x in reg.analyse(CONTRACTS, HOLDERS, {}, date(2025, 9, 30))
    }
    assert "ending_soon" not in early["NHS1"].flags
    on_the_day = reg.analyse(CONTRACTS, HOLDERS, {}, date(2025, 10, 1))
    assert "ending_soon" in next(x for x in on_the_day if x.contract.contract_id == "NHS1").flags


def test_a_looping_chain_is_flagged_not_followed_forever() -> None:
    loop = [c("A", "ACUTE", "sub_contract", "1", "B"), c("B", "ACUTE", "sub_contract", "1", "A")]
    lines = reg.analyse(loop, HOLDERS, {}, date(2025, 5, 1))
    assert all("circular_chain" in x.flags for x in lines)


def test_spend_by_sector_counts_sub_contracts_once_in_their_holders_sector() -> None:
    lines = reg.analyse(CONTRACTS[:5], HOLDERS, {}, date(2025, 5, 1))
    rows = reg.spend_by_sector(lines, until=YEAR_END)
    by_year = reg.spend_by_year(rows)["2025/26"]
    # Nets: ICP1 700k (voluntary), S1 200k + NHS1 2m (NHS), S2 100k (private), S75 365k (LG),
    # each spread by day over 365 days; the year adds up to the nets within a penny a month.
    expected = {
        "voluntary": D("700000"),
        "nhs": D("2200000"),
        "private": D("100000"),
        "local_government": D("365000"),
    }
    for sector, amount in expected.items():
        assert abs(by_year[sector] - amount) <= D("0.12"), sector
    # April for the section 75: 365,000 x 30 / 365 = 30,000.00 exactly.
    april = {r.sector: r.amount for r in rows if r.month == date(2025, 4, 1)}
    assert april["local_government"] == D("30000.00")
    # The total is the prime contracts' value: sharing out sub-contracts moves, never adds.
    assert abs(sum(by_year.values()) - D("3365000")) <= D("0.60")


def _extract(folder: Path, rows: list[ContractRecord]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "contract_id": [r.contract_id for r in rows],
            "commissioner_code": [r.commissioner_code for r in rows],
            "holder_code": [r.holder_code for r in rows],
            "contract_type": [r.contract_type for r in rows],
            "parent_contract_id": [r.parent_contract_id for r in rows],
            "services": [r.services for r in rows],
            "annual_value": pa.array([r.annual_value for r in rows], pa.decimal128(18, 2)),
            "start_date": [r.start_date for r in rows],
            "end_date": [r.end_date for r in rows],
            "procurement_route": [r.procurement_route for r in rows],
        }
    )
    pq.write_table(table, folder / "contracts.parquet")
    return folder


def _footprint_contracts(session) -> list[ContractRecord]:  # type: ignore[no-untyped-def]
    """Contracts between the test footprint's ICB and its organisations, plus a voluntary and a
    private holder added to the footprint for the test."""
    icb = icb_code(session)
    trusts = sorted(
        session.scalars(select(Organisation.org_code).where(Organisation.org_type.like("%_trust")))
    )
    session.add_all(
        [
            Organisation(
                org_code="VTEST1",
                name="Test charity",
                org_type="vcse",
                sector="voluntary",
                statutory=False,
            ),
            Organisation(
                org_code="XTEST1",
                name="Test hospital",
                org_type="independent_provider",
                sector="private",
                statutory=False,
            ),
        ]
    )
    session.flush()
    rows = [
        c("C1", "VTEST1", "icp_lead_provider", "1000000.50"),
        c("C2", trusts[0], "sub_contract", "300000", "C1"),
        c("C3", "XTEST1", "sub_contract", "100000", "C2"),
        c("C4", trusts[1], "nhs_standard", "2000000"),
    ]
    return [ContractRecord(**{**r.__dict__, "commissioner_code": icb}) for r in rows]


def test_loader_stores_every_contract_exactly_and_a_second_load_changes_nothing(
    footprint_session, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    rows = _footprint_contracts(footprint_session)
    folder = _extract(tmp_path / "extract", rows)
    first = reg.import_contracts(footprint_session, folder)
    assert (first.added, first.updated, first.problems) == (4, 0, [])
    again = reg.import_contracts(footprint_session, folder)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert footprint_session.get(Contract, "C1").annual_value == D("1000000.50")
    lines = reg.register(footprint_session, date(2025, 11, 1))
    flags = {x.contract.contract_id: x.flags for x in lines}
    assert "icp_non_statutory" in flags["C1"] and "deep_chain" in flags["C3"]

    bad = [ContractRecord(**{**rows[0].__dict__, "contract_type": "handshake"})]
    with pytest.raises(reg.ContractError, match="handshake"):
        reg.store_contracts(footprint_session, bad, By("x"))


def test_decision_records_are_append_only(footprint_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = _footprint_contracts(footprint_session)
    reg.store_contracts(footprint_session, rows, By("loader"))
    with pytest.raises(reg.ContractError, match="best-value"):
        reg.record_decision(footprint_session, "C1", "Board", date(2025, 3, 1), " ", [], By("x"))
    row = reg.record_decision(
        footprint_session,
        "C1",
        "ICB board",
        date(2025, 3, 1),
        "Only provider able to do it",
        [{"declared_by": "Dr A", "interest": "Trustee of the charity", "action": "left"}],
        By("icb.fd", "QK1"),
    )
    footprint_session.commit()
    line = next(
        x
        for x in reg.register(footprint_session, date(2025, 5, 1))
        if x.contract.contract_id == "C1"
    )
    assert "no_decision" not in line.flags
    assert line.decision.conflicts_declared[0]["interest"] == "Trustee of the charity"
    with pytest.raises(DBAPIError):
        footprint_session.execute(
            text("UPDATE finance_contract_decision SET decided_by = 'x' WHERE id = :i"),
            {"i": row.id},
        )
    footprint_session.rollback()


def test_register_needs_finance_read_spending_is_public(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    with runtime.transaction() as s:
        rows = _footprint_contracts(s)
        reg.store_contracts(s, rows, By("loader"))
        icb = icb_code(s)
        trust = rows[1].holder_code
        accounts.create_user(s, "icb.fd", "a-long-enough-password", ["finance"], icb, "ICB FD")
        accounts.create_user(s, "trust.fd", "a-long-enough-password", ["finance"], trust, "T")
        icb_token = accounts.create_token(s, "icb.fd", ["finance:read", "finance:write"])
        trust_token = accounts.create_token(s, "trust.fd", ["finance:read", "finance:write"])
    icb_h = {"Authorization": f"Bearer {icb_token}"}
    trust_h = {"Authorization": f"Bearer {trust_token}"}

    assert client.get("/api/finance/contracts").status_code == 401
    r = client.get("/api/finance/contracts?flag=deep_chain&as_at=2025-11-01", headers=icb_h)
    assert r.status_code == 200
    assert [x["contract"]["contract_id"] for x in r.json()["lines"]] == ["C1", "C2", "C3"]
    assert r.json()["lines"][0]["contract"]["annual_value"] == "1000000.50"
    page = client.get("/finance/contracts?sector=voluntary", headers=icb_h)
    assert page.status_code == 200 and "Test charity" in page.text
    assert "Test hospital" not in page.text

    decision = {
        "decided_by": "ICB board",
        "decided_on": "2025-03-01",
        "best_value_rationale": "Most suitable provider",
        "conflicts_declared": [{"declared_by": "Dr A", "interest": "Trustee"}],
    }
    assert (
        client.post("/api/finance/contracts/C1/decisions", json=decision, headers=trust_h)
    ).status_code == 403
    made = client.post("/api/finance/contracts/C1/decisions", json=decision, headers=icb_h)
    assert made.status_code == 201, made.text
    one = client.get("/api/finance/contracts/C1", headers=icb_h).json()
    assert one["decision"]["decided_by"] == "ICB board" and "no_decision" not in one["flags"]

    public = client.get("/api/finance/spending?as_at=2025-11-01")
    assert public.status_code == 200
    year = public.json()["by_year"]["2025/26"]
    # Nets: C1 700,000.50 voluntary; C2 200,000 + C4 2,000,000 NHS; C3 100,000 private.
    assert abs(D(year["voluntary"]) - D("700000.50")) <= D("0.12")
    assert abs(D(year["nhs"]) - D("2200000")) <= D("0.12")
    assert abs(D(year["private"]) - D("100000")) <= D("0.12")
    html = client.get("/finance/spending")
    assert html.status_code == 200 and "Where the money goes" in html.text
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ContractDecision)) == 1
