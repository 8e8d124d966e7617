"""Risk and gain share: how the organisations of a system share their forecast variances.

An agreement is applied in three steps, in whole pence throughout so that nothing is created or
lost by rounding:

1. **Corridor.** Each organisation keeps its own variance (against its control total, or its
   plan) inside its corridor, e.g. the first £1m either way, or 0.5% of turnover. What lies
   beyond the corridor goes into the system pool (gains and losses net off).
2. **Sharing.** The pool is shared out by fixed shares, or pro rata to turnover or to
   allocation (largest-remainder rounding to the penny).
3. **Caps and floors.** No organisation ends above its cap or below its floor. What a cap or
   floor holds back is shared again among the organisations with room, on the same basis, until
   none is left; if no one has room, the agreement's host (often the ICB, with no limits)
   absorbs it, and without a host the agreement cannot be applied (:class:`ShareError`).

The sum over the system is unchanged by sharing: sum(after) == sum(variance), exactly.

Scenarios (best, base, worst, and any what-if) scale adverse and favourable variances and may
override an organisation's variance outright, before the agreement is applied.

An agreement may name its parties: only they share, and every organisation its rules name
(fixed shares, corridors, limits, allocations, host) must be one of them. Agreements are stored,
versioned, in :mod:`integrated_care.finance.agreements`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from importlib import resources
from typing import Any

METHODS = ("fixed", "turnover", "allocation")
BASES = ("control_total", "plan")
PENNY = Decimal("0.01")
LARGEST = Decimal("1e12")


class ShareError(ValueError):
    """The agreement cannot be applied as written."""


@dataclass(frozen=True)
class Limits:
    floor: Decimal | None = None  # the lowest position after sharing (e.g. -5,000,000)
    cap: Decimal | None = None  # the highest


@dataclass(frozen=True)
class Corridor:
    """Variance an organisation keeps: between `lower` (<= 0) and `upper` (>= 0), or, if
    `share_of_turnover` is set, within that fraction of its turnover either way."""

    lower: Decimal = Decimal(0)
    upper: Decimal = Decimal(0)
    share_of_turnover: Decimal | None = None

    def bounds(self, turnover: Decimal) -> tuple[Decimal, Decimal]:
        if self.share_of_turnover is not None:
            width = (abs(turnover) * self.share_of_turnover).quantize(PENNY, ROUND_FLOOR)
            return -width, width
        return self.lower, self.upper


@dataclass(frozen=True)
class Agreement:
    name: str
    method: str  # fixed | turnover | allocation
    basis: str = "control_total"  # which variance is shared: against control total or plan
    fixed_shares: Mapping[str, Decimal] = field(default_factory=dict)
    corridor: Corridor = field(default_factory=Corridor)
    corridors: Mapping[str, Corridor] = field(default_factory=dict)  # per-organisation
    limits: Mapping[str, Limits] = field(default_factory=dict)
    host: str | None = None
    parties: tuple[str, ...] = ()  # empty: every organisation with a variance
    allocation: Mapping[str, Decimal] = field(default_factory=dict)  # for method "allocation"

    def __post_init__(self) -> None:
        problems = self._amount_problems()
        if problems:  # nothing else can be checked on amounts that are not amounts
            raise ShareError("; ".join(problems))
        problems = self._party_problems()
        if self.method not in METHODS:
            problems.append(f"method {self.method!r} should be one of {', '.join(METHODS)}")
        if self.basis not in BASES:
            problems.append(f"basis {self.basis!r} should be one of {', '.join(BASES)}")
        if self.method == "fixed":
            if not self.fixed_shares or sum(self.fixed_shares.values()) != 1:
                problems.append("fixed shares must add up to exactly 1")
            if any(s < 0 for s in self.fixed_shares.values()):
                problems.append("fixed shares cannot be negative")
        for c in (self.corridor, *self.corridors.values()):
            if c.lower > 0 or c.upper < 0 or (c.share_of_turnover or 0) < 0:
                problems.append("a corridor runs from a loss (<= 0) to a gain (>= 0)")
        for org, lim in self.limits.items():
            if lim.floor is not None and lim.cap is not None and lim.floor > lim.cap:
                problems.append(f"{org}: floor {lim.floor} is above cap {lim.cap}")
        if self.host and self.host in self.limits:
            problems.append(f"the host {self.host} absorbs what others cannot, so has no limits")
        if problems:
            raise ShareError("; ".join(problems))

    def _amount_problems(self) -> list[str]:
        amounts = [
            *(x for c in (self.corridor, *self.corridors.values()) for x in (c.lower, c.upper)),
            *(x for lim in self.limits.values() for x in (lim.floor, lim.cap) if x is not None),
            *self.allocation.values(),
        ]
        shares = [*self.fixed_shares.values(), *(
            c.share_of_turnover for c in (self.corridor, *self.corridors.values())
            if c.share_of_turnover is not None)]  # fmt: skip
        if not all(x.is_finite() and abs(x) < LARGEST for x in amounts):
            return ["amounts must be numbers of pounds below a trillion"]
        if not all(x.is_finite() and 0 <= x <= 1 for x in shares):
            return ["shares must be fractions from 0 to 1"]
        return []

    def _party_problems(self) -> list[str]:
        if not self.parties:
            return []
        problems = []
        if len(set(self.parties)) != len(self.parties):
            problems.append("a party is named twice")
        named = {
            "fixed shares": self.fixed_shares,
            "corridors": self.corridors,
            "limits": self.limits,
            "allocation": self.allocation,
            "host": [self.host] if self.host else [],
        }
        for rule, orgs in named.items():
            strangers = sorted(set(orgs) - set(self.parties))
            if strangers:
                problems.append(f"{rule} name {', '.join(strangers)}, not a party")
        return problems

    def covers(self, org_code: str) -> bool:
        return not self.parties or org_code in self.parties


@dataclass(frozen=True)
class OrgInput:
    variance: Decimal
    turnover: Decimal = Decimal(0)
    allocation: Decimal = Decimal(0)


@dataclass(frozen=True)
class ShareLine:
    org_code: str
    variance: Decimal  # before sharing
    kept: Decimal  # inside the corridor
    to_pool: Decimal  # beyond the corridor
    from_pool: Decimal  # its share of the pool, after caps and floors
    after: Decimal  # position after sharing
    floor: Decimal | None
    cap: Decimal | None
    limited: bool  # a cap or floor held it

    @property
    def transfer(self) -> Decimal:
        """What sharing moved to (+) or from (-) this organisation."""
        return self.after - self.variance


@dataclass(frozen=True)
class ShareResult:
    agreement: str
    pool: Decimal
    lines: list[ShareLine]
    host_absorbed: Decimal
    scenario: str | None = None

    @property
    def total_before(self) -> Decimal:
        return sum((x.variance for x in self.lines), Decimal("0.00"))

    @property
    def total_after(self) -> Decimal:
        return sum((x.after for x in self.lines), Decimal("0.00"))


def _pence(value: Decimal) -> int:
    if value != value.quantize(PENNY):
        raise ShareError(f"{value} has fractions of a penny")
    return int(value * 100)


def _pounds(pence: int) -> Decimal:
    return (Decimal(pence) / 100).quantize(PENNY)


def split(pence: int, weights: Mapping[str, Decimal]) -> dict[str, int]:
    """`pence` shared in proportion to `weights`, to the penny, adding up exactly.

    Largest remainder: each gets the floor of its exact share, and the pennies left go to the
    largest remainders (ties by organisation code), so the split is deterministic.
    """
    positive = {k: w for k, w in weights.items() if w > 0}
    total = sum(positive.values(), Decimal(0))
    if not positive or pence == 0:
        return {k: 0 for k in weights}
    sign = 1 if pence > 0 else -1
    amount = abs(pence)
    exact = {k: Decimal(amount) * w / total for k, w in positive.items()}
    base = {k: int(v.to_integral_value(ROUND_FLOOR)) for k, v in exact.items()}
    left = amount - sum(base.values())
    for k in sorted(positive, key=lambda k: (-(exact[k] - base[k]), k))[:left]:
        base[k] += 1
    return {k: sign * base.get(k, 0) for k in weights}


def _weights(agreement: Agreement, orgs: Mapping[str, OrgInput]) -> dict[str, Decimal]:
    if agreement.method == "fixed":
        weights = {o: Decimal(agreement.fixed_shares.get(o, 0)) for o in orgs}
        if not any(weights.values()):
            raise ShareError("no organisation sharing has a fixed share")
        return weights
    attr = agreement.method  # turnover | allocation
    weights = {o: abs(getattr(i, attr)) for o, i in orgs.items()}
    if not any(weights.values()):
        raise ShareError(f"sharing pro rata to {attr} needs at least one organisation's {attr}")
    return weights


def apply(
    agreement: Agreement, orgs: Mapping[str, OrgInput], scenario: str | None = None
) -> ShareResult:
    """Each party's position after sharing its variance under `agreement` (organisations
    that are not parties are left out). Allocations the agreement holds replace the inputs'."""
    orgs = {
        o: OrgInput(i.variance, i.turnover, agreement.allocation.get(o, i.allocation))
        for o, i in orgs.items()
        if agreement.covers(o)
    }
    if not orgs:
        raise ShareError("none of the agreement's parties has a forecast variance to share")
    weights = _weights(agreement, orgs)
    kept, pooled = {}, {}
    for o, i in orgs.items():
        lo, hi = agreement.corridors.get(o, agreement.corridor).bounds(i.turnover)
        k = min(max(i.variance, lo), hi)
        kept[o], pooled[o] = _pence(k), _pence(i.variance) - _pence(k)
    pool = sum(pooled.values())
    lim = {o: agreement.limits.get(o, Limits()) for o in orgs}
    floor = {o: None if lim[o].floor is None else _pence(lim[o].floor) for o in orgs}
    cap = {o: None if lim[o].cap is None else _pence(lim[o].cap) for o in orgs}
    host = agreement.host if agreement.host in orgs else None
    after = {o: kept[o] + s for o, s in split(pool, weights).items()}
    limited: set[str] = set()
    residual = 0
    for o in orgs:
        held = _clamp(after[o], floor[o], cap[o]) if o != host else after[o]
        if held != after[o]:
            residual += after[o] - held
            after[o] = held
            limited.add(o)
    while residual:
        room = {
            o: w
            for o, w in weights.items()
            if o != host
            and w > 0
            and ((cap[o] is None or after[o] < cap[o]) if residual > 0 else
                 (floor[o] is None or after[o] > floor[o]))
        }  # fmt: skip
        if not room:
            break
        placed = 0
        for o, s in split(residual, room).items():
            held = _clamp(after[o] + s, floor[o], cap[o])
            if held != after[o] + s:
                limited.add(o)
            placed += held - after[o]
            after[o] = held
        residual -= placed
    absorbed = 0
    if residual:
        if host is None:
            raise ShareError(
                f"the caps and floors cannot all hold: {_pounds(residual)} cannot be placed "
                "(name a host to absorb it)"
            )
        after[host] += residual
        absorbed = residual
    lines = [
        ShareLine(
            o,
            orgs[o].variance,
            _pounds(kept[o]),
            _pounds(pooled[o]),
            _pounds(after[o] - kept[o]),
            _pounds(after[o]),
            lim[o].floor,
            lim[o].cap,
            o in limited,
        )
        for o in sorted(orgs)
    ]
    return ShareResult(agreement.name, _pounds(pool), lines, _pounds(absorbed), scenario)


def _clamp(value: int, lo: int | None, hi: int | None) -> int:
    if lo is not None and value < lo:
        return lo
    if hi is not None and value > hi:
        return hi
    return value


# Scenarios ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Best, base, worst or a what-if: scale adverse and favourable variances, then override."""

    name: str
    adverse: Decimal = Decimal(1)  # multiplies variances below zero
    favourable: Decimal = Decimal(1)  # multiplies variances above zero
    overrides: Mapping[str, Decimal] = field(default_factory=dict)  # org -> variance
    description: str = ""

    def variance(self, org: str, variance: Decimal) -> Decimal:
        if org in self.overrides:
            return Decimal(self.overrides[org]).quantize(PENNY)
        factor = self.adverse if variance < 0 else self.favourable
        return (variance * factor).quantize(PENNY)


def run_scenarios(
    agreement: Agreement, orgs: Mapping[str, OrgInput], scenarios: Sequence[Scenario]
) -> list[ShareResult]:
    """The agreement applied to each scenario's variances."""
    out = []
    for sc in scenarios:
        moved = {
            o: OrgInput(sc.variance(o, i.variance), i.turnover, i.allocation)
            for o, i in orgs.items()
        }
        out.append(apply(agreement, moved, sc.name))
    return out


def standard_scenarios() -> list[Scenario]:
    """Best, base and worst, from ``data/scenarios.json``."""
    raw = json.loads((resources.files(__package__) / "data" / "scenarios.json").read_text())
    return [scenario_from_dict(s) for s in raw["scenarios"]]


# Reading agreements and scenarios from plain data (JSON) -----------------------------------


def _dec(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ShareError("amounts and shares are written as strings or integers, not floats")
    return Decimal(str(value))


def _opt(value: Any) -> Decimal | None:
    return None if value is None else _dec(value)


def _corridor(raw: Mapping[str, Any]) -> Corridor:
    return Corridor(
        _dec(raw.get("lower", 0)), _dec(raw.get("upper", 0)), _opt(raw.get("share_of_turnover"))
    )


def agreement_from_dict(raw: Mapping[str, Any]) -> Agreement:
    """An agreement from JSON-shaped data, as in docs/finance.md."""
    try:
        parties = raw.get("parties") or ()
        if isinstance(parties, str) or not all(isinstance(p, str) for p in parties):
            raise ShareError("parties should be a list of organisation codes")
        return Agreement(
            name=str(raw["name"]),
            method=str(raw["method"]),
            basis=str(raw.get("basis", "control_total")),
            fixed_shares={o: _dec(s) for o, s in raw.get("fixed_shares", {}).items()},
            corridor=_corridor(raw.get("corridor", {})),
            corridors={o: _corridor(c) for o, c in raw.get("corridors", {}).items()},
            limits={
                o: Limits(_opt(x.get("floor")), _opt(x.get("cap")))
                for o, x in raw.get("limits", {}).items()
            },
            host=raw.get("host") or None,
            parties=tuple(parties),
            allocation={o: _dec(a) for o, a in raw.get("allocation", {}).items()},
        )
    except (KeyError, ArithmeticError, AttributeError, TypeError) as e:
        raise ShareError(f"not a risk share agreement: {e!r}") from None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def agreement_to_dict(a: Agreement) -> dict[str, Any]:
    """The agreement as JSON-shaped data (amounts and shares as strings), which
    :func:`agreement_from_dict` reads back to an equal agreement."""

    def corridor(c: Corridor) -> dict[str, Any]:
        if c.share_of_turnover is not None:
            return {"share_of_turnover": str(c.share_of_turnover)}
        return {"lower": str(c.lower), "upper": str(c.upper)}

    return {
        "name": a.name,
        "method": a.method,
        "basis": a.basis,
        "parties": list(a.parties),
        "fixed_shares": {o: str(s) for o, s in sorted(a.fixed_shares.items())},
        "corridor": corridor(a.corridor),
        "corridors": {o: corridor(c) for o, c in sorted(a.corridors.items())},
        "limits": {
            o: {"floor": _text(x.floor), "cap": _text(x.cap)} for o, x in sorted(a.limits.items())
        },
        "allocation": {o: str(v) for o, v in sorted(a.allocation.items())},
        "host": a.host,
    }


def scenario_from_dict(raw: Mapping[str, Any]) -> Scenario:
    """A scenario from JSON-shaped data: name, adverse, favourable, overrides, description."""
    try:
        scenario = Scenario(
            name=str(raw["name"]),
            adverse=_dec(raw.get("adverse", 1)),
            favourable=_dec(raw.get("favourable", 1)),
            overrides={o: _dec(v) for o, v in raw.get("overrides", {}).items()},
            description=str(raw.get("description", "")),
        )
    except (KeyError, ArithmeticError, AttributeError, TypeError) as e:
        raise ShareError(f"not a scenario: {e!r}") from None
    factors = (scenario.adverse, scenario.favourable)
    if not all(f.is_finite() and 0 <= f <= 100 for f in factors):
        raise ShareError(f"scenario {scenario.name!r}: multipliers are numbers from 0 to 100")
    if not all(v.is_finite() and abs(v) < LARGEST for v in scenario.overrides.values()):
        raise ShareError(f"scenario {scenario.name!r}: variances are pounds below a trillion")
    return scenario
