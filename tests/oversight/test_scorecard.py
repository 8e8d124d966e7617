"""The triple-aim scorecard and segments, on hand-made standards and finance figures whose scores
are worked out by hand from the rules in data/segmentation.json."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from integrated_care.finance.chart import Figure
from integrated_care.finance.positions import system_position
from integrated_care.oversight.scorecard import scorecard, segment_for

MONTHS = [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)]
TARGETS = {"ae_4hr_all": (0.95, 0.78), "rtt_18wk": (0.92, 0.65)}


def _series(measure: str, level: str, code: str, values: list[float]) -> list[dict]:
    standard, target = TARGETS[measure]
    return [
        {
            "measure": measure,
            "level": level,
            "code": code,
            "month": month,
            "numerator": v * 1000,
            "denominator": 1000.0,
            "value": v,
            "standard": standard,
            "target": target,
        }
        for month, v in zip(MONTHS, values, strict=True)
    ]


def standards() -> list[dict]:
    return [
        # latest 0.81 meets 0.78: 1
        *_series("ae_4hr_all", "provider", "P1", [0.80, 0.82, 0.81]),
        # latest 0.60 misses 0.65; mean 0.6033, mean moving range 0.01, upper limit 0.63: fail, 0
        *_series("rtt_18wk", "provider", "P1", [0.60, 0.61, 0.60]),
        # latest 0.70 misses; mean 0.7667 +/- 2.66 x 0.2: the target is within the limits: 0.5
        *_series("ae_4hr_all", "provider", "P2", [0.70, 0.90, 0.70]),
        # latest 0.755 misses; mean 0.7883 +/- 2.66 x 0.1075: variable, 0.5
        *_series("ae_4hr_all", "system", "QK1", [0.75, 0.86, 0.755]),
    ]


def figures(org: str, income: int, plan_pay: int, actual_pay: int) -> list[Figure]:
    out = []
    for month in range(1, 13):
        out.append(Figure(org, month, "income", "plan", Decimal(income)))
        out.append(Figure(org, month, "pay", "plan", Decimal(plan_pay)))
    for month in range(1, 7):
        out.append(Figure(org, month, "income", "actual", Decimal(income)))
        out.append(Figure(org, month, "pay", "actual", Decimal(actual_pay)))
    return out


@pytest.fixture
def positions():  # type: ignore[no-untyped-def]
    found = system_position(
        "2025/26",
        figures("P1", 100, 90, 90) + figures("P2", 100, 100, 110) + figures("M1", 100, 95, 98),
        {"P1": Decimal(120), "P2": Decimal(0), "M1": Decimal(60)},
        as_at_month=6,
    )
    by = {p.org_code: p for p in found.organisations}
    # The finance domain's own verdicts, which the scorecard scores:
    assert (by["P1"].breaks_even, by["P1"].meets_control_total) == (True, True)
    assert by["P2"].breaks_even is False
    assert (by["M1"].breaks_even, by["M1"].meets_control_total) == (True, False)
    assert (found.system.breaks_even, found.system.meets_control_total) == (True, False)
    return found


def test_scores_and_segments_follow_the_documented_rules(positions) -> None:  # type: ignore[no-untyped-def]
    card = scorecard(standards(), positions, {"P1": "Trust One"})
    rows = {r.code: r for r in card.rows}
    assert [r.code for r in card.rows] == ["QK1", "M1", "P1", "P2"]
    scores = {code: ([d.score for d in r.domains], r.score, r.segment) for code, r in rows.items()}
    assert scores == {
        "QK1": ([0.5, 0.5], 0.5, 2),
        "P1": ([0.5, 1.0], 0.75, 1),  # (1 + 0) / 2 for access; meets its control total
        "P2": ([0.5, 0.0], 0.25, 3),  # forecast deficit
        "M1": ([None, 0.5], 0.5, 2),  # no standards: finance alone
    }
    assert rows["P1"].name == "Trust One" and rows["QK1"].kind == "system"
    assert [i.score for i in rows["P1"].domains[0].items] == [1.0, 0.0]


def test_without_finance_the_access_domain_alone_decides(positions) -> None:  # type: ignore[no-untyped-def]
    card = scorecard(standards(), None, {})
    assert {r.code: (r.score, r.segment) for r in card.rows} == {
        "QK1": (0.5, 2),
        "P1": (0.5, 2),
        "P2": (0.5, 2),
    }
    assert card.financial_year is None


@pytest.mark.parametrize(
    ("score", "segment"),
    [(1.0, 1), (0.75, 1), (0.7499, 2), (0.5, 2), (0.4999, 3), (0.25, 3), (0.2499, 4), (0.0, 4)],
)
def test_segment_cut_offs(score: float, segment: int) -> None:
    assert segment_for(score)[0] == segment


def test_no_score_no_segment() -> None:
    assert segment_for(None) == (None, None)
