"""The must-show in a real browser: a GP refers a patient to a voluntary organisation's social
prescribing service through the pages; the link worker at that organisation could not open the
patient's shared care record before, accepts the referral, and then can. The referral pages
meet WCAG 2.2 AA and raise no console errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from integrated_care.runtime import Runtime
from integrated_care.settings import Settings

# The browser fixtures come from tests/e2e/conftest.py (one Playwright per test session).
from tests.coordination.referral_support import NHS_NUMBER, PASSWORD, World, build_world
from tests.e2e.conftest import LiveServer, axe_violations, serve, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def referral_server(db_templates, tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """A live server over the test footprint with its service directory, a GP, a link worker
    at Age UK, and one patient registered at the GP's practice."""
    from tests.conftest import _build_test_footprint

    url = db_templates.clone("sqlite", "footprint", _build_test_footprint)
    runtime = Runtime(
        Settings(data_dir=tmp_path_factory.mktemp("e2e-ref"), database_url=url, secret_key="k")
    )
    runtime.referral_world = build_world(runtime)  # type: ignore[attr-defined]
    with serve(runtime) as server:
        yield server


def _world(server: LiveServer) -> World:
    return server.runtime.referral_world  # type: ignore[attr-defined]


def test_gp_refers_to_social_prescribing_and_the_link_worker_then_sees_the_record(
    page, referral_server
) -> None:
    base, world = referral_server.url, _world(referral_server)
    record_url = f"{base}/record/patients/{world.patient_id}"

    # Before any referral, Age UK has no relationship with the patient.
    sign_in(page, base, "linkworker", PASSWORD)
    assert page.goto(record_url).status == 403
    page.console_errors.clear()  # type: ignore[attr-defined] # the browser logs the 403 itself
    page.context.clear_cookies()

    sign_in(page, base, "gp", PASSWORD)
    page.goto(f"{base}/referrals/new")
    page.get_by_label("Find the patient by NHS number").fill(NHS_NUMBER)
    page.get_by_role("button", name="Find patient").click()
    expect(page.get_by_text("Margaret Shaw")).to_be_visible()  # waits for the navigation
    page.get_by_label("Service").select_option(str(world.social_prescribing))
    page.get_by_label("Reason for referral").fill(
        "Widowed this year, lonely and not leaving the house; would like to meet people"
    )
    page.get_by_label("Routine").check()
    page.get_by_label("The patient has agreed to this referral").check()
    page.get_by_role("button", name="Make referral").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Social prescribing link workers").is_visible()
    assert page.locator(".nhsuk-tag", has_text="Requested").first.is_visible()
    referral_url = page.url
    page.context.clear_cookies()

    sign_in(page, base, "linkworker", PASSWORD)
    page.goto(f"{base}/referrals/inbox")
    page.get_by_role("link", name="Social prescribing link workers").first.click()
    assert page.url == referral_url
    page.get_by_label("Note (optional)").first.fill("Will phone on Monday")
    page.get_by_role("button", name="Accept referral").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".nhsuk-tag", has_text="Accepted").first.is_visible()
    assert page.get_by_role("cell", name="Will phone on Monday").is_visible()

    with page.expect_navigation() as opened:
        page.get_by_role("link", name="Open the shared care record").click()
    assert opened.value.status == 200
    assert page.url == record_url
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_referral_pages_meet_wcag_22_aa(axe_page, referral_server) -> None:
    base, world = referral_server.url, _world(referral_server)
    sign_in(axe_page, base, "gp", PASSWORD)
    pages = [
        "/referrals/outbox",
        f"/referrals/new?nhs_number={NHS_NUMBER}",
        "/referrals/services",
        f"/referrals/services/{world.social_prescribing}",
        "/referrals/waits",
    ]
    from integrated_care.coordination import referrals as ref

    made = ref.create_referral(
        referral_server.runtime,
        world.principals["gp"],
        ref.NewReferral(world.patient_id, world.social_prescribing, "Low mood", "urgent", True),
    )
    pages.append(f"/referrals/{made.id}")
    for path in pages:
        assert axe_violations(axe_page, f"{base}{path}") == [], path
