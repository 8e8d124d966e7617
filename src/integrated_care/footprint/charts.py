"""The footprint's charts, built on the shared Vega-Lite shapes in ``web.charts``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrated_care.footprint.schemas import (
    PCN_BAND,
    DecileCount,
    PcnSummary,
    PlaceSummary,
    SectorCount,
)
from integrated_care.web.charts import bar_chart

Spec = dict[str, Any]


def population_chart(places: Sequence[PlaceSummary]) -> Spec:
    rows = [{"place": p.name, "population": p.population} for p in places]
    return bar_chart(
        rows, "place", "population", category_title="Place", value_title="Residents (ONS mid-2022)"
    )


def organisations_chart(sectors: Sequence[SectorCount]) -> Spec:
    rows = [{"sector": s.label, "organisations": s.organisations} for s in sectors]
    return bar_chart(
        rows, "sector", "organisations", category_title="Sector", value_title="Organisations"
    )


def pcn_size_chart(pcns: Sequence[PcnSummary]) -> Spec:
    """PCN registered lists as bars, with the 30,000 and 50,000 marks drawn across them."""
    low, high = PCN_BAND
    rows = [
        {
            "pcn": p.name,
            "registered_patients": p.registered_patients,
            "band": "Within 30,000-50,000" if p.within_band else "Outside 30,000-50,000",
        }
        for p in pcns
    ]
    spec = bar_chart(
        rows,
        "pcn",
        "registered_patients",
        category_title="PCN",
        value_title="Registered patients (April 2020)",
        colour_field="band",
    )
    bars = {"mark": spec.pop("mark"), "encoding": spec.pop("encoding")}
    bars["encoding"]["color"]["title"] = "Range"
    bars["encoding"]["color"]["scale"] = {
        "domain": ["Within 30,000-50,000", "Outside 30,000-50,000"],
        "range": ["#005eb8", "#d5281b"],
    }
    marks = {
        "data": {"values": [{"mark": low}, {"mark": high}]},
        "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#212b32"},
        "encoding": {"x": {"field": "mark", "type": "quantitative"}},
    }
    spec["layer"] = [bars, marks]
    return spec


def imd_decile_chart(deciles: Sequence[DecileCount]) -> Spec:
    rows = [{"decile": d.decile, "lsoas": d.lsoas} for d in deciles]
    spec = bar_chart(
        rows,
        "decile",
        "lsoas",
        category_title="IMD 2019 decile (1 = most deprived)",
        value_title="LSOAs",
        horizontal=False,
    )
    spec["encoding"]["x"].update({"type": "ordinal", "sort": "ascending"})
    return spec
