"""The footprint's pages and their JSON twins under /api/footprint.

The footprint is public information, so only the validation report (an administrator's tool)
needs a signed-in user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import audit_request
from integrated_care.accounts.policy import Principal, require
from integrated_care.footprint import services
from integrated_care.footprint.charts import (
    imd_decile_chart,
    organisations_chart,
    pcn_size_chart,
    population_chart,
)
from integrated_care.footprint.models import ORG_TYPES, SECTORS
from integrated_care.footprint.schemas import (
    ORG_TYPE_LABELS,
    ORG_TYPE_NOUNS,
    PCN_BAND,
    SECTOR_LABELS,
    Finding,
    FootprintOverview,
    OrganisationDetail,
    OrganisationSummary,
    PcnDetail,
    PlaceDetail,
    PracticeDetail,
)
from integrated_care.health.charts import place_chart, pyramid_chart, quintile_chart
from integrated_care.health.population import population_profile
from integrated_care.web.templating import render

router = APIRouter()

# The same vocabularies the store enforces (footprint.models), so the API cannot drift from them.
Sector = Literal[SECTORS]  # type: ignore[valid-type]
OrgType = Literal[ORG_TYPES]  # type: ignore[valid-type]
NOT_BUILT = "No footprint has been built yet: run `ics footprint --icb CODE` or `ics demo`."


@contextmanager
def _session(request: Request) -> Iterator[Session]:
    with request.app.state.runtime.sessions() as session:
        yield session


def _found(value: Any, what: str, code: str) -> Any:
    if value is None:
        raise HTTPException(status_code=404, detail=f"There is no {what} with code {code}.")
    return value


def _overview(session: Session) -> FootprintOverview:
    found = services.overview(session)
    if found is None:
        raise HTTPException(status_code=404, detail=NOT_BUILT)
    return found


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"text": text, "href": href} for text, href in (("Home", "/"), *pairs)]


LABELS = {
    "sector_labels": SECTOR_LABELS,
    "type_labels": ORG_TYPE_LABELS,
    "type_nouns": ORG_TYPE_NOUNS,
    "pcn_band": PCN_BAND,
}


# ---- pages -------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> HTMLResponse:
    with _session(request) as session:
        found = services.overview(session)
    if found is None:
        return render(request, "footprint/not_built.html", {"page_title": "Get started"})
    population = population_profile(request.app.state.runtime.settings)
    return render(
        request,
        "footprint/home.html",
        {
            **LABELS,
            "page_title": found.system.name,
            "overview": found,
            "population_chart": population_chart(found.places),
            "organisations_chart": organisations_chart(found.sectors),
            "population": population,
            "pyramid_chart": pyramid_chart(population) if population else None,
            "registered_place_chart": place_chart(population) if population else None,
            "quintile_chart": quintile_chart(population) if population else None,
        },
    )


@router.get("/footprint", response_class=HTMLResponse, include_in_schema=False)
def system_page(request: Request) -> HTMLResponse:
    with _session(request) as session:
        found = _overview(session)
    return render(
        request,
        "footprint/system.html",
        {
            **LABELS,
            "page_title": "Footprint",
            "overview": found,
            "population_chart": population_chart(found.places),
            "breadcrumbs": _crumbs(("Footprint", "/footprint")),
        },
    )


@router.get("/footprint/places/{code}", response_class=HTMLResponse, include_in_schema=False)
def place_page(request: Request, code: str) -> HTMLResponse:
    with _session(request) as session:
        place = _found(services.get_place(session, code), "place", code)
    return render(
        request,
        "footprint/place.html",
        {
            **LABELS,
            "page_title": place.name,
            "place": place,
            "pcn_chart": pcn_size_chart(place.pcns) if place.pcns else None,
            "imd_chart": imd_decile_chart(place.imd_deciles),
            "breadcrumbs": _crumbs(
                ("Footprint", "/footprint"), (place.name, f"/footprint/places/{place.code}")
            ),
        },
    )


@router.get("/footprint/pcns/{code}", response_class=HTMLResponse, include_in_schema=False)
def pcn_page(request: Request, code: str) -> HTMLResponse:
    with _session(request) as session:
        pcn = _found(services.get_pcn(session, code), "primary care network", code)
    return render(
        request,
        "footprint/pcn.html",
        {
            **LABELS,
            "page_title": pcn.name,
            "pcn": pcn,
            "breadcrumbs": _crumbs(
                ("Footprint", "/footprint"),
                (pcn.place_name, f"/footprint/places/{pcn.place_code}"),
                (pcn.name, f"/footprint/pcns/{pcn.code}"),
            ),
        },
    )


@router.get("/footprint/practices/{code}", response_class=HTMLResponse, include_in_schema=False)
def practice_page(request: Request, code: str) -> HTMLResponse:
    with _session(request) as session:
        practice = _found(services.get_practice(session, code), "GP practice", code)
    crumbs = [
        ("Footprint", "/footprint"),
        (practice.place_name, f"/footprint/places/{practice.place_code}"),
    ]
    if practice.pcn_code:
        crumbs.append(
            (practice.pcn_name or practice.pcn_code, f"/footprint/pcns/{practice.pcn_code}")
        )
    crumbs.append((practice.name, f"/footprint/practices/{practice.code}"))
    return render(
        request,
        "footprint/practice.html",
        {
            **LABELS,
            "page_title": practice.name,
            "practice": practice,
            "breadcrumbs": _crumbs(*crumbs),
        },
    )


@router.get("/footprint/organisations", response_class=HTMLResponse, include_in_schema=False)
def organisations_page(
    request: Request, sector: str | None = None, org_type: str | None = None
) -> HTMLResponse:
    # The filter form sends empty strings for "all".
    sector, org_type = sector or None, org_type or None
    if sector not in (None, *SECTOR_LABELS) or org_type not in (None, *ORG_TYPE_LABELS):
        raise HTTPException(status_code=400, detail="Choose a sector and type from the lists.")
    with _session(request) as session:
        _overview(session)
        orgs = services.list_organisations(session, sector=sector, org_type=org_type)
        sectors = services.organisations_by_sector(session)
    return render(
        request,
        "footprint/organisations.html",
        {
            **LABELS,
            "page_title": "Member organisations",
            "organisations": orgs,
            "sectors": sectors,
            "sector": sector,
            "org_type": org_type,
            "breadcrumbs": _crumbs(
                ("Footprint", "/footprint"), ("Member organisations", "/footprint/organisations")
            ),
        },
    )


@router.get("/footprint/organisations/{code}", response_class=HTMLResponse, include_in_schema=False)
def organisation_page(request: Request, code: str) -> HTMLResponse:
    with _session(request) as session:
        org = _found(services.get_organisation(session, code), "organisation", code)
    return render(
        request,
        "footprint/organisation.html",
        {
            **LABELS,
            "page_title": org.name,
            "org": org,
            "breadcrumbs": _crumbs(
                ("Footprint", "/footprint"),
                ("Member organisations", "/footprint/organisations"),
                (org.name, f"/footprint/organisations/{org.org_code}"),
            ),
        },
    )


# ---- JSON --------------------------------------------------------------------------------------


@router.get(
    "/api/footprint",
    tags=["footprint"],
    response_model=FootprintOverview,
    summary="The ICS: population, places, and member organisations by sector",
)
def api_footprint(request: Request) -> FootprintOverview:
    with _session(request) as session:
        return _overview(session)


@router.get(
    "/api/footprint/places/{code}",
    tags=["footprint"],
    response_model=PlaceDetail,
    summary="A place: its PCNs, councils, partners and the deprivation of its LSOAs",
)
def api_place(request: Request, code: str) -> PlaceDetail:
    with _session(request) as session:
        return _found(services.get_place(session, code), "place", code)


@router.get(
    "/api/footprint/pcns/{code}",
    tags=["footprint"],
    response_model=PcnDetail,
    summary="A primary care network: clinical director, size and member practices",
)
def api_pcn(request: Request, code: str) -> PcnDetail:
    with _session(request) as session:
        return _found(services.get_pcn(session, code), "primary care network", code)


@router.get(
    "/api/footprint/practices/{code}",
    tags=["footprint"],
    response_model=PracticeDetail,
    summary="A GP practice: its PCN, place and registered list",
)
def api_practice(request: Request, code: str) -> PracticeDetail:
    with _session(request) as session:
        return _found(services.get_practice(session, code), "GP practice", code)


@router.get(
    "/api/footprint/organisations",
    tags=["footprint"],
    response_model=list[OrganisationSummary],
    summary="Member organisations, optionally of one sector and/or type",
)
def api_organisations(
    request: Request,
    sector: Sector | None = Query(None, description="nhs, local_government, voluntary, private"),
    org_type: OrgType | None = Query(None, description="e.g. acute_trust, pcn, vcse"),
) -> list[OrganisationSummary]:
    with _session(request) as session:
        return services.list_organisations(session, sector=sector, org_type=org_type)


@router.get(
    "/api/footprint/organisations/{code}",
    tags=["footprint"],
    response_model=OrganisationDetail,
    summary="One organisation with its parent and place",
)
def api_organisation(request: Request, code: str) -> OrganisationDetail:
    with _session(request) as session:
        return _found(services.get_organisation(session, code), "organisation", code)


# ---- validation (administrators) -----------------------------------------------------------


def _validation(request: Request) -> list[Finding]:
    with request.app.state.runtime.sessions() as session, session.begin():
        _overview(session)
        findings = services.validate_footprint(session)
        audit_request(
            request,
            session,
            action="footprint.validate",
            record_type="footprint",
            detail={
                "errors": sum(f.severity == "error" for f in findings),
                "warnings": sum(f.severity == "warning" for f in findings),
            },
        )
    return findings


@router.get(
    "/api/footprint/validation",
    tags=["footprint"],
    summary="Validation findings for the footprint (administrators)",
    response_model=list[Finding],
)
def validation_api(
    request: Request, _: Principal = Depends(require("footprint:manage"))
) -> list[Finding]:
    return _validation(request)


@router.get("/footprint/validation", response_class=HTMLResponse, include_in_schema=False)
def validation_page(
    request: Request, _: Principal = Depends(require("footprint:manage"))
) -> HTMLResponse:
    findings = _validation(request)
    return render(
        request,
        "footprint/validation.html",
        {
            "page_title": "Footprint validation",
            "errors": [f for f in findings if f.severity == "error"],
            "warnings": [f for f in findings if f.severity == "warning"],
            "breadcrumbs": _crumbs(("Footprint", "/footprint"), ("Validation", "")),
        },
    )
