"""The oversight pages and their JSON twins over the hand-made ICS, through the real app:
who may see what, and that the figures shown are the stored ones."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from integrated_care.accounts.services import create_user
from integrated_care.oversight.marts import STANDARDS, build_standards, store_oversight
from integrated_care.warehouse.connection import connect
from tests.accounts.conftest import cheap_password_hashing  # noqa: F401  (autouse)
from tests.oversight.handmade import AS_OF, load_oversight_ics

PASSWORD = "a-long-enough-password"
PAGES = [
    "/oversight",
    "/oversight/providers/RWE",
    "/oversight/places/PL1",
    "/oversight/scorecard",
]
APIS = [
    "/api/oversight",
    "/api/oversight/providers/RWE",
    "/api/oversight/places/PL1",
    "/api/oversight/scorecard",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = load_oversight_ics(tmp_path_factory.mktemp("oversight-pages"))
    con = connect(settings, read_only=True)
    try:
        day, table = build_standards(con, AS_OF)
    finally:
        con.disconnect()
    store_oversight({STANDARDS: table}, settings.data_dir, day)
    return settings.data_dir


@pytest.fixture
def with_figures(runtime, built: Path):  # type: ignore[no-untyped-def]
    data = runtime.settings.data_dir
    (data / "oversight").mkdir(parents=True, exist_ok=True)
    shutil.copy2(built / "oversight.duckdb", data / "oversight.duckdb")
    shutil.copy2(built / "oversight" / "manifest.json", data / "oversight" / "manifest.json")
    return data


def _sign_in(client, runtime, username: str, *roles: str) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, username, PASSWORD, list(roles), "QK1")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text).group(1)
    client.post("/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": token})


def test_oversight_readers_see_the_dashboard_and_provider_pages(
    client, runtime, with_figures
) -> None:  # type: ignore[no-untyped-def]
    _sign_in(client, runtime, "ana", "analyst")
    page = client.get("/oversight")
    assert page.status_code == 200
    assert "A&amp;E: admitted, transferred or discharged within 4 hours" in page.text
    assert 'href="/oversight/providers/RXX"' in page.text
    assert "spc-ae_4hr_all-spec" in page.text and "compare-ae_4hr_all-spec" in page.text
    assert 'href="/oversight/places/PL2"' in page.text
    assert client.get("/oversight/providers/RWE").status_code == 200
    assert 'href="/oversight"' in client.get("/").text


def test_a_place_shows_its_residents_whichever_provider_treated_them(
    client, runtime, with_figures
) -> None:  # type: ignore[no-untyped-def]
    _sign_in(client, runtime, "ana", "analyst")
    place = client.get("/api/oversight/places/PL1").json()
    assert (place["level"], place["code"]) == ("place", "PL1")
    four = next(m for m in place["measures"] if m["measure"] == "ae_4hr_all")
    # people 1 and 2: January attendances 1, 2, 8 (within 4 hours) and 5 (13 hours, at RXX);
    # 6 has no departure; February 9 (5 hours)
    assert [(p["month"], p["numerator"], p["denominator"]) for p in four["points"]] == [
        ("2026-01-01", 3.0, 4.0),
        ("2026-02-01", 0.0, 1.0),
    ]
    assert four["periods"][0]["trial_limits"] is True
    assert four["lower_limit"] >= 0 and four["upper_limit"] <= 1  # clipped to 0-100%
    page = client.get("/oversight/places/PL1")
    assert page.status_code == 200 and "residents of a place" in page.text
    assert "/api/oversight/places/PL1" in page.text
    missing = client.get("/api/oversight/places/NOWHERE")
    assert missing.status_code == 404 and "place NOWHERE" in missing.json()["detail"]


def test_delayed_discharges_are_shown_as_not_available_from_the_input_layer(
    client, runtime, with_figures
) -> None:  # type: ignore[no-untyped-def]
    public = client.get("/api/performance").json()
    assert [n["id"] for n in public["not_measured"]] == ["delayed_discharges"]
    assert "discharge ready" in public["not_measured"][0]["reason"]
    assert "Not available from the input layer" in client.get("/performance").text
    _sign_in(client, runtime, "ana", "analyst")
    for path in ("/oversight", "/oversight/providers/RWE", "/oversight/places/PL2"):
        text = client.get(path).text
        assert "Not available from the input layer" in text and "Delayed discharges" in text


def test_the_api_shows_the_stored_figures_with_spc(client, runtime, with_figures) -> None:  # type: ignore[no-untyped-def]
    _sign_in(client, runtime, "ana", "analyst")
    system = client.get("/api/oversight").json()
    assert system["level"] == "system" and system["code"] == "QK1"
    four = next(m for m in system["measures"] if m["measure"] == "ae_4hr_all")
    # January: 4 of the 7 attendances with a departure within 4 hours; February 2 of 4
    assert [(p["month"], p["numerator"], p["denominator"]) for p in four["points"]] == [
        ("2026-01-01", 4.0, 7.0),
        ("2026-02-01", 2.0, 4.0),
    ]
    assert four["standard"] == 0.95 and four["target"] == 0.78
    assert four["latest_value"] == pytest.approx(1 / 2)
    assert four["meets_target"] is False
    assert four["mean"] == pytest.approx((4 / 7 + 1 / 2) / 2)
    compared = next(c for c in system["comparisons"] if c["measure"] == "ae_4hr_all")
    assert {p["code"]: p["denominator"] for p in compared["providers"]} == {"RWE": 2.0, "RXX": 2.0}
    provider = client.get("/api/oversight/providers/RXX").json()
    dna = next(m for m in provider["measures"] if m["measure"] == "op_dna")
    assert [(p["numerator"], p["denominator"]) for p in dna["points"]] == [(1.0, 1.0), (0.0, 1.0)]
    assert client.get("/api/oversight/providers/NOPE").status_code == 404


def test_the_scorecard_segments_each_provider(client, runtime, with_figures) -> None:  # type: ignore[no-untyped-def]
    _sign_in(client, runtime, "ana", "analyst")
    card = client.get("/api/oversight/scorecard").json()
    assert [(r["code"], r["kind"]) for r in card["rows"]] == [
        ("QK1", "system"),
        ("RWE", "organisation"),
        ("RXX", "organisation"),
    ]
    for row in card["rows"]:
        finance = next(d for d in row["domains"] if d["domain"] == "finance")
        assert finance["score"] is None  # no financial positions held in this store
        assert row["segment"] in (1, 2, 3, 4)
    page = client.get("/oversight/scorecard")
    assert page.status_code == 200 and "Segment" in page.text and "ics analyse" in page.text


def test_the_public_performance_page_needs_no_sign_in_and_shows_the_system_only(
    client, with_figures
) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/performance")
    assert page.status_code == 200
    assert "RTT within 18 weeks" in page.text or "waiting 18 weeks or less" in page.text
    assert "RWE" not in page.text and "RXX" not in page.text
    public = client.get("/api/performance").json()
    assert public["level"] == "system" and public["comparisons"] == []
    assert {m["level"] for m in public["measures"]} == {"system"}


def test_signed_out_people_are_sent_to_sign_in(client, with_figures) -> None:  # type: ignore[no-untyped-def]
    for path in PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in?next=")
    for path in APIS:
        assert client.get(path).status_code == 401


def test_people_without_oversight_read_are_refused(client, runtime, with_figures) -> None:  # type: ignore[no-untyped-def]
    _sign_in(client, runtime, "carer", "care_professional")
    for path in PAGES + APIS:
        assert client.get(path).status_code == 403, path
    assert 'href="/oversight"' not in client.get("/").text
    assert client.get("/performance").status_code == 200


def test_before_a_build_the_pages_say_what_to_run(client, runtime) -> None:  # type: ignore[no-untyped-def]
    assert "ics oversight build" in client.get("/performance").text
    assert client.get("/api/performance").status_code == 404
    _sign_in(client, runtime, "ana", "analyst")
    assert "ics oversight build" in client.get("/oversight").text
    assert client.get("/api/oversight").status_code == 404


def test_every_look_is_audited(client, runtime, with_figures) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from integrated_care.accounts.models import AuditEvent

    _sign_in(client, runtime, "ana", "analyst")
    client.get("/oversight/providers/RXX")
    with runtime.sessions() as session:
        looks = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "oversight.view")
        ).all()
    assert [(e.actor, e.record_id) for e in looks] == [("ana", "RXX")]


def test_the_json_twins_are_in_openapi(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/oversight",
        "/api/oversight/providers/{code}",
        "/api/oversight/places/{code}",
        "/api/oversight/scorecard",
        "/api/performance",
    ):
        assert paths[path]["get"]["tags"] == ["oversight"], path
