"""Vega-Lite specs for the population-health overview: registers against England, segments,
risk and frailty. Each spec's ``data.values`` are the rows of the table shown beneath it."""

from __future__ import annotations

from typing import Any

from integrated_care.health.page_schemas import (
    EfiCategoryCount,
    RegisterPrevalence,
    RiskBandFigures,
    RiskHistogramBin,
    SegmentFigures,
)
from integrated_care.web.charts import NHS_BLUE, bar_chart

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
TEXT_COLOUR = "#212b32"


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _in_order(spec: dict[str, Any], order: list[str]) -> dict[str, Any]:
    """Keep the categories in the given order rather than sorted by value."""
    axis = "y" if spec["encoding"]["y"]["type"] == "nominal" else "x"
    spec["encoding"][axis]["sort"] = order
    return spec


def registers_chart(registers: list[RegisterPrevalence], national_year: str) -> dict[str, Any]:
    """ICS prevalence of each QOF register (bars) with England's published prevalence (ticks)."""
    rows = [
        {
            "register": f"{r.label} ({r.qof_group})",
            "numerator": r.numerator,
            "denominator": r.denominator,
            "ics_pct": None if r.prevalence_pct is None else round(r.prevalence_pct, 2),
            "england_pct": r.england_pct,
            "difference": None
            if r.difference_pct_points is None
            else round(r.difference_pct_points, 2),
        }
        for r in sorted(registers, key=lambda r: -(r.prevalence_pct or 0))
    ]
    y = {"field": "register", "type": "nominal", "title": None, "sort": None}
    england = f"England, QOF {national_year} (%)"
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": {"step": 18},
        "data": {"values": rows},
        "layer": [
            {
                "mark": {"type": "bar", "color": NHS_BLUE},
                "encoding": {
                    "y": y,
                    "x": {"field": "ics_pct", "type": "quantitative", "title": "Prevalence (%)"},
                    "tooltip": [
                        {"field": "register", "title": "Register"},
                        {"field": "ics_pct", "title": "ICS (%)"},
                        {"field": "england_pct", "title": england},
                        {"field": "numerator", "title": "On the register", "format": ","},
                    ],
                },
            },
            {
                "mark": {"type": "tick", "color": TEXT_COLOUR, "thickness": 3},
                "encoding": {"y": y, "x": {"field": "england_pct", "type": "quantitative"}},
            },
        ],
    }


def segment_charts(segments: list[SegmentFigures]) -> dict[str, dict[str, Any]]:
    """People, 12-month cost and emergency admissions per 1,000 for each Bridges to Health
    segment, in the hierarchy's order."""
    rows = [
        {
            "segment": s.label,
            "people": s.people,
            "pct": round(s.pct_of_population, 2),
            "cost": round(s.cost_12m),
            "cost_per_person": _rounded(s.cost_per_person, 0),
            "admissions": s.emergency_admissions_12m,
            "admissions_per_1000": _rounded(s.emergency_admissions_per_1000, 1),
        }
        for s in segments
    ]
    order = [r["segment"] for r in rows]

    def chart(value: str, title: str) -> dict[str, Any]:
        return _in_order(
            bar_chart(rows, "segment", value, category_title="Segment", value_title=title), order
        )

    return {
        "people": chart("people", "People"),
        "cost": chart("cost", "Cost in the last 12 months (£)"),
        "admissions": chart("admissions_per_1000", "Emergency admissions per 1,000 people"),
    }


def risk_band_chart(bands: list[RiskBandFigures]) -> dict[str, Any]:
    rows = [
        {
            "band": b.label,
            "people": b.people,
            "share_pct": round(b.share * 100, 2),
            "mean_risk_pct": None if b.mean_score is None else round(b.mean_score * 100, 1),
            "expected": None if b.expected_admissions is None else round(b.expected_admissions),
        }
        for b in bands
    ]
    spec = bar_chart(rows, "band", "people", category_title="Risk band", value_title="People")
    return _in_order(spec, [r["band"] for r in rows])


def risk_histogram_chart(bins: list[RiskHistogramBin]) -> dict[str, Any]:
    """People by predicted risk of an emergency admission in the next 12 months."""
    rows = [
        {
            "from_pct": round(b.lower * 100, 1),
            "to_pct": round(b.upper * 100, 1),
            "risk": f"{b.lower * 100:.0f}-{b.upper * 100:.0f}%",
            "people": b.people,
        }
        for b in bins
    ]
    return {
        "$schema": SCHEMA,
        "width": "container",
        "height": 240,
        "data": {"values": rows},
        "mark": {"type": "bar", "color": NHS_BLUE, "binSpacing": 1},
        "encoding": {
            "x": {
                "field": "from_pct",
                "type": "quantitative",
                "bin": {"binned": True, "step": 2},
                "title": "Predicted risk of an emergency admission in the next 12 months (%)",
            },
            "x2": {"field": "to_pct"},
            "y": {"field": "people", "type": "quantitative", "title": "People"},
            "tooltip": [
                {"field": "risk", "title": "Predicted risk"},
                {"field": "people", "title": "People", "format": ","},
            ],
        },
    }


def efi_chart(categories: list[EfiCategoryCount]) -> dict[str, Any]:
    rows = [
        {"category": c.label, "people": c.people, "pct": round(c.pct_of_65_plus, 1)}
        for c in categories
    ]
    spec = bar_chart(
        rows,
        "category",
        "people",
        category_title="eFI category",
        value_title="People aged 65+",
        horizontal=False,
    )
    spec["height"] = 240
    return _in_order(spec, [r["category"] for r in rows])
