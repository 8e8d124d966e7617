"""Outpatient appointments and referral-to-treatment pathways."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from integrated_care import reference
from integrated_care.synth.core import NEVER, choice, rng
from integrated_care.synth.health import RateModel, Year, poisson_events
from integrated_care.synth.hospital import Ids
from integrated_care.synth.params import categorical, read_json, unit_costs
from integrated_care.synth.providers import HospitalProviders
from integrated_care.synth.writer import Coded


@lru_cache(maxsize=1)
def _op_tariff() -> dict[tuple[str, bool], float]:
    """Single-professional first / follow-up costs by treatment function (T&O in the table)."""
    out = {}
    for r in reference.rows("op_costs.csv"):
        if r["op_attendance_code"] in ("WF01A", "WF01B"):
            out[(r["treatment_function_code"], r["op_attendance_code"] == "WF01B")] = float(
                r["op_cost"]
            )
    return out


def _specialties(r: np.random.Generator, age: np.ndarray) -> tuple[list[str], np.ndarray]:
    spec = read_json("activity.json")
    adult_codes, p_adult = categorical(spec["op_specialties_adult"])
    child_codes, p_child = categorical(spec["op_specialties_child"])
    codes = adult_codes + child_codes
    n = len(age)
    idx = np.where(age < 16, len(adult_codes) + choice(r, p_child, n), choice(r, p_adult, n))
    return codes, idx


def _statuses(r: np.random.Generator, spec: dict[str, float], dna_scale: np.ndarray) -> np.ndarray:
    """Index into ``spec``'s statuses (attended, did_not_attend, cancelled) per appointment: the
    did-not-attend probability scaled per row, attended taking up the difference."""
    p_dna = spec["did_not_attend"] * dna_scale
    p_cancelled = spec["cancelled"]
    u = r.random(len(dna_scale))
    keys = list(spec)
    return np.where(u < p_dna, keys.index("did_not_attend"),
                    np.where(u < p_dna + p_cancelled, keys.index("cancelled"),
                             keys.index("attended"))).astype(np.int64)  # fmt: skip


def op_appointments(y: Year, hosp: HospitalProviders, seed: int, ids: Ids) -> dict[str, object]:
    """Appointments at the usual acute trust or (some, in its specialties) the independent
    sector; the did-not-attend probability follows the provider's multiplier."""
    r = rng(seed, "hospital", "outpatients", y.t)
    spec = read_json("activity.json")["op"]
    row, day = poisson_events(r, y, RateModel("op").annual_rate(y))
    n = len(row)
    codes, tfc = _specialties(r, y.age[row])
    first = r.random(n) < spec["first_share"]
    provider = hosp.planned(r, y.who[row], np.array(codes)[tfc], "outpatients")
    status = _statuses(r, spec["status"], hosp.dna[provider.index])
    statuses = list(spec["status"])
    tariff = _op_tariff()
    base = unit_costs()["outpatient_attendance"]
    code_arr = np.array(codes)[tfc]
    cost = np.full(n, base)
    for (code, is_first), value in tariff.items():
        cost[(code_arr == code) & (first == is_first)] = value
    cost = np.where(status == statuses.index("attended"), cost, 0.0)
    return {
        "appointment_id": ids.take("op_appointments", n),
        "person": y.who[row],
        "provider_code": provider,
        "date": day,
        "treatment_function_code": Coded(codes, tfc),
        "first_attendance": first,
        "status": Coded(statuses, status),
        "cost": cost,
    }


def rtt_pathways(
    y: Year, hosp: HospitalProviders, death: np.ndarray, end: int, seed: int, ids: Ids
) -> dict[str, object]:
    """Clock starts at the RTT stream's rate; waits are log-normal (median 13 weeks times the
    provider's multiplier), so some exceed 52 weeks and some are still waiting at the end of the
    window."""
    r = rng(seed, "hospital", "rtt", y.t)
    spec = read_json("activity.json")["rtt"]
    row, day = poisson_events(r, y, RateModel("rtt").annual_rate(y))
    n = len(row)
    codes, tfc = _specialties(r, y.age[row])
    provider = hosp.planned(r, y.who[row], np.array(codes)[tfc], "rtt")
    median = spec["wait_weeks_median"] * 7 * hosp.rtt_wait[provider.index]
    wait = np.round(median * np.exp(r.normal(0, spec["wait_sigma"], n)))
    stop = (day + np.maximum(wait, 1)).astype(np.int64)
    stop = np.minimum(stop, death[y.who[row]])
    stop = np.where(stop > end, NEVER, stop).astype(np.int32)
    return {
        "pathway_id": ids.take("rtt_pathways", n),
        "person": y.who[row],
        "provider_code": provider,
        "treatment_function_code": Coded(codes, tfc),
        "clock_start_date": day,
        "clock_stop_date": stop,
    }
