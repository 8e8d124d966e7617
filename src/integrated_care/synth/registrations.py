"""Registration periods (practice, start, end) and a vectorised "which practice on this day"."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from integrated_care.synth.core import NEVER
from integrated_care.synth.population import People

_SHIFT = 100_000  # day numbers are offset into [0, _SHIFT) inside the composite keys
_OFFSET = 60_000


@dataclass(frozen=True)
class Registrations:
    person: np.ndarray  # int32, sorted by person then start
    practice: np.ndarray  # int32 practice index
    start: np.ndarray  # int32 day
    end: np.ndarray  # int32 day or NEVER (current)

    @classmethod
    def build(cls, people: People, end_of_window: int) -> Registrations:
        n = people.n
        person = np.concatenate([np.arange(n, dtype=np.int32), people.change_person])
        start = np.concatenate([people.reg_start, people.change_day])
        practice = np.concatenate([people.practice0, people.change_practice])
        order = np.lexsort((start, person))
        person, start, practice = person[order], start[order], practice[order]
        # Two registrations starting on the same day (a move on the day of registering) would
        # leave a period ending before it starts: the later one, the practice they end up at,
        # is the registration.
        last_that_day = np.append((person[:-1] != person[1:]) | (start[:-1] != start[1:]), True)
        person, start, practice = (
            person[last_that_day],
            start[last_that_day],
            practice[last_that_day],
        )
        end = np.full(len(person), NEVER, np.int32)
        same_next = person[:-1] == person[1:]
        end[:-1][same_next] = start[1:][same_next] - 1
        last = np.append(~same_next, True)
        died = people.death[person] <= end_of_window
        end[last & died] = people.death[person[last & died]]
        return cls(person, practice, start, end)

    def _keys(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        return person.astype(np.int64) * _SHIFT + (day.astype(np.int64) + _OFFSET)

    @cached_property
    def _index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted keys, each person's first registration row, and whether they ever moved."""
        keys = self._keys(self.person, self.start)
        n = int(self.person.max()) + 1 if len(self.person) else 0
        first = np.searchsorted(self.person, np.arange(n), side="left")
        count = np.bincount(self.person, minlength=n)
        return keys, first, count > 1

    def practice_on(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The practice each person was registered with on each day (their first practice for
        days before their first registration: GP records travel with the patient)."""
        keys, first, moved = self._index
        out = self.practice[first[person]]
        several = np.flatnonzero(moved[person])  # most people have one practice throughout
        i = np.searchsorted(keys, self._keys(person[several], day[several]), side="right") - 1
        i = np.maximum(i, 0)
        before = self.person[i] != person[several]
        i = np.where(before, np.minimum(i + 1, len(keys) - 1), i)
        out[several] = self.practice[i]
        return out
