"""NHS numbers: the modulus-11 check digit, in Python and as a DuckDB SQL expression.

An NHS number is ten digits; the tenth is a check digit over the first nine, weighted 10 down to 2:
``11 - (sum mod 11)``, where 11 becomes 0 and 10 means the nine digits have no valid NHS number.
Synthetic people get numbers in the range starting 999, which NHS England reserves for testing and
never issues.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
TEST_PREFIX = "999"


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine leading digits, or None if no valid NHS number starts with them."""
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError(f"expected nine digits, got {first_nine!r}")
    total = sum(int(d) * w for d, w in zip(first_nine, WEIGHTS, strict=True))
    digit = 11 - total % 11
    if digit == 11:
        return 0
    if digit == 10:
        return None
    return digit


def is_valid(nhs_number: str) -> bool:
    """True if ``nhs_number`` is exactly ten ASCII digits with a correct check digit."""
    if len(nhs_number) != 10 or not nhs_number.isascii() or not nhs_number.isdigit():
        return False
    return check_digit(nhs_number[:9]) == int(nhs_number[9])


@lru_cache(maxsize=1)
def _test_range() -> np.ndarray:
    """Every valid NHS number in the 999 test range, ascending, as int64 (about 909,000)."""
    serial = np.arange(1_000_000, dtype=np.int64)
    digits = [(serial // 10**p) % 10 for p in range(5, -1, -1)]
    prefix = [9, 9, 9]
    total = sum(d * w for d, w in zip(prefix, WEIGHTS[:3], strict=True))
    total = total + sum(d * w for d, w in zip(digits, WEIGHTS[3:], strict=True))
    check = 11 - total % 11
    check = np.where(check == 11, 0, check)
    valid = check != 10
    return (999_000_000 + serial[valid]) * 10 + check[valid]


TEST_RANGE_SIZE = 909_091  # how many valid numbers the 999 range holds


def test_range_numbers(count: int, offset: int = 0) -> np.ndarray:
    """``count`` distinct valid 999-range NHS numbers as strings, from position ``offset``.

    Vectorised for generators. The range holds only ``TEST_RANGE_SIZE`` numbers.
    """
    numbers = _test_range()
    if offset < 0 or offset + count > len(numbers):
        raise ValueError(f"the 999 test range holds {len(numbers)} valid NHS numbers")
    return numbers[offset : offset + count].astype(str)


def test_range_number(serial: int) -> str:
    """The ``serial``-th valid NHS number in the 999 test range (serial from 0)."""
    return str(test_range_numbers(1, serial)[0])


def test_range_number_for(key: str) -> str:
    """A valid 999-range NHS number derived deterministically from any string key.

    Used where a source system's own identifier (a US Synthea id, say) must be replaced by a
    plausible NHS number; collisions are possible across about a million keys, so callers that
    need uniqueness must check for it.
    """
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    for attempt in range(11):
        first_nine = f"{TEST_PREFIX}{(seed + attempt) % 1_000_000:06d}"
        digit = check_digit(first_nine)
        if digit is not None:
            return f"{first_nine}{digit}"
    raise AssertionError("unreachable: at most one in eleven prefixes lacks a check digit")


def sql_is_valid(expr: str) -> str:
    """A DuckDB boolean expression: ``expr`` (a VARCHAR) is a valid NHS number."""
    terms = " + ".join(
        f"CAST(substr({expr}, {i + 1}, 1) AS INTEGER) * {w}" for i, w in enumerate(WEIGHTS)
    )
    remainder = f"(11 - ({terms}) % 11)"
    digit = f"(CASE WHEN {remainder} = 11 THEN 0 ELSE {remainder} END)"
    tenth = f"CAST(substr({expr}, 10, 1) AS INTEGER)"
    # The CASE guards the casts: only ten-digit strings reach them.
    return (
        f"(CASE WHEN regexp_full_match({expr}, '[0-9]{{10}}') "
        f"THEN {digit} = {tenth} ELSE false END)"
    )
