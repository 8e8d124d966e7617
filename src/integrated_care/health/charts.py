"""Vega-Lite specs for the population pages."""

from __future__ import annotations

from typing import Any

from integrated_care.health.population import PopulationProfile
from integrated_care.web.charts import NHS_BLUE, bar_chart

SEX_COLOURS = {"female": "#ae2573", "male": NHS_BLUE}


def pyramid_chart(profile: PopulationProfile) -> dict[str, Any]:
    """Registered people by age band and sex (bars; males drawn to the left), with the ONS
    mid-2022 age/sex shape at the same total as black ticks, so the two can be compared."""
    rows = [
        {
            "age_band": r.age_band,
            "band_order": r.band_order,
            "sex": r.sex,
            "registered": r.registered,
            "ons_expected": r.ons_expected,
            "signed": -(r.registered or 0) if r.sex == "male" else r.registered or 0,
            "signed_ons": -r.ons_expected if r.sex == "male" else r.ons_expected,
        }
        for r in profile.by_age_sex
    ]
    order = [r.age_band for r in sorted(profile.by_age_sex, key=lambda r: -r.band_order)]
    y = {"field": "age_band", "type": "ordinal", "title": "Age", "sort": order}
    x_axis = {
        "labelExpr": "abs(datum.value)",
        "title": "Registered people (males left, females right)",
    }
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": "container",
        "height": 360,
        "data": {"values": rows},
        "layer": [
            {
                "mark": {"type": "bar"},
                "encoding": {
                    "y": y,
                    "x": {"field": "signed", "type": "quantitative", "axis": x_axis},
                    "color": {
                        "field": "sex",
                        "type": "nominal",
                        "title": "Sex",
                        "scale": {
                            "domain": list(SEX_COLOURS),
                            "range": list(SEX_COLOURS.values()),
                        },
                    },
                    "tooltip": [
                        {"field": "age_band", "title": "Age"},
                        {"field": "sex", "title": "Sex"},
                        {"field": "registered", "title": "Registered", "format": ","},
                        {"field": "ons_expected", "title": "ONS shape", "format": ",.0f"},
                    ],
                },
            },
            {
                "mark": {"type": "tick", "color": "#212b32", "thickness": 2},
                "encoding": {"y": y, "x": {"field": "signed_ons", "type": "quantitative"}},
            },
        ],
    }


def place_chart(profile: PopulationProfile) -> dict[str, Any]:
    rows = [{"place": p.place_name, "registered": p.registered} for p in profile.by_place]
    return bar_chart(
        rows, "place", "registered", category_title="Place", value_title="Registered people"
    )


def quintile_chart(profile: PopulationProfile) -> dict[str, Any]:
    rows = [
        {
            "quintile": f"{q.imd_quintile}"
            + (
                " (most deprived)"
                if q.imd_quintile == 1
                else " (least deprived)"
                if q.imd_quintile == 5
                else ""
            ),
            "registered": q.registered,
        }
        for q in profile.by_imd_quintile
    ]
    spec = bar_chart(
        rows,
        "quintile",
        "registered",
        category_title="IMD 2019 quintile",
        value_title="Registered people",
        horizontal=False,
    )
    spec["encoding"]["x"]["sort"] = None
    return spec
