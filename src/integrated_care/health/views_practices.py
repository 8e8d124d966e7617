"""Practice and PCN comparison: funnel plots against the ICS mean, from the marts."""

from __future__ import annotations

from functools import lru_cache

import ibis
import numpy as np
import pandas as pd
from ibis import _

from integrated_care.health import funnel
from integrated_care.health.page_schemas import (
    Funnel,
    FunnelCurvePoint,
    FunnelPoint,
    PracticeComparison,
    RegisterOption,
)
from integrated_care.health.views import AreaNames, marts_version
from integrated_care.settings import Settings

PROPORTION_METHOD = (
    "Exact binomial limits around the ICS prevalence, interpolated between whole counts "
    "(Spiegelhalter 2005)"
)
RATE_METHOD = (
    "Exact Poisson limits around the ICS rate, interpolated between whole counts "
    "(Spiegelhalter 2005)"
)


def practice_comparison(
    settings: Settings, register: str | None, names: AreaNames
) -> PracticeComparison | None:
    """Funnel plots for one register (default: hypertension) and for emergency admissions, by
    practice and by PCN; None when the register is not one of the marts' QOF groups."""
    found = _cached_comparison(*marts_version(settings), (register or "HYP").upper())
    if found is None:
        return None
    found = found.model_copy(deep=True)
    for f in (
        found.prevalence_by_practice,
        found.prevalence_by_pcn,
        found.admissions_by_practice,
        found.admissions_by_pcn,
    ):
        name = names.practice if f.level == "practice" else names.pcn
        for point in f.points:
            point.area_name = name(point.area_code)
    return found


@lru_cache(maxsize=32)
def _cached_comparison(path: str, modified: float, register: str) -> PracticeComparison | None:
    con = ibis.duckdb.connect(path, read_only=True)
    try:
        regs = con.table("registers")
        chosen = regs.filter(regs.qof_group == register).execute()
        system = chosen[chosen["level"] == "system"]
        if system.empty:
            return None
        options = regs.filter(regs.level == "system").order_by("label").execute()
        total = system.iloc[0]
        p0 = float(total["numerator"]) / float(total["denominator"])
        label = str(total["label"])

        def prevalence(level: str) -> Funnel:
            rows = chosen[(chosen["level"] == level) & (chosen["denominator"] > 0)]
            return proportion_funnel(
                level,
                f"{label} prevalence",
                rows["area_code"],
                rows["numerator"],
                rows["denominator"],
                p0,
            )

        summary = con.table("patient_summary")
        admissions = {}
        people = int(summary.count().execute())
        events = int(summary.emergency_admissions_12m.sum().execute() or 0)
        for level, column in (("practice", "practice_code"), ("pcn", "pcn_code")):
            rows = (
                summary.filter(summary[column].notnull())
                .group_by(area=summary[column])
                .aggregate(people=_.count(), events=_.emergency_admissions_12m.sum())
                .order_by("area")
                .execute()
            )
            admissions[level] = rate_funnel(
                level,
                "Emergency admissions in 12 months",
                rows["area"],
                rows["events"],
                rows["people"],
                events / people if people else 0.0,
            )
        as_of = pd.Timestamp(summary.as_of.max().execute()).date()
    finally:
        con.disconnect()
    return PracticeComparison(
        as_of=as_of,
        selected=RegisterOption(qof_group=register, label=label),
        registers=[
            RegisterOption(qof_group=r.qof_group, label=r.label) for r in options.itertuples()
        ],
        prevalence_by_practice=prevalence("practice"),
        prevalence_by_pcn=prevalence("pcn"),
        admissions_by_practice=admissions["practice"],
        admissions_by_pcn=admissions["pcn"],
    )


def _funnel(
    level, measure, unit, scale, method, codes, numerators, denominators, target, limits_of
) -> Funnel:  # type: ignore[no-untyped-def]
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    at_points = limits_of(target, den) if len(den) else None
    points = []
    for i, code in enumerate(codes):
        assert at_points is not None
        limits = [
            float(getattr(at_points, k)[i]) * scale
            for k in ("lower_95", "upper_95", "lower_998", "upper_998")
        ]
        value = num[i] / den[i] * scale
        flag = funnel.classify(value, *limits)
        points.append(
            FunnelPoint(
                area_code=str(code),
                area_name=str(code),
                numerator=int(num[i]),
                denominator=int(den[i]),
                value=value,
                lower_95=limits[0],
                upper_95=limits[1],
                lower_998=limits[2],
                upper_998=limits[3],
                flag=flag,  # type: ignore[arg-type]
                flag_label=funnel.FLAG_LABELS[flag],
            )
        )
    curve = []
    if len(den):
        grid = limits_of(target, funnel.curve_sizes(den.min(), den.max()))
        curve = [
            FunnelCurvePoint(
                denominator=float(n),
                lower_95=float(grid.lower_95[j]) * scale,
                upper_95=float(grid.upper_95[j]) * scale,
                lower_998=float(grid.lower_998[j]) * scale,
                upper_998=float(grid.upper_998[j]) * scale,
            )
            for j, n in enumerate(grid.n)
        ]
    return Funnel(
        level=level,
        measure=measure,
        unit=unit,
        target=target * scale,
        method=method,
        points=points,
        curve=curve,
    )


def proportion_funnel(level, measure, codes, numerators, denominators, p0) -> Funnel:  # type: ignore[no-untyped-def]
    """Prevalence (%) per area with exact binomial limits around `p0` (a proportion)."""
    return _funnel(
        level,
        measure,
        "%",
        100.0,
        PROPORTION_METHOD,
        codes,
        numerators,
        denominators,
        p0,
        funnel.proportion_limits,
    )


def rate_funnel(level, measure, codes, events, people, r0) -> Funnel:  # type: ignore[no-untyped-def]
    """Events per 1,000 people per area with exact Poisson limits around `r0` per person."""
    return _funnel(
        level,
        measure,
        "per 1,000",
        1000.0,
        RATE_METHOD,
        codes,
        events,
        people,
        r0,
        funnel.rate_limits,
    )
