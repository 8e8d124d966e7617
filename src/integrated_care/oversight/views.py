"""What the oversight pages show, from the stored ``oversight_standards`` rows: for each measure at
one organisation (or the system), its latest month against the standard and target, and its
monthly series as an XmR chart with the special-cause flags, variation and assurance."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from integrated_care.oversight.spc import ASSURANCE_LABELS, VARIATION_LABELS, SpcChart, xmr
from integrated_care.oversight.standards import Measure, catalogue, measures


class Point(BaseModel):
    month: dt.date
    numerator: float
    denominator: float
    value: float
    flags: list[str]  # "rule: improvement|concern"


class MeasureView(BaseModel):
    measure: str
    title: str
    unit: str
    direction: str
    definition: str
    level: str
    code: str
    latest_month: dt.date | None
    latest_value: float | None
    standard: float | None
    standard_source: str | None
    target: float | None
    target_source: str | None
    target_verified: bool | None
    meets_standard: bool | None
    meets_target: bool | None
    mean: float | None
    upper_limit: float | None
    lower_limit: float | None
    variation: str | None
    variation_label: str
    assurance: str | None
    assurance_label: str
    points: list[Point]


class Comparison(BaseModel):
    measure: str
    month: dt.date | None
    providers: list[dict[str, Any]]  # code, name, value, denominator


class OversightView(BaseModel):
    level: str
    code: str
    name: str
    standards_version: str
    measures: list[MeasureView]
    comparisons: list[Comparison] = []
    not_measured: list[dict[str, str]] = []


def _meets(value: float | None, bar: float | None, higher: bool) -> bool | None:
    if value is None or bar is None:
        return None
    return value >= bar if higher else value <= bar


def measure_view(
    measure: Measure, level: str, code: str, rows: list[dict[str, Any]]
) -> MeasureView:
    """One measure's series (rows of that measure, level and code, in month order)."""
    rows = [r for r in rows if r["denominator"] and r["value"] is not None]
    target = measure.target.value if measure.target else None
    chart: SpcChart | None = xmr(
        [r["value"] for r in rows], higher_is_better=measure.higher_is_better, target=target
    )
    latest = rows[-1] if rows else None
    points = [
        Point(
            month=r["month"],
            numerator=r["numerator"],
            denominator=r["denominator"],
            value=r["value"],
            flags=[f"{f.rule}: {f.kind}" for f in chart.flags_at(i)] if chart else [],
        )
        for i, r in enumerate(rows)
    ]
    value = latest["value"] if latest else None
    return MeasureView(
        measure=measure.id,
        title=measure.title,
        unit=measure.unit,
        direction=measure.direction,
        definition=measure.definition,
        level=level,
        code=code,
        latest_month=latest["month"] if latest else None,
        latest_value=value,
        standard=measure.standard.value if measure.standard else None,
        standard_source=(
            f"{measure.standard.source} ({measure.standard.year})" if measure.standard else None
        ),
        target=target,
        target_source=f"{measure.target.source} ({measure.target.year})"
        if measure.target
        else None,
        target_verified=measure.target.verified if measure.target else None,
        meets_standard=_meets(
            value, measure.standard.value if measure.standard else None, measure.higher_is_better
        ),
        meets_target=_meets(value, target, measure.higher_is_better),
        mean=chart.mean if chart else None,
        upper_limit=chart.upper_limit if chart else None,
        lower_limit=chart.lower_limit if chart else None,
        variation=chart.variation if chart else None,
        variation_label=VARIATION_LABELS[chart.variation] if chart else "Too few points",
        assurance=chart.assurance if chart else None,
        assurance_label=ASSURANCE_LABELS[chart.assurance if chart else None],
        points=points,
    )


def _by_series(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict]]:
    out: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in rows:
        out[(r["measure"], r["level"], r["code"])].append(r)
    for series in out.values():
        series.sort(key=lambda r: r["month"])
    return out


def codes_at(rows: Iterable[dict[str, Any]], level: str) -> list[str]:
    return sorted({r["code"] for r in rows if r["level"] == level})


def comparison(
    series: dict[tuple[str, str, str], list[dict]], measure: str, names: dict[str, str]
) -> Comparison:
    """Each provider's figure for the measure in the system's latest month."""
    system = [s for (m, level, _), s in series.items() if m == measure and level == "system"]
    month = system[0][-1]["month"] if system and system[0] else None
    providers = []
    for (m, level, code), rows in sorted(series.items()):
        if m != measure or level != "provider":
            continue
        row = next((r for r in rows if r["month"] == month), None)
        if row is not None and row["denominator"]:
            providers.append(
                {
                    "code": code,
                    "name": names.get(code, code),
                    "value": row["value"],
                    "denominator": row["denominator"],
                }
            )
    return Comparison(measure=measure, month=month, providers=providers)


def oversight_view(
    rows: list[dict[str, Any]],
    level: str,
    code: str,
    names: dict[str, str],
    *,
    compare: bool = False,
) -> OversightView | None:
    """Every measure for one organisation (level "provider"), place or the system; None when
    the code has no rows at that level."""
    series = _by_series(rows)
    if not any(k[1] == level and k[2] == code for k in series):
        return None
    views = [
        measure_view(m, level, code, series[(m.id, level, code)])
        for m in measures().values()
        if (m.id, level, code) in series
    ]
    return OversightView(
        level=level,
        code=code,
        name=names.get(code, code),
        standards_version=catalogue()["version"],
        measures=views,
        comparisons=[comparison(series, m.measure, names) for m in views] if compare else [],
        not_measured=catalogue()["not_measured"],
    )


def system_code(rows: Iterable[dict[str, Any]]) -> str | None:
    codes = codes_at(rows, "system")
    return codes[0] if codes else None
