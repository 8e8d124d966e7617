"""The record built from the input layer through the bulk path: what `ics record load` stores
is what the extracts hold (counted independently with DuckDB), searchable exactly as if it had
come through the API, with every reference resolving and no partial patient after a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from sqlalchemy import func, select

from integrated_care.accounts.audit import verify_chain
from integrated_care.accounts.models import AuditEvent
from integrated_care.record import service, store
from integrated_care.record.loader import ACTION, Scope, default_pcn, load_record
from integrated_care.record.models import (
    RecordResource,
    SearchDate,
    SearchReference,
    SearchString,
    SearchToken,
)
from integrated_care.record.service import Caller
from integrated_care.record.validation import validate_resource
from integrated_care.runtime import Runtime

NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from integrated_care.synth.generator import SynthConfig, generate

    out = tmp_path_factory.mktemp("extract")
    generate(SynthConfig(icb="QK1", out=out, population=2500, years=2, seed=7), show_progress=False)
    return out


def _duck(folder: Path, practices_sql: str) -> duckdb.DuckDBPyConnection:
    """The extracts as views, with `scope` = the patients whose latest registration is at one
    of the practices `practices_sql` selects (written independently of the loader)."""
    con = duckdb.connect()
    for path in folder.glob("*.parquet"):
        con.execute(f"CREATE VIEW {path.stem} AS SELECT * FROM read_parquet('{path}')")
    con.execute(f"""CREATE TABLE scope AS
        SELECT p.*, r.practice_code, r.end_date IS NULL AS registered FROM patients p
        JOIN (SELECT * FROM registrations QUALIFY row_number() OVER (PARTITION BY patient_id
              ORDER BY start_date DESC, practice_code) = 1) r USING (patient_id)
        WHERE r.practice_code IN ({practices_sql})""")
    return con


def _expected(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    def n(sql: str) -> int:
        return con.execute(sql).fetchone()[0]  # type: ignore[index]

    mine = "WHERE patient_id IN (SELECT patient_id FROM scope)"
    diagnosis_codes = Path(__file__).resolve().parents[2] / (
        "src/integrated_care/record/data/gp_diagnosis_codes.csv"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE dx AS SELECT snomed_code::VARCHAR AS code "
        f"FROM read_csv('{diagnosis_codes}', all_varchar=true)"
    )
    gp = f"(SELECT * FROM gp_events {mine})"
    hospital_dx = n(f"""SELECT count(*) FROM (SELECT unnest(list_filter(
        [primary_diagnosis] || coalesce(string_split(secondary_diagnoses, '|'), []),
        x -> x IS NOT NULL AND x <> '')) FROM apc_spells {mine})""")
    return {
        "Patient": n("SELECT count(*) FROM scope"),
        "Organization": n("SELECT count(*) FROM organisations"),
        "EpisodeOfCare": n(f"SELECT count(*) FROM registrations {mine}")
        + n(f"SELECT count(*) FROM social_care_services {mine}"),
        "Encounter": sum(
            n(f"SELECT count(*) FROM {t} {mine}")
            for t in (
                "gp_appointments",
                "apc_spells",
                "ae_attendances",
                "op_appointments",
                "community_contacts",
                "mh_contacts",
            )
        ),
        "MedicationRequest": n(f"SELECT count(*) FROM medications {mine}"),
        "Condition": n(f"SELECT count(*) FROM {gp} WHERE snomed_code IN (SELECT code FROM dx)")
        + hospital_dx
        + n(f"SELECT count(*) FROM ae_attendances {mine} AND diagnosis IS NOT NULL"),
        "Observation": n(
            f"SELECT count(*) FROM {gp} WHERE snomed_code NOT IN "
            "(SELECT code FROM dx) AND NOT isnan(numeric_value)"
        ),
        "Procedure": n(
            f"SELECT count(*) FROM {gp} WHERE snomed_code NOT IN (SELECT code FROM dx)"
            " AND (numeric_value IS NULL OR isnan(numeric_value))"
        )
        + n(f"SELECT count(*) FROM apc_spells {mine} AND primary_procedure IS NOT NULL"),
    }


def _total(runtime: Runtime, caller: Caller, resource_type: str, *pairs: tuple[str, str]) -> int:
    reply = service.search_type(runtime, caller, resource_type, [*pairs, ("_count", "0")])
    assert reply.status == 200, reply.json()
    return reply.json()["total"]


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def test_a_pcn_loads_searchable_as_the_extracts_say(
    record_runtime: Runtime, gp_caller: Caller, extract: Path
) -> None:
    pcn = default_pcn(extract)
    result = load_record(
        record_runtime, extract, Scope("pcn", pcn), patients_per_batch=40, chunk_patients=90
    )
    con = _duck(extract, f"SELECT org_code FROM organisations WHERE parent_code = '{pcn}'")
    expected = _expected(con)
    assert expected["Patient"] > 40  # several batches and chunks
    assert dict(result.stored) == {k: v for k, v in expected.items() if v}
    for resource_type, count in expected.items():
        assert _total(record_runtime, gp_caller, resource_type) == count, resource_type

    # One person, found by NHS number, and their record searched by the usual parameters.
    person = con.execute("""SELECT patient_id, nhs_number, practice_code FROM scope
        WHERE registered ORDER BY (SELECT count(*) FROM gp_appointments g
        WHERE g.patient_id = scope.patient_id) DESC LIMIT 1""").fetchone()
    assert person is not None
    found = service.search_type(
        record_runtime, gp_caller, "Patient", [("identifier", f"{NHS}|{person[1]}")]
    ).json()
    assert found["total"] == 1
    patient = found["entry"][0]["resource"]
    assert patient["generalPractitioner"][0]["reference"] == f"Organization/{person[2]}"
    pid = patient["id"]

    def count(sql: str) -> int:
        return con.execute(sql, [person[0]]).fetchone()[0]  # type: ignore[index]

    assert _total(
        record_runtime, gp_caller, "Encounter", ("patient", pid), ("class", "EMER")
    ) == count("SELECT count(*) FROM ae_attendances WHERE patient_id = $1")
    assert _total(record_runtime, gp_caller, "MedicationRequest", ("patient", pid)) == count(
        "SELECT count(*) FROM medications WHERE patient_id = $1"
    )
    code, day = con.execute(
        "SELECT snomed_code, min(date) FROM gp_events WHERE patient_id = $1 "
        "GROUP BY 1 ORDER BY 2 LIMIT 1",
        [person[0]],
    ).fetchone()  # type: ignore[misc]
    kind = next(
        t
        for t in ("Condition", "Observation", "Procedure")
        if _total(record_runtime, gp_caller, t, ("patient", pid), ("code", code))
    )
    assert _total(
        record_runtime,
        gp_caller,
        kind,
        ("patient", pid),
        ("code", f"http://snomed.info/sct|{code}"),
    ) == count(f"SELECT count(*) FROM gp_events WHERE patient_id = $1 AND snomed_code = '{code}'")
    date_param = {"Condition": "onset-date"}.get(kind, "date")
    assert _total(
        record_runtime,
        gp_caller,
        kind,
        ("patient", pid),
        ("code", code),
        (date_param, f"le{day.isoformat()}"),
    ) == count(
        f"SELECT count(*) FROM gp_events WHERE patient_id = $1 AND snomed_code = '{code}' "
        f"AND date <= DATE '{day.isoformat()}'"
    )
    practice_total = con.execute(
        "SELECT count(*) FROM scope WHERE registered AND practice_code = $1", [person[2]]
    ).fetchone()[0]  # type: ignore[index]
    assert (
        _total(
            record_runtime,
            gp_caller,
            "Patient",
            ("general-practitioner", f"Organization/{person[2]}"),
        )
        == practice_total
    )
    everything = service.everything(record_runtime, gp_caller, pid, []).json()
    own = sum(1 for e in everything["entry"] if e["resource"]["resourceType"] != "Organization")
    assert own == count("""SELECT 1 + (SELECT count(*) FROM registrations WHERE patient_id = $1)
        + (SELECT count(*) FROM gp_appointments WHERE patient_id = $1)
        + (SELECT count(*) FROM gp_events WHERE patient_id = $1)
        + (SELECT count(*) FROM medications WHERE patient_id = $1)
        + (SELECT count(*) FROM op_appointments WHERE patient_id = $1)
        + (SELECT count(*) FROM community_contacts WHERE patient_id = $1)
        + (SELECT count(*) FROM mh_contacts WHERE patient_id = $1)
        + (SELECT count(*) FROM social_care_services WHERE patient_id = $1)
        + (SELECT count(*) + count(diagnosis) FROM ae_attendances WHERE patient_id = $1)
        + (SELECT count(*) + count(primary_procedure) + coalesce(sum(
              len(list_filter([primary_diagnosis] || coalesce(string_split(secondary_diagnoses,
              '|'), []), x -> x IS NOT NULL AND x <> ''))), 0)
           FROM apc_spells WHERE patient_id = $1)""")

    # Every reference in every stored resource resolves to a stored resource.
    with record_runtime.transaction() as session:
        stored = {
            (t, i)
            for t, i in session.execute(select(RecordResource.resource_type, RecordResource.id))
        }
        references = [
            ref
            for (content,) in session.execute(select(RecordResource.content))
            for ref in _references(orjson.loads(content))
        ]
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == ACTION)).all()
        assert verify_chain(session).ok
    assert references and all(tuple(ref.split("/")) in stored for ref in references)
    # One audit event per batch (plus the organisations), naming every patient written.
    # (patients are read 90 at a time and written 40 at a time: 90 = 40 + 40 + 10, ...)
    chunks = [min(90, expected["Patient"] - start) for start in range(0, expected["Patient"], 90)]
    assert len(events) == 1 + sum(-(-size // 40) for size in chunks)
    assert sum(len(e.detail["patients"]) for e in events) == expected["Patient"]


def _index_of(session: Any, resource_type: str, resource_id: str) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    out = {}
    for table, columns in (
        (SearchToken, ("param", "system", "code")),
        (SearchString, ("param", "value", "exact")),
        (SearchDate, ("param", "low", "high")),
        (SearchReference, ("param", "target_type", "target_id")),
    ):
        rows = session.execute(
            select(*(getattr(table, c) for c in columns)).where(
                table.resource_type == resource_type, table.resource_id == resource_id
            )
        ).all()
        out[table.__tablename__] = sorted(tuple(r) for r in rows)
    return out


def test_loaded_resources_are_valid_r4_and_indexed_as_the_api_indexes_them(
    record_runtime: Runtime, gp_caller: Caller, extract: Path
) -> None:
    load_record(record_runtime, extract, Scope("pcn", default_pcn(extract)))
    with record_runtime.transaction() as session:
        rows = session.execute(
            select(RecordResource.resource_type, RecordResource.id, RecordResource.content)
        ).all()
    # One of each kind of template (type + profile of elements), validated by the R4B models.
    samples: dict[tuple[str, ...], tuple[str, str, dict]] = {}  # type: ignore[type-arg]
    for resource_type, resource_id, content in rows:
        resource = orjson.loads(content)
        shape = (
            resource_type,
            *sorted(resource),
            str(resource.get("class", "")),
            str(resource.get("category", "")),
        )
        samples.setdefault(shape, (resource_type, resource_id, resource))
    assert {s[0] for s in samples.values()} >= {
        "Patient",
        "Organization",
        "EpisodeOfCare",
        "Encounter",
        "Condition",
        "Observation",
        "MedicationRequest",
        "Procedure",
    }
    for resource_type, resource_id, resource in samples.values():
        validate_resource(resource_type, resource)
        # The same resource written through the API gets exactly the same index rows.
        copy = {k: v for k, v in resource.items() if k != "meta"} | {
            "id": f"api-{resource_id[:50]}"
        }
        reply = service.update(record_runtime, gp_caller, resource_type, copy["id"], copy)
        assert reply.status == 201, reply.json()
        with record_runtime.transaction() as session:
            loaded = _index_of(session, resource_type, resource_id)
            through_api = _index_of(session, resource_type, copy["id"])
        assert loaded == through_api, resource_type
        assert any(loaded.values()), resource_type


def test_a_crash_mid_load_leaves_whole_patients_and_a_rerun_finishes(
    record_runtime: Runtime, gp_caller: Caller, extract: Path
) -> None:
    scope = Scope("pcn", default_pcn(extract))
    seen: list[list[str]] = []

    def crash_on_third(session: Any, patients: list[str]) -> None:
        seen.append(patients)
        if len(seen) == 3:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        load_record(record_runtime, extract, scope, patients_per_batch=15, on_batch=crash_on_third)
    committed = {p for batch in seen[:2] for p in batch}
    lost = set(seen[2])
    with record_runtime.transaction() as session:
        patients = set(
            session.scalars(
                select(RecordResource.id).where(RecordResource.resource_type == "Patient")
            )
        )
        compartments = set(session.scalars(select(RecordResource.patient_id).distinct()))
        versions = {
            patient: store.history(session, "Patient", patient).total for patient in committed
        }
        lost_rows = session.scalar(
            select(func.count())
            .select_from(SearchReference)
            .where(SearchReference.target_id.in_(lost))
        )
        batches = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == ACTION)
        )
    assert patients == committed
    assert compartments - {None} == committed
    assert set(versions.values()) == {1}  # each committed patient's version 1, listed once
    assert lost_rows == 0
    assert batches == 1 + 2  # organisations + the two committed batches

    con = _duck(extract, f"SELECT org_code FROM organisations WHERE parent_code = '{scope.code}'")
    expected = _expected(con)
    again = load_record(record_runtime, extract, scope, patients_per_batch=15)
    assert again.skipped_patients == len(committed)
    for resource_type, count in expected.items():
        assert _total(record_runtime, gp_caller, resource_type) == count, resource_type


def test_a_place_loads_every_practice_of_the_place(
    record_runtime: Runtime, gp_caller: Caller, extract: Path
) -> None:
    con = duckdb.connect()
    place = con.execute(
        f"SELECT place_code FROM read_parquet('{extract / 'places.parquet'}') ORDER BY 1 LIMIT 1"
    ).fetchone()[0]  # type: ignore[index]
    load_record(record_runtime, extract, Scope("place", place))
    expected = _duck(
        extract,
        "SELECT org_code FROM organisations WHERE org_type = "
        f"'gp_practice' AND place_code = '{place}'",
    )
    count = expected.execute("SELECT count(*) FROM scope").fetchone()[0]  # type: ignore[index]
    assert count > 0
    assert _total(record_runtime, gp_caller, "Patient") == count
