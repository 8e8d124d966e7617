"""The portal's headlines: the system's financial position as finance computes it (checked by
hand on two trusts), and population health from the marts with counts of 1-9 suppressed."""

from __future__ import annotations

from decimal import Decimal
from html import escape
from pathlib import Path

import duckdb
from sqlalchemy.orm import Session

from integrated_care.finance import ledger
from integrated_care.finance.ledger import By, PlanFigure
from integrated_care.footprint.services import list_organisations
from integrated_care.governance import headlines
from integrated_care.health.pipeline import MARTS_FILE
from integrated_care.settings import Settings

YEAR = "2026/27"


def test_finance_summary_is_the_system_position(footprint_session: Session) -> None:
    s = footprint_session
    assert headlines.finance_summary(s) is None
    a, b = sorted(o.org_code for o in list_organisations(s) if o.org_type.endswith("_trust"))[:2]
    setup = By("setup", "QK1")
    for org in (a, b):
        plan = [
            PlanFigure(m, line, Decimal(v))
            for m in range(1, 13)
            for line, v in (("income", 1000), ("pay", 900))
        ]
        ledger.create_plan_version(s, org, YEAR, plan, setup)
        ledger.set_control_total(s, org, YEAR, "1200", setup)
    ledger.record_entries(
        s,
        [ledger.EntryInput(b, YEAR, m, "pay", "actual", Decimal(950)) for m in (1, 2)]
        + [ledger.EntryInput(b, YEAR, m, "income", "actual", Decimal(1000)) for m in (1, 2)],
        setup,
    )
    found = headlines.finance_summary(s)
    assert found is not None
    # Each trust plans a surplus of 100 a month; trust B spent 50 a month more on pay in April
    # and May, so the system forecasts 2 x 1,200 - 2 x 50 and misses its control total.
    assert (found.financial_year, found.as_at_month) == (YEAR, 2)
    assert found.plan_full_year == Decimal(2400)
    assert found.forecast_outturn == Decimal(2300)
    assert found.forecast_variance == Decimal(-100)
    assert found.control_total == Decimal(2400)
    assert found.meets_control_total is False and found.breaks_even is True


def _marts(folder: Path, counts: dict[str, int]) -> Settings:
    """A marts file holding a `registers` mart: one system row, and each place's count."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(folder / MARTS_FILE))
    con.execute(
        "CREATE TABLE registers (level VARCHAR, area_code VARCHAR, condition VARCHAR, "
        "qof_group VARCHAR, label VARCHAR, numerator BIGINT, denominator BIGINT, "
        "prevalence_pct DOUBLE, england_pct DOUBLE)"
    )
    rows = [("system", "SYS", "dm", "DM", "Diabetes", 2030, 20000, 10.15, 7.1)] + [
        ("place", place, "dm", "DM", "Diabetes", n, 1000, 100 * n / 1000, 7.1)
        for place, n in counts.items()
    ]
    con.executemany("INSERT INTO registers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()
    return Settings(data_dir=folder, database_url="sqlite://", secret_key="k")


def test_population_headlines_suppress_small_numbers(tmp_path: Path) -> None:
    assert headlines.population(Settings(data_dir=tmp_path, secret_key="k")) == ([], [])
    settings = _marts(tmp_path / "data", {"P1": 120, "P2": 9, "P3": 1, "P4": 10, "P5": 0})
    system, places = headlines.population(settings)
    assert [(p.name, p.value, p.england) for p in system] == [
        ("Diabetes: recorded prevalence", 10.15, 7.1)
    ]
    shown = {p.place: (p.people, p.prevalence_pct) for p in places}
    assert shown == {
        "P1": (120, 12.0),
        "P2": (None, None),  # 9: suppressed, and so is the rate worked from it
        "P3": (None, None),
        "P4": (10, 1.0),
        "P5": (0, 0.0),  # nobody is not a small number
    }
    chart = headlines.prevalence_chart(places, {"P1": "North"})
    assert [(v["place"], v["prevalence"]) for v in chart["data"]["values"]] == [
        ("North", 12.0), ("P4", 1.0), ("P5", 0.0)
    ]  # fmt: skip


def test_people_counts_are_suppressed_too() -> None:
    assert headlines.suppressed_headline("Registered people", 7, None, "people").value is None
    assert headlines.suppressed_headline("Registered people", 70, None, "people").value == 70
    assert headlines.suppressed_headline("Rate", 7.0, None, "per 1,000").value == 7.0


def test_spend_summary_is_contract_spend_by_sector_this_year(footprint_session: Session) -> None:
    from datetime import date

    from integrated_care.finance import contracts
    from integrated_care.finance.services import icb_code

    s = footprint_session
    assert headlines.spend_summary(s, date(2025, 11, 1)) is None
    icb = icb_code(s)
    orgs = {o.org_type: o.org_code for o in sorted(list_organisations(s), key=lambda o: o.org_code)}
    term = (date(2025, 4, 1), date(2026, 3, 31))

    def contract(cid: str, holder: str, kind: str, value: str) -> contracts.ContractRecord:
        return contracts.ContractRecord(
            cid, icb, holder, kind, None, "svc", Decimal(value), *term, "most_suitable_provider"
        )

    contracts.store_contracts(
        s,
        [
            contract("T1", orgs["acute_trust"], "nhs_standard", "365000"),
            contract("L1", orgs["local_authority"], "section_75", "730000"),
        ],
        By("loader"),
    )
    found = headlines.spend_summary(s, date(2025, 11, 1))
    assert found is not None and found.financial_year == "2025/26"
    # Each contract runs the whole year, so the year's spend is its annual value (to the penny
    # per month, as the finance domain spreads value by day).
    assert abs(found.by_sector["NHS"] - Decimal(365000)) <= Decimal("0.12")
    assert abs(found.by_sector["Local government"] - Decimal(730000)) <= Decimal("0.12")
    assert abs(sum(found.by_sector.values()) - Decimal(1095000)) <= Decimal("0.24")
    # The chart: a bar for each month of the year and each known sector (zero where none).
    assert len(found.chart["data"]["values"]) == 12 * (len(contracts.SECTOR_LABELS) - 1)


def test_performance_headlines_are_the_public_performance_figures(
    tmp_path: Path, db_templates
) -> None:
    """The headlines show the same latest figure per standard as /api/performance, on the
    oversight tests' hand-made ICS, and the portal page shows them."""
    from fastapi.testclient import TestClient

    from integrated_care.oversight import charts
    from integrated_care.oversight.marts import build_and_store, read_standards
    from integrated_care.oversight.views import oversight_view, system_code
    from integrated_care.web.app import create_app
    from tests.conftest import _build_test_footprint, make_runtime
    from tests.oversight.handmade import AS_OF, load_oversight_ics

    settings = load_oversight_ics(tmp_path)
    build_and_store(settings, AS_OF)
    found = headlines.performance(settings, {})
    rows = read_standards(settings)
    view = oversight_view(rows, "system", system_code(rows), {})
    assert found and [(h.title, h.latest) for h in found] == [
        (m.title, charts.shown(m.latest_value, m.unit)) for m in view.measures
    ]
    assert any(h.meets_standard is not None for h in found)
    url = db_templates.clone("sqlite", "footprint", _build_test_footprint)
    runtime = make_runtime(settings.data_dir, url)
    with TestClient(create_app(runtime)) as client:
        page = client.get("/board/system")
    assert page.status_code == 200
    first = found[0]
    assert (
        f"{escape(first.title)}</td>" in page.text and f"{first.latest} {first.unit}" in page.text
    )
