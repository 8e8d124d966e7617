"""What the oversight pages show, from the stored ``oversight_standards`` rows: for each measure at
one organisation, place or the system, its latest month against the standard and target, and its
monthly series as an XmR chart (periods, limits, special-cause flags, variation and assurance)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from integrated_care.oversight.spc import (
    ASSURANCE_LABELS,
    VARIATION_LABELS,
    Bounds,
    SpcChart,
    xmr,
)
from integrated_care.oversight.standards import Measure, catalogue, change_points, measures


class Point(BaseModel):
    month: dt.date
    numerator: float
    denominator: float
    value: float
    flags: list[str]  # "rule: improvement|concern"
    period: int  # which SPC period (0 first) the point belongs to
    mean: float | None
    upper_limit: float | None
    lower_limit: float | None


class PeriodView(BaseModel):
    """Months sharing one mean and pair of limits, and why the period starts where it does."""

    first_month: dt.date
    last_month: dt.date
    mean: float
    upper_limit: float
    lower_limit: float
    baseline_points: int
    trial_limits: bool
    reason: str


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
    variation_icon: str | None
    variation_label: str
    assurance: str | None
    assurance_label: str
    periods: list[PeriodView]
    shift_from: dt.date | None = None  # a sustained shift: document a change point to recalculate
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


def natural_bounds(unit: str) -> Bounds:
    """A share lies in 0-100%; a length of stay is never negative."""
    return (0.0, 1.0) if unit == "percent" else (0.0, None)


def _change_points(
    measure: str, level: str, code: str, months: list[dt.date]
) -> list[tuple[int, str]]:
    """The documented change points of one series, as (index of the month, reason)."""
    index = {m.isoformat()[:7]: i for i, m in enumerate(months)}
    return [
        (index[c["month"]], c["reason"])
        for c in change_points()
        if c["month"] in index
        and c["measure"] in ("*", measure)
        and c["level"] in ("*", level)
        and c["code"] in ("*", code)
    ]


def _periods(chart: SpcChart | None, months: list[dt.date]) -> list[PeriodView]:
    return [
        PeriodView(
            first_month=months[p.start],
            last_month=months[p.end - 1],
            mean=p.mean,
            upper_limit=p.upper_limit,
            lower_limit=p.lower_limit,
            baseline_points=p.baseline_points,
            trial_limits=p.trial,
            reason=p.reason,
        )
        for p in (chart.periods if chart else [])
    ]


def _point(row: dict[str, Any], i: int, chart: SpcChart | None) -> Point:
    period = chart.period_of(i) if chart else None
    return Point(
        month=row["month"],
        numerator=row["numerator"],
        denominator=row["denominator"],
        value=row["value"],
        flags=[f"{f.rule}: {f.kind}" for f in chart.flags_at(i)] if chart else [],
        period=chart.periods.index(period) if chart and period else 0,
        mean=period.mean if period else None,
        upper_limit=period.upper_limit if period else None,
        lower_limit=period.lower_limit if period else None,
    )


def measure_view(
    measure: Measure, level: str, code: str, rows: list[dict[str, Any]]
) -> MeasureView:
    """One measure's series (rows of that measure, level and code, in month order)."""
    rows = [r for r in rows if r["denominator"] and r["value"] is not None]
    months = [r["month"] for r in rows]
    target = measure.target.value if measure.target else None
    chart: SpcChart | None = xmr(
        [r["value"] for r in rows],
        higher_is_better=measure.higher_is_better,
        target=target,
        bounds=natural_bounds(measure.unit),
        change_points=_change_points(measure.id, level, code, months),
    )
    latest = rows[-1] if rows else None
    points = [_point(r, i, chart) for i, r in enumerate(rows)]
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
        variation_icon=chart.variation_icon if chart else None,
        variation_label=VARIATION_LABELS[chart.variation_icon] if chart else "Too few points",
        assurance=chart.assurance if chart else None,
        assurance_label=ASSURANCE_LABELS[chart.assurance if chart else None],
        periods=_periods(chart, months),
        shift_from=months[chart.shift_from] if chart and chart.shift_from is not None else None,
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
