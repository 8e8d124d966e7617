"""The cohort builder in a real browser, over the analysed e2e population: the list, a cohort's
chart and tables, defining a cohort through the form, and axe's WCAG 2.2 AA rules."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import axe_violations, sign_in

pytestmark = pytest.mark.e2e

BASE = "/population-health/cohorts"
HYP = "hypertension-no-bp-reading"


def test_list_links_to_a_cohort_with_its_chart_and_members(page, live_server) -> None:
    sign_in(page, live_server.url, "analyst")
    page.goto(live_server.url + BASE)
    link = page.get_by_role("link", name="Hypertension without a blood pressure reading")
    link.click()
    page.wait_for_load_state("networkidle")
    assert page.url.startswith(f"{live_server.url}{BASE}/{HYP}")
    page.locator(".ics-chart svg").first.wait_for(timeout=15000)
    assert page.get_by_role("heading", name="By practice").is_visible()
    assert page.get_by_role("heading", name="Members").is_visible()
    assert page.get_by_role("heading", name="Versions").is_visible()
    assert page.console_errors == []


def test_define_a_cohort_through_the_form(page, live_server) -> None:
    sign_in(page, live_server.url, "analyst")
    page.goto(f"{live_server.url}{BASE}/new")
    page.get_by_label("Name", exact=True).fill("e2e-copd-no-bp")
    page.get_by_label("Title").fill("COPD without a BP reading")
    page.locator("#registers_all-copd").check()
    page.locator("#event_list_0").select_option("blood_pressure")
    page.locator("#event_days_0").fill("365")
    page.get_by_role("button", name="Save cohort").click()
    page.wait_for_load_state("networkidle")
    assert f"{BASE}/e2e-copd-no-bp" in page.url
    assert page.get_by_text("Saved as version 1").is_visible()
    assert page.locator("h1").inner_text() == "COPD without a BP reading"


def test_a_form_error_is_shown_at_the_top_and_by_the_field(page, live_server) -> None:
    sign_in(page, live_server.url, "analyst")
    page.goto(f"{live_server.url}{BASE}/new")
    page.get_by_label("Name", exact=True).fill("e2e-bad")
    page.get_by_label("Title").fill("Bad ages")
    page.locator("#age_min").fill("80")
    page.locator("#age_max").fill("60")
    page.get_by_role("button", name="Save cohort").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("There is a problem").is_visible()
    assert page.get_by_text("age_min is greater than age_max").first.is_visible()


@pytest.mark.parametrize("path", [BASE, f"{BASE}/{HYP}", f"{BASE}/new"])
def test_cohort_pages_meet_wcag_22_aa(axe_page, live_server, path: str) -> None:
    sign_in(axe_page, live_server.url, "analyst")
    assert axe_violations(axe_page, live_server.url + path) == []
