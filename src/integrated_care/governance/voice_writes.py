"""The board secretary's side of the public voice, signed in: moderating and answering questions,
running consultations (themes, the ICS's responses), recording engagement, uploading PDF papers,
and the members' board pack. Reading needs governance:read, changing governance:manage; each
change is served as JSON under /api/governance and as a page form under /governance (see
:func:`integrated_care.governance.writes.register_write`).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from integrated_care import db
from integrated_care.accounts.policy import Principal, allows, require
from integrated_care.governance import consultations as consult
from integrated_care.governance import engagement as engage
from integrated_care.governance import paper_files, services, voice_views
from integrated_care.governance import questions as ask
from integrated_care.governance.services import Actor
from integrated_care.governance.voice_models import CONTRIBUTIONS
from integrated_care.governance.voice_routes import board_pack_pdf, pdf_response
from integrated_care.governance.writes import MANAGE, Done, apply_change, register_write
from integrated_care.web.templating import render

router = APIRouter()
TAGS = ["governance"]
READ = Depends(require("governance:read"))


class ModerationIn(BaseModel):
    decision: Literal["accept", "reject"]
    reason: str | None = Field(None, description="Why, shown to the resident (needed to reject)")


class AnswerIn(BaseModel):
    answer: str = Field(min_length=1)


class ConsultationIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    summary: str = Field(min_length=1)
    draft_plan: str = Field(min_length=1, description="Markdown")
    opens_on: date
    closes_on: date
    body_id: int | None = None
    publish: bool = False


class ThemeIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1)


class CommentThemeIn(BaseModel):
    theme_id: int | None = Field(None, description="None takes the comment out of its theme")


class ResponseIn(BaseModel):
    response: str = Field(min_length=1, description="Markdown")


class EngagementIn(BaseModel):
    organisation_name: str = Field(min_length=1, max_length=200)
    participant_kind: str
    contribution: str
    meeting_id: int | None = None
    consultation_id: int | None = None
    person_name: str | None = None
    org_code: str | None = None


class ConsultationDetail(BaseModel):
    consultation: voice_views.ConsultationOut
    published: bool
    comments: list[voice_views.CommentOut]


# ---- writes ------------------------------------------------------------------------------------


def moderate(request: Request, principal: Principal, question_id: int, data: ModerationIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        accept = data.decision == "accept"
        return Done(id=ask.moderate(session, actor, question_id, accept, data.reason).id)

    return apply_change(request, principal, work)


def answer(request: Request, principal: Principal, question_id: int, data: AnswerIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        return Done(id=ask.answer(session, actor, question_id, data.answer).id)

    return apply_change(request, principal, work)


def new_consultation(request: Request, principal: Principal, data: ConsultationIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        return Done(id=consult.create(session, actor, **data.model_dump()).id)

    return apply_change(request, principal, work)


def publish_consultation(request: Request, principal: Principal, consultation_id: int) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        return Done(id=consult.publish(session, actor, consultation_id).id)

    return apply_change(request, principal, work)


def new_theme(request: Request, principal: Principal, consultation_id: int, data: ThemeIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        theme = consult.add_theme(session, actor, consultation_id, data.title, data.summary)
        return Done(id=theme.id)

    return apply_change(request, principal, work)


def comment_theme(
    request: Request, principal: Principal, comment_id: int, data: CommentThemeIn
) -> Done:
    """Done.id is the consultation's, so the page form goes back to it."""

    def work(session: Session, actor: Actor) -> Done:
        comment = consult.assign_theme(session, actor, comment_id, data.theme_id)
        return Done(id=comment.consultation_id)

    return apply_change(request, principal, work)


def respond(request: Request, principal: Principal, theme_id: int, data: ResponseIn) -> Done:
    """Done.id is the consultation's, so the page form goes back to it."""

    def work(session: Session, actor: Actor) -> Done:
        return Done(id=consult.respond(session, actor, theme_id, data.response).consultation_id)

    return apply_change(request, principal, work)


def new_engagement(request: Request, principal: Principal, data: EngagementIn) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        return Done(id=engage.record(session, actor, **data.model_dump()).id)

    return apply_change(request, principal, work)


CONSULTATION = "/governance/consultations/{id}"
WRITES: list[tuple[str, Any, type[BaseModel] | None, Any, str, str]] = [
    (
        "/questions/{question_id}/moderation",
        moderate,
        ModerationIn,
        MANAGE,
        "/governance/questions#question-{id}",
        "Accept a resident's question, or reject it with a reason",
    ),
    (
        "/questions/{question_id}/answer",
        answer,
        AnswerIn,
        MANAGE,
        "/governance/questions#question-{id}",
        "Answer an accepted question in public",
    ),
    (
        "/consultations",
        new_consultation,
        ConsultationIn,
        MANAGE,
        CONSULTATION,
        "Open a consultation on a draft plan",
    ),
    (
        "/consultations/{consultation_id}/publish",
        publish_consultation,
        None,
        MANAGE,
        CONSULTATION,
        "Publish a consultation",
    ),
    (
        "/consultations/{consultation_id}/themes",
        new_theme,
        ThemeIn,
        MANAGE,
        "/governance/consultations/{consultation_id}",
        "Add a theme drawn from a consultation's comments",
    ),
    (
        "/comments/{comment_id}/theme",
        comment_theme,
        CommentThemeIn,
        MANAGE,
        CONSULTATION,
        "Group a comment under a theme",
    ),
    (
        "/themes/{theme_id}/response",
        respond,
        ResponseIn,
        MANAGE,
        CONSULTATION,
        "Publish the ICS's response to a theme",
    ),
    (
        "/engagement",
        new_engagement,
        EngagementIn,
        MANAGE,
        "/governance/engagement",
        "Record an organisation's part in a meeting or consultation",
    ),
]
for _write in WRITES:
    register_write(router, *_write)


# ---- PDF papers and the members' pack ----------------------------------------------------------


def _upload(request: Request, principal: Principal, item_id: int, name: str, data: bytes) -> Done:
    def work(session: Session, actor: Actor) -> Done:
        return Done(id=paper_files.attach(session, actor, item_id, name, data).id)

    return apply_change(request, principal, work)


@router.post(
    "/api/governance/items/{item_id}/paper-file",
    response_model=Done,
    tags=TAGS,
    summary="Upload an item's paper as a PDF (checked to be a PDF; at most 10 MB)",
)
async def api_upload(
    request: Request, item_id: int, file: UploadFile = File(...), principal: Principal = MANAGE
) -> Done:
    content = await file.read(paper_files.MAX_BYTES + 1)
    return await run_in_threadpool(
        _upload, request, principal, item_id, file.filename or "", content
    )


@router.post("/governance/items/{item_id}/paper-file", include_in_schema=False)
async def form_upload(
    request: Request, item_id: int, file: UploadFile = File(...), principal: Principal = MANAGE
) -> Response:
    await api_upload(request, item_id, file, principal)
    return RedirectResponse(f"/governance/items/{item_id}", status_code=303)


@router.get(
    "/governance/papers/files/{file_id}",
    tags=TAGS,
    summary="A paper uploaded as PDF (the private part too)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def paper_file(request: Request, file_id: int, _: Principal = READ) -> Response:
    with request.app.state.runtime.sessions() as session:
        row = paper_files.get_file(session, file_id, public=False)
        if row is None:
            raise HTTPException(404, "There is no paper file with that number.")
        return pdf_response(row.content, row.filename)


@router.get(
    "/governance/meetings/{meeting_id}/pack.pdf",
    tags=TAGS,
    summary="The members' board pack, private part included, as PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def members_pack(request: Request, meeting_id: int, _: Principal = READ) -> Response:
    return board_pack_pdf(request, meeting_id, public=False)


# ---- pages and reads ---------------------------------------------------------------------------


def _crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [
        {"text": t, "href": h} for t, h in (("Home", "/"), ("Governance", "/governance"), *pairs)
    ]


def _questions(request: Request) -> list[voice_views.QuestionForSecretary]:
    today = db.utcnow().date()
    with request.app.state.runtime.sessions() as session:
        return [voice_views.question_for_secretary(q, today) for q in ask.all_questions(session)]


@router.get("/governance/questions", response_class=HTMLResponse, include_in_schema=False)
def questions_page(request: Request, principal: Principal = READ) -> HTMLResponse:
    rows = _questions(request)
    return render(
        request,
        "governance/questions.html",
        {
            "page_title": "Residents' questions",
            "rows": rows,
            "waiting": sum(1 for q in rows if q.status == "submitted"),
            "overdue": sum(1 for q in rows if q.overdue),
            "may_manage": allows(principal, "governance:manage"),
            "breadcrumbs": _crumbs(("Residents' questions", request.url.path)),
        },
    )


@router.get(
    "/api/governance/questions",
    response_model=list[voice_views.QuestionForSecretary],
    tags=TAGS,
    summary="Every resident's question, those waiting for moderation first",
)
def api_questions(request: Request, _: Principal = READ) -> list[voice_views.QuestionForSecretary]:
    return _questions(request)


def _consultation_detail(request: Request, consultation_id: int) -> ConsultationDetail:
    from integrated_care.governance.voice_models import Consultation

    with request.app.state.runtime.sessions() as session:
        try:
            row = services.get(session, Consultation, consultation_id)
        except services.NotFound as e:
            raise HTTPException(404, str(e)) from None
        return ConsultationDetail(
            consultation=voice_views.consultation_out(session, row, db.utcnow().date()),
            published=row.published_at is not None,
            comments=[voice_views.comment_out(c) for c in consult.comments_of(session, row.id)],
        )


@router.get("/governance/consultations", response_class=HTMLResponse, include_in_schema=False)
def consultations_page(request: Request, principal: Principal = READ) -> HTMLResponse:
    today = db.utcnow().date()
    with request.app.state.runtime.sessions() as session:
        rows = [
            (voice_views.consultation_out(session, c, today), c.published_at is not None)
            for c in consult.consultations(session, public=False)
        ]
    return render(
        request,
        "governance/consultations_manage.html",
        {
            "page_title": "Consultations",
            "rows": rows,
            "may_manage": allows(principal, "governance:manage"),
            "breadcrumbs": _crumbs(("Consultations", request.url.path)),
        },
    )


@router.get(
    "/governance/consultations/{consultation_id}",
    response_class=HTMLResponse,
    include_in_schema=False,
)
def consultation_page(
    request: Request, consultation_id: int, principal: Principal = READ
) -> HTMLResponse:
    d = _consultation_detail(request, consultation_id)
    return render(
        request,
        "governance/consultation_manage.html",
        {
            "page_title": d.consultation.title,
            "d": d,
            "themes": {t.id: t.title for t in d.consultation.themes},
            "may_manage": allows(principal, "governance:manage"),
            "breadcrumbs": _crumbs(
                ("Consultations", "/governance/consultations"),
                (d.consultation.title, request.url.path),
            ),
        },
    )


@router.get(
    "/api/governance/consultations/{consultation_id}",
    response_model=ConsultationDetail,
    tags=TAGS,
    summary="A consultation with every comment and its theme",
)
def api_consultation(
    request: Request, consultation_id: int, _: Principal = READ
) -> ConsultationDetail:
    return _consultation_detail(request, consultation_id)


@router.get("/governance/engagement", response_class=HTMLResponse, include_in_schema=False)
def engagement_page(request: Request, principal: Principal = READ) -> HTMLResponse:
    with request.app.state.runtime.sessions() as session:
        summary = engage.by_organisation(session)
        records = engage.records(session)
        meetings = {m.id: m for m in services.meetings(session)}
        consultations = {c.id: c.title for c in consult.consultations(session, public=False)}
        bodies = {b.id: b.name for b in services.list_bodies(session)}
    return render(
        request,
        "governance/engagement_manage.html",
        {
            "page_title": "Engagement",
            "rows": summary,
            "records": records,
            "chart": engage.chart(summary),
            "meetings": meetings,
            "bodies": bodies,
            "consultations": consultations,
            "kinds": engage.KIND_LABELS,
            "contributions": CONTRIBUTIONS,
            "may_manage": allows(principal, "governance:manage"),
            "breadcrumbs": _crumbs(("Engagement", request.url.path)),
        },
    )
