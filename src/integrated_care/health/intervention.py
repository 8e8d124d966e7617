"""Evaluating an intervention: difference-in-differences against propensity-matched controls.

1. Propensity score: logistic regression of treatment on the covariates (age, sex, deprivation,
   condition flags, prior use ...). Prior use belongs to a baseline window *before* the panel's
   pre-periods (:func:`matching_covariates`): matching on the pre-period outcomes themselves
   builds regression to the mean into the DiD when people were chosen on their underlying risk
   (Daw & Hatfield 2018).
2. Matching: greedy 1:1 nearest neighbour on the logit of the score, treated people in a seeded
   random order, without replacement, within a caliper of ``caliper_sd`` x the SD of the logit
   (0.2 after Austin 2011). Balance: standardised mean differences before and after matching.
3. DiD: OLS of the outcome on period fixed effects, ``treated`` and ``treated x post`` over the
   matched person-periods; the ``treated x post`` coefficient is the effect per person-period.
   Standard errors are cluster-robust (CR1) by matched pair, which nests the person (Abadie &
   Spiess 2022 show pairs are the right cluster after matching without replacement).
4. Pre-trends: an event study (``treated x period`` for every period but the last before the
   intervention) with a joint Wald test of the pre-period coefficients, and a placebo DiD that
   pretends the intervention happened halfway through the pre-periods.

The panel comes from the warehouse through Ibis (:func:`emergency_admission_panel`), the
statistics are numpy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
from ibis.expr.types import Table
from scipy import stats

# NHS Data Dictionary admission method: 21-28 and 2A-2D are emergency admissions.
EMERGENCY_METHODS = ("21", "22", "23", "24", "25", "28", "2A", "2B", "2C", "2D")


@dataclass(frozen=True)
class CovariateBalance:
    covariate: str
    smd_before: float
    smd_after: float


@dataclass(frozen=True)
class EventStudyCoefficient:
    period: int  # periods relative to the intervention: -1 is the reference, 0 the first after
    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class PreTrendCheck:
    coefficients: tuple[EventStudyCoefficient, ...]
    wald_chi2: float | None  # None with fewer than two pre-periods
    df: int
    p_value: float | None
    placebo_estimate: float | None
    placebo_lower: float | None
    placebo_upper: float | None
    flagged: bool  # pre-period coefficients jointly differ from 0, or the placebo CI excludes 0


@dataclass(frozen=True)
class EvaluationResult:
    estimate: float  # change in outcome per person-period attributable to the intervention
    se: float
    lower: float
    upper: float
    p_value: float
    naive_estimate: float  # the same DiD against every untreated person, unmatched
    naive_lower: float
    naive_upper: float
    n_treated: int
    n_matched: int
    n_unmatched_treated: int
    caliper: float  # on the logit of the propensity score
    periods_before: int
    periods_after: int
    balance: tuple[CovariateBalance, ...]
    pre_trend: PreTrendCheck
    confidence: float
    seed: int

    @property
    def max_smd_after(self) -> float:
        return max(abs(b.smd_after) for b in self.balance)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, max_iter: int = 100) -> np.ndarray:
    """Maximum-likelihood logistic regression (intercept first) by Newton-Raphson."""
    design = np.column_stack([np.ones(len(x)), x])
    beta = np.zeros(design.shape[1])
    ridge = 1e-8 * np.eye(design.shape[1])  # keeps the Hessian invertible under separation
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-np.clip(design @ beta, -30, 30)))
        grad = design.T @ (y - p)
        hess = (design.T * (p * (1 - p))) @ design + ridge
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def _design_matrix(covariates: pd.DataFrame) -> pd.DataFrame:
    """Numeric covariates: categories one-hot, missing values mean-filled with an indicator."""
    frame = pd.get_dummies(covariates, drop_first=True, dummy_na=False).astype(float)
    for column in list(frame.columns):
        if frame[column].isna().any():
            frame[f"{column}_missing"] = frame[column].isna().astype(float)
            frame[column] = frame[column].fillna(frame[column].mean())
    return frame.loc[:, frame.std(ddof=0) > 0]


def propensity_logit(design: pd.DataFrame, treated: np.ndarray) -> np.ndarray:
    x = design.to_numpy(float)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    beta = fit_logistic(z, treated.astype(float))
    return beta[0] + z @ beta[1:]


def match_nearest(
    treated_logit: np.ndarray, control_logit: np.ndarray, caliper: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy 1:1 nearest-neighbour matching without replacement within the caliper.

    Returns (treated index, control index) arrays of the pairs formed."""
    order = np.argsort(control_logit, kind="stable")
    sorted_c = control_logit[order]
    n = len(sorted_c)
    # Union-find over the sorted controls: right[i] is the first free control at or after i
    # (n = none), left[j] the first free at or before control j - 1 (0 = none).
    right = np.arange(n + 1)
    left = np.arange(n + 1)

    def find(parent: np.ndarray, i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    pairs_t, pairs_c = [], []
    for t in np.random.default_rng(seed).permutation(len(treated_logit)):
        pos = int(np.searchsorted(sorted_c, treated_logit[t]))
        r = find(right, pos)
        lft = find(left, pos) - 1
        best, dist = -1, np.inf
        if r < n:
            best, dist = r, abs(sorted_c[r] - treated_logit[t])
        if lft >= 0 and abs(sorted_c[lft] - treated_logit[t]) < dist:
            best, dist = lft, abs(sorted_c[lft] - treated_logit[t])
        if best < 0 or dist > caliper:
            continue
        right[best] = best + 1
        left[best + 1] = best
        pairs_t.append(t)
        pairs_c.append(order[best])
    return np.array(pairs_t, dtype=int), np.array(pairs_c, dtype=int)


def standardised_mean_difference(
    x: np.ndarray, treated: np.ndarray, scale: float | None = None
) -> float:
    """(mean treated - mean control) / pooled SD; ``scale`` fixes the SD (the unmatched one)."""
    a, b = x[treated], x[~treated]
    if scale is None:
        scale = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))
    return float((a.mean() - b.mean()) / scale) if scale > 0 else 0.0


def cluster_ols(
    y: np.ndarray, x: np.ndarray, clusters: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and their CR1 cluster-robust covariance."""
    xtx_inv = np.linalg.pinv(x.T @ x)
    beta = xtx_inv @ (x.T @ y)
    scores = x * (y - x @ beta)[:, None]
    _, idx = np.unique(clusters, return_inverse=True)
    summed = np.zeros((idx.max() + 1, x.shape[1]))
    np.add.at(summed, idx, scores)
    g, (n, k) = len(summed), x.shape
    correction = g / (g - 1) * (n - 1) / (n - k)
    return beta, correction * xtx_inv @ (summed.T @ summed) @ xtx_inv


def _period_dummies(period: np.ndarray, periods: np.ndarray) -> np.ndarray:
    return (period[:, None] == periods[None, :]).astype(float)


def did(frame: pd.DataFrame, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """(estimate, se, lower, upper) of ``treated x post`` in ``frame`` (columns outcome, treated,
    period, post, cluster) with period fixed effects."""
    periods = np.unique(frame["period"])
    treated = frame["treated"].to_numpy(float)
    x = np.column_stack(
        [
            treated * frame["post"].to_numpy(float),
            treated,
            _period_dummies(frame["period"].to_numpy(), periods),
        ]
    )
    beta, vcov = cluster_ols(frame["outcome"].to_numpy(float), x, frame["cluster"].to_numpy())
    se = float(np.sqrt(vcov[0, 0]))
    z = stats.norm.ppf(0.5 + confidence / 2)
    return float(beta[0]), se, float(beta[0] - z * se), float(beta[0] + z * se)


def event_study(
    frame: pd.DataFrame, confidence: float = 0.95
) -> tuple[tuple[EventStudyCoefficient, ...], float | None, int, float | None]:
    """Coefficients of ``treated x period`` relative to period -1, and the joint Wald test
    (chi-square, df, p) that every pre-period coefficient is 0."""
    periods = np.unique(frame["period"])
    others = periods[periods != -1]
    period = frame["period"].to_numpy()
    treated = frame["treated"].to_numpy(float)
    inter = _period_dummies(period, others) * treated[:, None]
    x = np.column_stack([inter, treated, _period_dummies(period, periods)])
    beta, vcov = cluster_ols(frame["outcome"].to_numpy(float), x, frame["cluster"].to_numpy())
    z = stats.norm.ppf(0.5 + confidence / 2)
    se = np.sqrt(np.diag(vcov)[: len(others)])
    coefficients = tuple(
        EventStudyCoefficient(int(p), float(b), float(b - z * s), float(b + z * s))
        for p, b, s in zip(others, beta, se, strict=False)
    )
    pre = np.flatnonzero(others < -1)
    if len(pre) == 0:
        return coefficients, None, 0, None
    b, v = beta[pre], vcov[np.ix_(pre, pre)]
    chi2 = float(b @ np.linalg.solve(v, b))
    return coefficients, chi2, len(pre), float(stats.chi2.sf(chi2, len(pre)))


def _pre_trend(frame: pd.DataFrame, confidence: float, alpha: float) -> PreTrendCheck:
    coefficients, chi2, df, p = event_study(frame, confidence)
    pre = frame[frame["period"] < 0]
    n_pre = pre["period"].nunique()
    placebo = (None, None, None)
    if n_pre >= 2:
        fake = pre.assign(post=(pre["period"] >= -(n_pre // 2)).astype(int))
        est, _, lo, hi = did(fake, confidence)
        placebo = (est, lo, hi)
    flagged = (p is not None and p < alpha) or (
        placebo[1] is not None and not (placebo[1] <= 0 <= placebo[2])
    )
    return PreTrendCheck(coefficients, chi2, df, p, *placebo, flagged=bool(flagged))


def evaluate_intervention(
    panel: pd.DataFrame,
    treated_ids: Sequence[int] | np.ndarray,
    intervention_date: dt.date,
    *,
    covariates: pd.DataFrame,
    caliper_sd: float = 0.2,
    seed: int = 0,
    confidence: float = 0.95,
    pre_trend_alpha: float = 0.05,
) -> EvaluationResult:
    """Matched difference-in-differences.

    ``panel``: one row per person and period, columns ``patient_id``, ``period_start`` (date)
    and ``outcome``; periods starting on or after ``intervention_date`` are post-intervention.
    Everyone in the panel not in ``treated_ids`` is a candidate control. ``covariates``: one row
    per person, ``patient_id`` plus the matching covariates (numbers, booleans or categories).
    """
    panel = panel[["patient_id", "period_start", "outcome"]].copy()
    starts = pd.to_datetime(panel["period_start"])
    cut = pd.Timestamp(intervention_date)
    ordered = np.sort(starts.unique())
    n_before = int((ordered < cut).sum())
    n_after = len(ordered) - n_before
    if n_before < 1 or n_after < 1:
        raise ValueError("the panel needs periods both before and after the intervention")
    panel["period"] = np.searchsorted(ordered, starts.to_numpy()) - n_before
    panel["post"] = (panel["period"] >= 0).astype(int)

    people = covariates.set_index("patient_id")
    people = people[people.index.isin(panel["patient_id"])]
    is_treated = people.index.isin(np.asarray(treated_ids)).astype(bool)
    if is_treated.sum() == 0 or (~is_treated).sum() == 0:
        raise ValueError("need treated people and candidate controls in the panel")
    design = _design_matrix(people)
    logit = propensity_logit(design, is_treated)
    caliper = caliper_sd * float(logit.std(ddof=1))
    t_idx, c_idx = match_nearest(logit[is_treated], logit[~is_treated], caliper, seed)
    treated_people = people.index[is_treated][t_idx]
    control_people = people.index[~is_treated][c_idx]

    balance = []
    matched_x = np.concatenate([t_idx, c_idx + is_treated.sum()])
    flags = np.r_[np.ones(len(t_idx), bool), np.zeros(len(c_idx), bool)]
    x_all = np.vstack([design.to_numpy(float)[is_treated], design.to_numpy(float)[~is_treated]])
    grouped = np.r_[np.ones(is_treated.sum(), bool), np.zeros((~is_treated).sum(), bool)]
    for j, name in enumerate(design.columns):
        column = x_all[:, j]
        scale = float(np.sqrt((column[grouped].var(ddof=1) + column[~grouped].var(ddof=1)) / 2))
        before = standardised_mean_difference(column, grouped, scale)
        after = standardised_mean_difference(column[matched_x], flags, scale)
        balance.append(CovariateBalance(str(name), before, after))

    pair = pd.Series(
        np.r_[np.arange(len(t_idx)), np.arange(len(c_idx))],
        index=np.r_[treated_people, control_people],
    )
    matched = panel[panel["patient_id"].isin(pair.index)].copy()
    matched["cluster"] = matched["patient_id"].map(pair)
    matched["treated"] = matched["patient_id"].isin(treated_people).astype(int)
    estimate, se, lower, upper = did(matched, confidence)

    naive = panel[panel["patient_id"].isin(people.index)].copy()
    naive["cluster"] = naive["patient_id"]
    naive["treated"] = naive["patient_id"].isin(people.index[is_treated]).astype(int)
    naive_est, _, naive_lo, naive_hi = did(naive, confidence)

    return EvaluationResult(
        estimate=estimate,
        se=se,
        lower=lower,
        upper=upper,
        p_value=float(2 * stats.norm.sf(abs(estimate / se))),
        naive_estimate=naive_est,
        naive_lower=naive_lo,
        naive_upper=naive_hi,
        n_treated=int(is_treated.sum()),
        n_matched=len(t_idx),
        n_unmatched_treated=int(is_treated.sum()) - len(t_idx),
        caliper=caliper,
        periods_before=n_before,
        periods_after=n_after,
        balance=tuple(balance),
        pre_trend=_pre_trend(matched, confidence, pre_trend_alpha),
        confidence=confidence,
        seed=seed,
    )


def emergency_admission_panel(
    con: ibis.BaseBackend,
    cohort: Table | Sequence[int],
    intervention_date: dt.date,
    *,
    periods_before: int = 4,
    periods_after: int = 4,
    period_days: int = 91,
) -> Table:
    """Emergency admissions per person per period from the warehouse (``apc_spells`` and
    ``patients``): ``patient_id``, ``period_start``, ``outcome``, zero-filled, for periods of
    ``period_days`` around ``intervention_date``; periods starting after death are left out."""
    ids = cohort if isinstance(cohort, Table) else ibis.memtable({"patient_id": list(cohort)})
    ids = ids.select(patient_id=ids.patient_id.cast("int64")).distinct()
    first = intervention_date - dt.timedelta(days=periods_before * period_days)
    n = periods_before + periods_after
    grid = ibis.memtable(
        {
            "period": list(range(n)),
            "period_start": [first + dt.timedelta(days=k * period_days) for k in range(n)],
        }
    )
    spells = con.table("apc_spells")
    days = spells.admission_date.delta(ibis.literal(first), unit="day")
    counts = (
        spells.filter(
            spells.admission_method.isin(EMERGENCY_METHODS)
            & (spells.admission_date >= ibis.literal(first))
            & (days < n * period_days)
        )
        .mutate(period=(days // period_days).cast("int64"))
        .group_by("patient_id", "period")
        .aggregate(admissions=ibis._.count())
    )
    patients = con.table("patients").select("patient_id", "date_of_death")
    cells = ids.cross_join(grid).join(patients, "patient_id")
    cells = cells.filter(cells.date_of_death.isnull() | (cells.period_start < cells.date_of_death))
    out = cells.left_join(counts, ["patient_id", "period"])
    return out.select(
        "patient_id",
        period_start=out.period_start.cast("date"),
        outcome=out.admissions.fill_null(0).cast("int64"),
    )


def matching_covariates(
    summary: Table,
    cohort: Table | Sequence[int],
    flags: Sequence[str] = ("hyp", "dm", "copd", "chd", "hf", "dem", "ckd", "mh"),
) -> Table:
    """Age, sex, IMD decile and register flags from ``patient_summary`` for the people in the
    cohort (treated and candidate controls); the flags a summary lacks are skipped."""
    ids = cohort if isinstance(cohort, Table) else ibis.memtable({"patient_id": list(cohort)})
    keep = ["patient_id", "age", "sex", "imd_decile"] + [f for f in flags if f in summary.columns]
    return summary.select(*keep).semi_join(ids.select(ids.patient_id.cast("int64")), "patient_id")
