"""Core20PLUS5 on a hand-made patient summary and GP record, checked against independent pandas
calculations: groups, age-standardised hypertension prevalence and its QOF-expected count, SMI
health checks, the SII, the unsupported indicators and the small-number rules."""

from __future__ import annotations

import datetime as dt
from functools import cache

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest

from integrated_care import reference
from integrated_care.health import inequalities as ineq
from integrated_care.health import standardisation as std

AS_OF = dt.date(2026, 3, 31)
ESP = [5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000, 7000, 6500, 6000,
       5500, 5000, 4000, 2500, 1500, 1000]  # fmt: skip
BP, BMI, HBA1C, FLU = "271649006", "60621009", "999791000000106", "822851000000102"


@cache
def summary_frame(n: int = 6000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    decile = rng.integers(1, 11, n)
    age = rng.integers(0, 100, n)
    p_hyp = np.clip(0.01 + 0.006 * np.maximum(age - 20, 0) + 0.012 * (10 - decile), 0, 0.9)
    return pd.DataFrame(
        {
            "patient_id": np.arange(n, dtype=np.int64) + 1,
            "age": age,
            "sex": rng.choice(["female", "male"], n),
            "ethnicity": rng.choice(list("ABCDEHJKMNPRSZ"), n),
            "imd_decile": decile,
            "place_code": rng.choice(["E1", "E2", "E3"], n),
            "hyp": rng.random(n) < p_hyp,
            "mh": rng.random(n) < 0.03,
            "ld": rng.random(n) < 0.01,
            "copd": rng.random(n) < 0.04,
            "emergency_admissions_12m": rng.poisson(0.05 + age / 400),
        }
    )


def events_frame(summary: pd.DataFrame, *, flu: bool = False) -> pd.DataFrame:
    """SMI patients in turn: a full check in the year; the BMI 400 days ago; BP only; none.
    Patient 1 (whatever its registers) gets a full check too, and COPD patients a flu jab."""
    rows = []
    smi = summary.loc[summary["mh"], "patient_id"].tolist()
    recent, old = AS_OF - dt.timedelta(days=30), AS_OF - dt.timedelta(days=400)
    for i, pid in enumerate(smi):
        kind = i % 4
        if kind == 0:
            rows += [(pid, recent, BP), (pid, recent, BMI), (pid, AS_OF, HBA1C)]
        elif kind == 1:
            rows += [(pid, recent, BP), (pid, old, BMI), (pid, recent, HBA1C)]
        elif kind == 2:
            rows += [(pid, recent, BP)]
    rows += [(1, recent, BP), (1, recent, BMI), (1, recent, HBA1C)]
    if flu:
        copd = summary.loc[summary["copd"], "patient_id"].tolist()
        rows += [(pid, recent, FLU) for pid in copd[::2]]
    frame = pd.DataFrame(rows, columns=["patient_id", "date", "snomed_code"])
    frame["numeric_value"] = 1.0
    return frame


@cache
def mart() -> pd.DataFrame:
    summary = summary_frame()
    return ineq.core20plus5(
        ibis.memtable(summary), ibis.memtable(events_frame(summary)), as_of=AS_OF
    )


def _row(
    frame: pd.DataFrame, indicator: str, group_type: str, group: str, statistic: str | None = None
) -> pd.Series:
    hit = frame[
        (frame["indicator"] == indicator)
        & (frame["group_type"] == group_type)
        & (frame["group"] == group)
        & ((frame["statistic"] == statistic) if statistic else frame["statistic"].notna())
    ]
    assert len(hit) == 1, (indicator, group_type, group)
    return hit.iloc[0]


def _dsr_by_hand(people: pd.DataFrame, flag: str, multiplier: float) -> float:
    band = np.minimum(people["age"] // 5, 18)
    rates = people.groupby(band)[flag].mean().reindex(range(19), fill_value=0.0)
    return float(np.dot(rates, ESP) / sum(ESP) * multiplier)


def test_groups_from_nhs_ethnic_letters_and_imd() -> None:
    frame = pd.DataFrame(
        {
            "patient_id": [1, 2, 3, 4, 5, 6],
            "ethnicity": ["A", "D", "K", "N", "S", None],
            "imd_decile": [1, 2, 3, 10, None, 4],
            "ld": [False, True, False, False, False, None],
            "mh": [False, False, True, False, False, False],
        }
    )
    out = ineq.with_groups(ibis.memtable(frame)).execute().sort_values("patient_id")
    assert out["ethnic_group"].tolist() == [
        "White",
        "Mixed",
        "Asian",
        "Black",
        "Other",
        "Not stated",
    ]
    assert out["ethnic_minority"].tolist() == [False, True, True, True, True, False]
    assert out["core20"].tolist()[:4] == ["core20", "core20", "rest", "rest"]
    assert pd.isna(out["core20"].iloc[4])
    assert out["imd_quintile"].tolist()[:4] == [1, 1, 2, 5]
    assert out["learning_disability"].tolist() == [False, True, False, False, False, False]


def test_hypertension_dsr_and_qof_expected_match_a_hand_calculation() -> None:
    people = summary_frame()
    qof = pd.read_csv(reference.path("qof_prevalence_by_imd_decile_1920.csv")).set_index(
        "qof_group"
    )
    p_decile = {d: qof.loc["HYP", f"imd_decile_{d}_pct"] / 100 for d in range(1, 11)}
    for quintile in range(1, 6):
        group = people[(people["imd_decile"] + 1) // 2 == quintile]
        row = _row(mart(), "hypertension_case_finding", "imd_quintile", str(quintile))
        assert row["numerator"] == group["hyp"].sum()
        assert row["denominator"] == len(group)
        assert row["crude_rate"] == pytest.approx(group["hyp"].mean() * 100)
        assert row["dsr"] == pytest.approx(_dsr_by_hand(group, "hyp", 100), rel=1e-9)
        assert row["expected"] == pytest.approx(group["imd_decile"].map(p_decile).sum(), rel=1e-9)
        assert row["lower"] < row["dsr"] < row["upper"]
    for place, group in people.groupby("place_code"):
        row = _row(mart(), "emergency_admissions", "place", place)
        expected = _dsr_by_hand(group, "emergency_admissions_12m", 100_000)
        assert row["dsr"] == pytest.approx(expected, rel=1e-9)
    core20 = people[people["imd_decile"] <= 2]
    row = _row(mart(), "hypertension_case_finding", "core20", "core20")
    assert row["dsr"] == pytest.approx(_dsr_by_hand(core20, "hyp", 100), rel=1e-9)


def test_plus_groups_overlap_and_count_their_members() -> None:
    people = summary_frame()
    minority = people["ethnicity"].isin(list("DEFGHJKLMNPRS"))
    for group, mask in (
        ("ethnic_minority", minority),
        ("learning_disability", people["ld"]),
        ("smi", people["mh"]),
    ):
        row = _row(mart(), "emergency_admissions", "plus_group", group)
        assert row["denominator"] == mask.sum()
        assert row["numerator"] == people.loc[mask, "emergency_admissions_12m"].sum()


def test_smi_health_check_needs_every_element_within_the_year() -> None:
    people = summary_frame()
    smi = people[people["mh"]].reset_index(drop=True)
    checked = (smi.index % 4 == 0).sum()
    row = _row(mart(), "smi_health_check", "all", "all")
    assert row["statistic"] == "proportion"
    assert row["denominator"] == len(smi)
    assert row["numerator"] == checked  # patient 1's check counts only if on the register
    lo, hi = std.wilson_interval(np.array([checked]), np.array([len(smi)]))
    assert (row["lower"], row["upper"]) == pytest.approx((lo[0] * 100, hi[0] * 100))
    assert row["value"] == pytest.approx(checked / len(smi) * 100)
    female = smi[smi["sex"] == "female"]
    row = _row(mart(), "smi_health_check", "sex", "female")
    assert row["numerator"] == (female.index % 4 == 0).sum()


def test_sii_rows_agree_with_the_decile_rates() -> None:
    deciles = mart()[
        (mart()["indicator"] == "hypertension_case_finding")
        & (mart()["group_type"] == "imd_decile")
        & (mart()["statistic"] == "dsr")
    ]
    deciles = deciles.assign(d=deciles["group"].astype(int)).sort_values("d")
    x = std.cumulative_midpoints(deciles["denominator"].to_numpy(float))
    slope, intercept = np.polyfit(
        x, deciles["dsr"].to_numpy(float), 1, w=np.sqrt(deciles["denominator"].to_numpy(float))
    )
    sii = _row(mart(), "hypertension_case_finding", "imd_decile", "1-10", "sii")
    assert sii["value"] == pytest.approx(-slope, rel=1e-9)
    assert (
        0 < sii["lower"] < sii["value"] < sii["upper"]
    )  # planted: more deprived, more hypertension
    rii = _row(mart(), "hypertension_case_finding", "imd_decile", "1-10", "rii")
    assert rii["value"] == pytest.approx(intercept / (intercept + slope), rel=1e-9)


def test_indicators_the_data_cannot_support_say_so() -> None:
    status = mart().set_index("indicator")
    for indicator in ("copd_flu_vaccination", "early_cancer_diagnosis"):
        assert status.loc[indicator, "statistic"] == "not_supported"
        assert "not supported by the data" in status.loc[indicator, "note"]
    assert set(mart().columns) == set(ineq.MART_COLUMNS)


def test_copd_flu_vaccination_is_computed_when_the_record_holds_the_codes() -> None:
    summary = summary_frame()
    con = ibis.duckdb.from_connection(duckdb.connect())
    con.create_table("patient_summary", summary)
    con.create_table("gp_events", events_frame(summary, flu=True))
    out = ineq.inequalities_mart(con, as_of=AS_OF)
    copd = summary[summary["copd"]]
    row = _row(out, "copd_flu_vaccination", "all", "all")
    assert row["statistic"] == "proportion"
    assert row["denominator"] == len(copd)
    assert row["numerator"] == len(copd[::2])
    same = _row(out, "hypertension_case_finding", "ethnic_group", "Asian")
    assert same["dsr"] == pytest.approx(
        _row(mart(), "hypertension_case_finding", "ethnic_group", "Asian")["dsr"]
    )


def test_publishable_suppresses_1_to_7_and_rounds_to_5() -> None:
    frame = pd.DataFrame(
        {
            "numerator": [0, 1, 7, 8, 12, 13, 1234, 40],
            "denominator": [100, 100, 100, 100, 100, 100, 5000, 5],
            "expected": [1.2, 3.0, 2.0, 7.4, 7.6, 13.0, 1000.0, 2.5],
            "crude_rate": [0.0, 1.0, 7.0, 8.0, 12.0, 13.0, 24.68, 800.0],
            "dsr": [0.0, 1.1, 7.1, 8.1, 12.1, 13.1, 24.1, 801.0],
            "note": [None] * 8,
        }
    )
    out = ineq.publishable(frame)
    assert out["numerator"].tolist() == [0, pd.NA, pd.NA, 10, 10, 15, 1235, 40]
    assert out["denominator"].tolist() == [100, 100, 100, 100, 100, 100, 5000, pd.NA]
    assert out["expected"].tolist() == [0, 5, 0, 5, 10, 15, 1000, 5]
    hidden = [False, True, True, False, False, False, False, True]
    assert out["crude_rate"].isna().tolist() == hidden
    assert out["dsr"].isna().tolist() == hidden
    assert out["note"].eq("suppressed: fewer than 8").tolist() == hidden
    assert frame["numerator"].tolist()[1] == 1  # the input is left alone
    published = ineq.publishable(mart())
    counts = published["numerator"].dropna().astype(int)
    assert (counts % 5 == 0).all()
