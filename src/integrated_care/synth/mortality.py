"""Deaths: national age-specific mortality, redistributed by health within each age and sex.

Each person's probability of dying in a year is the life-table probability for their age and sex
times a relative risk exp(sum of condition log hazard ratios + 0.35 x latent health + 0.25 x
deprivation), capped at 60% and rescaled so that each single year of age and sex (among people
alive at the start of the year) has the life table's expected deaths: mortality rises with
frailty, multimorbidity and deprivation while age-specific rates stay national.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from integrated_care.synth.conditions import (
    Conditions,
    Survival,
    deprivation_unit,
    draw_conditions,
    in_ages,
    qof_targets,
)
from integrated_care.synth.core import NEVER, Calendar, age_years, group_mean, rng
from integrated_care.synth.params import conditions, read_csv, read_json
from integrated_care.synth.population import People

MAX_AGE = 105
# Nobody's chance of dying within a year exceeds this: without a cap the sickest would die with
# near certainty in the first year and deaths would bunch at the start of the window. Each age
# and sex keeps the life table's expected deaths (the rest are spread by relative risk).
MAX_DEATH_PROBABILITY = 0.6


@lru_cache(maxsize=1)
def _life_table() -> tuple[np.ndarray, np.ndarray]:
    rows = read_csv("mortality.csv")
    ages = np.array([float(r["age"]) for r in rows])
    q = np.array([[float(r["q_female"]), float(r["q_male"])] for r in rows])
    return ages, np.log(q)


def base_hazard(age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Annual hazard -ln(1 - q) from the life table (log-linear between listed ages)."""
    ages, logq = _life_table()
    q = np.where(sex == 1, np.exp(np.interp(age, ages, logq[:, 1])),
                 np.exp(np.interp(age, ages, logq[:, 0])))  # fmt: skip
    return -np.log1p(-np.minimum(q, 0.95))


def log_hazard_ratios() -> np.ndarray:
    return np.array([c.mortality_log_hr for c in conditions()])


def other_log_risk(people: People, decile: np.ndarray) -> np.ndarray:
    demo = read_json("demography.json")["mortality_log_hr"]
    return demo["per_latent_sd"] * people.latent + demo["per_deprivation_unit"] * deprivation_unit(
        decile
    )


def relative_risk(present: np.ndarray | None, people: People, decile: np.ndarray) -> np.ndarray:
    lin = other_log_risk(people, decile)
    if present is not None:
        lin = lin + present.view(np.uint8) @ log_hazard_ratios().astype(np.float32)
    return np.exp(lin)


def _year_hazards(  # type: ignore[no-untyped-def]
    people: People, rr: np.ndarray, cal: Calendar, t: int, alive: np.ndarray,
    survival: np.ndarray | None = None,
):  # fmt: skip
    """Cumulative hazard in year t of the people alive at its start (or expected to be:
    ``survival`` weights the age-sex normalisation like the deaths so far would)."""
    lo, hi = cal.year_bounds(t)
    who = np.flatnonzero((people.entry <= hi) & alive)
    start = np.maximum(people.entry[who], lo)
    exposure = (hi - start + 1) / 365.25
    age = age_years(people.dob[who], (start + hi) / 2)
    group = np.minimum(age, MAX_AGE).astype(np.int64) * 2 + people.sex[who]
    weight = exposure if survival is None else exposure * survival[who]
    n_groups = (MAX_AGE + 1) * 2
    q = -np.expm1(-base_hazard(age, people.sex[who]) * exposure)  # life-table probability
    rel = rr[who] / group_mean(rr[who], group, n_groups, weights=weight)[group]
    for _ in range(4):
        # cap, then restore each age-sex group's expected deaths to the life table's
        p = np.minimum(q * rel, MAX_DEATH_PROBABILITY)
        want = np.bincount(group, weights=q * weight / exposure, minlength=n_groups)
        got = np.bincount(group, weights=p * weight / exposure, minlength=n_groups)
        rel *= np.where(got > 0, want / np.where(got > 0, got, 1), 1.0)[group]
    p = np.minimum(q * rel, MAX_DEATH_PROBABILITY)
    return who, start, hi, -np.log1p(-p)


def survival_model(
    present: np.ndarray | None, people: People, decile: np.ndarray, cal: Calendar
) -> Survival:
    """Survival to the end of the window as a function of each person's conditions, with the
    age-sex normalisation fixed at the given conditions (None: before any are drawn)."""
    rr = relative_risk(present, people, decile)
    base = np.zeros(people.n)
    alive = np.ones(people.n, bool)
    for t in range(cal.years):
        expected = np.exp(-base * rr)
        who, _, _, cum = _year_hazards(people, rr, cal, t, alive, expected)
        base[who] += cum / rr[who]
    return Survival(base=base, other=other_log_risk(people, decile), log_hr=log_hazard_ratios())


def simulate_deaths(
    cond: Conditions, people: People, decile: np.ndarray, cal: Calendar, seed: int
) -> None:
    """Draw each person's death day (or NEVER) year by year, in place."""
    r = rng(seed, "mortality")
    rr = relative_risk(cond.present, people, decile)
    death = np.full(people.n, NEVER, np.int32)
    for t in range(cal.years):
        who, start, hi, cum = _year_hazards(people, rr, cal, t, death == NEVER)
        dies = r.random(len(who)) < -np.expm1(-cum)
        span = hi - start[dies] + 1
        death[who[dies]] = (start[dies] + np.floor(r.random(dies.sum()) * span)).astype(np.int32)
    people.death = death


def _corrected(
    intercepts: dict[str, list[float]], cond: Conditions, survival: Survival, people: People,
    decile: np.ndarray, cal: Calendar,
) -> dict[str, list[float]]:  # fmt: skip
    """Intercepts shifted by the log ratio of target to expected prevalence among survivors.

    Corrects what the one-condition-at-a-time calibration cannot see: a condition also raises
    the chance of later conditions that carry their own mortality.
    """
    w = np.exp(-survival.base * np.exp(survival.other + cond.present @ survival.log_hr))
    age = age_years(people.dob, cal.end)
    targets = qof_targets()
    out = dict(intercepts)
    for c in conditions():
        den = in_ages(age, c.den_min_age, c.den_max_age)
        if c.qof_group:
            groups = decile.astype(np.int64) - 1
            want = np.array([targets[c.qof_group][str(k)] for k in range(1, 11)]) / 100
        else:
            groups = np.zeros(people.n, np.int64)
            want = np.array([(c.target_pct or 0) / 100])
        k = len(want)
        num = np.bincount(groups, weights=w * den * cond.present[:, c.index], minlength=k)
        tot = np.bincount(groups, weights=w * den, minlength=k)
        got = num / np.maximum(tot, 1e-9)
        ok = (got > 0) & (want > 0)
        shift = np.where(ok, np.log(np.where(ok, want, 1) / np.where(ok, got, 1)), 0.0)
        out[c.key] = [round(float(a + d), 6) for a, d in zip(intercepts[c.key], shift, strict=True)]
    return out


def conditions_and_deaths(
    people: People, decile: np.ndarray, cal: Calendar, seed: int, passes: int = 4,
    sample_size: int = 120_000,
) -> Conditions:  # fmt: skip
    """Calibrate the condition models on a sample, alternating with the survival model until
    prevalence among survivors is on target, then draw everyone's conditions and deaths."""
    pick = rng(seed, "mortality", "calibration-sample")
    idx = np.sort(pick.choice(people.n, min(sample_size, people.n), replace=False))
    sample, sample_decile = people.subset(idx), decile[idx]
    survival = survival_model(None, sample, sample_decile, cal)
    cond = draw_conditions(sample, sample_decile, cal, seed, survival)
    survival = survival_model(cond.present, sample, sample_decile, cal)
    cond = draw_conditions(sample, sample_decile, cal, seed, survival, cond.present)
    intercepts = cond.intercepts
    for _ in range(passes - 2):
        survival = survival_model(cond.present, sample, sample_decile, cal)
        intercepts = _corrected(intercepts, cond, survival, sample, sample_decile, cal)
        cond = draw_conditions(sample, sample_decile, cal, seed, intercepts=intercepts)
    full = draw_conditions(people, decile, cal, seed, intercepts=intercepts)
    simulate_deaths(full, people, decile, cal, seed)
    return full


def final_year_hazard(
    cond: Conditions, people: People, decile: np.ndarray, cal: Calendar
) -> np.ndarray:
    """Each person's cumulative death hazard over the final simulated year (0 if not in it)."""
    rr = relative_risk(cond.present, people, decile)
    t = cal.years - 1
    lo, _ = cal.year_bounds(t)
    who, _, _, cum = _year_hazards(people, rr, cal, t, people.death >= lo)
    out = np.zeros(people.n)
    out[who] = cum
    return out
