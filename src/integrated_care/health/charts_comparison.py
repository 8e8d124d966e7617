"""Vega-Lite specs for comparing areas and groups: funnel plots (practices and PCNs against the
ICS mean) and error-bar charts (age-standardised rates with 95% CIs by group)."""

from __future__ import annotations

from typing import Any

from integrated_care.health.funnel import FLAG_LABELS
from integrated_care.health.page_schemas import Funnel, InequalityRow

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
TEXT_COLOUR = "#212b32"
# Colour and shape both carry the flag, so it does not depend on colour vision.
FLAG_STYLE = {
    "high_998": ("#d5281b", "triangle-up"),
    "high_95": ("#ed8b00", "triangle-up"),
    "within": ("#005eb8", "circle"),
    "low_95": ("#ed8b00", "triangle-down"),
    "low_998": ("#d5281b", "triangle-down"),
}
LIMIT_LINES = {
    "upper_998": "99.8% limits",
    "lower_998": "99.8% limits",
    "upper_95": "95% limits",
    "lower_95": "95% limits",
}


def _digits(unit: str) -> int:
    return 2 if unit == "%" else 1


def funnel_chart(f: Funnel, denominator_title: str) -> dict[str, Any]:
    """Each area's figure against its size, with the ICS mean and the 95% and 99.8% limits."""
    digits = _digits(f.unit)
    rows = [
        {
            "area": p.area_name,
            "code": p.area_code,
            "numerator": p.numerator,
            "denominator": p.denominator,
            "value": round(p.value, digits),
            "flag": p.flag_label,
        }
        for p in f.points
    ]
    curve = [
        {
            "denominator": c.denominator,
            "limit": round(getattr(c, key), 4),
            "line": label,
            "side": key,
        }
        for c in f.curve
        for key, label in LIMIT_LINES.items()
    ]
    value_title = f"{f.measure} ({f.unit})"
    x = {"field": "denominator", "type": "quantitative", "title": denominator_title}
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": 320,
        "data": {"values": rows},
        "layer": [
            {
                "data": {"values": curve},
                "mark": {"type": "line", "color": "#768692", "strokeWidth": 1.5},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "limit",
                        "type": "quantitative",
                        "title": value_title,
                        "scale": {"zero": False},
                    },
                    "detail": {"field": "side"},
                    "strokeDash": {
                        "field": "line",
                        "type": "nominal",
                        "title": "Control limits",
                        "scale": {
                            "domain": ["95% limits", "99.8% limits"],
                            "range": [[4, 3], [1, 0]],
                        },
                    },
                },
            },
            {
                "data": {"values": [{"target": round(f.target, digits + 2)}]},
                "mark": {"type": "rule", "color": TEXT_COLOUR, "strokeWidth": 1.5},
                "encoding": {"y": {"field": "target", "type": "quantitative"}},
            },
            {
                "mark": {"type": "point", "filled": True, "size": 60, "opacity": 0.9},
                "encoding": {
                    "x": x,
                    "y": {"field": "value", "type": "quantitative"},
                    "color": {
                        "field": "flag",
                        "type": "nominal",
                        "title": "Against the ICS mean",
                        "scale": {
                            "domain": [FLAG_LABELS[k] for k in FLAG_STYLE],
                            "range": [c for c, _ in FLAG_STYLE.values()],
                        },
                    },
                    "shape": {
                        "field": "flag",
                        "type": "nominal",
                        "scale": {
                            "domain": [FLAG_LABELS[k] for k in FLAG_STYLE],
                            "range": [s for _, s in FLAG_STYLE.values()],
                        },
                    },
                    "tooltip": [
                        {"field": "area", "title": "Area"},
                        {"field": "value", "title": value_title},
                        {"field": "numerator", "title": "Count", "format": ","},
                        {"field": "denominator", "title": denominator_title, "format": ","},
                        {"field": "flag", "title": "Against the ICS mean"},
                    ],
                },
            },
        ],
    }


def _shown(value: float | None, digits: int) -> str:
    return "suppressed" if value is None else f"{value:,.{digits}f}"


def error_bar_chart(
    rows: list[InequalityRow], overall: InequalityRow | None, value_title: str
) -> dict[str, Any]:
    """Each group's value (a point) with its 95% CI (a bar), and the whole population's value
    as a vertical line. Groups whose figures are suppressed are listed in the table only."""
    digits = 2 if (rows and rows[0].multiplier == 100) else 0
    data = [
        {
            "group": r.group_label,
            "value": None if r.value is None else round(r.value, digits + 1),
            "lower": None if r.lower is None else round(r.lower, digits + 1),
            "upper": None if r.upper is None else round(r.upper, digits + 1),
            "value_text": _shown(r.value, digits),
            "ci_text": "–"
            if r.lower is None or r.upper is None
            else f"{r.lower:,.{digits}f} to {r.upper:,.{digits}f}",
            "numerator": "suppressed" if r.numerator is None else f"{r.numerator:,}",
            "denominator": "suppressed" if r.denominator is None else f"{r.denominator:,}",
            "note": r.note or "",
        }
        for r in rows
    ]
    order = [d["group"] for d in data]
    y = {"field": "group", "type": "nominal", "title": None, "sort": order}
    x_title = {"title": value_title, "scale": {"zero": False}}
    layers: list[dict[str, Any]] = [
        {
            "transform": [{"filter": "isValid(datum.lower) && isValid(datum.upper)"}],
            "mark": {"type": "rule", "color": TEXT_COLOUR, "strokeWidth": 2},
            "encoding": {
                "y": y,
                "x": {"field": "lower", "type": "quantitative", **x_title},
                "x2": {"field": "upper"},
            },
        },
        {
            "transform": [{"filter": "isValid(datum.value)"}],
            "mark": {"type": "point", "filled": True, "size": 80, "color": "#005eb8"},
            "encoding": {
                "y": y,
                "x": {"field": "value", "type": "quantitative"},
                "tooltip": [
                    {"field": "group", "title": "Group"},
                    {"field": "value_text", "title": value_title},
                    {"field": "ci_text", "title": "95% CI"},
                ],
            },
        },
    ]
    if overall is not None and overall.value is not None:
        layers.insert(
            0,
            {
                "data": {"values": [{"overall": round(overall.value, digits + 1)}]},
                "mark": {"type": "rule", "color": "#768692", "strokeDash": [4, 3]},
                "encoding": {"x": {"field": "overall", "type": "quantitative"}},
            },
        )
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": {"step": 28},
        "data": {"values": data},
        "layer": layers,
    }
