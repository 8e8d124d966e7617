"""Random searches and writes never make the server fail: every answer is a Bundle or an
OperationOutcome with a 2xx/4xx status (property-based, with hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrated_care.record import service
from integrated_care.record.searchparams import definitions
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime
from tests.record.conftest import condition, patient

TYPES = sorted(definitions().resources)
NAMES = sorted(
    {p for d in definitions().resources.values() for p in d.params}
    | {"_id", "_lastUpdated", "_count", "_offset", "_sort", "_include", "_revinclude", "_total"}
)
MODIFIERS = ["", ":exact", ":contains", ":missing", ":not", ":Patient", ":iterate", ":bogus"]
PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]
VALUES = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\A-?\d{1,5}\Z"),
    st.builds(
        lambda p, d: p + d,
        st.sampled_from(PREFIXES),
        st.from_regex(r"\A\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2})?Z?)?)?)?\Z"),
    ),
    st.builds(lambda s, c: f"{s}|{c}", st.text(max_size=10), st.text(max_size=10)),
    st.builds(lambda t, i: f"{t}/{i}", st.sampled_from(TYPES), st.text(max_size=10)),
    st.builds(lambda t, n: f"{t}:{n}", st.sampled_from(TYPES), st.sampled_from(NAMES)),
)
PAIRS = st.lists(
    st.tuples(
        st.builds(lambda n, m: n + m, st.sampled_from(NAMES), st.sampled_from(MODIFIERS)),
        VALUES,
    ),
    max_size=4,
)
ANSWERS = ("Bundle", "OperationOutcome")


@pytest.fixture
def seeded(record_runtime: Runtime, gp_caller: Caller) -> Runtime:
    """A store with a patient and a condition, so searches have something to find."""
    pid = service.create(record_runtime, gp_caller, "Patient", patient()).json()["id"]
    assert service.create(record_runtime, gp_caller, "Condition", condition(pid)).status == 201
    return record_runtime


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(resource_type=st.sampled_from(TYPES), pairs=PAIRS, strict=st.booleans())
def test_random_searches_answer_bundle_or_outcome(
    seeded: Runtime,
    gp_caller: Caller,
    resource_type: str,
    pairs: list,
    strict: bool,  # type: ignore[type-arg]
) -> None:
    caller = Caller(gp_caller.principal, strict=strict)
    reply = service.search_type(seeded, caller, resource_type, pairs)
    assert reply.status in (200, 400), reply.json()
    assert reply.json()["resourceType"] in ANSWERS


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "given",
                    "family",
                    "code",
                    "reference",
                    "coding",
                    "system",
                    "value",
                    "start",
                    "id",
                    "meta",
                ]
            ),
            children,
            max_size=3,
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    resource_type=st.sampled_from(TYPES),
    extra=st.dictionaries(
        st.sampled_from(
            [
                "name",
                "identifier",
                "subject",
                "code",
                "birthDate",
                "period",
                "onsetDateTime",
                "status",
                "category",
                "contained",
                "patient",
            ]
        ),
        JSON,
        max_size=3,
    ),
)
def test_random_writes_answer_resource_or_outcome(
    record_runtime: Runtime,
    gp_caller: Caller,
    resource_type: str,
    extra: dict,  # type: ignore[type-arg]
) -> None:
    body = {"resourceType": resource_type, **extra}
    reply = service.create(record_runtime, gp_caller, resource_type, body)
    assert reply.status in (201, 400, 422), reply.json()
    assert reply.json()["resourceType"] in (resource_type, "OperationOutcome")


SEGMENTS = st.one_of(
    st.sampled_from([*TYPES, "_history", "$everything", "_search", "metadata", "1", "Spaceship"]),
    st.text(alphabet="abcXYZ019-._$", min_size=1, max_size=8),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    segments=st.lists(SEGMENTS, min_size=0, max_size=5),
    query=st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=2),
    body=st.one_of(st.none(), JSON),
)
def test_random_requests_under_fhir_answer_fhir_json(
    fhir,
    method: str,
    segments: list[str],
    query: list,
    body: object,  # type: ignore[no-untyped-def, type-arg]
) -> None:
    path = "/fhir" + "".join(f"/{s}" for s in segments)
    response = fhir.request(
        method,
        path,
        params=query,
        json=body,
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code < 500, (method, path, response.text)
    if response.status_code != 204:
        assert response.headers["content-type"].startswith("application/fhir+json")
        assert "resourceType" in response.json()
