"""Each person's state in a simulated year, and the documented hazard that drives their care.

For stream s (A&E, emergency admission, elective admission, outpatients, GP, community, RTT):

    rate_i = K_s x A_s(age band, sex) x M_i / mean(M | age band)
    M_i    = exp(b_cms x CMS_i + b_efi x eFI_i + b_dep x deprivation_i + b_latent x latent_i
                 + sum of b_c over the conditions c given their own log rate ratio)

A_s is the stream's relative age profile (data/activity.json), K_s scales it so that a population
with England's ONS mid-2022 age-sex structure has the national crude rate, CMS is the Cambridge
Multimorbidity Score and eFI the electronic frailty index at the start of the year, deprivation
runs from -1 (IMD decile 10) to +1 (decile 1), latent is the person's health factor. Dividing M
by its mean within the age band keeps each band's rate at the national level while moving use
towards the multimorbid, frail and deprived; the relative rate is capped at 12 times the band's
mean (then renormalised) so the few sickest people do not get implausible numbers of events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from integrated_care import reference
from integrated_care.synth.conditions import Conditions, deprivation_unit
from integrated_care.synth.core import Calendar, age_years, group_mean
from integrated_care.synth.footprint import england_population
from integrated_care.synth.params import condition_index, conditions, read_json
from integrated_care.synth.population import People

N_EFI_DEFICITS = 36
CANCER_WINDOW_DAYS = 5 * 365
# No one uses a service at more than this multiple of their age band's mean rate.
MAX_RELATIVE_RATE = 12.0


@dataclass
class Year:
    """The people in the record during simulated year t, with their exposure and health."""

    t: int
    lo: int
    hi: int
    who: np.ndarray  # person indices
    start: np.ndarray  # first day in the record this year
    stop: np.ndarray  # last day (death or year end)
    expo: np.ndarray  # years of exposure
    age: np.ndarray  # age at the start of the exposure
    female: np.ndarray
    band: np.ndarray  # index into activity.json age_bands
    present: np.ndarray  # bool [len(who), condition] at the start of the year
    cms: np.ndarray
    efi: np.ndarray
    dep: np.ndarray
    latent: np.ndarray


def _cms_weights() -> tuple[np.ndarray, np.ndarray]:
    weights = reference.load_json("cms_weights.json")["general_outcome_weights_20"]
    w = np.array([weights.get(c.cms, 0.0) if c.cms else 0.0 for c in conditions()])
    cancer = np.array([bool(c.cms and c.cms.startswith("cancer")) for c in conditions()])
    return w, cancer


def _efi_matrix() -> tuple[np.ndarray, int]:
    """[condition, deficit] membership: several conditions can make one deficit."""
    names = sorted({c.efi for c in conditions() if c.efi})
    m = np.zeros((len(conditions()), len(names)))
    for c in conditions():
        if c.efi:
            m[c.index, names.index(c.efi)] = 1
    return m, len(names)


def age_band(age: np.ndarray) -> np.ndarray:
    bands = np.array(read_json("activity.json")["age_bands"], dtype=np.float64)
    return (np.searchsorted(bands, age, side="right") - 1).astype(np.int64)


def build_year(
    t: int, people: People, cond: Conditions, decile: np.ndarray, cal: Calendar,
    med_start: np.ndarray, med_person: np.ndarray,
) -> Year:  # fmt: skip
    lo, hi = cal.year_bounds(t)
    who = np.flatnonzero((people.entry <= hi) & (people.death >= lo))
    start = np.maximum(people.entry[who], lo)
    stop = np.minimum(people.death[who], hi)
    onset = cond.onset[who]
    present = onset <= lo
    w, cancer = _cms_weights()
    cms = np.zeros(len(who))
    for c in np.flatnonzero(w):
        has = (
            present[:, c] & (onset[:, c] > lo - CANCER_WINDOW_DAYS) if cancer[c] else present[:, c]
        )
        cms += w[c] * has
    efi_m, n_deficits = _efi_matrix()
    deficits = np.zeros(len(who), np.int64)
    for d in range(n_deficits):
        members = np.flatnonzero(efi_m[:, d])
        deficits += np.logical_or.reduce(present[:, members], axis=1)
    on_meds = np.bincount(med_person[med_start <= lo], minlength=people.n)[who]
    deficits = deficits + (on_meds >= 5)
    age = age_years(people.dob[who], start)
    return Year(
        t=t, lo=lo, hi=hi, who=who, start=start, stop=stop,
        expo=(stop - start + 1) / 365.25, age=age, female=people.sex[who] == 0,
        band=age_band(age), present=present, cms=cms, efi=deficits / N_EFI_DEFICITS,
        dep=deprivation_unit(decile[who]), latent=people.latent[who],
    )  # fmt: skip


class RateModel:
    """The hazard above for one stream of activity."""

    def __init__(self, stream: str, per_1000: float | None = None) -> None:
        spec = read_json("activity.json")["streams"][stream]
        self.beta = spec["beta"]
        self.profile = np.array(spec["profile"], dtype=np.float64)
        self.female_multiplier = spec["female_multiplier"]
        self.per_person = (spec["per_1000"] if per_1000 is None else per_1000) / 1000
        eng = england_population()  # [sex (0 female), age]
        ages = np.arange(eng.shape[1], dtype=np.float64)
        band = age_band(ages)
        relative = (eng[0] * self.profile[band] * self.female_multiplier).sum() + (
            eng[1] * self.profile[band]
        ).sum()
        self.k = self.per_person / (relative / eng.sum())

    def annual_rate(self, y: Year) -> np.ndarray:
        """Expected events per person-year for each person in the year."""
        b = self.beta
        log_m = (b["cms"] * y.cms + b["efi"] * y.efi + b["deprivation"] * y.dep
                 + b["latent"] * y.latent)  # fmt: skip
        index = condition_index()
        for key, log_rr in b.get("conditions", {}).items():
            log_m = log_m + log_rr * y.present[:, index[key]]
        m = np.exp(log_m)
        n_bands = len(self.profile)
        rel = m / group_mean(m, y.band, n_bands, weights=y.expo)[y.band]
        rel = np.minimum(rel, MAX_RELATIVE_RATE)
        rel = rel / group_mean(rel, y.band, n_bands, weights=y.expo)[y.band]
        a = self.profile[y.band] * np.where(y.female, self.female_multiplier, 1.0)
        return self.k * a * rel


def poisson_events(
    r: np.random.Generator, y: Year, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Events from annual rates over each person's exposure: (row into y.who, day)."""
    counts = r.poisson(rate * y.expo)
    row = np.repeat(np.arange(len(y.who)), counts)
    span = (y.stop - y.start + 1)[row].astype(np.float64)
    days = (y.start[row] + np.floor(r.random(len(row)) * span)).astype(np.int32)
    return row, days
