"""The evaluation metrics, each checked against an independent calculation: by hand on tiny
examples, by brute force over every pair, against scikit-learn / scipy, and on simulated data
whose calibration is known."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

from integrated_care.health import model_evaluation as me


def _expit(x):
    return 1 / (1 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def _simulated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities and outcomes drawn from them: perfectly calibrated by construction."""
    r = np.random.default_rng(seed)
    p = _expit(r.normal(-2.0, 1.2, n))
    return (r.random(n) < p).astype(np.int8), p


def _brute_auroc(y, p):
    pos, neg = p[y == 1], p[y == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0) + 0.5 * (diff == 0)).mean()


# --- AUROC ---------------------------------------------------------------------------------


def test_auroc_by_hand_with_ties() -> None:
    # Events score 0.35, 0.8, 0.4; non-events 0.1, 0.4, 0.4. Of the 9 pairs the events win
    # 1 (0.35 > 0.1) + 3 (0.8) + 1 (0.4 > 0.1) and tie 2 (0.4 = 0.4): U = 5 + 2 x 0.5 = 6.
    y = np.array([1, 1, 1, 0, 0, 0])
    p = np.array([0.35, 0.8, 0.4, 0.1, 0.4, 0.4])
    assert me.auroc(y, p) == pytest.approx(6 / 9)
    u = stats.mannwhitneyu(p[y == 1], p[y == 0]).statistic
    assert me.auroc(y, p) == pytest.approx(u / 9)


def test_auroc_matches_pairs_and_sklearn() -> None:
    r = np.random.default_rng(1)
    y = (r.random(400) < 0.3).astype(int)
    p = np.round(r.random(400) * 0.5 + 0.3 * y, 2)  # rounded: plenty of ties
    assert me.auroc(y, p) == pytest.approx(_brute_auroc(y, p), abs=1e-12)
    assert me.auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert me.auroc(y, 1 - p) == pytest.approx(1 - me.auroc(y, p), abs=1e-12)
    assert me.auroc(y, y.astype(float)) == 1.0


def test_auroc_needs_both_classes() -> None:
    with pytest.raises(ValueError):
        me.auroc(np.ones(5), np.linspace(0, 1, 5))


def _brute_delong(y, scores):
    """DeLong's structural components straight from the definition, O(m x n)."""
    v10, v01 = [], []
    for s in scores:
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    m, n = int(y.sum()), int((1 - y).sum())
    return np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n


def test_delong_covariance_matches_the_definition() -> None:
    r = np.random.default_rng(2)
    y = (r.random(300) < 0.25).astype(int)
    a = np.round(r.normal(size=300) + y, 1)
    b = np.round(a + r.normal(size=300), 1)
    aucs, cov = me.delong(y, a, b)
    assert aucs == pytest.approx([_brute_auroc(y, a), _brute_auroc(y, b)])
    assert cov == pytest.approx(_brute_delong(y, [a, b]), rel=1e-9)


def test_delong_ci_agrees_with_the_bootstrap() -> None:
    y, p = _simulated(3000, 3)
    auc, lo, hi = me.auroc_ci(y, p)
    r = np.random.default_rng(4)
    boots = []
    for _ in range(400):
        i = r.integers(0, len(y), len(y))
        boots.append(roc_auc_score(y[i], p[i]))
    se_boot = np.std(boots)
    assert (hi - lo) / (2 * me.Z95) == pytest.approx(se_boot, rel=0.15)
    assert lo < auc < hi


def test_auroc_difference_is_paired() -> None:
    y, p = _simulated(5000, 5)
    r = np.random.default_rng(6)
    noisy = _expit(_logit(p) + r.normal(0, 1.0, len(p)))
    d, lo, hi = me.auroc_difference(y, p, noisy)
    assert d == pytest.approx(me.auroc(y, p) - me.auroc(y, noisy))
    assert 0 < lo < d < hi  # the truth beats a noisy copy of itself, significantly
    same = me.auroc_difference(y, p, p)
    assert same == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)
    # Paired: narrower than treating the two AUROCs as independent.
    _, l1, h1 = me.auroc_ci(y, p)
    _, l2, h2 = me.auroc_ci(y, noisy)
    assert (hi - lo) < math.hypot(h1 - l1, h2 - l2)


# --- AUPRC and Brier -----------------------------------------------------------------------


def test_average_precision_by_hand_and_against_sklearn() -> None:
    # Thresholds 0.9, 0.8, 0.7, 0.1: (recall, precision) = (.5, 1), (.5, .5), (1, 2/3), (1, .5).
    # AP = 0.5 x 1 + 0 x 0.5 + 0.5 x 2/3 + 0 x 0.5 = 5/6.
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.1])
    assert me.average_precision(y, p) == pytest.approx(5 / 6)
    r = np.random.default_rng(7)
    y = (r.random(2000) < 0.1).astype(int)
    p = np.round(r.random(2000) * 0.4 + 0.3 * y, 2)
    assert me.average_precision(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_brier_by_hand() -> None:
    y = np.array([1, 0, 1])
    p = np.array([0.8, 0.3, 0.5])
    assert me.brier(y, p) == pytest.approx((0.2**2 + 0.3**2 + 0.5**2) / 3)
    assert me.brier(y, y.astype(float)) == 0.0


# --- calibration ---------------------------------------------------------------------------


def test_calibration_of_perfectly_calibrated_predictions() -> None:
    y, p = _simulated(200_000, 8)
    cal = me.calibration(y, p)
    assert cal.slope == pytest.approx(1.0, abs=0.03)
    assert cal.slope_lower < 1.0 < cal.slope_upper
    assert cal.intercept == pytest.approx(0.0, abs=0.02)
    assert cal.intercept_lower < 0.0 < cal.intercept_upper


def test_calibration_matches_an_unpenalised_logistic_regression() -> None:
    y, p = _simulated(20_000, 9)
    cal = me.calibration(y, p)
    lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
    lr.fit(_logit(p)[:, None], y)
    assert cal.slope == pytest.approx(lr.coef_[0, 0], abs=1e-4)
    assert cal.recalibration_intercept == pytest.approx(lr.intercept_[0], abs=1e-4)


def test_overconfident_underconfident_and_shifted_predictions() -> None:
    y, p = _simulated(100_000, 10)
    too_extreme = me.calibration(y, _expit(2 * _logit(p)))
    assert too_extreme.slope == pytest.approx(0.5, abs=0.03)
    too_timid = me.calibration(y, _expit(0.5 * _logit(p)))
    assert too_timid.slope == pytest.approx(2.0, abs=0.1)
    too_high = me.calibration(y, _expit(_logit(p) + 0.5))
    assert too_high.slope == pytest.approx(1.0, abs=0.03)
    assert too_high.intercept == pytest.approx(-0.5, abs=0.05)


def test_an_overfitted_model_has_a_slope_below_one() -> None:
    r = np.random.default_rng(11)

    def draw(n):
        X = r.normal(size=(n, 60))
        return X, (r.random(n) < _expit(-1 + X[:, 0])).astype(int)

    X, y = draw(400)  # 60 features, 1 informative, few events: a recipe for overfitting
    model = LogisticRegression(C=np.inf, max_iter=5000).fit(X, y)
    Xt, yt = draw(20_000)
    cal = me.calibration(yt, model.predict_proba(Xt)[:, 1])
    assert cal.slope < 0.75
    assert cal.slope_upper < 1.0


# --- intervals and groups ------------------------------------------------------------------


def test_wilson_and_byar_intervals() -> None:
    lo, hi = me.wilson(10, 100)
    assert (lo, hi) == pytest.approx((0.05522, 0.17437), abs=1e-4)  # textbook values
    for o in (5, 10, 50, 400):
        exact = (stats.chi2.ppf(0.025, 2 * o) / 2, stats.chi2.ppf(0.975, 2 * o + 2) / 2)
        assert me.byar(o, 1.0) == pytest.approx(exact, rel=0.02)
    assert me.byar(0, 2.0)[0] == 0.0


def test_group_calibration_counts_by_hand() -> None:
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    p = np.array([0.5, 0.5, 0.2, 0.2, 0.9, 0.3, 0.3, 0.1])
    groups = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    rows = {(r.metric, r.group): r for r in me.group_calibration(y, p, groups, "test")}
    assert rows[("observed_rate", "a")].value == 0.25
    assert rows[("expected_rate", "a")].value == pytest.approx(1.4 / 4)
    assert rows[("observed_to_expected", "a")].value == pytest.approx(1 / 1.4)
    assert rows[("observed_to_expected", "b")].value == pytest.approx(2 / 1.6)
    assert rows[("observed_rate", "b")].events == 2 and rows[("observed_rate", "b")].n == 4
    assert rows[("auroc", "b")].value == pytest.approx(_brute_auroc(y[4:], p[4:]))


def test_group_labels() -> None:
    ages = np.array([0, 17, 18, 44, 45, 64, 65, 74, 75, 84, 85, 103])
    assert me.age_band_labels(ages).tolist() == [
        "0-17", "0-17", "18-44", "18-44", "45-64", "45-64",
        "65-74", "65-74", "75-84", "75-84", "85+", "85+",
    ]  # fmt: skip
    assert me.imd_quintile_labels(np.array([1, 2, 3, 10, 0])).tolist() == [
        "1", "1", "2", "5", "unknown",
    ]  # fmt: skip


# --- the mart ------------------------------------------------------------------------------


def test_evaluate_builds_the_mart(tmp_path) -> None:
    y, truth = _simulated(20_000, 12)
    r = np.random.default_rng(13)
    model = _expit(_logit(truth) + r.normal(0, 0.6, len(truth)))
    truth_with_gap = truth.copy()
    truth_with_gap[:100] = np.nan  # people the truth file does not hold
    sex = np.where(r.random(len(y)) < 0.5, "female", "male")
    ev = me.evaluate(
        y, model, model_version="v", cutoff=dt.date(2025, 3, 31),
        groups={"sex": sex}, truth=truth_with_gap, baseline=np.full(len(y), 0.1),
    )  # fmt: skip
    assert ev.value("auroc") == pytest.approx(roc_auc_score(y, model))
    known = ~np.isnan(truth_with_gap)
    assert ev.value("truth_auroc") == pytest.approx(roc_auc_score(y[known], truth[known]))
    assert ev.row("truth_auroc").n == known.sum()
    assert ev.value("auroc_gap") == pytest.approx(
        roc_auc_score(y[known], truth[known]) - roc_auc_score(y[known], model[known])
    )
    assert ev.value("auroc_gap") > 0
    assert ev.value("baseline_auroc") == 0.5
    assert ev.value("observed_to_expected", "sex", "female") > 0
    table = ev.to_arrow()
    assert table.num_rows == len(ev.rows)
    assert table.schema.field("cutoff").type == pa.date32()
    assert set(table["metric"].to_pylist()) >= {"auroc", "auprc", "brier", "calibration_slope"}
    data = json.loads(ev.to_json())
    assert data["model_version"] == "v" and len(data["rows"]) == len(ev.rows)
    brier = next(r for r in data["rows"] if r["metric"] == "brier")
    assert brier["lower"] is None and brier["value"] == pytest.approx(me.brier(y, model))


def test_truth_probabilities_lookup(tmp_path) -> None:
    path = tmp_path / "truth.parquet"
    pq.write_table(
        pa.table({"patient_id": [30, 10, 20], "probability_emergency_admission": [0.3, 0.1, 0.2]}),
        path,
    )
    got = me.truth_probabilities(path, np.array([20, 99, 10, 5]))
    assert got[0] == 0.2 and got[2] == 0.1
    assert np.isnan(got[1]) and np.isnan(got[3])
