"""The service directory built from its data file on the test footprint (QK1), and its rules."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy.orm import Session

from integrated_care.coordination import directory


def test_the_data_file_gives_each_kind_of_organisation_its_services(
    footprint_session: Session,
) -> None:
    report = directory.load_directory(footprint_session, actor="test")
    rows = directory.list_services(footprint_session)
    by_org = Counter(s.org_code for s in rows)
    # Age UK Charnwood: social prescribing, befriending, strength and balance; one service
    # each at Leicester Mind, the carers centre and Citizens Advice; the combined mental health
    # and community trust (QK1 has no community trust): four community services and
    # Talking Therapies; a housing service at each of the nine councils.
    assert by_org["VQK101"] == 3
    assert (by_org["VQK102"], by_org["VQK103"], by_org["VQK104"]) == (1, 1, 1)
    assert by_org["RT5"] == 5
    assert sum(n for code, n in by_org.items() if code.startswith("E0")) == 9
    assert report.added == len(rows) == 20
    assert "VQK105" not in by_org  # community transport takes no referrals
    social = directory.list_services(footprint_session, kind="social_prescribing")
    assert [(s.org_code, s.wait_target_days, s.accepting) for s in social] == [("VQK101", 14, True)]
    assert len(directory.list_services(footprint_session, accepting=False)) == 1


def test_reloading_the_directory_changes_nothing(footprint_session: Session) -> None:
    first = directory.load_directory(footprint_session, actor="test")
    again = directory.load_directory(footprint_session, actor="test")
    assert (again.added, again.unchanged) == (0, first.added)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"org_code": "ZZZ99"}, "org_code: 'ZZZ99' is not an organisation"),
        ({"kind": "magic"}, "kind: 'magic' is not one of"),
        ({"wait_target_days": 0}, "wait_target_days: must be at least 1"),
        ({"criteria": " "}, "criteria: say who the service is for"),
    ],
)
def test_a_bad_service_is_refused_naming_the_field(
    footprint_session: Session, changes: dict, words: str
) -> None:  # type: ignore[type-arg]
    fields = {
        "org_code": "VQK105",
        "name": "Hospital transport",
        "kind": "befriending",
        "description": "Lifts to appointments",
        "criteria": "People who cannot use public transport",
        "wait_target_days": 7,
    }
    with pytest.raises(directory.DirectoryError, match=words):
        directory.add_service(footprint_session, **{**fields, **changes}, actor="test")
    assert directory.list_services(footprint_session) == []


def test_only_the_organisation_opens_or_closes_its_service(footprint_session: Session) -> None:
    directory.load_directory(footprint_session, actor="test")
    service = directory.find_service(footprint_session, "VQK102", "Wellbeing and peer support")
    assert service is not None
    with pytest.raises(directory.DirectoryError, match="only VQK102 may open or close"):
        directory.set_accepting(
            footprint_session, service.id, False, actor="x", actor_organisation="VQK101"
        )
    directory.set_accepting(
        footprint_session, service.id, False, actor="mind", actor_organisation="VQK102"
    )
    assert not directory.get_service(footprint_session, service.id).accepting


def test_urgent_referrals_have_a_shorter_target() -> None:
    assert directory.effective_target(28, "routine") == 28
    assert directory.effective_target(28, "urgent") == 7
    assert directory.effective_target(28, "two_week_wait") == 14
    assert directory.effective_target(2, "two_week_wait") == 2  # never longer than the service's
