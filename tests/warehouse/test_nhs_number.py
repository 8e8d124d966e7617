"""The modulus-11 check digit, in Python and in the checker's SQL."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from integrated_care.warehouse import nhs_number

nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)
ten_chars = st.text(alphabet="0123456789a ", min_size=0, max_size=11)
SQL = duckdb.connect()  # one connection for every example: connecting dominates otherwise


def test_known_numbers() -> None:
    assert nhs_number.is_valid("9434765919")  # the NHS Data Dictionary's worked example
    assert not nhs_number.is_valid("9434765918")
    assert not nhs_number.is_valid("943476591")
    assert not nhs_number.is_valid("94347659190")
    assert not nhs_number.is_valid("943476591a")


@given(nine_digits)
def test_exactly_one_tenth_digit_is_valid_unless_none_is(first: str) -> None:
    digit = nhs_number.check_digit(first)
    valid = [d for d in "0123456789" if nhs_number.is_valid(first + d)]
    assert valid == ([] if digit is None else [str(digit)])


@given(nine_digits, st.integers(0, 8), st.integers(1, 9))
def test_any_single_digit_error_is_caught(first: str, position: int, shift: int) -> None:
    digit = nhs_number.check_digit(first)
    if digit is None:
        return
    number = first + str(digit)
    changed = str((int(number[position]) + shift) % 10)
    assert not nhs_number.is_valid(number[:position] + changed + number[position + 1 :])


@given(nine_digits, st.integers(0, 7))
def test_adjacent_transpositions_are_caught(first: str, i: int) -> None:
    digit = nhs_number.check_digit(first)
    if digit is None or first[i] == first[i + 1]:
        return
    swapped = first[:i] + first[i + 1] + first[i] + first[i + 2 :]
    assert not nhs_number.is_valid(swapped + str(digit))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(ten_chars, nine_digits.map(lambda s: s + "0")), max_size=40))
def test_sql_agrees_with_python(values: list[str]) -> None:
    rows = SQL.execute(
        f"SELECT v, {nhs_number.sql_is_valid('v')} FROM unnest(?::VARCHAR[]) AS t(v)", [values]
    ).fetchall()
    assert {v: ok for v, ok in rows} == {v: nhs_number.is_valid(v) for v in values}


def test_test_range_numbers_are_valid_distinct_and_reserved() -> None:
    numbers = nhs_number.test_range_numbers(5000, offset=1000)
    assert len(set(numbers)) == 5000
    assert all(n.startswith("999") and nhs_number.is_valid(n) for n in numbers)
    assert nhs_number.test_range_number(1000) == numbers[0]
    assert len(nhs_number._test_range()) == nhs_number.TEST_RANGE_SIZE


@given(st.text(max_size=30))
def test_number_for_a_key_is_valid_and_stable(key: str) -> None:
    number = nhs_number.test_range_number_for(key)
    assert number.startswith("999") and nhs_number.is_valid(number)
    assert number == nhs_number.test_range_number_for(key)
