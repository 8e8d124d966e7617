"""The FHIR server (/fhir) fuzzed over HTTP with hypothesis: broken resources on create and
update, odd search parameters, bad ids, huge page sizes, bad dates, bad If-Match headers and
nonsense bundles. Whatever arrives, the answer is never a server error (5xx), and every error is
an OperationOutcome saying what was wrong.

Bounded for CI: derandomized (the same examples every run), a few dozen examples per test; set
ICS_FUZZ_EXAMPLES for a deeper run (examples per test = 8 x that)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrated_care.record.searchparams import definitions
from tests.record.conftest import FHIR_JSON, condition, patient

TYPES = sorted(definitions().resources)
SEARCH_NAMES = sorted(
    {p for d in definitions().resources.values() for p in d.params}
    | {"_id", "_lastUpdated", "_count", "_offset", "_sort", "_include", "_revinclude", "_total"}
    | {"_elements", "_summary", "_format", "_since", "_at", "_type", "_has:Condition:subject:code"}
)
EXAMPLES = 8 * int(os.environ.get("ICS_FUZZ_EXAMPLES", "5"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# ---- what the fuzz sends -----------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = [
    "id", "meta", "identifier", "name", "birthDate", "gender", "subject", "patient", "code",
    "status", "clinicalStatus", "onsetDateTime", "effectiveDateTime", "period", "valueQuantity",
    "contained", "extension", "text", "resourceType", "managingOrganization", "deceasedBoolean",
]  # fmt: skip
DATES = st.one_of(
    st.text(max_size=25),
    st.from_regex(
        r"\A-?\d{1,6}(-\d{1,3}(-\d{1,3}(T\d{1,2}:\d{1,2}(:\d{1,2}(\.\d{1,9})?)?)?)?)?"
        r"(Z|[+-]\d{2}:\d{2})?\Z"
    ),
    st.sampled_from(["2024-02-30", "0000-01-01", "9999-12-31T23:59:60Z", "2024-13-01", "today"]),
)
IDS = st.one_of(
    st.text(min_size=1, max_size=80).filter(lambda s: s not in (".", "..")),
    st.text(alphabet="ABCxyz0189-.", min_size=65, max_size=300),
    st.sampled_from(["%00", "..%2F..", "1 OR 1=1", "$everything", "_history", "ü", "9" * 40]),
)
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
IF_MATCH = st.one_of(
    HEADER_TEXT,
    st.builds(lambda v: f'W/"{v}"', HEADER_TEXT),
    st.builds(lambda v: f'W/"{v}"', st.integers(min_value=-(2**70), max_value=2**70)),
    st.sampled_from(['W/""', "*", 'W/"1", W/"2"', '"1"', "W/1"]),
)
COUNTS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", "abc", "1e9", "10.5", "-0", "99999999999999999999999999"]),
)
MODIFIERS = ["", ":exact", ":contains", ":missing", ":not", ":text", ":Patient", ":below", ":x"]
PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "zz"]
SEARCH_VALUES = st.one_of(
    st.text(max_size=30),
    st.builds(lambda p, d: p + d, st.sampled_from(PREFIXES), DATES),
    st.builds(lambda s, c: f"{s}|{c}", st.text(max_size=10), st.text(max_size=10)),
    st.builds(lambda t, i: f"{t}/{i}", st.sampled_from(TYPES), IDS),
    st.builds(lambda t, n: f"{t}:{n}", st.sampled_from(TYPES), st.sampled_from(SEARCH_NAMES)),
    COUNTS,
)
SEARCH = st.lists(
    st.tuples(
        st.builds(lambda n, m: n + m, st.sampled_from(SEARCH_NAMES), st.sampled_from(MODIFIERS)),
        SEARCH_VALUES,
    ),
    max_size=5,
)


def _valid(resource_type: str, patient_id: str) -> dict[str, Any]:
    return condition(patient_id) if resource_type == "Condition" else patient()


@st.composite
def broken_resources(draw: st.DrawFn, patient_id: str) -> tuple[str, Any]:
    """(type in the URL, body): a valid Patient or Condition with fields replaced by junk, a
    date made bad, the wrong resourceType, or no resource at all."""
    resource_type = draw(st.sampled_from(["Patient", "Condition", *TYPES]))
    body = _valid(resource_type, patient_id)
    body["resourceType"] = resource_type
    kind = draw(st.sampled_from(["fields", "date", "type", "junk"]))
    if kind == "fields":
        body.update(draw(st.dictionaries(st.sampled_from(FIELDS), JSON, min_size=1, max_size=4)))
    elif kind == "date":
        field = "onsetDateTime" if resource_type == "Condition" else "birthDate"
        body[field] = draw(DATES)
    elif kind == "type":
        body["resourceType"] = draw(st.one_of(st.sampled_from(TYPES), JSON))
    else:
        return resource_type, draw(JSON)
    return resource_type, body


ENTRY_URLS = st.one_of(
    st.builds(lambda t, i: f"{t}/{i}", st.sampled_from(TYPES), IDS),
    st.sampled_from(TYPES),
    st.builds(lambda t, q: f"{t}?{q}", st.sampled_from(TYPES), st.text(max_size=20)),
    st.text(max_size=30),
    st.sampled_from(["urn:uuid:1", "http://elsewhere/fhir/Patient/1", "", "$everything"]),
)


@st.composite
def nonsense_bundles(draw: st.DrawFn, patient_id: str) -> Any:
    """Bundles of any type with entries of random methods, URLs, references and resources."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    entries = []
    for _ in range(draw(st.integers(0, 4))):
        entry: dict[str, Any] = {
            "request": {
                "method": draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "X"])),
                "url": draw(ENTRY_URLS),
            }
        }
        if draw(st.booleans()):
            entry["fullUrl"] = draw(st.one_of(st.just("urn:uuid:1"), st.text(max_size=20)))
        if draw(st.booleans()):
            _, resource = draw(broken_resources(patient_id))
            if isinstance(resource, dict) and draw(st.booleans()):
                resource["subject"] = {"reference": draw(ENTRY_URLS)}
            entry["resource"] = resource
        if draw(st.booleans()):
            entry["request"]["ifMatch"] = draw(IF_MATCH)
        if draw(st.booleans()):
            entry.update(draw(st.dictionaries(st.sampled_from(["request", "response"]), JSON)))
        entries.append(entry)
    return {
        "resourceType": "Bundle",
        "type": draw(st.one_of(st.sampled_from(["transaction", "batch", "collection"]), JSON)),
        "entry": draw(st.one_of(st.just(entries), JSON)),
    }


# ---- what every answer must be -----------------------------------------------------------------


def assert_fhir_answer(response: Any) -> None:
    """Not a server error; any error an OperationOutcome with at least one issue."""
    request = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, f"{response.status_code} from {request}: {response.text}"
    if response.status_code >= 400:
        body = response.json()
        assert body["resourceType"] == "OperationOutcome", (request, body)
        assert body["issue"] and body["issue"][0]["diagnostics"], (request, body)


def _send(api: TestClient, method: str, path: str, body: Any = None, **headers: str) -> Any:
    return api.request(method, path, json=body, headers={"Content-Type": FHIR_JSON, **headers})


# ---- the fuzz ----------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_broken_resources_on_create(api: TestClient, patient_id: str, data: st.DataObject) -> None:
    resource_type, body = data.draw(broken_resources(patient_id))
    assert_fhir_answer(_send(api, "POST", f"/fhir/{resource_type}", body))


@FUZZ
@given(data=st.data(), if_match=st.one_of(st.none(), IF_MATCH))
def test_broken_resources_and_if_match_on_update(
    api: TestClient, patient_id: str, data: st.DataObject, if_match: str | None
) -> None:
    resource_type, body = data.draw(broken_resources(patient_id))
    target = patient_id if resource_type == "Patient" else data.draw(IDS)
    if isinstance(body, dict) and data.draw(st.booleans()):
        body["id"] = target
    headers = {"If-Match": if_match} if if_match is not None else {}
    path = f"/fhir/{resource_type}/{quote(target, safe='')}"
    assert_fhir_answer(api.put(path, json=body, headers={"Content-Type": FHIR_JSON, **headers}))


@FUZZ
@given(
    resource_type=st.sampled_from(TYPES),
    params=SEARCH,
    count=st.one_of(st.none(), COUNTS),
    method=st.sampled_from(["GET", "POST"]),
)
def test_odd_searches(
    api: TestClient,
    resource_type: str,
    params: list[tuple[str, str]],
    count: str | None,
    method: str,
) -> None:
    query = [*params, *([("_count", count)] if count is not None else [])]
    if method == "GET":
        response = api.get(f"/fhir/{resource_type}", params=query)
    else:
        response = api.post(
            f"/fhir/{resource_type}/_search",
            data=dict(query),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert_fhir_answer(response)


@FUZZ
@given(
    resource_type=st.one_of(st.sampled_from(TYPES), IDS),
    resource_id=IDS,
    version=st.one_of(IDS, st.integers(min_value=-(2**70), max_value=2**70).map(str)),
    action=st.sampled_from(["read", "vread", "history", "delete", "everything", "type-history"]),
    if_match=st.one_of(st.none(), IF_MATCH),
    since=st.one_of(st.none(), DATES),
)
def test_bad_ids_versions_and_dates(
    api: TestClient,
    resource_type: str,
    resource_id: str,
    version: str,
    action: str,
    if_match: str | None,
    since: str | None,
) -> None:
    kind = quote(resource_type, safe="")
    base = f"/fhir/{kind}/{quote(resource_id, safe='')}"
    path = {
        "read": base,
        "vread": f"{base}/_history/{quote(version, safe='')}",
        "history": f"{base}/_history",
        "delete": base,
        "everything": f"{base}/$everything",
        "type-history": f"/fhir/{kind}/_history",
    }[action]
    headers = {"If-Match": if_match} if if_match is not None else {}
    params = {"_since": since, "_count": version} if since is not None else {}
    method = "DELETE" if action == "delete" else "GET"
    assert_fhir_answer(api.request(method, path, params=params, headers=headers))


@FUZZ
@given(data=st.data())
def test_nonsense_bundles(api: TestClient, patient_id: str, data: st.DataObject) -> None:
    assert_fhir_answer(_send(api, "POST", "/fhir", data.draw(nonsense_bundles(patient_id))))


@settings(FUZZ, max_examples=EXAMPLES // 2)
@given(
    body=st.binary(max_size=200),
    content_type=st.sampled_from([FHIR_JSON, "application/json", "text/plain", "", "x/y"]),
)
def test_bodies_that_are_not_json(api: TestClient, body: bytes, content_type: str) -> None:
    response = api.post("/fhir/Patient", content=body, headers={"Content-Type": content_type})
    assert_fhir_answer(response)


def test_a_valid_update_with_the_right_version_still_works(api: TestClient) -> None:
    """The fuzz is not passing because everything is refused."""
    created = _send(api, "POST", "/fhir/Patient", patient(family="Valid"))
    assert created.status_code == 201, created.text
    body = created.json()
    body["gender"] = "male"
    updated = _send(
        api, "PUT", f"/fhir/Patient/{body['id']}", body, **{"If-Match": created.headers["etag"]}
    )
    assert updated.status_code == 200, updated.text
    stale = _send(
        api, "PUT", f"/fhir/Patient/{body['id']}", body, **{"If-Match": created.headers["etag"]}
    )
    assert stale.status_code in (409, 412)
    assert_fhir_answer(stale)
