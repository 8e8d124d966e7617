"""Conditional funding: a fund (sustainability or recovery style) released only to the
organisations, or the system, that deliver their control totals.

A rule (``data/conditional_funding.json``, or JSON through the API) says how big the fund is,
how it is split between the organisations it is for, and what each part depends on:

1. **Shares.** The fund is split between the recipients pro rata to turnover (planned income),
   to allocation, equally, or by fixed shares, to the penny (largest remainder, as risk share).
2. **Elements.** Each share has an organisational element, earned only if the organisation
   delivers its own control total (outturn >= control total - tolerance), and a system element
   (``system_element``, a fraction of the share, rounded half up to the penny), earned only if
   the system delivers the system control total (the sum of every organisation's).
3. **Gate.** With ``system_gate``, nothing at all is released unless the system delivers.

What is not earned is lost (it stays with whoever holds the fund). For every organisation,
earned + lost = share, and over the recipients the shares add up to the fund exactly.

Delivery is judged on the forecast outturn at the position's month, which is the year-end
actual once all twelve months are reported (``provisional`` is False only then).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from integrated_care.finance.risk_share import split

BASES = ("turnover", "allocation", "equal", "fixed")
PENNY = Decimal("0.01")
ZERO = Decimal("0.00")


class FundingError(ValueError):
    """The rule cannot be applied as written."""


@dataclass(frozen=True)
class FundingRule:
    name: str
    fund: Decimal  # pounds
    basis: str = "turnover"
    system_element: Decimal = Decimal(0)  # fraction of each share that rides on the system
    system_gate: bool = False  # nothing released unless the system delivers
    tolerance: Decimal = Decimal(0)  # pounds below its control total that still counts
    include_icb: bool = False
    fixed_shares: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if self.basis not in BASES:
            problems.append(f"basis {self.basis!r} should be one of {', '.join(BASES)}")
        if self.fund < 0 or self.fund != self.fund.quantize(PENNY):
            problems.append("the fund is a positive amount in whole pence")
        if not 0 <= self.system_element <= 1:
            problems.append("system_element is a fraction from 0 to 1")
        if self.tolerance < 0:
            problems.append("tolerance cannot be negative")
        if self.basis == "fixed" and (
            not self.fixed_shares
            or sum(self.fixed_shares.values()) != 1
            or any(s < 0 for s in self.fixed_shares.values())
        ):
            problems.append("fixed shares must be positive and add up to exactly 1")
        if problems:
            raise FundingError("; ".join(problems))


@dataclass(frozen=True)
class Delivery:
    """One recipient: its outturn and control total, and its weight for the split."""

    outturn: Decimal
    control_total: Decimal
    turnover: Decimal = ZERO
    allocation: Decimal = ZERO


@dataclass(frozen=True)
class FundingLine:
    org_code: str
    share: Decimal  # its part of the fund
    organisation_element: Decimal  # earned if it delivers its own control total
    system_element: Decimal  # earned if the system delivers
    outturn: Decimal
    control_total: Decimal
    variance_to_control_total: Decimal
    delivers: bool  # outturn >= control total - tolerance
    earned: Decimal
    lost: Decimal


@dataclass(frozen=True)
class FundingResult:
    rule: str
    fund: Decimal
    system_outturn: Decimal
    system_control_total: Decimal
    system_delivers: bool
    gated: bool  # the system gate held everything back
    earned: Decimal
    lost: Decimal
    lines: list[FundingLine]


def _pence(value: Decimal) -> int:
    return int(value.quantize(PENNY) * 100)


def _pounds(pence: int) -> Decimal:
    return (Decimal(pence) / 100).quantize(PENNY)


def _weights(rule: FundingRule, orgs: Mapping[str, Delivery]) -> dict[str, Decimal]:
    if rule.basis == "fixed":
        return {o: Decimal(rule.fixed_shares.get(o, 0)) for o in orgs}
    if rule.basis == "equal":
        return {o: Decimal(1) for o in orgs}
    attr = "turnover" if rule.basis == "turnover" else "allocation"
    return {o: max(getattr(d, attr), ZERO) for o, d in orgs.items()}


def apply(
    rule: FundingRule,
    orgs: Mapping[str, Delivery],
    system_outturn: Decimal,
    system_control_total: Decimal,
) -> FundingResult:
    """The fund earned and lost by each recipient in `orgs`. The system's outturn and control
    total are the whole system's (every organisation with a control total, recipients or not)."""
    weights = _weights(rule, orgs)
    if rule.fund and not any(w > 0 for w in weights.values()):
        raise FundingError(f"no recipient has any {rule.basis} to share the fund by")
    shares = split(_pence(rule.fund), weights)
    system_delivers = system_outturn >= system_control_total
    gated = rule.system_gate and not system_delivers
    lines = []
    for org in sorted(orgs):
        d = orgs[org]
        share = _pounds(shares[org])
        system_part = (share * rule.system_element).quantize(PENNY, ROUND_HALF_UP)
        own_part = share - system_part
        delivers = d.outturn >= d.control_total - rule.tolerance
        earned = (own_part if delivers and not gated else ZERO) + (
            system_part if system_delivers else ZERO
        )
        lines.append(
            FundingLine(
                org_code=org,
                share=share,
                organisation_element=own_part,
                system_element=system_part,
                outturn=d.outturn,
                control_total=d.control_total,
                variance_to_control_total=d.outturn - d.control_total,
                delivers=delivers,
                earned=earned,
                lost=share - earned,
            )
        )
    earned_total = sum((x.earned for x in lines), ZERO)
    return FundingResult(
        rule=rule.name,
        fund=rule.fund.quantize(PENNY),
        system_outturn=system_outturn,
        system_control_total=system_control_total,
        system_delivers=system_delivers,
        gated=gated,
        earned=earned_total,
        lost=rule.fund.quantize(PENNY) - earned_total,
        lines=lines,
    )


def _dec(raw: Mapping[str, Any], key: str, default: str) -> Decimal:
    value = raw.get(key, default)
    if isinstance(value, float):
        raise FundingError(f"{key}: give amounts and fractions as strings, not floats")
    try:
        out = Decimal(str(value))
    except ArithmeticError:
        raise FundingError(f"{key}: {value!r} is not a number") from None
    if not out.is_finite():
        raise FundingError(f"{key}: {value!r} is not a number")
    return out


def rule_from_dict(raw: Mapping[str, Any]) -> FundingRule:
    """A rule from JSON (amounts and fractions as strings or integers)."""
    known = {
        "name",
        "fund",
        "basis",
        "system_element",
        "system_gate",
        "tolerance",
        "include_icb",
        "fixed_shares",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise FundingError(f"unknown field(s): {', '.join(unknown)}")
    shares = raw.get("fixed_shares") or {}
    return FundingRule(
        name=str(raw.get("name") or "Conditional fund"),
        fund=_dec(raw, "fund", "0"),
        basis=str(raw.get("basis", "turnover")),
        system_element=_dec(raw, "system_element", "0"),
        system_gate=bool(raw.get("system_gate", False)),
        tolerance=_dec(raw, "tolerance", "0"),
        include_icb=bool(raw.get("include_icb", False)),
        fixed_shares={k: _dec(shares, k, "0") for k in shares},
    )


@lru_cache(maxsize=1)
def _rules_file() -> dict[str, Any]:
    text = (resources.files(__package__) / "data" / "conditional_funding.json").read_text("utf-8")
    return json.loads(text)


def standard_rules() -> list[FundingRule]:
    """The rules shipped in ``data/conditional_funding.json``."""
    return [rule_from_dict(r) for r in _rules_file()["rules"]]


def rules_version() -> str:
    return str(_rules_file()["version"])
