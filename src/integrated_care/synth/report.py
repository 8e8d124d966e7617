"""The calibration report: a generated ICS beside the published figures it is calibrated to.

Everything is recomputed from the written input-layer files (with DuckDB), not from the
generator's memory, so the report checks what a loader would see.
"""

# SQL here is assembled from fixed table names, the generator's own code lists and ISO dates.
# ruff: noqa: S608

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from integrated_care.synth.conditions import qof_targets
from integrated_care.synth.footprint import load_footprint
from integrated_care.synth.health import RateModel, age_band
from integrated_care.synth.params import conditions, read_json

AGE_BANDS = ((0, 4), (5, 14), (15, 24), (25, 44), (45, 64), (65, 74), (75, 84), (85, 200))
EMERGENCY = ("21", "22", "23", "24", "25", "28", "2A", "2B", "2C", "2D")
QRISK = "718087004"


@dataclass
class Report:
    icb: str
    window: tuple[str, str]
    people_at_start: int
    age_shares: list[tuple[str, float, float]]  # band, synthetic %, ONS %
    prevalence: list[dict[str, float | str]]
    activity: list[tuple[str, float, float, float]]  # measure, synthetic, national, expected
    care_processes: list[tuple[str, float, str]]  # measure, synthetic, what it is judged against


def _ons_shares(icb: str) -> list[float]:
    counts = load_footprint(icb).ons_counts.sum(axis=(0, 1))
    ages = np.arange(len(counts))
    return [100 * counts[(ages >= lo) & (ages <= hi)].sum() / counts.sum() for lo, hi in AGE_BANDS]


def _connect(folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in ("patients", "registrations", "gp_events", "gp_appointments", "apc_spells",
                 "ae_attendances", "op_appointments", "lsoas", "medications"):  # fmt: skip
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{folder / f'{name}.parquet'}')"
        )
    return con


def _age_shares(con: duckdb.DuckDBPyConnection, start: str) -> tuple[int, list[float]]:
    rows = con.execute(f"""
        WITH first AS (SELECT patient_id, min(start_date) AS s FROM registrations GROUP BY 1)
        SELECT date_diff('month', date_of_birth, DATE '{start}') // 12 AS age FROM patients p
        JOIN first f USING (patient_id)
        WHERE f.s <= DATE '{start}' AND (date_of_death IS NULL OR date_of_death > DATE '{start}')
    """).fetchnumpy()["age"]  # fmt: skip
    shares = [100 * ((rows >= lo) & (rows <= hi)).mean() for lo, hi in AGE_BANDS]
    return len(rows), shares


def _prevalence(con: duckdb.DuckDBPyConnection, end: str) -> list[dict[str, float | str]]:
    con.execute(f"""
        CREATE TEMP TABLE snapshot AS
        SELECT p.patient_id, date_diff('month', date_of_birth, DATE '{end}') // 12 AS age,
               l.imd_decile AS decile
        FROM patients p JOIN lsoas l USING (lsoa_code)
        WHERE (date_of_death IS NULL OR date_of_death > DATE '{end}')
          AND patient_id IN (SELECT patient_id FROM registrations WHERE end_date IS NULL)
    """)  # fmt: skip
    targets = qof_targets()
    out = []
    for c in conditions():
        if not c.qof_group:
            continue
        if c.key == "CVDPP":
            on = f"snomed_code = '{QRISK}' AND numeric_value >= 10"
        else:
            on = f"snomed_code = '{c.snomed_code}'"
        den = f"age BETWEEN {c.den_min_age:.0f} AND {c.den_max_age:.0f}"
        reg = f"age BETWEEN {c.reg_min_age:.0f} AND {c.reg_max_age:.0f}"
        rows = con.execute(f"""
            WITH reg AS (SELECT DISTINCT patient_id FROM gp_events
                         WHERE {on} AND date <= DATE '{end}')
            SELECT decile, count(*) AS den,
                   count(*) FILTER (WHERE {reg} AND patient_id IN (SELECT * FROM reg)) AS num
            FROM snapshot WHERE {den} GROUP BY decile ORDER BY decile
        """).fetchall()  # fmt: skip
        by = {int(d): (n, k) for d, n, k in rows}
        den_all = sum(n for n, _ in by.values())
        t = targets[c.qof_group]
        out.append({
            "group": c.qof_group, "label": c.label,
            "synthetic": 100 * sum(k for _, k in by.values()) / max(den_all, 1),
            "england": t["england"],
            "mix_expected": sum(n * t[str(d)] for d, (n, _) in by.items()) / max(den_all, 1),
            "d1": 100 * by.get(1, (1, 0))[1] / max(by.get(1, (1, 0))[0], 1), "d1_qof": t["1"],
            "d10": 100 * by.get(10, (1, 0))[1] / max(by.get(10, (1, 0))[0], 1), "d10_qof": t["10"],
        })  # fmt: skip
    return out


def _person_years(con: duckdb.DuckDBPyConnection, start: str, end: str):  # type: ignore[no-untyped-def]
    return con.execute(f"""
        WITH first AS (SELECT patient_id, min(start_date) AS s FROM registrations GROUP BY 1),
        spans AS (
            SELECT p.sex, greatest(f.s, DATE '{start}') AS a,
                   least(coalesce(p.date_of_death, DATE '{end}'), DATE '{end}') AS b,
                   date_of_birth
            FROM patients p JOIN first f USING (patient_id))
        SELECT sex,
               (date_diff('day', date_of_birth, a) + date_diff('day', a, b) / 2) / 365.25 AS age,
               (date_diff('day', a, b) + 1) / 365.25 AS years
        FROM spans WHERE b >= a
    """).fetchnumpy()  # fmt: skip


def _expected(stream: str, py: dict[str, np.ndarray], per_1000: float | None = None) -> float:
    """The national rate applied to this ICS's age-sex structure (events per person-year)."""
    model = RateModel(stream, per_1000)
    band = age_band(py["age"])
    female = py["sex"] == "female"
    a = model.profile[band] * np.where(female, model.female_multiplier, 1.0)
    return float((model.k * a * py["years"]).sum() / py["years"].sum())


def _activity(con: duckdb.DuckDBPyConnection, start: str, end: str):  # type: ignore[no-untyped-def]
    py = _person_years(con, start, end)
    years = float(py["years"].sum())
    within = f"BETWEEN DATE '{start}' AND DATE '{end}'"
    emergency = ", ".join(f"'{m}'" for m in EMERGENCY)
    q = {
        "ae": f"SELECT count(*) FROM ae_attendances WHERE CAST(arrival_time AS DATE) {within}",
        "emergency": f"SELECT count(*) FROM apc_spells WHERE admission_method IN ({emergency}) "
                     f"AND admission_date {within}",
        "all": f"SELECT count(*) FROM apc_spells WHERE admission_date {within}",
        "op": f"SELECT count(*) FROM op_appointments WHERE status = 'attended' AND date {within}",
        "gp": f"SELECT count(*) FROM gp_appointments WHERE date {within}",
        "gp_gp": f"SELECT count(*) FROM gp_appointments WHERE staff_role = 'gp' AND date {within}",
    }  # fmt: skip
    n = {k: con.execute(v).fetchone()[0] for k, v in q.items()}
    streams = read_json("activity.json")["streams"]
    op_attended = read_json("activity.json")["op"]["status"]["attended"]
    gp_share = read_json("activity.json")["gp"]["role"]["gp"]
    elective_maternity = streams["elective"]["per_1000"] + 14
    ae = _expected("ae", py) * 1000
    em = _expected("emergency", py) * 1000
    el = _expected("elective", py) * 1000
    return [
        ("A&E attendances per 1,000", 1000 * n["ae"] / years, 475.0, ae),
        ("Emergency admissions per 1,000", 1000 * n["emergency"] / years, 110.0, em),
        ("All admissions per 1,000", 1000 * n["all"] / years, 290.0,
         em + el * (elective_maternity / streams["elective"]["per_1000"])),
        ("Outpatient attendances per 1,000", 1000 * n["op"] / years, 1680.0,
         _expected("op", py) * 1000 * op_attended),
        ("GP appointments per person-year", n["gp"] / years, 6.4, _expected("gp", py)),
        ("  of which with a GP", n["gp_gp"] / years, 2.9, _expected("gp", py) * gp_share),
    ]  # fmt: skip


def _care_processes(con: duckdb.DuckDBPyConnection, end: str) -> list[tuple[str, float, str]]:
    """Medication reviews, SMI health checks and metastatic cancer in the 12 months to ``end``,
    among registered people alive then (uses the ``snapshot`` table of _prevalence)."""
    spec = read_json("care_processes.json")
    codes = {k: v["snomed"] for k, v in spec["medication_review"]["codes"].items()}
    severe = spec["medication_review"]["efi_min_deficits"]["severe"]
    m = read_json("measurements.json")["codes"]
    by_key = {c.key: c for c in conditions()}
    efi = ", ".join(f"('{c.snomed_code}', '{c.efi}')" for c in conditions() if c.efi)
    year = f"date > DATE '{end}' - INTERVAL 365 DAY AND date <= DATE '{end}'"
    con.execute(f"""
        CREATE TEMP TABLE care AS
        WITH repeat AS (SELECT DISTINCT patient_id FROM (
                 SELECT patient_id, dmd_code FROM medications WHERE {year}
                 GROUP BY ALL HAVING count(*) >= 2)),
             deficits AS (
                 SELECT DISTINCT patient_id, deficit FROM gp_events
                 JOIN (VALUES {efi}) AS e(code, deficit) ON snomed_code = code
                 WHERE date <= DATE '{end}'
                 UNION ALL
                 SELECT patient_id, 'polypharmacy' FROM medications WHERE {year}
                 GROUP BY 1 HAVING count(DISTINCT dmd_code) >= 5),
             efi AS (SELECT patient_id, count(*) AS n FROM deficits GROUP BY 1),
             recent AS (SELECT patient_id, snomed_code, count(*) AS k FROM gp_events
                        WHERE {year} GROUP BY ALL),
             ever AS (SELECT DISTINCT patient_id, snomed_code FROM gp_events
                      WHERE date <= DATE '{end}' AND snomed_code IN
                      ('{by_key["MH"].snomed_code}', '{by_key["CAN"].snomed_code}',
                       '{by_key["CAN_META"].snomed_code}'))
        SELECT s.patient_id, s.age, coalesce(efi.n, 0) AS deficits,
               s.patient_id IN (SELECT * FROM repeat) AS on_repeat,
               s.patient_id IN (SELECT patient_id FROM recent WHERE snomed_code IN
                                ('{codes["review"]}', '{codes["structured"]}')) AS reviewed,
               coalesce((SELECT sum(k) FROM recent r WHERE r.patient_id = s.patient_id
                         AND snomed_code = '{codes["structured"]}'), 0) AS structured,
               s.patient_id IN (SELECT patient_id FROM ever
                                WHERE snomed_code = '{by_key["MH"].snomed_code}') AS smi,
               s.patient_id IN (SELECT patient_id FROM ever
                                WHERE snomed_code = '{by_key["CAN"].snomed_code}') AS cancer,
               s.patient_id IN (SELECT patient_id FROM ever
                                WHERE snomed_code = '{by_key["CAN_META"].snomed_code}') AS meta,
               (SELECT count(DISTINCT CASE WHEN snomed_code IN
                       ('{m["systolic"]["snomed"]}', '{m["diastolic"]["snomed"]}') THEN 'bp'
                       ELSE snomed_code END)
                FROM recent r WHERE r.patient_id = s.patient_id AND snomed_code IN
                ('{m["systolic"]["snomed"]}', '{m["diastolic"]["snomed"]}',
                 '{m["bmi"]["snomed"]}', '{m["hba1c"]["snomed"]}')) = 3 AS checked
        FROM snapshot s LEFT JOIN efi USING (patient_id)
    """)  # fmt: skip
    row = con.execute(f"""
        SELECT 100 * avg(reviewed::INT) FILTER (WHERE on_repeat),
               100 * avg((NOT reviewed)::INT) FILTER (WHERE on_repeat AND age >= 65
                                                      AND deficits >= {severe}),
               1000 * sum(structured) / count(*),
               100 * avg(checked::INT) FILTER (WHERE smi),
               100 * avg(meta::INT), 100 * avg(meta::INT) FILTER (WHERE cancer)
        FROM care
    """).fetchone()  # fmt: skip
    values = [float(v) if v is not None else float("nan") for v in row]
    return list(zip(
        ("Medication review, % of people on repeat medicines",
         f"No medication review, % of people 65+ with severe frailty (eFI {severe}+ deficits) "
         "on repeat medicines",
         "Structured medication reviews per 1,000 people",
         "SMI register with blood pressure, BMI and HbA1c, %",
         "Metastatic cancer code, % of people", "Metastatic cancer code, % of cancer register"),
        values,
        ("assumption: most, 55-70%", "assumption: 20-35%", "assumption",
         "England 2023/24 about 55-60%", "assumption: 0.2-0.4%", "assumption: about 1 in 10"),
        strict=True,
    ))  # fmt: skip


def calibration_report(folder: Path | str, icb: str | None = None) -> Report:
    folder = Path(folder)
    params = json.loads((folder / "truth" / "parameters.json").read_text())
    icb = icb or params["config"]["icb"]
    start, end = params["window"]["start"], params["window"]["end"]
    con = _connect(folder)
    n, shares = _age_shares(con, start)
    ons = _ons_shares(icb)
    labels = [f"{lo}-{hi}" if hi < 200 else f"{lo}+" for lo, hi in AGE_BANDS]
    return Report(
        icb=icb, window=(start, end), people_at_start=n,
        age_shares=list(zip(labels, shares, ons, strict=True)),
        prevalence=_prevalence(con, end), activity=_activity(con, start, end),
        care_processes=_care_processes(con, end),
    )  # fmt: skip


def render(report: Report, console=None) -> None:  # type: ignore[no-untyped-def]
    """Print the report as four tables."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=f"{report.icb}: age bands at {report.window[0]} "
                    f"({report.people_at_start:,} people) vs ONS mid-2022")  # fmt: skip
    for col in ("age band", "synthetic %", "ONS mid-2022 %"):
        t.add_column(col, justify="right")
    for band, syn, ons in report.age_shares:
        t.add_row(band, f"{syn:.2f}", f"{ons:.2f}")
    console.print(t)
    t = Table(
        title=f"Crude prevalence (%) at {report.window[1]} vs QOF 2019/20 (register age rules)"
    )
    for col in ("group", "synthetic", "QOF England", "rel. diff", "QOF at this ICS's IMD mix",
                "IMD decile 1", "QOF decile 1", "IMD decile 10", "QOF decile 10"):  # fmt: skip
        t.add_column(col, justify="right")
    for p in report.prevalence:
        rel = 100 * (float(p["synthetic"]) / float(p["england"]) - 1)
        t.add_row(str(p["group"]), f"{p['synthetic']:.2f}", f"{p['england']:.2f}", f"{rel:+.1f}%",
                  f"{p['mix_expected']:.2f}", f"{p['d1']:.2f}", f"{p['d1_qof']:.2f}",
                  f"{p['d10']:.2f}", f"{p['d10_qof']:.2f}")  # fmt: skip
    console.print(t)
    t = Table(title=f"Activity {report.window[0]} to {report.window[1]} vs national crude rates "
                    "(NHS England / HES 2022-24)")  # fmt: skip
    for col in ("measure", "synthetic", "national", "national at this ICS's age-sex structure"):
        t.add_column(col, justify="right")
    for name, syn, nat, exp in report.activity:
        fmt = "{:.2f}" if nat < 20 else "{:.0f}"
        t.add_row(name, fmt.format(syn), fmt.format(nat), fmt.format(exp))
    console.print(t)
    t = Table(title=f"Care processes in the 12 months to {report.window[1]} "
                    "(registered people alive then)")  # fmt: skip
    for col in ("measure", "synthetic", "judged against"):
        t.add_column(col, justify="right")
    for name, syn, against in report.care_processes:
        t.add_row(name, f"{syn:.2f}", against)
    console.print(t)
