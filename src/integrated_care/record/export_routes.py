"""HTTP for bulk ``$export`` (FHIR Bulk Data Access, asynchronous request pattern).

- kick-off: ``GET /fhir/$export``, ``GET /fhir/Patient/$export``, ``GET /fhir/Group/{id}/$export``
  with ``Prefer: respond-async`` -> 202, ``Content-Location`` the job's status URL;
- status: ``GET /fhir/$export-status/{job}`` -> 202 with ``X-Progress`` while it runs, then 200
  with the manifest (JSON); 500 with an OperationOutcome if it failed;
- files: ``GET /fhir/$export-file/{job}/{Type}.ndjson`` (the requester's access token required);
- cancel: ``DELETE /fhir/$export-status/{job}`` -> 202; the job and its files are gone.

Registered before record/routes.py, whose catch-all routes would otherwise answer these paths.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from integrated_care.record import export
from integrated_care.record.outcomes import FhirError, Issue, operation_outcome
from integrated_care.record.routes import SECURITY, _handle, _prefer, _runtime
from integrated_care.record.service import Caller, Reply

router = APIRouter(prefix="/fhir", tags=["FHIR R4 bulk data"])
NDJSON = "application/fhir+ndjson"
RETRY_AFTER_SECONDS = 2
# Bulk Data kick-off parameters this server does not implement (refused under handling=strict).
UNSUPPORTED = ("_typeFilter", "_elements", "patient", "includeAssociatedData", "organizeOutputBy")


def _kick_off_work(
    request: Request, level: str, group_id: str | None = None
) -> Callable[[Caller], Awaitable[Reply]]:
    async def work(caller: Caller) -> Reply:
        if "respond-async" not in _prefer(request):
            raise FhirError.of(
                400, "$export is asynchronous: send the header 'Prefer: respond-async'"
            )
        params = request.query_params
        ignored = [name for name in UNSUPPORTED if name in params]
        if ignored and caller.strict:
            raise FhirError.of(400, f"not supported: {', '.join(ignored)}", code="not-supported")
        export.check_output_format(params.get("_outputFormat"))
        wanted = export.ExportRequest(
            level=level,
            request_url=str(request.url),
            types=export.parse_types(",".join(params.getlist("_type")), level),
            since=export.parse_since(params.get("_since")),
            group_id=group_id,
        )
        job_id = await run_in_threadpool(export.start, _runtime(request), caller.principal, wanted)
        issues = [
            Issue(
                f"export {job_id} started; poll the Content-Location",
                "informational",
                "information",
            )
        ]
        issues += [
            Issue(f"ignored (not supported): {name}", "informational", "warning")
            for name in ignored
        ]
        return Reply(
            202,
            operation_outcome(issues),
            {"Content-Location": f"{caller.base}/$export-status/{job_id}"},
        )

    return work


@router.get(
    "/$export",
    summary="Bulk export of the whole record (system level; asynchronous)",
    openapi_extra={"security": SECURITY},
)
async def system_export(request: Request) -> Response:
    return await _handle(request, _kick_off_work(request, "system"))


@router.get(
    "/Patient/$export",
    summary="Bulk export of every patient's record (asynchronous)",
    openapi_extra={"security": SECURITY},
)
async def patient_export(request: Request) -> Response:
    return await _handle(request, _kick_off_work(request, "patient"))


@router.get(
    "/Group/{group_id}/$export",
    summary="Bulk export of the records of an organisation's registered patients (asynchronous)",
    openapi_extra={"security": SECURITY},
)
async def group_export(request: Request, group_id: str) -> Response:
    return await _handle(request, _kick_off_work(request, "group", group_id))


async def _non_fhir(request: Request, make: Callable[[Caller], Awaitable[Response]]) -> Response:
    """Like routes._handle (content negotiation, the caller, an OperationOutcome for every
    error), for answers that are not FHIR JSON: the status (the manifest is plain JSON) and the
    NDJSON files."""
    made: list[Response] = []

    async def work(caller: Caller) -> Reply:
        made.append(await make(caller))
        return Reply(200)

    answer = await _handle(request, work)
    return made[0] if made else answer


@router.get(
    "/$export-status/{job_id}",
    summary="Poll a bulk export: 202 while running, 200 with the manifest when complete",
    openapi_extra={"security": SECURITY},
)
async def export_status(request: Request, job_id: str) -> Response:
    async def make(caller: Caller) -> Response:
        found = await run_in_threadpool(
            export.status, _runtime(request), caller.principal, job_id, caller.base
        )
        if found.status == "complete":
            return Response(
                orjson.dumps(found.manifest),
                200,
                media_type="application/json",
                headers={"Cache-Control": "no-store"},
            )
        if found.status == "failed":
            raise FhirError.of(500, found.problem or "the export failed")
        progress = {"X-Progress": found.progress or found.status}
        return Response(
            status_code=202, headers={**progress, "Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    return await _non_fhir(request, make)


@router.delete(
    "/$export-status/{job_id}",
    summary="Cancel a bulk export, or delete a finished one's files",
    openapi_extra={"security": SECURITY},
)
async def export_cancel(request: Request, job_id: str) -> Response:
    async def work(caller: Caller) -> Reply:
        await run_in_threadpool(export.cancel, _runtime(request), caller.principal, job_id)
        return Reply(
            202,
            operation_outcome([Issue(f"export {job_id} deleted", "informational", "information")]),
        )

    return await _handle(request, work)


@router.get(
    "/$export-file/{job_id}/{name}",
    summary="One NDJSON file of a complete bulk export",
    openapi_extra={"security": SECURITY},
)
async def export_file(request: Request, job_id: str, name: str) -> Response:
    async def make(caller: Caller) -> Response:
        path = await run_in_threadpool(
            export.output_file, _runtime(request), caller.principal, job_id, name
        )
        return FileResponse(path, media_type=NDJSON, filename=name)

    return await _non_fhir(request, make)
