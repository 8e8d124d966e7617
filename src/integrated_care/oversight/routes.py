"""Oversight pages: the system dashboard, a page per provider and per place, the triple-aim
scorecard, and the public performance page, each with its JSON twin under /api/. They read the
stored ``oversight_standards`` mart only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from integrated_care.accounts.audit import audit_request
from integrated_care.accounts.policy import Principal, require
from integrated_care.oversight import charts
from integrated_care.oversight.marts import OversightNotBuilt, oversight_manifest, read_standards
from integrated_care.oversight.scorecard import Scorecard, population_health, scorecard
from integrated_care.oversight.spc import ICON_TEXT
from integrated_care.oversight.views import OversightView, codes_at, oversight_view, system_code
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render

router = APIRouter()
register_nav_item(NavItem("Oversight", "/oversight", "oversight:read"))
register_nav_item(NavItem("Performance", "/performance"))
TAGS = ["oversight"]
NOT_BUILT = "No oversight figures yet: run `ics oversight build` (after `ics load`)."


def _rows(request: Request) -> list[dict[str, Any]] | None:
    try:
        return read_standards(request.app.state.runtime.settings)
    except OversightNotBuilt:
        return None


def _names(request: Request) -> dict[str, str]:
    """Organisation and place names by code."""
    from integrated_care.footprint.services import list_organisations, list_places

    with request.app.state.runtime.sessions() as session:
        names = {p.code: p.name for p in list_places(session)}
        return names | {o.org_code: o.name for o in list_organisations(session)}


def _audit(request: Request, page: str) -> None:
    with request.app.state.runtime.transaction() as session:
        audit_request(
            request, session, action="oversight.view", record_type="oversight", record_id=page
        )


def _system(request: Request, compare: bool) -> OversightView | None:
    rows = _rows(request)
    code = system_code(rows) if rows else None
    if rows is None or code is None:
        return None
    return oversight_view(rows, "system", code, _names(request), compare=compare)


def _one(request: Request, level: str, code: str) -> OversightView:
    """One provider's or place's view; 404 naming the code when it has no figures."""
    rows = _rows(request)
    if rows is None:
        raise HTTPException(404, NOT_BUILT)
    found = oversight_view(rows, level, code, _names(request))
    if found is None:
        raise HTTPException(404, f"No activity is recorded for {level} {code}.")
    return found


def _context(request: Request, view: OversightView | None, title: str) -> dict[str, Any]:
    crumbs = [{"text": "Home", "href": "/"}]
    if view is None:
        return {"page_title": title, "view": None, "breadcrumbs": crumbs, "not_built": NOT_BUILT}
    figures = [
        {
            "m": m,
            "latest": charts.shown(m.latest_value, m.unit),
            "standard": charts.shown(m.standard, m.unit),
            "target": charts.shown(m.target, m.unit),
            "mean": charts.shown(m.mean, m.unit),
            "lower": charts.shown(m.lower_limit, m.unit),
            "upper": charts.shown(m.upper_limit, m.unit),
            "unit": charts.unit_title(m.unit),
            "spc": charts.spc_chart(m),
            "variation_tag": ICON_TEXT.get(m.variation_icon, "Too few points"),
            "assurance_tag": ICON_TEXT[m.assurance],
            "comparison": next(
                (
                    charts.comparison_chart(c, m)
                    for c in view.comparisons
                    if c.measure == m.measure and c.providers
                ),
                None,
            ),
        }
        for m in view.measures
    ]
    manifest = oversight_manifest(request.app.state.runtime.settings) or {}
    return {
        "page_title": title,
        "view": view,
        "figures": figures,
        "spc_columns": charts.SPC_COLUMNS,
        "comparison_columns": charts.COMPARISON_COLUMNS,
        "as_of": manifest.get("as_of"),
        "breadcrumbs": crumbs,
    }


def _scorecard(request: Request) -> Scorecard | None:
    from integrated_care.finance import services
    from integrated_care.health.marts import MartsNotBuilt, open_marts

    rows = _rows(request)
    with request.app.state.runtime.sessions() as session:
        year = services.current_year(session)
        positions = services.system_view(session, year) if year else None
    if rows is None and positions is None:
        return None
    try:
        with open_marts(request.app.state.runtime.settings) as con:
            population = population_health(con)
    except MartsNotBuilt:
        population = []
    return scorecard(rows or [], positions, _names(request), population)


# ---- pages -------------------------------------------------------------------------------------


@router.get("/oversight", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(
    request: Request, _: Principal = Depends(require("oversight:read"))
) -> HTMLResponse:
    view = _system(request, compare=True)
    _audit(request, "system")
    context = _context(request, view, "System oversight")
    rows = _rows(request) or []
    names = _names(request)
    context["providers"] = [(c, names.get(c, c)) for c in codes_at(rows, "provider")]
    context["places"] = [(c, names.get(c, c)) for c in codes_at(rows, "place")]
    return render(request, "oversight/dashboard.html", context)


def _one_page(request: Request, level: str, code: str) -> HTMLResponse:
    view = _one(request, level, code)
    _audit(request, code)
    context = _context(request, view, f"{view.name}: standards")
    context["breadcrumbs"].append({"text": "Oversight", "href": "/oversight"})
    context["api"] = f"/api/oversight/{level}s/{code}"
    return render(request, "oversight/provider.html", context)


@router.get("/oversight/providers/{code}", response_class=HTMLResponse, include_in_schema=False)
def provider_page(
    request: Request, code: str, _: Principal = Depends(require("oversight:read"))
) -> HTMLResponse:
    return _one_page(request, "provider", code)


@router.get("/oversight/places/{code}", response_class=HTMLResponse, include_in_schema=False)
def place_page(
    request: Request, code: str, _: Principal = Depends(require("oversight:read"))
) -> HTMLResponse:
    """The standards for the residents of one place, whichever provider treated them."""
    return _one_page(request, "place", code)


@router.get("/oversight/scorecard", response_class=HTMLResponse, include_in_schema=False)
def scorecard_page(
    request: Request, _: Principal = Depends(require("oversight:read"))
) -> HTMLResponse:
    card = _scorecard(request)
    _audit(request, "scorecard")
    crumbs = [{"text": "Home", "href": "/"}, {"text": "Oversight", "href": "/oversight"}]
    return render(
        request,
        "oversight/scorecard.html",
        {
            "page_title": "Triple-aim scorecard",
            "card": card,
            "not_built": NOT_BUILT,
            "breadcrumbs": crumbs,
        },
    )


@router.get("/performance", response_class=HTMLResponse, include_in_schema=False)
def performance_page(request: Request) -> HTMLResponse:
    """Public: system-level figures only."""
    view = _system(request, compare=False)
    return render(request, "oversight/performance.html", _context(request, view, "Performance"))


# ---- JSON twins --------------------------------------------------------------------------------


@router.get(
    "/api/oversight",
    tags=TAGS,
    summary="Each standard for the system by month, with SPC and the providers compared",
    response_model=OversightView,
)
def dashboard_api(
    request: Request, _: Principal = Depends(require("oversight:read"))
) -> OversightView:
    view = _system(request, compare=True)
    if view is None:
        raise HTTPException(404, NOT_BUILT)
    _audit(request, "system")
    return view


@router.get(
    "/api/oversight/providers/{code}",
    tags=TAGS,
    summary="Each standard for one provider by month, with SPC",
    response_model=OversightView,
)
def provider_api(
    request: Request, code: str, _: Principal = Depends(require("oversight:read"))
) -> OversightView:
    view = _one(request, "provider", code)
    _audit(request, code)
    return view


@router.get(
    "/api/oversight/places/{code}",
    tags=TAGS,
    summary="Each standard for the residents of one place by month, with SPC",
    response_model=OversightView,
)
def place_api(
    request: Request, code: str, _: Principal = Depends(require("oversight:read"))
) -> OversightView:
    view = _one(request, "place", code)
    _audit(request, code)
    return view


@router.get(
    "/api/oversight/scorecard",
    tags=TAGS,
    summary="The triple-aim scorecard and oversight segment of each organisation and the system",
    response_model=Scorecard,
)
def scorecard_api(request: Request, _: Principal = Depends(require("oversight:read"))) -> Scorecard:
    card = _scorecard(request)
    if card is None:
        raise HTTPException(404, NOT_BUILT)
    _audit(request, "scorecard")
    return card


@router.get(
    "/api/performance",
    tags=TAGS,
    summary="The system's performance against the constitutional standards (public)",
    response_model=OversightView,
)
def performance_api(request: Request) -> OversightView:
    view = _system(request, compare=False)
    if view is None:
        raise HTTPException(404, NOT_BUILT)
    return view
