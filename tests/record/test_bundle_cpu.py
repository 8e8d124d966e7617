"""The cheaper forms used on a transaction bundle's write path give exactly the old results."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from integrated_care.record import bundles
from integrated_care.record.extract import evaluate
from integrated_care.record.store import instant


def _strftime_instant(moment: datetime) -> str:
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_instant_is_the_strftime_text() -> None:
    rng = random.Random(5)
    moments = [
        datetime(2026, 1, 1),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(1, 1, 1),
        datetime(999, 12, 31, 23, 59, 59, 999999),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
    ] + [datetime(1000, 1, 1) + timedelta(microseconds=rng.randrange(10**17)) for _ in range(2000)]
    for moment in moments:
        assert instant(moment) == _strftime_instant(moment)


def test_evaluate_stops_where_a_path_runs_out() -> None:
    observation = {
        "resourceType": "Observation",
        "component": [{"code": {"coding": [{"code": "a"}]}}, {"valueQuantity": {"value": 1}}],
    }
    assert evaluate(observation, "Observation.component.code.coding") == [{"code": "a"}]
    assert evaluate(observation, "Observation.component.value[x]") == [{"value": 1}]
    assert evaluate(observation, "Observation.focus.reference") == []


def test_only_resources_holding_a_mapped_reference_are_rewritten() -> None:
    plain = {"resourceType": "Observation", "subject": {"reference": "Patient/p1"}}
    linked = {"resourceType": "Observation", "subject": {"reference": "urn:uuid:x"}}
    found = bundles._references([plain, linked], set())
    assert found == {"Patient/p1", "urn:uuid:x"}
    mapping = {"urn:uuid:x": "Patient/p2"}
    assert bundles._references(plain, set()).isdisjoint(mapping)
    assert bundles._rewrite(linked, mapping)["subject"] == {"reference": "Patient/p2"}
