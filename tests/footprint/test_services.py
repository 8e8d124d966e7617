"""Building the footprint into the store and reading it back, on every backend."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from integrated_care.footprint import services
from integrated_care.footprint.models import FootprintPractice, Organisation
from integrated_care.footprint.reference_build import UnknownICB
from tests.footprint import reference_counts as ref


def test_no_footprint_means_no_summary(session) -> None:
    assert services.system_summary(session) is None
    assert services.overview(session) is None
    assert services.list_places(session) == []


def test_build_reports_the_reference_counts(session) -> None:
    steps: list[str] = []
    summary = services.build_footprint(session, "QE1", progress=steps.append)
    session.commit()
    assert steps == list(services.BUILD_STEPS)
    assert summary.practices == len(ref.practices("QE1")) == 202
    assert summary.pcns == len(ref.pcn_codes("QE1")) == 41
    assert summary.places == 8
    assert summary.lsoas == len(ref.lsoas("QE1"))
    assert summary.population == ref.population("QE1")
    missing = [r for r in ref.practices("QE1") if ref.list_size(r["PRACTICE_CODE"]) is None]
    assert summary.practices_without_list_size == len(missing)
    assert summary.organisations == sum(summary.organisations_by_sector.values())


def test_system_summary_of_the_test_icb(footprint_session) -> None:
    s = services.system_summary(footprint_session)
    assert s is not None
    assert (s.code, s.population, s.population_year) == ("QK1", ref.population("QK1"), "2022")
    assert s.n_practices == len(ref.practices("QK1"))
    assert s.n_pcns == len(ref.pcn_codes("QK1"))
    assert s.n_places == len(ref.sub_icb_locations("QK1")) == 3
    assert s.registered_patients == sum(
        ref.list_size(r["PRACTICE_CODE"]) or 0 for r in ref.practices("QK1")
    )
    assert s.synthetic_data is True
    assert s.region == "Midlands"


def test_rebuilding_the_same_icb_replaces_its_contents(footprint_session) -> None:
    before = services.system_summary(footprint_session)
    services.build_footprint(footprint_session, "QK1")
    footprint_session.commit()
    assert services.system_summary(footprint_session) == before


def test_a_different_icb_needs_replace(footprint_session) -> None:
    with pytest.raises(services.FootprintExists, match="QK1"):
        services.build_footprint(footprint_session, "QE1")
    footprint_session.rollback()
    summary = services.build_footprint(footprint_session, "QE1", replace=True)
    footprint_session.commit()
    assert summary.replaced == "QK1"
    s = services.system_summary(footprint_session)
    assert s is not None and s.code == "QE1" and s.n_practices == 202
    assert (
        footprint_session.scalar(
            select(func.count()).select_from(Organisation).where(Organisation.org_code == "RWE")
        )
        == 0
    )


def test_unknown_icb_stores_nothing(session) -> None:
    with pytest.raises(UnknownICB):
        services.build_footprint(session, "QZZ")
    assert services.system_summary(session) is None


def test_places_add_up_to_the_system(footprint_session) -> None:
    places = services.list_places(footprint_session)
    s = services.system_summary(footprint_session)
    assert s is not None
    assert sum(p.population for p in places) == s.population
    assert sum(p.n_practices for p in places) == s.n_practices
    assert sum(p.n_pcns for p in places) == s.n_pcns
    assert sum(p.registered_patients for p in places) == s.registered_patients
    assert places == sorted(places, key=lambda p: -p.population)


def test_place_detail(footprint_session) -> None:
    place = services.get_place(footprint_session, "04C")
    assert place is not None and place.name == "Leicester City"
    assert place.n_practices == len([r for r in ref.practices("QK1") if r["CCG_CODE"] == "04C"])
    assert place.n_lsoas == len([r for r in ref.lsoas("QK1") if r["sicbl_code"] == "04C"])
    assert sum(d.lsoas for d in place.imd_deciles) == place.n_lsoas
    assert [d.decile for d in place.imd_deciles] == list(range(1, 11))
    assert any(o.name == "Leicester Council" for o in place.local_authorities)
    assert sum(p.n_practices for p in place.pcns) + len(place.practices_without_pcn) == (
        place.n_practices
    )
    assert services.get_place(footprint_session, "NOPE") is None


def test_pcn_and_practice_detail(footprint_session) -> None:
    code = "U51667"
    members = [r for r in ref.practices("QK1") if r["PCN_CODE"] == code]
    pcn = services.get_pcn(footprint_session, code)
    assert pcn is not None
    assert {p.code for p in pcn.practices} == {r["PRACTICE_CODE"] for r in members}
    assert pcn.registered_patients == sum(ref.list_size(r["PRACTICE_CODE"]) or 0 for r in members)
    assert pcn.clinical_director and pcn.clinical_director.startswith("Dr ")
    practice = services.get_practice(footprint_session, members[0]["PRACTICE_CODE"])
    assert practice is not None
    assert practice.list_size == ref.list_size(members[0]["PRACTICE_CODE"])
    assert practice.postcode == members[0]["PRACTICE_POSTCODE"]
    assert practice.clinical_director == pcn.clinical_director
    assert services.get_pcn(footprint_session, "NOPE") is None
    assert services.get_practice(footprint_session, "NOPE") is None


def test_organisations(footprint_session) -> None:
    icb = services.get_organisation(footprint_session, "QK1")
    assert icb is not None and icb.org_type == "icb" and icb.parent is None
    assert icb.n_children > 10
    practice = services.get_organisation(footprint_session, "C82009")
    assert practice is not None and practice.parent is not None
    assert practice.parent.org_type == "pcn"
    voluntary = services.list_organisations(footprint_session, sector="voluntary")
    assert voluntary and {o.sector for o in voluntary} == {"voluntary"}
    assert all(o.synthetic for o in voluntary)
    trusts = services.list_organisations(footprint_session, org_type="acute_trust")
    assert [o.org_code for o in trusts] == ["RWE"]
    by_sector = {s.sector: s for s in services.organisations_by_sector(footprint_session)}
    assert by_sector["nhs"].by_type["gp_practice"] == len(ref.practices("QK1"))
    assert sum(s.organisations for s in by_sector.values()) == len(
        services.list_organisations(footprint_session)
    )
    n_practices = footprint_session.scalar(select(func.count()).select_from(FootprintPractice))
    assert by_sector["nhs"].by_type["gp_practice"] == n_practices
    assert services.get_organisation(footprint_session, "NOPE") is None
