"""NHS numbers (modulus 11) and ODS codes, checked against numbers worked out by hand."""

from __future__ import annotations

import pytest

from integrated_care.record.identifiers import (
    identifier_problems,
    is_valid_nhs_number,
    nhs_number_check_digit,
    nhs_number_problem,
    ods_code_problem,
)


# Worked by hand: digits x weights (10, 9, ..., 2), sum, 11 - (sum mod 11).
# 943476591: 9*10+4*9+3*8+4*7+7*6+6*5+5*4+9*3+1*2 = 90+36+24+28+42+30+20+27+2 = 299;
#            299 mod 11 = 2; 11 - 2 = 9  -> 9434765919
# 401023213: 40+0+8+0+12+15+8+3+6 = 92; 92 mod 11 = 4; 11 - 4 = 7 -> 4010232137
# 000000000: sum 0; 11 - 0 = 11 -> check digit 0 -> 0000000000
# 100000000: 10; 11 - 10 = 1 -> 1000000001
# 000000001: 2; 11 - 2 = 9 -> 0000000019
# 100000001: 10 + 2 = 12; 12 mod 11 = 1; 11 - 1 = 10 -> no valid check digit
@pytest.mark.parametrize(
    ("first_nine", "check"),
    [
        ("943476591", 9),
        ("401023213", 7),
        ("000000000", 0),
        ("100000000", 1),
        ("000000001", 9),
        ("100000001", None),
    ],
)
def test_check_digit_matches_hand_calculation(first_nine: str, check: int | None) -> None:
    assert nhs_number_check_digit(first_nine) == check


@pytest.mark.parametrize("number", ["9434765919", "4010232137", "1000000001", "0000000019"])
def test_valid_numbers(number: str) -> None:
    assert is_valid_nhs_number(number)


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("9434765918", "check digit should be 9, not 8"),
        ("4010232138", "check digit should be 7, not 8"),
        ("1000000010", "cannot have a check digit"),
        ("943476591", "10 digits"),
        ("943 476 5919", "10 digits"),
        ("94347659AB", "10 digits"),
        (9434765919, "10 digits"),
    ],
)
def test_invalid_numbers_say_why(number: object, why: str) -> None:
    problem = nhs_number_problem(number)
    assert problem is not None and why in problem


def test_every_single_digit_change_is_caught() -> None:
    # Modulus 11 with distinct weights detects every single-digit error.
    good = "9434765919"
    for position in range(10):
        for digit in "0123456789":
            if digit != good[position]:
                changed = good[:position] + digit + good[position + 1 :]
                assert not is_valid_nhs_number(changed), changed


def test_ods_codes() -> None:
    for code in ("RWE", "C82001", "QK1", "U12345"):
        assert ods_code_problem(code) is None
    for code in ("rwe", "R W", "AB", "", None, "C82001-X"):
        assert ods_code_problem(code) is not None


def test_identifier_problems_name_the_element() -> None:
    resource = {
        "resourceType": "Patient",
        "identifier": [
            {"system": "https://example.org/mrn", "value": "anything"},
            {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765918"},
        ],
    }
    [(where, problem)] = list(identifier_problems(resource))
    assert where == "Patient.identifier[1].value"
    assert "check digit" in problem
