"""Cambridge Multimorbidity Score (Payne et al., CMAJ 2020): 20 conditions, general-outcome weights.

Weights come from ``reference/data/cms_weights.json``; how each condition is recognised, from
``health/data/cms_components.csv``. The Cambridge definitions have time windows, which we apply
on the date of the score (12 months = the year up to and including `as_of`):

- ``ever``: a diagnosis code ever recorded (and not resolved);
- ``first_5y``: first diagnosed in the last 5 years (cancer);
- ``code_and_rx_12m``: a code ever and a prescription for it in 12 months (asthma, epilepsy);
- ``code_12m_or_rx4_12m``: a code in 12 months or 4+ prescriptions in 12 months
  (anxiety or depression);
- ``code_or_rx4_12m``: a code ever or 4+ prescriptions in 12 months (IBS);
- ``rx4_12m``: 4+ prescriptions in 12 months (constipation, painful condition).
"""

from __future__ import annotations

import datetime as dt

import ibis
from ibis import _
from ibis.expr.types import Table

from integrated_care.health import codelists
from integrated_care.health.registers import condition_dates, flags_from_dates, years_before


def treatment_counts(con: ibis.BaseBackend, as_of: dt.date) -> Table:
    """(patient_id, treatment, n_rx): prescriptions per treatment group in the last 12 months."""
    rows = codelists.codes_for("dmd")
    groups = ibis.memtable(
        {"treatment": [c.condition for c in rows], "code": [c.code for c in rows]},
        schema={"treatment": "string", "code": "string"},
    )
    meds = con.table("medications")
    start = years_before(as_of, 1)
    meds = meds.filter((meds.date > ibis.literal(start)) & (meds.date <= ibis.literal(as_of)))
    return (
        meds.join(groups, meds.dmd_code == groups.code)
        .group_by("patient_id", "treatment")
        .aggregate(n_rx=_.count())
    )


def _component_people(
    component: codelists.CmsComponent, dates: Table, rx: Table, as_of: dt.date
) -> Table:
    """patient_id of everyone who has `component` on `as_of`."""
    coded = dates.filter(dates.condition.isin(component.conditions))
    year_ago = ibis.literal(years_before(as_of, 1))
    treated = rx.filter(rx.treatment == (component.treatment or ""))
    rule = component.rule
    if rule == "ever":
        ids = coded.select("patient_id")
    elif rule == "first_5y":
        ids = coded.filter(coded.first_date > ibis.literal(years_before(as_of, 5))).select(
            "patient_id"
        )
    elif rule == "code_and_rx_12m":
        ids = coded.select("patient_id").intersect(treated.select("patient_id"))
    elif rule == "code_12m_or_rx4_12m":
        ids = (
            coded.filter(coded.last_date > year_ago)
            .select("patient_id")
            .union(treated.filter(treated.n_rx >= 4).select("patient_id"))
        )
    elif rule == "code_or_rx4_12m":
        ids = coded.select("patient_id").union(
            treated.filter(treated.n_rx >= 4).select("patient_id")
        )
    elif rule == "rx4_12m":
        ids = treated.filter(treated.n_rx >= 4).select("patient_id")
    else:
        raise ValueError(f"CMS component {component.name!r}: unknown rule {rule!r}")
    return ids.distinct().mutate(
        component=ibis.literal(component.name), weight=ibis.literal(component.weight)
    )


def cms_components_present(
    con: ibis.BaseBackend, as_of: dt.date, *, dates: Table | None = None
) -> Table:
    """(patient_id, component, weight) for each CMS condition each person has on `as_of`."""
    if dates is None:
        dates = condition_dates(con, as_of)
    rx = treatment_counts(con, as_of)
    parts = [_component_people(c, dates, rx, as_of) for c in codelists.cms_components()]
    return ibis.union(*parts, distinct=False)


def cms_scores(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    dates: Table | None = None,
    flags: Table | None = None,
) -> Table:
    """One row per patient: patient_id, cms_score (sum of weights, 2 dp), cms_conditions (count).

    `dates` (``condition_dates``) or `flags` (``condition_flags``) may be given already
    computed. The components of :func:`cms_components_present`, summed per person: the
    ``ever`` ones from a flag per condition (one column each, no grouping), the rest by
    grouping their people. The weights have two decimals, so the order of summing never shows
    after rounding to 2 dp.
    """
    components = codelists.cms_components()
    ever = [c for c in components if c.rule == "ever"]
    windowed = [c for c in components if c.rule != "ever"]
    conditions = tuple(dict.fromkeys(k for c in ever for k in c.conditions))
    patients = con.table("patients")
    need_flags = flags is None or not set(conditions) <= set(flags.columns)
    if dates is None and (windowed or need_flags):
        dates = condition_dates(con, as_of)
    if need_flags:
        flags = flags_from_dates(patients, dates, conditions)
    flags = flags.select("patient_id", **{f"_f_{c}": flags[c] for c in conditions})
    joined = patients.select("patient_id").left_join(flags, "patient_id").drop("patient_id_right")
    if windowed:
        rx = treatment_counts(con, as_of)
        present = ibis.union(*(_component_people(c, dates, rx, as_of) for c in windowed))
        # (patient_id, component) pairs are distinct: each part is, and names its component.
        totals = present.group_by("patient_id").aggregate(_score=_.weight.sum(), _n=_.count())
        joined = joined.left_join(totals, "patient_id").drop("patient_id_right")
        score, n = joined._score.fill_null(0.0), joined._n.fill_null(0).cast("int64")
    else:
        score, n = ibis.literal(0.0), ibis.literal(0, type="int64")
    for component in ever:
        has = ibis.literal(False)
        for condition in component.conditions:
            has = has | joined[f"_f_{condition}"].fill_null(False)
        score = score + ibis.ifelse(has, component.weight, 0.0)
        n = n + has.cast("int64")
    return joined.select(
        "patient_id",
        cms_score=score.round(2).cast("float64"),
        cms_conditions=n.cast("int64"),
    )
