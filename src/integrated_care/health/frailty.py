"""Electronic Frailty Index (Clegg et al., Age Ageing 2016): 36 deficits, score = deficits / 36.

Deficits are read from ``health/data/efi_deficits.csv`` (checked against
``reference/data/efi_definition.json``): 35 are conditions ever recorded and not resolved on the
date; polypharmacy is 5+ distinct medicines (dm+d codes) issued in the 12 months to the date.

The eFI was developed and validated for people aged 65 and over, so ``efi_score`` and
``efi_category`` are given only for people aged 65+ on the date and are null below 65;
``efi_deficits`` (the count) is given for everyone, for analysts who want it.
"""

from __future__ import annotations

import datetime as dt
import math

import ibis
from ibis import _
from ibis.expr.types import Table

from integrated_care.health import codelists
from integrated_care.health.registers import (
    age_on,
    condition_dates,
    flags_from_dates,
    years_before,
)

MIN_AGE = 65
POLYPHARMACY_MIN = 5


def polypharmacy(con: ibis.BaseBackend, as_of: dt.date) -> Table:
    """patient_id of everyone issued 5+ distinct medicines in the 12 months to `as_of`."""
    meds = con.table("medications")
    start = ibis.literal(years_before(as_of, 1))
    recent = meds.filter((meds.date > start) & (meds.date <= ibis.literal(as_of)))
    # Distinct pairs, then a count: much cheaper for the engines than a grouped count(DISTINCT).
    medicines = recent.filter(recent.dmd_code.notnull()).select("patient_id", "dmd_code").distinct()
    counts = medicines.group_by("patient_id").aggregate(n=_.count())
    return counts.filter(counts.n >= POLYPHARMACY_MIN).select("patient_id")


def deficits_present(con: ibis.BaseBackend, as_of: dt.date, *, dates: Table | None = None) -> Table:
    """(patient_id, deficit) for each eFI deficit each person has on `as_of`."""
    if dates is None:
        dates = condition_dates(con, as_of)
    definition = codelists.efi_definition()
    mapping = [(d.name, c) for d in definition.deficits if d.rule == "ever" for c in d.conditions]
    lookup = ibis.memtable(
        {"deficit": [m[0] for m in mapping], "condition": [m[1] for m in mapping]},
        schema={"deficit": "string", "condition": "string"},
    )
    coded = dates.join(lookup, "condition").select("patient_id", "deficit").distinct()
    parts = [coded]
    for deficit in definition.deficits:
        if deficit.rule == "polypharmacy":
            parts.append(polypharmacy(con, as_of).mutate(deficit=ibis.literal(deficit.name)))
        elif deficit.rule != "ever":
            raise ValueError(f"eFI deficit {deficit.name!r}: unknown rule {deficit.rule!r}")
    return ibis.union(*parts, distinct=False)


def category_cutoffs() -> tuple[tuple[int, str], ...]:
    """(max deficits, category) pairs: fit 0-4, mild 5-8, moderate 9-12 (of 36)."""
    definition = codelists.efi_definition()
    n = len(definition.deficits)
    # Counts, not float scores, so 4/36 vs 0.12 never depends on rounding.
    return tuple((math.floor(bound * n + 1e-9), name) for bound, name in definition.thresholds)


def efi_scores(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    dates: Table | None = None,
    flags: Table | None = None,
) -> Table:
    """One row per patient: patient_id, age, efi_deficits, efi_score, efi_category (65+ only).

    `dates` (``condition_dates``) or `flags` (``condition_flags``) may be given already
    computed. The count is that of :func:`deficits_present`, worked out per person from a flag
    per condition (one column each) rather than by grouping deficit rows, which is cheaper.
    """
    definition = codelists.efi_definition()
    n_deficits = len(definition.deficits)
    coded = [d for d in definition.deficits if d.rule == "ever"]
    for deficit in definition.deficits:
        if deficit.rule not in ("ever", "polypharmacy"):
            raise ValueError(f"eFI deficit {deficit.name!r}: unknown rule {deficit.rule!r}")
    conditions = tuple(dict.fromkeys(c for d in coded for c in d.conditions))
    patients = con.table("patients")
    if flags is None or not set(conditions) <= set(flags.columns):
        if dates is None:
            dates = condition_dates(con, as_of)
        flags = flags_from_dates(patients, dates, conditions)
    flags = flags.select("patient_id", **{f"_f_{c}": flags[c] for c in conditions})
    heavy = polypharmacy(con, as_of).mutate(_polypharmacy=ibis.literal(True))
    base = patients.select("patient_id", age=age_on(patients.date_of_birth, as_of))
    joined = (
        base.left_join(flags, "patient_id")
        .drop("patient_id_right")
        .left_join(heavy, "patient_id")
        .drop("patient_id_right")
    )
    n = ibis.literal(0, type="int64")
    for deficit in coded:
        has = ibis.literal(False)
        for condition in deficit.conditions:
            has = has | joined[f"_f_{condition}"].fill_null(False)
        n = n + has.cast("int64")
    if any(d.rule == "polypharmacy" for d in definition.deficits):
        n = n + joined._polypharmacy.fill_null(False).cast("int64")
    eligible = joined.age >= MIN_AGE
    category = ibis.cases(
        *((n <= cutoff, name) for cutoff, name in category_cutoffs()),
        else_=definition.top_category,
    )
    return joined.select(
        "patient_id",
        efi_deficits=n,
        efi_score=ibis.ifelse(eligible, (n.cast("float64") / n_deficits).round(4), ibis.null()),
        efi_category=ibis.ifelse(eligible, category, ibis.null()).cast("string"),
    )
