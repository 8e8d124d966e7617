"""How good is a risk score? Discrimination, calibration and fairness on held-out people.

The metric functions are pure numpy on (label y in {0, 1}, predicted probability p):

- ``auroc``: the Mann-Whitney U statistic over mid-ranks, U / (n1 x n0); ``delong`` gives its
  variance (DeLong, DeLong & Clarke-Pearson 1988, by the mid-rank algorithm of Sun & Xu 2014) and
  the covariance between scores on the same people, so the 95% CI of an AUROC and of the
  difference of two AUROCs (model against the true probabilities) are Wald intervals
  AUROC +/- 1.96 x SE (as pROC's default).
- ``average_precision`` (AUPRC): the step-wise area, sum over thresholds of
  (recall_k - recall_k-1) x precision_k (no interpolation; as scikit-learn).
- ``brier``: mean (p - y)^2.
- ``calibration``: logistic recalibration, logit P(y) = a + b x logit(p). The slope b (1 = well
  calibrated; below 1, predictions too extreme, as from overfitting) comes from the two-parameter
  fit; the intercept is calibration-in-the-large, a with b fixed at 1 (0 = as many events as
  predicted), as recommended by Van Calster et al. (2016); both by Newton-Raphson with Wald CIs.
- ``group_calibration``: per group, observed events O against expected E = sum p: the observed
  rate with its Wilson 95% CI, the expected rate, and O/E with Byar's 95% CI for a Poisson count.
  A model is calibrated in a group when the expected rate lies inside the observed rate's CI.

``evaluate`` assembles the ``model_evaluation`` mart: one row per metric and group.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from ibis.backends import BaseBackend

if TYPE_CHECKING:
    from integrated_care.health.risk import RiskRun

Z95 = 1.959963984540054
EPS = 1e-12
AGE_BANDS = ((0, 17), (18, 44), (45, 64), (65, 74), (75, 84), (85, 200))


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    bounds = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1], True])
    starts, ends = bounds[:-1], bounds[1:]
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int8)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError("y and p must be 1-d arrays of the same length")
    return y, p


def delong(y: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROCs of one or more scores on the same people, and their DeLong covariance matrix."""
    y = np.asarray(y).astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        raise ValueError("AUROC needs at least one event and one non-event")
    v10, v01, aucs = [], [], []
    for s in scores:
        s = np.asarray(s, dtype=np.float64)
        pos, neg = s[y], s[~y]
        tz = _midranks(np.concatenate([pos, neg]))
        tx, ty = _midranks(pos), _midranks(neg)
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
    s10 = np.atleast_2d(np.cov(np.array(v10))) if m > 1 else np.zeros((len(scores),) * 2)
    s01 = np.atleast_2d(np.cov(np.array(v01))) if n > 1 else np.zeros((len(scores),) * 2)
    return np.array(aucs), s10 / m + s01 / n


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve: the probability a random event outscores a random non-event
    (ties count one half)."""
    y, p = _check(y, p)
    m, n = int(y.sum()), int(len(y) - y.sum())
    if m == 0 or n == 0:
        raise ValueError("AUROC needs at least one event and one non-event")
    ranks = _midranks(p)
    return float((ranks[y == 1].sum() - m * (m + 1) / 2) / (m * n))


def auroc_ci(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """AUROC with its DeLong 95% CI (clipped to [0, 1])."""
    aucs, cov = delong(*_check(y, p))
    se = math.sqrt(max(cov[0, 0], 0.0))
    a = float(aucs[0])
    return a, max(0.0, a - Z95 * se), min(1.0, a + Z95 * se)


def auroc_difference(y: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> tuple[float, float, float]:
    """AUROC(p1) - AUROC(p2) on the same people, with the paired DeLong 95% CI."""
    aucs, cov = delong(np.asarray(y), np.asarray(p1), np.asarray(p2))
    d = float(aucs[0] - aucs[1])
    se = math.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0))
    return d, d - Z95 * se, d + Z95 * se


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve, step-wise over distinct thresholds."""
    y, p = _check(y, p)
    events = int(y.sum())
    if events == 0:
        raise ValueError("AUPRC needs at least one event")
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    seen = np.arange(1, len(ys) + 1)
    last = np.r_[np.flatnonzero(ps[1:] != ps[:-1]), len(ps) - 1]  # end of each threshold
    precision = tp[last] / seen[last]
    recall = tp[last] / events
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _newton(
    X: np.ndarray, y: np.ndarray, offset: np.ndarray, iterations: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression with an offset: coefficients and covariance."""
    beta = np.zeros(X.shape[1])
    for _ in range(iterations):
        mu = 1.0 / (1.0 + np.exp(-(X @ beta + offset)))
        w = mu * (1 - mu)
        hessian = X.T @ (X * w[:, None])
        step = np.linalg.solve(hessian, X.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = 1.0 / (1.0 + np.exp(-(X @ beta + offset)))
    cov = np.linalg.inv(X.T @ (X * (mu * (1 - mu))[:, None]))
    return beta, cov


@dataclass(frozen=True)
class Calibration:
    slope: float
    slope_lower: float
    slope_upper: float
    intercept: float  # calibration-in-the-large: slope fixed at 1
    intercept_lower: float
    intercept_upper: float
    recalibration_intercept: float  # the intercept of the two-parameter fit

    @property
    def slope_ci(self) -> tuple[float, float]:
        return self.slope_lower, self.slope_upper

    @property
    def intercept_ci(self) -> tuple[float, float]:
        return self.intercept_lower, self.intercept_upper


def calibration(y: np.ndarray, p: np.ndarray) -> Calibration:
    """Calibration slope and intercept by logistic recalibration of logit(p)."""
    y, p = _check(y, p)
    lp = _logit(p)
    yf = y.astype(np.float64)
    both, cov2 = _newton(np.column_stack([np.ones_like(lp), lp]), yf, np.zeros_like(lp))
    citl, cov1 = _newton(np.ones((len(lp), 1)), yf, lp)
    se_b, se_a = math.sqrt(cov2[1, 1]), math.sqrt(cov1[0, 0])
    return Calibration(
        slope=float(both[1]),
        slope_lower=float(both[1] - Z95 * se_b),
        slope_upper=float(both[1] + Z95 * se_b),
        intercept=float(citl[0]),
        intercept_lower=float(citl[0] - Z95 * se_a),
        intercept_upper=float(citl[0] + Z95 * se_a),
        recalibration_intercept=float(both[0]),
    )


def wilson(events: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion."""
    if n == 0:
        return math.nan, math.nan
    phat = events / n
    denom = 1 + Z95**2 / n
    centre = (phat + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(phat * (1 - phat) / n + Z95**2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def byar(observed: int, expected: float) -> tuple[float, float]:
    """Byar's approximate 95% interval for observed / expected, observed a Poisson count."""
    if expected <= 0:
        return math.nan, math.nan
    o = observed
    lower = 0.0 if o == 0 else o * (1 - 1 / (9 * o) - Z95 / (3 * math.sqrt(o))) ** 3
    upper = (o + 1) * (1 - 1 / (9 * (o + 1)) + Z95 / (3 * math.sqrt(o + 1))) ** 3
    return lower / expected, upper / expected


@dataclass(frozen=True)
class EvaluationRow:
    """One row of the ``model_evaluation`` mart."""

    metric: str
    group_type: str  # overall, age_band, sex, imd_quintile
    group: str
    n: int
    events: int
    value: float
    lower: float | None = None
    upper: float | None = None


def group_calibration(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, group_type: str
) -> list[EvaluationRow]:
    """Observed against expected events in each group (sorted by group label)."""
    y, p = _check(y, p)
    groups = np.asarray(groups)
    rows: list[EvaluationRow] = []
    for g in sorted(set(groups.tolist())):
        sel = groups == g
        n, o, e = int(sel.sum()), int(y[sel].sum()), float(p[sel].sum())
        key = {"group_type": group_type, "group": str(g), "n": n, "events": o}
        rows.append(EvaluationRow("observed_rate", value=o / n, **key, **_ci(wilson(o, n))))
        rows.append(EvaluationRow("expected_rate", value=e / n, **key))
        ratio = o / e if e > 0 else math.nan
        rows.append(EvaluationRow("observed_to_expected", value=ratio, **key, **_ci(byar(o, e))))
        if 0 < o < n:
            a, lo, hi = auroc_ci(y[sel], p[sel])
            rows.append(EvaluationRow("auroc", value=a, lower=lo, upper=hi, **key))
    return rows


def _ci(bounds: tuple[float, float]) -> dict[str, float]:
    return {"lower": bounds[0], "upper": bounds[1]}


def age_band_labels(age: np.ndarray) -> np.ndarray:
    labels = np.array([f"{lo}+" if hi >= 200 else f"{lo}-{hi}" for lo, hi in AGE_BANDS])
    lows = np.array([lo for lo, _ in AGE_BANDS])
    return labels[np.searchsorted(lows, np.asarray(age), side="right") - 1]


def imd_quintile_labels(imd_decile: np.ndarray) -> np.ndarray:
    d = np.asarray(imd_decile, dtype=np.int64)
    return np.where(d > 0, ((d + 1) // 2).astype(str), "unknown")


@dataclass(frozen=True)
class ModelEvaluation:
    """The ``model_evaluation`` mart for one model."""

    model_version: str
    cutoff: dt.date
    rows: tuple[EvaluationRow, ...]

    def value(self, metric: str, group_type: str = "overall", group: str = "all") -> float:
        for r in self.rows:
            if (r.metric, r.group_type, r.group) == (metric, group_type, group):
                return r.value
        raise KeyError((metric, group_type, group))

    def row(self, metric: str, group_type: str = "overall", group: str = "all") -> EvaluationRow:
        for r in self.rows:
            if (r.metric, r.group_type, r.group) == (metric, group_type, group):
                return r
        raise KeyError((metric, group_type, group))

    def to_records(self) -> list[dict]:
        return [
            {"model_version": self.model_version, "cutoff": self.cutoff, **asdict(r)}
            for r in self.rows
        ]

    def to_arrow(self) -> pa.Table:
        schema = pa.schema(
            [
                ("model_version", pa.string()),
                ("cutoff", pa.date32()),
                ("metric", pa.string()),
                ("group_type", pa.string()),
                ("group", pa.string()),
                ("n", pa.int64()),
                ("events", pa.int64()),
                ("value", pa.float64()),
                ("lower", pa.float64()),
                ("upper", pa.float64()),
            ]
        )
        return pa.Table.from_pylist(self.to_records(), schema=schema)

    def to_json(self) -> str:
        return json.dumps(
            {
                "model_version": self.model_version,
                "cutoff": self.cutoff.isoformat(),
                "rows": [_json_row(r) for r in self.rows],
            },
            indent=1,
        )


def _json_row(r: EvaluationRow) -> dict:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in asdict(r).items()
    }


def evaluate(
    y: np.ndarray,
    p: np.ndarray,
    *,
    model_version: str,
    cutoff: dt.date,
    groups: Mapping[str, np.ndarray] | None = None,
    truth: np.ndarray | None = None,
    baseline: np.ndarray | None = None,
) -> ModelEvaluation:
    """All metrics on one set of people; ``truth`` (true probabilities, NaN where unknown)
    adds the true-probability AUROC on the people who have one and the gap to the model's;
    ``baseline`` (a naive comparator's predictions) adds its AUROC and the model's gain."""
    y, p = _check(y, p)
    n, events = len(y), int(y.sum())
    key = {"group_type": "overall", "group": "all", "n": n, "events": events}
    a, lo, hi = auroc_ci(y, p)
    cal = calibration(y, p)
    rows = [
        EvaluationRow("auroc", value=a, lower=lo, upper=hi, **key),
        EvaluationRow("auprc", value=average_precision(y, p), **key),
        EvaluationRow("brier", value=brier(y, p), **key),
        EvaluationRow("calibration_slope", value=cal.slope, **key, **_ci(cal.slope_ci)),
        EvaluationRow("calibration_intercept", value=cal.intercept, **key, **_ci(cal.intercept_ci)),
        EvaluationRow("recalibration_intercept", value=cal.recalibration_intercept, **key),
        EvaluationRow("observed_rate", value=events / n, **key, **_ci(wilson(events, n))),
        EvaluationRow("expected_rate", value=float(p.mean()), **key),
    ]
    if baseline is not None:
        ba, blo, bhi = auroc_ci(y, baseline)
        gain, glo, ghi = auroc_difference(y, p, baseline)
        rows += [
            EvaluationRow("baseline_auroc", value=ba, lower=blo, upper=bhi, **key),
            EvaluationRow("auroc_gain_over_baseline", value=gain, lower=glo, upper=ghi, **key),
        ]
    if truth is not None:
        truth = np.asarray(truth, dtype=np.float64)
        known = ~np.isnan(truth)
        yk, pk, tk = y[known], p[known], truth[known]
        tkey = {**key, "n": int(known.sum()), "events": int(yk.sum())}
        ta, tlo, thi = auroc_ci(yk, tk)
        gap, glo, ghi = auroc_difference(yk, tk, pk)
        rows += [
            EvaluationRow("truth_auroc", value=ta, lower=tlo, upper=thi, **tkey),
            EvaluationRow("auroc_gap", value=gap, lower=glo, upper=ghi, **tkey),
            EvaluationRow("truth_brier", value=brier(yk, tk), **tkey),
            EvaluationRow("truth_calibration_slope", value=calibration(yk, tk).slope, **tkey),
        ]
    for group_type, labels in (groups or {}).items():
        rows += group_calibration(y, p, labels, group_type)
    return ModelEvaluation(model_version=model_version, cutoff=cutoff, rows=tuple(rows))


TRUTH_FILE = Path("truth") / "emergency_admission_risk.parquet"


def find_truth(con: BaseBackend) -> Path | None:
    """The generator's truth file beside the extract the warehouse was loaded from, if any."""
    if "load_manifest" not in con.list_tables():
        return None
    manifest = con.table("load_manifest")
    folders = manifest.filter(manifest.table == "patients").source_folder.execute()
    for folder in folders:
        path = Path(str(folder)) / TRUTH_FILE
        if path.exists():
            return path
    return None


def truth_probabilities(path: Path, patient_id: np.ndarray) -> np.ndarray:
    """True probabilities for these people, NaN for anyone the truth file does not hold."""
    table = pq.read_table(path, columns=["patient_id", "probability_emergency_admission"])
    if table.num_rows == 0:
        return np.full(len(patient_id), np.nan)
    ids = table["patient_id"].to_numpy()
    probs = table["probability_emergency_admission"].to_numpy().astype(np.float64)
    order = np.argsort(ids)
    ids, probs = ids[order], probs[order]
    pos = np.minimum(np.searchsorted(ids, patient_id), len(ids) - 1)
    return np.where(ids[pos] == patient_id, probs[pos], np.nan)


def evaluate_run(run: RiskRun, truth_path: Path | None = None) -> ModelEvaluation:
    """The ``model_evaluation`` mart for a training run: the development model on the held-out
    people, by age band, sex and IMD quintile, against the truth when there is one."""
    h = run.holdout
    truth = truth_probabilities(truth_path, h.patient_id) if truth_path else None
    sex = np.where(h.female > 0, "female", "male")
    return evaluate(
        h.label,
        h.score,
        model_version=run.development.version,
        cutoff=run.development.cutoff,
        groups={
            "age_band": age_band_labels(h.age),
            "sex": sex,
            "imd_quintile": imd_quintile_labels(h.imd_decile),
        },
        truth=truth,
        baseline=h.baseline,
    )
