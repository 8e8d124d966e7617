"""XmR charts and the Making Data Count rules, against examples worked out by hand."""

from __future__ import annotations

import pytest

from integrated_care.oversight.spc import assurance, shifts, trends, two_of_three, xmr


def test_mean_and_natural_process_limits() -> None:
    # mean 60 / 5 = 12; moving ranges 2, 1, 2, 1 -> 1.5; limits 12 +/- 2.66 x 1.5 = 3.99
    chart = xmr([10, 12, 11, 13, 14], higher_is_better=True)
    assert chart is not None
    assert chart.mean == 12
    assert chart.mean_moving_range == 1.5
    assert chart.upper_limit == pytest.approx(15.99)
    assert chart.lower_limit == pytest.approx(8.01)
    assert chart.flags == []
    assert chart.variation == "common_cause"


def test_a_point_outside_the_limits_and_a_shift_below_the_mean() -> None:
    # nine 10s then 30: mean 12, mean moving range 20 / 9, upper limit 12 + 5.91 = 17.91
    chart = xmr([10] * 9 + [30], higher_is_better=True)
    assert chart is not None
    assert chart.upper_limit == pytest.approx(12 + 2.66 * 20 / 9)
    outside = [(f.index, f.side, f.kind) for f in chart.flags if f.rule == "outside"]
    assert outside == [(9, "high", "improvement")]
    shift = [(f.index, f.kind) for f in chart.flags if f.rule == "shift"]
    assert shift == [(i, "concern") for i in range(9)]  # nine points below the mean
    assert chart.variation == "improvement"


def test_direction_decides_improvement_or_concern() -> None:
    chart = xmr([10] * 9 + [30], higher_is_better=False)
    assert chart is not None
    assert {f.kind for f in chart.flags if f.rule == "outside"} == {"concern"}
    assert {f.kind for f in chart.flags if f.rule == "shift"} == {"improvement"}
    assert chart.variation == "concern"


def test_runs_need_seven_points_and_a_point_on_the_mean_ends_them() -> None:
    assert shifts([1, 1, 1, 1, 1, 1, 0], mean=0.5) == []
    assert shifts([1] * 7, mean=0.5) == [(i, "high") for i in range(7)]
    assert shifts([1, 1, 1, 0.5, 1, 1, 1, 1], mean=0.5) == []
    assert shifts([0] * 8, mean=0.5) == [(i, "low") for i in range(8)]


def test_trends_need_seven_points_each_beyond_the_one_before() -> None:
    assert trends([1, 2, 3, 4, 5, 6]) == []
    assert trends([1, 2, 3, 4, 5, 6, 7]) == [(i, "high") for i in range(7)]
    assert trends([9, 8, 7, 6, 5, 4, 3, 5]) == [(i, "low") for i in range(7)]
    assert trends([1, 2, 3, 3, 4, 5, 6, 7]) == []  # a repeated value ends the trend


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


def test_two_of_three_beyond_two_sigma_on_the_same_side() -> None:
    assert two_of_three([0, 2.5, 0, 2.1, 0], mean=0, sigma=1) == [(1, "high"), (3, "high")]
    assert two_of_three([-2.5, 0, 0, -2.5], mean=0, sigma=1) == []  # never two in three
    assert two_of_three([2.5, -2.5, 2.5], mean=0, sigma=1) == [(0, "high"), (2, "high")]
    assert two_of_three([2.5, 1.9, -3], mean=0, sigma=1) == []


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
