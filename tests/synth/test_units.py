"""Small pieces of the generator."""

from __future__ import annotations

import numpy as np

from integrated_care.synth.core import logistic, solve_intercepts
from integrated_care.synth.identifiers import is_valid_nhs_number, nhs_numbers, valid_numbers
from integrated_care.warehouse.nhs_number import check_digit, is_valid


def test_test_range_skips_nine_digit_stems_with_check_digit_ten() -> None:
    numbers = valid_numbers(999)
    assert len(numbers) == 909_091
    sample = numbers[::997].astype(str)
    assert all(is_valid(n) and is_valid_nhs_number(n) for n in sample)
    stems = set((numbers // 10).tolist())
    for stem in range(999_000_000, 999_010_000):
        assert (stem in stems) == (check_digit(str(stem)) is not None)


def test_large_populations_continue_beyond_the_999_range() -> None:
    numbers = nhs_numbers(np.random.default_rng(1), 1_000_000)
    assert len(np.unique(numbers)) == 1_000_000
    assert (numbers // 10_000_000 == 999).sum() == 909_091
    assert all(is_valid(str(n)) for n in numbers[:2000])


def test_intercepts_hit_their_targets_per_group() -> None:
    r = np.random.default_rng(0)
    eta = r.normal(-4, 1.5, 50_000)
    groups = r.integers(0, 3, 50_000)
    weights = r.uniform(0.5, 1, 50_000)
    targets = np.array([0.02, 0.05, 0.10]) * np.bincount(groups, weights=weights)
    a = solve_intercepts(eta, groups, targets, weights)
    got = np.bincount(groups, weights=weights * logistic(a[groups] + eta))
    assert np.allclose(got, targets, rtol=1e-3)


def test_a_move_on_the_day_of_registering_leaves_one_registration() -> None:
    from types import SimpleNamespace

    import numpy as np

    from integrated_care.synth.registrations import NEVER, Registrations

    people = SimpleNamespace(
        n=2,
        reg_start=np.array([10, 10], np.int32),
        practice0=np.array([0, 0], np.int32),
        change_person=np.array([0, 1], np.int32),
        change_day=np.array([10, 50], np.int32),  # person 0 moves on day 10, person 1 on day 50
        change_practice=np.array([3, 4], np.int32),
        death=np.array([NEVER, NEVER], np.int32),
    )
    regs = Registrations.build(people, end_of_window=100)
    assert regs.person.tolist() == [0, 1, 1]
    assert regs.practice.tolist() == [3, 0, 4]
    assert (regs.end >= regs.start).all()
    assert regs.end.tolist() == [NEVER, 49, NEVER]
