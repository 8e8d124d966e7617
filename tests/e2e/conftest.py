"""Browser tests: a real uvicorn server on loopback, driven by Debian's Chromium via Playwright.

Playwright's own browser download does not work here, so the system Chromium is used
(``ICS_CHROMIUM`` overrides the path). Accessibility is checked with axe-core from npm.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from integrated_care.runtime import Runtime
from integrated_care.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ICS_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

DEMO_PASSWORD = "correct-horse-battery-staple"
# (username, roles, organisation) — organisations of the test ICB (QK1).
E2E_USERS = [
    ("admin", ["admin"], "QK1"),
    ("caldicott", ["caldicott_guardian"], "QK1"),
    ("analyst", ["analyst"], "QK1"),
]


@dataclass
class LiveServer:
    url: str
    runtime: Runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _create_users(runtime: Runtime) -> None:
    from integrated_care.accounts.services import create_user

    with runtime.transaction() as session:
        for username, roles, org in E2E_USERS:
            create_user(session, username, DEMO_PASSWORD, roles, org, display_name=username.title())


def _load_small_population(runtime: Runtime) -> None:
    """A small synthetic population in the warehouse, so population pages have data to draw."""
    from integrated_care.synth.generator import SynthConfig, generate
    from integrated_care.warehouse.load import load

    extract = runtime.settings.data_dir / "extract"
    generate(SynthConfig(icb="QK1", out=extract, population=3000, years=1, seed=2),
             show_progress=False)  # fmt: skip
    load(extract, runtime.settings)


def _analyse(runtime: Runtime) -> None:
    """`ics analyse` (risk model included: about 10 s at this size) into the server's data
    folder, so the population-health pages have marts to draw."""
    import typer
    from typer.testing import CliRunner

    from integrated_care.health import cli

    app = typer.Typer()
    cli.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `analyse` a sub-command
    env = {"ICS_DATA_DIR": str(runtime.settings.data_dir)}
    result = CliRunner().invoke(app, ["analyse", "--quiet"], env=env)
    if result.exit_code != 0:
        raise RuntimeError(f"ics analyse failed for the e2e population:\n{result.output}")


@pytest.fixture(scope="session")
def live_server(db_templates, tmp_path_factory) -> Iterator[LiveServer]:
    from tests.conftest import _build_test_footprint

    url = db_templates.clone("sqlite", "footprint", _build_test_footprint)
    data_dir = tmp_path_factory.mktemp("e2e-data")
    runtime = Runtime(Settings(data_dir=data_dir, database_url=url, secret_key="e2e-key"))
    _create_users(runtime)
    _load_small_population(runtime)
    _analyse(runtime)
    with serve(runtime) as server:
        yield server


@contextmanager
def serve(runtime: Runtime) -> Iterator[LiveServer]:
    """The app over this runtime, served by a real uvicorn on a free loopback port."""
    from integrated_care.web.app import create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not start within 20 s")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: run the set-up script (make setup)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh browser context (no cookies) that records console errors and CSP violations."""
    context = browser.new_context()
    pg = context.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    context.close()


@pytest.fixture
def axe_page(browser) -> Iterator[object]:
    """A context that may inject axe-core (bypassing the CSP only for the checker's script)."""
    context = browser.new_context(bypass_csp=True)
    pg = context.new_page()
    yield pg
    context.close()


def sign_in(page, base_url: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def axe_violations(page, url: str) -> list[dict]:
    """Run axe-core's WCAG 2.2 AA rules on `url`; return the violations (empty when it passes)."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_22_AA,
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]
