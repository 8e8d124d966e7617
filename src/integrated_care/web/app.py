"""The FastAPI application: each domain's routes, the shared layout, static assets, errors.

``web`` only assembles. Pages and their JSON twins live with the domain that owns the data.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from integrated_care import __version__, db
from integrated_care.runtime import Runtime
from integrated_care.web import errors, pages, shortcuts
from integrated_care.web.navigation import add_page_context

STATIC_DIR = Path(__file__).parent / "static"


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # Store work runs on worker threads, each with a pooled connection. More threads than the
    # pool holds would open throwaway connections; more than a few per core only queue on the
    # interpreter lock while the first request waits behind the sixteenth.
    to_thread.current_default_thread_limiter().total_tokens = db.WORKER_THREADS
    yield


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """Build the web app over a runtime (settings + stores); one per process."""
    runtime = runtime or Runtime()
    app = FastAPI(
        title="integrated-care",
        version=__version__,
        description=(
            "The operating platform of an English Integrated Care System: footprint, accounts, "
            "audit, and (as they land) population health, shared care record, finance, "
            "governance, care coordination, workforce and oversight. Every page's figures are "
            "also served here as JSON."
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
        # FastAPI's own OpenTelemetry hooks ask the global providers on every request; the
        # platform does not export traces, metrics or logs through them.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    runtime.engine  # noqa: B018 - migrate the store before the first request, not during one

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    add_page_context()
    errors.install(app)

    # Domains are imported here, not at module top, so `web` stays a thin assembler.
    from integrated_care.accounts import web as accounts_web
    from integrated_care.coordination import care_plan_routes, mdt_routes, referral_routes
    from integrated_care.finance import contract_routes, funding_routes
    from integrated_care.finance import routes as finance_routes
    from integrated_care.footprint import routes as footprint_routes
    from integrated_care.governance import routes as governance_routes
    from integrated_care.health import cohort_routes
    from integrated_care.health import pages as health_pages
    from integrated_care.health import routes as health_routes
    from integrated_care.oversight import routes as oversight_routes
    from integrated_care.record import (
        caldicott_routes,
        clinician_routes,
        export_routes,
        import_routes,
    )
    from integrated_care.record import routes as record_routes
    from integrated_care.workforce import routes as workforce_routes

    accounts_web.install(app)
    # The FHIR API first: routes are matched in order, and it serves the most requests.
    app.include_router(caldicott_routes.router)  # before record_routes: /fhir/AuditEvent
    app.include_router(export_routes.router)  # before record_routes: /fhir/$export...
    app.include_router(import_routes.router)
    app.include_router(record_routes.router)
    app.include_router(footprint_routes.router)
    app.include_router(health_routes.router)
    app.include_router(health_pages.router)
    app.include_router(cohort_routes.router)
    app.include_router(clinician_routes.router)
    app.include_router(finance_routes.router)
    app.include_router(funding_routes.router)
    app.include_router(contract_routes.router)
    app.include_router(governance_routes.router)
    app.include_router(workforce_routes.router)
    app.include_router(referral_routes.router)
    app.include_router(mdt_routes.router)
    app.include_router(care_plan_routes.router)
    app.include_router(oversight_routes.router)
    app.include_router(pages.router)
    shortcuts.install(
        app,
        "/fhir",
        [caldicott_routes.router, export_routes.router, import_routes.router, record_routes.router],
    )
    return app


def runtime_of(request: Request) -> Runtime:
    """The runtime the app was built over (a FastAPI dependency)."""
    return request.app.state.runtime


def served_app(runtime: Runtime | None = None) -> FastAPI:
    """The app for a server process (``ics serve``, each uvicorn worker): `create_app`, then
    everything it loaded (modules, FHIR models, reference tables: ~370,000 objects) moved out
    of the garbage collector's sight. Each full collection walked them all, 200-250 ms with
    every request of the process waiting (measured: the p99 of patient searches). They live
    as long as the process, so there is nothing to collect among them."""
    app = create_app(runtime)
    gc.collect()
    gc.freeze()
    return app
