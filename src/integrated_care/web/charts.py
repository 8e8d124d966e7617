"""Vega-Lite specs for the chart shapes pages use most, so every domain's charts look alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NHS_BLUE = "#005eb8"


def bar_chart(
    rows: Sequence[dict[str, Any]],
    category: str,
    value: str,
    *,
    category_title: str,
    value_title: str,
    horizontal: bool = True,
    colour_field: str | None = None,
) -> dict[str, Any]:
    """A bar per row, sorted by value, largest first."""
    cat = {
        "field": category,
        "type": "nominal",
        "title": category_title,
        "sort": "-x" if horizontal else "-y",
    }
    val = {"field": value, "type": "quantitative", "title": value_title}
    encoding: dict[str, Any] = {"y": cat, "x": val} if horizontal else {"x": cat, "y": val}
    encoding["tooltip"] = [
        {"field": category, "title": category_title},
        {"field": value, "title": value_title, "format": ","},
    ]
    mark: dict[str, Any] = {"type": "bar", "color": NHS_BLUE}
    if colour_field:
        encoding["color"] = {"field": colour_field, "type": "nominal"}
        mark.pop("color")
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": "container",
        "data": {"values": list(rows)},
        "mark": mark,
        "encoding": encoding,
    }
