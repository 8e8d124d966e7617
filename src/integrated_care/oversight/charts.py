"""Vega-Lite specs for the oversight pages: an XmR (SPC) chart per measure and a comparison of
providers. Shares are shown as percentages; each chart's rows are also its table."""

from __future__ import annotations

from typing import Any

from integrated_care.oversight.views import Comparison, MeasureView
from integrated_care.web.charts import NHS_BLUE, bar_chart

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
KIND_COLOURS = {"common cause": "#768692", "improvement": NHS_BLUE, "concern": "#ed8b00"}


def shown(value: float | None, unit: str) -> float | None:
    """A figure as pages show it: a percentage to one decimal place, or days to two."""
    if value is None:
        return None
    return round(value * 100, 1) if unit == "percent" else round(value, 2)


def unit_title(unit: str) -> str:
    return "%" if unit == "percent" else "days"


def _kind(flags: list[str]) -> str:
    kinds = {f.split(": ")[1] for f in flags}
    return "concern" if "concern" in kinds else "improvement" if kinds else "common cause"


def spc_chart(view: MeasureView) -> dict[str, Any]:
    """Monthly values with each period's mean and natural process limits (lines broken where
    the limits are recalculated), the target, and each point coloured by whether a
    special-cause rule flags it as improvement or concern."""
    u = view.unit
    rows = [
        {
            "month": p.month.isoformat()[:7],
            "value": shown(p.value, u),
            "period": p.period + 1,
            "mean": shown(p.mean, u),
            "upper": shown(p.upper_limit, u),
            "lower": shown(p.lower_limit, u),
            "target": shown(view.target, u),
            "variation": _kind(p.flags),
            "flags": "; ".join(p.flags) or "none",
        }
        for p in view.points
    ]
    x = {"field": "month", "type": "ordinal", "title": "Month", "axis": {"labelAngle": -45}}
    y_title = f"{view.title} ({unit_title(u)})"

    def rule(field: str, dash: list[int], colour: str) -> dict[str, Any]:
        return {
            "mark": {"type": "line", "color": colour, "strokeDash": dash, "strokeWidth": 1.5},
            "encoding": {
                "x": x,
                "y": {"field": field, "type": "quantitative"},
                "detail": {"field": "period", "type": "ordinal"},
            },
        }

    layers = [
        rule("upper", [4, 4], "#425563"),
        rule("lower", [4, 4], "#425563"),
        rule("mean", [], "#425563"),
        {
            "mark": {"type": "line", "color": "#aeb7bd"},
            "encoding": {
                "x": x,
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "title": y_title,
                    "scale": {"zero": False},
                },
            },
        },
        {
            "mark": {"type": "point", "filled": True, "size": 50},
            "encoding": {
                "x": x,
                "y": {"field": "value", "type": "quantitative"},
                "color": {
                    "field": "variation",
                    "type": "nominal",
                    "title": "Variation",
                    "scale": {"domain": list(KIND_COLOURS), "range": list(KIND_COLOURS.values())},
                },
                "tooltip": [
                    {"field": "month", "title": "Month"},
                    {"field": "value", "title": unit_title(u)},
                    {"field": "flags", "title": "Special cause"},
                ],
            },
        },
    ]
    if view.target is not None:
        layers.insert(0, rule("target", [8, 3], "#da291c"))
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": 240,
        "data": {"values": rows},
        "layer": layers,
    }


SPC_COLUMNS = [
    ("month", "Month"),
    ("value", "Value"),
    ("period", "Period"),
    ("mean", "Mean"),
    ("lower", "Lower limit"),
    ("upper", "Upper limit"),
    ("target", "Target"),
    ("flags", "Special cause"),
]


def comparison_chart(found: Comparison, view: MeasureView) -> dict[str, Any]:
    rows = [
        {
            "provider": p["name"],
            "value": shown(p["value"], view.unit),
            "denominator": p["denominator"],
        }
        for p in found.providers
    ]
    return bar_chart(
        rows,
        "provider",
        "value",
        category_title="Provider",
        value_title=f"{view.title} ({unit_title(view.unit)})",
    )


COMPARISON_COLUMNS = [("provider", "Provider"), ("value", "Value"), ("denominator", "Counted")]
