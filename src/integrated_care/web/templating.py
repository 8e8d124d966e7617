"""One Jinja2 environment for every domain's pages, in the NHS.UK design system.

Templates are looked up in each domain's ``templates/`` folder (namespaced by a sub-folder named
after the domain, e.g. ``footprint/place.html``), then the shared ``web/templates``, then the
``nhsuk_frontend_jinja`` component macros.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader
from starlette.responses import HTMLResponse

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
DOMAINS = (
    "footprint",
    "accounts",
    "synth",
    "warehouse",
    "health",
    "record",
    "care",
    "coordination",
    "finance",
    "governance",
    "workforce",
    "oversight",
)

ContextProcessor = Callable[[Request], dict[str, Any]]
_context_processors: list[ContextProcessor] = []


def add_context_processor(processor: ContextProcessor) -> None:
    """Let a domain put values (the signed-in user, a CSRF token...) into every page."""
    if processor not in _context_processors:
        _context_processors.append(processor)


def _environment() -> Environment:
    folders = [PACKAGE_ROOT / d / "templates" for d in DOMAINS]
    folders.append(Path(__file__).parent / "templates")
    loader = ChoiceLoader(
        [
            FileSystemLoader([str(f) for f in folders if f.exists()]),
            PackageLoader("nhsuk_frontend_jinja"),
        ]
    )
    env = Environment(loader=loader, undefined=ChainableUndefined, autoescape=True)
    env.filters["thousands"] = lambda n: f"{n:,}" if n is not None else "–"
    return env


templates = Jinja2Templates(
    env=_environment(),
    context_processors=[lambda request: _run_processors(request)],
)


def _run_processors(request: Request) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for processor in _context_processors:
        context.update(processor(request))
    return context


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page template with the shared page context."""
    return templates.TemplateResponse(request, name, context or {}, status_code=status_code)
