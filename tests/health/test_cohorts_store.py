"""Saved cohorts in the operational store (SQLite, and PostgreSQL when configured): versions,
never overwritten, audited; and the cohorts mart picks them up."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import AuditFilter, search_events, verify_chain
from integrated_care.accounts.policy import Principal
from integrated_care.health.cohort_mart import saved_entries
from integrated_care.health.cohort_query import cohort_counts, open_sources
from integrated_care.health.cohort_store import (
    all_cohorts,
    cohort_history,
    find_cohort,
    save_cohort,
)
from integrated_care.health.cohorts import CohortDefinition, CohortError
from integrated_care.health.models import CohortVersion
from integrated_care.settings import Settings
from tests.health.test_cohorts_population import shared_cohort_data

ANALYST = Principal(
    user_id=1,
    username="ana.lyst",
    display_name="Ana Lyst",
    roles=frozenset({"analyst"}),
    organisation_code="QK1",
    organisation_name="Test ICB",
)


def hyp(**more: object) -> CohortDefinition:
    return CohortDefinition(
        name="hyp-no-bp",
        title="Hypertension, no BP",
        registers_all=("hyp",),
        events=({"code_list": "blood_pressure", "rule": "lacks", "within_days": 365},),  # type: ignore[arg-type]
        **more,  # type: ignore[arg-type]
    )


def test_saving_twice_makes_two_versions_and_keeps_the_first(session: Session) -> None:
    first = save_cohort(session, hyp(), actor=ANALYST)
    second = save_cohort(session, hyp(practices=("B00001",)), actor="someone.else", note="B only")
    session.commit()
    assert (first.version, first.created) == (1, True)
    assert (second.version, second.created) == (2, True)

    history = cohort_history(session, "hyp-no-bp")
    assert [h.version for h in history] == ["1", "2"]
    assert [h.created_by for h in history] == ["ana.lyst", "someone.else"]
    assert history[0].definition == hyp() and history[1].definition.practices == ("B00001",)
    assert all(h.created_at for h in history)
    assert find_cohort(session, "hyp-no-bp").version == "2"
    assert find_cohort(session, "hyp-no-bp", "1").definition == hyp()
    rows = session.scalars(select(CohortVersion).order_by(CohortVersion.version)).all()
    assert [r.created_by_organisation for r in rows] == ["QK1", None]
    assert rows[1].note == "B only"


def test_an_unchanged_definition_makes_no_new_version(session: Session) -> None:
    save_cohort(session, hyp(), actor=ANALYST)
    again = save_cohort(session, hyp(), actor=ANALYST)
    assert (again.version, again.created) == (1, False)
    assert len(cohort_history(session, "hyp-no-bp")) == 1


def test_saves_are_audited_and_the_chain_holds(session: Session) -> None:
    save_cohort(session, hyp(), actor=ANALYST)
    save_cohort(session, hyp(age_min=18), actor=ANALYST)
    session.commit()
    events, total = search_events(session, AuditFilter(action="cohort.save"))
    assert total == 2
    assert {(e.actor, e.actor_organisation, e.record_id) for e in events} == {
        ("ana.lyst", "QK1", "hyp-no-bp")
    }
    assert sorted(e.detail["version"] for e in events) == [1, 2]
    assert verify_chain(session).ok


def test_shipped_names_are_reserved_and_unknowns_are_named(session: Session) -> None:
    shipped = hyp().model_copy(update={"name": "smi-no-health-check"})
    with pytest.raises(CohortError, match="is a shipped example"):
        save_cohort(session, shipped, actor=ANALYST)
    with pytest.raises(CohortError, match=r"no cohort named 'nope'; cohorts: .*smi-no-health"):
        find_cohort(session, "nope")
    save_cohort(session, hyp(), actor=ANALYST)
    with pytest.raises(CohortError, match="has no version 7; versions: 1"):
        find_cohort(session, "hyp-no-bp", 7)


def test_listing_puts_shipped_examples_first_then_latest_saved(session: Session) -> None:
    save_cohort(session, hyp(), actor=ANALYST)
    save_cohort(session, hyp(age_min=40), actor=ANALYST)
    entries = all_cohorts(session)
    assert [e.source for e in entries] == ["shipped"] * 4 + ["saved"]
    assert (entries[-1].name, entries[-1].version) == ("hyp-no-bp", "2")


def test_old_versions_still_run(session: Session, tmp_path_factory: pytest.TempPathFactory) -> None:
    save_cohort(session, hyp(), actor=ANALYST)
    save_cohort(session, hyp(practices=("B00001",)), actor=ANALYST)
    settings = shared_cohort_data(tmp_path_factory)
    with open_sources(settings) as sources:
        v1 = cohort_counts(find_cohort(session, "hyp-no-bp", 1).definition, sources)
        v2 = cohort_counts(find_cohort(session, "hyp-no-bp", 2).definition, sources)
    assert (v1.members, v2.members) == (3, 2)  # 10, 13, 16; then only B00001's 13 and 16


def test_analyse_reads_saved_cohorts_from_a_configured_store(
    session: Session, empty_db_url: str, tmp_path: Path
) -> None:
    save_cohort(session, hyp(), actor=ANALYST)
    session.commit()
    entries = saved_entries(Settings(data_dir=tmp_path, database_url=empty_db_url))
    assert [(e.name, e.version) for e in entries] == [("hyp-no-bp", "1")]
    missing = Settings(data_dir=tmp_path / "none")
    assert saved_entries(missing) == []
    assert not (tmp_path / "none" / "ics.sqlite").exists()  # analyse never creates a store


def test_the_cohorts_mart_step_adds_saved_cohorts(
    session: Session, empty_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import ibis

    from integrated_care.health.cohort_mart import cohorts_step
    from integrated_care.health.marts import open_marts
    from integrated_care.warehouse.connection import connect
    from tests.health.handmade import AS_OF

    save_cohort(session, hyp(), actor=ANALYST)
    save_cohort(session, hyp(practices=("B00001",)), actor=ANALYST)
    session.commit()
    data = shared_cohort_data(tmp_path_factory)
    store = Settings(data_dir=data.data_dir, database_url=empty_db_url)
    with open_marts(data) as marts:
        # As in the pipeline: the summary materialised, the GP record on the engine.
        summary = ibis.memtable(marts.table("patient_summary").to_pyarrow())
    con = connect(data, read_only=True)
    try:
        rows = cohorts_step(store).build(con, AS_OF, {"patient_summary": summary})
        rows = rows.to_pyarrow().to_pylist()
    finally:
        con.disconnect()
    saved = {r["practice_code"]: r for r in rows if r["cohort"] == "hyp-no-bp"}
    assert {r["version"] for r in saved.values()} == {"2"}  # the latest version only
    assert {p: (r["members"], r["list_size"]) for p, r in saved.items()} == {
        "A00001": (0, 14),
        "A00002": (0, 5),
        "B00001": (2, 10),
    }
    assert {r["source"] for r in saved.values()} == {"saved"}
    assert len({r["cohort"] for r in rows}) == 5
