"""Checking a resource before it is stored: FHIR R4B structure (fhir.resources), the id, and UK
identifiers. Problems come back as a 422 OperationOutcome naming each bad element."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from integrated_care.record.identifiers import identifier_problems
from integrated_care.record.outcomes import FhirError, Issue
from integrated_care.record.searchparams import definitions

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@lru_cache(maxsize=64)
def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def require_supported(resource_type: str) -> None:
    """404 unless the server serves `resource_type`."""
    if resource_type not in definitions().resources:
        raise FhirError.of(
            404,
            f"this server does not serve {resource_type} resources; see /fhir/metadata",
            code="not-supported",
        )


def require_valid_id(resource_id: str, where: str = "id") -> None:
    if not ID_PATTERN.match(resource_id):
        raise FhirError.of(
            400,
            f"{resource_id!r} is not a valid id: 1-64 letters, digits, '-' and '.'",
            expression=where,
        )


def _fhirpath(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType"
        else:
            path += f".{part}"
    return path


def validate_resource(resource_type: str, body: Any) -> dict[str, Any]:
    """The resource, if `body` is a valid `resource_type`; else FhirError (400 or 422)."""
    if not isinstance(body, dict):
        raise FhirError.of(400, "the body must be a JSON object: one FHIR resource")
    if body.get("resourceType") != resource_type:
        raise FhirError.of(
            400,
            f"expected a {resource_type} resource, got resourceType {body.get('resourceType')!r}",
            expression="resourceType",
        )
    if "id" in body and not (isinstance(body["id"], str) and ID_PATTERN.match(body["id"])):
        raise FhirError.of(422, "not a valid id", expression=f"{resource_type}.id")
    try:
        _model(resource_type).model_validate(body)
    except ValidationError as exc:
        issues = [
            Issue(
                f"{_fhirpath(resource_type, tuple(e['loc']))}: {e['msg']}",
                code="structure" if e["type"] == "extra_forbidden" else "invalid",
                expression=(_fhirpath(resource_type, tuple(e["loc"])),),
            )
            for e in exc.errors()[:50]
        ]
        raise FhirError(422, issues) from exc
    except Exception as exc:  # fhir.resources raises KeyError etc. for unknown contained types
        raise FhirError.of(
            422, f"{resource_type} is not valid FHIR R4: {exc!r}", expression=resource_type
        ) from exc
    uk_problems = [
        Issue(f"{where}: {problem}", code="value", expression=(where,))
        for where, problem in identifier_problems(body)
    ]
    if uk_problems:
        raise FhirError(422, uk_problems)
    return body
