"""Core20PLUS5 for adults: who is in the Core20 and PLUS groups, the "5" clinical areas the data
supports, rates directly age-standardised to the ESP 2013 by deprivation, ethnicity, place and
sex, and the slope index of inequality across IMD deciles.

Input is the ``patient_summary`` mart (one row per registered patient: age, sex, ethnicity,
imd_decile, place_code, register flags, emergency_admissions_12m) and the warehouse's
``gp_events``; everything is counted in Ibis and the statistics done in numpy
(``standardisation``). Definitions and code lists: ``data/core20plus5_indicators.json``.

The ``inequalities`` mart has one row per indicator x group with ``statistic`` one of ``dsr``
(an age-standardised rate), ``proportion`` (a crude percentage with a Wilson CI), ``sii``,
``rii`` or ``not_supported``. Anything published goes through :func:`publishable`.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
from ibis import _
from ibis.backends import BaseBackend
from ibis.expr.types import Table

from integrated_care import reference
from integrated_care.health import standardisation as std

DATA = Path(__file__).parent / "data"
SUPPRESS_MAX = 7  # counts 1-7 are suppressed in anything published
ROUND_TO = 5
MART_COLUMNS = [
    "indicator",
    "group_type",
    "group",
    "statistic",
    "numerator",
    "denominator",
    "expected",
    "crude_rate",
    "dsr",
    "value",
    "lower",
    "upper",
    "multiplier",
    "note",
]
COUNT_COLUMNS = ("numerator", "denominator")
RATE_COLUMNS = ("crude_rate", "dsr", "value", "lower", "upper")
GROUP_TYPES = ("all", "imd_quintile", "imd_decile", "core20", "ethnic_group", "place", "sex")


@cache
def definitions() -> dict:
    return json.loads((DATA / "core20plus5_indicators.json").read_text())


def ethnic_group(code: ibis.Value) -> ibis.Value:
    """Broad ethnic group (White, Mixed, Asian, Black, Other, Not stated) of an NHS letter."""
    spec = definitions()
    cases = [(code.isin(letters), group) for group, letters in spec["ethnic_groups"].items()]
    return ibis.cases(*cases, else_=spec["ethnic_group_not_stated"])


def with_groups(summary: Table) -> Table:
    """The patient summary with the columns every breakdown needs."""
    spec = definitions()
    group = ethnic_group(summary.ethnicity)
    regs = spec["registers"]
    return summary.mutate(
        imd_quintile=((summary.imd_decile + 1) // 2).cast("int64"),
        core20=ibis.cases(
            (summary.imd_decile.isin(spec["core20_imd_deciles"]), "core20"),
            (summary.imd_decile.notnull(), "rest"),
            else_=None,
        ),
        ethnic_group=group,
        ethnic_minority=group.isin(spec["ethnic_minority_groups"]),
        learning_disability=summary[regs["learning_disability"]].fill_null(False),
        smi=summary[regs["smi"]].fill_null(False),
    )


def _group_column(group_type: str) -> str:
    return {"place": "place_code"}.get(group_type, group_type)


def stacked(people: Table, keep: list[str]) -> Table:
    """Every breakdown (including the overlapping PLUS groups) stacked into one table of
    ``group_type``, ``group`` and the ``keep`` columns, so each indicator is one aggregate."""
    people = people.mutate(all=ibis.literal("all"))
    parts = [
        people.select(
            *keep, group_type=ibis.literal(g), group=people[_group_column(g)].cast("string")
        )
        for g in GROUP_TYPES
    ]
    for plus in definitions()["plus_groups"]:
        parts.append(
            people.filter(people[plus]).select(
                *keep, group_type=ibis.literal("plus_group"), group=ibis.literal(plus)
            )
        )
    return ibis.union(*parts, distinct=False)


def _hypertension_expected(people: Table) -> Table:
    """Each person's expected probability of being on the register: the QOF 2019/20 crude
    prevalence of their IMD decile (England's where the decile is unknown)."""
    code = definitions()["hypertension_qof_group"]
    row = next(
        r for r in reference.rows("qof_prevalence_by_imd_decile_1920.csv") if r["qof_group"] == code
    )
    lookup = ibis.memtable(
        {
            "imd_decile": list(range(1, 11)),
            "qof_p": [float(row[f"imd_decile_{d}_pct"]) / 100 for d in range(1, 11)],
        }
    )
    joined = people.left_join(lookup, "imd_decile").drop("imd_decile_right")
    return joined.mutate(qof_p=joined.qof_p.fill_null(float(row["england_pct"]) / 100))


def _dsr_rows(
    indicator: str,
    people: Table,
    events: str,
    multiplier: float,
    expected: str | None,
    confidence: float,
) -> pd.DataFrame:
    keep = ["age", events] + ([expected] if expected else [])
    rows = stacked(people, keep)
    counts = std.band_counts(rows, ["group_type", "group"], events).execute()
    out = std.standardise(
        counts, ["group_type", "group"], multiplier=multiplier, confidence=confidence
    )
    if expected is not None:
        exp = rows.group_by("group_type", "group").aggregate(expected=_[expected].sum())
        out = out.merge(exp.execute(), on=["group_type", "group"], how="left")
    out["indicator"] = indicator
    out["statistic"] = "dsr"
    out["value"] = out["dsr"]
    out["multiplier"] = multiplier
    return out


def _proportion_rows(indicator: str, people: Table, flag: str, confidence: float) -> pd.DataFrame:
    out = (
        stacked(people, [flag])
        .group_by("group_type", "group")
        .aggregate(numerator=_[flag].cast("int64").sum(), denominator=_.count())
        .order_by("group_type", "group")
        .execute()
    )
    num = out["numerator"].to_numpy(dtype=float)
    den = out["denominator"].to_numpy(dtype=float)
    lo, hi = std.wilson_interval(num, den, confidence)
    out["crude_rate"] = num / den * 100
    out["value"] = out["crude_rate"]
    out["lower"], out["upper"] = lo * 100, hi * 100
    out["indicator"] = indicator
    out["statistic"] = "proportion"
    out["multiplier"] = 100.0
    return out


def slope_rows(rows: pd.DataFrame, *, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """SII and RII across IMD deciles for each indicator with a value in every decile present."""
    out = []
    for indicator, frame in rows[rows["group_type"] == "imd_decile"].groupby("indicator"):
        frame = frame.assign(decile=frame["group"].astype(float)).sort_values("decile")
        frame = frame[frame["decile"].notna()]
        base = {"indicator": indicator, "group_type": "imd_decile", "group": "1-10"}
        if len(frame) < 3 or frame[["value", "lower", "upper"]].isna().any().any():
            out.append(
                {
                    **base,
                    "statistic": "sii",
                    "note": "not calculated: a decile has too few events for a value",
                }
            )
            continue
        s = std.slope_index(
            frame["value"].to_numpy(float),
            frame["denominator"].to_numpy(float),
            lower=frame["lower"].to_numpy(float),
            upper=frame["upper"].to_numpy(float),
            confidence=confidence,
            seed=seed,
        )
        multiplier = float(frame["multiplier"].iloc[0])
        out.append(
            {
                **base,
                "statistic": "sii",
                "value": s.sii,
                "lower": s.sii_lower,
                "upper": s.sii_upper,
                "multiplier": multiplier,
                "note": "most deprived minus least deprived end of the fitted gradient",
            }
        )
        out.append(
            {
                **base,
                "statistic": "rii",
                "value": s.rii,
                "lower": s.rii_lower,
                "upper": s.rii_upper,
                "multiplier": 1.0,
                "note": "most deprived / least deprived end of the fitted gradient",
            }
        )
    return pd.DataFrame(out)


def smi_health_checks(summary: Table, events: Table, as_of: dt.date) -> Table:
    """SMI register patients with a ``checked`` flag: every check element recorded in the
    ``window_days`` up to and including ``as_of``."""
    spec = definitions()["smi_health_check"]
    return _with_recent_codes(
        summary.filter(summary[definitions()["registers"]["smi"]].fill_null(False)),
        events,
        as_of,
        spec["window_days"],
        spec["elements"],
        "checked",
    )


def copd_flu_vaccinations(summary: Table, events: Table, as_of: dt.date) -> Table:
    spec = definitions()["copd_flu_vaccination"]
    return _with_recent_codes(
        summary.filter(summary[definitions()["registers"]["copd"]].fill_null(False)),
        events,
        as_of,
        spec["window_days"],
        {"vaccination": spec["codes"]},
        "vaccinated",
    )


def _with_recent_codes(
    people: Table,
    events: Table,
    as_of: dt.date,
    window_days: int,
    elements: dict[str, list[str]],
    flag: str,
) -> Table:
    start = as_of - dt.timedelta(days=window_days)
    element = ibis.cases(*[(events.snomed_code.isin(c), name) for name, c in elements.items()])
    recent = events.filter(
        (events.date > ibis.literal(start)) & (events.date <= ibis.literal(as_of))
    ).mutate(element=element)
    done = (
        recent.filter(recent.element.notnull())
        .group_by("patient_id")
        .aggregate(n_elements=recent.element.nunique())
    )
    joined = people.left_join(done, "patient_id").drop("patient_id_right")
    return joined.mutate(**{flag: joined.n_elements.fill_null(0) >= len(elements)}).drop(
        "n_elements"
    )


def _has_codes(events: Table, codes: list[str]) -> bool:
    return bool(events.filter(events.snomed_code.isin(codes)).count().execute() > 0)


def _unsupported(indicator: str, note: str) -> dict:
    return {
        "indicator": indicator,
        "group_type": "all",
        "group": "all",
        "statistic": "not_supported",
        "note": note,
    }


def core20plus5(
    summary: Table,
    events: Table | None,
    *,
    as_of: dt.date,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The ``inequalities`` mart (unsuppressed: for analysts; publish via :func:`publishable`)."""
    spec = definitions()
    people = with_groups(summary)
    parts: list[pd.DataFrame] = []
    hyp = _hypertension_expected(people.mutate(hyp_=people[spec["registers"]["hypertension"]]))
    parts.append(_dsr_rows("hypertension_case_finding", hyp, "hyp_", 100.0, "qof_p", confidence))
    parts.append(
        _dsr_rows(
            "emergency_admissions", people, "emergency_admissions_12m", 100_000.0, None, confidence
        )
    )
    extra: list[dict] = []
    if events is None:
        extra.append(_unsupported("smi_health_check", "not supported by the data: no gp_events"))
        extra.append(
            _unsupported("copd_flu_vaccination", "not supported by the data: no gp_events")
        )
    else:
        checks = with_groups(smi_health_checks(summary, events, as_of))
        parts.append(_proportion_rows("smi_health_check", checks, "checked", confidence))
        if _has_codes(events, spec["copd_flu_vaccination"]["codes"]):
            vacc = with_groups(copd_flu_vaccinations(summary, events, as_of))
            parts.append(_proportion_rows("copd_flu_vaccination", vacc, "vaccinated", confidence))
        else:
            extra.append(
                _unsupported(
                    "copd_flu_vaccination",
                    "not supported by the data: no influenza vaccination codes in gp_events",
                )
            )
    for indicator, note in spec["unsupported"].items():
        extra.append(_unsupported(indicator, note))
    rows = pd.concat(parts, ignore_index=True)
    rows = pd.concat(
        [rows, slope_rows(rows, confidence=confidence, seed=seed), pd.DataFrame(extra)],
        ignore_index=True,
    )
    return rows.reindex(columns=MART_COLUMNS)


def inequalities_mart(con: BaseBackend, *, as_of: dt.date, **options: object) -> pd.DataFrame:
    """The mart from a warehouse holding ``patient_summary`` (and ``gp_events`` if loaded)."""
    events = con.table("gp_events") if "gp_events" in con.list_tables() else None
    if events is not None and int(events.count().execute()) == 0:
        events = None
    return core20plus5(con.table("patient_summary"), events, as_of=as_of, **options)  # type: ignore[arg-type]


def _round5(x: pd.Series) -> pd.Series:
    return (np.floor(x / ROUND_TO + 0.5) * ROUND_TO).astype("Int64")


def publishable(df: pd.DataFrame) -> pd.DataFrame:
    """Counts of 1-7 suppressed (and every rate of that row, which would give them back), other
    counts and expected counts rounded to the nearest 5; zeros stay zero."""
    out = df.copy()
    hidden = pd.Series(False, index=out.index)
    for column in COUNT_COLUMNS:
        if column not in out:
            continue
        values = pd.to_numeric(out[column], errors="coerce")
        small = (values >= 1) & (values <= SUPPRESS_MAX)
        hidden |= small
        out[column] = _round5(values).mask(small)
    if "expected" in out:
        out["expected"] = _round5(pd.to_numeric(out["expected"], errors="coerce"))
    for column in RATE_COLUMNS:
        if column in out:
            out[column] = pd.to_numeric(out[column], errors="coerce").mask(hidden)
    if "note" in out:
        out["note"] = out["note"].mask(hidden, "suppressed: fewer than 8")
    return out
