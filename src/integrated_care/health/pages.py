"""The population-health pages for analysts, and their JSON twins under /api/population-health.

Pseudonymised aggregates only (permission ``analytics:read``): counts and rates per register,
segment, band, area and group, never a row about a person. Every look is audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from integrated_care.accounts.audit import audit_request
from integrated_care.accounts.policy import Principal, require
from integrated_care.health import views, views_inequalities, views_practices
from integrated_care.health.charts import pyramid_chart
from integrated_care.health.charts_comparison import error_bar_chart, funnel_chart
from integrated_care.health.charts_overview import (
    efi_chart,
    registers_chart,
    risk_band_chart,
    risk_histogram_chart,
    segment_charts,
)
from integrated_care.health.marts import MartsNotBuilt
from integrated_care.health.page_schemas import (
    InequalitiesView,
    PopulationHealthOverview,
    PracticeComparison,
)
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render

router = APIRouter()
register_nav_item(NavItem("Population health", "/population-health", "analytics:read"))

PERMISSION = "analytics:read"
NOT_BUILT = "The population-health marts have not been built yet: run `ics analyse`."
TAGS = ["population health"]
BREAKDOWNS = (
    ("imd_quintile", "By deprivation (IMD 2019 quintile of where people live)"),
    ("ethnic_group", "By ethnic group"),
    ("place", "By place"),
    ("plus_group", "PLUS groups"),
)
SUB_PAGES = [
    {"href": "/population-health", "text": "Overview"},
    {"href": "/population-health/practices", "text": "Practices and PCNs"},
    {"href": "/population-health/inequalities", "text": "Inequalities"},
    {"href": "/population-health/cohorts", "text": "Case-finding cohorts"},
]


def _audit(request: Request, page: str, **detail: Any) -> None:
    with request.app.state.runtime.transaction() as session:
        audit_request(
            request,
            session,
            action="analytics.view",
            record_type="population_health",
            record_id=page,
            detail=detail or None,
        )


def _names(request: Request) -> views.AreaNames:
    with request.app.state.runtime.sessions() as session:
        return views.area_names(session)


def _settings(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.runtime.settings


def _crumbs(current: str | None = None) -> list[dict[str, str]]:
    crumbs = [
        {"text": "Home", "href": "/"},
        {"text": "Population health", "href": "/population-health"},
    ]
    return crumbs + ([{"text": current, "href": ""}] if current else [])


def _not_built(request: Request, title: str) -> HTMLResponse:
    return render(
        request,
        "population_health/not_built.html",
        {
            "page_title": title,
            "breadcrumbs": _crumbs(None if title == "Population health" else title),
        },
    )


def _page(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    section = [{**p, "current": p["href"] == context["current"]} for p in SUB_PAGES]
    return render(request, f"population_health/{name}", {"section_pages": section, **context})


# ---- overview ----------------------------------------------------------------------------------


def _overview(request: Request) -> PopulationHealthOverview:
    return views.overview(_settings(request), _names(request))


@router.get(
    "/api/population-health",
    tags=TAGS,
    summary="Population-health overview: registers against England, segments, risk, frailty",
    response_model=PopulationHealthOverview,
    responses={404: {"description": NOT_BUILT}},
)
def overview_api(
    request: Request, _: Principal = Depends(require(PERMISSION))
) -> PopulationHealthOverview:
    try:
        found = _overview(request)
    except MartsNotBuilt as exc:
        raise HTTPException(404, NOT_BUILT) from exc
    _audit(request, "overview")
    return found


@router.get("/population-health", response_class=HTMLResponse, include_in_schema=False)
def overview_page(request: Request, _: Principal = Depends(require(PERMISSION))) -> HTMLResponse:
    try:
        found = _overview(request)
    except MartsNotBuilt:
        return _not_built(request, "Population health")
    _audit(request, "overview")
    year = found.national_source.year
    return _page(
        request,
        "overview.html",
        {
            "page_title": "Population health",
            "breadcrumbs": _crumbs(),
            "current": "/population-health",
            "o": found,
            "pyramid_chart": pyramid_chart(found.population),
            "registers_chart": registers_chart(found.registers, year),
            "segment_charts": segment_charts(found.segments) if found.segments else None,
            "risk_band_chart": risk_band_chart(found.risk_bands) if found.risk_bands else None,
            "risk_histogram_chart": risk_histogram_chart(found.risk_histogram)
            if found.risk_histogram
            else None,
            "efi_chart": efi_chart(found.efi_categories),
        },
    )


# ---- practices and PCNs ------------------------------------------------------------------------


def _comparison(request: Request, register: str | None) -> PracticeComparison:
    found = views_practices.practice_comparison(_settings(request), register, _names(request))
    if found is None:
        raise HTTPException(404, f"There is no QOF register {register!r} in the marts.")
    return found


RegisterQuery = Query(
    None, max_length=8, description="QOF group code, e.g. HYP, DM, COPD (default HYP)"
)


@router.get(
    "/api/population-health/practices",
    tags=TAGS,
    summary="Practices and PCNs against the ICS mean: register prevalence and emergency "
    "admissions, with funnel-plot control limits",
    response_model=PracticeComparison,
    responses={404: {"description": NOT_BUILT}},
)
def practices_api(
    request: Request,
    register: str | None = RegisterQuery,
    _: Principal = Depends(require(PERMISSION)),
) -> PracticeComparison:
    try:
        found = _comparison(request, register)
    except MartsNotBuilt as exc:
        raise HTTPException(404, NOT_BUILT) from exc
    _audit(request, "practices", register=found.selected.qof_group)
    return found


@router.get("/population-health/practices", response_class=HTMLResponse, include_in_schema=False)
def practices_page(
    request: Request,
    register: str | None = RegisterQuery,
    _: Principal = Depends(require(PERMISSION)),
) -> HTMLResponse:
    title = "Practices and PCNs"
    try:
        found = _comparison(request, register)
    except MartsNotBuilt:
        return _not_built(request, title)
    _audit(request, "practices", register=found.selected.qof_group)
    prevalence_title = f"Registered people ({found.selected.label} denominator)"
    return _page(
        request,
        "practices.html",
        {
            "page_title": f"{title}: {found.selected.label}",
            "breadcrumbs": _crumbs(title),
            "current": "/population-health/practices",
            "c": found,
            "funnels": [
                (
                    found.prevalence_by_practice,
                    "practice",
                    "Practice",
                    funnel_chart(found.prevalence_by_practice, prevalence_title),
                ),
                (
                    found.prevalence_by_pcn,
                    "pcn",
                    "PCN",
                    funnel_chart(found.prevalence_by_pcn, prevalence_title),
                ),
                (
                    found.admissions_by_practice,
                    "admissions-practice",
                    "Practice",
                    funnel_chart(found.admissions_by_practice, "Registered people"),
                ),
                (
                    found.admissions_by_pcn,
                    "admissions-pcn",
                    "PCN",
                    funnel_chart(found.admissions_by_pcn, "Registered people"),
                ),
            ],
        },
    )


# ---- inequalities ------------------------------------------------------------------------------


def _inequalities(request: Request) -> InequalitiesView:
    found = views_inequalities.inequalities_view(_settings(request), _names(request))
    if found is None:
        raise MartsNotBuilt("no inequalities mart")
    return found


@router.get(
    "/api/population-health/inequalities",
    tags=TAGS,
    summary="Core20PLUS5: age-standardised rates with 95% CIs by deprivation, ethnic group, "
    "place and PLUS group, and the slope index of inequality (small numbers suppressed)",
    response_model=InequalitiesView,
    responses={404: {"description": NOT_BUILT}},
)
def inequalities_api(
    request: Request, _: Principal = Depends(require(PERMISSION))
) -> InequalitiesView:
    try:
        found = _inequalities(request)
    except MartsNotBuilt as exc:
        raise HTTPException(404, NOT_BUILT) from exc
    _audit(request, "inequalities")
    return found


@router.get("/population-health/inequalities", response_class=HTMLResponse, include_in_schema=False)
def inequalities_page(
    request: Request,
    indicator: str | None = Query(None, max_length=60, description="Which indicator to chart"),
    _: Principal = Depends(require(PERMISSION)),
) -> HTMLResponse:
    title = "Inequalities"
    try:
        found = _inequalities(request)
    except MartsNotBuilt:
        return _not_built(request, title)
    supported = [i for i in found.indicators if i.supported]
    chosen = next((i for i in supported if i.indicator == indicator), None)
    if chosen is None:
        if indicator is not None:
            raise HTTPException(404, f"There is no charted indicator {indicator!r}.")
        chosen = supported[0] if supported else None
    _audit(request, "inequalities", indicator=chosen.indicator if chosen else None)
    charts = []
    if chosen is not None:
        value_title = f"{chosen.label} ({chosen.unit})"
        for group_type, heading in BREAKDOWNS:
            rows = [
                r
                for r in found.rows
                if r.indicator == chosen.indicator and r.group_type == group_type
            ]
            if rows:
                charts.append(
                    (group_type, heading, error_bar_chart(rows, chosen.overall, value_title))
                )
    return _page(
        request,
        "inequalities.html",
        {
            "page_title": title,
            "breadcrumbs": _crumbs(title),
            "current": "/population-health/inequalities",
            "v": found,
            "chosen": chosen,
            "supported": supported,
            "charts": charts,
            "plus_definitions": views_inequalities.plus_group_definitions(),
            "plus_labels": views_inequalities.PLUS_LABELS,
        },
    )
