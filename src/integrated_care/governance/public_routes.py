"""The public portal, no sign-in: upcoming and past meetings, published papers of the public part,
the decisions log, the registers of interests and of gifts and hospitality, and an Atom feed.

Pages are under /board, their JSON twins under /api/governance/public. They show the same thing
to everyone, signed in or not: private items are for /governance (governance:read).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from integrated_care import db
from integrated_care.governance import views
from integrated_care.governance.feed import atom_feed
from integrated_care.governance.models import Meeting
from integrated_care.governance.papers import render_markdown
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import render, templates

router = APIRouter()
LONDON = ZoneInfo("Europe/London")


def london_time(value: datetime) -> str:
    """A meeting's time as people in England read it: "10 March 2027, 10:00"."""
    return value.astimezone(LONDON).strftime("%-d %B %Y, %H:%M")


templates.env.filters.setdefault("london_time", london_time)
register_nav_item(NavItem("Board", "/board"))
TAGS = ["governance (public)"]
NOT_PUBLISHED = "There is no published paper with that number."


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"text": t, "href": h} for t, h in (("Home", "/"), ("Board", "/board"), *pairs)]


def _sessions(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.runtime.sessions()


def _portal(request: Request) -> views.PortalOut:
    with _sessions(request) as session:
        return views.portal(session, db.utcnow(), public=True)


def _meeting(request: Request, meeting_id: int) -> views.MeetingOut:
    with _sessions(request) as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise HTTPException(404, "There is no meeting with that number.")
        return views.meeting_out(session, meeting, public=True)


def _paper(request: Request, item_id: int) -> views.ItemOut:
    with _sessions(request) as session:
        found = views.public_item(session, item_id)
    if found is None:
        raise HTTPException(404, NOT_PUBLISHED)
    return found


# ---- pages -------------------------------------------------------------------------------------


@router.get("/board", response_class=HTMLResponse, include_in_schema=False)
def portal_page(request: Request) -> HTMLResponse:
    return render(
        request,
        "governance/portal.html",
        {
            "page_title": "Board meetings and decisions",
            "p": _portal(request),
            "breadcrumbs": _crumbs(),
        },
    )


@router.get("/board/meetings/{meeting_id}", response_class=HTMLResponse, include_in_schema=False)
def meeting_page(request: Request, meeting_id: int) -> HTMLResponse:
    from integrated_care.governance.voice_routes import meeting_questions

    meeting = _meeting(request, meeting_id)
    title = f"{meeting.body}, {meeting.starts_at:%d %B %Y}"
    questions = meeting_questions(request, meeting_id)
    return render(
        request,
        "governance/public_meeting.html",
        {
            "page_title": title,
            "m": meeting,
            "minutes_html": render_markdown(meeting.minutes) if meeting.minutes else None,
            "questions": questions,
            "answers_html": {q.reference: render_markdown(q.answer) for q in questions if q.answer},
            "upcoming": meeting.status != "cancelled" and meeting.starts_at > db.utcnow(),
            "breadcrumbs": _crumbs((title, request.url.path)),
        },
    )


@router.get("/board/papers/{item_id}", response_class=HTMLResponse, include_in_schema=False)
def paper_page(request: Request, item_id: int) -> HTMLResponse:
    from integrated_care.governance.paper_files import files_of

    item = _paper(request, item_id)
    with _sessions(request) as session:
        files = files_of(session, [item_id])[item_id]
    return render(
        request,
        "governance/public_paper.html",
        {
            "page_title": item.title,
            "item": item,
            "paper_html": render_markdown(item.paper),
            "files": files,
            "file_prefix": "/board/papers/files/",
            "breadcrumbs": _crumbs(
                (f"Meeting {item.meeting_id}", f"/board/meetings/{item.meeting_id}"),
                (item.title, request.url.path),
            ),
        },
    )


@router.get("/board/decisions", response_class=HTMLResponse, include_in_schema=False)
def decisions_page(request: Request) -> HTMLResponse:
    with _sessions(request) as session:
        found = views.decisions(session, public=True)
    return render(
        request,
        "governance/decisions.html",
        {
            "page_title": "Decisions log",
            "decisions": found,
            "item_prefix": "/board/papers/",
            "breadcrumbs": _crumbs(("Decisions log", request.url.path)),
        },
    )


@router.get("/board/interests", response_class=HTMLResponse, include_in_schema=False)
def registers_page(request: Request) -> HTMLResponse:
    with _sessions(request) as session:
        found = views.registers(session)
    return render(
        request,
        "governance/registers.html",
        {
            "page_title": "Registers of interests and of gifts and hospitality",
            "r": found,
            "breadcrumbs": _crumbs(("Registers of interests", request.url.path)),
        },
    )


@router.get("/board/feed.atom", tags=TAGS, summary="Atom feed of new papers and decisions")
def feed(request: Request) -> Response:
    portal = _portal(request)
    papers = [i for m in portal.upcoming + portal.past for i in m.items]
    with _sessions(request) as session:
        decisions = views.decisions(session, public=True)
    base = str(request.base_url).rstrip("/")
    body = atom_feed(base, "Board papers and decisions", papers, decisions, db.utcnow())
    return Response(body, media_type="application/atom+xml")


# ---- JSON --------------------------------------------------------------------------------------


@router.get(
    "/api/governance/public",
    response_model=views.PortalOut,
    tags=TAGS,
    summary="Upcoming and past meetings (public part) and recent decisions",
)
def api_portal(request: Request) -> views.PortalOut:
    return _portal(request)


@router.get(
    "/api/governance/public/meetings/{meeting_id}",
    response_model=views.MeetingOut,
    tags=TAGS,
    summary="A meeting's published public agenda, papers, decisions and minutes",
)
def api_meeting(request: Request, meeting_id: int) -> views.MeetingOut:
    return _meeting(request, meeting_id)


@router.get(
    "/api/governance/public/papers/{item_id}",
    response_model=views.ItemOut,
    tags=TAGS,
    summary="A published paper of the public part (Markdown)",
)
def api_paper(request: Request, item_id: int) -> views.ItemOut:
    return _paper(request, item_id)


@router.get(
    "/api/governance/public/decisions",
    response_model=list[views.DecisionOut],
    tags=TAGS,
    summary="The decisions log (public items)",
)
def api_decisions(request: Request) -> list[views.DecisionOut]:
    with _sessions(request) as session:
        return views.decisions(session, public=True)


@router.get(
    "/api/governance/public/interests",
    response_model=views.Registers,
    tags=TAGS,
    summary="The registers of interests and of gifts and hospitality",
)
def api_registers(request: Request) -> views.Registers:
    with _sessions(request) as session:
        return views.registers(session)
