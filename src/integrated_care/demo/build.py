"""Build the demonstration ICS step by step, remembering what is built so a rerun is quick.

Each step is skipped when the data directory already holds its result for the same ICB, so a
second ``ics demo`` only opens the store and serves. Later capabilities (synthetic population,
analytics, shared care record, finance, governance) add their steps to ``STEPS``. A step with a
check in ``CURRENT`` is also redone when that says its result is stale: the analytics marts
after a new warehouse load or a change of code-list versions.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from integrated_care.runtime import Runtime

DEFAULT_ICB = "QK1"  # Leicester, Leicestershire and Rutland: a mid-sized ICS of 1.1 million


@dataclass
class DemoUser:
    username: str
    display_name: str
    roles: list[str]
    organisation_code: str
    organisation_name: str
    does: str


@dataclass
class DemoState:
    """What the data directory holds, kept in ``demo.json`` beside the stores."""

    icb: str
    population: int | None = None  # None: the ICB's real ONS mid-2022 population
    seed: int = 42
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    steps_done: list[str] = field(default_factory=list)
    users: list[DemoUser] = field(default_factory=list)


def _state_file(runtime: Runtime):  # type: ignore[no-untyped-def]
    return runtime.settings.ensure_data_dir() / "demo.json"


def load_state(runtime: Runtime) -> DemoState | None:
    path = _state_file(runtime)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    raw["users"] = [DemoUser(**u) for u in raw.get("users", [])]
    return DemoState(**raw)


def save_state(runtime: Runtime, state: DemoState) -> None:
    path = _state_file(runtime)
    path.write_text(json.dumps(asdict(state), indent=2))
    path.chmod(0o600)  # it holds the demo users' shared password


def _roster() -> list[dict[str, Any]]:
    return json.loads((resources.files(__package__) / "data" / "demo_users.json").read_text())


def _organisation_for(session: Session, acts_for: str) -> tuple[str, str]:
    """The first organisation of the first type in `acts_for` ("a|b|c") the footprint has.

    Not every ICS has every kind of trust (some run community services from a combined
    mental-health and community trust), hence the fallbacks.
    """
    from integrated_care.footprint.services import list_organisations

    for org_type in acts_for.split("|"):
        orgs = list_organisations(session, org_type=org_type)
        if orgs:
            org = sorted(orgs, key=lambda o: o.org_code)[0]
            return org.org_code, org.name
    raise RuntimeError(f"the footprint has no organisation of type {acts_for!r}")


def build_footprint_step(runtime: Runtime, state: DemoState) -> str:
    from integrated_care.footprint.services import build_footprint

    with runtime.transaction() as session:
        summary = build_footprint(session, state.icb, replace=True)
    return (
        f"{summary.places} places, {summary.pcns} PCNs, {summary.practices} practices, "
        f"{summary.organisations} organisations"
    )


def create_users_step(runtime: Runtime, state: DemoState) -> str:
    from integrated_care.accounts.services import create_user, get_user

    users = []
    with runtime.transaction() as session:
        for entry in _roster():
            code, name = _organisation_for(session, entry["acts_for"])
            if get_user(session, entry["username"]) is None:
                create_user(
                    session,
                    entry["username"],
                    state.password,
                    entry["roles"],
                    code,
                    display_name=entry["display_name"],
                    actor="ics demo",
                )
            users.append(
                DemoUser(
                    entry["username"],
                    entry["display_name"],
                    entry["roles"],
                    code,
                    name,
                    entry["does"],
                )
            )
    state.users = users
    return f"{len(users)} demo users"


def _extract_dir(runtime: Runtime):  # type: ignore[no-untyped-def]
    return runtime.settings.ensure_data_dir() / "extract"


def synthesise_step(runtime: Runtime, state: DemoState) -> str:
    from integrated_care.synth.generator import SynthConfig, generate

    result = generate(
        SynthConfig(
            icb=state.icb,
            out=_extract_dir(runtime),
            population=state.population,
            years=5,
            seed=state.seed,
        ),
        show_progress=True,
    )
    return (
        f"{result.people:,} people, {result.total_rows:,} rows in {result.seconds:.0f} s "
        f"({result.people / result.seconds:,.0f} people/s)"
    )


def load_step(runtime: Runtime, state: DemoState) -> str:
    from integrated_care.warehouse.load import load
    from integrated_care.warehouse.progress import RichReporter

    with RichReporter() as reporter:
        result = load(_extract_dir(runtime), runtime.settings, reporter=reporter)
    return f"{result.rows_loaded:,} rows into the warehouse in {result.load_seconds:.0f} s"


def analyse_step(runtime: Runtime, state: DemoState) -> str:
    """`ics analyse` on the demo warehouse: train the risk model, then build and store every
    population-health mart (DuckDB)."""
    from rich.console import Console

    from integrated_care.health.cli import build_marts

    built = build_marts(runtime.settings, Console(), engine="duckdb")
    people = built.result.rows.get("patient_summary", 0)
    seconds = sum(built.result.seconds.values())
    return (
        f"{len(built.result.rows)} marts for {people:,} registered people as of {built.as_of} "
        f"in {seconds:.0f} s (risk model trained in {built.training_seconds:.0f} s)"
    )


def oversight_step(runtime: Runtime, state: DemoState) -> str:
    """`ics oversight build`: the constitutional standards by provider, place and system."""
    from integrated_care.oversight.marts import build_and_store

    return build_and_store(runtime.settings)


def oversight_current(runtime: Runtime) -> bool:
    from integrated_care.oversight.marts import oversight_current as current

    return current(runtime.settings)


def governance_step(runtime: Runtime, state: DemoState) -> str:
    """The partnership board, its committees, meetings, papers and registers (repeatable)."""
    from integrated_care.governance.demo import load_demo

    with runtime.transaction() as session:
        return load_demo(session)


def workforce_step(runtime: Runtime, state: DemoState) -> str:
    """Staff passports, movements and the workforce plan (from the synthetic extract)."""
    from integrated_care.workforce.demo import load_demo

    with runtime.transaction() as session:
        return load_demo(session, _extract_dir(runtime))


def record_step(runtime: Runtime, state: DemoState) -> str:
    """The shared care record of one PCN (FHIR R4), through the direct bulk path."""
    from rich.console import Console

    from integrated_care.record.cli import load_with_progress
    from integrated_care.record.loader import Scope, default_pcn

    folder = _extract_dir(runtime)
    result = load_with_progress(runtime, folder, Scope("pcn", default_pcn(folder)), Console())
    return (
        f"{result.patients:,} patients of {result.scope}, {result.resources:,} resources "
        f"in {result.seconds:.0f} s ({result.per_second:,.0f} resources/s)"
    )


def referrals_step(runtime: Runtime, state: DemoState) -> str:
    """The service directory and demo referrals from the demo GP's practice (repeatable)."""
    from integrated_care.coordination.demo import load_referrals_demo

    return load_referrals_demo(runtime)


def mdt_step(runtime: Runtime, state: DemoState) -> str:
    """MDT worklists for the loaded PCN and a few shared care plans (repeatable)."""
    from integrated_care.coordination.mdt_demo import load_mdt_demo

    return load_mdt_demo(runtime)


def finance_step(runtime: Runtime, state: DemoState) -> str:
    """The synthetic extract's finance ledger as a year in progress (repeatable)."""
    from integrated_care.finance import demo as finance_demo
    from integrated_care.finance.extract import import_extract

    with runtime.transaction() as session:
        report = import_extract(session, _extract_dir(runtime), actor="ics-demo")
        finance_demo.record_demo_agreement(session, report.financial_year)
    return (
        f"{report.financial_year} at month {report.as_at_month}: {report.entries_added:,} "
        f"ledger entries for {report.organisations} organisations"
    )


def contracts_step(runtime: Runtime, state: DemoState) -> str:
    """The synthetic extract's contracts into the contracts register (repeatable)."""
    from integrated_care.finance.contracts import import_contracts

    with runtime.transaction() as session:
        report = import_contracts(session, _extract_dir(runtime), actor="ics-demo")
    return f"{report.added} contracts added, {report.updated} updated, {report.unchanged} unchanged"


def analysis_current(runtime: Runtime) -> bool:
    """Whether the stored marts are newer than the warehouse and used today's code lists."""
    from integrated_care.health.codelists import list_versions
    from integrated_care.health.marts import marts_manifest, marts_path
    from integrated_care.warehouse.connection import parse_warehouse_url

    settings = runtime.settings
    warehouse = parse_warehouse_url(settings.warehouse_url, "duckdb").path
    marts = marts_path(settings)
    manifest = marts_manifest(settings)
    if warehouse is None or not warehouse.exists() or not marts.exists() or manifest is None:
        return False
    return (
        marts.stat().st_mtime > warehouse.stat().st_mtime
        and manifest.get("code_lists") == list_versions()
    )


Step = tuple[str, str, Callable[[Runtime, DemoState], str]]
STEPS: list[Step] = [
    ("footprint", "Building the ICS footprint from public reference data", build_footprint_step),
    ("users", "Creating demo users", create_users_step),
    ("governance", "Setting up the partnership board, its meetings and registers", governance_step),
    ("synth", "Generating the synthetic population and five years of care", synthesise_step),
    ("load", "Checking and loading the extracts into the warehouse", load_step),
    ("analyse", "Building the population-health marts and the risk model", analyse_step),
    ("record", "Loading the shared care record of one PCN (FHIR)", record_step),
    ("referrals", "Loading the service directory and demo referrals", referrals_step),
    ("mdt", "Making MDT worklists and shared care plans for the PCN", mdt_step),
    ("oversight", "Measuring the constitutional standards month by month", oversight_step),
    ("finance", "Loading the synthetic finance ledger as a year in progress", finance_step),
    ("contracts", "Loading the contracts register", contracts_step),
    ("workforce", "Loading staff passports, movements and the workforce plan", workforce_step),
]
# A step done before is redone when its check says its result is out of date.
CURRENT: dict[str, Callable[[Runtime], bool]] = {
    "analyse": analysis_current,
    "oversight": oversight_current,
}


def prepare_demo(
    runtime: Runtime,
    icb: str,
    *,
    population: int | None = None,
    rebuild: bool = False,
    report: Callable[[str, str, str | None], None] = lambda *_: None,
) -> DemoState:
    """Run every step not already done for `icb`; `report(step, description, outcome)`.

    Outcome is None when a step is reused from an earlier run.
    """
    state = load_state(runtime)
    if state is None or state.icb != icb or state.population != population or rebuild:
        password = state.password if state else DemoState(icb).password
        state = DemoState(icb=icb, population=population, password=password)
    for name, description, run in STEPS:
        current = CURRENT.get(name, lambda _runtime: True)
        if name in state.steps_done and current(runtime):
            report(name, description, None)
            continue
        outcome = run(runtime, state)
        if name not in state.steps_done:
            state.steps_done.append(name)
        save_state(runtime, state)
        report(name, description, outcome)
    return state
