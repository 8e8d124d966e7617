"""``ics synth``: build a synthetic ICS and write it as the input layer.

Stages: population (people, births, moves) -> conditions and deaths (calibrated together) ->
registrations and identifiers -> care year by year (GP record, medicines, medication reviews
and SMI health checks, appointments, hospital, community, mental health, social care) ->
footprint, finance, contracts, workforce -> truth/. Each stage draws from its own seeded stream
(core.rng), so the same seed gives the same bytes.
"""

from __future__ import annotations

import json
import resource
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from integrated_care.synth import admissions, outpatients, primary_care, services
from integrated_care.synth.care_processes import CareProcesses
from integrated_care.synth.conditions import Conditions, assign_onsets
from integrated_care.synth.core import NEVER, Calendar, choice, rng
from integrated_care.synth.finance import write_finance
from integrated_care.synth.footprint import Footprint, load_footprint
from integrated_care.synth.health import RateModel, build_year, poisson_events
from integrated_care.synth.hospital import Ids, ae_attendances
from integrated_care.synth.identifiers import nhs_numbers, patient_ids
from integrated_care.synth.mortality import conditions_and_deaths, final_year_hazard
from integrated_care.synth.params import categorical, conditions, read_json, unit_costs
from integrated_care.synth.population import (
    People,
    add_births,
    ethnic_categories,
    initial_people,
    simulate_moves,
    trim_after_death,
)
from integrated_care.synth.progress import Stages
from integrated_care.synth.providers import HospitalProviders, hospital_providers
from integrated_care.synth.registrations import Registrations
from integrated_care.synth.writer import Coded, TableWriter, write_table

SEX_CODES = ("female", "male")
PLACES_OF_DEATH = ("hospital", "home", "care_home", "hospice", "other")


@dataclass(frozen=True)
class SynthConfig:
    icb: str
    out: Path
    population: int | None = None  # default: the ICB's ONS mid-2022 population
    years: int = 5
    seed: int = 1
    end_year: int = 2026  # the window ends on 31 March of this year


@dataclass
class SynthResult:
    people: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class _World:
    fp: Footprint
    cal: Calendar
    people: People
    decile: np.ndarray
    cond: Conditions
    regs: Registrations
    pid: np.ndarray
    hospital: HospitalProviders
    community: Coded
    mental_health: Coded
    la_index: np.ndarray
    death_place: np.ndarray
    death_cause: np.ndarray


def _providers(fp: Footprint, people: People, seed: int, codes: tuple[str, ...]) -> Coded:
    """Each person's usual provider: their place's main one (most people) or another."""
    r = rng(seed, "providers", codes[0])
    place = fp.lsoa_place[people.lsoa0]
    main = place % len(codes)
    other = r.integers(0, len(codes), people.n)
    return Coded(codes, np.where(r.random(people.n) < 0.85, main, other).astype(np.int32))


def _local_authorities(fp: Footprint, people: People) -> np.ndarray:
    """Index into ``fp.local_authorities`` of the council providing each person's social care:
    their place's council (the input layer keys social care by place council)."""
    place_la = [p.local_authority_code for p in fp.data.places]
    lookup = np.array([fp.local_authorities.index(la) for la in place_la])
    return lookup[fp.lsoa_place[people.final_lsoa()]]


def _deaths(cond: Conditions, people: People, cal: Calendar, seed: int):  # type: ignore[no-untyped-def]
    """Place and underlying cause (ICD-10) of each death."""
    r = rng(seed, "deaths")
    demo = read_json("demography.json")
    dead = people.death <= cal.end
    places, p = categorical(demo["place_of_death_shares"])
    place = np.full(people.n, -1, np.int64)
    idx = np.flatnonzero(dead)
    place[idx] = choice(r, p, len(idx))
    keys = {c.key: c.index for c in conditions()}
    in_care = cond.present[idx, keys["CAREREQ"]] | cond.present[idx, keys["DEM"]]
    to_home = in_care & (r.random(len(idx)) < 0.35)
    place[idx[to_home]] = places.index("care_home")
    cause = np.full(people.n, None, dtype=object)
    causes, pc = categorical(demo["general_causes_of_death"])
    cause[idx] = np.array(causes, dtype=object)[choice(r, pc, len(idx))]
    hr = np.array([c.mortality_log_hr if c.icd10 else 0.0 for c in conditions()])
    coded = np.array([c.icd10 is not None for c in conditions()])
    score = cond.present[idx] * coded * (hr + r.random((len(idx), len(hr))) * 0.3)
    has = score.max(axis=1) > 0.25
    # a secondary condition (metastatic cancer) is not an underlying cause: its primary is
    icd10 = {c.key: c.icd10 for c in conditions()}
    icd = np.array([icd10[c.requires or c.key] for c in conditions()], dtype=object)
    cause[idx[has]] = icd[score[has].argmax(axis=1)]
    return place, cause


def _build_world(cfg: SynthConfig, stages: Stages) -> _World:
    fp = load_footprint(cfg.icb)
    cal = Calendar(cfg.years, cfg.end_year)
    n = cfg.population or fp.population
    with stages.stage("people, births and moves"):
        people = initial_people(fp, n, cal, cfg.seed)
        people = add_births(people, fp, cal, cfg.seed)
        simulate_moves(people, fp, cal, cfg.seed)
        decile = fp.lsoa_decile[people.final_lsoa()]
    with stages.stage("conditions and deaths (calibrating)"):
        cond = conditions_and_deaths(people, decile, cal, cfg.seed)
        trim_after_death(people)
        assign_onsets(cond, people, cal, cfg.seed)
    regs = Registrations.build(people, cal.end)
    place, cause = _deaths(cond, people, cal, cfg.seed)
    return _World(
        fp=fp, cal=cal, people=people, decile=decile, cond=cond, regs=regs,
        pid=patient_ids(rng(cfg.seed, "identifiers", "patient"), people.n),
        hospital=hospital_providers(fp, people, cfg.seed),
        community=_providers(fp, people, cfg.seed, fp.community),
        mental_health=_providers(fp, people, cfg.seed, fp.mental_health),
        la_index=_local_authorities(fp, people), death_place=place, death_cause=cause,
    )  # fmt: skip


def _emergency_rate(w: _World) -> float:
    """Emergency admissions per 1,000 left for the background hazard once admissions ending in
    death (they follow the deaths already drawn) and readmissions are counted. Readmissions
    follow a share of elective discharges and, in turn, of all emergency discharges alive."""
    spec = read_json("activity.json")
    streams, readmit = spec["streams"], spec["readmission"]
    p = w.people
    years = (np.minimum(p.death, w.cal.end + 1) - p.entry).clip(0).sum() / 365.25
    terminal = (w.death_place == PLACES_OF_DEATH.index("hospital")).sum()
    not_terminal = streams["emergency"]["per_1000"] - 1000 * terminal / years
    after_elective = readmit["probability_after_elective"] * streams["elective"]["per_1000"]
    return not_terminal * (1 - readmit["probability_after_emergency"]) - after_elective


def generate(cfg: SynthConfig, show_progress: bool = True) -> SynthResult:
    """Build the synthetic ICS described by ``cfg`` and write it under ``cfg.out``."""
    started = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    result = SynthResult()
    with Stages(cfg.years + 6, show_progress) as stages:
        w = _build_world(cfg, stages)
        result.people = w.people.n
        with stages.stage("regular medicines"):
            meds = primary_care.regular_medicines(w.cond, w.people, w.cal, cfg.seed)
        costs = _care(cfg, w, out, stages, result, meds)
        with stages.stage("patients, footprint, finance, workforce"):
            _people_tables(cfg, w, out, result)
            current = (w.regs.end == NEVER) & (w.people.death[w.regs.person] > w.cal.end)
            counts = np.bincount(w.regs.practice[current], minlength=len(w.fp.practice_codes))
            registered = {str(c): int(k) for c, k in zip(w.fp.practice_codes, counts, strict=True)}
            result.rows.update(
                write_finance(out, w.fp, w.cal, costs, w.people, cfg.seed, registered)
            )
        with stages.stage("truth"):
            _truth(cfg, w, out, meds)
        result.timings = dict(stages.timings)
    result.seconds = time.perf_counter() - started
    result.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _practice(w: _World, person: np.ndarray, day: np.ndarray) -> Coded:
    return Coded(w.fp.practice_codes, w.regs.practice_on(person, day))


def _care(  # type: ignore[no-untyped-def]
    cfg: SynthConfig, w: _World, out: Path, stages: Stages, result: SynthResult,
    meds: primary_care.Medicines,
):  # fmt: skip
    """Activity year by year; returns final-year cost by (org code, stream) for finance."""
    names = ("gp_events", "gp_appointments", "medications", "ae_attendances", "apc_spells",
             "op_appointments", "rtt_pathways", "community_contacts", "mh_contacts",
             "social_care_services")  # fmt: skip
    writers = {k: TableWriter(out, k) for k in names}
    ids = Ids()
    p, cal, seed = w.people, w.cal, cfg.seed
    snomed = np.array([c.snomed_code for c in conditions()], dtype=object)
    with stages.stage("GP record history"):
        dx = primary_care.diagnosis_events(w.cond, cal, seed)
        writers["gp_events"].write({
            "patient_id": w.pid[dx["person"]], "date": dx["day"],
            "snomed_code": Coded(snomed, dx["code"]), "numeric_value": dx["value"],
            "practice_code": _practice(w, dx["person"], dx["day"]),
        })  # fmt: skip
    measures = primary_care.Measurements(w.cond, p, cal, seed)
    care = CareProcesses(w.cond, p, meds, cal, seed)
    terminal = w.death_place == PLACES_OF_DEATH.index("hospital")
    mothers = p.mother[p.mother >= 0]
    delivery = (p.entry[p.mother >= 0] - 28).astype(np.int32)
    emergency_rate = _emergency_rate(w)
    ae_rate = (
        read_json("activity.json")["streams"]["ae"]["per_1000"]
        - read_json("activity.json")["emergency_via_ae_share"]
        * read_json("activity.json")["streams"]["emergency"]["per_1000"]
    )
    costs: dict[tuple[str, str], float] = defaultdict(float)
    for t in range(cal.years):
        with stages.stage(f"care in {cal.financial_year(t)}"):
            y = build_year(t, p, w.cond, w.decile, cal, meds.start, meds.person)
            final = t == cal.years - 1
            ev = measures.events(y, care.smi_checks(y))
            writers["gp_events"].write({
                "patient_id": w.pid[ev["person"]], "date": ev["day"], "snomed_code": ev["code"],
                "numeric_value": ev["value"],
                "practice_code": _practice(w, ev["person"], ev["day"]),
            })  # fmt: skip
            mr = care.medication_reviews(y)
            writers["gp_events"].write({
                "patient_id": w.pid[mr["person"]], "date": mr["day"], "snomed_code": mr["code"],
                "numeric_value": np.full(len(mr["day"]), np.nan),
                "practice_code": _practice(w, mr["person"], mr["day"]),
            })  # fmt: skip
            iss = primary_care.medication_issues(meds, p, y, seed)
            writers["medications"].write({
                "patient_id": w.pid[iss["person"]], "date": iss["day"],
                "dmd_code": Coded(meds.codes, iss["medicine"]),
                "bnf_chapter": Coded(meds.chapters, iss["medicine"]),
                "practice_code": _practice(w, iss["person"], iss["day"]),
            })  # fmt: skip
            ap = primary_care.gp_appointments(y, seed)
            writers["gp_appointments"].write({
                "patient_id": w.pid[ap["person"]], "date": ap["day"],
                "practice_code": _practice(w, ap["person"], ap["day"]),
                "staff_role": ap["staff_role"], "mode": ap["mode"], "status": ap["status"],
            })  # fmt: skip
            spells = admissions.Spells()
            elective = admissions.electives(y, p.death, w.hospital, cal.end, seed, spells)
            ae_linked, _ = admissions.emergency_and_terminal(
                y, p.death, terminal, w.death_cause, w.hospital, cal.end, seed, spells, ids,
                emergency_rate, elective,
            )  # fmt: skip
            admissions.maternity(y, mothers, delivery, p.death, w.hospital, seed, spells,
                                 w.cond.present)  # fmt: skip
            apc = spells.columns(ids)
            writers["apc_spells"].write({**apc, "patient_id": w.pid[apc.pop("person")]})
            r = rng(seed, "hospital", "ae", t)
            row, day = poisson_events(r, y, RateModel("ae", ae_rate).annual_rate(y))
            ae = ae_attendances(r, y, row, day, np.zeros(len(row), bool),
                                w.hospital.acute(y.who[row]), w.hospital, ids)  # fmt: skip
            for part in (ae_linked, ae):
                writers["ae_attendances"].write({**part, "patient_id": w.pid[part.pop("person")]})
            op = outpatients.op_appointments(y, w.hospital, seed, ids)
            writers["op_appointments"].write({**op, "patient_id": w.pid[op.pop("person")]})
            rtt = outpatients.rtt_pathways(y, w.hospital, p.death, cal.end, seed, ids)
            writers["rtt_pathways"].write({**rtt, "patient_id": w.pid[rtt.pop("person")]})
            cc = services.community_contacts(y, w.community, seed, ids)
            writers["community_contacts"].write({**cc, "patient_id": w.pid[cc.pop("person")]})
            mh = services.mh_contacts(y, w.mental_health, seed, ids)
            writers["mh_contacts"].write({**mh, "patient_id": w.pid[mh.pop("person")]})
            sc = services.social_care(y, w.la_index, p.death, cal.end, seed, ids)
            sc_la = Coded(w.fp.local_authorities, sc.pop("local_authority"))
            writers["social_care_services"].write({
                **sc, "local_authority_code": sc_la, "patient_id": w.pid[sc.pop("person")],
            })  # fmt: skip
            if final:
                _add_costs(costs, "acute", apc["provider_code"], apc["cost"])
                for part in (ae_linked, ae):
                    _add_costs(costs, "acute", part["provider_code"], part["cost"])
                _add_costs(costs, "acute", op["provider_code"], op["cost"])
                _add_costs(costs, "community", cc["provider_code"], cc["cost"])
                _add_costs(costs, "mental_health", mh["provider_code"], mh["cost"])
                _add_costs(costs, "social_care", sc_la, sc["weekly_cost"] * 52 * 0.6)
                att = ap["status"].index == 0  # type: ignore[attr-defined]
                practice = _practice(w, ap["person"][att], ap["day"][att])
                _add_costs(costs, "primary_care", practice,
                           np.full(att.sum(), unit_costs()["gp_consultation"]))  # fmt: skip
    for k, wr in writers.items():
        wr.close()
        result.rows[k] = wr.rows
    return costs


def _add_costs(costs, stream: str, providers: Coded, values: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    codes = providers.codes.to_pylist()
    weights = np.asarray(values, np.float64)
    sums = np.bincount(providers.index, weights=weights, minlength=len(codes))
    for code, value in zip(codes, sums, strict=True):
        costs[(code, stream)] += float(value)


def _people_tables(cfg: SynthConfig, w: _World, out: Path, result: SynthResult) -> None:
    p, cal = w.people, w.cal
    demo = read_json("demography.json")
    r = rng(cfg.seed, "identifiers", "opt-outs")
    national = r.random(p.n) < demo["national_opt_out_rate"]
    type1 = np.where(national, r.random(p.n) < demo["type1_given_national_opt_out"],
                     r.random(p.n) < demo["type1_opt_out_rate"] * 0.5)  # fmt: skip
    codes, _ = ethnic_categories()
    lsoa = p.final_lsoa()
    result.rows["patients"] = write_table(out, "patients", {
        "patient_id": w.pid,
        "nhs_number": nhs_numbers(rng(cfg.seed, "identifiers", "nhs"), p.n).astype(str),
        "date_of_birth": p.dob, "sex": Coded(SEX_CODES, p.sex),
        "ethnicity": Coded(codes, p.ethnicity), "lsoa_code": Coded(w.fp.lsoa_codes, lsoa),
        "date_of_death": np.where(p.death <= cal.end, p.death, NEVER),
        "national_opt_out": national, "type1_opt_out": type1,
    })  # fmt: skip
    reg = w.regs
    result.rows["registrations"] = write_table(out, "registrations", {
        "patient_id": w.pid[reg.person], "practice_code": Coded(w.fp.practice_codes, reg.practice),
        "start_date": reg.start, "end_date": reg.end,
    })  # fmt: skip
    dead = np.flatnonzero(p.death <= cal.end)
    result.rows["deaths"] = write_table(out, "deaths", {
        "patient_id": w.pid[dead], "date_of_death": p.death[dead],
        "underlying_cause": w.death_cause[dead],
        "place_of_death": Coded(PLACES_OF_DEATH, w.death_place[dead]),
    })  # fmt: skip
    fp = w.fp
    alive = p.death > cal.end
    residents = np.bincount(lsoa[alive], minlength=len(fp.lsoa_codes))
    place_codes = np.array(fp.place_codes, dtype=object)
    result.rows["lsoas"] = write_table(out, "lsoas", {
        "lsoa_code": fp.lsoa_codes.astype(object), "place_code": place_codes[fp.lsoa_place],
        "imd_decile": fp.lsoa_decile.astype(np.int64), "population": residents.astype(np.int64),
    })  # fmt: skip
    result.rows["places"] = write_table(out, "places", {
        "place_code": [x.code for x in fp.data.places], "name": [x.name for x in fp.data.places],
        "local_authority_code": [x.local_authority_code for x in fp.data.places],
    })  # fmt: skip
    orgs = fp.data.organisations
    result.rows["organisations"] = write_table(out, "organisations", {
        "org_code": [o.org_code for o in orgs], "name": [o.name for o in orgs],
        "org_type": [o.org_type for o in orgs], "sector": [o.sector for o in orgs],
        "statutory": [o.statutory for o in orgs], "parent_code": [o.parent_code for o in orgs],
        "place_code": [o.place_code for o in orgs], "postcode": [o.postcode for o in orgs],
    })  # fmt: skip


def _truth(cfg: SynthConfig, w: _World, out: Path, meds: primary_care.Medicines) -> None:
    """truth/: each person's true probability of an emergency admission in the final year."""
    truth = out / "truth"
    truth.mkdir(exist_ok=True)
    p, cal = w.people, w.cal
    y = build_year(cal.years - 1, p, w.cond, w.decile, cal, meds.start, meds.person)
    # the first emergency admission comes from the background hazard or after an elective;
    # once admitted, readmissions add (1 / (1 - p) - 1) more on average
    readmit = read_json("activity.json")["readmission"]
    after_elective = readmit["probability_after_elective"] * RateModel("elective").annual_rate(y)
    rate = RateModel("emergency", _emergency_rate(w)).annual_rate(y) + after_elective
    chained = 1 / (1 - readmit["probability_after_emergency"])
    full_year = (y.hi - y.start + 1) / 365.25
    hazard = final_year_hazard(w.cond, p, w.decile, cal)[y.who]
    hospital_share = read_json("demography.json")["place_of_death_shares"]["hospital"]
    p_terminal = -np.expm1(-hazard) * hospital_share
    prob = 1 - np.exp(-rate * full_year) * (1 - p_terminal)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from integrated_care.synth.writer import OPTIONS

    table = pa.table({
        "patient_id": pa.array(w.pid[y.who]),
        "financial_year": pa.array([cal.financial_year(cal.years - 1)] * len(y.who)),
        "probability_emergency_admission": pa.array(np.round(prob, 6)),
        "expected_emergency_admissions": pa.array(np.round(rate * chained * full_year, 6)),
    })  # fmt: skip
    pq.write_table(table, truth / "emergency_admission_risk.parquet", **OPTIONS)
    params = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "window": {
            "start": str(np.datetime64(cal.start, "D")),
            "end": str(np.datetime64(cal.end, "D")),
        },
        "emergency_admissions_per_1000_from_hazard": round(_emergency_rate(w), 3),
        "hazard": read_json("activity.json")["streams"],
        "condition_intercepts": w.cond.intercepts,
        "mortality": read_json("demography.json")["mortality_log_hr"],
        "care_processes": read_json("care_processes.json"),
        "note": "never read by the loaders; for judging risk models against the best achievable",
    }  # fmt: skip
    params["config"].pop("out", None)
    (truth / "parameters.json").write_text(json.dumps(params, indent=1, sort_keys=True) + "\n")
