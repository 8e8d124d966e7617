"""Allocations: an ICB budget split across places, PCNs or practices by weighted capitation,
beside a crude per-head split, so leaders see who gains and who loses.

Each registered person (a row of the ``patient_summary`` mart) counts for a need weight:

    weight = age-sex cost index x deprivation uplift x morbidity uplift

- the **age-sex cost index** is the mean ``cost_12m`` of the person's age band and sex over the
  mean ``cost_12m`` of everyone, worked out from the marts themselves (an age band and sex with
  fewer than ``min_cell_size`` people uses its age band's mean for both sexes, failing that the
  overall mean, so a handful of people cannot set a weight);
- the **deprivation uplift** is by IMD decile (1 = most deprived; unknown: 1.0);
- the **morbidity uplift** is by Cambridge Multimorbidity Score band.

The parameters are the versioned data file ``data/capitation.json``. A unit's weighted
population is the sum of its people's weights; its weighted allocation is the budget times its
share of the weighted population, its crude allocation the budget times its share of the
registered population. Both are split to the penny by largest remainder, so each adds up to the
budget exactly. Weights are exact decimals, never floats.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from integrated_care.finance.risk_share import split

LEVELS = {"place": "place_code", "pcn": "pcn_code", "practice": "practice_code"}
PENNY = Decimal("0.01")
ONE = Decimal(1)


@dataclass(frozen=True)
class CapitationParameters:
    version: str
    age_bands: tuple[int, ...]  # lower bounds, ascending, the first 0
    min_cell_size: int
    deprivation_uplift: Mapping[int, Decimal]  # IMD decile -> uplift
    morbidity_bands: tuple[tuple[Decimal, Decimal], ...]  # (lowest CMS, uplift), ascending

    def morbidity_uplift(self, band: int) -> Decimal:
        return self.morbidity_bands[band][1]

    def deprivation(self, decile: int | None) -> Decimal:
        return self.deprivation_uplift.get(decile, ONE) if decile is not None else ONE


def parameters_from_dict(raw: Mapping[str, Any]) -> CapitationParameters:
    bands = tuple(int(b) for b in raw["age_bands"])
    if not bands or bands[0] != 0 or list(bands) != sorted(set(bands)):
        raise ValueError("age_bands are ascending lower bounds starting at 0")
    morbidity = tuple(
        (Decimal(str(b["from"])), Decimal(str(b["uplift"]))) for b in raw["morbidity_bands"]
    )
    if (
        not morbidity
        or morbidity[0][0] != 0
        or [m[0] for m in morbidity] != sorted({m[0] for m in morbidity})
    ):
        raise ValueError("morbidity_bands are ascending lower bounds starting at 0")
    return CapitationParameters(
        version=str(raw["version"]),
        age_bands=bands,
        min_cell_size=int(raw.get("min_cell_size", 1)),
        deprivation_uplift={int(k): Decimal(str(v)) for k, v in raw["deprivation_uplift"].items()},
        morbidity_bands=morbidity,
    )


@lru_cache(maxsize=1)
def parameters() -> CapitationParameters:
    """The parameters shipped in ``data/capitation.json``."""
    text = (resources.files(__package__) / "data" / "capitation.json").read_text("utf-8")
    return parameters_from_dict(json.loads(text))


# ---- pure calculation --------------------------------------------------------------------------


@dataclass(frozen=True)
class CostCell:
    """People of one age band (lower bound; None if age unknown) and sex, and their cost."""

    age_band: int | None
    sex: str | None
    people: int
    cost: Decimal


@dataclass(frozen=True)
class NeedCell:
    """People of one unit sharing every attribute the weight depends on."""

    unit: str
    age_band: int | None
    sex: str | None
    imd_decile: int | None
    morbidity_band: int  # index into the parameters' morbidity bands
    people: int


def age_sex_index(
    costs: Iterable[CostCell], min_cell_size: int
) -> dict[tuple[int | None, str | None], Decimal]:
    """Each age band and sex's mean cost over everyone's mean cost."""
    cells = list(costs)
    people = sum(c.people for c in cells)
    total = sum((c.cost for c in cells), Decimal(0))
    if people == 0 or total <= 0:
        return {(c.age_band, c.sex): ONE for c in cells}
    overall = total / people
    band_people: dict[int | None, int] = defaultdict(int)
    band_cost: dict[int | None, Decimal] = defaultdict(Decimal)
    for c in cells:
        band_people[c.age_band] += c.people
        band_cost[c.age_band] += c.cost
    out = {}
    for c in cells:
        if c.people >= min_cell_size:
            mean = c.cost / c.people
        elif band_people[c.age_band] >= min_cell_size:
            mean = band_cost[c.age_band] / band_people[c.age_band]
        else:
            mean = overall
        out[(c.age_band, c.sex)] = mean / overall
    return out


def weighted_population(
    cells: Iterable[NeedCell],
    index: Mapping[tuple[int | None, str | None], Decimal],
    params: CapitationParameters,
) -> tuple[dict[str, int], dict[str, Decimal]]:
    """Each unit's registered population and its need-weighted population."""
    people: dict[str, int] = defaultdict(int)
    weighted: dict[str, Decimal] = defaultdict(Decimal)
    for c in cells:
        weight = (
            index.get((c.age_band, c.sex), ONE)
            * params.deprivation(c.imd_decile)
            * params.morbidity_uplift(c.morbidity_band)
        )
        people[c.unit] += c.people
        weighted[c.unit] += weight * c.people
    return dict(people), dict(weighted)


@dataclass(frozen=True)
class AllocationLine:
    code: str
    name: str
    population: int
    weighted_population: Decimal  # to 2 places, for display
    need_index: Decimal  # weighted share / population share (1.000 = average need)
    crude: Decimal  # budget x population share
    weighted: Decimal  # budget x weighted population share
    difference: Decimal  # weighted - crude: gains (+) and losses (-)
    crude_per_head: Decimal
    weighted_per_head: Decimal


def allocate(
    budget: Decimal,
    people: Mapping[str, int],
    weighted: Mapping[str, Decimal],
    names: Mapping[str, str] | None = None,
) -> list[AllocationLine]:
    """The budget split crude (per head) and by weighted capitation, each to the penny."""
    if budget != budget.quantize(PENNY) or budget < 0:
        raise ValueError("the budget is a positive amount in whole pence")
    pence = int(budget * 100)
    crude = split(pence, {u: Decimal(n) for u, n in people.items()})
    need = split(pence, dict(weighted))
    total_people = sum(people.values())
    total_weighted = sum(weighted.values(), Decimal(0))
    names = names or {}
    lines = []
    for unit in sorted(people):
        n = people[unit]
        c, w = Decimal(crude[unit]) / 100, Decimal(need[unit]) / 100
        index = (
            (weighted[unit] / total_weighted) / (Decimal(n) / total_people)
            if n and total_weighted
            else ONE
        )
        lines.append(
            AllocationLine(
                code=unit,
                name=names.get(unit, unit),
                population=n,
                weighted_population=weighted[unit].quantize(PENNY),
                need_index=index.quantize(Decimal("0.001")),
                crude=c.quantize(PENNY),
                weighted=w.quantize(PENNY),
                difference=(w - c).quantize(PENNY),
                crude_per_head=(c / n).quantize(PENNY) if n else Decimal("0.00"),
                weighted_per_head=(w / n).quantize(PENNY) if n else Decimal("0.00"),
            )
        )
    return lines


# ---- reading the marts -------------------------------------------------------------------------


def _band(value: Any, bounds: Sequence[Any], labels: Sequence[int]) -> Any:
    """An Ibis expression: the label of the highest lower bound `value` reaches."""
    import ibis

    pairs = list(zip(bounds, labels, strict=True))
    return ibis.cases(*((value >= b, label) for b, label in reversed(pairs)), else_=labels[0])


def read_cells(
    con: Any, level: str, params: CapitationParameters
) -> tuple[list[CostCell], list[NeedCell], int, Any]:
    """From an Ibis connection holding ``patient_summary``: the cost by age band and sex, the
    people of each unit by what their weight depends on, how many have no unit, and as_of."""
    column = LEVELS[level]
    t = con.table("patient_summary")
    bands = params.age_bands
    cms_bounds = [float(lower) for lower, _ in params.morbidity_bands]
    t = t.mutate(
        age_band=t.age.isnull().ifelse(None, _band(t.age, bands, bands)).cast("int64"),
        morbidity_band=_band(t.cms_score.fill_null(0), cms_bounds, range(len(cms_bounds))),
        cost=t.cost_12m.fill_null(0),
    )
    costs = (
        t.group_by(["age_band", "sex"])
        .aggregate(people=t.count(), cost=t.cost.sum())
        .execute()
        .to_dict("records")
    )
    known = t.filter(t[column].notnull())
    need = (
        known.group_by([column, "age_band", "sex", "imd_decile", "morbidity_band"])
        .aggregate(people=known.count())
        .execute()
        .to_dict("records")
    )
    missing = int(t.filter(t[column].isnull()).count().execute())
    as_of = t.as_of.max().execute() if "as_of" in t.columns else None
    return (
        [
            CostCell(_int(r["age_band"]), _str(r["sex"]), int(r["people"]), _money(r["cost"]))
            for r in costs
        ],
        [
            NeedCell(
                str(r[column]),
                _int(r["age_band"]),
                _str(r["sex"]),
                _int(r["imd_decile"]),
                int(r["morbidity_band"]),
                int(r["people"]),
            )
            for r in need
        ],
        missing,
        as_of,
    )


def _int(value: Any) -> int | None:
    return None if value is None or value != value else int(value)  # NaN != NaN


def _str(value: Any) -> str | None:
    return None if value is None or value != value else str(value)


def _money(value: Any) -> Decimal:
    # The mart's costs are doubles; totals are taken to the penny before any arithmetic.
    return Decimal(repr(float(value or 0))).quantize(PENNY)
