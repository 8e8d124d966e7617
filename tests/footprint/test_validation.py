"""Each validation rule fires on a deliberately broken store and names what is wrong."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from integrated_care.footprint.models import (
    FootprintLsoa,
    FootprintPcn,
    FootprintPractice,
    FootprintSystem,
    Organisation,
)
from integrated_care.footprint.services import validate_footprint


def _by_rule(session, rule: str):  # type: ignore[no-untyped-def]
    return [f for f in validate_footprint(session) if f.rule == rule]


def test_the_real_footprint_has_no_errors(footprint_session) -> None:
    findings = validate_footprint(footprint_session)
    assert [f for f in findings if f.severity == "error"] == []
    rules = {f.rule for f in findings}
    assert rules <= {"pcn_size", "practice_without_pcn", "practice_without_list_size"}


def test_empty_store_is_an_error(session) -> None:
    assert [f.rule for f in validate_footprint(session)] == ["no_footprint"]


def test_pcn_without_clinical_director(footprint_session) -> None:
    footprint_session.execute(
        update(FootprintPcn).where(FootprintPcn.code == "U51667").values(clinical_director=None)
    )
    [finding] = _by_rule(footprint_session, "pcn_without_clinical_director")
    assert finding.severity == "error"
    assert finding.subject.code == "U51667" and finding.subject.name == "BEACON (CHARNWOOD) PCN"
    assert "BEACON (CHARNWOOD) PCN" in finding.message


def test_pcn_outside_30_to_50_thousand(footprint_session) -> None:
    before = {f.subject.code for f in _by_rule(footprint_session, "pcn_size")}
    assert "U51667" not in before  # 34,490 registered patients
    footprint_session.execute(
        update(FootprintPractice)
        .where(FootprintPractice.pcn_code == "U51667")
        .values(list_size=1000)
    )
    [finding] = [f for f in _by_rule(footprint_session, "pcn_size") if f.subject.code == "U51667"]
    assert finding.severity == "warning"
    assert "BEACON (CHARNWOOD) PCN" in finding.message and "4,000" in finding.message


def test_ics_outside_1_to_3_million(footprint_session) -> None:
    assert _by_rule(footprint_session, "ics_size") == []
    footprint_session.execute(update(FootprintSystem).values(population=516_049))
    [finding] = _by_rule(footprint_session, "ics_size")
    assert finding.severity == "warning" and finding.subject.code == "QK1"
    assert "516,049" in finding.message


def test_organisation_with_a_missing_parent(footprint_session) -> None:
    footprint_session.execute(
        update(Organisation).where(Organisation.org_code == "RWE").values(parent_code="QXX")
    )
    [finding] = _by_rule(footprint_session, "missing_parent")
    assert finding.severity == "error"
    assert finding.subject.code == "RWE"
    assert "University Hospitals of Leicester" in finding.subject.name
    assert "QXX" in finding.message


def test_practice_without_pcn(footprint_session) -> None:
    footprint_session.execute(
        update(FootprintPractice).where(FootprintPractice.code == "C82009").values(pcn_code=None)
    )
    codes = {f.subject.code for f in _by_rule(footprint_session, "practice_without_pcn")}
    assert "C82009" in codes


def test_place_without_lsoas(footprint_session) -> None:
    footprint_session.execute(delete(FootprintLsoa).where(FootprintLsoa.place_code == "04C"))
    [finding] = _by_rule(footprint_session, "place_without_lsoas")
    assert finding.subject.code == "04C" and finding.subject.name == "Leicester City"


def test_organisation_in_an_unknown_place_and_a_missing_pcn_organisation(
    footprint_session,
) -> None:
    footprint_session.execute(
        update(Organisation).where(Organisation.org_code == "VQK101").values(place_code="ZZZ")
    )
    footprint_session.execute(delete(Organisation).where(Organisation.org_code == "U51667"))
    assert [f.subject.code for f in _by_rule(footprint_session, "unknown_place")] == ["VQK101"]
    assert [f.subject.code for f in _by_rule(footprint_session, "missing_organisation")] == [
        "U51667"
    ]
    # the practices whose parent was that PCN now report a missing parent
    orphans = {f.subject.code for f in _by_rule(footprint_session, "missing_parent")}
    members = set(
        footprint_session.scalars(
            select(FootprintPractice.code).where(FootprintPractice.pcn_code == "U51667")
        )
    )
    assert orphans == members


def test_errors_come_before_warnings(footprint_session) -> None:
    footprint_session.execute(update(FootprintPcn).values(clinical_director=""))
    severities = [f.severity for f in validate_footprint(footprint_session)]
    assert severities == sorted(severities, key=lambda s: s != "error")
    assert severities.count("error") == 25


def test_pcn_and_place_without_practices(footprint_session) -> None:
    footprint_session.execute(
        update(FootprintPractice)
        .where(FootprintPractice.place_code == "04C")
        .values(place_code="04V", pcn_code=None)
    )
    empty_pcns = {f.subject.code for f in _by_rule(footprint_session, "pcn_without_practices")}
    leicester_pcns = set(
        footprint_session.scalars(select(FootprintPcn.code).where(FootprintPcn.place_code == "04C"))
    )
    assert empty_pcns == leicester_pcns and len(empty_pcns) == 10
    [place] = _by_rule(footprint_session, "place_without_practices")
    assert place.subject.code == "04C" and "Leicester City" in place.message


def test_practice_without_a_list_size_is_named(footprint_session) -> None:
    footprint_session.execute(
        update(FootprintPractice).where(FootprintPractice.code == "C82009").values(list_size=None)
    )
    named = {f.subject.code for f in _by_rule(footprint_session, "practice_without_list_size")}
    assert "C82009" in named
