"""The FHIR REST API under /fhir: HTTP in, service interactions, FHIR JSON out.

Every answer is ``application/fhir+json``; every error an OperationOutcome (this router also
answers unknown paths and methods under /fhir, so nothing falls through to the HTML error pages).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import DataError

from integrated_care.accounts.audit_writer import audit_writer
from integrated_care.accounts.policy import bearer_scheme, cookie_scheme, current_principal
from integrated_care.record import bundles, service, store
from integrated_care.record.access import AccessContext
from integrated_care.record.capability import capability_statement
from integrated_care.record.outcomes import FhirError
from integrated_care.record.service import Caller, Reply
from integrated_care.runtime import Runtime
from integrated_care.threads import run_blocking, runs_inline
from integrated_care.web.errors import register_error_renderer

FHIR_JSON = "application/fhir+json"
log = logging.getLogger(__name__)
router = APIRouter(prefix="/fhir", tags=["FHIR R4"])
# Shown in the OpenAPI document: how to authenticate (the accounts middleware does the work).
SECURITY = [{"bearerToken": []}, {"sessionCookie": []}]
_ = (bearer_scheme, cookie_scheme)


def _respond(reply: Reply) -> Response:
    headers = dict(reply.headers)
    if reply.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return Response(
        reply.content() if reply.status != 204 else b"",
        status_code=reply.status,
        headers=headers,
        media_type=f"{FHIR_JSON}; charset=utf-8",
    )


def _error(status: int, message: str, **kwargs: Any) -> Response:
    return _respond(service.error_reply(FhirError.of(status, message, **kwargs)))


def _http_error(status: int, message: str, headers: dict[str, str] | None) -> Response:
    """HTTP errors raised before a FHIR route runs (sign-in, CSRF) as OperationOutcomes."""
    response = _error(status, message)
    response.headers.update(headers or {})
    return response


register_error_renderer("/fhir", _http_error)


def _prefer(request: Request) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


def _caller(request: Request) -> Caller:
    prefs = _prefer(request)
    reason = request.headers.get("x-break-glass-reason")
    return Caller(
        principal=current_principal(request),
        base=str(request.base_url).rstrip("/") + "/fhir",
        client=request.client.host if request.client else None,
        strict=prefs.get("handling") == "strict",
        prefer_return=prefs.get("return", "representation"),
        access=AccessContext(break_glass_reason=reason) if reason else None,
    )


def _negotiation_problem(request: Request) -> Response | None:
    wanted = request.query_params.get("_format") or request.headers.get("accept", "")
    if wanted and not any(t in wanted for t in ("json", "*/*", "application/*")):
        return _error(
            406,
            f"this server answers in JSON only ({FHIR_JSON}), not {wanted!r}",
            code="not-supported",
        )
    return None


async def _body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (FHIR_JSON, "application/json"):
        raise FhirError.of(
            415, f"send {FHIR_JSON} (got {content_type or 'no Content-Type'})", code="not-supported"
        )
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FhirError.of(400, f"the body is not valid JSON: {exc}", code="structure") from exc


async def _handle(
    request: Request,
    work: Callable[[Caller], Awaitable[Reply] | Reply],
    *,
    needs_body: bool = False,
) -> Response:
    problem = _negotiation_problem(request)
    if problem is not None:
        return problem
    try:
        caller = _caller(request)
        reply = work(caller)
        if not isinstance(reply, Reply):
            reply = await reply
        return _respond(reply)
    except FhirError as error:
        return _respond(service.error_reply(error))
    except (DataError, psycopg.DataError):  # PostgreSQL cannot hold it: a NUL, a huge number
        return _error(422, "a value in this request cannot be stored or searched for", code="value")
    except Exception:  # an OperationOutcome even for the unexpected, never an HTML page
        log.exception("FHIR request failed: %s %s", request.method, request.url.path)
        return _error(500, "the server failed to handle this request; it has been logged")


def _threaded(function: Callable[..., Reply], *args: Any, **kwargs: Any) -> Awaitable[Reply]:
    return run_blocking(function, *args, **kwargs)


async def _reading(
    function: Callable[..., Reply], runtime: Runtime, *args: Any, short: bool = True
) -> Reply:
    """A read or search (`function(runtime, caller, ...)` taking `audit_later`): on the event
    loop when the store is embedded and the work is `short` (its audit events committed by
    the process's audit writer before the answer goes out), on a store thread otherwise."""
    if not (short and runs_inline(runtime)):
        return await _threaded(function, runtime, *args)
    reply = function(runtime, *args, audit_later=True)
    await audit_writer(runtime.sessions).append(reply.audit_events)
    return reply


def _runtime(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.runtime


@router.get("/metadata", summary="CapabilityStatement: what this FHIR server supports")
async def metadata(request: Request) -> Response:
    base = str(request.base_url).rstrip("/") + "/fhir"
    statement = capability_statement(base, store.instant(store.now()))
    return await _handle(request, lambda caller: Reply(200, statement))


@router.post("", summary="Transaction or batch Bundle", openapi_extra={"security": SECURITY})
@router.post("/", include_in_schema=False)
async def bundle(request: Request) -> Response:
    async def work(caller: Caller) -> Reply:
        body = await _body(request)
        return await _threaded(bundles.process, _runtime(request), caller, body)

    return await _handle(request, work)


@router.get(
    "/{resource_type}/_history",
    summary="History of every resource of a type",
    openapi_extra={"security": SECURITY},
)
async def type_history(request: Request, resource_type: str) -> Response:
    pairs = request.query_params.multi_items()
    return await _handle(
        request,
        lambda c: _threaded(service.history, _runtime(request), c, resource_type, None, pairs),
    )


@router.post(
    "/{resource_type}/_search",
    summary="Search (parameters in a form body)",
    openapi_extra={"security": SECURITY},
)
async def search_post(request: Request, resource_type: str) -> Response:
    async def work(caller: Caller) -> Reply:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise FhirError.of(415, "POST _search takes application/x-www-form-urlencoded")
        form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        pairs = [*request.query_params.multi_items(), *form]
        return await _threaded(service.search_type, _runtime(request), caller, resource_type, pairs)

    return await _handle(request, work)


@router.get(
    "/{resource_type}/{resource_id}/$everything",
    summary="Patient/[id]/$everything",
    openapi_extra={"security": SECURITY},
)
async def everything(request: Request, resource_type: str, resource_id: str) -> Response:
    if resource_type != "Patient":
        return _error(404, "$everything is supported on Patient only", code="not-supported")
    pairs = request.query_params.multi_items()
    return await _handle(
        request, lambda c: _threaded(service.everything, _runtime(request), c, resource_id, pairs)
    )


@router.get(
    "/{resource_type}/{resource_id}/_history/{version_id}",
    summary="Read one version (vread)",
    openapi_extra={"security": SECURITY},
)
async def vread(
    request: Request, resource_type: str, resource_id: str, version_id: str
) -> Response:
    return await _handle(
        request,
        lambda c: _reading(
            service.read, _runtime(request), c, resource_type, resource_id, version_id
        ),
    )


@router.get(
    "/{resource_type}/{resource_id}/_history",
    summary="History of one resource",
    openapi_extra={"security": SECURITY},
)
async def instance_history(request: Request, resource_type: str, resource_id: str) -> Response:
    pairs = request.query_params.multi_items()
    return await _handle(
        request,
        lambda c: _threaded(
            service.history, _runtime(request), c, resource_type, resource_id, pairs
        ),
    )


@router.get(
    "/{resource_type}/{resource_id}",
    summary="Read a resource",
    openapi_extra={"security": SECURITY},
)
async def read(request: Request, resource_type: str, resource_id: str) -> Response:
    return await _handle(
        request, lambda c: _reading(service.read, _runtime(request), c, resource_type, resource_id)
    )


@router.put(
    "/{resource_type}/{resource_id}",
    summary="Update (or create with this id)",
    openapi_extra={"security": SECURITY},
)
async def update(request: Request, resource_type: str, resource_id: str) -> Response:
    async def work(caller: Caller) -> Reply:
        body = await _body(request)
        return await _threaded(
            service.update,
            _runtime(request),
            caller,
            resource_type,
            resource_id,
            body,
            if_match=request.headers.get("if-match"),
        )

    return await _handle(request, work)


@router.delete(
    "/{resource_type}/{resource_id}",
    summary="Delete a resource (kept in history)",
    openapi_extra={"security": SECURITY},
)
async def delete(request: Request, resource_type: str, resource_id: str) -> Response:
    return await _handle(
        request,
        lambda c: _threaded(
            service.delete,
            _runtime(request),
            c,
            resource_type,
            resource_id,
            if_match=request.headers.get("if-match"),
        ),
    )


@router.get("/{resource_type}", summary="Search", openapi_extra={"security": SECURITY})
async def search_get(request: Request, resource_type: str) -> Response:
    pairs = request.query_params.multi_items()
    # A search confined to one patient or to ids is short; another (every Observation with a
    # code, say) could hold the event loop, and every other request of this worker, too long.
    short = any(name.split(":")[0] in CONFINING for name, _value in pairs)
    return await _handle(
        request,
        lambda c: _reading(
            service.search_type, _runtime(request), c, resource_type, pairs, short=short
        ),
    )


CONFINING = frozenset({"patient", "subject", "_id"})


@router.post(
    "/{resource_type}",
    summary="Create (If-None-Exist makes it conditional)",
    openapi_extra={"security": SECURITY},
)
async def create(request: Request, resource_type: str) -> Response:
    async def work(caller: Caller) -> Reply:
        body = await _body(request)
        return await _threaded(
            service.create,
            _runtime(request),
            caller,
            resource_type,
            body,
            if_none_exist=request.headers.get("if-none-exist"),
        )

    return await _handle(request, work)


@router.api_route(
    "",
    methods=["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
    include_in_schema=False,
)
@router.api_route(
    "/{path:path}",
    methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
    include_in_schema=False,
)
async def not_here(request: Request, path: str = "") -> Response:
    if request.method not in ("GET", "POST", "PUT", "DELETE") or not path:
        return _error(405, f"{request.method} is not supported on /fhir/{path}")
    return _error(
        404,
        f"/fhir/{path} is not a FHIR endpoint of this server; see /fhir/metadata",
        code="not-supported",
    )
