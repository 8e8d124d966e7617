"""People: who lives in the ICS, where, with which practice, and how that changes over the years.

Initial residents are drawn by sub-ICB location x sex x single year of age from the ONS mid-2022
estimates (scaled to the requested size), placed in the ICB's real LSOAs and registered with its
real practices in proportion to list size, preferring a practice in their own place. Births join
at the national crude birth rate; house moves and re-registrations happen each year. Deaths are
added later (mortality depends on conditions: see mortality.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from integrated_care.synth.core import NEVER, Calendar, choice, first_of_month, rng
from integrated_care.synth.footprint import Footprint
from integrated_care.synth.params import read_csv, read_json

PERSON_FIELDS = ("dob", "sex", "entry", "reg_start", "lsoa0", "practice0", "ethnicity", "latent",
                 "mother", "death")  # fmt: skip


@dataclass
class People:
    """Per-person arrays (index = person number) plus move and re-registration events."""

    dob: np.ndarray  # int32 day, first of month
    sex: np.ndarray  # int8: 1 male, 0 female
    entry: np.ndarray  # int32 day the person joins the simulated record
    reg_start: np.ndarray  # int32 day of the first registration
    lsoa0: np.ndarray  # int32 LSOA index at entry
    practice0: np.ndarray  # int32 practice index at entry
    ethnicity: np.ndarray  # int8 index into ETHNIC_CODES
    latent: np.ndarray  # float64 shared health factor (N(0,1)): correlates conditions and use
    mother: np.ndarray  # int32 mother's person index for births, -1 otherwise
    death: np.ndarray  # int32 day of death or NEVER
    move_person: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    move_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    move_lsoa: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    change_person: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    change_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    change_practice: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    @property
    def n(self) -> int:
        return len(self.dob)

    def subset(self, idx: np.ndarray) -> People:
        """The same people's per-person arrays for a subset (without move events)."""
        return People(**{k: getattr(self, k)[idx] for k in PERSON_FIELDS})

    def exit(self, end: int) -> np.ndarray:
        """Last day each person is in the record (death or the end of the window)."""
        return np.minimum(self.death, end)

    def final_lsoa(self) -> np.ndarray:
        """LSOA at death or at the end of the window (moves are time-ordered per person)."""
        lsoa = self.lsoa0.copy()
        order = np.lexsort((self.move_day, self.move_person))
        lsoa[self.move_person[order]] = self.move_lsoa[order]  # later moves overwrite earlier
        return lsoa


def ethnic_categories() -> tuple[list[str], np.ndarray]:
    demo = read_json("demography.json")
    rows = read_csv("ethnicity.csv")
    stated = np.array([float(r["census_2021_england_pct"]) for r in rows])
    z = demo["ethnicity_not_stated_pct"]
    p = np.append(stated / stated.sum() * (100 - z), z) / 100
    return [r["code"] for r in rows] + ["Z"], p


def _assign_practices(
    fp: Footprint, place: np.ndarray, r: np.random.Generator, prefer: float
) -> np.ndarray:
    """A practice for each person: in their own place with probability ``prefer``."""
    out = choice(r, fp.practice_weight, len(place)).astype(np.int32)
    local = r.random(len(place)) < prefer
    for k in range(len(fp.place_codes)):
        members = np.flatnonzero(local & (place == k))
        candidates = np.flatnonzero(fp.practice_place == k)
        if len(members) and len(candidates):
            pick = choice(r, fp.practice_weight[candidates], len(members))
            out[members] = candidates[pick]
    return out


def _lsoas_in(fp: Footprint, mask: np.ndarray, r: np.random.Generator, size: int) -> np.ndarray:
    candidates = np.flatnonzero(mask)
    return candidates[choice(r, fp.lsoa_weight[candidates], size)].astype(np.int32)


def initial_people(fp: Footprint, n: int, cal: Calendar, seed: int) -> People:
    """The ``n`` residents at the start of the window, by ONS sub-ICB location x sex x age."""
    r = rng(seed, "population", "initial")
    demo = read_json("demography.json")
    counts = fp.ons_counts
    cells = r.multinomial(n, (counts / counts.sum()).ravel())
    cell = np.repeat(np.arange(cells.size), cells)
    sicbl, sex, age = np.unravel_index(cell, counts.shape)
    age = age.astype(np.float64)
    top = age >= counts.shape[2] - 1  # the 90+ column: spread over 90-105
    age[top] += np.minimum(r.geometric(1 - demo["age_90_plus_decay"], top.sum()) - 1, 15)
    dob_exact = cal.start - np.floor((age + r.random(n)) * 365.25)
    dob = first_of_month(dob_exact.astype(np.int32))
    lsoa_sicbl = fp.lsoa_sicbl()
    lsoa = np.zeros(n, np.int32)
    for s in range(len(fp.sicbl_codes)):
        members = np.flatnonzero(sicbl == s)
        lsoa[members] = _lsoas_in(fp, lsoa_sicbl == s, r, len(members))
    practice = _assign_practices(fp, fp.lsoa_place[lsoa], r, demo["prefer_practice_in_own_place"])
    _, p_eth = ethnic_categories()
    years_registered = r.exponential(9.0, n)
    reg_start = np.maximum(dob, cal.start - np.floor(years_registered * 365.25)).astype(np.int32)
    return People(
        dob=dob,
        sex=sex.astype(np.int8),
        entry=np.full(n, cal.start, np.int32),
        reg_start=reg_start,
        lsoa0=lsoa,
        practice0=practice,
        ethnicity=choice(r, p_eth, n).astype(np.int8),
        latent=r.standard_normal(n),
        mother=np.full(n, -1, np.int32),
        death=np.full(n, NEVER, np.int32),
    )


def add_births(people: People, fp: Footprint, cal: Calendar, seed: int) -> People:
    """Babies born in each simulated year at the national crude birth rate, living with and
    registered at the practice of a mother drawn from the women aged 18-44."""
    r = rng(seed, "population", "births")
    demo = read_json("demography.json")
    n0 = people.n
    women = np.flatnonzero(
        (people.sex == 0)
        & ((cal.start - people.dob) >= 18 * 365.25)
        & ((cal.start - people.dob) < 44 * 365.25)
    )
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("dob", "mother", "entry")}
    for t in range(cal.years):
        lo, hi = cal.year_bounds(t)
        k = r.poisson(demo["crude_birth_rate_per_1000"] / 1000 * n0)
        born = (lo + np.floor(r.random(k) * (hi - lo + 1))).astype(np.int32)
        entry = born + r.integers(14, 43, k).astype(np.int32)
        keep = entry <= cal.end
        parts["dob"].append(first_of_month(born[keep]))
        parts["entry"].append(entry[keep])
        parts["mother"].append(women[r.integers(0, len(women), keep.sum())].astype(np.int32))
    dob = np.concatenate(parts["dob"])
    mother = np.concatenate(parts["mother"])
    entry = np.concatenate(parts["entry"])
    k = len(dob)
    _, p_eth = ethnic_categories()
    babies = People(
        dob=dob,
        sex=(r.random(k) < demo["male_share_at_birth"]).astype(np.int8),
        entry=entry,
        reg_start=entry,
        lsoa0=people.lsoa0[mother],
        practice0=people.practice0[mother],
        ethnicity=np.where(r.random(k) < 0.8, people.ethnicity[mother], choice(r, p_eth, k)).astype(
            np.int8
        ),
        latent=r.standard_normal(k),
        mother=mother,
        death=np.full(k, NEVER, np.int32),
    )
    return concat(people, babies)


def concat(a: People, b: People) -> People:
    return People(**{k: np.concatenate([getattr(a, k), getattr(b, k)]) for k in PERSON_FIELDS})


def simulate_moves(people: People, fp: Footprint, cal: Calendar, seed: int) -> None:
    """House moves within the ICS and practice changes, at most one of each per person-year."""
    r = rng(seed, "population", "moves")
    demo = read_json("demography.json")
    lsoa = people.lsoa0.copy()
    practice = people.practice0.copy()
    mp, md, ml, cp, cd, cx = [], [], [], [], [], []
    for t in range(cal.years):
        lo, hi = cal.year_bounds(t)
        present = np.flatnonzero(people.entry <= hi)
        start = np.maximum(people.entry[present], lo)
        movers = present[r.random(len(present)) < demo["annual_move_probability"]]
        mstart = np.maximum(people.entry[movers], lo)
        when = (mstart + np.floor(r.random(len(movers)) * (hi - mstart + 1))).astype(np.int32)
        old_place = fp.lsoa_place[lsoa[movers]]
        new = _lsoas_in(fp, np.ones(len(fp.lsoa_codes), bool), r, len(movers))
        local = r.random(len(movers)) < demo["move_within_place_share"]
        for k in range(len(fp.place_codes)):
            members = np.flatnonzero(local & (old_place == k))
            new[members] = _lsoas_in(fp, fp.lsoa_place == k, r, len(members))
        lsoa[movers] = new
        mp.append(movers), md.append(when), ml.append(new)
        changed_place = fp.lsoa_place[new] != old_place
        p_change = np.where(
            changed_place, demo["reregister_if_place_changes"], demo["reregister_if_same_place"]
        )
        rereg = r.random(len(movers)) < p_change
        who = movers[rereg]
        rday = np.minimum(when[rereg] + r.integers(0, 60, len(who)), hi).astype(np.int32)
        others = np.setdiff1d(present, movers, assume_unique=True)
        bg = others[r.random(len(others)) < demo["background_practice_change"]]
        bstart = np.maximum(people.entry[bg], lo)
        bday = (bstart + np.floor(r.random(len(bg)) * (hi - bstart + 1))).astype(np.int32)
        who = np.concatenate([who, bg])
        rday = np.concatenate([rday, bday])
        new_practice = _assign_practices(
            fp, fp.lsoa_place[lsoa[who]], r, demo["prefer_practice_in_own_place"]
        )
        same = new_practice == practice[who]
        alt = (new_practice + 1 + r.integers(0, len(fp.practice_codes) - 1, len(who))) % len(
            fp.practice_codes
        )
        new_practice = np.where(same, alt, new_practice).astype(np.int32)
        practice[who] = new_practice
        cp.append(who), cd.append(rday), cx.append(new_practice)
        del start
    people.move_person = np.concatenate(mp).astype(np.int32)
    people.move_day = np.concatenate(md).astype(np.int32)
    people.move_lsoa = np.concatenate(ml).astype(np.int32)
    people.change_person = np.concatenate(cp).astype(np.int32)
    people.change_day = np.concatenate(cd).astype(np.int32)
    people.change_practice = np.concatenate(cx).astype(np.int32)


def trim_after_death(people: People) -> None:
    """Drop moves and re-registrations dated after a person's death."""
    keep = people.move_day < people.death[people.move_person]
    people.move_person, people.move_day, people.move_lsoa = (
        people.move_person[keep], people.move_day[keep], people.move_lsoa[keep]
    )  # fmt: skip
    keep = people.change_day < people.death[people.change_person]
    people.change_person, people.change_day, people.change_practice = (
        people.change_person[keep], people.change_day[keep], people.change_practice[keep]
    )  # fmt: skip
