"""XmR charts and the Making Data Count rules, against examples worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from integrated_care.oversight import views
from integrated_care.oversight.spc import (
    ASSURANCE_LABELS,
    VARIATION_LABELS,
    assurance,
    shifts,
    trends,
    two_of_three,
    xmr,
)
from integrated_care.oversight.standards import measures

ALTERNATING = [10.0, 12.0] * 6  # mean 11, every moving range 2: limits 11 +/- 5.32


def test_mean_and_natural_process_limits() -> None:
    # mean 60 / 5 = 12; moving ranges 2, 1, 2, 1 -> 1.5; limits 12 +/- 2.66 x 1.5 = 3.99
    chart = xmr([10, 12, 11, 13, 14], higher_is_better=True)
    assert chart is not None
    assert chart.mean == 12
    assert chart.mean_moving_range == 1.5
    assert chart.upper_limit == pytest.approx(15.99)
    assert chart.lower_limit == pytest.approx(8.01)
    assert chart.flags == []
    assert chart.variation == "common_cause" and chart.variation_icon == "common_cause"
    assert chart.current.trial  # 5 points: trial limits, not yet locked


def test_limits_are_locked_on_the_first_twelve_points() -> None:
    chart = xmr([*ALTERNATING, 11, 11, 30], higher_is_better=True)
    assert chart is not None
    assert len(chart.periods) == 1 and not chart.current.trial
    assert chart.current.baseline_points == 12
    # the later points do not move the limits: mean 11, limits 5.68 to 16.32
    assert chart.mean == 11 and chart.mean_moving_range == 2
    assert (chart.lower_limit, chart.upper_limit) == pytest.approx((5.68, 16.32))
    assert [(f.index, f.rule, f.kind) for f in chart.flags] == [(14, "outside", "improvement")]
    assert chart.variation_icon == "improvement_high"


def test_a_point_outside_the_limits_and_a_shift_below_the_mean() -> None:
    # nine 10s then 30 (trial limits on all ten): mean 12, mean moving range 20 / 9
    chart = xmr([10] * 9 + [30], higher_is_better=True)
    assert chart is not None
    assert chart.upper_limit == pytest.approx(12 + 2.66 * 20 / 9)
    outside = [(f.index, f.side, f.kind) for f in chart.flags if f.rule == "outside"]
    assert outside == [(9, "high", "improvement")]
    shift = [(f.index, f.kind) for f in chart.flags if f.rule == "shift"]
    assert shift == [(i, "concern") for i in range(9)]  # nine points below the mean
    assert chart.variation == "improvement" and chart.variation_side == "high"


def test_direction_decides_improvement_or_concern() -> None:
    chart = xmr([10] * 9 + [30], higher_is_better=False)
    assert chart is not None
    assert {f.kind for f in chart.flags if f.rule == "outside"} == {"concern"}
    assert {f.kind for f in chart.flags if f.rule == "shift"} == {"improvement"}
    assert chart.variation_icon == "concern_high"
    low = xmr([30] * 9 + [10], higher_is_better=False)
    assert low is not None and low.variation_icon == "improvement_low"


def test_a_sustained_shift_is_reported_but_keeps_the_limits_by_default() -> None:
    chart = xmr([*ALTERNATING, *[20.0, 21.0] * 4], higher_is_better=True)
    assert chart is not None
    assert len(chart.periods) == 1 and chart.mean == 11  # limits stay locked on the baseline
    assert chart.shift_from == 12
    # the run starts at the last baseline point (12 is above the mean of 11)
    assert {f.index for f in chart.flags if f.rule == "shift"} == set(range(11, 20))


def test_a_sustained_shift_after_the_baseline_recalculates_the_limits_when_asked() -> None:
    chart = xmr(
        [*ALTERNATING, *[20.0, 21.0] * 4], higher_is_better=True, recalculate_after_shift=True
    )
    assert chart is not None
    first, second = chart.periods
    assert (first.start, first.end, first.mean) == (0, 12, 11)
    assert (second.start, second.end) == (12, 20)
    assert second.reason == "sustained shift: 7 or more points above the mean"
    # the new period: mean 20.5, moving ranges all 1, limits 17.84 to 23.16, trial (8 points)
    assert second.mean == 20.5 and second.trial
    assert (second.lower_limit, second.upper_limit) == pytest.approx((17.84, 23.16))
    assert chart.flags == []  # 20 and 21 alternate about the new mean
    assert chart.period_of(15) is second and chart.period_of(3) is first


def test_a_shift_is_counted_from_the_first_point_after_the_baseline() -> None:
    # mean of the baseline (5 x 10, 4 x 12, 3 x 13) = 137 / 12 = 11.42: points 9-11 are above
    baseline = [10.0, 12.0] * 4 + [10.0, 13.0, 13.0, 13.0]
    four_more = xmr([*baseline, 13, 13, 13, 13], higher_is_better=True)
    assert four_more is not None and len(four_more.periods) == 1  # only 4 after the baseline
    assert four_more.mean == pytest.approx(137 / 12)
    assert [f.index for f in four_more.flags if f.rule == "shift"] == list(range(9, 16))
    assert four_more.variation_icon == "improvement_high"
    seven_more = xmr([*baseline, *[13.0] * 7], higher_is_better=True, recalculate_after_shift=True)
    assert seven_more is not None
    assert [(p.start, p.end) for p in seven_more.periods] == [(0, 12), (12, 19)]
    # the new period sits on its mean (13, no moving range): no flags; the old one has a run
    # of only three
    assert seven_more.flags == []
    assert seven_more.current.upper_limit == seven_more.current.lower_limit == 13


def test_limits_are_recalculated_at_a_documented_change_point() -> None:
    values = [10.0] * 5 + [20.0] * 5
    without = xmr(values, higher_is_better=True)
    assert without is not None
    # mean 15, mean moving range 10 / 9, limits 15 +/- 2.96: every point is outside
    assert {f.index for f in without.flags if f.rule == "outside"} == set(range(10))
    split = xmr(values, higher_is_better=True, change_points=[(5, "new triage model")])
    assert split is not None
    assert [(p.start, p.mean, p.reason) for p in split.periods] == [
        (0, 10, "start of the series"),
        (5, 20, "new triage model"),
    ]
    assert split.flags == []


def test_limits_are_clipped_at_the_natural_bounds() -> None:
    # mean 0.03, mean moving range 0.04: lower limit 0.03 - 0.1064 < 0 -> 0
    low = xmr([0.01, 0.05, 0.01, 0.05], higher_is_better=False, bounds=(0.0, 1.0))
    assert low is not None
    assert low.lower_limit == 0 and low.upper_limit == pytest.approx(0.1364)
    high = xmr([0.99, 0.95, 0.99, 0.95], higher_is_better=True, bounds=(0.0, 1.0))
    assert high is not None
    assert high.upper_limit == 1 and high.lower_limit == pytest.approx(0.8636)
    days = xmr([1.0, 5.0, 1.0, 5.0], higher_is_better=False, bounds=(0.0, None))
    assert days is not None and days.lower_limit == 0
    assert days.upper_limit == pytest.approx(3 + 2.66 * 4)
    # the clipped limit decides assurance: 52-week share target 1%, limits 0% to 13.6%
    target = xmr([0.01, 0.05, 0.01, 0.05], higher_is_better=False, target=0.01, bounds=(0, 1))
    assert target is not None and target.assurance == "variable"


def test_runs_need_seven_points_and_a_point_on_the_mean_ends_them() -> None:
    assert shifts([1, 1, 1, 1, 1, 1, 0], mean=0.5) == []
    assert shifts([1] * 7, mean=0.5) == [(i, "high") for i in range(7)]
    assert shifts([1, 1, 1, 0.5, 1, 1, 1, 1], mean=0.5) == []
    assert shifts([0] * 8, mean=0.5) == [(i, "low") for i in range(8)]


def test_trends_need_seven_points_and_equal_values_neither_add_nor_end_them() -> None:
    assert trends([1, 2, 3, 4, 5, 6]) == []
    assert trends([1, 2, 3, 4, 5, 6, 7]) == [(i, "high") for i in range(7)]
    assert trends([9, 8, 7, 6, 5, 4, 3, 5]) == [(i, "low") for i in range(7)]
    # six rises among seven points, one repeat: only six different values, no trend
    assert trends([1, 2, 3, 3, 4, 5, 6]) == []
    # seven different rising values with a repeat inside: a trend of all eight points
    assert trends([1, 2, 3, 3, 4, 5, 6, 7]) == [(i, "high") for i in range(8)]
    # NHS Improvement's 2017 example: a falling trend with a pair of equal points
    assert trends([1, 0.5, 0, -0.5, -0.5, -1, -1.5, -2]) == [(i, "low") for i in range(8)]


def test_a_seven_point_trend_in_a_chart() -> None:
    # mean 4, moving ranges all 1: limits 1.34 and 6.66, so 1 and 7 are also outside
    chart = xmr([1, 2, 3, 4, 5, 6, 7], higher_is_better=True)
    assert chart is not None
    assert [f.index for f in chart.flags if f.rule == "trend"] == list(range(7))
    assert [(f.index, f.side) for f in chart.flags if f.rule == "outside"] == [
        (0, "low"),
        (6, "high"),
    ]
    assert not [f for f in chart.flags if f.rule == "shift"]  # 1-3 below, 4 on, 5-7 above


def test_two_of_three_beyond_two_sigma_all_three_on_the_same_side() -> None:
    assert two_of_three([0.5, 2.5, 0.5, 2.1, 0.5], mean=0, sigma=1) == [(1, "high"), (3, "high")]
    assert two_of_three([2.5, 0, 2.1], mean=0, sigma=1) == []  # the middle one is on the mean
    assert two_of_three([2.5, -0.5, 2.1], mean=0, sigma=1) == []  # ... or below it
    assert two_of_three([-2.5, 0, 0, -2.5], mean=0, sigma=1) == []  # never two in three
    assert two_of_three([2.5, -2.5, 2.5], mean=0, sigma=1) == []
    # a point beyond the limit counts too (MDC, November 2023)
    assert two_of_three([3.5, 2.5, 1], mean=0, sigma=1) == [(0, "high"), (1, "high")]
    assert two_of_three([-1, -2.2, -2.9], mean=0, sigma=1) == [(1, "low"), (2, "low")]


@pytest.mark.parametrize(
    ("upper", "lower", "target", "higher", "expected"),
    [
        (90, 80, 78, True, "pass"),  # even the lower limit beats the target
        (90, 80, 95, True, "fail"),  # even the upper limit misses it
        (90, 80, 85, True, "variable"),
        (5, 1, 10, False, "pass"),
        (20, 12, 10, False, "fail"),
        (12, 8, 10, False, "variable"),
        (90, 80, None, True, None),
    ],
)
def test_assurance(upper, lower, target, higher, expected) -> None:  # type: ignore[no-untyped-def]
    assert assurance(upper, lower, target, higher) == expected


def test_a_chart_needs_two_points() -> None:
    assert xmr([0.7], higher_is_better=True) is None
    chart = xmr([0.7, 0.8], higher_is_better=True, target=0.78)
    assert chart is not None and chart.assurance == "variable"


def test_every_icon_has_words() -> None:
    assert set(VARIATION_LABELS) == {
        "common_cause",
        "improvement_high",
        "improvement_low",
        "concern_high",
        "concern_low",
    }
    assert set(ASSURANCE_LABELS) == {"pass", "fail", "variable", None}


def _rows(values: list[float]) -> list[dict]:
    months = [dt.date(2025 + (m // 12), m % 12 + 1, 1) for m in range(len(values))]
    return [
        {"month": m, "numerator": v * 100, "denominator": 100.0, "value": v}
        for m, v in zip(months, values, strict=True)
    ]


def test_a_measure_view_uses_the_documented_change_points(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    four_hours = measures()["ae_4hr_all"]
    rows = _rows([0.70] * 6 + [0.80] * 6)
    monkeypatch.setattr(views, "change_points", lambda: [])
    single = views.measure_view(four_hours, "provider", "RWE", rows)
    assert len(single.periods) == 1 and single.mean == pytest.approx(0.75)
    monkeypatch.setattr(
        views,
        "change_points",
        lambda: [
            {"measure": "ae_4hr_all", "level": "*", "code": "RWE", "month": "2025-07",
             "reason": "new streaming model"},
            {"measure": "rtt_18wk", "level": "*", "code": "*", "month": "2025-03",
             "reason": "another measure"},
        ],
    )  # fmt: skip
    split = views.measure_view(four_hours, "provider", "RWE", rows)
    assert [(p.first_month, p.last_month, p.mean, p.reason) for p in split.periods] == [
        (dt.date(2025, 1, 1), dt.date(2025, 6, 1), pytest.approx(0.7), "start of the series"),
        (dt.date(2025, 7, 1), dt.date(2025, 12, 1), pytest.approx(0.8), "new streaming model"),
    ]
    assert [p.period for p in split.points] == [0] * 6 + [1] * 6
    assert split.points[-1].mean == pytest.approx(0.8)
    # 80% against the 78% target: both limits (no variation: 80% and 80%) above it
    assert split.assurance == "pass" and split.variation_icon == "common_cause"
    other = views.measure_view(four_hours, "provider", "RXX", rows)
    assert len(other.periods) == 1  # the change point names another provider
