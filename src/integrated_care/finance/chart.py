"""The chart of lines, financial years and months, and the plain figure every calculation takes.

The chart is the versioned data file ``data/lines.csv``: each line's section, whether it adds to
the surplus (+1: income, efficiency savings) or takes from it (-1: costs), and the driver of
variance it is reported under (``data/drivers.csv``). Lines are added, never removed, so every
entry ever made still names a line of the current chart.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources

MONTHS = ("Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan", "Feb", "Mar")
_YEAR = re.compile(r"^(\d{4})/(\d{2})$")


@dataclass(frozen=True)
class Line:
    line: str
    name: str
    section: str
    sign: int  # +1 adds to the surplus, -1 takes from it
    driver: str
    description: str


@dataclass(frozen=True)
class Chart:
    version: str
    lines: dict[str, Line]
    drivers: dict[str, str]  # driver -> label, in reporting order

    def sign(self, line: str) -> int:
        return self.lines[line].sign


def _rows(name: str) -> list[dict[str, str]]:
    text = (resources.files(__package__) / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def chart() -> Chart:
    """The chart of lines shipped with the platform."""
    drivers = {r["driver"]: r["label"] for r in _rows("drivers.csv")}
    lines = {}
    versions = set()
    for r in _rows("lines.csv"):
        if r["driver"] not in drivers:
            raise ValueError(f"line {r['line']!r} names unknown driver {r['driver']!r}")
        if r["sign"] not in ("1", "-1"):
            raise ValueError(f"line {r['line']!r} has sign {r['sign']!r}; use 1 or -1")
        lines[r["line"]] = Line(
            r["line"], r["name"], r["section"], int(r["sign"]), r["driver"], r["description"]
        )
        versions.add(r["chart_version"])
    return Chart(version=max(versions), lines=lines, drivers=drivers)


def check_financial_year(value: str) -> str:
    """``"2026/27"`` as given, or ValueError naming what is wrong."""
    match = _YEAR.match(value or "")
    if not match:
        raise ValueError(f"financial year {value!r} should look like 2026/27")
    start, end = int(match.group(1)), int(match.group(2))
    if (start + 1) % 100 != end:
        raise ValueError(f"financial year {value!r}: {end:02d} does not follow {start}")
    return value


def month_label(month: int, financial_year: str) -> str:
    """``"Apr 2026"`` for month 1 of 2026/27."""
    start = int(financial_year[:4])
    return f"{MONTHS[month - 1]} {start if month <= 9 else start + 1}"


@dataclass(frozen=True)
class Figure:
    """One figure in force: what positions and sharing are calculated from."""

    org_code: str
    month: int  # 1 = April
    line: str
    kind: str  # plan | actual | forecast
    amount: Decimal  # as entered: positive income, positive cost, positive saving
    recurrent: bool = True

    @property
    def surplus_effect(self) -> Decimal:
        """What this figure adds to (or, if negative, takes from) the surplus."""
        return self.amount * chart().sign(self.line)
