"""The web shell in a real browser: public pages, sign-in, refusals, charts and accessibility."""

from __future__ import annotations

import csv

import pytest

from integrated_care import reference
from tests.e2e.conftest import axe_violations, sign_in

pytestmark = pytest.mark.e2e


def _first_pcn_and_practice(icb: str = "QK1") -> tuple[str, str]:
    with reference.path("gp_practices_jan2022.csv").open(encoding="utf-8-sig") as f:
        row = next(r for r in csv.DictReader(f) if r["STP_CODE"] == icb)
    return row["PCN_CODE"], row["PRACTICE_CODE"]


PCN, PRACTICE = _first_pcn_and_practice()
PUBLIC_PAGES = [
    "/",
    "/footprint",
    "/footprint/places/04C",
    f"/footprint/pcns/{PCN}",
    f"/footprint/practices/{PRACTICE}",
    "/footprint/organisations",
    "/sign-in",
    "/about",
    "/api/docs",
]
SIGNED_IN_PAGES = ["/account", "/audit", "/admin/users"]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_meet_wcag_22_aa(axe_page, live_server, path: str) -> None:
    assert axe_violations(axe_page, live_server.url + path) == []


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_signed_in_pages_meet_wcag_22_aa(axe_page, live_server, path: str) -> None:
    sign_in(axe_page, live_server.url, "admin")
    assert axe_violations(axe_page, live_server.url + path) == []


def test_home_page_shows_the_ics_with_charts_and_no_csp_violations(page, live_server) -> None:
    page.goto(live_server.url + "/")
    assert "Leicester, Leicestershire and Rutland" in page.locator("h1").inner_text()
    assert page.get_by_text("Synthetic data").first.is_visible()
    page.locator(".ics-chart svg").first.wait_for(timeout=15000)
    # population pyramid, registered by place, by IMD quintile, residents by place, by sector
    page.wait_for_function("document.querySelectorAll('.ics-chart svg').length >= 5")
    assert page.get_by_role("heading", name="Registered population").is_visible()
    assert page.console_errors == []


def test_footprint_browser_walks_system_place_pcn_practice(page, live_server) -> None:
    page.goto(live_server.url + "/footprint")
    page.get_by_role("link", name="Leicester City").first.click()
    assert page.url.endswith("/footprint/places/04C")
    page.locator("a[href^='/footprint/pcns/']").first.click()
    assert "/footprint/pcns/" in page.url
    assert page.get_by_text("Clinical director").first.is_visible()
    page.locator("a[href^='/footprint/practices/']").first.click()
    assert "/footprint/practices/" in page.url
    assert page.console_errors == []


def test_signed_out_visit_to_a_private_page_goes_to_sign_in(page, live_server) -> None:
    page.goto(live_server.url + "/audit")
    assert "/sign-in" in page.url
    sign_in(page, live_server.url, "caldicott")
    page.goto(live_server.url + "/audit")
    assert page.locator("h1").inner_text().lower().startswith("audit")


def test_wrong_role_gets_403_page(page, live_server) -> None:
    sign_in(page, live_server.url, "analyst")
    response = page.goto(live_server.url + "/admin/users")
    assert response.status == 403
    assert "permission" in page.locator("h1").inner_text().lower()


def test_sign_in_and_out(page, live_server) -> None:
    sign_in(page, live_server.url, "admin")
    assert page.get_by_text("Admin").first.is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("link", name="Sign in").is_visible()
    assert page.goto(live_server.url + "/account").url.endswith("/sign-in?next=%2Faccount")


def test_wrong_password_shows_an_error_summary(page, live_server) -> None:
    sign_in(page, live_server.url, "admin", password="not-the-password")
    assert page.locator(".nhsuk-error-summary").is_visible()
