"""The CapabilityStatement at /fhir/metadata, built from what the server really does: the types
and search parameters of data/search_parameters.json and the interactions of routes.py."""

from __future__ import annotations

from typing import Any

from integrated_care import __version__
from integrated_care.record.export import BULK_OPERATIONS
from integrated_care.record.search import RESULT_PARAMS
from integrated_care.record.searchparams import COMMON_PARAMS, definitions

FHIR_VERSION = "4.0.1"
TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
SYSTEM_INTERACTIONS = ("transaction", "batch")


def _search_params(resource_type: str) -> list[dict[str, Any]]:
    params = [
        {"name": name, "type": kind, "documentation": doc}
        for name, (kind, doc) in COMMON_PARAMS.items()
    ]
    params += [
        {"name": p.name, "type": p.type, "documentation": p.doc}
        for p in definitions().resources[resource_type].params.values()
    ]
    return params


def _resource(resource_type: str) -> dict[str, Any]:
    definition = definitions().resources[resource_type]
    references = [p for p in definition.params.values() if p.type == "reference"]
    incoming = [
        f"{other.resource_type}:{p.name}"
        for other in definitions().resources.values()
        for p in other.params.values()
        if p.type == "reference" and resource_type in p.targets
    ]
    entry: dict[str, Any] = {
        "type": resource_type,
        "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "searchInclude": [f"{resource_type}:{p.name}" for p in references],
        "searchRevInclude": sorted(incoming),
        "searchParam": _search_params(resource_type),
    }
    if resource_type == "Patient":
        entry["operation"] = [
            {
                "name": "everything",
                "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
            }
        ]
    return entry


def capability_statement(base_url: str, date: str) -> dict[str, Any]:
    """What this server supports, for clients to read before they call it."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "integrated-care",
        "kind": "instance",
        "software": {"name": "integrated-care", "version": __version__},
        "implementation": {
            "description": "The ICS shared care record (FHIR R4; writes validated against the "
            "R4B models of fhir.resources)",
            "url": base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Result parameters: " + ", ".join(RESULT_PARAMS) + ". "
                "Unknown search parameters are ignored with a warning unless the request says "
                "Prefer: handling=strict.",
                "security": {
                    "cors": False,
                    "description": "Bearer API tokens (scopes record:read / record:write) or a "
                    "signed-in session; every interaction is authorised and audited.",
                },
                "resource": [_resource(t) for t in sorted(definitions().resources)],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                "operation": BULK_OPERATIONS,  # $export (also Patient/, Group/), $import
            }
        ],
    }
