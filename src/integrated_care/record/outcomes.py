"""OperationOutcome: how every error (and every warning) of the FHIR API is reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The issue code FHIR expects for each HTTP status (http://hl7.org/fhir/valueset-issue-type).
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    415: "not-supported",
    422: "processing",
    500: "exception",
}


@dataclass(frozen=True)
class Issue:
    diagnostics: str
    code: str = "processing"
    severity: str = "error"
    expression: tuple[str, ...] = ()

    def as_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.as_fhir() for i in issues]}


@dataclass
class FhirError(Exception):
    """An interaction that failed: the HTTP status and the issues the OperationOutcome lists."""

    status: int
    issues: list[Issue]
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues)

    @classmethod
    def of(
        cls,
        status: int,
        diagnostics: str,
        *,
        expression: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> FhirError:
        issue = Issue(
            diagnostics,
            code=code or ISSUE_CODES.get(status, "processing"),
            expression=(expression,) if expression else (),
        )
        return cls(status, [issue], dict(headers or {}))

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues)
