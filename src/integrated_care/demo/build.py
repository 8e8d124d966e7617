"""Build the demonstration ICS step by step, remembering what is built so a rerun is quick.

Each step is skipped when the data directory already holds its result for the same ICB, so a
second ``ics demo`` only opens the store and serves. Later capabilities (synthetic population,
analytics, shared care record, finance, governance) add their steps to ``STEPS``.
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


Step = tuple[str, str, Callable[[Runtime, DemoState], str]]
STEPS: list[Step] = [
    ("footprint", "Building the ICS footprint from public reference data", build_footprint_step),
    ("users", "Creating demo users", create_users_step),
    ("synth", "Generating the synthetic population and five years of care", synthesise_step),
    ("load", "Checking and loading the extracts into the warehouse", load_step),
]


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
        if name in state.steps_done:
            report(name, description, None)
            continue
        outcome = run(runtime, state)
        state.steps_done.append(name)
        save_state(runtime, state)
        report(name, description, outcome)
    return state
