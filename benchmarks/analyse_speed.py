"""How fast `ics analyse` builds the population-health marts on DuckDB, and how that compares
with a straightforward pandas implementation of the registers + eFI + CMS part.

    ICS_DATA_DIR=/work/demo-data uv run --frozen python benchmarks/analyse_speed.py --out /tmp/x
        [--risk] [--repeat 3] [--no-pandas]

Opens the warehouse of the data directory (``ICS_DATA_DIR`` / the settings) read-only and never
writes into it: the Parquet marts and ``marts.duckdb`` go under ``--out``. Prints, for each run,
the wall time of every mart and of storing them, the total (as `ics analyse` spends it, without
risk-model training, which ``--risk`` times separately before the runs), the warehouse rows the
marts read and the rows scanned per second; with ``--repeat`` the best and the median.

Then, in the same process, the registers + CMS + eFI part twice: with the Ibis expressions on
DuckDB (``condition_dates``, ``registers_mart``, ``cms_scores``, ``efi_scores``) and with plain
pandas (below, written the way a reviewer would write it: read the tables into DataFrames,
merge and group). Both must agree on every register count and on every person's CMS score, CMS
condition count, eFI deficit count, score and category; the script checks that and prints the
times (the pandas read of the warehouse separately and within its total) and their ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from integrated_care.health import codelists
from integrated_care.health.frailty import efi_scores
from integrated_care.health.multimorbidity import cms_scores
from integrated_care.health.pipeline import (
    MartStep,
    default_as_of,
    run_pipeline_timed,
    store_marts,
    warehouse_rows,
)
from integrated_care.health.population import registered_population
from integrated_care.health.registers import condition_dates, flags_from_dates, registers_mart
from integrated_care.settings import Settings
from integrated_care.warehouse.connection import connect

# --------------------------------------------------------------------------------------------
# The full pipeline, as `ics analyse` runs it
# --------------------------------------------------------------------------------------------


def _inequalities_step() -> MartStep:
    from integrated_care.health.inequalities import core20plus5

    def build(con, as_of, marts):  # type: ignore[no-untyped-def]
        frame = core20plus5(marts["patient_summary"], con.table("gp_events"), as_of=as_of)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return table.cast(
            pa.schema(
                pa.field(f.name, pa.float64()) if pa.types.is_null(f.type) else f
                for f in table.schema
            )
        )

    return MartStep("inequalities", build)


def _steps(con, risk: bool):  # type: ignore[no-untyped-def]
    """(risk hook, extra marts, training seconds) as `ics analyse` builds them."""
    extra = [_inequalities_step()]
    try:
        from integrated_care.health.cohort_mart import cohorts_step
    except ImportError:
        pass
    else:
        extra.append(cohorts_step(None))  # the shipped cohorts; no operational store is read
    if not risk:
        return None, extra, None
    from integrated_care.health.model_evaluation import evaluate_run, find_truth
    from integrated_care.health.risk import risk_mart, risk_step, train_risk_model

    started = time.perf_counter()
    run = train_risk_model(con)
    evaluation = evaluate_run(run, find_truth(con))
    trained = time.perf_counter() - started

    def risk_table(con, as_of, marts):  # type: ignore[no-untyped-def]
        summary = marts["patient_summary"].select("patient_id", "risk_score", "risk_band")
        return risk_mart(summary.to_pyarrow())

    extra += [
        MartStep("risk", risk_table),
        MartStep("model_evaluation", lambda *_: evaluation.to_arrow()),
    ]
    return risk_step(run.model), extra, trained


def time_pipeline(con, as_of: dt.date, out: Path, risk, extra) -> tuple[dict[str, float], float]:  # type: ignore[no-untyped-def]
    """Per-mart seconds (and ``store``) and the total wall time of one run."""
    started = time.perf_counter()
    result = run_pipeline_timed(con, as_of, out / "marts", progress=False, risk=risk, extra=extra)
    stored = time.perf_counter()
    store_marts(result.marts, out)
    ended = time.perf_counter()
    seconds = dict(result.seconds)
    seconds["store (marts.duckdb)"] = ended - stored
    return seconds, ended - started


# --------------------------------------------------------------------------------------------
# Registers + CMS + eFI: the Ibis expressions on DuckDB
# --------------------------------------------------------------------------------------------


def ibis_part(con, as_of: dt.date) -> tuple[float, dict[str, pd.DataFrame]]:  # type: ignore[no-untyped-def]
    """The registers mart, CMS and eFI per person, as the pipeline computes them."""
    started = time.perf_counter()
    # As the pipeline does: the active conditions (one pass of gp_events), a flag per condition
    # and the registered population are computed once and cached on the engine.
    dates = condition_dates(con, as_of).cache()
    flags = flags_from_dates(con.table("patients"), dates, codelists.diagnosis_conditions())
    flags = flags.cache()
    people = registered_population(con, as_of).cache()
    registers = registers_mart(con, as_of, dates=dates, people=people).to_pyarrow()
    cms = cms_scores(con, as_of, dates=dates, flags=flags).to_pyarrow()
    efi = efi_scores(con, as_of, dates=dates, flags=flags).to_pyarrow()
    seconds = time.perf_counter() - started
    for table in (dates, flags, people):
        table.release()
    return seconds, {
        "registers": registers.to_pandas(),
        "cms": cms.to_pandas(),
        "efi": efi.to_pandas(),
    }


# --------------------------------------------------------------------------------------------
# Registers + CMS + eFI: straightforward pandas
# --------------------------------------------------------------------------------------------


def read_tables(con) -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """The warehouse tables the part needs, as pandas DataFrames (the columns it uses)."""
    columns = {
        "patients": ["patient_id", "date_of_birth", "date_of_death"],
        "registrations": ["patient_id", "practice_code", "start_date", "end_date"],
        "organisations": ["org_code", "org_type", "parent_code", "place_code"],
        "gp_events": ["patient_id", "date", "snomed_code", "numeric_value"],
        "medications": ["patient_id", "date", "dmd_code"],
    }
    raw = con.con  # the DuckDB connection under the Ibis backend
    return {
        name: raw.sql(f"SELECT {', '.join(cols)} FROM {name}").df()
        for name, cols in columns.items()
    }


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def pandas_part(t: dict[str, pd.DataFrame], as_of: dt.date) -> dict[str, pd.DataFrame]:
    """The registers mart, CMS and eFI per person, in pandas."""
    day = pd.Timestamp(as_of)
    year_ago = pd.Timestamp(_years_before(as_of, 1))
    five_years_ago = pd.Timestamp(_years_before(as_of, 5))

    # Active conditions: diagnosis codes on or before the date, unless resolved later.
    codes = pd.DataFrame(
        [(c.condition, c.code, False) for c in codelists.codes_for("snomed")]
        + [(c.condition, c.code, True) for c in codelists.resolved_codes()],
        columns=["condition", "snomed_code", "resolves"],
    )
    events = t["gp_events"][t["gp_events"]["date"] <= day]
    hits = events.merge(codes, on="snomed_code")
    value = hits["numeric_value"]
    hits = hits[(hits["condition"] != "cvdpp") | value.isna() | (value >= 10.0)]
    diagnosis = hits[~hits["resolves"]]
    dates = diagnosis.groupby(["patient_id", "condition"])["date"].agg(
        first_date="min", last_date="max"
    )
    resolved = hits[hits["resolves"]].groupby(["patient_id", "condition"])["date"].max()
    dates = dates.join(resolved.rename("resolved_date")).reset_index()
    dates = dates[dates["resolved_date"].isna() | (dates["last_date"] > dates["resolved_date"])]

    # The registered population: alive and registered on the date.
    patients = t["patients"].copy()
    dob = patients["date_of_birth"]
    patients["age"] = as_of.year - dob.dt.year - (as_of.month < dob.dt.month).astype(int)
    regs = t["registrations"]
    current = regs[
        (regs["start_date"] <= day) & (regs["end_date"].isna() | (regs["end_date"] > day))
    ]
    current = current.drop_duplicates("patient_id")[["patient_id", "practice_code"]]
    alive = patients[patients["date_of_death"].isna() | (patients["date_of_death"] > day)]
    people = alive[["patient_id", "age"]].merge(current, on="patient_id")

    # Registers: numerator and denominator per practice, then PCN, place and system.
    rules = pd.DataFrame([r.__dict__ for r in codelists.register_rules()])
    den = people.groupby(["practice_code", "age"]).size().rename("n").reset_index()
    den = den.merge(rules, how="cross")
    den = den[(den["age"] >= den["den_min_age"]) & (den["age"] <= den["den_max_age"])]
    den = den.groupby(["practice_code", "condition"])["n"].sum().rename("denominator")
    cases = people.merge(dates[["patient_id", "condition"]], on="patient_id").merge(
        rules, on="condition"
    )
    cases = cases[(cases["age"] >= cases["reg_min_age"]) & (cases["age"] <= cases["reg_max_age"])]
    num = cases.groupby(["practice_code", "condition"]).size().rename("numerator")
    grid = pd.MultiIndex.from_product(
        [people["practice_code"].unique(), rules["condition"]], names=["practice_code", "condition"]
    )
    practice = pd.DataFrame(index=grid).join(den).join(num).fillna(0).reset_index()
    orgs = t["organisations"]
    hierarchy = orgs[orgs["org_type"] == "gp_practice"].rename(
        columns={"org_code": "practice_code", "parent_code": "pcn_code"}
    )[["practice_code", "pcn_code", "place_code"]]
    practice = practice.merge(hierarchy, on="practice_code")
    practice["system"] = "ICS"
    levels = []
    for level, column in (
        ("practice", "practice_code"),
        ("pcn", "pcn_code"),
        ("place", "place_code"),
        ("system", "system"),
    ):
        agg = practice.groupby([column, "condition"], dropna=False)[
            ["numerator", "denominator"]
        ].sum()
        agg = agg.reset_index().rename(columns={column: "area_code"})
        agg["level"] = level
        levels.append(agg)
    registers = pd.concat(levels, ignore_index=True)
    registers[["numerator", "denominator"]] = registers[["numerator", "denominator"]].astype(int)
    registers["prevalence_pct"] = np.where(
        registers["denominator"] > 0,
        registers["numerator"]
        * 100.0
        / registers["denominator"].where(registers["denominator"] > 0),
        np.nan,
    )

    # Prescriptions in the 12 months.
    meds = t["medications"]
    meds = meds[(meds["date"] > year_ago) & (meds["date"] <= day)]
    treatments = pd.DataFrame(
        [(c.condition, c.code) for c in codelists.codes_for("dmd")],
        columns=["treatment", "dmd_code"],
    )
    rx = meds.merge(treatments, on="dmd_code").groupby(["patient_id", "treatment"]).size()
    rx = rx.rename("n_rx").reset_index()

    # Cambridge Multimorbidity Score.
    present = []
    for comp in codelists.cms_components():
        coded = dates[dates["condition"].isin(comp.conditions)]
        treated = rx[rx["treatment"] == (comp.treatment or "")]
        rx4 = set(treated.loc[treated["n_rx"] >= 4, "patient_id"])
        if comp.rule == "ever":
            ids = set(coded["patient_id"])
        elif comp.rule == "first_5y":
            ids = set(coded.loc[coded["first_date"] > five_years_ago, "patient_id"])
        elif comp.rule == "code_and_rx_12m":
            ids = set(coded["patient_id"]) & set(treated["patient_id"])
        elif comp.rule == "code_12m_or_rx4_12m":
            ids = set(coded.loc[coded["last_date"] > year_ago, "patient_id"]) | rx4
        elif comp.rule == "code_or_rx4_12m":
            ids = set(coded["patient_id"]) | rx4
        elif comp.rule == "rx4_12m":
            ids = rx4
        else:
            raise ValueError(comp.rule)
        present.append(pd.DataFrame({"patient_id": list(ids), "weight": comp.weight}))
    components = pd.concat(present, ignore_index=True)
    totals = components.groupby("patient_id")["weight"].agg(score="sum", n="size")
    cms = patients[["patient_id"]].merge(totals, on="patient_id", how="left")
    cms["cms_score"] = np.floor(cms["score"].fillna(0.0) * 100 + 0.5) / 100  # half away from 0
    cms["cms_conditions"] = cms["n"].fillna(0).astype(int)

    # Electronic Frailty Index.
    definition = codelists.efi_definition()
    mapping = pd.DataFrame(
        [(d.name, c) for d in definition.deficits if d.rule == "ever" for c in d.conditions],
        columns=["deficit", "condition"],
    )
    coded = dates.merge(mapping, on="condition")[["patient_id", "deficit"]]
    medicines = meds.groupby("patient_id")["dmd_code"].nunique()
    poly = pd.DataFrame({"patient_id": medicines.index[medicines >= 5], "deficit": "polypharmacy"})
    deficits = pd.concat([coded, poly]).drop_duplicates().groupby("patient_id").size()
    efi = patients[["patient_id", "age"]].merge(
        deficits.rename("efi_deficits"), on="patient_id", how="left"
    )
    efi["efi_deficits"] = efi["efi_deficits"].fillna(0).astype(int)
    n = len(definition.deficits)
    score = np.floor(efi["efi_deficits"] / n * 10_000 + 0.5) / 10_000
    old_enough = efi["age"] >= 65
    efi["efi_score"] = score.where(old_enough)
    # fit <= 0.12, mild <= 0.24, moderate <= 0.36 of 36 deficits: 4, 8 and 12 deficits.
    category = pd.cut(
        efi["efi_deficits"],
        bins=[-1, *(int(bound * n + 1e-9) for bound, _ in definition.thresholds), n],
        labels=[*(name for _, name in definition.thresholds), definition.top_category],
    ).astype(object)
    efi["efi_category"] = category.where(old_enough, None)
    return {"registers": registers, "cms": cms, "efi": efi}


# --------------------------------------------------------------------------------------------
# The two must agree
# --------------------------------------------------------------------------------------------


def check_same(ours: dict[str, pd.DataFrame], theirs: dict[str, pd.DataFrame]) -> str:
    """Raise AssertionError unless both give the same registers, CMS and eFI; else a summary."""
    key = ["level", "area_code", "condition"]
    a = ours["registers"].set_index(key).sort_index()
    b = theirs["registers"].set_index(key).sort_index()
    assert a.index.equals(b.index), "registers: different (level, area, condition) rows"
    for column in ("numerator", "denominator"):
        assert (a[column].to_numpy() == b[column].to_numpy()).all(), f"registers: {column}"
    assert np.allclose(a["prevalence_pct"], b["prevalence_pct"], rtol=1e-12, equal_nan=True)

    a = ours["cms"].set_index("patient_id").sort_index()
    b = theirs["cms"].set_index("patient_id").sort_index()
    assert a.index.equals(b.index), "cms: different people"
    assert (a["cms_conditions"].to_numpy() == b["cms_conditions"].to_numpy()).all(), "cms count"
    assert np.allclose(a["cms_score"], b["cms_score"], rtol=0, atol=1e-9), "cms_score"

    a = ours["efi"].set_index("patient_id").sort_index()
    b = theirs["efi"].set_index("patient_id").sort_index()
    assert a.index.equals(b.index), "efi: different people"
    assert (a["efi_deficits"].to_numpy() == b["efi_deficits"].to_numpy()).all(), "efi_deficits"
    assert np.allclose(a["efi_score"], b["efi_score"], rtol=0, atol=1e-12, equal_nan=True)
    assert (a["efi_category"].fillna("-") == b["efi_category"].fillna("-")).all(), "efi_category"
    regs = ours["registers"]
    on = int(regs.loc[regs["level"] == "system", "numerator"].sum())
    return (
        f"check: identical registers ({len(regs):,} rows, {on:,} register entries), "
        f"CMS and eFI for {len(a):,} people"
    )


# --------------------------------------------------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    """CPU seconds of this process (every thread): steadier than wall time on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the marts (default: a temp folder)")
    parser.add_argument("--risk", action="store_true", help="train and apply the risk model")
    parser.add_argument(
        "--repeat", type=int, default=1, help="pipeline runs (best and median); 0: none"
    )
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas comparison")
    args = parser.parse_args()

    settings = Settings()
    out = args.out or Path(tempfile.mkdtemp(prefix="analyse-speed-"))
    data_dir = settings.data_dir.resolve()
    if out.resolve() == data_dir or data_dir in out.resolve().parents:
        raise SystemExit(f"--out must be outside the data directory {data_dir}")
    out.mkdir(parents=True, exist_ok=True)
    con = connect(settings, read_only=True)
    try:
        as_of = default_as_of(con)
        scanned = warehouse_rows(con)
        print(f"warehouse {settings.warehouse_url}: {scanned:,} rows in the tables the marts read")
        print(f"as of {as_of}; marts to {out}")
        risk, extra, trained = _steps(con, args.risk)
        if trained is not None:
            print(f"risk model training (and its evaluation): {trained:.1f}s, not in the totals")

        totals = []
        for run in range(args.repeat):
            cpu = _cpu()
            seconds, total = time_pipeline(con, as_of, out, risk, extra)
            cpu = _cpu() - cpu
            totals.append(total)
            print(f"run {run + 1}:")
            for name, s in seconds.items():
                print(f"  {name:<22} {s:7.2f}s")
            print(
                f"  {'total':<22} {total:7.2f}s  {scanned / total:,.0f} rows scanned/s "
                f"(CPU {cpu:.1f}s)"
            )
        if args.repeat > 1:
            best, median = min(totals), statistics.median(totals)
            print(
                f"pipeline total over {args.repeat} runs: best {best:.2f}s "
                f"({scanned / best:,.0f} rows/s), median {median:.2f}s "
                f"({scanned / median:,.0f} rows/s)"
            )

        if args.no_pandas:
            return
        cpu = _cpu()
        ibis_s, ours = ibis_part(con, as_of)
        ibis_cpu = _cpu() - cpu
        cpu, started = _cpu(), time.perf_counter()
        tables = read_tables(con)
        read_s, read_cpu = time.perf_counter() - started, _cpu() - cpu
        theirs = pandas_part(tables, as_of)
        pandas_s, pandas_cpu = time.perf_counter() - started, _cpu() - cpu
        del tables
        print(check_same(ours, theirs))
        print("registers + CMS + eFI (wall; CPU of all threads in brackets):")
        print(f"  Ibis on DuckDB            {ibis_s:7.2f}s  ({ibis_cpu:.1f}s)")
        print(
            f"  pandas                    {pandas_s:7.2f}s  ({pandas_cpu:.1f}s): reading the "
            f"tables {read_s:.2f}s ({read_cpu:.1f}s) + computing {pandas_s - read_s:.2f}s "
            f"({pandas_cpu - read_cpu:.1f}s)"
        )
        print(
            f"  ratio pandas / DuckDB     {pandas_s / ibis_s:7.1f}x "
            f"(computing only: {(pandas_s - read_s) / ibis_s:.1f}x)"
        )
        print(f"  peak memory of this process {_peak_mb():,.0f} MB")
    finally:
        con.disconnect()


if __name__ == "__main__":
    main()
