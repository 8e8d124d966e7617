"""Condition flags and QOF-style disease registers, from the warehouse, as Ibis expressions.

A condition is *recorded* on a date when a code from its list (``health/data/codelists``) was
entered on or before that date, and *active* unless a "resolved" code for it (asthma, depression,
diabetes, hypertension) is later than its latest diagnosis code (a resolved code on the same day
as the diagnosis wins, as in the QOF business rules). CVD primary prevention counts a QRISK entry
of 10% or more, or one coded without a value.

Registers follow QOF: the numerator is the registered people with the condition within the
register's age rule, the denominator the registered people within its denominator age rule
(``data/register_rules.csv``).
"""

from __future__ import annotations

import datetime as dt

import ibis
from ibis import _
from ibis.expr.types import Table

from integrated_care.health import codelists
from integrated_care.health.population import registered_population

QRISK_THRESHOLD = 10.0
LEVELS = ("practice", "pcn", "place", "system")


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_on(date_of_birth: ibis.Value, as_of: dt.date) -> ibis.Value:
    """Age in whole years on `as_of` (dates of birth are the first of a month)."""
    day = ibis.literal(as_of)
    return day.year() - date_of_birth.year() - (day.month() < date_of_birth.month()).cast("int64")


def match_icd10(table: Table, column: str, conditions: tuple[str, ...] | None = None) -> Table:
    """Rows of `table` whose ICD-10 `column` matches a code list entry, with its `condition`.

    ICD-10 list entries are prefixes of the code without its dot (E11 matches E11.9); a row
    matching several conditions appears once per condition.
    """
    rows = [
        c for c in codelists.codes_for("icd10") if conditions is None or c.condition in conditions
    ]
    normal = table.mutate(_icd10=table[column].upper().replace(".", "").strip())
    parts = []
    for length in sorted({len(c.code) for c in rows}):
        prefixes = ibis.memtable(
            {
                "condition": [c.condition for c in rows if len(c.code) == length],
                "_prefix": [c.code for c in rows if len(c.code) == length],
            },
            schema={"condition": "string", "_prefix": "string"},
        )
        keyed = normal.mutate(_prefix=normal._icd10.substr(0, length))
        parts.append(keyed.join(prefixes, "_prefix").drop("_prefix", "_icd10"))
    return ibis.union(*parts, distinct=False)


def _hospital_diagnoses(con: ibis.BaseBackend, as_of: dt.date) -> Table:
    """(patient_id, condition, date) for ICD-10 diagnoses of admissions on or before `as_of`."""
    spells = con.table("apc_spells")
    spells = spells.filter(spells.admission_date <= ibis.literal(as_of))
    primary = spells.select("patient_id", date=_.admission_date, diagnosis=_.primary_diagnosis)
    secondary = spells.filter(spells.secondary_diagnoses.notnull()).select(
        "patient_id",
        date=_.admission_date,
        diagnosis=_.secondary_diagnoses.split("|").unnest(),
    )
    diagnoses = primary.union(secondary, distinct=False)
    return match_icd10(diagnoses, "diagnosis").select("patient_id", "condition", "date")


def _coded(con: ibis.BaseBackend, as_of: dt.date) -> Table:
    """(patient_id, condition, date, resolves) for GP entries on or before `as_of`: diagnoses that
    qualify, and "resolved" codes (resolves = True), from one scan of gp_events."""
    ev = con.table("gp_events")
    ev = ev.filter(ev.date <= ibis.literal(as_of))
    rows = [(c, False) for c in codelists.codes_for("snomed")]
    rows += [(c, True) for c in codelists.resolved_codes()]
    codes = ibis.memtable(
        {
            "condition": [c.condition for c, _r in rows],
            "code": [c.code for c, _r in rows],
            "resolves": [r for _c, r in rows],
        },
        schema={"condition": "string", "code": "string", "resolves": "boolean"},
    )
    hits = ev.join(codes, ev.snomed_code == codes.code)
    value = hits.numeric_value
    qualifies = (hits.condition != "cvdpp") | (
        value.isnull() | value.isnan() | (value >= QRISK_THRESHOLD)
    )
    return hits.filter(qualifies).select("patient_id", "condition", "date", "resolves")


# Condition dates and flags a pipeline has already materialised, by (backend, what, date,
# include_hospital): later steps asking for the same (the risk features) read them.
_REMEMBERED: dict[tuple[int, str, dt.date, bool], Table] = {}


def remember_conditions(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    dates: Table | None = None,
    flags: Table | None = None,
    include_hospital: bool = False,
) -> None:
    """Have :func:`condition_dates` / :func:`condition_flags` return `dates` / `flags` (their
    own results, materialised) for these arguments until :func:`forget_conditions`."""
    for what, table in (("dates", dates), ("flags", flags)):
        if table is not None:
            _REMEMBERED[(id(con), what, as_of, include_hospital)] = table


def forget_conditions(con: ibis.BaseBackend) -> None:
    for key in [k for k in _REMEMBERED if k[0] == id(con)]:
        del _REMEMBERED[key]


def condition_dates(
    con: ibis.BaseBackend, as_of: dt.date, *, include_hospital: bool = False
) -> Table:
    """One row per (patient_id, condition) active on `as_of`: first_date and last_date recorded.

    GP codes only by default, as QOF registers are; `include_hospital` adds admissions' ICD-10
    diagnoses (which have no "resolved" codes, so they re-open a resolved GP condition).
    """
    remembered = _REMEMBERED.get((id(con), "dates", as_of, include_hospital))
    if remembered is not None:
        return remembered
    events = _coded(con, as_of)
    if include_hospital:
        hospital = _hospital_diagnoses(con, as_of).mutate(resolves=ibis.literal(False))
        events = events.union(hospital, distinct=False)
    diagnosis = ~events.resolves
    dated = events.group_by("patient_id", "condition").aggregate(
        first_date=events.date.min(where=diagnosis),
        last_date=events.date.max(where=diagnosis),
        resolved_date=events.date.max(where=events.resolves),
    )
    active = dated.last_date.notnull() & (
        dated.resolved_date.isnull() | (dated.last_date > dated.resolved_date)
    )
    return dated.filter(active).select("patient_id", "condition", "first_date", "last_date")


MASK_BITS = 62  # conditions per int64 bit mask


def flags_from_dates(patients: Table, dates: Table, conditions: tuple[str, ...]) -> Table:
    """Pivot (patient_id, condition) rows, unique as ``condition_dates`` gives them, into one
    boolean column per condition.

    Each condition is a bit: a person's bits are summed (an OR, the pairs being unique) into
    one integer per group of conditions, which is far cheaper than one aggregate per condition.
    """
    groups = [conditions[i : i + MASK_BITS] for i in range(0, len(conditions), MASK_BITS)]
    bits = ibis.memtable(
        {
            "condition": list(conditions),
            "_group": [i // MASK_BITS for i in range(len(conditions))],
            "_bit": [1 << (i % MASK_BITS) for i in range(len(conditions))],
        },
        schema={"condition": "string", "_group": "int64", "_bit": "int64"},
    )
    hits = dates.select("patient_id", "condition").join(bits, "condition")
    wide = hits.group_by("patient_id").aggregate(
        **{f"_mask{g}": hits._bit.sum(where=hits._group == g) for g in range(len(groups))}
    )
    base = patients.select("patient_id").distinct()
    joined = base.left_join(wide, "patient_id")
    flags = {}
    for g, members in enumerate(groups):
        mask = joined[f"_mask{g}"].fill_null(0)
        flags |= {c: (mask & (1 << i)) != 0 for i, c in enumerate(members)}
    return joined.select(base.patient_id, **flags)


def condition_flags(
    con: ibis.BaseBackend, as_of: dt.date, *, include_hospital: bool = False
) -> Table:
    """One row per patient in `patients`, a boolean column per condition active on `as_of`.

    Columns: patient_id, then every condition key of the SNOMED code lists (the QOF registers
    af, ast, can, chd, ckd, copd, cvdpp, dem, dep, dm, ep, hf, hyp, ld, mh, ob, ost, pad, pc, ra,
    stia; ckd45 for CKD stages 4-5; and the CMS / eFI conditions). No age rule is applied here:
    registers apply QOF age rules on top.
    """
    remembered = _REMEMBERED.get((id(con), "flags", as_of, include_hospital))
    if remembered is not None:
        return remembered
    dates = condition_dates(con, as_of, include_hospital=include_hospital)
    return flags_from_dates(con.table("patients"), dates, codelists.diagnosis_conditions())


def practice_hierarchy(con: ibis.BaseBackend) -> Table:
    """practice_code -> pcn_code (the practice's PCN, null for a practice in none),
    place_code (the practice's place)."""
    orgs = con.table("organisations")
    practices = orgs.filter(orgs.org_type == "gp_practice")
    pcns = orgs.filter(orgs.org_type == "pcn").org_code
    # A practice outside every PCN has its place as parent in the input layer: not a PCN.
    in_pcn = practices.parent_code.isin(pcns)
    return practices.select(
        practice_code=_.org_code,
        pcn_code=in_pcn.ifelse(practices.parent_code, ibis.null(str)),
        place_code=_.place_code,
    )


def registers_mart(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    dates: Table | None = None,
    people: Table | None = None,
) -> Table:
    """Numerator, denominator and prevalence (%) per QOF register at each level.

    Columns: level (practice | pcn | place | system), area_code, condition, qof_group, label,
    numerator, denominator, prevalence_pct, england_pct (QOF 2019/20), as_of. Areas with an
    empty denominator for a register (e.g. no one aged 50+) report a null prevalence.
    `dates` and `people` may be given already computed (``condition_dates``,
    ``registered_population``).
    """
    rules = codelists.register_rules()
    england = codelists.qof_england_prevalence()
    rule_table = ibis.memtable(
        {
            "condition": [r.condition for r in rules],
            "qof_group": [r.qof_group for r in rules],
            "label": [r.label for r in rules],
            "reg_min": [r.reg_min_age for r in rules],
            "reg_max": [r.reg_max_age for r in rules],
            "den_min": [r.den_min_age for r in rules],
            "den_max": [r.den_max_age for r in rules],
            "england_pct": [england.get(r.qof_group) for r in rules],
        },
        schema={
            "condition": "string",
            "qof_group": "string",
            "label": "string",
            "reg_min": "int64",
            "reg_max": "int64",
            "den_min": "int64",
            "den_max": "int64",
            "england_pct": "float64",
        },
    )
    if dates is None:
        dates = condition_dates(con, as_of)
    if people is None:
        people = registered_population(con, as_of)
    people = people.select("patient_id", "practice_code", "age")

    ages = people.group_by("practice_code", "age").aggregate(n=_.count())
    den = (
        ages.cross_join(rule_table)
        .filter((_.age >= _.den_min) & (_.age <= _.den_max))
        .group_by("practice_code", "condition")
        .aggregate(denominator=_.n.sum())
    )
    cases = people.join(dates.select("patient_id", "condition"), "patient_id")
    # The age rule as a CASE on the condition rather than a join to the rules: joined, DuckDB
    # pairs every person with every rule on the age range before matching conditions.
    on_register = ibis.cases(
        *(
            (
                cases.condition == r.condition,
                (cases.age >= r.reg_min_age) & (cases.age <= r.reg_max_age),
            )
            for r in rules
        ),
        else_=False,
    )
    num = (
        cases.filter(on_register)
        .group_by("practice_code", "condition")
        .aggregate(numerator=_.count())
    )
    grid = people.select("practice_code").distinct().cross_join(rule_table.select("condition"))
    practice = (
        grid.left_join(den, ["practice_code", "condition"])
        .select("practice_code", "condition", "denominator")
        .left_join(num, ["practice_code", "condition"])
        .select(
            "practice_code",
            "condition",
            denominator=_.denominator.fill_null(0),
            numerator=_.numerator.fill_null(0),
        )
        .join(practice_hierarchy(con), "practice_code")
    )

    levels = []
    for level, column in (
        ("practice", "practice_code"),
        ("pcn", "pcn_code"),
        ("place", "place_code"),
        ("system", None),
    ):
        area = practice[column] if column else ibis.literal("ICS")
        # Practices in no PCN count at practice, place and system level only.
        rows = practice.filter(area.notnull()) if column else practice
        levels.append(
            rows.mutate(area_code=area.cast("string"))
            .group_by("area_code", "condition")
            .aggregate(numerator=_.numerator.sum(), denominator=_.denominator.sum())
            .mutate(level=ibis.literal(level))
        )
    out = ibis.union(*levels).join(rule_table, "condition")
    prevalence = ibis.ifelse(
        out.denominator > 0, out.numerator.cast("float64") * 100.0 / out.denominator, ibis.null()
    )
    level_order = ibis.cases(*((out.level == lv, i) for i, lv in enumerate(LEVELS)), else_=9)
    return (
        out.select(
            "level",
            "area_code",
            "condition",
            "qof_group",
            "label",
            numerator=out.numerator.cast("int64"),
            denominator=out.denominator.cast("int64"),
            prevalence_pct=prevalence.cast("float64"),
            england_pct=out.england_pct,
            as_of=ibis.literal(as_of),
            _order=level_order,
        )
        .order_by("_order", "area_code", "condition")
        .drop("_order")
    )
