"""`ics serve`: the app each server process builds, and a real multi-process server on loopback."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from integrated_care.runtime import Runtime
from integrated_care.settings import Settings
from integrated_care.web.app import served_app


def test_a_server_process_keeps_what_it_loaded_out_of_the_collectors_walks(
    tmp_path: Path,
) -> None:
    runtime = Runtime(
        Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/ics.db", secret_key="s")
    )
    gc.unfreeze()
    try:
        app = served_app(runtime)
        # Modules, FHIR models and routes: a full collection no longer walks them.
        assert gc.get_freeze_count() > 100_000
        assert app.state.runtime is runtime
    finally:
        gc.unfreeze()  # this test process goes on building apps that should be collected
        runtime.engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ics_serve_with_two_worker_processes_answers(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "ICS_DATA_DIR": str(tmp_path),
        "ICS_DATABASE_URL": f"sqlite:///{tmp_path}/ics.db",
        "ICS_SECRET_KEY": "a-test-secret",
    }
    command = [sys.executable, "-m", "integrated_care", "serve", "--port", str(port)]
    server = subprocess.Popen([*command, "--workers", "2"], env=env)
    try:
        answered = None
        for _ in range(300):
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=2)
                break
            except httpx.HTTPError:
                assert server.poll() is None, "ics serve exited"
                time.sleep(0.2)
        assert answered is not None and answered.status_code == 200
        assert answered.json()["resourceType"] == "CapabilityStatement"
        # Unsigned-in FHIR reads are refused as OperationOutcomes by either worker.
        for _ in range(4):
            refused = httpx.get(f"http://127.0.0.1:{port}/fhir/Patient/x", timeout=10)
            assert refused.status_code == 401
            assert refused.json()["resourceType"] == "OperationOutcome"
    finally:
        server.terminate()
        server.wait(timeout=30)
