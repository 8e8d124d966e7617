"""MDT worklist pages under /mdt and their JSON twins under /api/mdt.

A worklist belongs to one PCN; only its MDT (users acting for it or one of its practices) sees or
works on it: ``care:read`` to see, ``care:write`` to work the list, ``analytics:reidentify`` to
make one from a cohort. Refusals are audited (``mdt.refused``; a refused re-identification as
``mdt.reidentify`` denied). Patients' details on the pages come from the shared care record
through its service layer (an audited Patient search, limited to records the user may see).
A page form posts to the same handler as the API and is redirected back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_event_now
from integrated_care.accounts.policy import Principal, allows, require
from integrated_care.coordination import mdt
from integrated_care.coordination.mdt_models import MdtWorklist, MdtWorklistEntry
from integrated_care.record import service
from integrated_care.web.forms import form_as, see_other
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render

router = APIRouter()
register_nav_item(NavItem("MDT worklists", "/mdt", "care:read"))
TAGS = ["care coordination"]
READ = Depends(require("care:read"))
WRITE = Depends(require("care:write"))
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
# Row ids are 64-bit: a larger number in a path is a 422, not a database overflow.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class WorklistIn(BaseModel):
    cohort: str = Field(min_length=1, max_length=63, description="A shipped or saved cohort")
    version: str | None = Field(None, description="A saved cohort's version (default: latest)")
    pcn: str | None = Field(None, description="The PCN (default: the one you work in)")
    title: str | None = Field(None, max_length=200)


class NoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=4000)


class AssignIn(BaseModel):
    action: str = Field(min_length=1, max_length=1000)
    owner: str = Field(min_length=1, max_length=150, description="Username of who will do it")
    due_date: dt.date | None = None


class StatusIn(BaseModel):
    status: str = Field(description="open, in_progress or done")
    note: str | None = Field(None, max_length=4000)


class EntryOut(BaseModel):
    id: int
    patient_id: str
    nhs_number: str | None = Field(None, description="Shown when the record is open to you")
    birth_date: str | None = None
    gender: str | None = None
    practice_code: str
    status: str
    action: str | None
    owner: str | None
    due_date: dt.date | None
    overdue: bool
    updated_at: dt.datetime
    updated_by: str


class WorklistOut(BaseModel):
    id: int
    pcn_code: str
    title: str
    cohort: str
    cohort_version: str
    cohort_title: str
    as_of: dt.date
    cohort_members: int
    created_at: dt.datetime
    created_by: str
    status_counts: dict[str, int]


class WorklistDetail(WorklistOut):
    entries: list[EntryOut]
    actions_by_owner: list[dict[str, Any]]


class EventOut(BaseModel):
    kind: str
    status: str
    note: str | None
    action: str | None
    owner: str | None
    due_date: dt.date | None
    at: dt.datetime
    by: str


class EntryDetail(BaseModel):
    worklist: WorklistOut
    entry: EntryOut
    history: list[EventOut]


# ---- plumbing ------------------------------------------------------------------------------------


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _refuse(
    request: Request, principal: Principal, status: int, reason: str, action: str = "mdt.refused"
) -> HTTPException:
    """Audit a refusal in its own transaction (the request's work is rolled back)."""
    record_event_now(
        request.app.state.runtime.sessions,
        actor=principal.username,
        organisation=principal.organisation_code,
        action=action,
        outcome="denied",
        reason=reason,
        detail={"path": request.url.path, "method": request.method},
        client=_client(request),
    )
    return HTTPException(status, reason)


def _read(request: Request, build: Callable[[Session], T]) -> T:
    with request.app.state.runtime.sessions() as session:
        try:
            return build(session)
        except mdt.NotFound as e:
            raise HTTPException(404, str(e)) from None


def _own_pcn(request: Request, principal: Principal) -> str:
    pcn = _read(request, lambda s: mdt.mdt_pcn(s, principal))
    if pcn is None:
        raise _refuse(
            request,
            principal,
            403,
            f"MDT worklists are for the staff of a PCN and its practices; "
            f"{principal.organisation_code} is neither a PCN nor a practice in one",
        )
    return pcn


def _need(request: Request, principal: Principal, pcn_code: str, permission: str) -> None:
    decision = _read(request, lambda s: mdt.may_work_on(s, principal, pcn_code, permission))
    if not decision.allowed:
        raise _refuse(request, principal, 403, decision.reason)


def _apply(request: Request, principal: Principal, work: Callable[[Session, mdt.Actor], T]) -> T:
    actor = mdt.Actor.of(principal, _client(request))
    try:
        with request.app.state.runtime.transaction() as session:
            return work(session, actor)
    except mdt.NotFound as e:
        raise HTTPException(404, str(e)) from None
    except mdt.MdtError as e:
        raise HTTPException(422, str(e)) from None


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"text": t, "href": h} for t, h in (("Home", "/"), ("MDT worklists", "/mdt"), *pairs)]


def _patients(
    request: Request, principal: Principal, patient_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The Patient resources the user may see, by id: one audited search of the record."""
    if not patient_ids:
        return {}
    caller = service.Caller(principal, base=str(request.base_url) + "fhir", client=_client(request))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(patient_ids), 500):
        chunk = patient_ids[start : start + 500]
        pairs = [("_id", ",".join(chunk)), ("_count", str(len(chunk)))]
        reply = service.search_type(request.app.state.runtime, caller, "Patient", pairs)
        if reply.status == 200:
            for e in reply.json().get("entry", []):
                if e.get("search", {}).get("mode") == "match":
                    found[e["resource"]["id"]] = e["resource"]
    return found


def _nhs_number(patient: dict[str, Any] | None) -> str | None:
    from integrated_care.record.identifiers import NHS_NUMBER_SYSTEM

    for identifier in (patient or {}).get("identifier", []):
        if identifier.get("system") == NHS_NUMBER_SYSTEM:
            return identifier.get("value")
    return None


def _entry_out(e: MdtWorklistEntry, patient: dict[str, Any] | None) -> EntryOut:
    return EntryOut(
        id=e.id,
        patient_id=e.patient_id,
        nhs_number=_nhs_number(patient),
        birth_date=(patient or {}).get("birthDate"),
        gender=(patient or {}).get("gender"),
        practice_code=e.practice_code,
        status=e.status,
        action=e.action,
        owner=e.owner,
        due_date=e.due_date,
        overdue=bool(e.due_date and e.status != "done" and e.due_date < _today()),
        updated_at=e.updated_at,
        updated_by=e.updated_by,
    )


def _worklist_out(w: MdtWorklist, entries: list[MdtWorklistEntry]) -> WorklistOut:
    return WorklistOut(
        id=w.id,
        pcn_code=w.pcn_code,
        title=w.title,
        cohort=w.cohort_name,
        cohort_version=w.cohort_version,
        cohort_title=w.cohort_title,
        as_of=w.as_of,
        cohort_members=w.cohort_members,
        created_at=w.created_at,
        created_by=w.created_by,
        status_counts=mdt.status_counts(entries),
    )


def _worklist_and_entries(
    request: Request, worklist_id: int
) -> tuple[MdtWorklist, list[MdtWorklistEntry]]:
    def build(s: Session) -> tuple[MdtWorklist, list[MdtWorklistEntry]]:
        w = mdt.get_worklist(s, worklist_id)
        entries = mdt.worklist_entries(s, worklist_id)
        s.expunge_all()
        return w, entries

    return _read(request, build)


def _entry_pcn(request: Request, entry_id: int) -> str:
    return _read(request, lambda s: mdt.get_entry(s, entry_id).worklist.pcn_code)


# ---- handlers shared by the API and the forms --------------------------------------------------


def create_worklist(request: Request, principal: Principal, body: WorklistIn) -> WorklistOut:
    pcn = body.pcn or _own_pcn(request, principal)
    runtime = request.app.state.runtime
    try:
        with runtime.transaction() as session:
            w = mdt.create_worklist(
                session,
                runtime.settings,
                principal,
                body.cohort,
                pcn,
                version=body.version,
                title=body.title,
                client=_client(request),
            )
            return _worklist_out(w, mdt.worklist_entries(session, w.id))
    except mdt.Refused as e:
        raise _refuse(request, principal, 403, str(e), action="mdt.reidentify") from None
    except mdt.MdtError as e:
        raise HTTPException(422, str(e)) from None
    except _marts_missing() as e:
        raise HTTPException(409, f"the population-health marts are not built: {e}") from None


def _marts_missing() -> type[Exception]:
    from integrated_care.health.marts import MartsNotBuilt

    return MartsNotBuilt


def worklist_detail(request: Request, principal: Principal, worklist_id: int) -> WorklistDetail:
    w, entries = _worklist_and_entries(request, worklist_id)
    _need(request, principal, w.pcn_code, "care:read")
    patients = _patients(request, principal, [e.patient_id for e in entries])
    return WorklistDetail(
        **_worklist_out(w, entries).model_dump(),
        entries=[_entry_out(e, patients.get(e.patient_id)) for e in entries],
        actions_by_owner=mdt.actions_by_owner(entries),
    )


def entry_detail(request: Request, principal: Principal, entry_id: int) -> EntryDetail:
    def build(s: Session) -> tuple[MdtWorklist, list[MdtWorklistEntry], MdtWorklistEntry, list]:
        e = mdt.get_entry(s, entry_id)
        w = e.worklist
        found = (w, mdt.worklist_entries(s, w.id), e, mdt.entry_history(s, entry_id))
        s.expunge_all()
        return found

    w, entries, e, history = _read(request, build)
    _need(request, principal, w.pcn_code, "care:read")
    patient = _patients(request, principal, [e.patient_id]).get(e.patient_id)
    return EntryDetail(
        worklist=_worklist_out(w, entries),
        entry=_entry_out(e, patient),
        history=[
            EventOut(
                kind=h.kind,
                status=h.status,
                note=h.note,
                action=h.action,
                owner=h.owner,
                due_date=h.due_date,
                at=h.at,
                by=h.by,
            )
            for h in history
        ],
    )


def discuss(request: Request, principal: Principal, entry_id: int, body: NoteIn) -> None:
    _need(request, principal, _entry_pcn(request, entry_id), "care:write")
    _apply(request, principal, lambda s, a: mdt.discuss(s, a, entry_id, body.note))


def assign(request: Request, principal: Principal, entry_id: int, body: AssignIn) -> None:
    _need(request, principal, _entry_pcn(request, entry_id), "care:write")
    _apply(
        request,
        principal,
        lambda s, a: mdt.assign(
            s,
            a,
            entry_id,
            action=body.action,
            owner=body.owner,
            due_date=body.due_date,
            today=_today(),
        ),
    )


def set_status(request: Request, principal: Principal, entry_id: int, body: StatusIn) -> None:
    _need(request, principal, _entry_pcn(request, entry_id), "care:write")
    _apply(request, principal, lambda s, a: mdt.set_status(s, a, entry_id, body.status, body.note))


# ---- JSON API ------------------------------------------------------------------------------------


@router.get("/api/mdt/worklists", tags=TAGS)
def api_worklists(request: Request, principal: Principal = READ) -> list[WorklistOut]:
    """The worklists of the PCN whose MDT you are on."""
    pcn = _own_pcn(request, principal)
    return _read(
        request,
        lambda s: [_worklist_out(w, mdt.worklist_entries(s, w.id)) for w in mdt.worklists(s, pcn)],
    )


@router.post("/api/mdt/worklists", tags=TAGS, status_code=201)
def api_create_worklist(
    request: Request, body: WorklistIn, principal: Principal = WRITE
) -> WorklistOut:
    """Re-identify a cohort's members in your PCN as a worklist (needs analytics:reidentify and
    membership of the PCN's MDT; audited either way)."""
    return create_worklist(request, principal, body)


@router.get("/api/mdt/worklists/{worklist_id}", tags=TAGS)
def api_worklist(
    request: Request, worklist_id: RowId, principal: Principal = READ
) -> WorklistDetail:
    return worklist_detail(request, principal, worklist_id)


@router.get("/api/mdt/progress", tags=TAGS)
def api_progress(request: Request, principal: Principal = READ) -> list[dict[str, Any]]:
    """Patients done and still to finish, per worklist, at the end of each day with a change."""
    pcn = _own_pcn(request, principal)
    return _read(request, lambda s: mdt.progress(s, pcn))


@router.get("/api/mdt/entries/{entry_id}", tags=TAGS)
def api_entry(request: Request, entry_id: RowId, principal: Principal = READ) -> EntryDetail:
    return entry_detail(request, principal, entry_id)


@router.post("/api/mdt/entries/{entry_id}/notes", tags=TAGS, status_code=201)
def api_discuss(
    request: Request, entry_id: RowId, body: NoteIn, principal: Principal = WRITE
) -> EntryDetail:
    discuss(request, principal, entry_id, body)
    return entry_detail(request, principal, entry_id)


@router.post("/api/mdt/entries/{entry_id}/assign", tags=TAGS)
def api_assign(
    request: Request, entry_id: RowId, body: AssignIn, principal: Principal = WRITE
) -> EntryDetail:
    assign(request, principal, entry_id, body)
    return entry_detail(request, principal, entry_id)


@router.post("/api/mdt/entries/{entry_id}/status", tags=TAGS)
def api_status(
    request: Request, entry_id: RowId, body: StatusIn, principal: Principal = WRITE
) -> EntryDetail:
    set_status(request, principal, entry_id, body)
    return entry_detail(request, principal, entry_id)


# ---- pages -------------------------------------------------------------------------------------


COUNT_AXIS = {"tickMinStep": 1, "format": "d"}  # whole patients


def progress_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Patients done and still to finish over time, a line per worklist and state."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": "container",
        "data": {"values": rows},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "date", "type": "temporal", "title": "Date"},
            "y": {
                "field": "patients",
                "type": "quantitative",
                "title": "Patients",
                "axis": COUNT_AXIS,
            },
            "color": {"field": "worklist", "type": "nominal", "title": "Worklist"},
            "strokeDash": {"field": "state", "type": "nominal", "title": "State"},
            "tooltip": [
                {"field": "worklist"},
                {"field": "date", "type": "temporal"},
                {"field": "state"},
                {"field": "patients"},
            ],
        },
    }


def status_chart(rows: list[dict[str, Any]], category: str, title: str) -> dict[str, Any]:
    """Stacked bars of patients (or actions) by `category` and status."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": "container",
        "data": {"values": rows},
        "mark": "bar",
        "encoding": {
            "y": {"field": category, "type": "nominal", "title": title},
            "x": {
                "field": "patients",
                "type": "quantitative",
                "title": "Patients",
                "stack": True,
                "axis": COUNT_AXIS,
            },
            "color": {
                "field": "status",
                "type": "nominal",
                "title": "Status",
                # NHS blue, warm yellow, green: to discuss, in progress, done.
                "scale": {
                    "domain": list(mdt.STATUS_LABELS.values()),
                    "range": ["#005eb8", "#ffb81c", "#007f3b"],
                },
            },
            "tooltip": [{"field": category}, {"field": "status"}, {"field": "patients"}],
        },
    }


@router.get("/mdt", response_class=HTMLResponse, include_in_schema=False)
def mdt_page(request: Request, principal: Principal = READ) -> HTMLResponse:
    from integrated_care.health.cohort_store import all_cohorts

    pcn = _own_pcn(request, principal)

    def build(s: Session) -> dict[str, Any]:
        lists = [_worklist_out(w, mdt.worklist_entries(s, w.id)) for w in mdt.worklists(s, pcn)]
        return {
            "worklists": lists,
            "pcn_name": mdt.pcn_name(s, pcn),
            "progress": mdt.progress(s, pcn),
            "cohorts": all_cohorts(s),
        }

    d = _read(request, build)
    return render(
        request,
        "mdt/index.html",
        {
            "page_title": f"MDT worklists: {d['pcn_name']}",
            **d,
            "pcn": pcn,
            "progress_chart": progress_chart(d["progress"]),
            "over_time": len({r["date"] for r in d["progress"]}) > 1,
            "by_worklist_chart": status_chart(
                [
                    {
                        "worklist": f"{w.title} (#{w.id})",
                        "status": mdt.STATUS_LABELS[k],
                        "patients": n,
                    }
                    for w in d["worklists"]
                    for k, n in w.status_counts.items()
                ],
                "worklist",
                "Worklist",
            ),
            "may_create": allows(principal, "analytics:reidentify")
            and allows(principal, "care:write"),
            "labels": mdt.STATUS_LABELS,
            "breadcrumbs": _crumbs(),
        },
    )


@router.post("/mdt/worklists", include_in_schema=False)
async def create_worklist_form(request: Request, principal: Principal = WRITE) -> RedirectResponse:
    done = create_worklist(request, principal, await form_as(request, WorklistIn))
    return see_other(f"/mdt/worklists/{done.id}")


@router.get("/mdt/worklists/{worklist_id}", response_class=HTMLResponse, include_in_schema=False)
def worklist_page(
    request: Request, worklist_id: RowId, principal: Principal = READ
) -> HTMLResponse:
    d = worklist_detail(request, principal, worklist_id)
    counts = [{"status": mdt.STATUS_LABELS[s], "patients": n} for s, n in d.status_counts.items()]
    owners = [
        {"owner": r["owner"], "status": r["status"], "patients": r["actions"]}
        for r in d.actions_by_owner
    ]
    return render(
        request,
        "mdt/worklist.html",
        {
            "page_title": d.title,
            "d": d,
            "status_chart": status_chart(counts, "status", "Status"),
            "owner_chart": status_chart(owners, "owner", "Owner"),
            "labels": mdt.STATUS_LABELS,
            "breadcrumbs": _crumbs((d.title, request.url.path)),
        },
    )


@router.get("/mdt/entries/{entry_id}", response_class=HTMLResponse, include_in_schema=False)
def entry_page(request: Request, entry_id: RowId, principal: Principal = READ) -> HTMLResponse:
    d = entry_detail(request, principal, entry_id)
    users = _read(
        request,
        lambda s: [(u.username, u.display_name) for u in mdt.mdt_users(s, d.worklist.pcn_code)],
    )
    who = d.entry.nhs_number or "a patient whose record is closed to you"
    return render(
        request,
        "mdt/entry.html",
        {
            "page_title": f"{d.worklist.title}: {who}",
            "d": d,
            "e": d.entry,
            "users": users,
            "may_write": allows(principal, "care:write"),
            "labels": mdt.STATUS_LABELS,
            "breadcrumbs": _crumbs(
                (d.worklist.title, f"/mdt/worklists/{d.worklist.id}"), (who, request.url.path)
            ),
        },
    )


@router.post("/mdt/entries/{entry_id}/notes", include_in_schema=False)
async def discuss_form(
    request: Request, entry_id: RowId, principal: Principal = WRITE
) -> RedirectResponse:
    discuss(request, principal, entry_id, await form_as(request, NoteIn))
    return see_other(f"/mdt/entries/{entry_id}")


@router.post("/mdt/entries/{entry_id}/assign", include_in_schema=False)
async def assign_form(
    request: Request, entry_id: RowId, principal: Principal = WRITE
) -> RedirectResponse:
    assign(request, principal, entry_id, await form_as(request, AssignIn))
    return see_other(f"/mdt/entries/{entry_id}")


@router.post("/mdt/entries/{entry_id}/status", include_in_schema=False)
async def status_form(
    request: Request, entry_id: RowId, principal: Principal = WRITE
) -> RedirectResponse:
    set_status(request, principal, entry_id, await form_as(request, StatusIn))
    return see_other(f"/mdt/entries/{entry_id}")
