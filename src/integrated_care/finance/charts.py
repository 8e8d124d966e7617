"""Finance charts (Vega-Lite): plan, actual and forecast by month; the waterfall from plan to
forecast outturn; each organisation's variance. Figures in £000 (display only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrated_care.finance.chart import month_label
from integrated_care.finance.positions import Position, waterfall
from integrated_care.finance.risk_share import ShareResult
from integrated_care.finance.services import thousands
from integrated_care.web.charts import NHS_BLUE, bar_chart

Spec = dict[str, Any]
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
SERIES = ("Plan", "Actual", "Forecast")
COLOURS = ["#768692", NHS_BLUE, "#ffb81c"]


def monthly_chart(p: Position, financial_year: str) -> Spec:
    """Surplus (+) or deficit (-) each month: plan, actual to date, forecast after."""
    rows = [
        {
            "month": month_label(m.month, financial_year),
            "order": m.month,
            "Plan": thousands(m.plan),
            "Actual": thousands(m.actual),
            "Forecast": thousands(m.forecast),
        }
        for m in p.months
    ]
    month_axis = {"field": "month", "type": "ordinal", "title": "Month", "sort": {"field": "order"}}
    return {
        "$schema": SCHEMA,
        "width": "container",
        "data": {"values": rows},
        "transform": [{"fold": list(SERIES), "as": ["series", "value"]}],
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": month_axis,
            "y": {
                "field": "value",
                "type": "quantitative",
                "title": "Surplus (+) / deficit (-), £000",
            },
            "color": {
                "field": "series",
                "type": "nominal",
                "title": "Figures",
                "scale": {"domain": list(SERIES), "range": COLOURS},
            },
            "tooltip": [
                {"field": "month", "title": "Month"},
                {"field": "series", "title": "Figures"},
                {"field": "value", "title": "£000", "format": ",.1f"},
            ],
        },
    }


def waterfall_chart(p: Position) -> Spec:
    """From the plan for the year, driver by driver, to the forecast outturn."""
    rows = []
    for i, step in enumerate(waterfall(p)):
        rows.append(
            {
                "step": step.label,
                "order": i,
                "start": thousands(step.start),
                "end": thousands(step.end),
                "amount": thousands(step.end - step.start),
                "effect": "Total"
                if step.kind == "total"
                else "Better than plan"
                if step.end >= step.start
                else "Worse than plan",
            }
        )
    return {
        "$schema": SCHEMA,
        "width": "container",
        "data": {"values": rows},
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "step",
                "type": "ordinal",
                "title": None,
                "sort": {"field": "order"},
                "axis": {"labelAngle": 0},
            },
            "y": {"field": "start", "type": "quantitative", "title": "£000"},
            "y2": {"field": "end"},
            "color": {
                "field": "effect",
                "type": "nominal",
                "title": None,
                "scale": {
                    "domain": ["Total", "Better than plan", "Worse than plan"],
                    "range": [NHS_BLUE, "#007f3b", "#d5281b"],
                },
            },
            "tooltip": [
                {"field": "step", "title": "Step"},
                {"field": "amount", "title": "£000", "format": ",.1f"},
                {"field": "end", "title": "Running total, £000", "format": ",.1f"},
            ],
        },
    }


def organisations_chart(positions: Sequence[Position], names: dict[str, str]) -> Spec:
    """Each organisation's forecast outturn against its control total."""
    rows = [
        {
            "organisation": names.get(p.org_code or "", p.org_code),
            "variance": thousands(p.variance_to_control_total),
            "duty": "Delivers its control total"
            if p.meets_control_total
            else "Misses its control total",
        }
        for p in positions
        if p.variance_to_control_total is not None
    ]
    spec = bar_chart(
        rows,
        "organisation",
        "variance",
        category_title="Organisation",
        value_title="Forecast outturn against control total, £000",
        colour_field="duty",
    )
    spec["encoding"]["color"]["scale"] = {
        "domain": ["Delivers its control total", "Misses its control total"],
        "range": ["#007f3b", "#d5281b"],
    }
    spec["encoding"]["color"]["title"] = None
    return spec


SHARING = ("Before sharing", "After sharing")


def sharing_chart(result: ShareResult, names: dict[str, str]) -> Spec:
    """Each party's variance before and after sharing under one scenario (£000)."""
    rows = [
        {
            "organisation": names.get(x.org_code, x.org_code),
            "Before sharing": thousands(x.variance),
            "After sharing": thousands(x.after),
        }
        for x in result.lines
    ]
    return {
        "$schema": SCHEMA,
        "width": "container",
        "data": {"values": rows},
        "transform": [{"fold": list(SHARING), "as": ["when", "value"]}],
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "organisation", "type": "nominal", "title": None},
            "yOffset": {"field": "when", "sort": list(SHARING)},
            "x": {"field": "value", "type": "quantitative", "title": "Variance, £000"},
            "color": {
                "field": "when",
                "type": "nominal",
                "title": None,
                "scale": {"domain": list(SHARING), "range": ["#768692", NHS_BLUE]},
            },
            "tooltip": [
                {"field": "organisation", "title": "Organisation"},
                {"field": "when", "title": "When"},
                {"field": "value", "title": "£000", "format": ",.1f"},
            ],
        },
    }
