"""The public footprint pages and their JSON twins show the reference figures."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi.testclient import TestClient

from integrated_care.web.app import create_app
from tests.conftest import make_runtime
from tests.footprint import reference_counts as ref


def test_home_page_shows_the_ics(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Leicester, Leicestershire and Rutland Integrated Care System</h1>" in html
    assert f"{ref.population('QK1'):,}" in html and "ONS mid-2022" in html
    for name in ("West Leicestershire", "Leicester City", "East Leicestershire and Rutland"):
        assert name in html
    assert f">{len(ref.practices('QK1'))}<" in html
    assert f">{len(ref.pcn_codes('QK1'))}<" in html
    assert "Voluntary, community and social enterprise" in html
    assert 'id="population-by-place-spec"' in html and 'id="organisations-by-sector-spec"' in html
    assert "Synthetic data" in html  # the shell's banner, driven by system_summary


def test_api_footprint_matches_the_reference(client) -> None:
    body = client.get("/api/footprint").json()
    system = body["system"]
    assert system["code"] == "QK1" and system["population"] == ref.population("QK1")
    assert system["n_practices"] == len(ref.practices("QK1"))
    assert system["n_pcns"] == len(ref.pcn_codes("QK1"))
    assert {p["code"] for p in body["places"]} == ref.sub_icb_locations("QK1")
    assert {s["sector"] for s in body["sectors"]} == {
        "nhs",
        "local_government",
        "voluntary",
        "private",
    }


def test_place_pages(client) -> None:
    page = client.get("/footprint/places/04C")
    assert page.status_code == 200
    assert "<h1>Leicester City</h1>" in page.text
    assert 'href="/footprint"' in page.text  # breadcrumb back to the system
    assert 'id="pcn-sizes-spec"' in page.text and 'id="imd-deciles-spec"' in page.text
    body = client.get("/api/footprint/places/04C").json()
    assert body["n_lsoas"] == len([r for r in ref.lsoas("QK1") if r["sicbl_code"] == "04C"])
    for pcn in body["pcns"]:
        assert escape(pcn["name"]) in page.text
        assert escape(pcn["clinical_director"]) in page.text


def test_pcn_and_practice_pages(client) -> None:
    members = [r for r in ref.practices("QK1") if r["PCN_CODE"] == "U51667"]
    body = client.get("/api/footprint/pcns/U51667").json()
    assert {p["code"] for p in body["practices"]} == {r["PRACTICE_CODE"] for r in members}
    page = client.get("/footprint/pcns/U51667").text
    assert escape(body["clinical_director"]) in page
    assert f"{body['registered_patients']:,}" in page
    assert 'href="/footprint/places/04V"' in page
    code = members[0]["PRACTICE_CODE"]
    practice = client.get(f"/api/footprint/practices/{code}").json()
    assert practice["list_size"] == ref.list_size(code)
    page = client.get(f"/footprint/practices/{code}").text
    assert escape(members[0]["PRACTICE_NAME"]) in page and f"{ref.list_size(code):,}" in page


def test_organisations_filter(client) -> None:
    voluntary = client.get("/api/footprint/organisations", params={"sector": "voluntary"}).json()
    assert voluntary and {o["sector"] for o in voluntary} == {"voluntary"}
    page = client.get("/footprint/organisations", params={"sector": "voluntary", "org_type": ""})
    assert page.status_code == 200
    assert all(escape(o["name"]) in page.text for o in voluntary)
    assert "University Hospitals of Leicester" not in page.text
    assert client.get("/footprint/organisations", params={"sector": "pirates"}).status_code == 400
    assert client.get("/api/footprint/organisations", params={"sector": "x"}).status_code == 422
    rwe = client.get("/api/footprint/organisations/RWE").json()
    assert rwe["org_type"] == "acute_trust" and rwe["parent"]["org_code"] == "QK1"
    assert "University Hospitals of Leicester" in client.get("/footprint/organisations/RWE").text


def test_unknown_codes_are_404(client) -> None:
    for kind in ("places", "pcns", "practices", "organisations"):
        assert client.get(f"/footprint/{kind}/NOPE").status_code == 404
        api = client.get(f"/api/footprint/{kind}/NOPE")
        assert api.status_code == 404 and "NOPE" in api.json()["detail"]


def test_openapi_lists_the_footprint(client) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        "/api/footprint",
        "/api/footprint/places/{code}",
        "/api/footprint/pcns/{code}",
        "/api/footprint/practices/{code}",
        "/api/footprint/organisations",
    ):
        assert paths[path]["get"]["tags"] == ["footprint"]
        assert "200" in paths[path]["get"]["responses"]


def test_without_a_footprint_the_home_page_says_how_to_build_one(
    tmp_path: Path, empty_db_url: str
) -> None:
    runtime = make_runtime(tmp_path / "ics-data", empty_db_url)
    with TestClient(create_app(runtime)) as c:
        page = c.get("/")
        assert page.status_code == 200
        assert "ics footprint --icb" in page.text and "ics demo" in page.text
        assert c.get("/api/footprint").status_code == 404
        assert c.get("/footprint").status_code == 404
    runtime.engine.dispose()
