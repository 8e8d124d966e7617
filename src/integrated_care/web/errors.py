"""Errors as people expect them: JSON for APIs, NHS.UK pages for people."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from integrated_care.web.templating import render

TITLES = {
    400: "There is a problem with your request",
    401: "You need to sign in",
    403: "You do not have permission to see this page",
    404: "Page not found",
    405: "That action is not allowed here",
    409: "That conflicts with what is already stored",
    422: "There is a problem with what you entered",
    429: "Too many attempts",
}


# A domain whose API speaks its own error format (FHIR's OperationOutcome under /fhir) registers
# a renderer for its path prefix, so errors raised before its routes run (CSRF, sign-in) match.
ErrorRenderer = Callable[[int, str, dict[str, str] | None], Response]
_RENDERERS: dict[str, ErrorRenderer] = {}


def register_error_renderer(prefix: str, renderer: ErrorRenderer) -> None:
    """Render HTTP errors for paths equal to or under `prefix` with `renderer`."""
    _RENDERERS[prefix] = renderer


def _renderer_for(path: str) -> ErrorRenderer | None:
    for prefix, renderer in _RENDERERS.items():
        if path == prefix or path.startswith(prefix + "/"):
            return renderer
    return None


def wants_json(request: Request) -> bool:
    path = request.url.path
    return (
        path.startswith(("/api/", "/fhir"))
        or "application/json" in request.headers.get("accept", "").split(",")[0]
    )


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    headers = getattr(exc, "headers", None)
    renderer = _renderer_for(request.url.path)
    if renderer is not None:
        return renderer(exc.status_code, str(exc.detail), headers)
    if wants_json(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    if exc.status_code == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
    return render(
        request,
        "error.html",
        {
            "status": exc.status_code,
            "title": TITLES.get(exc.status_code, "Something went wrong"),
            "detail": exc.detail,
            "page_title": TITLES.get(exc.status_code, "Error"),
        },
        status_code=exc.status_code,
    )


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    problems = [
        {"where": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
    ]
    if wants_json(request):
        return JSONResponse({"detail": problems}, status_code=422)
    return render(
        request,
        "error.html",
        {"status": 422, "title": TITLES[422], "problems": problems, "page_title": TITLES[422]},
        status_code=422,
    )


async def unstorable(request: Request, exc: Exception) -> Response:
    """A value the database cannot hold (an id of 2**63; on PostgreSQL, a NUL character) is the
    request's fault, not the server's: 422, and the transaction it reached has rolled back."""
    message = (
        "a value in this request cannot be stored or looked up: a number too large, "
        "or a character the database cannot hold"
    )
    return await http_error(request, StarletteHTTPException(422, message))


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    for unstorable_value in (OverflowError, DataError, psycopg.DataError):
        app.add_exception_handler(unstorable_value, unstorable)
