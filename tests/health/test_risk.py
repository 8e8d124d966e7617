"""The risk model on a small synthetic ICS: features against an independent pandas count from the
extract files, the model against the generator's true probabilities and a naive age-and-sex
model, and scoring, banding and saving."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from integrated_care.health import features as feat
from integrated_care.health.model_evaluation import evaluate_run, find_truth, truth_probabilities
from integrated_care.health.risk import (
    RiskModel,
    RiskParameters,
    assign_bands,
    holdout_mask,
    risk_mart,
    risk_step,
    score_population,
    train_risk_model,
)
from integrated_care.settings import Settings
from integrated_care.synth.generator import SynthConfig, generate
from integrated_care.warehouse.connection import connect
from integrated_care.warehouse.load import load

END = dt.date(2026, 3, 31)
CUTOFF = dt.date(2025, 3, 31)  # 365 days before the end


@pytest.fixture(scope="module")
def ics(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("risk")
    extract = root / "extract"
    generate(
        SynthConfig(icb="QK1", out=extract, population=30_000, years=3, seed=5),
        show_progress=False,
    )
    settings = Settings(data_dir=root / "ics-data")
    load(extract, settings)
    con = connect(settings, read_only=True)
    yield extract, con
    con.disconnect()


@pytest.fixture(scope="module")
def run(ics):
    _, con = ics
    return train_risk_model(con)


def _read(extract: Path, name: str, *columns: str) -> pd.DataFrame:
    return pd.read_parquet(extract / f"{name}.parquet", columns=list(columns) or None)


def _independent_features(extract: Path, as_of: dt.date) -> pd.DataFrame:
    """Counts straight from the extract files with pandas, as the feature table defines them."""
    day = pd.Timestamp(as_of)
    lo, hi = day - pd.Timedelta(days=365), day + pd.Timedelta(days=365)
    patients = _read(extract, "patients", "patient_id", "national_opt_out", "date_of_death")
    patients = patients[~patients["national_opt_out"]]
    dod = pd.to_datetime(patients["date_of_death"])
    alive = patients[dod.isna() | (dod > day)]
    regs = _read(extract, "registrations", "patient_id", "start_date", "end_date")
    start, end = pd.to_datetime(regs["start_date"]), pd.to_datetime(regs["end_date"])
    current = set(regs.loc[(start <= day) & (end.isna() | (end > day)), "patient_id"])
    people = alive[alive["patient_id"].isin(current)][["patient_id"]].set_index("patient_id")

    def count(df: pd.DataFrame, when: pd.Series, a, b) -> pd.Series:
        return df[(when > a) & (when <= b)].groupby("patient_id").size()

    apc = _read(extract, "apc_spells", "patient_id", "admission_date", "admission_method")
    adm = pd.to_datetime(apc["admission_date"])
    method = apc["admission_method"]
    emergency = method.str.startswith("2")
    people["emergency_12m"] = count(apc[emergency], adm[emergency], lo, day)
    people["label"] = count(apc[emergency], adm[emergency], day, hi)
    elective = method.isin(["11", "12", "13"])
    people["elective_12m"] = count(apc[elective], adm[elective], lo, day)
    ae = _read(extract, "ae_attendances", "patient_id", "arrival_time")
    people["ae_12m"] = count(ae, pd.to_datetime(ae["arrival_time"]).dt.normalize(), lo, day)
    gp = _read(extract, "gp_appointments", "patient_id", "date", "status")
    gp = gp[gp["status"] == "attended"]
    gdate = pd.to_datetime(gp["date"])
    people["gp_appointments_12m"] = count(gp, gdate, lo, day)
    meds = _read(extract, "medications", "patient_id", "date", "dmd_code")
    mdate = pd.to_datetime(meds["date"])
    recent = meds[(mdate > lo) & (mdate <= day)]
    people["distinct_medicines_12m"] = recent.groupby("patient_id")["dmd_code"].nunique()
    op = _read(extract, "op_appointments", "patient_id", "date", "status")
    odate = pd.to_datetime(op["date"])
    for status, name in (("attended", "op_attended_12m"), ("did_not_attend", "op_dna_12m")):
        mine = op["status"] == status
        people[name] = count(op[mine], odate[mine], lo, day)
    for table, name in (("community_contacts", "community_12m"), ("mh_contacts", "mh_12m")):
        t = _read(extract, table, "patient_id", "date")
        people[name] = count(t, pd.to_datetime(t["date"]), lo, day)
    sc = _read(extract, "social_care_services", "patient_id", "start_date", "end_date")
    s0, s1 = pd.to_datetime(sc["start_date"]), pd.to_datetime(sc["end_date"])
    people["social_care_active"] = (
        sc[(s0 <= day) & (s1.isna() | (s1 > day))].groupby("patient_id").size()
    )
    people = people.fillna(0).astype("int64")
    last = gp[gdate <= day].groupby("patient_id")["date"].max()
    people["last_gp_contact"] = pd.to_datetime(last.reindex(people.index))
    return people


def test_features_match_an_independent_count(ics) -> None:
    extract, con = ics
    got = feat.feature_table(con, CUTOFF).to_pandas().set_index("patient_id").sort_index()
    expected = _independent_features(extract, CUTOFF).sort_index()
    assert got.index.equals(expected.index)
    for column in expected.columns.drop("last_gp_contact"):
        assert (got[column].astype("int64") == expected[column]).all(), column
    assert got["label"].sum() > 100 and got["emergency_12m"].sum() > 100
    assert got["social_care_active"].sum() > 0 and got["op_dna_12m"].sum() > 0
    last = pd.to_datetime(got["last_gp_contact"])
    want = expected["last_gp_contact"]
    assert ((last == want) | (last.isna() & want.isna())).all()
    assert last.isna().sum() < len(last) / 2


def test_feature_matrix_transforms() -> None:
    import pyarrow as pa

    table = pa.table(
        {
            "patient_id": [1, 2],
            "age": [30, 90],
            "female": pa.array([1, 0], pa.int8()),
            "imd_decile": pa.array([3, None], pa.int64()),
            "emergency_12m": [0, 3],
            "last_gp_contact": pa.array([dt.date(2025, 3, 1), None], pa.date32()),
            "label": [0, 2],
            "dm": [True, False],
        }
    )
    fm = feat.matrix(table, dt.date(2025, 3, 31))
    col = dict(zip(fm.names, fm.X.T, strict=True))
    assert col["log_emergency_12m"] == pytest.approx(np.log1p([0, 3]))
    assert col["imd_unknown"].tolist() == [0.0, 1.0]
    cap = feat.feature_config()["days_since_contact_cap"]
    assert col["days_since_gp_contact"] == pytest.approx([30 / cap, 1.0])
    assert col["dm"].tolist() == [1.0, 0.0]
    assert col["age_over_85"] == pytest.approx([0, 0.05])
    assert fm.label.tolist() == [0, 1]
    fixed = feat.matrix(table, dt.date(2025, 3, 31), columns=("dm", "missing"))
    assert fixed.names == ("dm", "missing") and fixed.X[:, 1].tolist() == [0.0, 0.0]


def test_holdout_split_is_seeded_and_order_free() -> None:
    ids = np.random.default_rng(0).integers(1, 2**62, 50_000)
    mask = holdout_mask(ids, 0.3, 7)
    assert mask.mean() == pytest.approx(0.3, abs=0.01)
    shuffled = np.random.default_rng(1).permutation(len(ids))
    assert (holdout_mask(ids[shuffled], 0.3, 7) == mask[shuffled]).all()
    assert (holdout_mask(ids, 0.3, 8) != mask).any()


def test_bands_take_their_shares() -> None:
    scores = np.random.default_rng(2).random(2000)
    bands = assign_bands(scores, np.arange(2000))
    counts = {b: int((bands == b).sum()) for b in set(bands)}
    assert counts == {"very_high": 10, "high": 90, "moderate": 300, "low": 1600}
    top = np.argsort(-scores)[:10]
    assert set(bands[top]) == {"very_high"}


def test_parameters_are_validated() -> None:
    with pytest.raises(pydantic.ValidationError):
        RiskParameters(holdout_fraction=1.5)
    with pytest.raises(pydantic.ValidationError):
        RiskParameters(unknown=1)
    with pytest.raises(pydantic.ValidationError):
        RiskParameters(conditions="everything")


def test_cutoff_needs_a_full_year_of_follow_up(ics) -> None:
    _, con = ics
    with pytest.raises(ValueError, match="follow-up"):
        train_risk_model(con, RiskParameters(cutoff=dt.date(2025, 6, 30)))


def test_model_is_close_to_the_truth_and_calibrated(ics, run) -> None:
    _, con = ics
    truth = find_truth(con)
    assert truth is not None
    ev = evaluate_run(run, truth)
    assert ev.value("auroc_gap") < 0.08
    assert ev.value("truth_auroc") - ev.value("auroc") == pytest.approx(ev.value("auroc_gap"))
    assert 0.75 <= ev.value("calibration_slope") <= 1.25
    assert abs(ev.value("calibration_intercept")) < 0.2
    h = run.holdout
    assert ev.row("auroc").n == len(h.label) and run.development.cutoff == CUTOFF
    # Independent check: the truth file read directly, scored with scikit-learn.
    t = pd.read_parquet(truth).set_index("patient_id")["probability_emergency_admission"]
    tp = t.reindex(h.patient_id).to_numpy()
    assert not np.isnan(tp).any()
    assert ev.value("truth_auroc") == pytest.approx(roc_auc_score(h.label, tp))
    assert ev.value("auroc") == pytest.approx(roc_auc_score(h.label, h.score))
    for group_type in ("age_band", "sex", "imd_quintile"):
        oe = [
            r for r in ev.rows if r.metric == "observed_to_expected" and r.group_type == group_type
        ]
        assert len(oe) >= 2
        assert all(0.7 < r.value < 1.3 for r in oe if r.events >= 100), group_type


def test_model_beats_a_naive_age_only_model(ics, run) -> None:
    _, con = ics
    h = run.holdout
    ev = evaluate_run(run, None)
    assert ev.row("auroc_gain_over_baseline").lower > 0
    # An age-only logistic model with age bands, fitted here with scikit-learn on the same
    # training people, as a comparator independent of the package's baseline.
    table = feat.feature_table(con, CUTOFF).to_pandas()
    held = holdout_mask(table["patient_id"].to_numpy(), 0.3, RiskParameters().split_seed)
    bands = pd.get_dummies(pd.cut(table["age"], [-1, 4, 14, 24, 44, 64, 74, 84, 200]))
    y = (table["label"] > 0).to_numpy()
    naive = LogisticRegression(max_iter=1000).fit(bands[~held], y[~held])
    naive_auc = roc_auc_score(y[held], naive.predict_proba(bands[held])[:, 1])
    assert set(table["patient_id"][held]) == set(h.patient_id)
    assert ev.value("auroc") > naive_auc + 0.02


def test_score_everyone_now_and_save(ics, run, tmp_path) -> None:
    _, con = ics
    scores = score_population(con, END, run.model)
    people = feat.feature_table(con, END).select("patient_id").to_pyarrow()
    assert sorted(scores["patient_id"].to_pylist()) == sorted(people["patient_id"].to_pylist())
    df = scores.to_pandas()
    assert df["risk_score"].between(0, 1, inclusive="neither").all()
    shares = df["risk_band"].value_counts(normalize=True)
    assert shares["very_high"] == pytest.approx(0.005, abs=0.001)
    assert shares["low"] == pytest.approx(0.8, abs=0.001)
    order = ["very_high", "high", "moderate", "low"]
    lows = df.groupby("risk_band")["risk_score"].min()[order].to_numpy()
    assert (np.diff(lows) < 0).all()
    # The refitted model's mean prediction matches the admission rate it was trained on.
    assert df["risk_score"].mean() == pytest.approx(
        run.model.events_train / run.model.n_train, rel=0.15
    )
    mart = {r["risk_band"]: r for r in risk_mart(scores).to_pylist()}
    assert sum(r["people"] for r in mart.values()) == len(df)
    assert mart["high"]["people"] == (df["risk_band"] == "high").sum()
    assert mart["low"]["expected_admissions"] == pytest.approx(
        df.loc[df["risk_band"] == "low", "risk_score"].sum()
    )
    step = risk_step(run.model)(con, END, feat.feature_table(con, END)).to_pyarrow()
    assert step.column_names == ["patient_id", "risk_score", "risk_band"]
    assert step.num_rows == len(df)
    path = run.model.save(tmp_path)
    assert path.name == f"risk-model-{run.model.version}.json"
    again = RiskModel.load(path)
    assert again.version == run.model.version
    assert again.parameters == run.model.parameters
    rescored = score_population(con, END, again)
    assert np.array_equal(rescored["risk_score"].to_numpy(), scores["risk_score"].to_numpy())


def test_coded_history_conditions_when_no_registers(ics) -> None:
    _, con = ics
    run = train_risk_model(con, RiskParameters(conditions="coded_history", holdout_fraction=0.5))
    assert not run.model.uses_registers and run.model.vocabulary
    assert any(n.startswith("code_") for n in run.model.feature_names)
    h = run.holdout
    truth = truth_probabilities(find_truth(con), h.patient_id)
    assert roc_auc_score(h.label, truth) - roc_auc_score(h.label, h.score) < 0.08
