"""Charts for conditional funding, allocations and contract spend (Vega-Lite). Figures in £000
for display only: the tables beside them show the exact amounts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from integrated_care.finance.allocations import AllocationLine
from integrated_care.finance.conditional_funding import FundingResult
from integrated_care.finance.contracts import SECTOR_LABELS, SpendRow
from integrated_care.finance.services import thousands
from integrated_care.web.charts import bar_chart

Spec = dict[str, Any]
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
GREEN, RED = "#007f3b", "#d5281b"
SECTOR_COLOURS = ["#005eb8", "#330072", "#007f3b", "#ffb81c", "#768692"]


def gain_loss_chart(lines: Sequence[AllocationLine], unit_title: str) -> Spec:
    """Weighted capitation against a crude per-head split: who gains (+) and who loses (-)."""
    rows = [
        {
            "unit": x.name,
            "difference": thousands(x.difference),
            "effect": "Gains from weighting" if x.difference >= 0 else "Loses from weighting",
        }
        for x in lines
    ]
    spec = bar_chart(
        rows,
        "unit",
        "difference",
        category_title=unit_title,
        value_title="Weighted minus crude per-head allocation, £000",
        colour_field="effect",
    )
    spec["encoding"]["color"]["scale"] = {
        "domain": ["Gains from weighting", "Loses from weighting"],
        "range": [GREEN, RED],
    }
    spec["encoding"]["color"]["title"] = None
    return spec


def funding_chart(result: FundingResult, names: Mapping[str, str]) -> Spec:
    """Each recipient's share of the fund: earned and lost, stacked."""
    rows = []
    for x in result.lines:
        name = names.get(x.org_code, x.org_code)
        rows.append({"organisation": name, "part": "Earned", "value": thousands(x.earned)})
        rows.append({"organisation": name, "part": "Lost", "value": thousands(x.lost)})
    return {
        "$schema": SCHEMA,
        "width": "container",
        "data": {"values": rows},
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "organisation", "type": "nominal", "title": "Organisation"},
            "x": {"field": "value", "type": "quantitative", "stack": True, "title": "£000"},
            "color": {
                "field": "part",
                "type": "nominal",
                "title": None,
                "scale": {"domain": ["Earned", "Lost"], "range": [GREEN, RED]},
            },
            "tooltip": [
                {"field": "organisation", "title": "Organisation"},
                {"field": "part", "title": "Part"},
                {"field": "value", "title": "£000", "format": ",.1f"},
            ],
        },
    }


def sector_spend_chart(rows: Sequence[SpendRow]) -> Spec:
    """Net contract value by holder sector, month by month, stacked."""
    values = [
        {
            "month": r.month.strftime("%b %Y"),
            "order": r.month.isoformat(),
            "sector": SECTOR_LABELS[r.sector],
            "value": thousands(r.amount),
        }
        for r in rows
    ]
    domain = [SECTOR_LABELS[s] for s in SECTOR_LABELS]
    return {
        "$schema": SCHEMA,
        "width": "container",
        "data": {"values": values},
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "month",
                "type": "ordinal",
                "title": "Month",
                "sort": {"field": "order"},
            },
            "y": {"field": "value", "type": "quantitative", "stack": True, "title": "£000"},
            "color": {
                "field": "sector",
                "type": "nominal",
                "title": "Holder sector",
                "scale": {"domain": domain, "range": SECTOR_COLOURS},
            },
            "tooltip": [
                {"field": "month", "title": "Month"},
                {"field": "sector", "title": "Sector"},
                {"field": "value", "title": "£000", "format": ",.1f"},
            ],
        },
    }
