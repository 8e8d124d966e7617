"""Workforce charts (Vega-Lite): planned vs actual FTE by month; vacancies by staff group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrated_care.web.charts import NHS_BLUE, bar_chart
from integrated_care.workforce.plan import GroupFigure, MonthFigure

Spec = dict[str, Any]
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
SERIES = ("Planned FTE", "Actual FTE")
GROUP_LABELS = {
    "medical": "Medical and dental",
    "nursing": "Nursing and midwifery",
    "ahp": "Allied health professionals",
    "scientific": "Healthcare scientists and pharmacy",
    "admin": "Administrative and clerical",
    "estates": "Estates and ancillary",
    "social_care": "Social care",
    "other": "Other",
}


def fte_rows(months: Sequence[MonthFigure]) -> list[dict[str, Any]]:
    return [
        {
            "month": m.month.strftime("%b %Y"),
            "order": m.month.isoformat(),
            "Planned FTE": m.planned_fte,
            "Actual FTE": m.actual_fte,
            "Vacancies FTE": m.vacancies_fte,
            "Headcount": m.headcount,
        }
        for m in months
    ]


def fte_chart(months: Sequence[MonthFigure]) -> Spec:
    """Planned and actual FTE each month."""
    return {
        "$schema": SCHEMA,
        "width": "container",
        "data": {"values": fte_rows(months)},
        "transform": [{"fold": list(SERIES), "as": ["series", "value"]}],
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {
                "field": "month",
                "type": "ordinal",
                "title": "Month",
                "sort": {"field": "order"},
            },
            "y": {"field": "value", "type": "quantitative", "title": "FTE"},
            "color": {
                "field": "series",
                "type": "nominal",
                "title": "Figures",
                "scale": {"domain": list(SERIES), "range": ["#768692", NHS_BLUE]},
            },
            "tooltip": [
                {"field": "month", "title": "Month"},
                {"field": "series", "title": "Figures"},
                {"field": "value", "title": "FTE", "format": ",.1f"},
            ],
        },
    }


def vacancy_chart(groups: Sequence[GroupFigure]) -> Spec:
    """Vacant FTE (planned less actual, where positive) by staff group."""
    rows = [
        {
            "group": GROUP_LABELS.get(g.staff_group, g.staff_group),
            "Vacancies FTE": g.vacancies_fte,
            "Planned FTE": g.planned_fte,
            "Actual FTE": g.actual_fte,
        }
        for g in groups
    ]
    return bar_chart(
        rows, "group", "Vacancies FTE", category_title="Staff group", value_title="Vacancies (FTE)"
    )
