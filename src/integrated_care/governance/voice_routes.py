"""The public voice and the rest of the portal, no sign-in: asking a question for a meeting and
following it by its reference, consultations (comment while open; themes and the ICS's
responses), engagement per organisation, the system's headlines, search, the public board pack
and PDF papers. Pages under /board, JSON twins under /api/governance/public.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from integrated_care import db
from integrated_care.accounts.audit import record_event_now
from integrated_care.governance import consultations as consult
from integrated_care.governance import engagement as engage
from integrated_care.governance import headlines as heads
from integrated_care.governance import pack, paper_files, search, voice_views
from integrated_care.governance import questions as ask
from integrated_care.governance.models import Meeting
from integrated_care.governance.papers import render_markdown
from integrated_care.governance.services import GovernanceError, NotFound, utc
from integrated_care.governance.voice_views import ConsultationOut, QuestionOut
from integrated_care.web.templating import render

router = APIRouter()
TAGS = ["governance (public)"]
NO_CONSULTATION = "There is no published consultation with that number."


class QuestionIn(BaseModel):
    asker_name: str = Field(description="Your name (not published)")
    question: str = Field(description="Your question, 10 to 2,000 characters")


class CommentIn(BaseModel):
    author_name: str = Field(description="Your name (not published)")
    respondent_kind: str = Field("resident", description="resident or organisation")
    organisation_name: str | None = Field(None, description="If for an organisation, its name")
    comment: str = Field(description="Your comment, 10 to 5,000 characters")


class Received(BaseModel):
    reference: str | None = None
    message: str


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"text": t, "href": h} for t, h in (("Home", "/"), ("Board", "/board"), *pairs)]


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def _client(request: Request) -> tuple[str | None, str]:
    """The sender's address (for the audit log) and its keyed hash (for the rate limit)."""
    host = request.client.host if request.client else None
    return host, ask.client_key(_runtime(request).settings.session_secret(), host)


def _refused(request: Request, error: GovernanceError) -> int:
    """Audit a refused public submission in its own transaction; the status to answer with."""
    status = 429 if isinstance(error, ask.RateLimited) else 422
    record_event_now(
        _runtime(request).sessions,
        actor=ask.PUBLIC,
        action="governance.public.refused",
        outcome="denied",
        reason=str(error),
        detail={"path": request.url.path, "status": status},
        client=request.client.host if request.client else None,
    )
    return status


def _today() -> date:
    return db.utcnow().date()


# ---- questions ---------------------------------------------------------------------------------


def submit_question(request: Request, meeting_id: int, data: QuestionIn) -> Received:
    host, key = _client(request)
    try:
        with _runtime(request).transaction() as session:
            row = ask.submit_question(
                session,
                meeting_id=meeting_id,
                asker_name=data.asker_name,
                question=data.question,
                client=host,
                key=key,
            )
            return Received(
                reference=row.reference,
                message=f"Your question was received. Its reference is {row.reference}; the "
                f"board secretary will check it, and an answer is due by "
                f"{row.respond_by:%-d %B %Y}.",
            )
    except NotFound as e:
        raise HTTPException(404, str(e)) from None


def _meeting_title(request: Request, meeting_id: int) -> tuple[Meeting, str]:
    from integrated_care.governance.models import Body

    with _runtime(request).sessions() as session:
        meeting = session.get(Meeting, meeting_id)
        if meeting is None:
            raise HTTPException(404, "There is no meeting with that number.")
        body = session.get(Body, meeting.body_id)
        return meeting, f"{body.name}, {utc(meeting.starts_at):%-d %B %Y}"  # type: ignore[union-attr]


@router.get(
    "/board/meetings/{meeting_id}/questions/new",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def question_form(request: Request, meeting_id: int) -> HTMLResponse:
    return _question_page(request, meeting_id, {}, None)


def _question_page(
    request: Request, meeting_id: int, values: dict[str, str], error: str | None, status: int = 200
) -> HTMLResponse:
    meeting, title = _meeting_title(request, meeting_id)
    upcoming = meeting.status != "cancelled" and utc(meeting.starts_at) > db.utcnow()  # type: ignore[operator]
    return render(
        request,
        "governance/question_form.html",
        {
            "page_title": "Ask the board a question",
            "meeting_id": meeting_id,
            "meeting_title": title,
            "upcoming": upcoming,
            "values": values,
            "error": error,
            "max_per_hour": ask.MAX_PER_CLIENT,
            "working_days": ask.RESPONSE_WORKING_DAYS,
            "breadcrumbs": _crumbs(
                (title, f"/board/meetings/{meeting_id}"), ("Ask a question", request.url.path)
            ),
        },
        status_code=status,
    )


@router.post(
    "/board/meetings/{meeting_id}/questions", response_class=HTMLResponse, include_in_schema=False
)
async def question_post(request: Request, meeting_id: int) -> HTMLResponse:
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in ("asker_name", "question")}
    data = QuestionIn(**values)
    try:
        done = await run_in_threadpool(submit_question, request, meeting_id, data)
    except GovernanceError as e:
        status = await run_in_threadpool(_refused, request, e)
        return await run_in_threadpool(_question_page, request, meeting_id, values, str(e), status)
    return render(
        request,
        "governance/received.html",
        {
            "page_title": "Question received",
            "done": done,
            "follow": f"/board/questions/{done.reference}",
            "breadcrumbs": _crumbs(),
        },
    )


@router.post(
    "/api/governance/public/meetings/{meeting_id}/questions",
    response_model=Received,
    status_code=201,
    tags=TAGS,
    summary="Send the board a question for a meeting (no sign-in; rate-limited)",
    responses={422: {"description": "Not accepted"}, 429: {"description": "Too many"}},
)
def api_question(request: Request, meeting_id: int, data: QuestionIn) -> Received:
    try:
        return submit_question(request, meeting_id, data)
    except GovernanceError as e:
        raise HTTPException(_refused(request, e), str(e)) from None


def _question(request: Request, reference: str) -> QuestionOut:
    with _runtime(request).sessions() as session:
        row = ask.by_reference(session, reference)
        if row is None:
            raise HTTPException(404, "There is no question with that reference.")
        return voice_views.question_out(row, _today())


@router.get("/board/questions/{reference}", response_class=HTMLResponse, include_in_schema=False)
def question_page(request: Request, reference: str) -> HTMLResponse:
    q = _question(request, reference)
    _, title = _meeting_title(request, q.meeting_id)
    return render(
        request,
        "governance/question.html",
        {
            "page_title": f"Your question {q.reference}",
            "q": q,
            "answer_html": render_markdown(q.answer) if q.answer else None,
            "meeting_title": title,
            "breadcrumbs": _crumbs(("Your question", request.url.path)),
        },
    )


@router.get(
    "/api/governance/public/questions/{reference}",
    response_model=QuestionOut,
    tags=TAGS,
    summary="A question's status and answer, by its reference",
)
def api_question_status(request: Request, reference: str) -> QuestionOut:
    return _question(request, reference)


def meeting_questions(request: Request, meeting_id: int) -> list[QuestionOut]:
    """A meeting's questions as the public sees them: accepted and answered ones."""
    with _runtime(request).sessions() as session:
        rows = ask.for_meeting(session, meeting_id, public=True)
        return [voice_views.question_out(q, _today()) for q in rows]


@router.get(
    "/api/governance/public/meetings/{meeting_id}/questions",
    response_model=list[QuestionOut],
    tags=TAGS,
    summary="A meeting's public questions and their answers",
)
def api_meeting_questions(request: Request, meeting_id: int) -> list[QuestionOut]:
    return meeting_questions(request, meeting_id)


# ---- consultations -----------------------------------------------------------------------------


def _consultations(request: Request) -> list[ConsultationOut]:
    with _runtime(request).sessions() as session:
        today = _today()
        return [
            voice_views.consultation_out(session, c, today)
            for c in consult.consultations(session, public=True)
        ]


def _consultation(request: Request, consultation_id: int) -> ConsultationOut:
    with _runtime(request).sessions() as session:
        found = voice_views.public_consultation(session, consultation_id, _today())
    if found is None:
        raise HTTPException(404, NO_CONSULTATION)
    return found


@router.get("/board/consultations", response_class=HTMLResponse, include_in_schema=False)
def consultations_page(request: Request) -> HTMLResponse:
    return render(
        request,
        "governance/consultations.html",
        {
            "page_title": "Consultations on draft plans",
            "items": _consultations(request),
            "breadcrumbs": _crumbs(("Consultations", request.url.path)),
        },
    )


def _consultation_page(
    request: Request,
    consultation_id: int,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    c = _consultation(request, consultation_id)
    return render(
        request,
        "governance/consultation.html",
        {
            "page_title": c.title,
            "c": c,
            "plan_html": render_markdown(c.draft_plan),
            "responses_html": {t.id: render_markdown(t.response) for t in c.themes if t.response},
            "values": values or {},
            "error": error,
            "breadcrumbs": _crumbs(
                ("Consultations", "/board/consultations"), (c.title, request.url.path)
            ),
        },
        status_code=status,
    )


@router.get(
    "/board/consultations/{consultation_id}", response_class=HTMLResponse, include_in_schema=False
)
def consultation_page(request: Request, consultation_id: int) -> HTMLResponse:
    return _consultation_page(request, consultation_id)


def submit_comment(request: Request, consultation_id: int, data: CommentIn) -> Received:
    host, key = _client(request)
    try:
        with _runtime(request).transaction() as session:
            consult.submit_comment(
                session,
                consultation_id=consultation_id,
                client=host,
                key=key,
                **data.model_dump(),
            )
    except NotFound:
        raise HTTPException(404, NO_CONSULTATION) from None
    return Received(message="Thank you: your comment was received.")


@router.post(
    "/board/consultations/{consultation_id}/comments",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def comment_post(request: Request, consultation_id: int) -> HTMLResponse:
    form = await request.form()
    fields = ("author_name", "respondent_kind", "organisation_name", "comment")
    values = {k: str(form.get(k, "")) for k in fields}
    try:
        done = await run_in_threadpool(
            submit_comment, request, consultation_id, CommentIn(**values)
        )
    except GovernanceError as e:
        status = await run_in_threadpool(_refused, request, e)
        return await run_in_threadpool(
            _consultation_page, request, consultation_id, values, str(e), status
        )
    return render(
        request,
        "governance/received.html",
        {
            "page_title": "Comment received",
            "done": done,
            "follow": f"/board/consultations/{consultation_id}",
            "breadcrumbs": _crumbs(),
        },
    )


@router.get(
    "/api/governance/public/consultations",
    response_model=list[ConsultationOut],
    tags=TAGS,
    summary="Published consultations, their themes and the ICS's responses",
)
def api_consultations(request: Request) -> list[ConsultationOut]:
    return _consultations(request)


@router.post(
    "/api/governance/public/consultations/{consultation_id}/comments",
    response_model=Received,
    status_code=201,
    tags=TAGS,
    summary="Comment on an open consultation (no sign-in; rate-limited)",
    responses={422: {"description": "Not accepted"}, 429: {"description": "Too many"}},
)
def api_comment(request: Request, consultation_id: int, data: CommentIn) -> Received:
    try:
        return submit_comment(request, consultation_id, data)
    except GovernanceError as e:
        raise HTTPException(_refused(request, e), str(e)) from None


# ---- engagement, headlines, search -------------------------------------------------------------


@router.get("/board/engagement", response_class=HTMLResponse, include_in_schema=False)
def engagement_page(request: Request) -> HTMLResponse:
    with _runtime(request).sessions() as session:
        rows = engage.by_organisation(session)
        out = voice_views.engagement_out(session)
    return render(
        request,
        "governance/engagement.html",
        {
            "page_title": "Who took part",
            "rows": out,
            "chart": engage.chart(rows),
            "breadcrumbs": _crumbs(("Who took part", request.url.path)),
        },
    )


@router.get(
    "/api/governance/public/engagement",
    response_model=list[voice_views.EngagementOut],
    tags=TAGS,
    summary="Which organisations took part in how many meetings and consultations",
)
def api_engagement(request: Request) -> list[voice_views.EngagementOut]:
    with _runtime(request).sessions() as session:
        return voice_views.engagement_out(session)


def _headlines(request: Request) -> heads.Headlines:
    with _runtime(request).sessions() as session:
        return heads.headlines(session, _runtime(request).settings, _today())


@router.get("/board/system", response_class=HTMLResponse, include_in_schema=False)
def system_page(request: Request) -> HTMLResponse:
    from integrated_care.finance.services import pounds
    from integrated_care.footprint.services import list_places

    h = _headlines(request)
    with _runtime(request).sessions() as session:
        places = {p.code: p.name for p in list_places(session)}
    return render(
        request,
        "governance/system.html",
        {
            "page_title": "How the system is doing",
            "h": h,
            "gbp": pounds,
            "place_names": places,
            "prevalence_chart": heads.prevalence_chart(h.places, places) if h.places else None,
            "breadcrumbs": _crumbs(("How the system is doing", request.url.path)),
        },
    )


@router.get(
    "/api/governance/public/headlines",
    response_model=heads.Headlines,
    tags=TAGS,
    summary="Finance summary, performance and population-health headlines (small numbers "
    "suppressed)",
)
def api_headlines(request: Request) -> heads.Headlines:
    return _headlines(request)


Q = Query("", max_length=200, description="Words to find (all of them must appear)")


def _search(request: Request, q: str) -> list[search.Hit]:
    with _runtime(request).sessions() as session:
        return search.search(session, q)


@router.get("/board/search", response_class=HTMLResponse, include_in_schema=False)
def search_page(request: Request, q: str = Q) -> HTMLResponse:
    hits = _search(request, q)
    return render(
        request,
        "governance/search.html",
        {
            "page_title": "Search the board's business",
            "q": q,
            "words": search.words_of(q),
            "hits": hits,
            "kinds": search.KIND_LABELS,
            "breadcrumbs": _crumbs(("Search", request.url.path)),
        },
    )


@router.get(
    "/api/governance/public/search",
    response_model=list[search.Hit],
    tags=TAGS,
    summary="Search meetings, papers, decisions, questions and consultations (public only)",
)
def api_search(request: Request, q: str = Q) -> list[search.Hit]:
    return _search(request, q)


# ---- PDFs --------------------------------------------------------------------------------------


def pdf_response(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def board_pack_pdf(request: Request, meeting_id: int, public: bool) -> Response:
    with _runtime(request).sessions() as session:
        try:
            content = pack.board_pack(session, meeting_id, public, db.utcnow())
        except NotFound:
            raise HTTPException(404, "There is no meeting with that number.") from None
    kind = "public" if public else "members"
    return pdf_response(content, f"board-pack-{meeting_id}-{kind}.pdf")


@router.get(
    "/board/meetings/{meeting_id}/pack.pdf",
    tags=TAGS,
    summary="The meeting's public board pack (cover, agenda, published public papers) as PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def public_pack(request: Request, meeting_id: int) -> Response:
    return board_pack_pdf(request, meeting_id, public=True)


@router.get(
    "/board/papers/files/{file_id}",
    tags=TAGS,
    summary="A published public paper uploaded as PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def public_paper_file(request: Request, file_id: int) -> Response:
    with _runtime(request).sessions() as session:
        row = paper_files.get_file(session, file_id, public=True)
        if row is None:
            raise HTTPException(404, "There is no published paper with that number.")
        return pdf_response(row.content, row.filename)
