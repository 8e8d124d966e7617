"""Which of the ICB's providers delivers each piece of hospital activity, and how each performs.

Emergency care, A&E and maternity go to the person's usual acute trust (their place's trust for
most people, another of the ICB's trusts for some); a share of planned care in the specialties the
independent sector does goes to an independent-sector hospital (the one in the person's place,
else a stable one); a share of type 3 attendances goes to an independent urgent care provider.
Rules and shares: data/providers.json.

Every hospital column uses one code list (acute trusts, then independent-sector hospitals, then
urgent care providers), so a provider's performance multipliers are indexed by ``Coded.index``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from integrated_care.synth.core import rng
from integrated_care.synth.footprint import Footprint
from integrated_care.synth.params import read_json
from integrated_care.synth.population import People
from integrated_care.synth.writer import Coded

USUAL_PLACE_SHARE = 0.85  # people whose usual acute trust is their place's


def _named(fp: Footprint, keywords: list[str], excluded: list[str]) -> list[tuple[str, str | None]]:
    """(code, place) of the independent providers whose name has a keyword, by code."""
    out = []
    for o in sorted(fp.data.organisations, key=lambda o: o.org_code):
        name = o.name.lower()
        if o.org_type != "independent_provider" or any(x in name for x in excluded):
            continue
        if any(k in name for k in keywords):
            out.append((o.org_code, o.place_code))
    return out


def _log_uniform(seed: int, code: str, bounds: list[float]) -> float:
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    return float(np.exp(lo + (hi - lo) * rng(seed, "provider-performance", code).random()))


@dataclass(frozen=True)
class HospitalProviders:
    codes: tuple[str, ...]
    usual: np.ndarray  # per person: index into codes of their usual acute trust
    independent: np.ndarray  # per person: index of their independent-sector hospital, -1 if none
    urgent_care: int  # index of the independent urgent care provider, -1 if none
    ae_time: np.ndarray  # per code: multiplier of type 1-2 time-in-department medians
    rtt_wait: np.ndarray  # per code: multiplier of the median RTT wait
    dna: np.ndarray  # per code: multiplier of the outpatient did-not-attend probability

    def acute(self, person: np.ndarray) -> Coded:
        """Each person's usual acute trust."""
        return Coded(self.codes, self.usual[person])

    def planned(
        self, r: np.random.Generator, person: np.ndarray, specialty: np.ndarray, kind: str
    ) -> Coded:
        """The usual acute trust, or for a share (by ``kind``: elective, outpatients, rtt) of the
        rows in independent-sector specialties, the person's independent-sector hospital."""
        spec = read_json("providers.json")["independent_sector"]
        eligible = np.isin(specialty, np.array(spec["specialties"]))
        moved = eligible & (r.random(len(person)) < spec["share_of_eligible"][kind])
        index = self.usual[person]
        target = self.independent[person]
        return Coded(self.codes, np.where(moved & (target >= 0), target, index))

    def type3(self, r: np.random.Generator, provider: Coded, dept: np.ndarray) -> Coded:
        """Moves a share of type 3 attendances to the urgent care provider, if there is one."""
        share = read_json("providers.json")["urgent_care"]["type3_share"]
        moved = (dept == 3) & (r.random(len(dept)) < share) & (self.urgent_care >= 0)
        return Coded(self.codes, np.where(moved, self.urgent_care, provider.index))


def hospital_providers(fp: Footprint, people: People, seed: int) -> HospitalProviders:
    spec = read_json("providers.json")
    indep = spec["independent_sector"]
    hospitals = _named(fp, indep["hospital_name_keywords"], indep["not_hospital_name_keywords"])
    urgent = _named(fp, spec["urgent_care"]["name_keywords"], [])
    urgent = [u for u in urgent if u[0] not in {h for h, _ in hospitals}]
    codes = (*fp.acute, *(h for h, _ in hospitals), *(u for u, _ in urgent[:1]))
    place = fp.lsoa_place[people.lsoa0]
    r = rng(seed, "providers", fp.acute[0])
    main = place % len(fp.acute)
    other = r.integers(0, len(fp.acute), people.n)
    usual = np.where(r.random(people.n) < USUAL_PLACE_SHARE, main, other).astype(np.int32)
    independent = np.full(people.n, -1, np.int32)
    if hospitals:
        local = {pl: k for k, (_, pl) in reversed(list(enumerate(hospitals)))}
        by_place = np.array(
            [local.get(p, i % len(hospitals)) for i, p in enumerate(fp.place_codes)]
        )
        independent = (len(fp.acute) + by_place[place]).astype(np.int32)
    perf = spec["performance"]
    kinds = ["acute_trust"] * len(fp.acute) + ["independent_sector"] * (len(codes) - len(fp.acute))

    def multipliers(name: str) -> np.ndarray:
        return np.array([_log_uniform(seed, f"{c}:{name}", perf[k][name])
                         for c, k in zip(codes, kinds, strict=True)])  # fmt: skip

    return HospitalProviders(
        codes=codes, usual=usual, independent=independent,
        urgent_care=len(codes) - 1 if urgent else -1,
        ae_time=multipliers("ae_time_multiplier"), rtt_wait=multipliers("rtt_wait_multiplier"),
        dna=multipliers("dna_multiplier"),
    )  # fmt: skip
