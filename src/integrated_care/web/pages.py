"""Platform-level pages: health check, the API reference and the about page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import text

from integrated_care import __version__
from integrated_care.web.templating import render

router = APIRouter()


class Health(BaseModel):
    status: str
    version: str
    database: str


@router.get("/api/health", tags=["platform"], summary="Is the app up and its store reachable?")
def health(request: Request) -> Health:
    runtime = request.app.state.runtime
    with runtime.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok", version=__version__, database=runtime.engine.dialect.name)


@router.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
def api_reference(request: Request) -> HTMLResponse:
    """The OpenAPI document as a readable page (no third-party script, so it passes the CSP)."""
    spec = request.app.openapi()
    operations: list[dict[str, Any]] = []
    for path, methods in sorted(spec["paths"].items()):
        for method, op in methods.items():
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                    "public": not op.get("security") and "401" not in op.get("responses", {}),
                }
            )
    return render(
        request,
        "api_docs.html",
        {
            "page_title": "API reference",
            "operations": operations,
            "version": spec["info"]["version"],
            "description": spec["info"].get("description", ""),
        },
    )


@router.get("/about", response_class=HTMLResponse, include_in_schema=False)
def about(request: Request) -> HTMLResponse:
    return render(request, "about.html", {"page_title": "About this platform"})
