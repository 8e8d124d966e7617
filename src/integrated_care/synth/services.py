"""Community, mental-health and social-care services."""

from __future__ import annotations

import numpy as np

from integrated_care.synth.core import NEVER, choice, logistic, rng
from integrated_care.synth.health import RateModel, Year, poisson_events
from integrated_care.synth.hospital import Ids
from integrated_care.synth.params import categorical, condition_index, read_json, unit_costs
from integrated_care.synth.writer import Coded

MH_PRIORITY = ("MH", "DEM", "LD", "ALC", "DEP", "ANX")  # the condition that sets the service
MH_COST_ITEM = {"other": "mh_other"}
COMMUNITY_COST_ITEM = {"other": "community_other"}


def community_contacts(y: Year, provider: Coded, seed: int, ids: Ids) -> dict[str, object]:
    r = rng(seed, "services", "community", y.t)
    spec = read_json("activity.json")["community_services"]
    row, day = poisson_events(r, y, RateModel("community").annual_rate(y))
    n = len(row)
    services, p_young = categorical(spec["under_65"])
    _, p_old = categorical(spec["65_plus"])
    old = y.age[row] >= 65
    service = np.where(old, choice(r, p_old, n), choice(r, p_young, n))
    costs = unit_costs()
    price = np.array([costs[COMMUNITY_COST_ITEM.get(s, s)] for s in services])
    return {
        "contact_id": ids.take("community_contacts", n),
        "person": y.who[row],
        "provider_code": provider[y.who[row]],
        "date": day,
        "service": Coded(services, service),
        "cost": price[service],
    }


def mh_contacts(y: Year, provider: Coded, seed: int, ids: Ids) -> dict[str, object]:
    """Contacts at a rate set by the person's mental-health conditions (background otherwise),
    with the service mix of their leading condition."""
    r = rng(seed, "services", "mental-health", y.t)
    spec = read_json("activity.json")["mental_health"]
    index = condition_index()
    per_year = spec["contacts_per_year"]
    rate = np.where(y.age >= 16, per_year["none_16_plus"], per_year["none_under_16"])
    lead = np.full(len(y.who), len(MH_PRIORITY), np.int64)
    for k, key in reversed(list(enumerate(MH_PRIORITY))):
        has = y.present[:, index[key]]
        rate = rate + per_year[key] * has
        lead = np.where(has, k, lead)
    row, day = poisson_events(r, y, rate)
    n = len(row)
    services = ["talking_therapies", "community_mh_team", "crisis", "inpatient_day", "other"]
    service = np.zeros(n, np.int64)
    who_lead = lead[row]
    for k, key in enumerate((*MH_PRIORITY, "none")):
        rows = np.flatnonzero(who_lead == k)
        mix = spec["service"][key]
        p = np.array([mix.get(s, 0.0) for s in services])
        service[rows] = choice(r, p / p.sum(), len(rows))
    costs = unit_costs()
    price = np.array([costs[MH_COST_ITEM.get(s, s)] for s in services])
    return {
        "contact_id": ids.take("mh_contacts", n),
        "person": y.who[row],
        "provider_code": provider[y.who[row]],
        "date": day,
        "service": Coded(services, service),
        "cost": price[service],
    }


def social_care(
    y: Year, la_index: np.ndarray, death: np.ndarray, end: int, seed: int, ids: Ids
) -> dict[str, object]:
    """New council-funded services for adults, likelier with age, frailty and dementia; each
    lasts a service-specific time, ends at death, or is still open at the end of the window."""
    r = rng(seed, "services", "social-care", y.t)
    spec = read_json("activity.json")["social_care"]
    index = condition_index()
    lin = (
        spec["annual_start_logit_intercept"]
        + spec["age_log_or_per_year_over_65"]
        * np.maximum(y.age - 65, spec["age_effect_floor_years"])
        + spec["efi_log_or"] * y.efi
    )
    for key, log_or in spec["conditions_log_or"].items():
        lin = lin + log_or * y.present[:, index[key]]
    p = logistic(lin) * y.expo * (y.age >= spec["min_age"])
    row = np.flatnonzero(r.random(len(y.who)) < p)
    n = len(row)
    start = (y.start[row] + np.floor(r.random(n) * (y.stop[row] - y.start[row] + 1))).astype(
        np.int32
    )
    types, p_type = categorical(spec["service_type"])
    kind = choice(r, p_type, n)
    median = np.array([spec["duration_weeks_median"][t] for t in types])[kind]
    weeks = np.maximum(np.round(median * np.exp(r.normal(0, 0.6, n))), 1)
    stop = np.minimum(start + weeks * 7, death[y.who[row]])
    stop = np.where(stop > end, NEVER, stop).astype(np.int32)
    costs = unit_costs()
    weekly = np.array([costs[t] for t in types])[kind] * np.exp(r.normal(0, 0.15, n))
    return {
        "service_id": ids.take("social_care_services", n),
        "person": y.who[row],
        "local_authority": la_index[y.who[row]],
        "service_type": Coded(types, kind),
        "start_date": start,
        "end_date": stop,
        "weekly_cost": np.round(weekly, 2),
    }
