"""Finance in a real browser: the ICB's finance lead sets up a risk share agreement through the
form (a bad field is named and nothing stored), sees it applied to the forecast with its chart,
tries a what-if, and varies a contract. The finance pages meet WCAG 2.2 AA and raise no console
errors."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from integrated_care.finance import contracts as register
from integrated_care.finance import services
from integrated_care.finance.ledger import By
from integrated_care.footprint.services import list_organisations
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings

# The browser fixtures come from tests/e2e/conftest.py: one Playwright per test session.
from tests.e2e.conftest import DEMO_PASSWORD, LiveServer, axe_violations, serve, sign_in
from tests.finance.test_agreements import _year_in_progress
from tests.finance.test_contracts import _footprint_contracts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def finance_server(db_templates, tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The test footprint with three trusts' year in progress (see test_agreements), a few
    contracts, and finance leads for the ICB and for the first trust."""
    from integrated_care.accounts.services import create_user
    from tests.conftest import _build_test_footprint

    url = db_templates.clone("sqlite", "footprint", _build_test_footprint)
    runtime = Runtime(
        Settings(data_dir=tmp_path_factory.mktemp("e2e-fin"), database_url=url, secret_key="k")
    )
    with runtime.transaction() as s:
        trusts = sorted(o.org_code for o in list_organisations(s) if o.org_type.endswith("_trust"))
        a, b, c = trusts[:3]
        _year_in_progress(s, a, b, c)
        register.store_contracts(s, _footprint_contracts(s), By("loader"))
        icb = services.icb_code(s)
        create_user(s, "icbfin", DEMO_PASSWORD, ["finance"], icb, "ICB Finance")
        create_user(s, "trustfin", DEMO_PASSWORD, ["finance"], a, "Trust Finance")
    runtime.trusts = (a, b, c)  # type: ignore[attr-defined]
    with serve(runtime) as server:
        yield server


def test_set_up_an_agreement_and_see_it_shared_in_the_browser(page, finance_server) -> None:
    base = finance_server.url
    a, b, c = finance_server.runtime.trusts  # type: ignore[attr-defined]
    sign_in(page, base, "icbfin")
    page.goto(f"{base}/finance/risk-share")
    page.get_by_role("link", name="Set up an agreement").click()
    page.get_by_label("Reference").fill("RS-E2E")
    page.get_by_label("Name", exact=True).fill("System risk share")
    page.get_by_label("Status").select_option("agreed")
    page.get_by_label("Fixed shares").check()
    page.get_by_label("Or a corridor in pounds each party keeps, either way").fill("50")
    for org, share in ((a, "50"), (b, "30"), (c, "10")):
        page.locator(f"#party-{org}").check()
        page.locator(f"#share-{org}").fill(share)
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    # Shares of 90% are refused, naming the problem, and nothing is stored.
    assert page.get_by_text("There is a problem: nothing was stored").is_visible()
    assert page.get_by_role("link", name=re.compile("add up to exactly 1")).is_visible()
    assert page.console_errors == ["Failed to load resource: the server responded with a status "
                                   "of 422 (Unprocessable Entity)"]  # fmt: skip
    page.console_errors.clear()  # the refusal's own status, as expected
    page.locator(f"#share-{c}").fill("20")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/finance/agreements/RS-E2E")
    page.locator(".ics-chart svg").first.wait_for(timeout=15000)
    # Base: kept -50, 50, 50; the pool of -150 shared 50:30:20 -> -125, 5 and 20 after sharing.
    table = page.locator("#parties-after-sharing")
    after = [x.strip() for x in table.locator("td:nth-child(5)").all_inner_texts()]
    assert after == ["-£125", "£5", "£20"]
    page.get_by_label(re.compile(r": variance, £")).first.fill("0")
    page.get_by_role("button", name="Work it out").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("cell", name="What-if", exact=True).is_visible()
    assert page.console_errors == []


def test_vary_a_contract_in_the_browser(page, finance_server) -> None:
    base = finance_server.url
    sign_in(page, base, "icbfin")
    page.goto(f"{base}/finance/contracts/C4")
    page.get_by_label("Annual value, £").fill("2,250,000")
    page.get_by_label("Why is it being varied?").fill("winter uplift")
    page.get_by_role("button", name="Record the variation").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("cell", name="2 (in force)").is_visible()
    assert page.get_by_role("cell", name="winter uplift").is_visible()
    assert page.get_by_role("cell", name="1 (as registered)").is_visible()
    assert page.console_errors == []


PAGES = ("/finance", "/finance/organisations/{a}", "/finance/risk-share",
         "/finance/agreements/new", "/finance/agreements/RS-AXE", "/finance/contracts",
         "/finance/contracts/C4", "/finance/spending")  # fmt: skip


def test_finance_pages_meet_wcag_22_aa(axe_page, finance_server) -> None:
    from integrated_care.finance import agreements
    from tests.finance.test_agreements import _rules

    a, b, c = finance_server.runtime.trusts  # type: ignore[attr-defined]
    with finance_server.runtime.transaction() as s:
        if agreements.in_force(s, "RS-AXE") is None:
            agreements.save(s, "RS-AXE", "2026/27", "Axe", "agreed", _rules(a, b, c), By("t"))
    sign_in(axe_page, finance_server.url, "icbfin")
    found = {p: axe_violations(axe_page, finance_server.url + p.format(a=a)) for p in PAGES}
    assert found == {p: [] for p in PAGES}
    # A trust's finance lead sees its own page with the return and plan forms.
    axe_page.context.clear_cookies()
    sign_in(axe_page, finance_server.url, "trustfin")
    assert axe_violations(axe_page, f"{finance_server.url}/finance/organisations/{a}") == []
