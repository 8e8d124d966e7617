"""The cohort builder: /population-health/cohorts pages and their JSON twins under /api/cohorts.

Everything needs ``analytics:read``: analysts see unsuppressed counts and the pseudonymous
member list (patient_id, age band, sex, practice, the criteria values, risk, eFI; never names or
NHS numbers, which the warehouse does not hold). Every view of a member list is audited, as is
every save.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from ibis.expr.types import Table
from pydantic import ValidationError

from integrated_care.accounts.audit import audit_request
from integrated_care.accounts.policy import Principal, require
from integrated_care.health import codelists
from integrated_care.health.cohort_mart import mart_totals
from integrated_care.health.cohort_query import (
    CohortSources,
    cohort_counts,
    elements_column,
    last_column,
    materialised_members,
    member_columns,
    member_page,
    open_sources,
)
from integrated_care.health.cohort_schemas import (
    CohortDetail,
    CohortSummary,
    MemberPage,
    SavedOut,
    VersionOut,
    version_out,
)
from integrated_care.health.cohort_store import (
    all_cohorts,
    cohort_history,
    find_cohort,
    save_cohort,
)
from integrated_care.health.cohorts import (
    CohortDefinition,
    CohortEntry,
    CohortError,
    event_lists,
    register_labels,
    validation_messages,
    vocabularies,
)
from integrated_care.health.marts import MartsNotBuilt
from integrated_care.web.charts import bar_chart
from integrated_care.web.templating import render

router = APIRouter()
PERMISSION = "analytics:read"
BASE = "/population-health/cohorts"
PAGE_SIZE = 50
EVENT_ROWS = 3
TEXT_FIELDS = ("name", "title", "description")
CHOICE_FIELDS = ("registers_all", "registers_any", "segments", "risk_bands", "efi_categories")
CODE_FIELDS = ("practices", "pcns", "places")
NUMBER_FIELDS = (
    "age_min",
    "age_max",
    "imd_decile_min",
    "imd_decile_max",
    "no_gp_contact_days",
)


# ---- shared ------------------------------------------------------------------------------------


def _runtime(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.runtime


def _entry(request: Request, name: str, version: str | None) -> tuple[CohortEntry, list]:
    with _runtime(request).sessions() as session:
        try:
            entry = find_cohort(session, name, version)
        except CohortError as exc:
            raise HTTPException(404, str(exc)) from exc
        history = [entry] if entry.source == "shipped" else cohort_history(session, name)
    return entry, history


def _names(request: Request) -> dict[str, str]:
    """Practice and PCN names from the footprint (codes alone where it has none)."""
    from integrated_care.footprint.services import list_organisations

    with _runtime(request).sessions() as session:
        orgs = [
            *list_organisations(session, org_type="gp_practice"),
            *list_organisations(session, org_type="pcn"),
        ]
    return {o.org_code: o.name for o in orgs}


def _summaries(request: Request) -> list[CohortSummary]:
    """Every cohort with its size: from the cohorts mart where `ics analyse` counted that
    version, else counted now."""
    settings = _runtime(request).settings
    with _runtime(request).sessions() as session:
        entries = all_cohorts(session)
    totals, mart_as_of = mart_totals(settings)
    out = []
    missing = [e for e in entries if (e.name, e.version) not in totals]
    live: dict[str, tuple[tuple[int, int], Any]] = {}
    if missing:
        try:
            with open_sources(settings) as sources:
                for e in missing:
                    try:
                        counts = cohort_counts(e.definition, sources)
                    except ValueError:
                        continue
                    live[e.name] = ((counts.members, counts.population), counts.as_of)
        except MartsNotBuilt:
            pass
    for e in entries:
        if (e.name, e.version) in totals:
            out.append(CohortSummary.of(e, totals[(e.name, e.version)], mart_as_of, "cohorts_mart"))
        elif e.name in live:
            counted, as_of = live[e.name]
            out.append(CohortSummary.of(e, counted, as_of, "live"))
        else:
            out.append(CohortSummary.of(e, None, None, None))
    return out


def _detail(request: Request, entry: CohortEntry, history: list) -> CohortDetail:
    try:
        with open_sources(_runtime(request).settings) as sources:
            counts = cohort_counts(entry.definition, sources)
    except MartsNotBuilt as exc:
        raise HTTPException(404, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
    return CohortDetail.of(entry, counts, history, _names(request))


def _members(
    request: Request,
    entry: CohortEntry,
    sources: CohortSources,
    found: Table,
    total: int,
    page: int,
    size: int,
) -> MemberPage:
    """One page of members (`found`: the evaluated cohort), audited as cohort.members.read."""
    pages = max(1, ceil(total / size))
    page = min(max(1, page), pages)
    rows = member_page(entry.definition, sources, limit=size, offset=(page - 1) * size, found=found)
    with _runtime(request).transaction() as session:
        audit_request(
            request,
            session,
            action="cohort.members.read",
            record_type="Cohort",
            record_id=entry.name,
            detail={"version": entry.version, "page": page, "rows": len(rows)},
        )
    columns = ["patient_id", "age_band", *member_columns(entry.definition)[2:]]
    return MemberPage(
        name=entry.name,
        version=entry.version,
        as_of=sources.as_of,
        total=total,
        page=page,
        page_size=size,
        pages=pages,
        columns=columns,
        members=rows,
    )


# ---- pages -------------------------------------------------------------------------------------


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    trail = (("Home", "/"), ("Population health", "/population-health"), ("Cohorts", BASE))
    return [{"text": t, "href": h} for t, h in (*trail, *pairs)]


def column_labels(entry: CohortEntry) -> dict[str, str]:
    """Headings for the member list's columns."""
    labels = {
        "patient_id": "Patient key",
        "age_band": "Age band",
        "sex": "Sex",
        "practice_code": "Practice",
        "pcn_code": "PCN",
        "place_code": "Place",
        "segment": "Segment",
        "imd_decile": "IMD decile",
        "last_gp_contact": "Last GP appointment",
        "risk_score": "Risk score",
        "risk_band": "Risk band",
        "efi_score": "eFI",
        "efi_category": "eFI category",
    }
    qof = {r.condition: r.qof_group for r in codelists.register_rules()}
    labels |= {key: f"{group} register" for key, group in qof.items()}
    for criterion in entry.definition.events:
        label = criterion.code_list.replace("_", " ")
        labels[last_column(criterion)] = f"Last {label}"
        labels[elements_column(criterion)] = f"Elements in {criterion.within_days} days"
    return labels


@router.get(BASE, response_class=HTMLResponse, include_in_schema=False)
def cohorts_page(
    request: Request, principal: Principal = Depends(require(PERMISSION))
) -> HTMLResponse:
    summaries = _summaries(request)
    return render(
        request,
        "cohorts/list.html",
        {
            "page_title": "Case-finding cohorts",
            "cohorts": summaries,
            "counted": any(s.members is not None for s in summaries),
            "breadcrumbs": _crumbs(),
        },
    )


def _form_context(
    data: dict[str, Any] | None = None,
    errors: list[tuple[str, str]] | None = None,
    note: str = "",
) -> dict[str, Any]:
    data = dict(data or {})
    events = list(data.get("events") or [])
    events += [{}] * (EVENT_ROWS - len(events))
    for field in CODE_FIELDS:
        if isinstance(data.get(field), list | tuple):
            data[field] = ", ".join(data[field])
    field_errors = {_anchor(f): m for f, m in errors or []}
    return {
        "page_title": ("Error: " if errors else "") + "Define a cohort",
        "form": data,
        "events": events,
        "note": note,
        "errors": [{"text": _sentence(f, m), "href": "#" + _anchor(f)} for f, m in errors or []],
        "field_errors": field_errors,
        "vocab": vocabularies(),
        "register_labels": register_labels(),
        "event_lists": event_lists(),
        "breadcrumbs": _crumbs(("Define a cohort", f"{BASE}/new")),
    }


def _anchor(field: str) -> str:
    """The id of the form control a validation error's field path belongs to."""
    parts = field.split(".")
    if parts[0] == "events" and len(parts) >= 2:
        kind = {"code_list": "list", "rule": "rule", "within_days": "days"}
        return f"event_{kind.get(parts[2], 'list') if len(parts) > 2 else 'list'}_{parts[1]}"
    if parts[0] in (*TEXT_FIELDS, *CHOICE_FIELDS, *CODE_FIELDS, *NUMBER_FIELDS, "sexes"):
        return parts[0]
    return "name"


def _located(field: str, message: str) -> tuple[str, str]:
    """A whole-definition error ("age_min is greater than age_max") placed at the field it
    starts with; "needs at least one criterion" at the first criterion."""
    if field != "definition":
        return field, message
    first = message.split(" ", 1)[0].rstrip(":")
    if first in (*NUMBER_FIELDS, "events"):
        return first if first != "events" else "events.0.code_list", message
    return "registers_all", message


def _sentence(field: str, message: str) -> str:
    return f"{field.replace('_', ' ').capitalize()}: {message}"


@router.get(f"{BASE}/new", response_class=HTMLResponse, include_in_schema=False)
def new_cohort_page(
    request: Request,
    from_: str | None = Query(None, alias="from", description="Start from this cohort"),
    principal: Principal = Depends(require(PERMISSION)),
) -> HTMLResponse:
    data: dict[str, Any] = {}
    if from_:
        entry, _ = _entry(request, from_, None)
        data = entry.definition.model_dump(mode="json")
        if entry.source == "shipped":
            data["name"] = f"{entry.name}-local"
    return render(request, "cohorts/form.html", _form_context(data))


def _form_data(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {f: str(form.get(f) or "").strip() for f in TEXT_FIELDS}
    for field in (*CHOICE_FIELDS, "sexes"):
        data[field] = form.getlist(field)
    for field in CODE_FIELDS:
        text = str(form.get(field) or "")
        data[field] = [c for c in text.replace(",", " ").split() if c]
    for field in NUMBER_FIELDS:
        value = str(form.get(field) or "").strip()
        if value:
            data[field] = value
    events = []
    for i in range(EVENT_ROWS):
        code_list = str(form.get(f"event_list_{i}") or "").strip()
        if code_list:
            events.append(
                {
                    "code_list": code_list,
                    "rule": str(form.get(f"event_rule_{i}") or "lacks"),
                    "within_days": str(form.get(f"event_days_{i}") or "").strip() or None,
                }
            )
    data["events"] = events
    return data


@router.post(f"{BASE}/new", response_class=HTMLResponse, include_in_schema=False)
async def save_cohort_form(
    request: Request, principal: Principal = Depends(require(PERMISSION))
) -> Response:
    form = await request.form()
    data = _form_data(form)
    note = str(form.get("note") or "").strip()
    try:
        definition = CohortDefinition.model_validate(data)
        with _runtime(request).transaction() as session:
            saved = save_cohort(session, definition, actor=principal, note=note, request=request)
    except ValidationError as exc:
        context = _form_context(data, [_located(f, m) for f, m in validation_messages(exc)], note)
        return render(request, "cohorts/form.html", context, status_code=400)
    except CohortError as exc:
        field, _, message = str(exc).partition(": ")
        context = _form_context(data, [(field, message or str(exc))], note)
        return render(request, "cohorts/form.html", context, status_code=400)
    flag = "saved" if saved.created else "unchanged"
    return RedirectResponse(
        f"{BASE}/{saved.name}?version={saved.version}&{flag}=1", status_code=303
    )


@router.get(f"{BASE}/{{name}}", response_class=HTMLResponse, include_in_schema=False)
def cohort_page(
    request: Request,
    name: str,
    version: str | None = None,
    page: int = 1,
    saved: bool = False,
    unchanged: bool = False,
    principal: Principal = Depends(require(PERMISSION)),
) -> HTMLResponse:
    entry, history = _entry(request, name, version)
    context: dict[str, Any] = {
        "page_title": entry.title,
        "entry": entry,
        "history": [version_out(v) for v in history],
        "saved": saved,
        "unchanged": unchanged,
        "definition_json": entry.definition.canonical(),
        "labels": column_labels(entry),
        "breadcrumbs": _crumbs((entry.title, f"{BASE}/{entry.name}")),
        "detail": None,
        "problem": None,
    }
    try:
        with open_sources(_runtime(request).settings) as sources:
            found = materialised_members(entry.definition, sources)
            counts = cohort_counts(entry.definition, sources, found)
            detail = CohortDetail.of(entry, counts, history, _names(request))
            listing = _members(request, entry, sources, found, counts.members, page, PAGE_SIZE)
    except (MartsNotBuilt, ValueError) as exc:
        context["problem"] = str(exc)
        return render(request, "cohorts/cohort.html", context)
    rows = [a.model_dump() for a in detail.by_pcn]
    for row in rows:
        row["pcn"] = row["name"] or row["code"]
    chart = bar_chart(
        rows, "pcn", "members", category_title="PCN", value_title="People in the cohort"
    )
    chart["encoding"]["x"]["axis"] = {"tickMinStep": 1, "format": ",d"}  # whole people
    context.update(detail=detail, listing=listing, pcn_chart=chart)
    return render(request, "cohorts/cohort.html", context)


# ---- JSON --------------------------------------------------------------------------------------


@router.get(
    "/api/cohorts",
    tags=["cohorts"],
    response_model=list[CohortSummary],
    summary="Case-finding cohorts (shipped examples and saved), with their sizes",
)
def api_cohorts(
    request: Request, principal: Principal = Depends(require(PERMISSION))
) -> list[CohortSummary]:
    return _summaries(request)


@router.post(
    "/api/cohorts",
    tags=["cohorts"],
    response_model=SavedOut,
    status_code=201,
    summary="Save a cohort definition: a new cohort, or its next version if it changed",
)
def api_save_cohort(
    request: Request,
    definition: CohortDefinition,
    note: str | None = Query(None, description="Why this version"),
    principal: Principal = Depends(require(PERMISSION)),
) -> SavedOut:
    try:
        with _runtime(request).transaction() as session:
            saved = save_cohort(session, definition, actor=principal, note=note, request=request)
    except CohortError as exc:
        raise HTTPException(400, str(exc)) from exc
    return SavedOut(name=saved.name, version=saved.version, created=saved.created)


@router.get(
    "/api/cohorts/{name}",
    tags=["cohorts"],
    response_model=CohortDetail,
    summary="A cohort: definition, size by PCN and practice (rate per 1,000), versions",
)
def api_cohort(
    request: Request,
    name: str,
    version: str | None = None,
    principal: Principal = Depends(require(PERMISSION)),
) -> CohortDetail:
    entry, history = _entry(request, name, version)
    return _detail(request, entry, history)


@router.get(
    "/api/cohorts/{name}/versions",
    tags=["cohorts"],
    response_model=list[VersionOut],
    summary="Every version of a cohort: who saved it, when, and its criteria",
)
def api_cohort_versions(
    request: Request, name: str, principal: Principal = Depends(require(PERMISSION))
) -> list[VersionOut]:
    _, history = _entry(request, name, None)
    return [version_out(v) for v in history]


@router.get(
    "/api/cohorts/{name}/members",
    tags=["cohorts"],
    response_model=MemberPage,
    summary="A page of a cohort's pseudonymous member list (audited)",
)
def api_cohort_members(
    request: Request,
    name: str,
    version: str | None = None,
    page: int = Query(1, ge=1),
    page_size: int = Query(PAGE_SIZE, ge=1, le=1000),
    principal: Principal = Depends(require(PERMISSION)),
) -> MemberPage:
    entry, _ = _entry(request, name, version)
    try:
        with open_sources(_runtime(request).settings) as sources:
            found = materialised_members(entry.definition, sources)
            counts = cohort_counts(entry.definition, sources, found)
            return _members(request, entry, sources, found, counts.members, page, page_size)
    except MartsNotBuilt as exc:
        raise HTTPException(404, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from exc
