"""The must-show in a real browser: a host's workforce lead checks a movement and sees it blocked
for a missing DBS check; the home lead adds the DBS check on the passport page; the host checks
again and activates. The workforce pages meet WCAG 2.2 AA and raise no console errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from integrated_care.workforce import movement as mv
from integrated_care.workforce import routes
from integrated_care.workforce.common import Actor

# The browser fixtures come from tests/e2e/conftest.py: one Playwright per test session (a
# second sync Playwright in the same process fails), so browser tests live in tests/e2e.
from tests.e2e.conftest import (
    DEMO_PASSWORD,
    LiveServer,
    axe_violations,
    serve,
    sign_in,
)
from tests.workforce.conftest import TODAY, build_nurse, pick_orgs

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def workforce_server(db_templates, tmp_path_factory) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """A live server over the test footprint: the hand-made nurse without a DBS check, her
    movement approved and consented, and the two workforce leads."""
    from integrated_care.accounts.services import create_user
    from integrated_care.workforce.demo import generate_plan
    from integrated_care.workforce.plan import build_months, store_months
    from tests.conftest import _build_test_footprint

    url = db_templates.clone("sqlite", "footprint", _build_test_footprint)
    runtime = Runtime(
        Settings(data_dir=tmp_path_factory.mktemp("e2e-wf"), database_url=url, secret_key="e2e-key")
    )
    with runtime.transaction() as s:
        orgs = pick_orgs(s)
        nurse = build_nurse(s, orgs, with_dbs=False)
        create_user(s, "homelead", DEMO_PASSWORD, ["workforce_lead"], orgs.home, "Home Lead")
        create_user(s, "hostlead", DEMO_PASSWORD, ["workforce_lead"], orgs.host, "Host Lead")
        m = mv.request_movement(
            s,
            Actor("homelead", orgs.home),
            staff_id=nurse,
            host_org_code=orgs.host,
            role="District nurse",
            mechanism="sharing_agreement",
            start_date=date(2026, 12, 1),
            end_date=date(2027, 2, 28),
        )
        mv.take_step(s, Actor("homelead", orgs.home), m.id, "approve")
        mv.take_step(s, Actor("homelead", orgs.home), m.id, "consent")
        staff, rows = generate_plan([orgs.home, orgs.host], TODAY)
        plan_rows, role_rows, _ = build_months(staff, rows, {orgs.home, orgs.host})
        store_months(s, Actor("test"), plan_rows, role_rows, "test")
    runtime.workforce_ids = {"nurse": nurse, "movement": m.id}  # type: ignore[attr-defined]
    original = routes._today
    routes._today = lambda: TODAY
    try:
        with serve(runtime) as server:
            yield server
    finally:
        routes._today = original


def _ids(server: LiveServer) -> dict[str, int]:
    return server.runtime.workforce_ids  # type: ignore[attr-defined]


def test_blocked_for_missing_dbs_then_allowed_in_the_browser(page, workforce_server) -> None:
    base, ids = workforce_server.url, _ids(workforce_server)
    movement_url = f"{base}/workforce/movements/{ids['movement']}"
    sign_in(page, base, "hostlead")
    page.goto(movement_url)
    page.get_by_role("button", name="Check").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("cell", name="denied").first.is_visible()
    assert page.get_by_text(
        "DBS check (enhanced with barred lists): none recorded"
    ).first.is_visible()
    assert page.get_by_role("button", name="Activate").count() == 0

    page.context.clear_cookies()
    sign_in(page, base, "homelead")
    page.goto(f"{base}/workforce/staff/{ids['nurse']}")
    page.get_by_label("Credential").select_option("dbs")
    page.get_by_label("DBS level (DBS checks only)").select_option("enhanced_barred")
    page.get_by_label("Evidence reference").fill("DBS 001234567890")
    page.get_by_label("Issued on (YYYY-MM-DD)").fill("2026-11-20")
    page.get_by_label("Expires on", exact=False).fill("2029-11-20")
    page.get_by_role("button", name="Add credential").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("cell", name="DBS 001234567890").is_visible()

    page.context.clear_cookies()
    sign_in(page, base, "hostlead")
    page.goto(movement_url)
    page.get_by_role("button", name="Check").click()
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Activate").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("cell", name="activate", exact=True).is_visible()
    status = page.locator(".nhsuk-summary-list__row", has_text="Status")
    assert "Active" in status.inner_text()
    assert page.console_errors == []


@pytest.mark.parametrize(
    "path", ["/workforce", "/workforce/staff/{nurse}", "/workforce/movements/{movement}",
             "/workforce/plan"],
)  # fmt: skip
def test_workforce_pages_meet_wcag_22_aa(axe_page, workforce_server, path: str) -> None:
    sign_in(axe_page, workforce_server.url, "homelead")
    url = workforce_server.url + path.format(**_ids(workforce_server))
    assert axe_violations(axe_page, url) == []
