"""Difference-in-differences against matched controls, tested on populations with a planted
effect (and with none, and with a planted pre-trend), and each step against an independent
calculation: the logistic fit against scikit-learn, matching against a brute-force greedy
search, the DiD and its SE against pair-level means, the warehouse panel against a hand count."""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest

from integrated_care.health.intervention import (
    EvaluationResult,
    did,
    emergency_admission_panel,
    evaluate_intervention,
    fit_logistic,
    match_nearest,
    matching_covariates,
)

START = dt.date(2024, 4, 1)


def make_population(
    seed: int,
    *,
    effect: float = 0.0,
    pre_trend: float = 0.0,
    n: int = 20_000,
    periods: int = 8,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, dt.date]:
    """People whose admission rate depends on age, deprivation, conditions and a hidden frailty;
    older, sicker people are likelier to be treated and (to defeat an unmatched comparison) their
    admissions also rise faster over time. ``effect`` is added to the treated's rate in every
    post-intervention period; ``pre_trend`` makes the treated's rate rise by that much per
    period before the intervention."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 90, n)
    age_z = (age - 55) / 15
    female = rng.random(n) < 0.52
    imd = rng.integers(1, 11, n)
    hyp = rng.random(n) < 1 / (1 + np.exp(1 - 1.2 * age_z))
    dm = rng.random(n) < 1 / (1 + np.exp(2 - 0.5 * age_z - 0.1 * (5.5 - imd)))
    frailty = rng.normal(0, 0.4, n)
    rate = 0.12 + np.exp(-1.9 + 0.3 * age_z + 0.05 * (5.5 - imd) + 0.3 * hyp + 0.4 * dm + frailty)
    prior_use = rng.poisson(4 * rate)  # a baseline year before the panel starts
    score = (
        -1.6 + 0.8 * age_z + 0.7 * dm + 0.4 * hyp + 0.08 * (5.5 - imd) + 2 * (rate - rate.mean())
    )
    treated = rng.random(n) < 1 / (1 + np.exp(-score))
    starts = [START + dt.timedelta(days=91 * k) for k in range(periods)]
    half = periods // 2
    shock = np.exp(rng.normal(0, 0.1, periods))
    ids = np.arange(n) + 1000
    frames = []
    for t in range(periods):
        mean = rate * shock[t] * np.exp(0.16 * age_z * t / periods)
        mean = mean + (effect if t >= half else pre_trend * (t - half + 1)) * treated
        frames.append(
            pd.DataFrame(
                {"patient_id": ids, "period_start": starts[t], "outcome": rng.poisson(mean)}
            )
        )
    covariates = pd.DataFrame(
        {
            "patient_id": ids,
            "age": age,
            "sex": np.where(female, "female", "male"),
            "imd_decile": imd,
            "hyp": hyp,
            "dm": dm,
            "prior_use": prior_use,
        }
    )
    return pd.concat(frames, ignore_index=True), covariates, ids[treated], starts[half]


def _evaluate(seed: int, **planted: float) -> EvaluationResult:
    panel, covariates, treated, when = make_population(seed, **planted)
    return evaluate_intervention(panel, treated, when, covariates=covariates, seed=seed)


def test_recovers_a_planted_effect_that_an_unmatched_comparison_misses() -> None:
    r = _evaluate(1, effect=-0.05)
    assert r.lower <= -0.05 <= r.upper
    assert r.upper < 0
    assert r.p_value < 0.01
    # older people's admissions rise faster and they are likelier to be treated: without
    # matching the comparison is biased towards no effect
    assert not (r.naive_lower <= -0.05 <= r.naive_upper)
    assert r.n_matched > 0.6 * r.n_treated
    before = {b.covariate: b.smd_before for b in r.balance}
    assert before["age"] > 0.5  # treatment was far from random
    assert r.max_smd_after < 0.1
    assert not r.pre_trend.flagged
    assert r.periods_before == r.periods_after == 4


def test_finds_no_effect_where_none_was_planted() -> None:
    r = _evaluate(2)
    assert r.lower <= 0 <= r.upper
    assert not r.pre_trend.flagged
    assert r.pre_trend.placebo_lower <= 0 <= r.pre_trend.placebo_upper


def test_pre_trend_check_flags_a_planted_violation() -> None:
    r = _evaluate(3, pre_trend=0.03)
    assert r.pre_trend.flagged
    assert r.pre_trend.p_value < 0.01
    assert r.pre_trend.df == 3  # periods -4, -3 and -2, each against -1
    by_period = {c.period: c for c in r.pre_trend.coefficients}
    assert by_period[-4].upper < 0  # treated started lower and rose towards the intervention
    assert set(by_period) == {-4, -3, -2, 0, 1, 2, 3}


def test_confidence_intervals_cover_at_about_the_nominal_rate() -> None:
    hits = 0
    for seed in range(20):
        panel, covariates, treated, when = make_population(100 + seed, effect=-0.05, n=3000)
        r = evaluate_intervention(panel, treated, when, covariates=covariates, seed=seed)
        hits += r.lower <= -0.05 <= r.upper
    assert hits >= 16  # 95% intervals: P(fewer than 16 of 20) < 0.3%


def test_logistic_regression_matches_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    x = rng.normal(size=(2000, 3))
    y = rng.random(2000) < 1 / (1 + np.exp(-(0.3 + x @ np.array([1.0, -0.5, 0.2]))))
    ours = fit_logistic(x, y.astype(float))
    ref = LogisticRegression(C=1e12, tol=1e-10, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(ours, np.r_[ref.intercept_, ref.coef_[0]], atol=1e-4)


def _brute_force_greedy(t: np.ndarray, c: np.ndarray, caliper: float, seed: int) -> set:
    free = np.ones(len(c), bool)
    pairs = set()
    for i in np.random.default_rng(seed).permutation(len(t)):
        dist = np.where(free, np.abs(c - t[i]), np.inf)
        j = int(np.argmin(dist))
        if dist[j] <= caliper:
            free[j] = False
            pairs.add((int(i), j))
    return pairs


def test_matching_is_greedy_nearest_without_replacement_within_the_caliper() -> None:
    _, c_idx = match_nearest(np.array([0.1, 0.2, 9.0]), np.array([0.0, 1.0, 2.0, 10.0]), 0.5, 0)
    assert len(set(c_idx)) == len(c_idx) == 1  # both want control 0; 9.0 is out of reach
    assert c_idx[0] == 0
    rng = np.random.default_rng(9)
    for seed in range(5):
        t, c = rng.normal(0.5, 1, 300), rng.normal(0, 1, 900)
        got = set(zip(*(a.tolist() for a in match_nearest(t, c, 0.05, seed)), strict=True))
        assert got == _brute_force_greedy(t, c, 0.05, seed)


def test_did_and_its_se_equal_the_pair_level_calculation() -> None:
    rng = np.random.default_rng(4)
    pairs, periods = 400, 6
    rows = []
    for p in range(pairs):
        base = rng.gamma(2, 0.1)
        for arm in (0, 1):
            for k in range(periods):
                post = int(k >= 3)
                y = rng.poisson(base + 0.02 * k + 0.1 * arm + (-0.04 * arm * post))
                rows.append((p * 2 + arm, p, arm, k - 3, post, y))
    frame = pd.DataFrame(
        rows, columns=["person", "cluster", "treated", "period", "post", "outcome"]
    )
    est, se, lo, hi = did(frame)
    person = frame.groupby(["cluster", "treated", "post"])["outcome"].mean().unstack("post")
    change = (person[1] - person[0]).unstack("treated")
    diffs = (change[1] - change[0]).to_numpy()
    assert est == pytest.approx(diffs.mean(), abs=1e-12)
    assert se == pytest.approx(diffs.std(ddof=1) / np.sqrt(pairs), rel=0.02)
    assert (lo, hi) == pytest.approx((est - 1.959964 * se, est + 1.959964 * se), rel=1e-5)


def test_balance_is_the_standardised_mean_difference() -> None:
    panel, covariates, treated, when = make_population(6, n=3000)
    r = evaluate_intervention(panel, treated, when, covariates=covariates, seed=0)
    is_t = covariates["patient_id"].isin(treated)
    age = covariates["age"]
    pooled = np.sqrt((age[is_t].var() + age[~is_t].var()) / 2)
    by_name = {b.covariate: b for b in r.balance}
    assert by_name["age"].smd_before == pytest.approx(
        (age[is_t].mean() - age[~is_t].mean()) / pooled, rel=1e-9
    )
    assert set(by_name) == {"age", "imd_decile", "hyp", "dm", "prior_use", "sex_male"}


def _warehouse() -> ibis.BaseBackend:
    raw = duckdb.connect()
    raw.execute(
        "create table patients as select * from (values "
        "(1, null::date), (2, date '2024-09-15'), (3, null::date)) t(patient_id, date_of_death)"
    )
    raw.execute(
        "create table apc_spells as select * from (values "
        "(10, 1, date '2024-01-05', '21'), (11, 1, date '2024-01-20', '2A'),"
        "(12, 1, date '2024-01-21', '11'), (13, 1, date '2024-07-01', '22'),"
        "(14, 2, date '2024-04-02', '21'), (15, 3, date '2023-12-31', '21'),"
        "(16, 3, date '2024-12-30', '21'), (17, 3, date '2024-12-31', '21')"
        ") t(spell_id, patient_id, admission_date, admission_method)"
    )
    return ibis.duckdb.from_connection(raw)


def test_panel_from_the_warehouse_counts_emergency_admissions_per_period() -> None:
    con = _warehouse()
    panel = emergency_admission_panel(
        con, [1, 2, 3], dt.date(2024, 7, 1), periods_before=2, periods_after=2, period_days=91
    ).execute()
    got = {(r.patient_id, str(r.period_start)[:10]): r.outcome for r in panel.itertuples()}
    # periods start 2024-01-01, 04-01, 07-01, 09-30 (91 days each, the last ends 2024-12-29)
    assert got == {
        (1, "2024-01-01"): 2,  # two emergencies; the elective (11) does not count
        (1, "2024-04-01"): 0,
        (1, "2024-07-01"): 1,
        (1, "2024-09-30"): 0,
        (2, "2024-01-01"): 0,
        (2, "2024-04-01"): 1,
        (2, "2024-07-01"): 0,  # died 2024-09-15: the period from 09-30 is left out
        (3, "2024-01-01"): 0,  # 2023-12-31 is before the window
        (3, "2024-04-01"): 0,
        (3, "2024-07-01"): 0,
        (3, "2024-09-30"): 0,  # 2024-12-30 is after it
    }
    summary = ibis.memtable(
        {
            "patient_id": [1, 2, 3, 4],
            "age": [70, 80, 60, 50],
            "sex": ["female", "male", "female", "male"],
            "imd_decile": [1, 5, 9, None],
            "hyp": [True, False, True, False],
        }
    )
    cov = matching_covariates(summary, [1, 3]).execute().sort_values("patient_id")
    assert cov.columns.tolist() == ["patient_id", "age", "sex", "imd_decile", "hyp"]
    assert cov["patient_id"].tolist() == [1, 3]
