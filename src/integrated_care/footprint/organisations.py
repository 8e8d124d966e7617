"""Every member organisation of an ICS: NHS bodies, practices and PCNs, councils, partners.

NHS trusts come from the trust-to-ICB lookup (sites and practices in it are left out) plus a
curated table of the ambulance, mental health and community trusts the lookup leaves out.
Councils are the local authorities covering a real share of the ICB. Voluntary and independent
partners are made up from templates and flagged synthetic.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from integrated_care.footprint import datafiles
from integrated_care.footprint.places import SLIVER_SHARE, PlanPlace
from integrated_care.footprint.records import Organisation, Pcn, Practice
from integrated_care.footprint.reference_tables import IcbRow, ReferenceTables

NHS_TRUST_CODE = re.compile(r"^R[A-Z0-9]{2}$")
INDEPENDENT_ORG_CODE = re.compile(r"^[AN][A-Z0-9]{2}$")  # organisation-level, not a site


@dataclass(frozen=True)
class Geography:
    """What the organisations need to know about the ICB's places and councils."""

    places: Sequence[PlanPlace]
    la_names: dict[str, str]
    la_lsoas: Counter[str]  # the ICB's LSOAs in each local authority
    la_place: dict[str, str]


def classify_trust(code: str, name: str) -> str:
    """acute_trust / community_trust / mental_health_trust / ambulance_trust."""
    table = datafiles.load("trust_types.json")
    if code in table["by_code"]:
        return table["by_code"][code]
    lowered = name.lower()
    for rule in table["rules"]:
        if any(k in lowered for k in rule["keywords"]):
            return rule["org_type"]
    return table["default"]


def _org(
    code: str,
    name: str,
    org_type: str,
    sector: str,
    statutory: bool,
    parent: str | None,
    place: str | None = None,
    postcode: str | None = None,
) -> Organisation:
    return Organisation(code, name, org_type, sector, statutory, parent, place, postcode, False)


def _nhs_bodies(icb: IcbRow, short_name: str) -> list[Organisation]:
    multi = len(icb.sicbl_codes) > 1
    out = [_org(icb.code, icb.name, "icb", "nhs", True, None)]
    for s in sorted(icb.sicbl_codes):
        name = f"NHS {short_name} ICB - {s}"
        out.append(_org(s, name, "sub_icb_location", "nhs", True, icb.code, s if multi else None))
    return out


def _providers(icb: IcbRow, tables: ReferenceTables) -> list[Organisation]:
    """NHS trusts (lookup, then the curated additions) and independent organisations."""
    out: dict[str, Organisation] = {}
    for t in tables.trusts:
        if t.icb_code != icb.code or t.code in out:
            continue
        is_nhs = "NHS" in t.name or "National Health Service" in t.name
        if NHS_TRUST_CODE.match(t.code) and is_nhs:
            org_type = classify_trust(t.code, t.name)
            out[t.code] = _org(t.code, t.name, org_type, "nhs", True, icb.code)
        elif INDEPENDENT_ORG_CODE.match(t.code) and not is_nhs:
            out[t.code] = _org(t.code, t.name, "independent_provider", "private", False, icb.code)
    extra = datafiles.load("additional_trusts.json")
    for code in extra["by_icb"].get(icb.code, []):
        if code not in out:
            trust = extra["trusts"][code]
            out[code] = _org(code, trust["name"], trust["org_type"], "nhs", True, icb.code)
    return list(out.values())


def _councils(icb: IcbRow, tables: ReferenceTables, geo: Geography) -> list[Organisation]:
    total = sum(geo.la_lsoas.values())
    out = []
    for la, n in sorted(geo.la_lsoas.items()):
        # A council belongs if it covers a real share of the ICB, or the ICB covers most of it.
        if n >= SLIVER_SHARE * total or n * 2 > tables.la_lsoa_counts.get(la, n):
            name = f"{geo.la_names[la]} Council"
            out.append(
                _org(
                    la,
                    name,
                    "local_authority",
                    "local_government",
                    True,
                    icb.code,
                    geo.la_place[la],
                )
            )
    return out


def _synthetic_partners(
    icb: IcbRow, short_name: str, places: Sequence[PlanPlace]
) -> list[Organisation]:
    ranked = sorted(places, key=lambda p: (-p.population, p.code))
    out = []
    numbers: Counter[str] = Counter()
    for template in datafiles.load("providers.json")["providers"]:
        place = ranked[template["place_rank"] % len(ranked)]
        prefix = "X" if template["sector"] == "private" else "V"
        numbers[prefix] += 1
        name = template["name"].format(
            place=place.name, la=place.local_authority_name, system=short_name
        )
        out.append(
            Organisation(
                org_code=f"{prefix}{icb.code}{numbers[prefix]:02d}",
                name=name,
                org_type=template["org_type"],
                sector=template["sector"],
                statutory=False,
                parent_code=icb.code,
                place_code=place.code,
                postcode=None,
                synthetic=True,
            )
        )
    return out


def build_organisations(
    icb: IcbRow,
    short_name: str,
    tables: ReferenceTables,
    geo: Geography,
    pcns: Sequence[Pcn],
    practices: Sequence[Practice],
) -> tuple[Organisation, ...]:
    """All organisations, parents before children: a PCN's parent is its place's sub-ICB
    location; a practice's is its PCN (or that location if it is in no PCN)."""
    place_sicbl = {p.code: p.sicbl_code for p in geo.places}
    out = _nhs_bodies(icb, short_name) + _providers(icb, tables)
    out += [
        _org(p.code, p.name, "pcn", "nhs", False, place_sicbl[p.place_code], p.place_code)
        for p in pcns
    ]
    out += [
        _org(
            p.code,
            p.name,
            "gp_practice",
            "nhs",
            False,
            p.pcn_code or place_sicbl[p.place_code],
            p.place_code,
            p.postcode,
        )
        for p in practices
    ]
    out += _councils(icb, tables, geo)
    out += _synthetic_partners(icb, short_name, geo.places)
    return tuple(out)
