"""Long-term conditions: who has which, calibrated to QOF 2019/20 by IMD decile.

Each condition is a logistic model on the age profile in data/age_profiles.csv (log-odds by age,
linear between knots), a female odds ratio, a loading on the person's latent health factor (which
correlates all conditions), explicit dependencies on earlier conditions and smoking
(data/dependencies.csv), and deprivation. For the 21 QOF groups one intercept per IMD decile is
solved numerically so that crude prevalence, on the QOF register's age rules, equals the QOF
2019/20 figure for that decile (which also sets the deprivation gradient); the other conditions
have one intercept for a documented overall prevalence and a fixed deprivation odds ratio.
Prevalence is taken among people alive at the end of the window, so the calibration weights each
person by their probability of surviving the window (two passes with mortality.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from integrated_care import reference
from integrated_care.synth.core import NEVER, Calendar, age_years, logistic, rng, solve_intercepts
from integrated_care.synth.params import (
    Condition,
    condition_index,
    conditions,
    dependencies,
    profile_logit,
    read_json,
)
from integrated_care.synth.population import People

QOF_FILE = "qof_prevalence_by_imd_decile_1920.csv"
CALIBRATION_SAMPLE = 120_000
NO_SMOKING, EX_SMOKER, SMOKER = 0, 1, 2
LTC_COUNT_EXCLUDES = {"OB", "CVDPP", "PC", "DEP"}
MAX_AGE = 110


@dataclass
class Conditions:
    present: np.ndarray  # bool [person, condition], as at the end of the window (or death)
    smoking: np.ndarray  # int8: 0 never, 1 ex, 2 current
    intercepts: dict[str, list[float]]  # solved intercepts, for truth/parameters.json
    onset: np.ndarray | None = None  # int32 [person, condition] diagnosis day, NEVER if absent


def qof_targets() -> dict[str, dict[str, float]]:
    """QOF 2019/20 crude prevalence (%): {'AF': {'england': 2.049, '1': 1.779, ...}, ...}."""
    out = {}
    for r in reference.rows(QOF_FILE):
        d = {"england": float(r["england_pct"])}
        for k in range(1, 11):
            d[str(k)] = float(r[f"imd_decile_{k}_pct"])
        out[r["qof_group"]] = d
    return out


def deprivation_unit(decile: np.ndarray) -> np.ndarray:
    """-1 for IMD decile 10 (least deprived) to +1 for decile 1 (most deprived)."""
    return (5.5 - decile.astype(np.float64)) / 4.5


def in_ages(age: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (age >= lo) & (age < hi + 1)


class _Model:
    """Shared inputs of the condition models for one population."""

    def __init__(self, people: People, decile: np.ndarray, cal: Calendar, seed: int) -> None:
        # float32 throughout the per-person arithmetic: it halves memory traffic on 1M+ people
        self.age = age_years(people.dob, cal.end).astype(np.float32)
        self.age_index = np.clip(self.age, 0, MAX_AGE).astype(np.int64)
        self.female = (people.sex == 0).astype(np.float32)
        self.decile = decile.astype(np.int64)
        self.dep = deprivation_unit(decile).astype(np.float32)
        self.latent = people.latent.astype(np.float32)
        self.seed = seed
        n = people.n
        pick = rng(seed, "conditions", "calibration-sample")
        size = min(n, CALIBRATION_SAMPLE)
        self.sample = np.sort(pick.choice(n, size, replace=False)) if size < n else np.arange(n)
        self.intercepts: dict[str, list[float]] = {}

    def uniforms(self, key: str) -> np.ndarray:
        return rng(self.seed, "conditions", key).random(len(self.age), dtype=np.float32)

    def profile(self, name: str) -> np.ndarray:
        """The age profile's log-odds at each person's age in whole years."""
        table = profile_logit(name, np.arange(MAX_AGE + 1, dtype=np.float64)).astype(np.float32)
        return table[self.age_index]

    def calibrate(
        self, eta: np.ndarray, eligible: np.ndarray, den: np.ndarray, groups: np.ndarray,
        shares: np.ndarray, weights: np.ndarray, den_weights: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """Intercepts per group: sum(weights x p) over the eligible = shares x sum(den_weights)
        over the denominator, on the calibration sample (weights are per sample member)."""
        s = self.sample
        n_groups = len(shares)
        den_w = np.bincount(groups[s], weights=den_weights * den[s], minlength=n_groups)
        el = eligible[s]
        return solve_intercepts(eta[s][el], groups[s][el], shares * den_w, weights[el])


def _smoking(m: _Model, weights: np.ndarray, fixed: dict[str, list[float]] | None) -> np.ndarray:
    spec = read_json("smoking.json")
    adult = m.age >= 18
    eligible = m.age >= spec["min_age"]
    zero = np.zeros(len(m.age), np.int64)
    eta = (
        m.profile(spec["ever_profile"])
        + np.float32(np.log(spec["female_or_ever"])) * m.female
        + np.float32(spec["ever_dep_log_or"] / 2) * m.dep
        + np.float32(spec["latent_loading"]) * m.latent
    )
    ever_share = (spec["target_current_pct_18plus"] + spec["target_ex_pct_18plus"]) / 100
    if fixed:
        a = np.array(fixed["SMOKING_EVER"])
    else:
        a = m.calibrate(eta, adult, adult, zero, np.array([ever_share]), weights, weights)
    m.intercepts["SMOKING_EVER"] = [round(float(x), 6) for x in a]
    ever = eligible & (m.uniforms("smoking-ever") < logistic(np.float32(a[0]) + eta))
    eta2 = (
        profile_logit(spec["current_given_ever_profile"], m.age)
        + spec["current_dep_log_or"] / 2 * m.dep
    )
    current_share = spec["target_current_pct_18plus"] / 100 / ever_share
    if fixed:
        a2 = np.array(fixed["SMOKING_CURRENT"])
    else:
        a2 = m.calibrate(
            eta2, adult & ever, adult & ever, zero, np.array([current_share]), weights, weights
        )
    m.intercepts["SMOKING_CURRENT"] = [round(float(x), 6) for x in a2]
    current = ever & (m.uniforms("smoking-current") < logistic(np.float32(a2[0]) + eta2))
    return np.where(current, SMOKER, np.where(ever, EX_SMOKER, NO_SMOKING)).astype(np.int8)


def _parent_term(
    c: Condition, present: np.ndarray, smoking: np.ndarray, ltc_count: np.ndarray
) -> np.ndarray:
    index = {x.key: x.index for x in conditions()}
    term = np.zeros(len(smoking), np.float32)
    for parent, child, log_or in dependencies():
        if child != c.key:
            continue
        b = np.float32(log_or)
        if parent == "SMOKING_CURRENT":
            term += b * (smoking == SMOKER)
        elif parent == "SMOKING_EX":
            term += b * (smoking == EX_SMOKER)
        elif parent == "LTC_COUNT":
            term += b * ltc_count
        else:
            term += b * present[:, index[parent]]
    return term


@dataclass(frozen=True)
class Survival:
    """What the calibration needs to know of mortality: survival to the end of the window is
    exp(-base x exp(other + sum of the person's condition log hazard ratios))."""

    base: np.ndarray  # cumulative normalised life-table hazard over the window
    other: np.ndarray  # log relative risk from latent health and deprivation
    log_hr: np.ndarray  # [condition] log hazard ratio


def draw_conditions(
    people: People, decile: np.ndarray, cal: Calendar, seed: int,
    survival: Survival | None = None, previous: np.ndarray | None = None,
    intercepts: dict[str, list[float]] | None = None,
) -> Conditions:  # fmt: skip
    """Each person's conditions as at the end of the window.

    With ``survival`` (and the ``previous`` pass's conditions for the risk from conditions not
    yet redrawn), each condition is calibrated on the people expected to survive the window,
    allowing for the extra mortality the condition itself brings. With ``intercepts`` (from
    ``calibrate``) nothing is solved: the given intercepts are used.
    """
    m = _Model(people, decile, cal, seed)
    conds = conditions()
    s = m.sample
    if previous is not None:
        present = previous.copy()
    else:
        present = np.zeros((people.n, len(conds)), dtype=bool)
    if survival is None:
        w = np.ones(len(s))
    else:
        base = survival.base[s]
        log_rr = survival.other[s] + present[s] @ survival.log_hr
        w = np.exp(-base * np.exp(log_rr))
    smoking = _smoking(m, w, intercepts)
    targets = qof_targets()
    ltc_count = np.zeros(people.n, np.float32)
    index = {c.key: c.index for c in conds}
    for c in conds:
        eligible = in_ages(m.age, c.reg_min_age, c.reg_max_age)
        if c.requires:
            eligible &= present[:, index[c.requires]]
        den = in_ages(m.age, c.den_min_age, c.den_max_age)
        eta = (
            m.profile(c.profile)
            + np.float32(np.log(c.female_or)) * m.female
            + np.float32(c.latent_loading) * m.latent
            + _parent_term(c, present, smoking, ltc_count)
        )
        if c.qof_group:
            groups = m.decile - 1
            shares = np.array([targets[c.qof_group][str(k)] for k in range(1, 11)]) / 100
        else:
            eta = eta + np.float32(c.dep_log_or / 2) * m.dep
            groups = np.zeros(people.n, np.int64)
            shares = np.array([(c.target_pct or 0) / 100])
        if intercepts:
            a = np.array(intercepts[c.key])
        elif survival is None:
            a = m.calibrate(eta, eligible, den, groups, shares, w, w)
        else:
            beta = survival.log_hr[c.index]
            log_rr -= beta * present[s, c.index]
            w0 = np.exp(-base * np.exp(log_rr))
            w1 = w0 ** np.exp(beta)
            # survivors with c = share x all survivors, where p moves people from w0 to w1
            share = shares[groups[s]]
            v = w1 * (1 - share) + share * w0
            a = m.calibrate(eta, eligible, den, groups, shares, v, w0)
        m.intercepts[c.key] = [round(float(x), 6) for x in a]
        p = np.where(eligible, logistic(a.astype(np.float32)[groups] + eta), np.float32(0))
        present[:, c.index] = m.uniforms(c.key) < p
        if survival is not None and not intercepts:
            log_rr += survival.log_hr[c.index] * present[s, c.index]
        if c.qof_group and c.key not in LTC_COUNT_EXCLUDES:
            ltc_count += present[:, c.index]
    return Conditions(present=present, smoking=smoking, intercepts=m.intercepts)


def assign_onsets(cond: Conditions, people: People, cal: Calendar, seed: int) -> None:
    """Diagnosis dates: years since diagnosis ~ exponential (condition's mean), after the
    register's minimum age and before death."""
    r = rng(seed, "conditions", "onset")
    n, k = cond.present.shape
    onset = np.full((n, k), NEVER, np.int32)
    age_end = age_years(people.dob, cal.end)
    last = np.minimum(people.death, cal.end).astype(np.float64)
    index = condition_index()
    for c in conditions():
        who = np.flatnonzero(cond.present[:, c.index])
        earliest = people.dob[who] + c.reg_min_age * 365.25
        if c.requires:  # diagnosed after the condition it requires (drawn earlier in file order)
            earliest = np.maximum(earliest, onset[who, index[c.requires]])
        span = np.maximum(last[who] - earliest, 0)
        years = r.exponential(c.mean_years_diagnosed, len(who)) * 365.25
        years = np.where(years > span, r.random(len(who)) * span, years)
        died = people.death[who] <= cal.end
        back = np.where(died, r.random(len(who)) * np.minimum(span, 730) * 0.5, 0)
        day = np.floor(last[who] - np.minimum(years + back, span))
        onset[who, c.index] = np.maximum(day, people.dob[who]).astype(np.int32)
    del age_end
    cond.onset = onset
