"""GP record: diagnoses, measurements, smoking status, medications and appointments.

Diagnoses are SNOMED CT coded at their onset date; measurements (BMI, blood pressure, HbA1c,
QRISK) are drawn around a per-person true value that follows their conditions; regular medicines
follow conditions (data/medications.csv) and are issued as three-monthly repeats, so polypharmacy
rises with the number of conditions; appointments follow the GP stream of the hazard in health.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from integrated_care.synth.conditions import Conditions
from integrated_care.synth.core import Calendar, choice, rng
from integrated_care.synth.health import RateModel, Year, poisson_events
from integrated_care.synth.params import (
    categorical,
    condition_index,
    read_csv,
    read_json,
)
from integrated_care.synth.population import People
from integrated_care.synth.writer import Coded


@dataclass(frozen=True)
class Medicines:
    codes: np.ndarray  # dm+d code per medicine index
    chapters: np.ndarray  # BNF chapter per medicine index
    person: np.ndarray  # regular medicine assignments: person, medicine, first issue day
    medicine: np.ndarray
    start: np.ndarray


@lru_cache(maxsize=1)
def medicine_list() -> tuple[list[str], list[str], list[dict[str, str]]]:
    rows = read_csv("medications.csv")
    codes: list[str] = []
    chapters: list[str] = []
    for r in rows:
        if r["dmd_code"] not in codes:
            codes.append(r["dmd_code"])
            chapters.append(r["bnf_chapter"])
    return codes, chapters, rows


def regular_medicines(cond: Conditions, people: People, cal: Calendar, seed: int) -> Medicines:
    """Which regular medicines each person is on, from when (one row per person-medicine)."""
    r = rng(seed, "primary", "medicines")
    codes, chapters, rows = medicine_list()
    index = condition_index()
    persons, meds, starts = [], [], []
    for row in rows:
        if row["condition"] == "ACUTE":
            continue
        c = index[row["condition"]]
        who = np.flatnonzero(cond.present[:, c])
        who = who[r.random(len(who)) < float(row["probability"])]
        persons.append(who)
        meds.append(np.full(len(who), codes.index(row["dmd_code"]), np.int32))
        starts.append(cond.onset[who, c] + r.integers(0, 90, len(who)))
    person = np.concatenate(persons).astype(np.int32)
    med = np.concatenate(meds)
    start = np.maximum(np.concatenate(starts), people.entry[person] - 3650).astype(np.int32)
    key = person.astype(np.int64) * 1000 + med
    order = np.lexsort((start, key))
    first = np.ones(len(order), bool)
    first[1:] = key[order][1:] != key[order][:-1]
    keep = order[first]  # a medicine shared by two conditions starts with the earlier
    keep = keep[start[keep] <= np.minimum(people.death[person[keep]], cal.end)]
    return Medicines(np.array(codes), np.array(chapters), person[keep], med[keep], start[keep])


def medication_issues(m: Medicines, people: People, y: Year, seed: int) -> dict[str, np.ndarray]:
    """Repeat issues of regular medicines in the year, plus acute items."""
    spec = read_json("measurements.json")
    every = spec["repeat_interval_days"]
    lo = np.maximum(people.entry[m.person], y.lo)
    hi = np.minimum(people.death[m.person], y.hi)
    k_first = np.ceil(np.maximum(lo - m.start, 0) / every).astype(np.int64)
    k_last = np.floor((hi - m.start) / every).astype(np.int64)
    counts = np.maximum(k_last - k_first + 1, 0)
    a = np.repeat(np.arange(len(m.person)), counts)
    offset = np.arange(len(a)) - np.repeat(np.cumsum(counts) - counts, counts)
    days = m.start[a] + (k_first[a] + offset) * every
    person, med = m.person[a], m.medicine[a]
    r = rng(seed, "primary", "acute", y.t)
    row, adays = poisson_events(r, y, np.full(len(y.who), spec["acute_medication_items_per_year"]))
    codes = list(m.codes)
    acute = [x for x in medicine_list()[2] if x["condition"] == "ACUTE"]
    pick = choice(r, np.array([float(x["probability"]) for x in acute]), len(row))
    acute_idx = np.array([codes.index(x["dmd_code"]) for x in acute])[pick]
    return {
        "person": np.concatenate([person, y.who[row]]),
        "day": np.concatenate([days, adays]).astype(np.int32),
        "medicine": np.concatenate([med, acute_idx]).astype(np.int32),
    }


def diagnosis_events(cond: Conditions, cal: Calendar, seed: int) -> dict[str, np.ndarray]:
    """One coded diagnosis per person-condition at onset (QRISK score for CVD prevention)."""
    r = rng(seed, "primary", "diagnoses")
    person, code = np.nonzero(cond.present)
    day = cond.onset[person, code]
    keep = day <= cal.end
    person, code, day = person[keep], code[keep], day[keep]
    value = np.full(len(person), np.nan)
    cvd = code == condition_index()["CVDPP"]
    value[cvd] = np.round(10 + r.gamma(2.0, 4.0, cvd.sum()), 1)
    return {"person": person, "day": day, "code": code, "value": value}


def _true_values(
    cond: Conditions, people: People, cal: Calendar, seed: int
) -> dict[str, np.ndarray]:
    spec = read_json("measurements.json")
    r = rng(seed, "primary", "true-values")
    idx = condition_index()
    n = people.n
    age40 = np.maximum((cal.end - people.dob) / 365.25 - 40, 0)
    hyp = cond.present[:, idx["HYP"]]
    obese = cond.present[:, idx["OB"]]
    dm = cond.present[:, idx["DM"]]
    s, d, b, h = spec["systolic"], spec["diastolic"], spec["bmi"], spec["hba1c"]
    return {
        "systolic": s["base"] + s["per_year_over_40"] * age40 + s["hypertension_shift"] * hyp
        + r.normal(0, s["sd_person"], n),
        "diastolic": d["base"] + d["per_year_over_40"] * age40 + d["hypertension_shift"] * hyp
        + r.normal(0, d["sd_person"], n),
        "bmi": np.where(obese, np.maximum(r.normal(b["obese_mean"], b["obese_sd"], n), 30.2),
                        np.clip(r.normal(b["other_mean"], b["other_sd"], n), b["min"], 29.8)),
        "hba1c": np.where(dm, np.maximum(r.normal(h["diabetes_mean"], h["diabetes_sd"], n), 42),
                          np.clip(r.normal(h["other_mean"], h["other_sd"], n), h["min"], 41)),
    }  # fmt: skip


class Measurements:
    """Yearly measurement and smoking-status events for the people in a year."""

    def __init__(self, cond: Conditions, people: People, cal: Calendar, seed: int) -> None:
        self.cond = cond
        self.true = _true_values(cond, people, cal, seed)
        self.seed = seed
        self.spec = read_json("measurements.json")
        idx = condition_index()
        self.ltc = np.zeros(people.n, bool)
        for key in self.spec["bp_ltc_conditions"]:
            self.ltc |= cond.present[:, idx[key]]
        self.dm = cond.present[:, idx["DM"]]
        self.cvdpp = cond.present[:, idx["CVDPP"]]

    def events(
        self, y: Year, checks: tuple[np.ndarray, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """(person, day, snomed code, value) rows; smoking rows carry their status code.

        ``checks`` (person, day) adds a health check's readings: blood pressure, BMI and HbA1c
        on that day (the SMI annual physical health check, care_processes.py).
        """
        r = rng(self.seed, "primary", "measurements", y.t)
        p = self.spec["per_year"]
        who = y.who
        adult = y.age >= 18
        ltc, dm = self.ltc[who], self.dm[who]
        codes = self.spec["codes"]
        rates = {
            "bp": np.where(ltc, p["bp_ltc"], np.where(y.age >= 40, p["bp_adult_40_plus"],
                                                      p["bp_adult_under_40"])) * adult,
            "bmi": np.where(ltc, p["bmi_ltc"], p["bmi_adult"]) * adult,
            "hba1c": np.where(dm, p["hba1c_diabetes"], p["hba1c_adult_40_plus"] * (y.age >= 40)),
            "smoking": p["smoking_adult"] * (y.age >= 16),
            "qrisk": np.where(self.cvdpp[who], p["qrisk_cvdpp"], p["qrisk_30_74"])
            * ((y.age >= 30) & (y.age < 75)),
        }  # fmt: skip
        smoke = read_json("smoking.json")["snomed"]
        vocabulary = [
            codes[k]["snomed"] for k in ("systolic", "diastolic", "bmi", "hba1c", "qrisk")
        ]
        vocabulary += [smoke["never"], smoke["ex"], smoke["current"]]  # by smoking status 0, 1, 2
        out: dict[str, list[np.ndarray]] = {"person": [], "day": [], "code": [], "value": []}

        def add(person: np.ndarray, day: np.ndarray, code: str, value: np.ndarray) -> None:
            out["person"].append(person)
            out["day"].append(day)
            out["code"].append(np.full(len(person), vocabulary.index(code), np.int32))
            out["value"].append(value)

        def blood_pressure(person: np.ndarray, day: np.ndarray) -> None:
            sys = self.true["systolic"][person] + r.normal(0, 7, len(person))
            dia = self.true["diastolic"][person] + r.normal(0, 5, len(person))
            add(person, day, codes["systolic"]["snomed"], np.round(sys))
            add(person, day, codes["diastolic"]["snomed"], np.round(np.minimum(dia, sys - 15)))

        def bmi(person: np.ndarray, day: np.ndarray) -> None:
            value = self.true["bmi"][person] + r.normal(0, 0.4, len(person))
            add(person, day, codes["bmi"]["snomed"], np.round(value, 1))

        def hba1c(person: np.ndarray, day: np.ndarray) -> None:
            hb = self.true["hba1c"][person] + r.normal(0, self.spec["hba1c"]["reading_sd"],
                                                       len(person))  # fmt: skip
            add(person, day, codes["hba1c"]["snomed"], np.round(np.clip(hb, 20, 150)))

        row, day = poisson_events(r, y, rates["bp"])
        blood_pressure(who[row], day)
        row, day = poisson_events(r, y, rates["bmi"])
        bmi(who[row], day)
        row, day = poisson_events(r, y, rates["hba1c"])
        hba1c(who[row], day)
        row, day = poisson_events(r, y, rates["qrisk"])
        high = self.cvdpp[who[row]]
        q = np.where(high, 10 + r.gamma(2.0, 4.0, len(row)), r.uniform(1, 9.9, len(row)))
        add(who[row], day, codes["qrisk"]["snomed"], np.round(q, 1))
        row, day = poisson_events(r, y, rates["smoking"])
        status = self.cond.smoking[who[row]].astype(np.int32)
        out["person"].append(who[row])
        out["day"].append(day)
        out["code"].append(vocabulary.index(smoke["never"]) + status)
        out["value"].append(np.full(len(row), np.nan))
        if checks is not None:
            for reading in (blood_pressure, bmi, hba1c):
                reading(*checks)
        events: dict[str, object] = {k: np.concatenate(v) for k, v in out.items()}
        events["code"] = Coded(vocabulary, events["code"])  # type: ignore[arg-type]
        return events  # type: ignore[return-value]


def gp_appointments(y: Year, seed: int) -> dict[str, object]:
    """Appointments by staff role, mode and status, at the GP stream's rate."""
    r = rng(seed, "primary", "appointments", y.t)
    spec = read_json("activity.json")["gp"]
    row, day = poisson_events(r, y, RateModel("gp").annual_rate(y))
    n = len(row)
    roles, p_role = categorical(spec["role"])
    modes = ["face_to_face", "telephone", "video", "home_visit"]
    mode_spec = dict(spec["mode"])
    mode_spec["face_to_face"] += mode_spec.pop("unknown_to_face")
    _, p_mode = categorical({m: mode_spec[m] for m in modes})
    mode = choice(r, p_mode, n)
    old = y.age[row] >= 85
    home = old & (r.random(n) < spec["home_visit_share_85_plus"])
    mode = np.where(home, modes.index("home_visit"), mode)
    statuses, p_status = categorical(spec["status"])
    return {
        "person": y.who[row],
        "day": day,
        "staff_role": Coded(roles, choice(r, p_role, n)),
        "mode": Coded(modes, mode),
        "status": Coded(statuses, choice(r, p_status, n)),
    }
