"""`ics cohort` through the real command, on a store in tmp and the hand-made marts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from integrated_care.cli import app
from tests.accounts.conftest import audit_rows
from tests.health.test_cohorts_population import shared_cohort_data

runner = CliRunner()


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    empty_db_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    data = tmp_path / "ics-data"
    data.mkdir()
    built = shared_cohort_data(tmp_path_factory).data_dir
    for name in ("warehouse.duckdb", "marts.duckdb"):
        shutil.copyfile(built / name, data / name)
    monkeypatch.setenv("ICS_DATA_DIR", str(data))
    monkeypatch.setenv("ICS_DATABASE_URL", empty_db_url)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def ics(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def write(folder: Path, name: str, data: dict) -> str:
    path = folder / name
    path.write_text(json.dumps(data))
    return str(path)


def test_list_show_and_run_a_shipped_cohort(cli_env: Path) -> None:
    listed = ics("cohort", "list")
    assert listed.exit_code == 0
    assert "smi-no-health-check" in listed.output and "shipped" in listed.output
    shown = ics("cohort", "show", "hypertension-no-bp-reading")
    assert shown.exit_code == 0 and '"registers_all": [' in shown.output
    assert "without blood pressure in 365 days" in shown.output
    ran = ics("cohort", "run", "hypertension-no-bp-reading", "--by", "pcn")
    assert ran.exit_code == 0, ran.output
    assert "3 of 29 registered" in ran.output
    assert "U00001" in ran.output and "U00002" in ran.output


def test_save_twice_then_history_and_run_the_old_version(cli_env: Path, session: Session) -> None:
    lacks_bp = {"code_list": "blood_pressure", "rule": "lacks", "within_days": 365}
    first = {"name": "hyp-local", "title": "Hyp", "registers_all": ["hyp"], "events": [lacks_bp]}
    saved = ics("cohort", "save", write(cli_env, "a.json", first), "--as", "ana.lyst")
    assert saved.exit_code == 0 and "saved hyp-local version 1" in saved.output
    unchanged = ics("cohort", "save", write(cli_env, "a.json", first))
    assert "unchanged: still version 1" in unchanged.output
    second = {**first, "practices": ["A00001"]}
    assert "version 2" in ics("cohort", "save", write(cli_env, "b.json", second)).output

    history = ics("cohort", "history", "hyp-local")
    assert history.exit_code == 0
    assert "ana.lyst" in history.output and "ics-cli" in history.output
    assert "practice: A00001" in history.output

    old = ics("cohort", "run", "hyp-local", "--version", "1", "--members", "5")
    assert old.exit_code == 0 and "3 of 29 registered" in old.output
    lines = old.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("patient_id\t"))
    assert [line.split("\t")[0] for line in lines[header + 1 :]] == ["10", "13", "16"]
    assert "age_band" in lines[header] and "\tage\t" not in lines[header]
    new = ics("cohort", "run", "hyp-local")
    assert new.exit_code == 0 and "1 of 29 registered" in new.output  # only 10 is at A00001

    saves = audit_rows(session, action="cohort.save")
    assert sorted((e.actor, e.detail["version"]) for e in saves) == [
        ("ana.lyst", 1),
        ("ics-cli", 2),
    ]
    [read] = audit_rows(session, action="cohort.members.read")
    assert (read.record_id, read.detail["rows"]) == ("hyp-local", 3)


def test_errors_name_the_bad_field_and_the_valid_values(cli_env: Path) -> None:
    bad = {"name": "bad-one", "title": "Bad", "registers_all": ["hypertension"],
           "events": [{"code_list": "bp", "rule": "lacks", "within_days": 30}]}  # fmt: skip
    result = ics("cohort", "save", write(cli_env, "bad.json", bad))
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "registers_all: unknown register 'hypertension'; valid values: ld, ob, hyp" in output
    assert "events.0.code_list: unknown code list 'bp'; valid values: medication_review" in output
    unknown = ics("cohort", "run", "no-such-cohort")
    assert unknown.exit_code == 1 and "no cohort named 'no-such-cohort'" in unknown.output
    wrong_by = ics("cohort", "run", "smi-no-health-check", "--by", "place")
    assert wrong_by.exit_code == 1 and "not one of practice, pcn" in wrong_by.output
    missing = ics("cohort", "save", str(cli_env / "missing.json"))
    assert missing.exit_code == 1 and "missing.json" in missing.output


def test_run_before_analyse_says_what_to_do(cli_env: Path) -> None:
    (cli_env / "ics-data" / "marts.duckdb").unlink()
    result = ics("cohort", "run", "smi-no-health-check")
    assert result.exit_code == 1 and "ics analyse" in result.output
