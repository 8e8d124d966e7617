"""XmR statistical process control charts, as NHS England's "Making Data Count" (MDC) draws them.

For a monthly series: the mean, the moving ranges (absolute differences of consecutive points),
and the natural process limits mean +/- 2.66 x mean moving range (2.66 = 3 / 1.128, so the limits
are three sigma), clipped to the measure's natural bounds (0-100% for a share, 0 days upwards for
a length of stay).

**Baseline and recalculation.** The mean and limits of a period are calculated from its first
12 points and then fixed ("locked"); a period with fewer points has trial limits, recalculated
as each point arrives. A new period, with its own baseline, starts at a documented change point
(``data/change_points.json``: a known change in the process or in how it is counted). A
sustained shift (a run of 7 or more points on one side of the locked mean, counted from the
first point after the baseline) is reported as ``shift_from`` but does not by itself move the
limits: MDC advises recalculating only when the shift has a known cause, otherwise runs that
happen by chance keep resetting the baseline and hide a deterioration. ``periods_of`` can still
recalculate after every shift (``recalculate_after_shift=True``) for analysts who want it.

**Special cause** (within a period, against its limits):

- ``outside``: a point above the upper or below the lower limit;
- ``shift``: a run of 7 or more consecutive points above, or below, the mean (a point exactly
  on the mean ends a run). MDC's current Excel tool lets the user choose 6 or 7; the NHS-R
  "plot the dots" package and this project use 7 (``RUN_LENGTH``);
- ``trend``: 7 or more consecutive points each higher, or each lower, than the one before; an
  equal value neither adds to nor ends a trend (NHS Improvement, "A guide to creating and
  interpreting run and control charts", 2017);
- ``two_of_three``: two of three consecutive points beyond two sigma (the outer third between
  the mean and a limit, or beyond it) with all three on the same side of the mean; the points
  beyond two sigma are flagged (MDC's rule as changed in November 2023).

Each flag is an improvement or a concern according to the measure's better direction.
Variation (the MDC icon) is that of the latest point; assurance compares the target with the
current period's limits: both limits on the good side of the target -> pass; both on the bad
side -> fail; the target between them -> hit and miss.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

LIMIT_FACTOR = 2.66
RUN_LENGTH = 7
TREND_LENGTH = 7
BASELINE_POINTS = 12
MIN_POINTS = 2
TOLERANCE = 1e-9  # relative: floating-point noise (six months of 0.8 averaging 0.8000000000000002)

Bounds = tuple[float | None, float | None]


@dataclass(frozen=True)
class Flag:
    index: int
    rule: str  # outside, shift, trend, two_of_three
    side: str  # "high" or "low": which way the point departs from common-cause variation
    kind: str  # "improvement" or "concern"


@dataclass(frozen=True)
class Period:
    """Points ``start`` to ``end - 1`` share one mean and one pair of limits."""

    start: int
    end: int
    mean: float
    mean_moving_range: float
    upper_limit: float
    lower_limit: float
    baseline_points: int
    reason: str  # why the period starts here

    @property
    def trial(self) -> bool:
        """Fewer than BASELINE_POINTS points: the limits are not yet locked."""
        return self.baseline_points < BASELINE_POINTS

    @property
    def sigma(self) -> float:
        return LIMIT_FACTOR * self.mean_moving_range / 3


@dataclass
class SpcChart:
    values: list[float]
    periods: list[Period]
    flags: list[Flag] = field(default_factory=list)
    variation: str = "common_cause"  # of the latest point: common_cause, improvement, concern
    variation_side: str | None = None  # "high" or "low" with special cause
    assurance: str | None = None  # pass, fail, variable; None without a target
    shift_from: int | None = None  # first point of a sustained shift in the current period

    @property
    def current(self) -> Period:
        return self.periods[-1]

    @property
    def mean(self) -> float:
        return self.current.mean

    @property
    def mean_moving_range(self) -> float:
        return self.current.mean_moving_range

    @property
    def upper_limit(self) -> float:
        return self.current.upper_limit

    @property
    def lower_limit(self) -> float:
        return self.current.lower_limit

    @property
    def sigma(self) -> float:
        return self.current.sigma

    @property
    def variation_icon(self) -> str:
        """MDC's variation icon: common_cause, improvement_high, concern_low..."""
        if self.variation == "common_cause":
            return "common_cause"
        return f"{self.variation}_{self.variation_side}"

    def period_of(self, index: int) -> Period:
        return next(p for p in self.periods if p.start <= index < p.end)

    def flags_at(self, index: int) -> list[Flag]:
        return [f for f in self.flags if f.index == index]


def compare(value: float, reference: float) -> int:
    """1 above, -1 below, 0 equal to `reference`, ignoring floating-point noise."""
    if math.isclose(value, reference, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
        return 0
    return 1 if value > reference else -1


def moving_ranges(values: Sequence[float]) -> list[float]:
    return [abs(b - a) for a, b in itertools.pairwise(values)]


def _kind(side: str, higher_is_better: bool) -> str:
    return "improvement" if (side == "high") == higher_is_better else "concern"


def _clip(value: float, bounds: Bounds) -> float:
    low, high = bounds
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def period_limits(
    values: Sequence[float], start: int, end: int, reason: str, bounds: Bounds = (None, None)
) -> Period:
    """The mean and limits of points start..end-1, from their first BASELINE_POINTS points."""
    baseline = list(values[start : min(end, start + BASELINE_POINTS)])
    mean = math.fsum(baseline) / len(baseline)
    ranges = moving_ranges(baseline)
    mr_bar = sum(ranges) / len(ranges) if ranges else 0.0
    return Period(
        start=start,
        end=end,
        mean=mean,
        mean_moving_range=mr_bar,
        upper_limit=_clip(mean + LIMIT_FACTOR * mr_bar, bounds),
        lower_limit=_clip(mean - LIMIT_FACTOR * mr_bar, bounds),
        baseline_points=len(baseline),
        reason=reason,
    )


# ---- the rules (indices relative to the values given) ------------------------------------------


def outside_limits(values: Sequence[float], upper: float, lower: float) -> list[tuple[int, str]]:
    return [
        (i, "high" if compare(v, upper) > 0 else "low")
        for i, v in enumerate(values)
        if compare(v, upper) > 0 or compare(v, lower) < 0
    ]


def _runs(signs: Sequence[int], length: int) -> list[tuple[int, int, int]]:
    """(start, end exclusive, sign) of every run of at least `length` equal non-zero signs."""
    out: list[tuple[int, int, int]] = []
    start = 0
    for i in range(1, len(signs) + 1):
        if i == len(signs) or signs[i] != signs[start]:
            if signs[start] != 0 and i - start >= length:
                out.append((start, i, signs[start]))
            start = i
    return out


def _sides(values: Sequence[float], mean: float) -> list[int]:
    return [compare(v, mean) for v in values]


def shifts(values: Sequence[float], mean: float, length: int = RUN_LENGTH) -> list[tuple[int, str]]:
    """Points in a run of `length` or more on one side of the mean."""
    return [
        (i, "high" if sign > 0 else "low")
        for start, end, sign in _runs(_sides(values, mean), length)
        for i in range(start, end)
    ]


def trends(values: Sequence[float], length: int = TREND_LENGTH) -> list[tuple[int, str]]:
    """Points in a run of `length` or more points each higher (or each lower) than the last
    different one: equal values neither add to the run nor end it."""
    members: dict[int, str] = {}
    steps = [compare(b, a) for a, b in itertools.pairwise(values)]
    direction, first, last, count = 0, 0, 0, 0  # the run: points first..last, `count` steps

    def close() -> None:
        if direction and count >= length - 1:
            side = "high" if direction > 0 else "low"
            members.update((i, side) for i in range(first, last + 1))

    for i, step in enumerate(steps):
        if step == 0:
            continue
        if step != direction:
            close()
            direction, first, count = step, i, 0
        count += 1
        last = i + 1
    close()
    return sorted(members.items())


def two_of_three(values: Sequence[float], mean: float, sigma: float) -> list[tuple[int, str]]:
    """Points beyond two sigma that are two (or three) of three consecutive points all on the
    same side of the mean."""
    found: dict[int, str] = {}
    for start in range(len(values) - 2):
        window = range(start, start + 3)
        for side, sign, beyond in (
            ("high", 1, [i for i in window if compare(values[i], mean + 2 * sigma) > 0]),
            ("low", -1, [i for i in window if compare(values[i], mean - 2 * sigma) < 0]),
        ):
            same_side = all(compare(values[i], mean) == sign for i in window)
            if same_side and len(beyond) >= 2:
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


# ---- periods and the chart ---------------------------------------------------------------------


def sustained_shift(values: Sequence[float], period: Period) -> int | None:
    """The first point of a run of RUN_LENGTH or more points on one side of a locked period's
    mean, counted from the first point after its baseline; None if there is none."""
    if period.trial:
        return None
    after = period.start + BASELINE_POINTS
    signs = _sides(values[period.start : period.end], period.mean)
    for start, end, _ in _runs(signs, RUN_LENGTH):
        first = max(period.start + start, after)
        if period.start + end - first >= RUN_LENGTH:
            return first
    return None


def periods_of(
    values: Sequence[float],
    change_points: Sequence[tuple[int, str]] = (),
    bounds: Bounds = (None, None),
    *,
    recalculate_after_shift: bool = False,
) -> list[Period]:
    """Split the series at documented change points (index, reason) and after sustained
    shifts, each period with limits from its own baseline."""
    documented = {i: reason for i, reason in change_points if 0 < i < len(values)}
    out: list[Period] = []
    start, reason = 0, "start of the series"
    while start < len(values):
        end = min([i for i in documented if i > start] + [len(values)])
        period = period_limits(values, start, end, reason, bounds)
        shift = sustained_shift(values, period) if recalculate_after_shift else None
        if shift is not None:
            side = "above" if values[shift] > period.mean else "below"
            period = period_limits(values, start, shift, reason, bounds)
            following = f"sustained shift: {RUN_LENGTH} or more points {side} the mean"
        else:
            following = documented.get(end, "")
        out.append(period)
        start, reason = period.end, following
    return out


def _flags(values: Sequence[float], period: Period) -> list[tuple[str, int, str]]:
    part = values[period.start : period.end]
    rules = (
        ("outside", outside_limits(part, period.upper_limit, period.lower_limit)),
        ("shift", shifts(part, period.mean)),
        ("trend", trends(part)),
        ("two_of_three", two_of_three(part, period.mean, period.sigma)),
    )
    return [(rule, period.start + i, side) for rule, found in rules for i, side in found]


def xmr(
    values: Sequence[float],
    *,
    higher_is_better: bool,
    target: float | None = None,
    bounds: Bounds = (None, None),
    change_points: Sequence[tuple[int, str]] = (),
    recalculate_after_shift: bool = False,
) -> SpcChart | None:
    """The XmR chart of `values` (oldest first); None with fewer than two points.

    `bounds` are the measure's natural limits (e.g. (0, 1) for a share); `change_points` are
    (index of the first point of a new period, reason).
    """
    points = [float(v) for v in values]
    if len(points) < MIN_POINTS:
        return None
    periods = periods_of(
        points, change_points, bounds, recalculate_after_shift=recalculate_after_shift
    )
    chart = SpcChart(points, periods, shift_from=sustained_shift(points, periods[-1]))
    chart.flags = [
        Flag(i, rule, side, _kind(side, higher_is_better))
        for period in periods
        for rule, i, side in _flags(points, period)
    ]
    latest = chart.flags_at(len(points) - 1)
    kinds = {f.kind for f in latest}
    # A latest point flagged both ways (a high point ending a falling trend) is a concern.
    chart.variation = (
        "concern" if "concern" in kinds else "improvement" if kinds else "common_cause"
    )
    chart.variation_side = next((f.side for f in latest if f.kind == chart.variation), None)
    chart.assurance = assurance(chart.upper_limit, chart.lower_limit, target, higher_is_better)
    return chart


# MDC's icons, in words (the icons' letters: H / L for higher / lower, P / F for pass / fail).
VARIATION_LABELS = {
    "common_cause": "Common cause variation: no significant change",
    "improvement_high": "Special cause variation of an improving nature: significantly higher",
    "improvement_low": "Special cause variation of an improving nature: significantly lower",
    "concern_high": "Special cause variation of a concerning nature: significantly higher",
    "concern_low": "Special cause variation of a concerning nature: significantly lower",
}
ASSURANCE_LABELS = {
    "pass": "Consistently passing the target: the whole range of the limits meets it",
    "fail": "Consistently failing the target: the whole range of the limits misses it",
    "variable": "Hit and miss: the target lies within the limits, so it will be met and missed "
    "by chance alone",
    None: "No target",
}
# The short text of each icon, as the summary tables tag it.
ICON_TEXT = {
    "common_cause": "Common cause",
    "improvement_high": "Improvement (H)",
    "improvement_low": "Improvement (L)",
    "concern_high": "Concern (H)",
    "concern_low": "Concern (L)",
    "pass": "Passing (P)",
    "fail": "Failing (F)",
    "variable": "Hit and miss (?)",
    None: "No target",
}
