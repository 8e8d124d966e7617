"""Inequalities: the `inequalities` mart as published (small numbers suppressed), shaped for the
page, with a summary per Core20PLUS5 indicator."""

from __future__ import annotations

import pandas as pd

from integrated_care.health.inequalities import definitions, publishable
from integrated_care.health.marts import open_marts
from integrated_care.health.page_schemas import (
    IndicatorSummary,
    InequalitiesView,
    InequalityRow,
)
from integrated_care.health.views import AreaNames, clean_value
from integrated_care.settings import Settings

INDICATOR_LABELS = {
    "hypertension_case_finding": "Hypertension: recorded prevalence",
    "emergency_admissions": "Emergency admissions in the last 12 months",
    "smi_health_check": "Severe mental illness: physical health check in 12 months",
    "copd_flu_vaccination": "COPD: flu vaccination in 12 months",
    "early_cancer_diagnosis": "Cancer diagnosed at stage 1 or 2",
    "maternity_continuity_of_carer": "Maternity: continuity of carer",
}
PLUS_LABELS = {
    "ethnic_minority": "Ethnic minority groups",
    "learning_disability": "Learning disability",
    "smi": "Severe mental illness",
}


def inequalities_view(settings: Settings, names: AreaNames) -> InequalitiesView | None:
    """The `inequalities` mart as published (small numbers suppressed), with a summary per
    indicator; None when the marts were built without it."""
    with open_marts(settings) as con:
        if "inequalities" not in con.list_tables():
            return None
        mart = con.table("inequalities").execute()
        as_of = pd.Timestamp(con.table("patient_summary").as_of.max().execute()).date()
    rows = [_inequality_row(r, names) for r in publishable(mart).to_dict("records")]
    return InequalitiesView(as_of=as_of, indicators=_indicator_summaries(rows), rows=rows)


def group_label(group_type: str, group: str, names: AreaNames) -> str:
    if group_type == "imd_quintile":
        return {"1": "1 (most deprived)", "5": "5 (least deprived)"}.get(group, group)
    if group_type == "imd_decile" and group != "1-10":
        return {"1": "1 (most deprived)", "10": "10 (least deprived)"}.get(group, group)
    if group_type == "place":
        return names.place(group)
    if group_type == "plus_group":
        return PLUS_LABELS.get(group, group)
    if group_type == "core20":
        return {"core20": "Core20 (IMD deciles 1-2)", "rest": "Rest of the population"}.get(
            group, group
        )
    if group_type == "all":
        return "Everyone"
    return group.capitalize() if group_type == "sex" else group


def _inequality_row(r: dict, names: AreaNames) -> InequalityRow:
    values = {k: clean_value(v) for k, v in r.items()}
    for count in ("numerator", "denominator", "expected"):
        if values.get(count) is not None:
            values[count] = int(values[count])  # type: ignore[call-overload]
    group = str(values["group"])
    return InequalityRow(
        **values,  # type: ignore[arg-type]
        group_label=group_label(str(values["group_type"]), group, names),
    )


def indicator_unit(multiplier: float | None, statistic: str) -> str:
    if statistic == "proportion":
        return "%"
    if multiplier == 100:
        return "per 100 people (age-standardised)"
    if multiplier == 100_000:
        return "per 100,000 people (age-standardised)"
    return ""


def _indicator_summaries(rows: list[InequalityRow]) -> list[IndicatorSummary]:
    out = []
    for indicator in dict.fromkeys(r.indicator for r in rows):
        mine = [r for r in rows if r.indicator == indicator]

        def one(
            group_type: str,
            group: str,
            statistic: str | None = None,
            mine: list[InequalityRow] = mine,
        ) -> InequalityRow | None:
            return next(
                (
                    r
                    for r in mine
                    if r.group_type == group_type
                    and r.group == group
                    and (statistic is None or r.statistic == statistic)
                ),
                None,
            )

        overall = one("all", "all")
        statistic = overall.statistic if overall else "not_supported"
        out.append(
            IndicatorSummary(
                indicator=indicator,
                label=INDICATOR_LABELS.get(indicator, indicator.replace("_", " ").capitalize()),
                unit=indicator_unit(overall.multiplier if overall else None, statistic),
                statistic=statistic,
                supported=statistic != "not_supported",
                note=overall.note if overall else None,
                overall=overall,
                core20=one("core20", "core20"),
                rest=one("core20", "rest"),
                sii=one("imd_decile", "1-10", "sii"),
                rii=one("imd_decile", "1-10", "rii"),
            )
        )
    return out


def plus_group_definitions() -> dict[str, str]:
    return dict(definitions()["plus_groups"])
