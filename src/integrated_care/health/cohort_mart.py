"""The ``cohorts`` mart: every shipped example and saved cohort, counted by practice.

One row per cohort x practice with registered people: ``cohort``, ``version``, ``source``
(shipped | saved), ``practice_code``, ``pcn_code``, ``place_code``, ``members``, ``list_size``
and ``as_of``. Unsuppressed, for analysts. Built inside ``ics analyse`` on the pipeline's engine
(patient_summary and gp_events side by side, so no data crosses between connections).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import ibis
from ibis.expr.types import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from integrated_care import db
from integrated_care.health.cohort_query import CohortSources, members
from integrated_care.health.cohorts import CohortEntry, shipped_cohorts
from integrated_care.health.pipeline import MartStep
from integrated_care.settings import Settings

MART = "cohorts"


def cohorts_mart(
    entries: Sequence[CohortEntry], summary: Table, events: Table | None, as_of: dt.date
) -> Table:
    """The mart for `entries` (cohorts whose event criteria cannot be checked are left out).

    List sizes are counted once and every cohort's members are counted in one stacked query,
    then each (cohort, practice) pair is filled in, zeros included.
    """
    sources = CohortSources(summary, events, as_of)
    counted = [e for e in entries if events is not None or not e.definition.events]
    if not counted:
        raise ValueError("no cohort could be counted")
    keys = ibis.memtable(
        {
            "cohort": [e.name for e in counted],
            "version": [e.version for e in counted],
            "source": [e.source for e in counted],
        }
    )
    stacked = ibis.union(
        *(
            members(e.definition, sources).select("practice_code", cohort=ibis.literal(e.name))
            for e in counted
        ),
        distinct=False,
    )
    found = stacked.group_by("cohort", "practice_code").aggregate(members=stacked.count())
    lists = summary.group_by("practice_code", "pcn_code", "place_code").aggregate(
        list_size=summary.count()
    )
    grid = keys.cross_join(lists)
    joined = grid.left_join(found, ["cohort", "practice_code"])
    return joined.select(
        "cohort",
        "version",
        "source",
        "practice_code",
        "pcn_code",
        "place_code",
        members=joined.members.fill_null(0).cast("int64"),
        list_size=joined.list_size.cast("int64"),
        as_of=ibis.literal(as_of),
    ).order_by("cohort", "practice_code")


def saved_entries(settings: Settings) -> list[CohortEntry]:
    """The latest version of each saved cohort, if the operational store exists and has been
    migrated to hold them; else none (``ics analyse`` does not create or migrate the store)."""
    from integrated_care.health.cohort_store import saved_cohorts, store_has_cohorts

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).exists()):
        return []
    try:
        engine = db.make_engine(settings.database_url)
    except (SQLAlchemyError, ImportError):
        return []
    try:
        if not store_has_cohorts(engine):
            return []
        with db.session_factory(engine)() as session:
            return saved_cohorts(session)
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()


def cohorts_step(settings: Settings | None = None) -> MartStep:
    """The pipeline step: shipped cohorts, plus saved ones when `settings` name a store."""

    def build(con: ibis.BaseBackend, as_of: dt.date, marts: dict[str, Table]) -> Table:
        entries = [*shipped_cohorts(), *(saved_entries(settings) if settings else [])]
        events = con.table("gp_events") if "gp_events" in con.list_tables() else None
        return cohorts_mart(entries, marts["patient_summary"], events, as_of)

    return MartStep(MART, build)


def mart_totals(
    settings: Settings,
) -> tuple[dict[tuple[str, str], tuple[int, int]], dt.date | None]:
    """(members, registered) per (cohort, version) from the stored ``cohorts`` mart, and its
    date; empty before `ics analyse` has built it."""
    from integrated_care.health.marts import MartsNotBuilt, open_marts

    try:
        with open_marts(settings) as con:
            if MART not in con.list_tables():
                return {}, None
            mart = con.table(MART)
            rows = (
                mart.group_by("cohort", "version")
                .aggregate(
                    members=mart.members.sum(),
                    population=mart.list_size.sum(),
                    as_of=mart.as_of.max(),
                )
                .to_pyarrow()
                .to_pylist()
            )
    except MartsNotBuilt:
        return {}, None
    totals = {(r["cohort"], r["version"]): (r["members"], r["population"]) for r in rows}
    return totals, max((r["as_of"] for r in rows), default=None)
