"""Admitted patient care: emergency, elective and maternity spells, and terminal admissions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from integrated_care.synth.core import NEVER, choice, rng
from integrated_care.synth.health import RateModel, Year, poisson_events
from integrated_care.synth.hospital import (
    Ids,
    ae_attendances,
    emergency_diagnoses,
    hrg_costs,
    hrg_for,
    secondary_diagnoses,
)
from integrated_care.synth.params import categorical, read_csv, read_json, unit_costs
from integrated_care.synth.providers import HospitalProviders
from integrated_care.synth.writer import Coded


def _los_emergency(r: np.random.Generator, age: np.ndarray) -> np.ndarray:
    spec = read_json("activity.json")["emergency_los_days"]
    old = age >= 65
    zero = r.random(len(age)) < np.where(old, spec["zero_day_share_65_plus"],
                                         spec["zero_day_share_under_65"])  # fmt: skip
    mean = np.where(old, spec["mean_days_65_plus"], spec["mean_days_under_65"])
    return np.where(zero, 0, np.ceil(r.exponential(mean))).astype(np.int32)


def _destinations(r: np.random.Generator, n: int, died: np.ndarray, open_: np.ndarray):  # type: ignore[no-untyped-def]
    codes, p = categorical(read_json("activity.json")["discharge_destination"])
    dest = np.array(codes, dtype=object)[choice(r, p, n)]
    dest[died] = "79"
    dest[open_] = "98"
    return dest


class Spells:
    """Collects spell columns from several sources in one year, then emits them together."""

    def __init__(self) -> None:
        self.parts: list[dict[str, object]] = []

    def add(self, **cols: object) -> None:
        self.parts.append(cols)

    def columns(self, ids: Ids) -> dict[str, object]:
        def cat(k: str) -> np.ndarray | Coded:
            if isinstance(self.parts[0][k], Coded):
                return Coded.concat([p[k] for p in self.parts])  # type: ignore[misc]
            return np.concatenate([np.asarray(p[k], dtype=object if k in OBJ else None)
                                   for p in self.parts])  # fmt: skip

        out = {k: cat(k) for k in self.parts[0] if k != "present"}
        out["secondary_diagnoses"] = secondary_diagnoses(
            np.concatenate([p["present"] for p in self.parts])  # type: ignore[misc]
        )
        out["spell_id"] = ids.take("apc_spells", len(out["person"]))
        return out


OBJ = {"admission_method", "primary_diagnosis", "primary_procedure", "hrg_code",
       "discharge_destination", "provider_code"}  # fmt: skip


@dataclass
class Discharges:
    """Spells that can be followed by a readmission: rows of y.who and discharge days."""

    row: np.ndarray
    day: np.ndarray


def _readmissions(
    r: np.random.Generator, y: Year, index: Discharges, probability: float, risk: np.ndarray,
    people_death: np.ndarray, end: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Emergency admissions 0-29 days after the ``index`` discharges: on average ``probability``
    of them are followed by one, more often the higher the person's ``risk`` (their background
    emergency rate, per row of y.who), on a day drawn from a hazard falling exponentially after
    discharge (truncated at 30 days); none on or after the person's death or after the window."""
    spec = read_json("activity.json")["readmission"]
    window = spec["window_days"]
    n = len(index.row)
    weight = risk[index.row] ** spec["risk_exponent"]
    p = probability * weight / weight.mean() if n else weight
    hit = r.random(n) < np.minimum(p, spec["max_probability"])
    mean = spec["mean_days_to_readmission"]
    gap = np.floor(-mean * np.log1p(-r.random(n) * -np.expm1(-window / mean)))
    day = (index.day + np.minimum(gap, window - 1)).astype(np.int32)
    keep = hit & (day < people_death[y.who[index.row]]) & (day <= end)
    return index.row[keep], day[keep]


def _emergency_spells(
    r: np.random.Generator, y: Year, row: np.ndarray, day: np.ndarray, people_death: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Discharge day (the death day for those who die first) and whether they died."""
    discharge = day + _los_emergency(r, y.age[row])
    death = people_death[y.who[row]]
    died = discharge >= death
    return np.where(died, death, discharge), died


def emergency_and_terminal(
    y: Year, people_death: np.ndarray, terminal: np.ndarray, terminal_cause: np.ndarray,
    hosp: HospitalProviders, end: int, seed: int, spells: Spells, ids: Ids, per_1000: float,
    electives: Discharges,
) -> tuple[dict[str, object], np.ndarray]:  # fmt: skip
    """Emergency spells at ``per_1000`` (the rate before readmissions), readmissions after this
    year's elective and emergency discharges (readmissions can be readmitted in turn), admissions
    ending in death for ``terminal`` people, and the A&E attendances of those arriving through
    A&E. Returns (A&E columns, spell rows of y.who)."""
    r = rng(seed, "hospital", "emergency", y.t)
    spec = read_json("activity.json")
    readmit = spec["readmission"]
    risk = RateModel("emergency", per_1000).annual_rate(y)
    row, day = poisson_events(r, y, risk)
    discharge, died = _emergency_spells(r, y, row, day, people_death)
    parts = [(row, day, discharge, died)]
    back, back_day = _readmissions(r, y, electives, readmit["probability_after_elective"], risk,
                                   people_death, end)  # fmt: skip
    for _ in range(readmit["max_generations"]):
        alive = ~died & (discharge <= end)
        more, more_day = _readmissions(
            r, y, Discharges(row[alive], discharge[alive]),
            readmit["probability_after_emergency"], risk, people_death, end,
        )  # fmt: skip
        row, day = np.concatenate([back, more]), np.concatenate([back_day, more_day])
        back, back_day = back[:0], back_day[:0]
        if not len(row):
            break
        discharge, died = _emergency_spells(r, y, row, day, people_death)
        parts.append((row, day, discharge, died))
    row, day, discharge, died = (np.concatenate(x) for x in zip(*parts, strict=True))
    icd, root = emergency_diagnoses(r, y.present[row], y.age[row])
    # terminal admissions: people of this year who die in hospital
    tpos = np.flatnonzero(terminal[y.who] & (people_death[y.who] <= y.hi))
    tdeath = people_death[y.who[tpos]]
    tlos = np.ceil(r.exponential(spec["terminal_spell_mean_days"], len(tpos))).astype(np.int32)
    tday = np.maximum(tdeath - tlos, y.start[tpos])
    row = np.concatenate([row, tpos])
    day = np.concatenate([day, tday]).astype(np.int32)
    discharge = np.concatenate([discharge, tdeath]).astype(np.int32)
    died = np.concatenate([died, np.ones(len(tpos), bool)])
    icd = np.concatenate([icd, terminal_cause[y.who[tpos]]])
    root = np.concatenate([root, np.full(len(tpos), "WJ06", dtype=object)])
    m = len(row)
    complexity = y.present[row].sum(axis=1)
    hrg, cost = hrg_for(root, complexity)
    via_ae = r.random(m) < spec["emergency_via_ae_share"]
    other, p_other = categorical(spec["emergency_methods"])
    method = np.where(via_ae, "21", np.array(other, dtype=object)[choice(r, p_other, m)])
    open_ = discharge > end
    provider = hosp.acute(y.who[row])
    spells.add(
        person=y.who[row], provider_code=provider, admission_date=day,
        discharge_date=np.where(open_, NEVER, discharge), admission_method=method,
        primary_diagnosis=icd, primary_procedure=np.full(m, None, dtype=object), hrg_code=hrg,
        cost=cost, discharge_destination=_destinations(r, m, died, open_),
        present=y.present[row],
    )  # fmt: skip
    ae_rows = np.flatnonzero(via_ae)
    ae = ae_attendances(r, y, row[ae_rows], day[ae_rows], np.ones(len(ae_rows), bool),
                        provider[ae_rows], hosp, ids)  # fmt: skip
    return ae, row


def electives(
    y: Year, people_death: np.ndarray, hosp: HospitalProviders, end: int, seed: int,
    spells: Spells,
) -> Discharges:  # fmt: skip
    """Elective spells, the procedure drawn in proportion to its weight among those the person's
    age allows; returns the spells discharged alive within the window (for readmissions)."""
    r = rng(seed, "hospital", "elective", y.t)
    spec = read_json("activity.json")["elective"]
    row, day = poisson_events(r, y, RateModel("elective").annual_rate(y))
    procs = read_csv("elective_procedures.csv")
    age = y.age[row]
    n = len(row)
    weights = np.array([float(p["weight"]) for p in procs])
    min_age = np.array([float(p["min_age"]) for p in procs])
    # exponential race: the smallest Exp(1) / weight among the allowed wins with probability
    # weight / (sum of allowed weights)
    race = r.exponential(size=(n, len(procs))) / weights[None, :]
    pick = np.where(age[:, None] >= min_age[None, :], race, np.inf).argmin(axis=1)
    day_case = np.array([p["day_case"] == "1" for p in procs])[pick]
    los = np.where(
        day_case, 0, 1 + r.poisson(read_json("activity.json")["elective_ordinary_mean_days"] - 1, n)
    )
    discharge = (day + los).astype(np.int32)
    death = people_death[y.who[row]]
    died = discharge >= death
    discharge = np.minimum(discharge, death)
    table = hrg_costs()
    hrg = np.array([table[p["hrg_code"]][-1][0] if p["hrg_code"] in table else p["hrg_code"] + "Z"
                    for p in procs], dtype=object)[pick]  # fmt: skip
    costs = unit_costs()
    methods, p_method = categorical(spec["methods"])
    open_ = discharge > end
    specialty = np.array([p["treatment_function_code"] for p in procs])[pick]
    spells.add(
        person=y.who[row], provider_code=hosp.planned(r, y.who[row], specialty, "elective"),
        admission_date=day.astype(np.int32),
        discharge_date=np.where(open_, NEVER, discharge), admission_method=np.array(
            methods, dtype=object)[choice(r, p_method, n)],
        primary_diagnosis=np.array([p["icd10"] for p in procs], dtype=object)[pick],
        primary_procedure=np.array([p["opcs4"] for p in procs], dtype=object)[pick],
        hrg_code=hrg, cost=np.where(day_case, costs["day_case"], costs["elective_episode"]),
        discharge_destination=_destinations(r, n, died, open_), present=y.present[row],
    )  # fmt: skip
    alive = ~died & ~open_
    return Discharges(row[alive], discharge[alive])


def maternity(
    y: Year, mothers: np.ndarray, delivery_day: np.ndarray, death: np.ndarray,
    hosp: HospitalProviders, seed: int, spells: Spells, present: np.ndarray,
) -> None:  # fmt: skip
    """Delivery spells for the year's births, and antenatal admissions."""
    r = rng(seed, "hospital", "maternity", y.t)
    spec = read_json("activity.json")
    mat = spec["maternity"]
    ok = (delivery_day >= y.lo) & (delivery_day <= y.hi) & (death[mothers] > delivery_day)
    mum, day = mothers[ok], delivery_day[ok]
    k = len(mum)
    extra = r.random(k) < spec["maternity_spells_per_birth"] - 1
    caes = r.random(k) < mat["caesarean_share"]
    costs = unit_costs()
    for kind, who, when, los in (
        ("birth", mum, day, np.where(caes, 3, 1)),
        ("antenatal", mum[extra], np.maximum(day[extra] - r.integers(7, 120, extra.sum()), y.lo),
         np.ones(extra.sum(), int)),
    ):  # fmt: skip
        m = len(who)
        if kind == "birth":
            icd = np.where(caes, mat["caesarean"]["icd10"], mat["delivery"]["icd10"])
            opcs = np.where(caes, mat["caesarean"]["opcs4"], mat["delivery"]["opcs4"])
            hrg = np.where(caes, mat["caesarean"]["hrg"], mat["delivery"]["hrg"])
            cost = np.full(m, costs["maternity_delivery_spell"])
        else:
            icd = np.full(m, mat["antenatal"]["icd10"])
            opcs = np.full(m, None, dtype=object)
            hrg = np.full(m, mat["antenatal"]["hrg"])
            cost = np.full(m, costs["non_elective_episode"])
        spells.add(
            person=who, provider_code=hosp.acute(who), admission_date=when.astype(np.int32),
            discharge_date=(when + los).astype(np.int32),
            admission_method=np.full(m, "31", dtype=object), primary_diagnosis=icd.astype(object),
            primary_procedure=opcs.astype(object), hrg_code=hrg.astype(object), cost=cost,
            discharge_destination=np.full(m, "19", dtype=object), present=present[who],
        )  # fmt: skip
