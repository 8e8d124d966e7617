"""Places of an ICS, and which place each PCN and practice belongs to.

Where an ICB has several sub-ICB locations, they are its places (named after their main local
authorities). Where it has one, its local authorities are the places; the reference data has no
practice-to-local-authority link, so whole PCNs are given to places by name, and otherwise so that
each place's registered list tracks its resident population. See docs/footprint.md.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from integrated_care.footprint import datafiles
from integrated_care.footprint.reference_tables import IcbRow, LsoaRow, PracticeRow

# A local authority with fewer of the ICB's LSOAs than this is a boundary sliver, not a place.
SLIVER_SHARE = 0.02
# A local authority names a sub-ICB location place if it holds this share of its LSOAs.
NAMING_SHARE = 0.2
NAMING_MAX_LAS = 3


@dataclass(frozen=True)
class PlanPlace:
    code: str
    name: str
    kind: str  # 'sub_icb_location' | 'local_authority'
    local_authority_code: str
    local_authority_name: str
    sicbl_code: str
    population: int
    population_basis: str


def short_la_name(name: str) -> str:
    """'Bristol, City of' -> 'Bristol'; 'Herefordshire, County of' -> 'Herefordshire'."""
    for suffix in (", City of", ", County of"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def join_names(names: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` in proportion to `weights` into whole numbers that sum to `total`."""
    whole = sum(weights)
    if whole == 0:
        return [0] * len(weights)
    exact = [total * w / whole for w in weights]
    parts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _la_names(lsoas: Iterable[LsoaRow]) -> dict[str, str]:
    return {r.la_code: short_la_name(r.la_name) for r in lsoas}


def sub_icb_places(
    icb: IcbRow,
    lsoas: Sequence[LsoaRow],
    sicbl_population: dict[str, int],
    sicbl_names: dict[str, str],
) -> tuple[list[PlanPlace], dict[str, str]]:
    """Sub-ICB locations as places; returns the places and each LSOA's place.

    A place is named as the CCG it succeeded ('Fylde and Wyre'), else after its main councils.
    """
    names = _la_names(lsoas)
    by_sicbl: dict[str, Counter[str]] = defaultdict(Counter)
    for r in lsoas:
        by_sicbl[r.sicbl_code][r.la_code] += 1
    places = []
    for code in sorted(icb.sicbl_codes):
        las = by_sicbl[code]
        total = sum(las.values())
        main = [la for la, n in las.most_common() if n >= NAMING_SHARE * total][:NAMING_MAX_LAS]
        main = main or [las.most_common(1)[0][0]]
        places.append(
            PlanPlace(
                code=code,
                name=sicbl_names.get(code) or join_names(sorted(names[la] for la in main)),
                kind="sub_icb_location",
                local_authority_code=las.most_common(1)[0][0],
                local_authority_name=names[las.most_common(1)[0][0]],
                sicbl_code=code,
                population=sicbl_population[code],
                population_basis="ONS mid-2022 estimate for the sub-ICB location",
            )
        )
    return places, {r.code: r.sicbl_code for r in lsoas}


def local_authority_places(
    icb: IcbRow, lsoas: Sequence[LsoaRow]
) -> tuple[list[PlanPlace], dict[str, str], dict[str, str]]:
    """Local authorities as places; returns places, each LSOA's place, each LA's place."""
    names = _la_names(lsoas)
    counts = Counter(r.la_code for r in lsoas)
    total = sum(counts.values())
    main = sorted(
        (la for la, n in counts.items() if n >= SLIVER_SHARE * total),
        key=lambda la: (-counts[la], la),
    )
    # No adjacency data: a sliver joins the largest place, which is where most such edges lie.
    la_place = {la: (la if la in main else main[0]) for la in counts}
    place_lsoas = Counter(la_place[la] for la in counts.elements())
    codes = sorted(main)
    populations = apportion(icb.population, [place_lsoas[c] for c in codes])
    places = [
        PlanPlace(
            code=la,
            name=names[la],
            kind="local_authority",
            local_authority_code=la,
            local_authority_name=names[la],
            sicbl_code=icb.sicbl_codes[0],
            population=pop,
            population_basis="ICB's ONS mid-2022 estimate shared by the place's LSOAs",
        )
        for la, pop in zip(codes, populations, strict=True)
    ]
    return places, {r.code: la_place[r.la_code] for r in lsoas}, la_place


def _aliases() -> dict[str, list[str]]:
    return datafiles.load("la_aliases.json")["aliases"]


def _la_patterns(la_names: dict[str, str]) -> dict[str, re.Pattern[str]]:
    """A whole-word pattern per local authority: its name, its parts and its aliases."""
    out = {}
    for code, name in la_names.items():
        words = {name, *re.split(r",\s*|\s+and\s+", name), *_aliases().get(code, [])}
        words = {w.strip() for w in words if len(w.strip()) > 2}
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        out[code] = re.compile(rf"(?<![\w']){'(?:' + alternatives + ')'}(?![\w'])", re.IGNORECASE)
    return out


def _named_place(
    unit_name: str | None, member_names: Sequence[str], patterns: dict[str, re.Pattern[str]]
) -> str | None:
    """The LA a PCN names (or most of its practices name), if exactly one."""
    if unit_name:
        hits = [la for la, p in patterns.items() if p.search(unit_name)]
        if len(hits) == 1:
            return hits[0]
    votes = Counter(
        hits[0]
        for name in member_names
        if len(hits := [la for la, p in patterns.items() if p.search(name)]) == 1
    )
    if votes:
        la, n = votes.most_common(1)[0]
        if n * 2 > len(member_names):
            return la
    return None


def allocate_to_local_authorities(
    practices: Sequence[PracticeRow],
    list_sizes: dict[str, int],
    places: Sequence[PlanPlace],
    la_place: dict[str, str],
    la_names: dict[str, str],
) -> dict[str, str]:
    """Each practice's place (by PCN, whole PCNs together) where places are local authorities."""
    units: dict[str, list[PracticeRow]] = defaultdict(list)
    for p in practices:
        units[p.pcn_code or f"practice:{p.code}"].append(p)
    patterns = _la_patterns(la_names)
    size = {u: sum(list_sizes.get(p.code, 0) for p in ps) for u, ps in units.items()}
    assigned: dict[str, str] = {}
    for unit, members in units.items():
        la = _named_place(members[0].pcn_name, [p.name for p in members], patterns)
        if la is not None:
            assigned[unit] = la_place[la]

    total_list = sum(size.values())
    total_pop = sum(p.population for p in places) or 1
    target = {p.code: total_list * p.population / total_pop for p in places}
    filled: Counter[str] = Counter()
    for unit, place in assigned.items():
        filled[place] += size[unit]
    for unit in sorted(set(units) - set(assigned), key=lambda u: (-size[u], u)):
        place = max(sorted(target), key=lambda c: target[c] - filled[c])
        assigned[unit] = place
        filled[place] += size[unit]
    return {p.code: assigned[u] for u, ps in units.items() for p in ps}


def allocate_to_sub_icb_locations(
    practices: Sequence[PracticeRow], list_sizes: dict[str, int]
) -> dict[str, str]:
    """Each practice's place where places are sub-ICB locations: its PCN's majority location.

    A PCN spanning two locations sits wholly in the one holding most of its practices (ties go
    to the larger registered list), so that place -> PCN -> practice is a tree.
    """
    by_pcn: dict[str, list[PracticeRow]] = defaultdict(list)
    for p in practices:
        if p.pcn_code:
            by_pcn[p.pcn_code].append(p)
    pcn_place = {}
    for pcn, members in by_pcn.items():
        votes = Counter(p.sicbl_code for p in members)
        lists = Counter({s: 0 for s in votes})
        for p in members:
            lists[p.sicbl_code] += list_sizes.get(p.code, 0)
        pcn_place[pcn] = max(sorted(votes), key=lambda s: (votes[s], lists[s]))
    return {p.code: pcn_place[p.pcn_code] if p.pcn_code else p.sicbl_code for p in practices}
