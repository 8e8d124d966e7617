"""Evaluating a cohort with Ibis: its members, counts by practice and PCN, the member list.

Everything here is engine-neutral Ibis over two inputs, the ``patient_summary`` mart and the
warehouse's ``gp_events``, so the same code runs on DuckDB and, inside ``ics analyse``, on Spark.

Inside the pipeline both are on one engine. Outside it (``ics cohort run``, the web pages) they
are two DuckDB files: ``marts.duckdb`` beside a read-only ``warehouse.duckdb`` that ``ics load``
replaces whole. Rather than ATTACH one file to the other (DuckDB-only SQL, and a read-only
connection cannot attach), each event criterion is reduced on the warehouse to one small row
per person with an event from the list (patient_id, latest date, elements in the window), and
that evidence is brought across as Arrow and joined to the summary by patient_id
(``CohortSources.events_elsewhere``). The evidence is at most one row per person, so it is small
next to the GP record it summarises.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ibis
from ibis.expr.types import Table

from integrated_care.health.cohorts import CohortDefinition, EventCriterion
from integrated_care.health.marts import open_marts
from integrated_care.health.population import AGE_BANDS, band_label
from integrated_care.settings import Settings
from integrated_care.warehouse.connection import WarehouseError, connect

MEMBER_BASE = ("patient_id", "age", "sex", "practice_code", "pcn_code", "place_code")
MEMBER_TAIL = ("risk_score", "risk_band", "efi_score", "efi_category")


@dataclass(frozen=True)
class CohortSources:
    """What a cohort is evaluated on: ``summary`` is the patient_summary mart, ``events`` the
    warehouse's gp_events (None: no GP record, so event criteria cannot be evaluated).
    ``events_elsewhere``: the two are on different connections (see the module docstring)."""

    summary: Table
    events: Table | None
    as_of: dt.date
    events_elsewhere: bool = False


def last_column(criterion: EventCriterion) -> str:
    return f"last_{criterion.code_list}"


def elements_column(criterion: EventCriterion) -> str:
    return f"{criterion.code_list}_elements_{criterion.within_days}d"


def _window_start(as_of: dt.date, days: int) -> dt.date:
    return as_of - dt.timedelta(days=days)


def person_filters(definition: CohortDefinition, people: Table, as_of: dt.date) -> list:
    """The summary-level criteria as boolean Ibis expressions (every one must hold)."""
    d = definition
    out = []
    for register in d.registers_all:
        out.append(people[register].fill_null(False))
    if d.registers_any:
        any_of = people[d.registers_any[0]].fill_null(False)
        for register in d.registers_any[1:]:
            any_of = any_of | people[register].fill_null(False)
        out.append(any_of)
    for field, column in (
        ("segments", "segment"),
        ("risk_bands", "risk_band"),
        ("efi_categories", "efi_category"),
        ("sexes", "sex"),
        ("practices", "practice_code"),
        ("pcns", "pcn_code"),
        ("places", "place_code"),
    ):
        if values := getattr(d, field):
            out.append(people[column].isin(list(values)))
    if d.age_min is not None:
        out.append(people.age >= d.age_min)
    if d.age_max is not None:
        out.append(people.age <= d.age_max)
    if d.imd_decile_min is not None:
        out.append(people.imd_decile >= d.imd_decile_min)
    if d.imd_decile_max is not None:
        out.append(people.imd_decile <= d.imd_decile_max)
    if d.no_gp_contact_days is not None:
        seen_since = ibis.literal(_window_start(as_of, d.no_gp_contact_days))
        out.append(people.last_gp_contact.isnull() | (people.last_gp_contact <= seen_since))
    return out


def event_evidence(events: Table, criterion: EventCriterion, as_of: dt.date) -> Table:
    """One row per person with any code of the list on or before `as_of`: the latest date, and
    how many of the list's elements were recorded in the window (after as_of - within_days)."""
    spec = criterion.spec
    element = ibis.cases(
        *[(events.snomed_code.isin(list(codes)), name) for name, codes in spec.elements.items()]
    )
    day = ibis.literal(as_of)
    recorded = events.filter(events.snomed_code.isin(list(spec.codes)), events.date <= day)
    recorded = recorded.mutate(element=element)
    in_window = recorded.date > ibis.literal(_window_start(as_of, criterion.within_days))
    return recorded.group_by("patient_id").aggregate(
        **{
            last_column(criterion): recorded.date.max(),
            elements_column(criterion): recorded.element.nunique(where=in_window),
        }
    )


def members(definition: CohortDefinition, sources: CohortSources) -> Table:
    """The people in the cohort: their patient_summary row plus, per event criterion, the latest
    date of the list and the elements recorded in the window."""
    people = sources.summary
    filters = person_filters(definition, people, sources.as_of)
    if filters:
        people = people.filter(*filters)
    events = sources.events
    if definition.events and events is None:
        raise ValueError("the warehouse holds no GP record (gp_events) to check the events in")
    if definition.events and filters:
        # Only the candidates' GP records matter (across connections: send their ids once).
        candidates = people.select("patient_id")
        if sources.events_elsewhere:
            candidates = ibis.memtable(candidates.to_pyarrow())
        events = events.semi_join(candidates, "patient_id")  # type: ignore[union-attr]
    for criterion in definition.events:
        evidence = event_evidence(events, criterion, sources.as_of)  # type: ignore[arg-type]
        if sources.events_elsewhere:
            evidence = ibis.memtable(evidence.to_pyarrow())
        joined = people.left_join(evidence, "patient_id").drop("patient_id_right")
        done = joined[elements_column(criterion)].fill_null(0)
        joined = joined.mutate(**{elements_column(criterion): done})
        complete = done >= criterion.spec.required
        people = joined.filter(complete if criterion.rule == "has" else ~complete)
    return people


def counts_by_practice(member_table: Table, summary: Table) -> Table:
    """Members, list size (registered people) and members per 1,000 for every practice with
    registered people, zero-member practices included."""
    lists = summary.group_by("practice_code", "pcn_code", "place_code").aggregate(
        list_size=summary.count()
    )
    found = member_table.group_by("practice_code").aggregate(members=member_table.count())
    joined = lists.left_join(found, "practice_code").drop("practice_code_right")
    out = joined.mutate(members=joined.members.fill_null(0).cast("int64"))
    return out.select(
        "practice_code",
        "pcn_code",
        "place_code",
        "members",
        list_size=out.list_size.cast("int64"),
    ).order_by("practice_code")


@dataclass(frozen=True)
class AreaCount:
    code: str
    pcn_code: str | None
    members: int
    list_size: int

    @property
    def rate_per_1000(self) -> float | None:
        return round(self.members / self.list_size * 1000, 2) if self.list_size else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "pcn_code": self.pcn_code,
            "members": self.members,
            "list_size": self.list_size,
            "rate_per_1000": self.rate_per_1000,
        }


@dataclass(frozen=True)
class CohortCounts:
    """A cohort's size: total, by practice and by PCN, with list sizes. Unsuppressed: for
    analysts (publish through :func:`publishable_count`)."""

    as_of: dt.date
    members: int
    population: int
    by_practice: list[AreaCount]
    by_pcn: list[AreaCount]

    @property
    def rate_per_1000(self) -> float | None:
        return round(self.members / self.population * 1000, 2) if self.population else None


def materialised_members(definition: CohortDefinition, sources: CohortSources) -> Table:
    """The members computed once and held as Arrow, for a caller that needs both the counts
    and a page of the list (each would otherwise evaluate the cohort again)."""
    return ibis.memtable(members(definition, sources).to_pyarrow())


def cohort_counts(
    definition: CohortDefinition, sources: CohortSources, found: Table | None = None
) -> CohortCounts:
    """Total, by practice and by PCN; `found` is the members if already evaluated."""
    found = members(definition, sources) if found is None else found
    rows = counts_by_practice(found, sources.summary).to_pyarrow()
    practices = [
        AreaCount(r["practice_code"], r["pcn_code"], r["members"], r["list_size"])
        for r in rows.to_pylist()
    ]
    pcns: dict[str, list[int]] = {}
    for p in practices:
        if p.pcn_code is None:  # a practice in no PCN counts in the total, not in a PCN
            continue
        totals = pcns.setdefault(p.pcn_code, [0, 0])
        totals[0] += p.members
        totals[1] += p.list_size
    by_pcn = [AreaCount(code, code, m, n) for code, (m, n) in sorted(pcns.items())]
    return CohortCounts(
        as_of=sources.as_of,
        members=sum(p.members for p in practices),
        population=sum(p.list_size for p in practices),
        by_practice=practices,
        by_pcn=by_pcn,
    )


def member_columns(definition: CohortDefinition) -> list[str]:
    """The member list's columns: who (pseudonymously), where, and the values that put them on
    the list."""
    used = list(dict.fromkeys((*definition.registers_all, *definition.registers_any)))
    if definition.segments:
        used.append("segment")
    if definition.imd_decile_min is not None or definition.imd_decile_max is not None:
        used.append("imd_decile")
    if definition.no_gp_contact_days is not None:
        used.append("last_gp_contact")
    for criterion in definition.events:
        used.append(last_column(criterion))
        if len(criterion.spec.elements) > 1:
            used.append(elements_column(criterion))
    return [*MEMBER_BASE, *used, *(c for c in MEMBER_TAIL if c not in used)]


def member_page(
    definition: CohortDefinition,
    sources: CohortSources,
    *,
    limit: int,
    offset: int = 0,
    found: Table | None = None,
) -> list[dict[str, Any]]:
    """One page of the pseudonymous member list, highest risk first: patient_id (the
    warehouse's pseudonymous key), age band (never the date of birth), sex, practice, PCN,
    the criteria values, risk and eFI. The warehouse holds no names or NHS numbers."""
    table = members(definition, sources) if found is None else found
    ordered = table.order_by(ibis.desc("risk_score"), "patient_id")
    rows = ordered.select(*member_columns(definition)).limit(limit, offset=offset)
    out = []
    for row in rows.to_pyarrow().to_pylist():
        age = row.pop("age")
        row = {"patient_id": row.pop("patient_id"), "age_band": age_band(age), **row}
        for key, value in row.items():
            if isinstance(value, float):
                row[key] = round(value, 4)
        out.append(row)
    return out


def age_band(age: int | None) -> str | None:
    if age is None:
        return None
    return next(band_label(lo, hi) for lo, hi in AGE_BANDS if lo <= age <= hi)


SUPPRESS_MAX = 7


def publishable_count(n: int) -> int | str:
    """A count fit to publish: 1-7 shown as "<8" (analysts' own views show the number)."""
    return "<8" if 1 <= n <= SUPPRESS_MAX else n


@contextmanager
def open_sources(settings: Settings) -> Iterator[CohortSources]:
    """The stored marts and the warehouse's GP record, read-only, for one piece of work.

    Raises ``marts.MartsNotBuilt`` before `ics analyse` has run. The date is the marts' own
    (``patient_summary.as_of``), so the GP record is read up to the same day.
    """
    with open_marts(settings) as marts:
        summary = marts.table("patient_summary")
        as_of = summary.as_of.max().to_pyarrow().as_py()
        try:
            warehouse = connect(settings, read_only=True)
        except WarehouseError:
            warehouse = None
        try:
            has_events = warehouse is not None and "gp_events" in warehouse.list_tables()
            events = warehouse.table("gp_events") if has_events else None  # type: ignore[union-attr]
            yield CohortSources(summary, events, as_of, events_elsewhere=True)
        finally:
            if warehouse is not None:
                warehouse.disconnect()
