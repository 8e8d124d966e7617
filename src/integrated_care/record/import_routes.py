"""``POST /fhir/$import``: load FHIR NDJSON through the bulk path (permission ``record:import``).

The files come in the request (the server fetches nothing over the network):

- a ``multipart/form-data`` upload of one or more ``.ndjson`` (or ``.ndjson.gz``) files, any
  field name; or
- one NDJSON body (``Content-Type: application/fhir+ndjson`` or ``application/ndjson``), named
  after ``?_type=`` when given (``Patient.ndjson``) for the messages.

They are stored exactly as ``ics record import`` stores a folder (bulk.import_folder): every
resource validated first, and one invalid line refuses the whole import, nothing stored, with a
422 OperationOutcome naming each file and line; otherwise 200 with the counts per type.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from integrated_care.accounts.audit import record_event_now
from integrated_care.accounts.policy import Principal
from integrated_care.record import bulk
from integrated_care.record.export import require_permission
from integrated_care.record.outcomes import FhirError, Issue, operation_outcome
from integrated_care.record.routes import SECURITY, _handle, _runtime
from integrated_care.record.service import Caller, Reply
from integrated_care.runtime import Runtime

router = APIRouter(prefix="/fhir", tags=["FHIR R4 bulk data"])
PERMISSION = "record:import"
NDJSON_TYPES = ("application/fhir+ndjson", "application/ndjson", "application/x-ndjson")
SUFFIXES = (".ndjson", ".ndjson.gz")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
MAX_PROBLEMS_SHOWN = 100


def _file_name(raw: str | None, position: int) -> str:
    name = SAFE_NAME.sub("_", Path(raw or "").name) or f"upload-{position}.ndjson"
    if not name.endswith(SUFFIXES):
        raise FhirError.of(
            400,
            f"upload {position} ({raw!r}) is not an .ndjson or .ndjson.gz file",
            code="not-supported",
        )
    return name


async def _save_upload(request: Request, folder: Path) -> list[str]:
    """The request's NDJSON written to `folder`; the file names."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    names: list[str] = []
    if content_type == "multipart/form-data":
        form = await request.form()
        uploads = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        for position, upload in enumerate(uploads, start=1):
            name = _file_name(upload.filename, position)
            if name in names:
                raise FhirError.of(400, f"two uploads are named {name!r}")
            (folder / name).write_bytes(await upload.read())
            names.append(name)
    elif content_type in NDJSON_TYPES:
        resource_type = request.query_params.get("_type", "").strip()
        name = f"{SAFE_NAME.sub('_', resource_type)}.ndjson" if resource_type else "body.ndjson"
        (folder / name).write_bytes(await request.body())
        names.append(name)
    else:
        raise FhirError.of(
            415,
            "send NDJSON (Content-Type: application/fhir+ndjson) or a multipart/form-data "
            f"upload of .ndjson files, not {content_type or 'no Content-Type'}",
            code="not-supported",
        )
    if not names:
        raise FhirError.of(400, "the upload holds no .ndjson files")
    if all(not (folder / name).read_bytes().strip() for name in names):
        raise FhirError.of(400, f"the upload is empty: no resources in {', '.join(names)}")
    return names


def _import(runtime: Runtime, principal: Principal, folder: Path) -> bulk.ImportResult:
    try:
        return bulk.import_folder(
            runtime, folder, actor=principal.username, organisation=principal.organisation_code
        )
    except bulk.ImportRefused as refused:
        issues = [
            Issue(problem, "invalid", "error") for problem in refused.problems[:MAX_PROBLEMS_SHOWN]
        ]
        if len(refused.problems) > MAX_PROBLEMS_SHOWN:
            more = len(refused.problems) - MAX_PROBLEMS_SHOWN
            issues.append(Issue(f"... and {more} more problems", "invalid", "error"))
        issues.append(Issue("nothing was stored", "informational", "information"))
        record_event_now(
            runtime.sessions,
            actor=principal.username,
            organisation=principal.organisation_code,
            action="record.import",
            outcome="failure",
            detail={"status": 422, "problems": refused.problems[:20]},
        )
        raise FhirError(422, issues) from refused


def result_outcome(result: bulk.ImportResult, files: list[str]) -> dict[str, Any]:
    """The OperationOutcome of a successful import: totals, then one issue per type."""
    issues = [
        Issue(
            f"imported {result.resources:,} resources for {result.patients:,} patients from "
            f"{len(files)} file(s) ({', '.join(files)}) in {result.seconds:.1f} s",
            "informational",
            "information",
        )
    ]
    issues += [
        Issue(f"{resource_type}: {count:,} stored", "informational", "information")
        for resource_type, count in sorted(result.stored.items())
    ]
    issues += [
        Issue(
            f"{resource_type}: {count:,} skipped (not a type this server holds)",
            "informational",
            "warning",
        )
        for resource_type, count in sorted(result.skipped.items())
    ]
    return operation_outcome(issues)


@router.post(
    "/$import",
    summary="Import FHIR NDJSON (uploaded files) through the bulk path",
    openapi_extra={"security": SECURITY},
)
async def import_ndjson(request: Request) -> Response:
    async def work(caller: Caller) -> Reply:
        principal = await run_in_threadpool(
            require_permission, _runtime(request), caller.principal, PERMISSION, "$import"
        )
        with tempfile.TemporaryDirectory(prefix="ics-import-") as tmp:
            folder = Path(tmp)
            names = await _save_upload(request, folder)
            result = await run_in_threadpool(_import, _runtime(request), principal, folder)
        return Reply(200, result_outcome(result, names))

    return await _handle(request, work)
