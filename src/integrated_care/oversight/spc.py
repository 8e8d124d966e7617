"""XmR statistical process control charts, as NHS England's "Making Data Count" draws them.

For a monthly series: the mean, the moving ranges (absolute differences of consecutive points),
and the natural process limits mean +/- 2.66 x mean moving range (2.66 = 3 / 1.128, so the limits
are three sigma). Special-cause variation is signalled by

- a point outside the limits ("outside");
- a run of 7 or more consecutive points above, or below, the mean ("shift"; a point exactly on
  the mean ends a run);
- 7 or more consecutive points each higher, or each lower, than the one before ("trend"; an
  equal value ends it);
- two of three consecutive points beyond two sigma (mean +/- 2/3 of the limits' distance) on the
  same side ("two_of_three"; the points beyond are flagged).

Each flag is an improvement or a concern according to the measure's better direction. Assurance
compares the target with the limits: both limits on the good side of the target -> "pass"; both
on the bad side -> "fail"; the target between them -> "variable" (it will be hit and missed by
chance alone).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

LIMIT_FACTOR = 2.66
RUN_LENGTH = 7
TREND_LENGTH = 7
MIN_POINTS = 2


@dataclass(frozen=True)
class Flag:
    index: int
    rule: str  # outside, shift, trend, two_of_three
    side: str  # "high" or "low": which way the point departs from common-cause variation
    kind: str  # "improvement" or "concern"


@dataclass
class SpcChart:
    values: list[float]
    mean: float
    mean_moving_range: float
    upper_limit: float
    lower_limit: float
    flags: list[Flag] = field(default_factory=list)
    variation: str = "common_cause"  # of the latest point: common_cause, improvement, concern
    assurance: str | None = None  # pass, fail, variable; None without a target

    @property
    def sigma(self) -> float:
        return (self.upper_limit - self.mean) / 3

    def flags_at(self, index: int) -> list[Flag]:
        return [f for f in self.flags if f.index == index]


def moving_ranges(values: Sequence[float]) -> list[float]:
    return [abs(b - a) for a, b in itertools.pairwise(values)]


def _kind(side: str, higher_is_better: bool) -> str:
    return "improvement" if (side == "high") == higher_is_better else "concern"


def outside_limits(values: Sequence[float], upper: float, lower: float) -> list[tuple[int, str]]:
    return [
        (i, "high" if v > upper else "low") for i, v in enumerate(values) if v > upper or v < lower
    ]


def _runs(signs: Sequence[int], length: int) -> list[tuple[int, int]]:
    """(index, sign) of every member of a run of at least `length` equal non-zero signs."""
    out: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(signs) + 1):
        if i == len(signs) or signs[i] != signs[start]:
            if signs[start] != 0 and i - start >= length:
                out.extend((j, signs[start]) for j in range(start, i))
            start = i
    return out


def shifts(values: Sequence[float], mean: float, length: int = RUN_LENGTH) -> list[tuple[int, str]]:
    signs = [(v > mean) - (v < mean) for v in values]
    return [(i, "high" if s > 0 else "low") for i, s in _runs(signs, length)]


def trends(values: Sequence[float], length: int = TREND_LENGTH) -> list[tuple[int, str]]:
    """Points in a run of `length` or more each higher (or each lower) than the one before."""
    if len(values) < length:
        return []
    steps = [(b > a) - (b < a) for a, b in itertools.pairwise(values)]
    # A run of k equal steps covers k + 1 points.
    members: dict[int, str] = {}
    for i, s in _runs(steps, length - 1):
        side = "high" if s > 0 else "low"
        members[i] = members[i + 1] = side
    return sorted(members.items())


def two_of_three(values: Sequence[float], mean: float, sigma: float) -> list[tuple[int, str]]:
    found: dict[int, str] = {}
    for start in range(len(values) - 2):
        window = range(start, start + 3)
        for side, beyond in (
            ("high", [i for i in window if values[i] > mean + 2 * sigma]),
            ("low", [i for i in window if values[i] < mean - 2 * sigma]),
        ):
            if len(beyond) >= 2:
                found.update((i, side) for i in beyond)
    return sorted(found.items())


def assurance(
    upper: float, lower: float, target: float | None, higher_is_better: bool
) -> str | None:
    if target is None:
        return None
    good, bad = (lower, upper) if higher_is_better else (upper, lower)
    if (good >= target) if higher_is_better else (good <= target):
        return "pass"
    if (bad < target) if higher_is_better else (bad > target):
        return "fail"
    return "variable"


def xmr(
    values: Sequence[float], *, higher_is_better: bool, target: float | None = None
) -> SpcChart | None:
    """The XmR chart of `values` (oldest first); None with fewer than two points."""
    points = [float(v) for v in values]
    if len(points) < MIN_POINTS:
        return None
    mean = sum(points) / len(points)
    ranges = moving_ranges(points)
    mr_bar = sum(ranges) / len(ranges)
    upper, lower = mean + LIMIT_FACTOR * mr_bar, mean - LIMIT_FACTOR * mr_bar
    chart = SpcChart(points, mean, mr_bar, upper, lower)
    rules = (
        ("outside", outside_limits(points, upper, lower)),
        ("shift", shifts(points, mean)),
        ("trend", trends(points)),
        ("two_of_three", two_of_three(points, mean, chart.sigma)),
    )
    chart.flags = [
        Flag(i, rule, side, _kind(side, higher_is_better))
        for rule, found in rules
        for i, side in found
    ]
    latest = {f.kind for f in chart.flags_at(len(points) - 1)}
    # A latest point flagged both ways (a high point ending a falling trend) is a concern.
    chart.variation = (
        "concern" if "concern" in latest else latest.pop() if latest else "common_cause"
    )
    chart.assurance = assurance(upper, lower, target, higher_is_better)
    return chart


VARIATION_LABELS = {
    "common_cause": "Common cause variation",
    "improvement": "Special cause: improvement",
    "concern": "Special cause: concern",
}
ASSURANCE_LABELS = {
    "pass": "Consistently passing the target",
    "fail": "Consistently failing the target",
    "variable": "Will hit and miss the target at random",
    None: "No target",
}
