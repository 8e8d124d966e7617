"""patient_summary: one row per person alive and registered with a practice of the ICS on the date.

Register flags (``af``, ``ast``, ... ``stia``) are QOF register membership: the condition active on
the date *and* the person within the register's age rule (so ``dep`` is false under 18). The
segment uses the conditions as recorded, whatever the age. ``place_code`` is the place of the
person's practice (the organisational hierarchy practice -> PCN -> place the registers use);
``residence_place_code`` the place of the LSOA they live in. ``risk_score`` and ``risk_band`` are
null here; the pipeline's risk step fills them.
"""

from __future__ import annotations

import datetime as dt

import ibis
from ibis.expr.types import Table

from integrated_care.health import codelists
from integrated_care.health.frailty import efi_scores
from integrated_care.health.multimorbidity import cms_scores
from integrated_care.health.population import registered_population
from integrated_care.health.registers import (
    condition_dates,
    flags_from_dates,
    practice_hierarchy,
)
from integrated_care.health.segments import SEGMENT_CONDITIONS, activity_12m, assign_segment

ACTIVITY_COLUMNS = (
    "emergency_admissions_12m", "elective_admissions_12m", "ae_attendances_12m",
    "op_attendances_12m", "gp_appointments_12m", "community_contacts_12m", "mh_contacts_12m",
    "apc_cost_12m", "ae_cost_12m", "op_cost_12m", "community_cost_12m", "mh_cost_12m",
    "social_care_cost_12m", "cost_12m",
)  # fmt: skip


def register_keys() -> tuple[str, ...]:
    return tuple(r.condition for r in codelists.register_rules())


def summary_parts(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    dates: Table | None = None,
    flags: Table | None = None,
) -> dict[str, Table]:
    """The per-patient tables patient_summary joins: flags, cms, efi, activity.

    A pipeline may materialise each before the join: one query per part is much cheaper for the
    engine to plan than the whole summary at once. `flags` may be given already computed
    (``condition_flags``, which has a column for every condition the summary needs).
    """
    if dates is None:
        dates = condition_dates(con, as_of)
    wanted = tuple(dict.fromkeys((*register_keys(), *SEGMENT_CONDITIONS)))
    given = flags
    if flags is None or not set(wanted) <= set(flags.columns):
        flags = flags_from_dates(con.table("patients"), dates, wanted)
    flags = flags.select("patient_id", *wanted)
    return {
        "flags": flags.rename({f"cond_{c}": c for c in wanted}),
        "cms": cms_scores(con, as_of, dates=dates, flags=given),
        "efi": efi_scores(con, as_of, dates=dates, flags=given),
        "activity": activity_12m(con, as_of),
    }


def patient_summary(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    dates: Table | None = None,
    parts: dict[str, Table] | None = None,
    people: Table | None = None,
) -> Table:
    """The patient_summary mart, ordered by patient_id (see the module docstring).

    `people` may be given already computed (``registered_population``).
    """
    if parts is None:
        parts = summary_parts(con, as_of, dates=dates)
    patients = con.table("patients")
    if people is None:
        people = registered_population(con, as_of)
    people = people.select(
        "patient_id",
        "age",
        "sex",
        "lsoa_code",
        "imd_decile",
        "practice_code",
        residence_place_code="place_code",
    )
    people = people.join(
        patients.select("patient_id", "ethnicity", "date_of_death"), "patient_id"
    ).join(practice_hierarchy(con), "practice_code")

    rules = codelists.register_rules()
    frame = (
        people.join(parts["flags"], "patient_id")
        .join(parts["cms"], "patient_id")
        .join(parts["efi"], "patient_id")
        .join(parts["activity"], "patient_id")
    )
    clinical = frame.mutate(**{c: frame[f"cond_{c}"] for c in SEGMENT_CONDITIONS})
    segmented = assign_segment(clinical, as_of)
    on_register = {
        r.condition: segmented[f"cond_{r.condition}"]
        & (segmented.age >= r.reg_min_age)
        & (segmented.age <= r.reg_max_age)
        for r in rules
    }
    return segmented.select(
        "patient_id",
        "age",
        "sex",
        "ethnicity",
        "imd_decile",
        "practice_code",
        "pcn_code",
        "place_code",
        "residence_place_code",
        "lsoa_code",
        **on_register,
        cms_score=segmented.cms_score,
        cms_conditions=segmented.cms_conditions,
        efi_score=segmented.efi_score,
        efi_category=segmented.efi_category,
        efi_deficits=segmented.efi_deficits,
        segment=segmented.segment,
        segment_rank=segmented.segment_rank,
        risk_score=ibis.null().cast("float64"),
        risk_band=ibis.null().cast("string"),
        last_gp_contact=segmented.last_gp_contact,
        **{c: segmented[c] for c in ACTIVITY_COLUMNS},
        as_of=ibis.literal(as_of),
    ).order_by("patient_id")
