"""The shared care record's clinician pages in a real browser: a GP finds a patient by NHS
number and sees one timeline naming the organisations that recorded each entry (with its chart
drawn); a GP at another practice is refused with a 403 page offering break-glass. Both pages
meet WCAG 2.2 AA (axe) and raise no console errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from integrated_care.record import store, timeline
from integrated_care.record.sensitive import RECORDED_BY_SYSTEM
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from tests.e2e.conftest import DEMO_PASSWORD, LiveServer, axe_violations, serve, sign_in

pytestmark = pytest.mark.e2e
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS_NUMBER = "9434765919"
ORGANISATIONS = {
    "A81001": "Riverside Surgery",
    "B81002": "Hilltop Medical Centre",
    "RXX": "County Hospital NHS Trust",
    "RYY": "Community Health Services",
}


def _ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


def _encounter(start: str, org: str, setting: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [
            {
                "coding": [
                    {"system": timeline.CARE_SETTING_SYSTEM, "code": setting, "display": setting}
                ]
            }
        ],
        "subject": _ref("Patient", "p1"),
        "period": {"start": start, "end": start},
        "serviceProvider": _ref("Organization", org),
    }


def _seed(runtime: Runtime) -> None:
    from integrated_care.accounts.services import create_user

    with runtime.transaction() as session:
        create_user(session, "gp", DEMO_PASSWORD, ["clinician"], "A81001", "Dr Riverside")
        create_user(session, "gp_other", DEMO_PASSWORD, ["clinician"], "B81002", "Dr Hilltop")
        for code, name in ORGANISATIONS.items():
            body = {
                "resourceType": "Organization",
                "id": code,
                "name": name,
                "identifier": [{"system": ODS, "value": code}],
            }
            store.update(session, "Organization", code, body)
        store.update(
            session,
            "Patient",
            "p1",
            {
                "resourceType": "Patient",
                "id": "p1",
                "identifier": [
                    {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS_NUMBER}
                ],
                "name": [{"family": "Smith", "given": ["Jane"]}],
                "gender": "female",
                "birthDate": "1960-04-01",
                "generalPractitioner": [_ref("Organization", "A81001")],
            },
        )
        contacts = [
            ("2025-01-14", "RXX", "Hospital"),
            ("2025-02-03", "RXX", "Hospital"),
            ("2025-02-20", "RYY", "Community"),
            ("2025-03-09", "A81001", "GP practice"),
        ]
        for n, (start, org, setting) in enumerate(contacts):
            store.update(
                session, "Encounter", f"e{n}", {**_encounter(start, org, setting), "id": f"e{n}"}
            )
        store.update(
            session,
            "Condition",
            "c1",
            {
                "resourceType": "Condition",
                "id": "c1",
                "code": {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "73211009",
                            "display": "Diabetes mellitus",
                        }
                    ]
                },
                "subject": _ref("Patient", "p1"),
                "onsetDateTime": "2019-05-01",
                "meta": {
                    "tag": [
                        {
                            "system": RECORDED_BY_SYSTEM,
                            "code": "A81001",
                        }
                    ]
                },
            },
        )


@pytest.fixture(scope="module")
def record_server(db_templates, tmp_path_factory) -> Iterator[LiveServer]:
    url = db_templates.clone("sqlite", "empty", None)
    data_dir = tmp_path_factory.mktemp("e2e-record")
    runtime = Runtime(Settings(data_dir=data_dir, database_url=url, secret_key="e2e-key"))
    _seed(runtime)
    with serve(runtime) as server:
        yield server


def test_find_by_nhs_number_and_see_the_timeline_with_organisations(
    page, record_server: LiveServer
) -> None:
    base = record_server.url
    sign_in(page, base, "gp")
    page.goto(f"{base}/")
    assert page.locator('header a[href="/record/find"]').count() >= 1  # in the menu
    page.goto(f"{base}/record/find")
    page.get_by_label("NHS number").fill("943 476 5919")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Jane Smith").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", level=1).inner_text() == "Jane Smith"
    timeline_table = page.locator("#timeline")
    for label in (
        "County Hospital NHS Trust (RXX)",
        "Community Health Services (RYY)",
        "Riverside Surgery (A81001)",
    ):
        assert timeline_table.get_by_text(label).count() >= 1, label
    assert page.locator("#problems").get_by_text("Diabetes mellitus").count() == 1
    page.locator(".ics-chart svg").first.wait_for(timeout=15000)  # the chart was drawn
    assert page.console_errors == []


def test_refused_patient_shows_the_403_page_with_break_glass(
    page, record_server: LiveServer
) -> None:
    base = record_server.url
    sign_in(page, base, "gp_other")
    response = page.goto(f"{base}/record/patients/p1")
    assert response is not None and response.status == 403
    assert "no care relationship" in page.locator("main").inner_text()
    assert page.get_by_role("button", name="Break the glass and open the record").count() == 1
    # The browser reports the page's own 403 status as a console error; nothing else may fail.
    assert [e for e in page.console_errors if "status of 403" not in e] == []


def test_record_pages_meet_wcag_22_aa(axe_page, record_server: LiveServer) -> None:
    base = record_server.url
    sign_in(axe_page, base, "gp")
    for path in (
        "/record/find",
        f"/record/find?nhs_number={NHS_NUMBER}",
        "/record/find?nhs_number=123",
        "/record/patients/p1",
    ):
        assert axe_violations(axe_page, f"{base}{path}") == [], path
    axe_page.get_by_role("button", name="Sign out").click()
    axe_page.wait_for_load_state("networkidle")
    sign_in(axe_page, base, "gp_other")
    assert axe_violations(axe_page, f"{base}/record/patients/p1") == []
    assert "no care relationship" in axe_page.locator("main").inner_text()  # the 403 page
