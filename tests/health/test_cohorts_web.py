"""The cohort builder's pages and JSON twins through the real app, on SQLite and PostgreSQL:
who may see what, the counts against the hand calculation, versions, and the audit trail."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from integrated_care.accounts import services
from integrated_care.runtime import Runtime
from tests.accounts.conftest import (  # noqa: F401 - the autouse fixture keeps hashing cheap
    PASSWORD,
    audit_rows,
    cheap_password_hashing,
    csrf_token,
    sign_in,
)
from tests.health.test_cohorts_population import EXPECTED, shared_cohort_data

BASE = "/population-health/cohorts"
HYP = "hypertension-no-bp-reading"


@pytest.fixture
def web(
    runtime: Runtime, client: TestClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The app over the hand-made warehouse and its marts, with an analyst, a finance user and
    a care professional (who may not see analytics)."""
    built = shared_cohort_data(tmp_path_factory).data_dir
    target = runtime.settings.ensure_data_dir()
    for name in ("warehouse.duckdb", "marts.duckdb"):
        shutil.copyfile(built / name, target / name)
    with runtime.transaction() as session:
        services.create_user(session, "ana.lyst", PASSWORD, ["analyst"], "QK1", "Ana Lyst")
        services.create_user(session, "fin.ance", PASSWORD, ["finance"], "QK1", "Fin Ance")
        services.create_user(
            session, "care.pro", PASSWORD, ["care_professional"], "QK1", "Care Pro"
        )
    yield client


def events(runtime: Runtime, **where: str) -> list:  # type: ignore[type-arg]
    with runtime.transaction() as session:
        return audit_rows(session, **where)


def test_an_analyst_sees_every_cohort_with_its_size(web: TestClient) -> None:
    sign_in(web, "ana.lyst")
    page = web.get(BASE)
    assert page.status_code == 200
    assert "Hypertension without a blood pressure reading in 12 months" in page.text
    listed = {c["name"]: c for c in web.get("/api/cohorts").json()}
    assert {n: c["members"] for n, c in listed.items()} == {
        n: len(people) for n, people in EXPECTED.items()
    }
    assert {c["population"] for c in listed.values()} == {29}
    assert {c["counted_from"] for c in listed.values()} == {"cohorts_mart"}
    assert listed[HYP]["rate_per_1000"] == round(3 / 29 * 1000, 2)


@pytest.mark.parametrize("user", ["fin.ance", "care.pro"])
def test_without_analytics_read_everything_is_refused(web: TestClient, user: str) -> None:
    sign_in(web, user)
    for path in (BASE, f"{BASE}/{HYP}", f"{BASE}/new", "/api/cohorts", f"/api/cohorts/{HYP}"):
        assert web.get(path).status_code == 403, path
    members = web.get(f"/api/cohorts/{HYP}/members")
    assert members.status_code == 403
    assert "patient_id" not in members.text


def test_signed_out_the_api_says_401(web: TestClient) -> None:
    assert web.get(f"/api/cohorts/{HYP}/members").status_code == 401
    assert web.get(BASE, follow_redirects=False).status_code in (303, 401)


def test_cohort_page_counts_by_pcn_and_practice_and_lists_members(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, "ana.lyst")
    page = web.get(f"{BASE}/{HYP}")
    assert page.status_code == 200
    text = page.text
    assert "cohort-by-pcn-spec" in text  # the Vega-Lite chart, with its table
    # By practice: A00001 1 of 14, A00002 0 of 5, B00001 2 of 10 (test_cohorts_population)
    cells = (
        r"Practice </span>[^<]*?(A0000\d|B0000\d)\)?</td>.*?People </span>(\d+)</td>.*?"
        r"Registered </span>(\d+)</td>.*?Per 1,000 </span>([\d.]+)</td>"
    )
    rows = re.findall(cells, text, flags=re.S)
    assert rows == [
        ("A00001", "1", "14", "71.43"),
        ("A00002", "0", "5", "0.0"),
        ("B00001", "2", "10", "200.0"),
    ]
    assert "Members 1 to 3 of 3" in text
    viewed = events(runtime, action="cohort.members.read")
    assert [(e.actor, e.record_id, e.detail["rows"]) for e in viewed] == [("ana.lyst", HYP, 3)]
    assert viewed[0].detail["path"] == f"{BASE}/{HYP}"


def test_api_detail_and_members(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, "ana.lyst")
    detail = web.get(f"/api/cohorts/{HYP}").json()
    assert (detail["members"], detail["population"]) == (3, 29)
    assert [(p["code"], p["members"], p["list_size"]) for p in detail["by_pcn"]] == [
        ("U00001", 1, 19),
        ("U00002", 2, 10),
    ]
    assert detail["definition"]["registers_all"] == ["hyp"]
    page = web.get(f"/api/cohorts/{HYP}/members", params={"page_size": 2, "page": 2}).json()
    assert (page["total"], page["pages"], page["page"]) == (3, 2, 2)
    assert [m["patient_id"] for m in page["members"]] == [16]
    assert page["members"][0]["age_band"] == "55-59"
    assert "last_blood_pressure" in page["columns"] and "age" not in page["members"][0]
    assert len(events(runtime, action="cohort.members.read")) == 1
    assert web.get("/api/cohorts/nope").status_code == 404


def _form(page_html: str, **fields: object) -> dict[str, object]:
    return {"csrf_token": csrf_token(page_html), **fields}


def test_define_save_and_version_a_cohort_through_the_form(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, "ana.lyst")
    form_page = web.get(f"{BASE}/new")
    assert form_page.status_code == 200 and 'name="registers_all"' in form_page.text
    fields = {
        "name": "smi-b",
        "title": "SMI at B00001",
        "registers_all": "mh",
        "practices": "b00001",
        "event_list_0": "smi_health_check",
        "event_rule_0": "lacks",
        "event_days_0": "365",
    }
    saved = web.post(f"{BASE}/new", data=_form(form_page.text, **fields), follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{BASE}/smi-b?version=1&saved=1"
    first = web.get(saved.headers["location"])
    assert "Saved as version 1" in first.text and "Members 1 to 1 of 1" in first.text

    fields["practices"] = "A00001 A00002"
    again = web.post(f"{BASE}/new", data=_form(first.text, **fields), follow_redirects=False)
    assert again.headers["location"] == f"{BASE}/smi-b?version=2&saved=1"
    versions = web.get("/api/cohorts/smi-b/versions").json()
    assert [(v["version"], v["saved_by"]) for v in versions] == [("1", "ana.lyst")] * 1 + [
        ("2", "ana.lyst")
    ]
    assert web.get("/api/cohorts/smi-b", params={"version": 1}).json()["members"] == 1  # 24
    assert web.get("/api/cohorts/smi-b").json()["members"] == 2  # 21, 22
    listed = {c["name"]: c for c in web.get("/api/cohorts").json()}
    assert listed["smi-b"]["counted_from"] == "live" and listed["smi-b"]["version"] == "2"
    saves = events(runtime, action="cohort.save")
    assert sorted(e.detail["version"] for e in saves) == [1, 2]


def test_form_errors_name_the_field(web: TestClient) -> None:
    sign_in(web, "ana.lyst")
    form_page = web.get(f"{BASE}/new")
    bad = web.post(
        f"{BASE}/new",
        data=_form(
            form_page.text,
            name="ok-name",
            title="Bad",
            age_min="seventy",
            event_list_0="not-a-list",
            event_days_0="30",
        ),
    )
    assert bad.status_code == 400
    assert "nhsuk-error-summary" in bad.text
    assert 'href="#age_min"' in bad.text and 'href="#event_list_0"' in bad.text
    assert "unknown code list &#39;not-a-list&#39;; valid values: medication_review" in bad.text
    assert 'value="ok-name"' in bad.text  # what was typed is kept


def test_form_needs_the_csrf_token(web: TestClient) -> None:
    sign_in(web, "ana.lyst")
    refused = web.post(f"{BASE}/new", data={"name": "x-y", "title": "T", "registers_all": "hyp"})
    assert refused.status_code == 403


def test_json_save_validates_and_versions(web: TestClient) -> None:
    sign_in(web, "ana.lyst")
    token = csrf_token(web.get(BASE).text)
    headers = {"X-CSRF-Token": token}
    body = {"name": "hyp-a", "title": "Hyp at A", "registers_all": ["hyp"], "pcns": ["U00001"]}
    created = web.post("/api/cohorts", json=body, headers=headers)
    assert created.status_code == 201 and created.json() == {
        "name": "hyp-a",
        "version": 1,
        "created": True,
    }
    same = web.post("/api/cohorts", json=body, headers=headers).json()
    assert same == {"name": "hyp-a", "version": 1, "created": False}
    wrong = web.post(
        "/api/cohorts", json={**body, "registers_all": ["hypertension"]}, headers=headers
    )
    assert wrong.status_code == 422
    [problem] = wrong.json()["detail"]
    assert problem["where"] == "body.registers_all"
    assert "valid values: ld, ob, hyp" in problem["problem"]
    shipped = web.post("/api/cohorts", json={**body, "name": HYP}, headers=headers)
    assert shipped.status_code == 400 and "shipped example" in shipped.json()["detail"]


def test_openapi_documents_the_cohort_api(web: TestClient) -> None:
    paths = web.get("/api/openapi.json").json()["paths"]
    assert {"/api/cohorts", "/api/cohorts/{name}", "/api/cohorts/{name}/members"} <= set(paths)
    assert "post" in paths["/api/cohorts"]


def test_a_whole_definition_error_points_at_its_field(web: TestClient) -> None:
    sign_in(web, "ana.lyst")
    form_page = web.get(f"{BASE}/new")
    bad = web.post(
        f"{BASE}/new",
        data=_form(form_page.text, name="ages", title="Ages", age_min="80", age_max="60"),
    )
    assert bad.status_code == 400
    assert 'href="#age_min"' in bad.text and "age_min is greater than age_max" in bad.text
