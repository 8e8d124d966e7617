"""Identifiers: synthetic NHS numbers and pseudonymous patient ids."""

from __future__ import annotations

import numpy as np

WEIGHTS = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)
# 999 is the range NHS England reserves for testing; numbers starting 99x are never issued in
# England (issued ranges start 4-7), so larger synthetic populations continue into 998, 997, ...
PREFIXES = (999, 998, 997, 996)


def valid_numbers(prefix: int) -> np.ndarray:
    """Every valid ten-digit NHS number starting with the three-digit ``prefix``, ascending."""
    serial = np.arange(1_000_000, dtype=np.int64)
    first_nine = prefix * 1_000_000 + serial
    digits = (first_nine[:, None] // 10 ** np.arange(8, -1, -1, dtype=np.int64)) % 10
    check = 11 - (digits @ WEIGHTS) % 11
    check = np.where(check == 11, 0, check)
    ok = check != 10
    return first_nine[ok] * 10 + check[ok]


def nhs_numbers(r: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct valid synthetic NHS numbers (int64) in random order, from the 999 test
    range first (it holds 909,091) and the unissued 998, 997, ... ranges beyond that."""
    pools = []
    have = 0
    for prefix in PREFIXES:
        if have >= n:
            break
        pool = valid_numbers(prefix)
        pools.append(pool)
        have += len(pool)
    if have < n:
        raise ValueError(f"at most {have} synthetic NHS numbers are available")
    first = min(n, len(pools[0]))
    head = pools[0][r.permutation(len(pools[0]))[:first]]
    if n <= len(pools[0]):
        return head
    rest = np.concatenate(pools[1:])
    tail = rest[r.permutation(len(rest))[: n - first]]
    return r.permutation(np.concatenate([head, tail]))


def patient_ids(r: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct random positive 63-bit integers (not sequential: they reveal nothing)."""
    ids = r.integers(1, np.iinfo(np.int64).max, n, dtype=np.int64)
    while True:
        _, first = np.unique(ids, return_index=True)
        if len(first) == n:
            return ids
        dup = np.setdiff1d(np.arange(n), first)
        ids[dup] = r.integers(1, np.iinfo(np.int64).max, len(dup), dtype=np.int64)


def is_valid_nhs_number(number: str) -> bool:
    """Modulus-11 check of a ten-digit NHS number string."""
    if len(number) != 10 or not number.isdigit():
        return False
    check = 11 - sum(int(d) * int(w) for d, w in zip(number[:9], WEIGHTS, strict=True)) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(number[9])
