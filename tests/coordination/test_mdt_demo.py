"""The demo's MDT step on the hand-made world: worklists for the GP's PCN with some actions, and
shared care plans in the record; run again, it adds nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from integrated_care.coordination import care_plans as cp
from integrated_care.coordination import mdt
from integrated_care.coordination.mdt_demo import load_mdt_demo
from integrated_care.record.service import Caller
from tests.coordination.mdt_support import (
    World,
    cheap_password_hashing,  # noqa: F401 - an autouse fixture
    open_world,
)

TODAY = dt.date(2026, 11, 25)


@pytest.fixture
def world(backend, db_templates, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    yield from open_world(backend, db_templates, tmp_path_factory)


def test_the_demo_makes_worklists_actions_and_care_plans_once(world: World) -> None:
    said = load_mdt_demo(world.runtime, TODAY, gp_username="gp_a1", nurse_username="nurse")
    assert said == (
        "2 MDT worklists made for PCN U00001 (4 entries on 2 lists), 3 shared care plans written"
    )
    with world.runtime.sessions() as session:
        lists = {w.cohort_name: w for w in mdt.worklists(session, "U00001")}
        frailty = mdt.worklist_entries(session, lists["severe-frailty-no-medication-review"].id)
        top = mdt.worklist_entries(session, lists["top-risk-not-seen-6-months"].id)
        # Frailty: people 1 and 3; top risk: 30 and 32 (tests/health/test_cohorts_population.py)
        assert [(e.patient_id, e.status, e.owner) for e in frailty] == [
            ("p1", "done", "gp_a1"),
            ("p3", "in_progress", "nurse"),
        ]
        assert [(e.patient_id, e.status) for e in top] == [("p30", "open"), ("p32", "open")]
    caller = Caller(world.principals["gp_a1"])
    reply, plans = cp.reviews_for(world.runtime, caller, "A00001", TODAY)
    assert reply.status == 200
    assert [p.review_state(TODAY) for p in plans] == ["overdue", "due"]
    again = load_mdt_demo(world.runtime, TODAY, gp_username="gp_a1", nurse_username="nurse")
    assert again.startswith("0 MDT worklists made") and "0 shared care plans written" in again
