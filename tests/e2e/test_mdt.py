"""An MDT worklist in a real browser: a GP of the PCN opens the worklist made from the severe
frailty cohort, assigns an action to a patient and marks it done; a shared care plan is written
and shown. The pages meet WCAG 2.2 AA (axe) and raise no console errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from integrated_care.coordination import mdt
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from tests.coordination.mdt_support import PASSWORD, build_store, cohort_settings
from tests.e2e.conftest import LiveServer, axe_violations, serve, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mdt_server(db_templates, tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """The hand-made cohort world, with one worklist of PCN U00001 made by its GP."""
    settings = cohort_settings(tmp_path_factory)
    url = db_templates.clone("sqlite", "mdt", build_store)
    runtime = Runtime(Settings(data_dir=settings.data_dir, database_url=url, secret_key="e2e-key"))
    with runtime.transaction() as session:
        from integrated_care.accounts.services import get_user, principal_for_user

        gp = principal_for_user(session, get_user(session, "gp_a1"))  # type: ignore[arg-type]
        mdt.create_worklist(session, settings, gp, "severe-frailty-no-medication-review", "U00001")
    with serve(runtime) as server:
        yield server


def test_assign_an_action_and_mark_it_done(mdt_server: LiveServer, page) -> None:  # type: ignore[no-untyped-def]
    base = mdt_server.url
    sign_in(page, base, "gp_a1", PASSWORD)
    page.goto(f"{base}/mdt")
    page.get_by_role("link", name="Severe frailty without a medication review in 12 months").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".ics-chart svg, .ics-chart canvas").count() >= 1  # charts drew
    page.locator("table.nhsuk-table a[href^='/mdt/entries/']").first.click()
    page.get_by_label("Action").fill("Structured medication review")
    page.get_by_label("Owner").fill("gp_a2")
    due = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    page.get_by_label("Due date (optional)").fill(due)
    page.get_by_role("button", name="Assign").click()
    page.wait_for_load_state("networkidle")
    action = page.locator("#entry-action").inner_text()
    assert "Structured medication review: gp_a2" in action and due in action
    page.get_by_role("button", name="Mark done").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#entry-status").inner_text().strip() == "Done"
    page.get_by_role(
        "link", name="Severe frailty without a medication review in 12 months"
    ).first.click()
    page.wait_for_load_state("networkidle")
    row = page.locator("tbody tr").filter(has_text="Structured medication review")
    assert row.count() == 1 and "Done" in row.inner_text()
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_write_a_care_plan(mdt_server: LiveServer, page) -> None:  # type: ignore[no-untyped-def]
    base = mdt_server.url
    sign_in(page, base, "gp_a1", PASSWORD)
    page.goto(f"{base}/care-plans/patients/p1/new")
    page.get_by_label("Title").fill("Staying well at home")
    page.get_by_label("Start date").fill("2026-01-05")
    page.get_by_label("Next review").fill("2026-02-01")
    page.get_by_label("Goal 1", exact=True).fill("Walk to the shops again")
    page.get_by_label("Activity 1", exact=True).fill("Strength and balance classes")
    page.get_by_label("Activity 1: organisation (ODS code)").fill("RWE")
    page.get_by_role("button", name="Save the care plan").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Staying well at home").is_visible()
    assert "Test Hospitals NHS Trust (RWE)" in page.locator("main").inner_text()
    page.goto(f"{base}/care-plans")
    assert "Review overdue" in page.locator("main").inner_text()
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_mdt_and_care_plan_pages_pass_axe(mdt_server: LiveServer, axe_page) -> None:  # type: ignore[no-untyped-def]
    base = mdt_server.url
    sign_in(axe_page, base, "gp_a1", PASSWORD)
    axe_page.goto(f"{base}/mdt")
    worklist = axe_page.locator("a[href^='/mdt/worklists/']").first.get_attribute("href")
    axe_page.goto(f"{base}{worklist}")
    entry = axe_page.locator("a[href^='/mdt/entries/']").first.get_attribute("href")
    for path in ("/mdt", worklist, entry, "/care-plans", "/care-plans/patients/p3/new"):
        assert axe_violations(axe_page, f"{base}{path}") == [], path
