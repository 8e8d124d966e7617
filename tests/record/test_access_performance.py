"""What makes access checks cheap keeps them exact: the remembered token principal, the one-query
relationship check, searches confined to one patient, totals without a count, and the text
screen before the sealing check."""

from __future__ import annotations

from datetime import timedelta

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from integrated_care import db
from integrated_care.accounts.models import ApiToken, User, UserRole
from integrated_care.accounts.policy import Principal
from integrated_care.record import relationships, sensitive
from integrated_care.runtime import Runtime
from tests.record.conftest import FHIR_JSON, SNOMED, condition, patient, post


def test_a_remembered_token_is_refused_at_once_when_revoked_expired_or_changed(
    app_client: TestClient, tokens: dict[str, str], record_runtime: Runtime
) -> None:
    headers = {"Authorization": f"Bearer {tokens['reader']}", "Accept": FHIR_JSON}
    assert app_client.get("/fhir/Patient", headers=headers).status_code == 200
    assert app_client.get("/fhir/Patient", headers=headers).status_code == 200  # remembered
    with record_runtime.transaction() as session:
        reader = session.scalar(select(User.id).where(User.username == "reader"))
        session.execute(delete(UserRole).where(UserRole.user_id == reader))
    refused = app_client.get("/fhir/Patient", headers=headers)
    assert refused.status_code == 403 and "none of your roles" in refused.text
    with record_runtime.transaction() as session:
        session.add(UserRole(user_id=reader, role="clinician"))
        session.execute(update(ApiToken).values(expires_at=db.utcnow() - timedelta(seconds=1)))
    assert app_client.get("/fhir/Patient", headers=headers).status_code == 401
    with record_runtime.transaction() as session:
        session.execute(
            update(ApiToken).values(
                expires_at=db.utcnow() + timedelta(days=1), revoked_at=db.utcnow()
            )
        )
    assert app_client.get("/fhir/Patient", headers=headers).status_code == 401


def _organisation(client: TestClient, code: str) -> str:
    body = {
        "resourceType": "Organization",
        "identifier": [{"system": relationships.ODS_SYSTEM, "value": code}],
        "name": code,
    }
    return str(post(client, "Organization", body).json()["id"])


def _principal(code: str) -> Principal:
    return Principal(
        user_id=1,
        username=f"user-{code}",
        display_name="Someone",
        roles=frozenset({"clinician"}),
        organisation_code=code,
        organisation_name=code,
        scopes=None,
        auth_method="token",
    )


def test_one_query_names_the_first_relationship_of_each_kind(
    fhir: TestClient, record_runtime: Runtime
) -> None:
    practice = _organisation(fhir, "A81001")
    trust = _organisation(fhir, "RX1")
    gp_practice = [{"reference": f"Organization/{practice}"}]
    registered = post(fhir, "Patient", patient(generalPractitioner=gp_practice)).json()["id"]
    episode = post(fhir, "Patient", patient(family="Episode")).json()["id"]
    closed = post(fhir, "Patient", patient(family="Closed")).json()["id"]
    for pid, status in ((episode, "active"), (closed, "finished")):
        body = {
            "resourceType": "EpisodeOfCare",
            "status": status,
            "patient": {"reference": f"Patient/{pid}"},
            "managingOrganization": {"reference": f"Organization/{trust}"},
        }
        assert post(fhir, "EpisodeOfCare", body).status_code == 201
    gp, hospital = _principal("A81001"), _principal("RX1")
    with record_runtime.transaction() as session:

        def basis(who: Principal, pid: str, **kw: bool) -> str | None:
            return relationships.relationship_basis(session, who, pid, **kw)

        assert basis(gp, registered) == "registered"
        assert basis(gp, registered, except_registered=True) is None
        assert basis(hospital, episode) == "episode"
        assert basis(hospital, closed) is None  # a finished episode is no relationship
        assert basis(hospital, registered) is None
        assert relationships.is_registered(session, gp, registered)
        assert not relationships.is_registered(session, hospital, registered)


def test_totals_are_right_with_and_without_counting(fhir: TestClient) -> None:
    pid = post(fhir, "Patient", patient()).json()["id"]
    other = post(fhir, "Patient", patient(family="Other")).json()["id"]
    for _ in range(3):
        post(fhir, "Condition", condition(pid))
    post(fhir, "Condition", condition(other))
    for query, total, returned in (
        (f"patient={pid}", 3, 3),  # page not full: no count needed
        (f"patient={pid}&_count=2", 3, 2),  # full page: counted
        (f"patient={pid}&_count=2&_offset=2", 3, 1),
        (f"patient={pid}&_count=2&_offset=5", 3, 0),  # past the end: counted
        (f"patient={pid}&_count=0", 3, 0),
        ("_count=3", 4, 3),
    ):
        bundle = fhir.get(f"/fhir/Condition?{query}").json()
        assert (bundle["total"], len(bundle.get("entry", []))) == (total, returned), query


def test_the_text_screen_never_misses_a_sensitive_resource() -> None:
    listed = sensitive.code_list()
    samples = [
        {"resourceType": "Condition", "code": {"coding": [{"system": system, "code": code}]}}
        for (system, code) in listed.exact
    ]
    samples += [
        {
            "resourceType": "Condition",
            "code": {"coding": [{"system": system, "code": f"{prefix[:3]}.{prefix[3:]}9"}]},
        }
        for (system, prefix, _category) in listed.prefixes
    ]
    samples.append(
        {
            "resourceType": "Observation",
            "meta": {"security": [{"system": sensitive.CONFIDENTIALITY_SYSTEM, "code": "R"}]},
        }
    )
    for resource in samples:
        assert sensitive.categories(resource), resource
        assert sensitive.may_be_sensitive(orjson.dumps(resource).decode()), resource
    ordinary = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": SNOMED, "code": "44054006"}]},
    }
    assert not sensitive.categories(ordinary)
    assert not sensitive.may_be_sensitive(orjson.dumps(ordinary).decode())
