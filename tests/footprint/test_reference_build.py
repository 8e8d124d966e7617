"""The pure builder against counts taken directly from the reference CSVs."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import pytest

from integrated_care.footprint.reference_build import (
    UnknownICB,
    classify_trust,
    clinical_director_name,
    footprint_from_reference,
    list_icbs,
)
from integrated_care.footprint.reference_tables import reference_tables
from tests.footprint import reference_counts as ref

ALL_ICBS = ref.icb_codes()


def test_there_are_42_icbs() -> None:
    assert len(ALL_ICBS) == 42
    assert [c for c, _ in list_icbs()] == ALL_ICBS


@pytest.mark.parametrize("icb", ALL_ICBS)
def test_every_icb_matches_the_reference_files(icb: str) -> None:
    f = footprint_from_reference(icb)
    assert f.system.code == icb
    assert f.system.population == ref.population(icb)
    assert f.system.population_year == "2022"
    assert {p.code for p in f.practices} == {r["PRACTICE_CODE"] for r in ref.practices(icb)}
    assert {p.code for p in f.pcns} == ref.pcn_codes(icb)
    assert {lsoa.code for lsoa in f.lsoas} == {r["lsoa11_code"] for r in ref.lsoas(icb)}

    places = {p.code for p in f.places}
    if len(ref.sub_icb_locations(icb)) > 1:
        assert places == ref.sub_icb_locations(icb)
        assert {p.kind for p in f.places} == {"sub_icb_location"}
    else:
        assert places == ref.local_authorities_over(icb, 0.02)
        assert {p.kind for p in f.places} == {"local_authority"}
    assert sum(p.population for p in f.places) == f.system.population
    assert sum(lsoa.population for lsoa in f.lsoas) == f.system.population

    # system -> place -> PCN -> practice is a tree
    pcn_place = {p.code: p.place_code for p in f.pcns}
    for practice in f.practices:
        assert practice.place_code in places
        if practice.pcn_code:
            assert practice.place_code == pcn_place[practice.pcn_code]
    assert all(lsoa.place_code in places for lsoa in f.lsoas)
    for pcn in f.pcns:
        members = [p for p in f.practices if p.pcn_code == pcn.code]
        assert pcn.n_practices == len(members) > 0
        assert pcn.registered_patients == sum(p.list_size or 0 for p in members)
        assert pcn.clinical_director.startswith("Dr ")

    codes = [o.org_code for o in f.organisations]
    assert len(codes) == len(set(codes)), "organisation codes are unique"
    assert all(o.parent_code is None or o.parent_code in set(codes) for o in f.organisations)
    types = Counter(o.org_type for o in f.organisations)
    assert types["icb"] == 1
    assert types["pcn"] == len(f.pcns)
    assert types["gp_practice"] == len(f.practices)
    assert types["sub_icb_location"] == len(ref.sub_icb_locations(icb))
    assert types["ambulance_trust"] == 1
    assert types["acute_trust"] >= 1
    assert types["local_authority"] >= len(f.places) if f.places[0].kind == "local_authority" else 1
    assert types["vcse"] >= 3 and types["hospice"] == 1 and types["independent_provider"] >= 3


def test_synthetic_partners_are_marked_and_cannot_be_real_codes() -> None:
    real = {r["PRACTICE_CODE"] for r in ref._read("gp_practices_jan2022.csv")}
    real |= {r["der_provider_code"] for r in ref._read("nhs_trusts_by_icb.csv")}
    seen = set()
    for icb in ALL_ICBS:
        for o in footprint_from_reference(icb).organisations:
            if o.org_type in ("vcse", "hospice") or o.synthetic:
                assert o.synthetic and re.fullmatch(rf"[VX]{icb}\d\d", o.org_code), o
                assert o.org_code not in real and o.org_code not in seen
                seen.add(o.org_code)
    assert footprint_from_reference("QE1").system.synthetic_data is True


def test_lancashire_and_south_cumbria() -> None:
    f = footprint_from_reference("QE1")
    assert (len(f.places), len(f.pcns), len(f.practices)) == (8, 41, 202)
    assert len(ref.practices("QE1")) == 202 and len(ref.pcn_codes("QE1")) == 41
    names = {p.code: p.name for p in f.places}
    assert names["00R"] == "Blackpool" and names["02M"] == "Fylde and Wyre"
    blackpool = next(p for p in f.places if p.code == "00R")
    assert blackpool.population == 141574  # ONS mid-2022, sub-ICB location 00R


def test_bassetlaw_practices_follow_bassetlaw_into_nottinghamshire() -> None:
    # In January 2022 Bassetlaw's practices were in South Yorkshire (STP QF7); from July 2022
    # sub-ICB location 02Q is part of Nottingham and Nottinghamshire (QT1).
    bassetlaw = [r for r in ref._read("gp_practices_jan2022.csv") if r["CCG_CODE"] == "02Q"]
    assert bassetlaw and {r["STP_CODE"] for r in bassetlaw} == {"QF7"}
    qt1, qf7 = footprint_from_reference("QT1"), footprint_from_reference("QF7")
    in_02q = [p for p in qt1.practices if p.place_code == "02Q"]
    assert {p.code for p in in_02q} == {r["PRACTICE_CODE"] for r in bassetlaw}
    assert {p.place_code for p in qt1.pcns if p.code in {r["PCN_CODE"] for r in bassetlaw}} == {
        "02Q"
    }
    assert not {p.code for p in qf7.practices} & {r["PRACTICE_CODE"] for r in bassetlaw}
    assert len(qt1.practices) == len(
        [r for r in ref._read("gp_practices_jan2022.csv") if r["STP_CODE"] == "QT1"]
    ) + len(bassetlaw)


def test_practice_with_an_unknown_ccg_code_takes_its_pcns_location() -> None:
    tables = reference_tables()
    victim = next(p for p in tables.practices if p.sicbl_code == "04C" and p.pcn_code)
    edited = tuple(
        dataclasses.replace(p, sicbl_code="99Z") if p.code == victim.code else p
        for p in tables.practices
    )
    f = footprint_from_reference("QK1", dataclasses.replace(tables, practices=edited))
    moved = next(p for p in f.practices if p.code == victim.code)
    assert moved.sub_icb_location_code == "04C" and moved.place_code == "04C"


def test_single_sub_icb_location_uses_local_authorities_as_places() -> None:
    f = footprint_from_reference("QHG")  # Bedfordshire, Luton and Milton Keynes: one location
    assert {p.name for p in f.places} == {
        "Bedford",
        "Central Bedfordshire",
        "Luton",
        "Milton Keynes",
    }
    # Buckinghamshire's few LSOAs are a boundary sliver, not a place
    assert "E06000060" not in {p.code for p in f.places}
    assert {lsoa.place_code for lsoa in f.lsoas if lsoa.la_code == "E06000060"} <= {
        p.code for p in f.places
    }
    total_list = sum(p.list_size or 0 for p in f.practices)
    for place in f.places:
        registered = sum(p.list_size or 0 for p in f.practices if p.place_code == place.code)
        share = place.population / f.system.population
        assert abs(registered / total_list - share) < 0.05, place.name


def test_pcns_named_after_a_council_sit_in_its_place() -> None:
    f = footprint_from_reference("QMM")
    norwich = next(p for p in f.pcns if p.name == "NORWICH PCN")
    assert dict((p.code, p.name) for p in f.places)[norwich.place_code] == "Norwich"


def test_unknown_icb_names_the_code_and_the_valid_ones() -> None:
    with pytest.raises(UnknownICB) as caught:
        footprint_from_reference("QZZ")
    assert isinstance(caught.value, ValueError)
    assert "QZZ" in str(caught.value) and "QE1" in str(caught.value)
    assert len(caught.value.valid) == 42


def test_lower_case_codes_are_accepted() -> None:
    assert footprint_from_reference("qk1").system.code == "QK1"


def test_clinical_directors_are_stable_and_named() -> None:
    assert clinical_director_name("U51667") == clinical_director_name("U51667")
    names = {clinical_director_name(p.code) for p in footprint_from_reference("QHM").pcns}
    assert len(names) > 50  # 66 PCNs: names vary


@pytest.mark.parametrize(
    ("code", "name", "expected"),
    [
        ("RYF", "South Western Ambulance Service NHS Foundation Trust", "ambulance_trust"),
        ("RY8", "Derbyshire Community Health Services NHS Foundation Trust", "community_trust"),
        ("RXG", "South West Yorkshire Partnership NHS Foundation Trust", "mental_health_trust"),
        ("RW4", "Mersey Care NHS Foundation Trust", "mental_health_trust"),
        ("RXN", "Lancashire Teaching Hospitals NHS Foundation Trust", "acute_trust"),
    ],
)
def test_trusts_are_classified_from_their_names(code: str, name: str, expected: str) -> None:
    assert classify_trust(code, name) == expected


def test_trusts_come_from_the_lookup_and_sites_are_left_out() -> None:
    orgs = {o.org_code: o for o in footprint_from_reference("QK1").organisations}
    assert orgs["RWE"].org_type == "acute_trust" and orgs["RWE"].parent_code == "QK1"
    assert "NNJ07" not in orgs and "C82009" in orgs  # a site is not an organisation
    assert orgs["C82009"].org_type == "gp_practice"
    # the lookup's gaps are filled from the curated table
    assert orgs["RT5"].org_type == "mental_health_trust"
    assert orgs["RX9"].org_type == "ambulance_trust"
    assert {o.parent_code for o in orgs.values() if o.org_type.endswith("_trust")} == {"QK1"}
