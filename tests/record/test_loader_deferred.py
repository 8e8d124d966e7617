"""The record load's fast paths keep the store correct: built in this process or in a worker,
with the secondary indexes dropped for the load and rebuilt at the end (also after a failure,
and by the next load when a killed one left them missing), and with each bulk-loaded version
stored once yet still found by vread and _history after it is superseded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from integrated_care.record import deferred_indexes, service, store
from integrated_care.record.loader import Scope, default_pcn, load_record
from integrated_care.record.models import RecordResource, RecordResourceHistory
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime
from tests.record import test_loader
from tests.record.test_loader import _duck, _expected, _total

extract = test_loader.extract  # the same synthetic extract fixture


def _missing(runtime: Runtime) -> list[str]:
    with runtime.transaction() as session:
        return [str(index.name) for index in deferred_indexes.missing_indexes(session)]


def _pcn_expected(folder: Path, pcn: str) -> dict[str, int]:
    return _expected(
        _duck(folder, f"SELECT org_code FROM organisations WHERE parent_code = '{pcn}'")
    )


def test_built_in_process_with_deferred_indexes_the_record_is_complete_and_searchable(
    record_runtime: Runtime, gp_caller: Caller, extract: Path
) -> None:
    pcn = default_pcn(extract)
    result = load_record(
        record_runtime, extract, Scope("pcn", pcn), parallel=False, defer_indexes=True
    )
    assert _missing(record_runtime) == []  # every index built again
    expected = _pcn_expected(extract, pcn)
    assert dict(result.stored) == {k: v for k, v in expected.items() if v}
    for resource_type, count in expected.items():
        assert _total(record_runtime, gp_caller, resource_type) == count, resource_type

    # A loaded version is stored once (no history row) and read back by vread and _history;
    # superseded by an API update, it moves to history and both versions stay readable.
    with record_runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(RecordResourceHistory)) == 0
        condition_id = session.scalar(
            select(RecordResource.id).where(RecordResource.resource_type == "Condition").limit(1)
        )
    assert condition_id is not None
    first = service.read(record_runtime, gp_caller, "Condition", condition_id, "1").json()
    changed = {k: v for k, v in first.items() if k != "meta"} | {"note": [{"text": "reviewed"}]}
    reply = service.update(record_runtime, gp_caller, "Condition", condition_id, changed)
    assert reply.status == 200, reply.json()
    history = service.history(record_runtime, gp_caller, "Condition", condition_id, []).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "PUT"]
    again = service.read(record_runtime, gp_caller, "Condition", condition_id, "1").json()
    assert again == first and "note" not in again
    with record_runtime.transaction() as session:
        assert session.scalar(select(func.count()).select_from(RecordResourceHistory)) == 2
        type_history = store.history(session, "Condition", count=1000)
    assert type_history.total == expected["Condition"] + 1  # every version of every Condition


def test_a_failed_deferred_load_rebuilds_the_indexes_and_keeps_whole_patients(
    record_runtime: Runtime, gp_caller: Caller, extract: Path
) -> None:
    scope = Scope("pcn", default_pcn(extract))
    seen: list[list[str]] = []

    def fail_on_second(session: Any, patients: list[str]) -> None:
        seen.append(patients)
        if len(seen) == 2:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        load_record(
            record_runtime,
            extract,
            scope,
            patients_per_batch=20,
            on_batch=fail_on_second,
            defer_indexes=True,
        )
    assert _missing(record_runtime) == []
    with record_runtime.transaction() as session:
        patients = set(
            session.scalars(
                select(RecordResource.id).where(RecordResource.resource_type == "Patient")
            )
        )
    assert patients == set(seen[0])

    # A load killed outright leaves the indexes dropped: the next load finishes the job.
    with record_runtime.transaction() as session:
        deferred_indexes.drop_indexes(session)
    assert len(_missing(record_runtime)) == len(
        deferred_indexes.deferrable(record_runtime.engine.dialect.name)
    )
    again = load_record(record_runtime, extract, scope)
    assert again.skipped_patients == len(seen[0])
    assert _missing(record_runtime) == []
    for resource_type, count in _pcn_expected(extract, str(scope.code)).items():
        assert _total(record_runtime, gp_caller, resource_type) == count, resource_type


def test_a_problem_in_the_builder_process_is_raised_by_the_load(
    record_runtime: Runtime, extract: Path
) -> None:
    with pytest.raises(ValueError, match="no GP practices in PCN NOPE"):
        load_record(record_runtime, extract, Scope("pcn", "NOPE"), parallel=True)
    with pytest.raises(FileNotFoundError, match="has no organisations extract"):
        load_record(record_runtime, extract / "missing", Scope("all"), parallel=True)
