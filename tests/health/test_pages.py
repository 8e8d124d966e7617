"""The population-health pages and their JSON twins, over a small analysed synthetic ICS.

Every figure the pages show is checked against an independent pandas calculation from the
``patient_summary`` mart (not from the aggregate marts the pages read), the funnel limits against
a from-first-principles binomial/Poisson calculation and scipy, and access against the policy.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import typer
from scipy import stats
from typer.testing import CliRunner

from integrated_care.accounts.services import create_user
from integrated_care.health import cli, funnel
from integrated_care.health.inequalities import publishable
from integrated_care.settings import Settings
from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.warehouse.load import load
from tests.accounts.conftest import cheap_password_hashing  # noqa: F401  (autouse)

PASSWORD = "a-long-enough-password"
HEALTH_DATA = Path(__file__).resolve().parents[2] / "src" / "integrated_care" / "health" / "data"
QOF_ENGLAND = (
    Path(__file__).resolve().parents[2]
    / "src/integrated_care/reference/data/qof_prevalence_by_imd_decile_1920.csv"
)


# ---- a small analysed ICS, built once ----------------------------------------------------------


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding 4,000 synthetic people, loaded and analysed by `ics analyse`."""
    root = tmp_path_factory.mktemp("pages")
    generate(
        SynthConfig(icb="QK1", out=root / "extract", population=4000, years=1, seed=11),
        show_progress=False,
    )
    data = root / "ics-data"
    load(root / "extract", Settings(data_dir=data))
    app = typer.Typer()
    cli.register(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["analyse", "--quiet"], env={"ICS_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    return data


@pytest.fixture(scope="module")
def summary(analysed: Path) -> pd.DataFrame:
    with duckdb.connect(str(analysed / "marts.duckdb"), read_only=True) as con:
        return con.sql("select * from patient_summary").df()


@pytest.fixture(scope="module")
def inequalities_mart(analysed: Path) -> pd.DataFrame:
    with duckdb.connect(str(analysed / "marts.duckdb"), read_only=True) as con:
        return con.sql("select * from inequalities").df()


def _sign_in(client, runtime, username: str, *roles: str) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, username, PASSWORD, list(roles), "QK1")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text).group(1)
    client.post("/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": token})


@pytest.fixture
def analyst(client, runtime, analysed: Path) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A signed-in analyst's client over an app whose data folder holds the analysed marts."""
    data = runtime.settings.data_dir
    (data / "marts").mkdir(parents=True, exist_ok=True)
    shutil.copy2(analysed / "marts.duckdb", data / "marts.duckdb")
    shutil.copy2(analysed / "marts" / "manifest.json", data / "marts" / "manifest.json")
    _sign_in(client, runtime, "ana", "analyst")
    yield client


# ---- funnel limits -----------------------------------------------------------------------------


def _interpolated(cdf: list[float], q: float, n: float) -> float:
    """Spiegelhalter's interpolated quantile / n, walking a distribution function given as a
    list of cumulative probabilities F(0), F(1), ..."""
    r = next(k for k, f in enumerate(cdf) if f >= q)
    below = cdf[r - 1] if r > 0 else 0.0
    alpha = (cdf[r] - q) / (cdf[r] - below)
    return max((r - alpha) / n, 0.0)


def _cumulative(log_pmf, last: int) -> list[float]:  # type: ignore[no-untyped-def]
    out, total = [], 0.0
    for k in range(last + 1):
        total += math.exp(log_pmf(k))
        out.append(total)
    return out


def _binomial_cdf(n: int, p: float) -> list[float]:
    return _cumulative(
        lambda k: (
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * math.log(p)
            + (n - k) * math.log1p(-p)
        ),
        n,
    )


def _poisson_cdf(mu: float) -> list[float]:
    return _cumulative(
        lambda k: k * math.log(mu) - mu - math.lgamma(k + 1), int(mu + 20 * math.sqrt(mu) + 20)
    )


@pytest.mark.parametrize("p0", [0.005, 0.07, 0.14, 0.5])
@pytest.mark.parametrize("n", [20, 150, 1200, 8000])
def test_binomial_funnel_limits_match_a_first_principles_calculation(p0: float, n: int) -> None:
    limits = funnel.proportion_limits(p0, [n])
    cdf = _binomial_cdf(n, p0)
    expected = {
        "lower_95": _interpolated(cdf, 0.025, n),
        "upper_95": _interpolated(cdf, 0.975, n),
        "lower_998": _interpolated(cdf, 0.001, n),
        "upper_998": _interpolated(cdf, 0.999, n),
    }
    for name, value in expected.items():
        assert getattr(limits, name)[0] == pytest.approx(value, abs=1e-9), name
    # Between the whole-count quantiles scipy gives (interpolation moves at most one count).
    lo, hi = stats.binom.interval(0.95, n, p0)
    assert lo - 1 <= limits.lower_95[0] * n <= lo + 1e-9 or limits.lower_95[0] == 0
    assert hi - 1 <= limits.upper_95[0] * n <= hi + 1e-9


@pytest.mark.parametrize("r0", [0.002, 0.1, 0.6])
@pytest.mark.parametrize("n", [50, 900, 20000])
def test_poisson_funnel_limits_match_a_first_principles_calculation(r0: float, n: int) -> None:
    limits = funnel.rate_limits(r0, [n])
    cdf = _poisson_cdf(r0 * n)
    for name, q in (
        ("lower_95", 0.025),
        ("upper_95", 0.975),
        ("lower_998", 0.001),
        ("upper_998", 0.999),
    ):
        assert getattr(limits, name)[0] == pytest.approx(_interpolated(cdf, q, n), abs=1e-9)
    lo, hi = stats.poisson.interval(0.998, r0 * n)
    assert lo - 1 <= limits.lower_998[0] * n <= lo + 1e-9 or limits.lower_998[0] == 0
    assert hi - 1 <= limits.upper_998[0] * n <= hi + 1e-9


def test_large_lists_converge_on_the_normal_approximation() -> None:
    p0, n = 0.14, np.array([50_000.0, 200_000.0])
    limits = funnel.proportion_limits(p0, n)
    se = np.sqrt(p0 * (1 - p0) / n)
    z95, z998 = stats.norm.ppf(0.975), stats.norm.ppf(0.999)
    assert np.allclose(limits.upper_95, p0 + z95 * se, atol=0.02 * z95 * se)
    assert np.allclose(limits.lower_998, p0 - z998 * se, atol=0.02 * z998 * se)


def test_points_are_classified_against_both_limits() -> None:
    args = (10.0, 20.0, 5.0, 25.0)  # lower 95, upper 95, lower 99.8, upper 99.8
    assert funnel.classify(26, *args) == "high_998"
    assert funnel.classify(21, *args) == "high_95"
    assert funnel.classify(20, *args) == "within"  # on the limit is within it
    assert funnel.classify(15, *args) == "within"
    assert funnel.classify(9, *args) == "low_95"
    assert funnel.classify(4, *args) == "low_998"


def test_limits_reject_impossible_inputs() -> None:
    with pytest.raises(ValueError):
        funnel.proportion_limits(1.5, [100])
    with pytest.raises(ValueError):
        funnel.rate_limits(0.1, [0])


# ---- overview ----------------------------------------------------------------------------------


def _register_rules() -> dict[str, dict[str, str]]:
    with (HEALTH_DATA / "register_rules.csv").open() as f:
        return {r["qof_group"]: r for r in csv.DictReader(f)}


def test_overview_figures_equal_a_calculation_from_patient_summary(analyst, summary) -> None:  # type: ignore[no-untyped-def]
    body = analyst.get("/api/population-health").json()
    assert body["headline"]["registered"] == len(summary)
    assert body["headline"]["practices"] == summary["practice_code"].nunique()
    in_a_pcn = summary["pcn_code"] != summary["place_code"]  # else the parent is the place
    assert body["headline"]["pcns"] == summary.loc[in_a_pcn, "pcn_code"].nunique()
    assert body["headline"]["as_of"] == str(summary["as_of"].max().date())
    assert body["headline"]["built_at"]

    rules = _register_rules()
    with QOF_ENGLAND.open() as f:
        england = {r["qof_group"]: float(r["england_pct"]) for r in csv.DictReader(f)}
    assert body["national_source"]["year"] == "2019/20"
    assert len(body["registers"]) == 21
    for reg in body["registers"]:
        rule = rules[reg["qof_group"]]
        in_age = summary["age"].between(int(rule["den_min_age"]), int(rule["den_max_age"]))
        numerator = int(summary[rule["condition"]].fillna(False).sum())
        assert reg["numerator"] == numerator, reg["qof_group"]
        assert reg["denominator"] == int(in_age.sum()), reg["qof_group"]
        assert reg["prevalence_pct"] == pytest.approx(numerator / in_age.sum() * 100)
        assert reg["england_pct"] == england[reg["qof_group"]]

    by_segment = summary.groupby("segment").agg(
        people=("patient_id", "size"),
        cost=("cost_12m", "sum"),
        admissions=("emergency_admissions_12m", "sum"),
    )
    assert [s["segment_rank"] for s in body["segments"]] == list(range(1, 9))
    for seg in body["segments"]:
        if seg["people"] == 0:
            assert seg["segment"] not in by_segment.index
            continue
        row = by_segment.loc[seg["segment"]]
        assert seg["people"] == row.people
        assert seg["cost_12m"] == pytest.approx(row.cost)
        assert seg["emergency_admissions_per_1000"] == pytest.approx(
            row.admissions / row.people * 1000,
            abs=0.05,  # the mart gives one decimal
        )

    bands = summary["risk_band"].value_counts()
    assert {b["risk_band"]: b["people"] for b in body["risk_bands"]} == bands.to_dict()
    counts, _ = np.histogram(summary["risk_score"], bins=np.arange(0, 1.0001, 0.02))
    shown = [b["people"] for b in body["risk_histogram"]]
    assert shown == list(counts[: len(shown)]) and counts[len(shown) :].sum() == 0
    assert sum(shown) == len(summary)

    efi = summary["efi_category"].value_counts()
    assert {c["efi_category"]: c["people"] for c in body["efi_categories"]} == {
        c: int(efi.get(c, 0)) for c in ("fit", "mild", "moderate", "severe")
    }
    pyramid = {(r["age_band"], r["sex"]): r["registered"] for r in body["population"]["by_age_sex"]}
    assert pyramid[("40-44", "female")] == int(
        ((summary.sex == "female") & summary.age.between(40, 44)).sum()
    )
    assert pyramid[("90+", "male")] == int(((summary.sex == "male") & (summary.age >= 90)).sum())


def test_overview_page_shows_the_figures_and_links(analyst, summary) -> None:  # type: ignore[no-untyped-def]
    page = analyst.get("/population-health")
    assert page.status_code == 200
    html = page.text
    assert f"{len(summary):,}" in html
    assert "Register prevalence: ICS and England" in html
    assert "QOF 2019/20" in html
    for chart in (
        "ph-pyramid",
        "ph-registers",
        "ph-segment-people",
        "ph-risk-bands",
        "ph-risk-histogram",
        "ph-efi",
    ):
        assert f'id="{chart}-spec"' in html, chart
    for link in (
        "/population-health/practices",
        "/population-health/inequalities",
        "/population-health/cohorts",
    ):
        assert f'href="{link}"' in html
    assert 'href="/population-health"' in html  # the menu item
    assert "patient_id" not in html


def test_marts_built_without_the_risk_model_say_so(analyst, runtime) -> None:  # type: ignore[no-untyped-def]
    with duckdb.connect(str(runtime.settings.data_dir / "marts.duckdb")) as con:
        con.execute("drop table risk")
        con.execute("update patient_summary set risk_score = null, risk_band = null")
    body = analyst.get("/api/population-health").json()
    assert body["risk_bands"] == [] and body["risk_histogram"] == []
    html = analyst.get("/population-health").text
    assert "The risk model was not run" in html
    assert 'id="ph-risk-bands-spec"' not in html and 'id="ph-efi-spec"' in html


# ---- practices and PCNs ------------------------------------------------------------------------


def test_practice_funnels_equal_a_calculation_from_patient_summary(analyst, summary) -> None:  # type: ignore[no-untyped-def]
    body = analyst.get("/api/population-health/practices", params={"register": "dm"}).json()
    assert body["selected"]["qof_group"] == "DM"
    adults = summary[summary.age >= 17]  # the diabetes denominator: 17 and over
    p0 = adults["dm"].sum() / len(adults)
    funnel_ = body["prevalence_by_practice"]
    assert funnel_["target"] == pytest.approx(p0 * 100)
    grouped = adults.groupby("practice_code").agg(num=("dm", "sum"), den=("dm", "size"))
    points = {p["area_code"]: p for p in funnel_["points"]}
    assert set(points) == set(grouped.index)
    for code, row in grouped.iterrows():
        point = points[code]
        assert (point["numerator"], point["denominator"]) == (row.num, row.den)
        assert point["value"] == pytest.approx(row.num / row.den * 100)
        lo, hi = stats.binom.interval(0.95, int(row.den), p0)
        assert (lo - 1) / row.den * 100 - 1e-9 <= point["lower_95"] <= lo / row.den * 100 + 1e-9
        assert (hi - 1) / row.den * 100 - 1e-9 <= point["upper_95"] <= hi / row.den * 100 + 1e-9
        assert point["flag"] == funnel.classify(
            point["value"],
            point["lower_95"],
            point["upper_95"],
            point["lower_998"],
            point["upper_998"],
        )
    # A practice in no PCN is a practice point but in no PCN's point.
    in_pcns = adults[adults.pcn_code.notna()]
    assert 0 < len(in_pcns) < len(adults)
    assert sum(p["denominator"] for p in body["prevalence_by_pcn"]["points"]) == len(in_pcns)

    rate = body["admissions_by_practice"]
    overall = summary["emergency_admissions_12m"].sum() / len(summary)
    assert rate["target"] == pytest.approx(overall * 1000)
    per_practice = summary.groupby("practice_code").agg(
        events=("emergency_admissions_12m", "sum"), people=("patient_id", "size")
    )
    for p in rate["points"]:
        row = per_practice.loc[p["area_code"]]
        assert (p["numerator"], p["denominator"]) == (row.events, row.people)
        assert p["value"] == pytest.approx(row.events / row.people * 1000)
        assert p["area_name"] != p["area_code"]  # named from the footprint


def test_practices_page_compares_the_chosen_register(analyst) -> None:  # type: ignore[no-untyped-def]
    html = analyst.get("/population-health/practices?register=COPD").text
    assert "<h1>Practices and PCNs: Chronic obstructive pulmonary disease</h1>" in html
    assert '<option value="COPD" selected>' in html
    for chart in ("funnel-practice", "funnel-pcn", "funnel-admissions-practice"):
        assert f'id="{chart}-spec"' in html
    assert "Exact binomial limits" in html
    default = analyst.get("/population-health/practices").text
    assert '<option value="HYP" selected>' in default


def test_unknown_register_is_not_found(analyst) -> None:  # type: ignore[no-untyped-def]
    assert analyst.get("/api/population-health/practices?register=XYZ").status_code == 404
    assert analyst.get("/population-health/practices?register=XYZ").status_code == 404


# ---- inequalities ------------------------------------------------------------------------------


def test_inequalities_are_the_published_mart(analyst, inequalities_mart, summary) -> None:  # type: ignore[no-untyped-def]
    body = analyst.get("/api/population-health/inequalities").json()
    published = publishable(inequalities_mart)
    assert len(body["rows"]) == len(published)
    raw = inequalities_mart.set_index(["indicator", "group_type", "group", "statistic"])
    for row in body["rows"]:
        key = (row["indicator"], row["group_type"], row["group"], row["statistic"])
        source = raw.loc[key]
        n = source["numerator"]
        if pd.notna(n) and 1 <= n <= 7:  # small numbers are suppressed, with their rates
            assert row["numerator"] is None and row["value"] is None
            assert row["note"] == "suppressed: fewer than 8"
        elif pd.notna(n):
            assert row["numerator"] == int(np.floor(n / 5 + 0.5) * 5)
            if pd.notna(source["value"]):
                assert row["value"] == pytest.approx(source["value"])

    # Crude emergency admission rates by IMD quintile, recomputed from patient_summary.
    quintile = (summary["imd_decile"] + 1) // 2
    for q, frame in summary.groupby(quintile):
        row = next(
            r
            for r in body["rows"]
            if r["indicator"] == "emergency_admissions"
            and r["group_type"] == "imd_quintile"
            and r["group"] == str(int(q))
        )
        assert row["crude_rate"] == pytest.approx(
            frame["emergency_admissions_12m"].sum() / len(frame) * 100_000
        )

    # The all-ages DSR, recomputed with the ESP 2013 weights.
    esp = pd.read_csv(HEALTH_DATA / "esp2013.csv")
    band = np.minimum(summary["age"] // 5, 18)
    events = summary.groupby(band)["emergency_admissions_12m"].sum()
    people = summary.groupby(band).size()
    weights = esp["weight"].to_numpy(float)
    rates = np.array([events.get(i, 0) / people[i] if i in people else 0.0 for i in range(19)])
    dsr = (weights * rates).sum() / weights.sum() * 100_000
    admissions = next(i for i in body["indicators"] if i["indicator"] == "emergency_admissions")
    assert admissions["overall"]["value"] == pytest.approx(dsr)
    assert admissions["sii"]["statistic"] == "sii"
    assert not next(i for i in body["indicators"] if i["indicator"] == "early_cancer_diagnosis")[
        "supported"
    ]


def test_inequalities_page_charts_each_breakdown(analyst) -> None:  # type: ignore[no-untyped-def]
    html = analyst.get("/population-health/inequalities?indicator=emergency_admissions").text
    for breakdown in ("imd_quintile", "ethnic_group", "place", "plus_group"):
        assert f'id="inequality-{breakdown}-spec"' in html
    assert '<option value="emergency_admissions" selected>' in html
    assert "Slope index of inequality" in html
    assert "not supported by the data" in html
    assert analyst.get("/population-health/inequalities?indicator=nonsense").status_code == 404


# ---- access ------------------------------------------------------------------------------------

PAGES = ["/population-health", "/population-health/practices", "/population-health/inequalities"]
APIS = [
    "/api/population-health",
    "/api/population-health/practices",
    "/api/population-health/inequalities",
]


def test_signed_out_people_are_sent_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    for path in PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in?next=")
    for path in APIS:
        assert client.get(path).status_code == 401


def test_users_without_analytics_read_are_refused(client, runtime) -> None:  # type: ignore[no-untyped-def]
    _sign_in(client, runtime, "fin", "finance")
    for path in PAGES + APIS:
        assert client.get(path).status_code == 403, path
    assert 'href="/population-health"' not in client.get("/").text


def test_every_look_is_audited(analyst, runtime) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from integrated_care.accounts.models import AuditEvent

    analyst.get("/population-health/practices?register=AF")
    with runtime.sessions() as session:
        looks = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "analytics.view")
        ).all()
    assert [(e.actor, e.record_id, e.detail["register"]) for e in looks] == [
        ("ana", "practices", "AF")
    ]


def test_before_ics_analyse_the_pages_say_what_to_run(client, runtime) -> None:  # type: ignore[no-untyped-def]
    _sign_in(client, runtime, "early", "analyst")
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200
        assert "have not been built yet" in page.text and "ics analyse" in page.text
    for path in APIS:
        response = client.get(path)
        assert response.status_code == 404
        assert "ics analyse" in response.json()["detail"]


def test_json_twins_are_in_the_openapi_document(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in APIS:
        assert "get" in paths[path], path
