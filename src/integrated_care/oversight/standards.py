"""Constitutional standards and access measures, computed from the warehouse's activity rows.

Each measure is built as Ibis expressions (the same code runs on DuckDB and Spark) into *events*:
one row per counted unit (an attendance, a waiting pathway at a month end, a discharge...) with
the providing organisation, the patient's place of residence, the month, and that unit's
numerator and denominator. :func:`standards_table` sums the events by provider, by place and for
the whole system, month by month, and attaches the national standard and the interim target from
``data/standards.json``. ``value`` is numerator / denominator: a proportion for shares, days for
lengths of stay. The definitions, in words, are in the JSON file and in docs/oversight.md.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import ibis
from ibis import _
from ibis.expr.types import Table

LEVELS = ("provider", "place", "system")
FOUR_HOURS = 4 * 3600  # seconds
TWELVE_HOURS = 12 * 3600
EIGHTEEN_WEEKS = 18 * 7  # days
FIFTY_TWO_WEEKS = 52 * 7
RTT_WARM_UP_YEARS = 2  # waits of 2+ years are rare enough to leave out of the first months
READMISSION_DAYS = 29  # 0-29 days after discharge: "within 30 days"
DIED = "79"  # discharge destination: patient died
ELECTIVE = ("11", "12", "13")
MATERNITY = ("31", "32")

COLUMNS = (
    "measure", "level", "code", "month", "numerator", "denominator", "value", "standard", "target",
)  # fmt: skip


@dataclass(frozen=True)
class Benchmark:
    value: float
    source: str
    year: str
    verified: bool


@dataclass(frozen=True)
class Measure:
    id: str
    title: str
    short: str
    unit: str  # "percent" (value is a proportion) or "days"
    direction: str  # "higher" or "lower" is better
    definition: str
    standard: Benchmark | None
    target: Benchmark | None

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"


def _benchmark(raw: dict[str, Any] | None) -> Benchmark | None:
    return Benchmark(**raw) if raw else None


@cache
def catalogue() -> dict[str, Any]:
    """The versioned standards file as read (version, note, measures, not_measured)."""
    text = resources.files("integrated_care.oversight").joinpath("data/standards.json").read_text()
    return json.loads(text)


@cache
def change_points() -> list[dict[str, str]]:
    """Documented SPC change points (``data/change_points.json``): measure, level, code
    ("*" for any), month (YYYY-MM) and reason."""
    path = resources.files("integrated_care.oversight").joinpath("data/change_points.json")
    return json.loads(path.read_text())["change_points"]


@cache
def measures() -> dict[str, Measure]:
    """Every measure, in the order pages show them."""
    out = {}
    for raw in catalogue()["measures"]:
        fields = {**raw, "standard": _benchmark(raw["standard"])}
        fields["target"] = _benchmark(raw["target"])
        out[raw["id"]] = Measure(**fields)
    return out


# ---- the extract date and the months -----------------------------------------------------------


def _as_date(value: object) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def default_as_of(con: ibis.BaseBackend) -> dt.date:
    """The latest activity date in the hospital tables: the extract date of this measurement."""
    latest = [
        _as_date(con.table("ae_attendances").arrival_time.max().to_pyarrow().as_py()),
        _as_date(con.table("apc_spells").admission_date.max().to_pyarrow().as_py()),
        _as_date(con.table("op_appointments").date.max().to_pyarrow().as_py()),
        _as_date(con.table("rtt_pathways").clock_start_date.max().to_pyarrow().as_py()),
    ]
    found = [d for d in latest if d is not None]
    return max(found) if found else dt.date.today()


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of each month from `first`'s month to `last`'s month, inclusive."""
    out, month = [], month_start(first)
    while month <= last:
        out.append(month)
        month = next_month(month)
    return out


def system_code(con: ibis.BaseBackend) -> str:
    """The ICB's organisation code (the code of the system level), else "system"."""
    orgs = con.table("organisations")
    icbs = orgs.filter(orgs.org_type == "icb").org_code.to_pyarrow().to_pylist()
    return icbs[0] if len(icbs) == 1 else "system"


# ---- events: one row per counted unit ----------------------------------------------------------


def _places(con: ibis.BaseBackend) -> Table:
    """(patient_id, place_code): where each person lives, from their LSOA."""
    patients = con.table("patients").select("patient_id", "lsoa_code")
    lsoas = con.table("lsoas").select("lsoa_code", "place_code")
    joined = patients.left_join(lsoas, "lsoa_code")
    return joined.select("patient_id", "place_code")


def _events(
    rows: Table, places: Table, month: ibis.Value, num: ibis.Value, den: ibis.Value
) -> Table:
    shaped = rows.mutate(
        _month=month, _numerator=num.cast("float64"), _denominator=den.cast("float64")
    )
    joined = shaped.left_join(places, "patient_id")
    return joined.select(
        provider_code=joined.provider_code,
        place_code=joined.place_code,
        month=joined._month,
        numerator=joined._numerator,
        denominator=joined._denominator,
    )


def _seconds_in_department(ae: Table) -> ibis.Value:
    return ae.departure_time.epoch_seconds() - ae.arrival_time.epoch_seconds()


def ae_events(con: ibis.BaseBackend, as_of: dt.date, places: Table, measure: str) -> Table:
    """A&E attendances arriving by `as_of` with a departure time; 4-hour or 12-hour numerator."""
    ae = con.table("ae_attendances")
    ae = ae.filter(ae.departure_time.notnull(), ae.arrival_time.date() <= ibis.literal(as_of))
    if measure == "ae_4hr_type1":
        ae = ae.filter(ae.department_type == 1)
    elif measure == "ae_4hr_type2_3":
        ae = ae.filter(ae.department_type.isin((2, 3)))
    seconds = _seconds_in_department(ae)
    hit = seconds > TWELVE_HOURS if measure == "ae_12hr" else seconds <= FOUR_HOURS
    month = ae.arrival_time.date().truncate("M")
    return _events(ae, places, month, hit.cast("int64"), ibis.literal(1))


def snapshot_days(as_of: dt.date, first: dt.date) -> list[tuple[dt.date, dt.date]]:
    """(month, snapshot day) from `first`'s month: the month's last day, or `as_of` in its month."""
    return [
        (m, min(next_month(m) - dt.timedelta(days=1), as_of)) for m in months_between(first, as_of)
    ]


def rtt_events(con: ibis.BaseBackend, as_of: dt.date, places: Table, measure: str) -> Table:
    """One row per pathway waiting at each month's end: its clock has started and not stopped.

    The series starts two years after the first clock start in the data: before then the list
    holds only the pathways the extract saw start, and lacks most of the long waiters.
    """
    pathways = con.table("rtt_pathways")
    first = _as_date(pathways.clock_start_date.min().to_pyarrow().as_py())
    if first is None:
        first = as_of
    start = month_start(first).replace(year=first.year + RTT_WARM_UP_YEARS)
    days = snapshot_days(as_of, start)
    snapshots = ibis.memtable(
        {"_month": [m for m, _ in days], "_snapshot": [s for _, s in days]},
        schema={"_month": "date", "_snapshot": "date"},
    )
    waiting = pathways.join(
        snapshots,
        [
            pathways.clock_start_date <= snapshots._snapshot,
            pathways.clock_stop_date.isnull() | (pathways.clock_stop_date > snapshots._snapshot),
        ],
    )
    waited = waiting._snapshot.delta(waiting.clock_start_date, unit="day")
    hit = waited > FIFTY_TWO_WEEKS if measure == "rtt_52wk" else waited <= EIGHTEEN_WEEKS
    return _events(waiting, places, waiting._month, hit.cast("int64"), ibis.literal(1))


def dna_events(con: ibis.BaseBackend, as_of: dt.date, places: Table) -> Table:
    op = con.table("op_appointments")
    op = op.filter(op.status.isin(("attended", "did_not_attend")), op.date <= ibis.literal(as_of))
    hit = (op.status == "did_not_attend").cast("int64")
    return _events(op, places, op.date.truncate("M"), hit, ibis.literal(1))


def _emergency(method: ibis.Value) -> ibis.Value:
    return method.startswith("2")


def readmission_events(con: ibis.BaseBackend, as_of: dt.date, places: Table) -> Table:
    """Discharges alive (maternity excluded), flagged when an emergency admission of the same
    person followed 0-29 days after; only discharges that could be followed for 30 days."""
    spells = con.table("apc_spells")
    last_followed = as_of - dt.timedelta(days=READMISSION_DAYS)
    # Whole months only: the last month kept is the last one all of whose discharges were followed.
    if next_month(last_followed) - dt.timedelta(days=1) != last_followed:
        last_followed = month_start(last_followed) - dt.timedelta(days=1)
    index = spells.filter(
        spells.discharge_date.notnull(),
        spells.discharge_date <= ibis.literal(last_followed),
        ~spells.admission_method.isin(MATERNITY),
        spells.discharge_destination.isnull() | (spells.discharge_destination != DIED),
    )
    later = spells.filter(_emergency(spells.admission_method)).select(
        _patient=_.patient_id, _spell=_.spell_id, _admitted=_.admission_date
    )
    pairs = index.join(
        later,
        [
            index.patient_id == later._patient,
            index.spell_id != later._spell,
            later._admitted >= index.discharge_date,
            later._admitted.delta(index.discharge_date, unit="day") <= READMISSION_DAYS,
        ],
    )
    readmitted = pairs.select(_readmitted_spell=pairs.spell_id).distinct().mutate(_hit=1)
    flagged = index.left_join(readmitted, index.spell_id == readmitted._readmitted_spell)
    hit = flagged._hit.fill_null(0)
    return _events(flagged, places, flagged.discharge_date.truncate("M"), hit, ibis.literal(1))


def length_of_stay_events(
    con: ibis.BaseBackend, as_of: dt.date, places: Table, measure: str
) -> Table:
    spells = con.table("apc_spells")
    spells = spells.filter(
        spells.discharge_date.notnull(), spells.discharge_date <= ibis.literal(as_of)
    )
    days = spells.discharge_date.delta(spells.admission_date, unit="day")
    if measure == "alos_elective":
        spells = spells.filter(spells.admission_method.isin(ELECTIVE), days >= 1)
    else:
        spells = spells.filter(_emergency(spells.admission_method))
    days = spells.discharge_date.delta(spells.admission_date, unit="day")
    return _events(spells, places, spells.discharge_date.truncate("M"), days, ibis.literal(1))


def measure_events(con: ibis.BaseBackend, as_of: dt.date, measure: str, places: Table) -> Table:
    """The events of one measure (see the module docstring)."""
    if measure.startswith("ae_"):
        return ae_events(con, as_of, places, measure)
    if measure.startswith("rtt_"):
        return rtt_events(con, as_of, places, measure)
    if measure == "op_dna":
        return dna_events(con, as_of, places)
    if measure == "readmit_30d":
        return readmission_events(con, as_of, places)
    if measure.startswith("alos_"):
        return length_of_stay_events(con, as_of, places, measure)
    raise KeyError(f"unknown measure {measure!r}")


# ---- sums by provider, place and system --------------------------------------------------------


def _summed(events: Table, measure: Measure, level: str, code: ibis.Value | str) -> Table:
    keyed = events.mutate(_code=code if not isinstance(code, str) else ibis.literal(code))
    keyed = keyed.filter(keyed._code.notnull())
    sums = keyed.group_by(["_code", "month"]).aggregate(
        numerator=keyed.numerator.sum(), denominator=keyed.denominator.sum()
    )
    standard = measure.standard.value if measure.standard else None
    target = measure.target.value if measure.target else None
    return sums.select(
        measure=ibis.literal(measure.id),
        level=ibis.literal(level),
        code=sums._code.cast("string"),
        month=sums.month.cast("date"),
        numerator=sums.numerator.cast("float64"),
        denominator=sums.denominator.cast("float64"),
        value=(sums.numerator / sums.denominator).cast("float64"),
        standard=ibis.literal(standard, type="float64"),
        target=ibis.literal(target, type="float64"),
    )


def standards_table(
    con: ibis.BaseBackend, as_of: dt.date | None = None, only: tuple[str, ...] | None = None
) -> Table:
    """The ``oversight_standards`` mart: every measure by provider, place and system by month."""
    day = as_of or default_as_of(con)
    places = _places(con)
    system = system_code(con)
    parts = []
    for measure in measures().values():
        if only is not None and measure.id not in only:
            continue
        events = measure_events(con, day, measure.id, places)
        parts.append(_summed(events, measure, "provider", events.provider_code))
        parts.append(_summed(events, measure, "place", events.place_code))
        parts.append(_summed(events, measure, "system", system))
    table = ibis.union(*parts, distinct=False)
    return table.order_by(["measure", "level", "code", "month"])
