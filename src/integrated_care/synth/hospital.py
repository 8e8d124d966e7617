"""Hospital activity (SUS-shaped): A&E, admitted spells, outpatients, referral-to-treatment.

Volumes follow the hazard in health.py at the national crude rates; 70% of emergency admissions
arrive through A&E (their attendance is generated with the spell), so the remaining A&E stream is
scaled down to keep A&E at its national rate. Diagnoses follow the person's conditions, HRG costs
come from the shipped reference cost tables (data/unit_costs.csv for what those lack).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from integrated_care import reference
from integrated_care.synth.core import choice
from integrated_care.synth.health import Year
from integrated_care.synth.params import categorical, conditions, read_csv, read_json, unit_costs
from integrated_care.synth.providers import HospitalProviders
from integrated_care.synth.writer import Coded

MINUTE_US = 60_000_000
DAY_US = 86_400_000_000


@dataclass
class Ids:
    """Running row ids per table, so ids are unique across years."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, table: str, n: int) -> np.ndarray:
        start = self.next.get(table, 1)
        self.next[table] = start + n
        return np.arange(start, start + n, dtype=np.int64)


@lru_cache(maxsize=1)
def hrg_costs() -> dict[str, list[tuple[str, float]]]:
    """Non-elective HRG root -> [(code, cost)] ordered from highest complexity (suffix A)."""
    out: dict[str, list[tuple[str, float]]] = {}
    for r in reference.rows("non_elective_costs_2324.csv"):
        if not r["non_elec_cost"].replace(".", "", 1).isdigit():
            continue  # '-': no cost published for this HRG
        out.setdefault(r["hrg_code"][:4], []).append((r["hrg_code"], float(r["non_elec_cost"])))
    return {k: sorted(v) for k, v in out.items()}


@lru_cache(maxsize=1)
def ed_costs() -> dict[tuple[str, int], float]:
    return {(r["hrg_code"], int(r["dept_type"])): float(r["ed_cost"])
            for r in reference.rows("ed_costs.csv")}  # fmt: skip


def hrg_for(roots: np.ndarray, complexity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HRG code and cost: more comorbidity picks a higher-complexity split of the root."""
    codes = np.empty(len(roots), dtype=object)
    cost = np.zeros(len(roots))
    table = hrg_costs()
    for root in np.unique(roots):
        rows = np.flatnonzero(roots == root)
        splits = table.get(root, [(f"{root}Z", unit_costs()["non_elective_episode"])])
        pos = np.clip(len(splits) - 1 - complexity[rows] // 2, 0, len(splits) - 1)
        codes[rows] = np.array([s[0] for s in splits], dtype=object)[pos]
        cost[rows] = np.array([s[1] for s in splits])[pos]
    return codes, cost


MAX_SECONDARY = 6


def secondary_diagnoses(present: np.ndarray) -> pa.Array:
    """Pipe-separated ICD-10 codes of up to six of each row's conditions (null if none).

    Rows are keyed by a bitmask of their conditions so each string is built once per distinct
    combination, not once per row.
    """
    coded = [c for c in conditions() if c.icd10]
    bits = np.zeros(len(present), np.uint64)
    for k, c in enumerate(coded):
        bits |= present[:, c.index].astype(np.uint64) << np.uint64(k)
    combos, inverse = np.unique(bits, return_inverse=True)
    text = []
    names = [c.icd10 for c in coded]
    for key in combos.tolist():
        codes = []
        while key and len(codes) < MAX_SECONDARY:
            low = key & -key  # the lowest set bit: the next condition in file order
            codes.append(names[low.bit_length() - 1])
            key ^= low
        text.append("|".join(codes) or None)  # type: ignore[arg-type]
    return pc.take(pa.array(text, pa.string()), pa.array(inverse.ravel().astype(np.int32)))


@lru_cache(maxsize=1)
def _diagnoses() -> list[dict[str, str]]:
    return read_csv("emergency_diagnoses.csv")


def emergency_diagnoses(
    r: np.random.Generator, present: np.ndarray, age: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(ICD-10, HRG root) per spell: often an exacerbation of one of the person's conditions."""
    rows = _diagnoses()
    index = {c.key: c.index for c in conditions()}
    specific = [x for x in rows if x["condition"]]
    general = [x for x in rows if not x["condition"]]
    n = len(age)
    icd = np.empty(n, dtype=object)
    root = np.empty(n, dtype=object)
    for lo, hi, mask in (
        (0, 14, age < 15),
        (15, 59, (age >= 15) & (age < 60)),
        (60, 120, age >= 60),
    ):
        ok = [x for x in general if float(x["min_age"]) <= hi and float(x["max_age"]) >= lo]
        pick = choice(r, np.array([float(x["weight"]) for x in ok]), n)
        icd[mask] = np.array([x["icd10"] for x in ok], dtype=object)[pick[mask]]
        root[mask] = np.array([x["hrg_root"] for x in ok], dtype=object)[pick[mask]]
    cand = np.stack(
        [present[:, index[x["condition"]]] & (age >= float(x["min_age"])) for x in specific], axis=1
    )
    score = cand * r.random(cand.shape)
    use = cand.any(axis=1) & (r.random(n) < 0.55)
    which = score.argmax(axis=1)
    icd[use] = np.array([x["icd10"] for x in specific], dtype=object)[which[use]]
    root[use] = np.array([x["hrg_root"] for x in specific], dtype=object)[which[use]]
    return icd, root


def _timestamps(r: np.random.Generator, days: np.ndarray) -> np.ndarray:
    hours = read_json("activity.json")["ae"]["arrival_hour_weights"]
    hour = choice(r, np.array(hours, dtype=np.float64), len(days))
    minute = np.floor(r.random(len(days)) * 60)
    return days.astype(np.int64) * DAY_US + (hour * 60 + minute).astype(np.int64) * MINUTE_US


def _lengths_of_stay(
    r: np.random.Generator, kind: str, n: int, scale: np.ndarray | float = 1.0
) -> np.ndarray:
    spec = read_json("activity.json")["ae"]["los_minutes_lognormal"][kind]
    minutes = spec["median"] * scale * np.exp(r.normal(0, spec["sigma"], n))
    return np.maximum(np.round(minutes), 5).astype(np.int64)


def ae_attendances(
    r: np.random.Generator, y: Year, row: np.ndarray, day: np.ndarray, admitted: np.ndarray,
    provider: Coded, hosp: HospitalProviders, ids: Ids,
) -> dict[str, object]:  # fmt: skip
    """A&E attendances for rows of the year (admitted ones arrive on their admission day), at
    ``provider`` (some type 3 ones move to an urgent care provider); type 1-2 times in the
    department follow the provider's performance multiplier."""
    spec = read_json("activity.json")["ae"]
    n = len(row)
    types, p_type = categorical(spec["department_type"])
    dept = np.where(admitted, 1, np.array(types, dtype=np.int64)[choice(r, p_type, n)])
    _, p_acuity = categorical(spec["acuity"])
    _, p_adm = categorical(spec["admitted_acuity"])
    acuity = np.where(admitted, choice(r, p_adm, n) + 1, choice(r, p_acuity, n) + 1)
    disposals, p_disp = categorical(spec["non_admitted_disposal"])
    all_disposals = ["admitted", *disposals]
    disposal = np.where(admitted, 0, choice(r, p_disp, n) + 1)
    provider = hosp.type3(r, provider, dept)
    scale = hosp.ae_time[provider.index]
    los = np.where(
        dept == 3, _lengths_of_stay(r, "type3", n),
        np.where(admitted, _lengths_of_stay(r, "type1_admitted", n, scale),
                 _lengths_of_stay(r, "type1_not_admitted", n, scale)),
    )  # fmt: skip
    left = disposal == all_disposals.index("left_before_treatment")
    los = np.where(left, np.maximum(los // 2, 5), los)
    arrival = _timestamps(r, day)
    hrg = np.where(
        dept == 3,
        spec["type3_hrg"],
        np.array([spec["acuity_hrg_type1"][str(a)] for a in range(1, 6)])[acuity - 1],
    )
    table = ed_costs()
    key = np.char.add(hrg.astype(str), dept.astype(str))
    uniq, inv = np.unique(key, return_inverse=True)
    lookup = {
        f"{h}{d}": table[(h, 3 if int(d) == 3 else 1)] for h, d in ((k[:5], k[5:]) for k in uniq)
    }
    cost = np.array([lookup[k] for k in uniq])[inv]
    codes = read_csv("ae_codes.csv")
    complaints = [x for x in codes if x["kind"] == "complaint"]
    diagnoses = [x for x in codes if x["kind"] == "diagnosis"]
    return {
        "attendance_id": ids.take("ae_attendances", n),
        "person": y.who[row],
        "provider_code": provider,
        "arrival_time": arrival,
        "departure_time": arrival + los * MINUTE_US,
        "department_type": dept.astype(np.int64),
        "acuity": acuity.astype(np.int64),
        "chief_complaint": Coded([x["snomed_code"] for x in complaints],
                                 choice(r, np.array([float(x["weight"]) for x in complaints]), n)),
        "diagnosis": Coded([x["snomed_code"] for x in diagnoses],
                           choice(r, np.array([float(x["weight"]) for x in diagnoses]), n)),
        "disposal": Coded(all_disposals, disposal),
        "cost": cost,
    }  # fmt: skip
