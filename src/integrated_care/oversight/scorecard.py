"""The triple-aim scorecard and oversight segments 1-4, by the rules in ``data/segmentation.json``.

Quality and access come from the standards (latest month against the interim target, and the SPC
assurance); financial sustainability from the finance domain's positions (forecast outturn against
the control total); population health, for the system, from the population-health marts. Each
scored domain is 0-1; an organisation's score is the mean of the domains it has figures for, and
its segment the first whose minimum score it reaches.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

from integrated_care.finance.positions import Position, SystemPosition
from integrated_care.oversight.views import OversightView, codes_at, oversight_view, system_code


class Item(BaseModel):
    name: str
    value: str
    score: float | None


class DomainScore(BaseModel):
    domain: str
    title: str
    score: float | None
    items: list[Item]


class Indicator(BaseModel):
    name: str
    value: float | None
    england: float | None = None
    unit: str
    source: str


class ScorecardRow(BaseModel):
    code: str
    name: str
    kind: str  # "system" or "organisation"
    domains: list[DomainScore]
    score: float | None
    segment: int | None
    segment_label: str | None


class Scorecard(BaseModel):
    version: str
    basis: str
    rules: dict[str, str]
    financial_year: str | None
    as_at_month: int | None
    rows: list[ScorecardRow]
    population_health: list[Indicator]


@cache
def rules() -> dict[str, Any]:
    path = resources.files("integrated_care.oversight").joinpath("data/segmentation.json")
    return json.loads(path.read_text())


def access_quality(view: OversightView | None) -> DomainScore:
    """Each standard with a target: met, variable (target within the SPC limits) or missed."""
    rule = rules()["domains"]["access_quality"]
    items = []
    for m in view.measures if view else []:
        if m.target is None or m.latest_value is None:
            continue
        if m.meets_target:
            score, word = rule["met"], "meets target"
        elif m.assurance == "variable":
            score, word = rule["variable"], "misses target; within limits"
        else:
            score, word = rule["missed"], "misses target"
        shown = f"{m.latest_value:.1%}" if m.unit == "percent" else f"{m.latest_value:.2f}"
        items.append(Item(name=m.title, value=f"{shown} ({word})", score=score))
    return DomainScore(
        domain="access_quality", title=rule["title"], score=_mean(items), items=items
    )


def finance(position: Position | None) -> DomainScore:
    rule = rules()["domains"]["finance"]
    if position is None:
        return DomainScore(domain="finance", title=rule["title"], score=None, items=[])
    if position.meets_control_total or (position.control_total is None and position.breaks_even):
        score, word = rule["meets_control_total"], "meets its control total"
    elif position.breaks_even:
        score, word = rule["breaks_even_only"], "breaks even, misses its control total"
    else:
        score, word = rule["deficit"], "forecast deficit"
    item = Item(
        name="Forecast outturn",
        value=f"£{position.forecast_outturn:,.0f} ({word})",
        score=score,
    )
    return DomainScore(domain="finance", title=rule["title"], score=score, items=[item])


def _mean(items: list[Item]) -> float | None:
    scores = [i.score for i in items if i.score is not None]
    return sum(scores) / len(scores) if scores else None


def overall(domains: list[DomainScore]) -> float | None:
    scores = [d.score for d in domains if d.score is not None]
    return sum(scores) / len(scores) if scores else None


def segment_for(score: float | None) -> tuple[int | None, str | None]:
    if score is None:
        return None, None
    for s in rules()["segments"]:
        if score >= s["min_score"]:
            return s["segment"], s["label"]
    return None, None


def _row(code: str, name: str, kind: str, domains: list[DomainScore]) -> ScorecardRow:
    score = overall(domains)
    segment, label = segment_for(score)
    return ScorecardRow(
        code=code,
        name=name,
        kind=kind,
        domains=domains,
        score=score,
        segment=segment,
        segment_label=label,
    )


def scorecard(
    standards: list[dict[str, Any]],
    positions: SystemPosition | None,
    names: dict[str, str],
    population: list[Indicator] | None = None,
) -> Scorecard:
    """The system's row, then one per organisation with standards or a financial position."""
    by_org = {p.org_code: p for p in positions.organisations} if positions else {}
    providers = codes_at(standards, "provider")
    system = system_code(standards)
    rows = []
    if system is not None or positions is not None:
        view = oversight_view(standards, "system", system, names) if system else None
        code = system or "system"
        rows.append(
            _row(
                code,
                names.get(code, code),
                "system",
                [access_quality(view), finance(positions.system if positions else None)],
            )
        )
    for code in sorted(set(providers) | set(by_org)):
        view = oversight_view(standards, "provider", code, names) if code in providers else None
        rows.append(
            _row(
                code,
                names.get(code, code),
                "organisation",
                [access_quality(view), finance(by_org.get(code))],
            )
        )
    r = rules()
    return Scorecard(
        version=r["version"],
        basis=r["basis"],
        rules={k: d["rule"] for k, d in r["domains"].items()} | {"overall": r["overall"]},
        financial_year=positions.financial_year if positions else None,
        as_at_month=positions.as_at_month if positions else None,
        rows=rows,
        population_health=population or [],
    )


def population_health(con: Any) -> list[Indicator]:
    """System indicators from the population-health marts (an open Ibis connection to them)."""
    tables = set(con.list_tables())
    out: list[Indicator] = []
    people = None
    if "segments" in tables:
        seg = con.table("segments")
        sums = (
            seg.aggregate(people=seg.people.sum(), admissions=seg.emergency_admissions_12m.sum())
            .to_pyarrow()
            .to_pylist()[0]
        )
        people = sums["people"]
        out.append(
            Indicator(name="Registered people", value=people, unit="people", source="segments")
        )
        if people:
            out.append(
                Indicator(
                    name="Emergency admissions in the last 12 months per 1,000 registered",
                    value=round(1000 * (sums["admissions"] or 0) / people, 1),
                    unit="per 1,000",
                    source="segments",
                )
            )
    if "risk" in tables and people:
        expected = con.table("risk").expected_admissions.sum().to_pyarrow().as_py()
        out.append(
            Indicator(
                name="Emergency admissions expected in the next 12 months per 1,000 (risk model)",
                value=round(1000 * (expected or 0) / people, 1),
                unit="per 1,000",
                source="risk",
            )
        )
    if "registers" in tables:
        reg = con.table("registers")
        wanted = rules()["population_health_conditions"]
        found = (
            reg.filter(reg.level == "system", reg.condition.isin(wanted))
            .select("condition", "label", "prevalence_pct", "england_pct")
            .to_pyarrow()
            .to_pylist()
        )
        for r in sorted(found, key=lambda r: wanted.index(r["condition"])):
            out.append(
                Indicator(
                    name=f"{r['label']}: recorded prevalence",
                    value=round(r["prevalence_pct"], 2)
                    if r["prevalence_pct"] is not None
                    else None,
                    england=r["england_pct"],
                    unit="%",
                    source="registers (England: QOF 2019/20)",
                )
            )
    return out
