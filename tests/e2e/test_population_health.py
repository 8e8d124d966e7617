"""The population-health pages in a real browser, over the analysed e2e population: every chart
is drawn, nothing breaks the CSP, the register form works, and axe finds no WCAG 2.2 AA issue."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import axe_violations, sign_in

pytestmark = pytest.mark.e2e

# page -> charts it draws
PAGES = {
    "/population-health": 8,  # pyramid, registers, 3 segment charts, risk bands, histogram, eFI
    "/population-health/practices": 4,  # prevalence and admissions, by practice and by PCN
    "/population-health/inequalities": 4,  # by IMD quintile, ethnic group, place, PLUS group
}


@pytest.mark.parametrize(("path", "charts"), PAGES.items())
def test_each_page_draws_its_charts_without_errors(
    page, live_server, path: str, charts: int
) -> None:
    sign_in(page, live_server.url, "analyst")
    page.goto(live_server.url + path)
    page.locator(".ics-chart svg").first.wait_for(timeout=15000)
    page.wait_for_function(
        f"document.querySelectorAll('.ics-chart svg').length >= {charts}", timeout=15000
    )
    assert page.locator(".ics-chart svg").count() == charts
    assert page.get_by_text("could not be drawn").count() == 0
    assert page.console_errors == []


@pytest.mark.parametrize("path", list(PAGES))
def test_pages_meet_wcag_22_aa(axe_page, live_server, path: str) -> None:
    sign_in(axe_page, live_server.url, "analyst")
    assert axe_violations(axe_page, live_server.url + path) == []


def test_analyst_reaches_the_pages_from_the_menu_and_compares_a_register(page, live_server) -> None:
    sign_in(page, live_server.url, "analyst")
    page.get_by_role("link", name="Population health").first.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/population-health")
    page.get_by_role("link", name="Practices and PCNs").first.click()
    page.get_by_label("Disease register").select_option("DM")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_load_state("networkidle")
    assert "register=DM" in page.url
    assert "Diabetes" in page.locator("h1").inner_text()
    page.wait_for_function("document.querySelectorAll('.ics-chart svg').length >= 4")
    assert page.console_errors == []


def test_a_user_without_analytics_is_refused(page, live_server) -> None:
    sign_in(page, live_server.url, "admin")
    assert page.get_by_role("link", name="Population health").count() == 0
    response = page.goto(live_server.url + "/population-health")
    assert response.status == 403
