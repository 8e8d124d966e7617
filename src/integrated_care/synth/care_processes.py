"""Care processes in the GP record: medication reviews and SMI annual physical health checks.

Medication reviews: each year a person on repeat medicines has a review with a probability whose
log odds rise with the number of repeat medicines, age 75+, moderate or severe frailty (eFI at
the start of the year) and care needs, plus a persistent per-person term (some people are
reviewed every year, some rarely). The review falls on the day of one of their repeat issues
(re-authorisation), so nobody without a repeat medicine is reviewed. From October 2020 some are
structured medication reviews (PCN DES), mostly for people with moderate or severe frailty, 10+
medicines, palliative care or care needs, or in their last year of life.

SMI health checks: each year a person on the SMI register aged 18+ has the check with a
probability that varies between people around a mean solved to the configured yearly rate; its
elements (blood pressure, BMI, HbA1c) are recorded on one day by primary_care.Measurements.
Rates and codes are in data/care_processes.json.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from integrated_care.synth.conditions import Conditions
from integrated_care.synth.core import NEVER, Calendar, day, logistic, rng, solve_intercepts
from integrated_care.synth.health import N_EFI_DEFICITS, Year
from integrated_care.synth.params import condition_index, read_json
from integrated_care.synth.population import People
from integrated_care.synth.primary_care import Medicines
from integrated_care.synth.writer import Coded


def _any_of(cond: Conditions, keys: list[str]) -> np.ndarray:
    index = condition_index()
    out = np.zeros(cond.present.shape[0], bool)
    for key in keys:
        out |= cond.present[:, index[key]]
    return out


class CareProcesses:
    """Who has a medication review or an SMI health check each year, and on which day."""

    def __init__(
        self, cond: Conditions, people: People, meds: Medicines, cal: Calendar, seed: int
    ) -> None:
        self.spec = read_json("care_processes.json")
        self.people, self.meds, self.seed = people, meds, seed
        n = people.n
        r = rng(seed, "primary", "care-processes")
        review = self.spec["medication_review"]
        self.review_propensity = r.normal(0, review["log_odds"]["person_sd"], n)
        # the earliest regular medicine's repeat schedule carries the review
        self.first_start = np.full(n, NEVER, np.int64)
        np.minimum.at(self.first_start, meds.person, meds.start.astype(np.int64))
        self.care_needs = _any_of(cond, review["care_needs_conditions"])
        self.smr_conditions = _any_of(cond, review["structured"]["eligible_conditions"])
        self.smr_from = day(date.fromisoformat(review["structured"]["first_date"]))
        smi = self.spec["smi_health_check"]
        self.smi_onset = cond.onset[:, condition_index()[smi["register_condition"]]]
        on_register = np.flatnonzero(self.smi_onset <= cal.end)
        eta = r.normal(0, smi["person_sd"], n)
        target = np.array([smi["probability_per_year"] * len(on_register)])
        a = solve_intercepts(
            eta[on_register], np.zeros(len(on_register), np.int64), target,
            np.ones(len(on_register)),
        )  # fmt: skip
        self.smi_probability = logistic(a[0] + eta)

    def medication_reviews(self, y: Year) -> dict[str, Any]:
        """(person, day, code) of the year's medication reviews."""
        spec = self.spec["medication_review"]
        lo_odds, smr = spec["log_odds"], spec["structured"]
        every = read_json("measurements.json")["repeat_interval_days"]
        start = self.first_start[y.who]
        k_first = np.ceil(np.maximum(y.start - start, 0) / every).astype(np.int64)
        k_last = np.floor((y.stop - start) / every).astype(np.int64)
        issues = np.where(start <= y.stop, k_last - k_first + 1, 0)
        items = np.bincount(self.meds.person[self.meds.start <= y.hi], minlength=self.people.n)
        items = items[y.who]
        deficits = np.round(y.efi * N_EFI_DEFICITS)
        thresholds = spec["efi_min_deficits"]
        moderate = (deficits >= thresholds["moderate"]) & (deficits < thresholds["severe"])
        severe = deficits >= thresholds["severe"]
        who = y.who
        eta = (
            lo_odds["intercept"]
            + lo_odds["per_repeat_medicine"] * np.minimum(items, lo_odds["max_medicines_counted"])
            + lo_odds["age_75_plus"] * (y.age >= 75)
            + lo_odds["moderate_frailty"] * moderate
            + lo_odds["severe_frailty"] * severe
            + lo_odds["care_needs"] * self.care_needs[who]
            + self.review_propensity[who]
        )
        r = rng(self.seed, "primary", "medication-reviews", y.t)
        reviewed = (issues > 0) & (r.random(len(who)) < logistic(eta))
        row = np.flatnonzero(reviewed)
        k = k_first[row] + np.floor(r.random(len(row)) * issues[row]).astype(np.int64)
        days = (start[row] + k * every).astype(np.int32)
        person = who[row]
        eligible = (
            (items[row] >= smr["eligible_min_medicines"])
            | (deficits[row] >= smr["eligible_min_efi_deficits"])
            | self.smr_conditions[person]
            | (self.people.death[person] - days <= smr["eligible_days_before_death"])
        )
        share = np.where(eligible, smr["share_of_reviews_if_eligible"],
                         smr["share_of_reviews_otherwise"])  # fmt: skip
        structured = (days >= self.smr_from) & (r.random(len(row)) < share)
        codes = [spec["codes"]["review"]["snomed"], spec["codes"]["structured"]["snomed"]]
        return {"person": person, "day": days, "code": Coded(codes, structured.astype(np.int32))}

    def smi_checks(self, y: Year) -> tuple[np.ndarray, np.ndarray]:
        """(person, day) of the year's SMI physical health checks."""
        spec = self.spec["smi_health_check"]
        onset = self.smi_onset[y.who]
        first = np.maximum(y.start, onset).astype(np.int64)
        eligible = (onset <= y.stop) & (y.age >= spec["min_age"])
        r = rng(self.seed, "primary", "smi-checks", y.t)
        checked = eligible & (r.random(len(y.who)) < self.smi_probability[y.who])
        row = np.flatnonzero(checked)
        span = (y.stop[row] - first[row] + 1).astype(np.float64)
        days = (first[row] + np.floor(r.random(len(row)) * span)).astype(np.int32)
        return y.who[row], days
