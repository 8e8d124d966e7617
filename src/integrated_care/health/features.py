"""Features for the risk of emergency admission, at a cut-off date, as Ibis expressions.

One row per person alive and registered with a practice of the ICS on the cut-off date
(``as_of``). History is what happened on or before ``as_of``: activity counts over the prior
12 months ``(as_of - 365 days, as_of]`` and over up to two years before that; the label is any
emergency admission in the following 12 months ``(as_of, as_of + 365 days]``. Everything is
written once in Ibis so the same expressions run on DuckDB and on Spark; only the conversion to
a numeric matrix (``matrix``) happens in Python.

Conditions are pluggable: a ``ConditionSource`` is any ``(con, as_of) -> Table`` with one row
per patient_id and one boolean column per condition. The default uses the registers' condition
flags (``integrated_care.health.registers.condition_flags``) when that module is installed, and
the coded history (ever-recorded flags for the SNOMED CT codes of the GP record) always.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ibis import _
from ibis.backends import BaseBackend
from ibis.expr.types import Table

from integrated_care.health.population import registered_population

DATA = Path(__file__).parent / "data"
LABEL = "label"
ConditionSource = Callable[[BaseBackend, dt.date], Table]


@cache
def feature_config() -> dict:
    return json.loads((DATA / "risk_features.json").read_text())


def extract_end(con: BaseBackend) -> dt.date:
    """The last day of the extract: the latest GP appointment, else the latest admission."""
    for table, column in (("gp_appointments", "date"), ("apc_spells", "admission_date")):
        latest = con.table(table)[column].max().execute()
        if latest is not None and latest == latest:  # not null / NaT
            return dt.date.fromisoformat(str(latest)[:10])
    raise ValueError("the warehouse holds no GP appointments or admissions to date a cut-off by")


def extract_start(con: BaseBackend) -> dt.date:
    """The first day of the extract: the earliest GP appointment, else the earliest admission."""
    for table, column in (("gp_appointments", "date"), ("apc_spells", "admission_date")):
        first = con.table(table)[column].min().execute()
        if first is not None and first == first:
            return dt.date.fromisoformat(str(first)[:10])
    raise ValueError("the warehouse holds no GP appointments or admissions")


def prior_days_available(con: BaseBackend, as_of: dt.date) -> int:
    """Days of the earlier history window (before the prior 12 months) the extract covers at
    ``as_of``, up to the configured length: a model must see the same window when trained and
    when applied, so it is fixed at training from what the training cut-off has."""
    cfg = feature_config()
    wanted = cfg["window_days"] * (cfg["long_history_years"] - 1)
    covered = (as_of - extract_start(con)).days + 1 - cfg["window_days"]
    return max(0, min(wanted, covered))


def _day(value: dt.date) -> ibis.Value:
    return ibis.literal(value, type="date")


def _within(column: ibis.Value, lo: dt.date, hi: dt.date) -> ibis.Value:
    """lo < column <= hi, for a date or timestamp column."""
    if column.type().is_timestamp():
        column = column.date()
    return (column > _day(lo)) & (column <= _day(hi))


def _windows(as_of: dt.date, prior_days: int) -> dict[str, tuple[dt.date, dt.date]]:
    days = dt.timedelta(days=feature_config()["window_days"])
    return {
        "12m": (as_of - days, as_of),
        "prior": (as_of - days - dt.timedelta(days=prior_days), as_of - days),
        "next": (as_of, as_of + days),
    }


def _hospital(con: BaseBackend, as_of: dt.date, prior_days: int) -> Table:
    cfg = feature_config()["admission_methods"]
    w = _windows(as_of, prior_days)
    apc = con.table("apc_spells")
    # Every aggregate counts within a window: grouping only the spells in one is cheaper, and
    # people with none get the same zeros from feature_table's fill.
    apc = apc.filter(_within(apc.admission_date, w["prior"][0], w["next"][1]))
    emergency = apc.admission_method.isin(cfg["emergency"])
    elective = apc.admission_method.isin(cfg["elective"])
    return apc.group_by("patient_id").aggregate(
        emergency_12m=_.patient_id.count(where=emergency & _within(apc.admission_date, *w["12m"])),
        emergency_prior=_.patient_id.count(
            where=emergency & _within(apc.admission_date, *w["prior"])
        ),
        elective_12m=_.patient_id.count(where=elective & _within(apc.admission_date, *w["12m"])),
        bed_days_12m=(apc.discharge_date.delta(apc.admission_date, unit="day").cast("int64")).sum(
            where=_within(apc.admission_date, *w["12m"]) & apc.discharge_date.notnull()
        ),
        **{LABEL: _.patient_id.count(where=emergency & _within(apc.admission_date, *w["next"]))},
    )


def _counts(con: BaseBackend, as_of: dt.date, prior_days: int) -> list[Table]:
    w = _windows(as_of, prior_days)
    ae = con.table("ae_attendances")
    op = con.table("op_appointments")
    gp = con.table("gp_appointments")
    meds = con.table("medications")
    # As in _hospital: only rows inside a window count (not so for GP appointments, whose
    # last_gp_contact looks back without limit).
    ae = ae.filter(_within(ae.arrival_time, w["prior"][0], w["12m"][1]))
    op = op.filter(_within(op.date, *w["12m"]))
    out = [
        ae.group_by("patient_id").aggregate(
            ae_12m=_.patient_id.count(where=_within(ae.arrival_time, *w["12m"])),
            ae_prior=_.patient_id.count(where=_within(ae.arrival_time, *w["prior"])),
        ),
        op.group_by("patient_id").aggregate(
            op_attended_12m=_.patient_id.count(
                where=(op.status == "attended") & _within(op.date, *w["12m"])
            ),
            op_dna_12m=_.patient_id.count(
                where=(op.status == "did_not_attend") & _within(op.date, *w["12m"])
            ),
        ),
        gp.group_by("patient_id").aggregate(
            gp_appointments_12m=_.patient_id.count(
                where=(gp.status == "attended") & _within(gp.date, *w["12m"])
            ),
            gp_appointments_prior=_.patient_id.count(
                where=(gp.status == "attended") & _within(gp.date, *w["prior"])
            ),
            gp_home_visits_12m=_.patient_id.count(
                where=(gp.mode == "home_visit") & _within(gp.date, *w["12m"])
            ),
            last_gp_contact=gp.date.max(where=(gp.status == "attended") & (gp.date <= _day(as_of))),
        ),
        # Distinct pairs, then a count: cheaper than a grouped count(DISTINCT dmd_code).
        meds.filter(_within(meds.date, *w["12m"]) & meds.dmd_code.notnull())
        .select("patient_id", "dmd_code")
        .distinct()
        .group_by("patient_id")
        .aggregate(distinct_medicines_12m=_.count()),
    ]
    for table, name in (("community_contacts", "community_12m"), ("mh_contacts", "mh_12m")):
        t = con.table(table)
        out.append(
            t.filter(_within(t.date, *w["12m"]))
            .group_by("patient_id")
            .aggregate(**{name: _.count()})
        )
    sc = con.table("social_care_services")
    lo, hi = w["12m"]
    overlaps = (sc.start_date <= _day(hi)) & (sc.end_date.isnull() | (sc.end_date > _day(lo)))
    active = (sc.start_date <= _day(as_of)) & (sc.end_date.isnull() | (sc.end_date > _day(as_of)))
    residential = sc.service_type.isin(["residential", "nursing"])
    out.append(
        sc.group_by("patient_id").aggregate(
            social_care_12m=_.patient_id.count(where=overlaps),
            social_care_active=_.patient_id.count(where=active),
            care_home_active=_.patient_id.count(where=active & residential),
        )
    )
    return out


def coded_vocabulary(con: BaseBackend, as_of: dt.date) -> list[str]:
    """The SNOMED CT codes recorded for enough people on or before ``as_of``, most common first."""
    cfg = feature_config()["coded_history"]
    ev = con.table("gp_events")
    counts = (
        ev.filter(ev.date <= _day(as_of))
        .group_by("snomed_code")
        .aggregate(people=_.patient_id.nunique())
        .filter(_.people >= cfg["min_people"])
        .order_by([ibis.desc("people"), "snomed_code"])
        .limit(cfg["max_codes"])
        .execute()
    )
    return [str(c) for c in counts["snomed_code"]]


def coded_history(vocabulary: Sequence[str]) -> ConditionSource:
    """A condition source: one ever-recorded flag ``code_<snomed>`` per code of ``vocabulary``."""
    codes = list(vocabulary)

    def source(con: BaseBackend, as_of: dt.date) -> Table:
        ev = con.table("gp_events")
        ev = ev.filter((ev.date <= _day(as_of)) & ev.snomed_code.isin(codes))
        return ev.group_by("patient_id").aggregate(
            **{f"code_{c}": (_.snomed_code == c).any() for c in codes}
        )

    return source


def registers_source() -> ConditionSource | None:
    """The registers' ``condition_flags`` when that module is installed, else None."""
    try:
        module = importlib.import_module("integrated_care.health.registers")
    except ImportError:
        return None
    return getattr(module, "condition_flags", None)


def feature_table(
    con: BaseBackend,
    as_of: dt.date,
    conditions: Sequence[ConditionSource] = (),
    prior_days: int | None = None,
) -> Table:
    """Features (and the label) for everyone alive and registered on ``as_of``.

    ``*_prior`` columns count the ``prior_days`` before the prior 12 months (default: as much
    of the configured length as the extract covers at ``as_of``).

    Counts are zero, and flags false, for people with no record in a table; ``last_gp_contact``
    is null for someone never seen. ``imd_decile`` is null where the LSOA is unknown.
    """
    people = registered_population(con, as_of).select(
        "patient_id",
        "age",
        female=(_.sex == "female").cast("int8"),
        imd_decile=_.imd_decile,
    )
    fills: dict[str, object] = {}
    if prior_days is None:
        prior_days = prior_days_available(con, as_of)
    for part in [_hospital(con, as_of, prior_days), *_counts(con, as_of, prior_days)]:
        people = people.left_join(part, "patient_id").drop("patient_id_right")
        for name, dtype in part.schema().items():
            if name != "patient_id" and name != "last_gp_contact":
                fills[name] = 0 if dtype.is_numeric() else False
    for source in conditions:
        flags = source(con, as_of)
        keep = [
            c
            for c, dtype in flags.schema().items()
            if c != "patient_id" and dtype.is_boolean() and c not in people.columns
        ]
        flags = flags.select("patient_id", *keep)
        people = people.left_join(flags, "patient_id").drop("patient_id_right")
        fills.update({c: False for c in flags.columns if c != "patient_id"})
    return people.fill_null(fills)


@dataclass(frozen=True)
class FeatureMatrix:
    """Features as a numeric matrix, with the ids, the label and the groups for evaluation."""

    patient_id: np.ndarray
    X: np.ndarray
    names: tuple[str, ...]
    label: np.ndarray  # 0/1: any emergency admission in the 12 months after as_of
    age: np.ndarray
    female: np.ndarray
    imd_decile: np.ndarray  # 0 where unknown


AGE_KNOTS = (0, 5, 15, 25, 35, 45, 55, 65, 70, 75, 80, 85, 90, 95)
STACK_ROWS = 8192  # rows per block when building the matrix


def _stack_columns(columns: list[np.ndarray], n: int) -> np.ndarray:
    """``np.column_stack(columns)`` (float64, C order) a block of rows at a time: writing each
    column down a million-row matrix strides across memory, a block stays in cache."""
    X = np.empty((n, len(columns)), dtype=np.float64)
    if columns:
        for start in range(0, n, STACK_ROWS):
            stop = min(start + STACK_ROWS, n)
            X[start:stop] = np.stack([c[start:stop] for c in columns], axis=1)
    return X


COUNT_CAP = 50.0


def _age_basis(age: np.ndarray) -> dict[str, np.ndarray]:
    """A linear spline in age: emergency risk is high in infancy, low in childhood and climbs
    steeply after 65, which no single slope on the logit scale can follow."""
    out = {"age": age / 100}
    for knot in AGE_KNOTS[1:]:
        out[f"age_over_{knot}"] = np.maximum(age - knot, 0) / 100
    return out


def matrix(table: pa.Table, as_of: dt.date, columns: Sequence[str] | None = None) -> FeatureMatrix:
    """The model's matrix from an executed ``feature_table``.

    Counts enter as log(1 + count) (capped) because risk rises with use but ever more slowly;
    deprivation as the decile (linear, as in national analyses) plus an unknown-LSOA flag.
    ``columns`` fixes the set and order of columns (those a fitted model expects): a column
    missing from ``table`` is zero. Rows come out in patient_id order.
    """
    # Engines return rows in no fixed order; sorting makes fits and scores reproducible.
    table = table.sort_by("patient_id")
    n = table.num_rows
    age = table["age"].to_numpy(zero_copy_only=False).astype(np.float64)
    decile_raw = table["imd_decile"]
    decile = pc.fill_null(decile_raw, 0).to_numpy(zero_copy_only=False).astype(np.float64)
    cols: dict[str, np.ndarray] = _age_basis(age)
    female = table["female"].to_numpy(zero_copy_only=False).astype(np.float64)
    cols["female"] = female
    cols["imd_decile"] = np.where(decile > 0, decile, 5.5) / 10
    cols["imd_unknown"] = (decile == 0).astype(np.float64)
    cap = feature_config()["days_since_contact_cap"]
    last = table["last_gp_contact"].to_numpy(zero_copy_only=False).astype("datetime64[D]")
    days = (np.datetime64(as_of, "D") - last).astype(np.float64)
    days = np.where(np.isnat(last), cap, np.minimum(days, cap))
    cols["days_since_gp_contact"] = days / cap
    cols["no_gp_contact"] = (days >= cap).astype(np.float64)
    skip = {"patient_id", "age", "female", "imd_decile", "last_gp_contact", LABEL}
    for name in table.column_names:
        if name in skip:
            continue
        values = table[name].to_numpy(zero_copy_only=False).astype(np.float64)
        if pa.types.is_boolean(table.schema.field(name).type):
            cols[name] = values
        else:
            cols[f"log_{name}"] = np.log1p(np.minimum(values, COUNT_CAP))
    if columns is not None:
        cols = {c: cols.get(c, np.zeros(n)) for c in columns}
    names = tuple(cols)
    X = _stack_columns([cols[c] for c in names], n)
    label = (
        (table[LABEL].to_numpy(zero_copy_only=False) > 0).astype(np.int8)
        if LABEL in table.column_names
        else np.zeros(n, np.int8)
    )
    return FeatureMatrix(
        patient_id=table["patient_id"].to_numpy(zero_copy_only=False),
        X=X,
        names=names,
        label=label,
        age=age,
        female=female,
        imd_decile=decile.astype(np.int64),
    )
