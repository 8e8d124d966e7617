"""Bridges to Health segments (Lynn et al. 2007), one per person by a fixed hierarchy, and the
activity and cost of each person in the 12 months to the date.

The segments and their definitions are in ``health/data/segments.csv`` (rank 1 wins); the
predicates below implement exactly those sentences, one per segment. "12 months" is the year up to
and including the date.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import ibis
from ibis import _
from ibis.expr.types import Table

from integrated_care.health import codelists
from integrated_care.health.registers import match_icd10, years_before

EMERGENCY_METHODS = ("21", "22", "23", "24", "25", "26", "27", "28", "2A", "2B", "2C", "2D")
ELECTIVE_METHODS = ("11", "12", "13")
MATERNITY_METHODS = ("31", "32")
LTC_CONDITIONS = (
    "af", "ast", "can", "chd", "ckd", "copd", "dep", "dm", "ep", "hyp", "mh", "ost", "pad", "ra",
    "stia",
)  # fmt: skip
# Condition flags the segment predicates read.
SEGMENT_CONDITIONS = ("pc", "dem", "hf", "ckd45", "copd", "can", "can_meta", "ld", "houseb",
                      "carereq", *LTC_CONDITIONS)  # fmt: skip
SEGMENT_ACTIVITY = (
    "emergency_admissions_12m", "ae_attendances_12m", "op_attendances_12m", "gp_appointments_12m",
    "community_contacts_12m", "mh_contacts_12m",
)  # fmt: skip


@dataclass(frozen=True)
class Segment:
    rank: int
    key: str
    label: str
    definition: str


@lru_cache(maxsize=1)
def segments() -> tuple[Segment, ...]:
    with (codelists.DATA / "segments.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = tuple(Segment(int(r["rank"]), r["segment"], r["label"], r["definition"]) for r in rows)
    return tuple(sorted(out, key=lambda s: s.rank))


def _window(column: ibis.Value, as_of: dt.date) -> ibis.Value:
    return (column > ibis.literal(years_before(as_of, 1))) & (column <= ibis.literal(as_of))


def activity_12m(con: ibis.BaseBackend, as_of: dt.date) -> Table:
    """One row per patient: counts and costs (GBP) of care in the 12 months to `as_of`.

    Columns: emergency_admissions_12m, elective_admissions_12m, ae_attendances_12m,
    op_attendances_12m, gp_appointments_12m, community_contacts_12m, mh_contacts_12m, the cost
    of each of apc / ae / op / community / mh / social care, cost_12m (their sum),
    last_gp_contact (latest attended GP appointment on or before `as_of`, any time), and the
    segment markers copd_admission_12m, cancer_admission_12m, maternity_12m.
    Outpatient counts and costs are attended appointments; social care is each service's weekly
    cost for the days it ran within the window.
    """
    day = ibis.literal(as_of)
    start = years_before(as_of, 1)

    apc = con.table("apc_spells")
    apc = apc.filter(_window(apc.admission_date, as_of))
    emergency = apc.admission_method.isin(EMERGENCY_METHODS)
    apc_agg = apc.group_by("patient_id").aggregate(
        emergency_admissions_12m=emergency.cast("int64").sum(),
        elective_admissions_12m=apc.admission_method.isin(ELECTIVE_METHODS).cast("int64").sum(),
        apc_cost_12m=apc.cost.cast("float64").sum(),
        maternity_12m=(
            apc.admission_method.isin(MATERNITY_METHODS) | apc.primary_diagnosis.startswith("O")
        ).any(),
    )
    marked = match_icd10(
        apc.filter(emergency).select("patient_id", "primary_diagnosis"),
        "primary_diagnosis",
        ("copd", "can", "can_meta"),
    )
    markers = marked.group_by("patient_id").aggregate(
        copd_admission_12m=(marked.condition == "copd").any(),
        cancer_admission_12m=marked.condition.isin(("can", "can_meta")).any(),
    )

    ae = con.table("ae_attendances")
    ae = ae.filter(_window(ae.arrival_time.date(), as_of))
    ae_agg = ae.group_by("patient_id").aggregate(
        ae_attendances_12m=_.count(), ae_cost_12m=_.cost.cast("float64").sum()
    )
    op = con.table("op_appointments")
    op = op.filter(_window(op.date, as_of) & (op.status == "attended"))
    op_agg = op.group_by("patient_id").aggregate(
        op_attendances_12m=_.count(), op_cost_12m=_.cost.cast("float64").sum()
    )
    community = con.table("community_contacts")
    community = community.filter(_window(community.date, as_of))
    com_agg = community.group_by("patient_id").aggregate(
        community_contacts_12m=_.count(), community_cost_12m=_.cost.cast("float64").sum()
    )
    mh = con.table("mh_contacts")
    mh = mh.filter(_window(mh.date, as_of))
    mh_agg = mh.group_by("patient_id").aggregate(
        mh_contacts_12m=_.count(), mh_cost_12m=_.cost.cast("float64").sum()
    )
    sc = con.table("social_care_services")
    first = ibis.greatest(sc.start_date, ibis.literal(start + dt.timedelta(days=1)))
    last = ibis.least(sc.end_date.fill_null(day), day)
    days = last.delta(first, unit="day") + 1
    sc = sc.mutate(days=days).filter(_.days > 0)
    sc_agg = sc.group_by("patient_id").aggregate(
        social_care_cost_12m=(sc.weekly_cost.cast("float64") * sc.days / 7.0).sum()
    )
    gp = con.table("gp_appointments")
    gp = gp.filter((gp.status == "attended") & (gp.date <= day))
    gp_agg = gp.group_by("patient_id").aggregate(
        gp_appointments_12m=_window(gp.date, as_of).cast("int64").sum(),
        last_gp_contact=gp.date.max(),
    )

    base = con.table("patients").select("patient_id")
    joined = base
    for part in (apc_agg, markers, ae_agg, op_agg, com_agg, mh_agg, sc_agg, gp_agg):
        joined = joined.left_join(part, "patient_id").drop("patient_id_right")
    counts = (
        "emergency_admissions_12m", "elective_admissions_12m", "ae_attendances_12m",
        "op_attendances_12m", "gp_appointments_12m", "community_contacts_12m", "mh_contacts_12m",
    )  # fmt: skip
    costs = (
        "apc_cost_12m", "ae_cost_12m", "op_cost_12m", "community_cost_12m", "mh_cost_12m",
        "social_care_cost_12m",
    )  # fmt: skip
    flags = ("copd_admission_12m", "cancer_admission_12m", "maternity_12m")
    filled = {c: joined[c].fill_null(0).cast("int64") for c in counts}
    filled |= {c: joined[c].fill_null(0.0).cast("float64") for c in costs}
    filled |= {c: joined[c].fill_null(False) for c in flags}
    total = sum((filled[c] for c in costs[1:]), filled[costs[0]])
    return joined.select(
        "patient_id",
        **filled,
        cost_12m=total.round(2),
        last_gp_contact=joined.last_gp_contact,
    )


def segment_predicates(frame: Table, as_of: dt.date) -> dict[str, ibis.Value]:
    """The rule of each segment (segments.csv) as a boolean over a per-person frame.

    `frame` needs: age, date_of_death, efi_category, the SEGMENT_CONDITIONS flags and the
    activity_12m markers copd_admission_12m, cancer_admission_12m, maternity_12m.
    """
    year_after = ibis.literal(years_before(as_of, -1))
    death = frame.date_of_death
    died_within_year = death.notnull() & (death > ibis.literal(as_of)) & (death <= year_after)
    ltc = ibis.literal(False)
    for condition in LTC_CONDITIONS:
        ltc = ltc | frame[condition]
    return {
        "end_of_life": frame.pc | died_within_year,
        "frailty_dementia": frame.efi_category.isin(("moderate", "severe")).fill_null(False)
        | frame.dem,
        "organ_failure": frame.hf | frame.ckd45 | (frame.copd & frame.copd_admission_12m),
        "incurable_cancer": frame.can_meta | (frame.can & frame.cancer_admission_12m),
        "disability": frame.ld | ((frame.age < 65) & (frame.houseb | frame.carereq)),
        "long_term_conditions": ltc,
        "maternal": frame.maternity_12m | (frame.age < 1),
        "healthy": ibis.literal(True),
    }


def assign_segment(frame: Table, as_of: dt.date) -> Table:
    """`frame` with `segment` and `segment_rank`: the first segment (by rank) whose rule holds."""
    rules = segment_predicates(frame, as_of)
    ordered = segments()
    if {s.key for s in ordered} != set(rules):
        raise ValueError("segments.csv and segment_predicates name different segments")
    key = ibis.cases(*((rules[s.key], s.key) for s in ordered), else_="healthy")
    rank = ibis.cases(*((rules[s.key], s.rank) for s in ordered), else_=len(ordered))
    return frame.mutate(segment=key, segment_rank=rank.cast("int64"))


def segments_mart(summary: Table) -> Table:
    """Per segment: people, share of the population, cost and activity in the last 12 months.

    Built from the patient_summary mart (one row per registered person, with segment, the
    activity_12m columns and cost_12m); every segment appears, with zeros when empty.
    """
    agg = summary.group_by("segment").aggregate(
        people=_.count(),
        cost_12m=_.cost_12m.sum(),
        emergency_admissions_12m=_.emergency_admissions_12m.sum(),
        ae_attendances_12m=_.ae_attendances_12m.sum(),
        op_attendances_12m=_.op_attendances_12m.sum(),
        gp_appointments_12m=_.gp_appointments_12m.sum(),
        community_contacts_12m=_.community_contacts_12m.sum(),
        mh_contacts_12m=_.mh_contacts_12m.sum(),
    )
    defs = segments()
    names = ibis.memtable(
        {
            "segment": [s.key for s in defs],
            "segment_rank": [s.rank for s in defs],
            "label": [s.label for s in defs],
        },
        schema={"segment": "string", "segment_rank": "int64", "label": "string"},
    )
    joined = names.left_join(agg, "segment")
    people = joined.people.fill_null(0).cast("int64")
    cost = joined.cost_12m.fill_null(0.0).cast("float64")
    counted = {c: joined[c].fill_null(0).cast("int64") for c in SEGMENT_ACTIVITY}
    return joined.select(
        names.segment,
        names.segment_rank,
        names.label,
        people=people,
        pct_of_population=(people.cast("float64") * 100.0 / people.sum().over()).round(3),
        cost_12m=cost.round(2),
        cost_per_person=ibis.ifelse(people > 0, (cost / people).round(2), ibis.null()).cast(
            "float64"
        ),
        emergency_admissions_per_1000=ibis.ifelse(
            people > 0,
            (counted["emergency_admissions_12m"].cast("float64") * 1000.0 / people).round(1),
            ibis.null(),
        ).cast("float64"),
        **counted,
    ).order_by("segment_rank")
