"""Throughput of the shared care record (FHIR R4 server): bulk load, reads, searches, ingest.

    uv run --frozen python benchmarks/fhir_record.py [--people 20000] [--extract DIR]
        [--scope pcn|place|all] [--clients 8] [--reads 4000] [--searches 2000]
        [--bundles 20] [--bundle-size 100] [--postgres URL]

1. Builds a synthetic ICS extract (or uses --extract, e.g. a demo's data/extract folder) and
   loads its shared care record into a fresh store through the direct bulk path
   (``record/loader.py``; search indexes and audit included): resources/s.
2. Serves that store with a real uvicorn server on loopback (a separate process) and drives it
   with a bounded load generator: a fixed number of concurrent httpx clients sending a fixed
   number of requests, as a signed-in clinician with an API token: reads by id
   (``GET /fhir/{type}/{id}``), patient-compartment searches (``GET /fhir/Encounter?patient=``)
   and transaction bundles of new Observations: requests/s (resources/s for bundles), p50, p99.
3. Does the same on PostgreSQL when ``--postgres URL`` or ICS_TEST_POSTGRES_URL is given (a
   scratch database is created on that server and dropped after).

The load generator runs on the same machine as the server, so the figures include its cost.
Prints published figures of other FHIR servers, with their hardware, for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from integrated_care.accounts import services
from integrated_care.record.loader import Scope, default_pcn, load_record
from integrated_care.record.models import RecordResource
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings

FHIR_JSON = "application/fhir+json"
# Published figures found in the projects' own documentation (see docs/record.md).
PUBLISHED = [
    (
        "Medplum (self-hosted benchmark, 2026)",
        "authenticated reads with database access: 20,797 requests/s, mean 34 ms; "
        "read/write/search mix: 6,738 requests/s, mean 167 ms",
        "15 server containers of 4 vCPU / 16 GB (AWS Fargate) + PostgreSQL 16.8 on r6gd.4xlarge "
        "(16 vCPU, 128 GiB, NVMe); https://www.medplum.com/blog/medplum-performance-test-2026",
    ),
    (
        "HAPI FHIR",
        "no comparable published throughput figure was found in HAPI FHIR's documentation",
        "-",
    ),
]


@dataclass
class Figures:
    name: str
    done: int
    failed: int
    seconds: float
    latencies: list[float]
    units: int  # resources for bundles, requests otherwise

    def line(self, unit: str) -> str:
        lat = sorted(self.latencies) or [0.0]
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return (
            f"{self.name:<34} {self.units / self.seconds:>9,.0f} {unit:<12} p50 {p50:6.1f} ms  "
            f"p99 {p99:6.1f} ms  ({self.done:,} requests, {self.failed} failed)"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_postgres(url: str):  # type: ignore[no-untyped-def]
    """A new, empty database on the server of `url`, dropped afterwards."""
    name = f"ics_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as con:
            con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def served(data_dir: Path, database_url: str, secret: str):  # type: ignore[no-untyped-def]
    """uvicorn serving the app over the store, in its own process."""
    port = _free_port()
    code = (
        "import uvicorn; from integrated_care.runtime import Runtime; "
        "from integrated_care.web.app import create_app; "
        f"uvicorn.run(create_app(Runtime()), host='127.0.0.1', port={port}, "
        "log_level='warning', access_log=False)"
    )
    env = {
        **os.environ,
        "ICS_DATA_DIR": str(data_dir),
        "ICS_DATABASE_URL": database_url,
        "ICS_SECRET_KEY": secret,
    }
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("the server did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _drive(
    base: str, token: str, requests: list[tuple[str, str, Any, int]], clients: int, name: str
) -> Figures:
    """Send `requests` (method, path, json body, units) with `clients` concurrent clients."""
    queue: asyncio.Queue[tuple[str, str, Any, int]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies: list[float] = []
    failures = [0]
    units = [0]
    headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON, "Content-Type": FHIR_JSON}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as http:
            while not queue.empty():
                method, path, body, weight = queue.get_nowait()
                started = time.perf_counter()
                reply = await http.request(method, path, json=body)
                latencies.append(time.perf_counter() - started)
                if reply.status_code >= 300:
                    failures[0] += 1
                    if failures[0] <= 3:
                        print(f"  {method} {path}: {reply.status_code} {reply.text[:300]}")
                else:
                    units[0] += weight

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    return Figures(name, len(requests), failures[0], seconds, latencies, units[0])


def _observation(patient_id: str, n: int) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid4()}",
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "271649006"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "valueQuantity": {"value": 110 + n % 60, "unit": "mm[Hg]"},
        },
        "request": {"method": "POST", "url": "Observation"},
    }


def _sample(runtime: Runtime, practice: str, count: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Patients registered at `practice` and resources of theirs, at random."""
    rng = random.Random(7)
    with runtime.transaction() as session:
        patients = [
            r.id
            for r in session.execute(
                select(RecordResource.id, RecordResource.content).where(
                    RecordResource.resource_type == "Patient"
                )
            )
            if f'"Organization/{practice}"' in (r.content or "")
        ]
        resources = session.execute(
            select(RecordResource.resource_type, RecordResource.id)
            .where(RecordResource.patient_id.in_(patients[:2000]))
            .limit(200_000)
        ).all()
    return patients, [tuple(r) for r in rng.sample(resources, min(count, len(resources)))]  # type: ignore[misc]


_GP_MARKER = '"generalPractitioner":[{"reference":"Organization/'


def _busiest_practice(runtime: Runtime) -> str:
    with runtime.transaction() as session:
        counts: dict[str, int] = {}
        for (content,) in session.execute(
            select(RecordResource.content).where(RecordResource.resource_type == "Patient")
        ):
            marker = content.find(_GP_MARKER)
            if marker >= 0:
                code = content[marker + len(_GP_MARKER) :].split('"', 1)[0]
                counts[code] = counts.get(code, 0) + 1
    return max(counts, key=lambda c: counts[c])


def bench_backend(label: str, database_url: str, extract: Path, scope: Scope, args: Any) -> None:
    print(f"\n== {label} ==")
    with tempfile.TemporaryDirectory(prefix="ics-fhir-bench-") as tmp:
        secret = secrets.token_urlsafe(16)
        runtime = Runtime(
            Settings(data_dir=Path(tmp), database_url=database_url, secret_key=secret)
        )
        runtime.engine  # noqa: B018 - migrates
        cpu = time.process_time()
        result = load_record(runtime, extract, scope)
        cpu = time.process_time() - cpu
        print(
            f"bulk load of {result.scope}: {result.patients:,} patients, "
            f"{result.resources:,} resources, {result.index_rows:,} index rows in "
            f"{result.seconds:.1f} s = {result.per_second:,.0f} resources/s "
            f"({result.resources / cpu:,.0f} per CPU-second of this process)"
        )
        practice = _busiest_practice(runtime)
        with runtime.transaction() as session:
            services.create_user(
                session,
                "bench",
                "a-long-enough-password",
                ["clinician"],
                practice,
                "Benchmark Clinician",
            )
            token = services.create_token(session, "bench", ["record:read", "record:write"])
        patients, resources = _sample(runtime, practice, args.reads)
        runtime.engine.dispose()
        rng = random.Random(11)
        reads = [
            ("GET", f"/fhir/{t}/{i}", None, 1)
            for t, i in (rng.choice(resources) for _ in range(args.reads))
        ]
        searches = [
            ("GET", f"/fhir/Encounter?patient={rng.choice(patients)}&_count=20", None, 1)
            for _ in range(args.searches)
        ]
        bundles = [
            (
                "POST",
                "/fhir",
                {
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [
                        _observation(rng.choice(patients), b * 1000 + n)
                        for n in range(args.bundle_size)
                    ],
                },
                args.bundle_size,
            )
            for b in range(args.bundles)
        ]
        with served(Path(tmp), database_url, secret) as base:
            warm = reads[: min(200, len(reads))]
            asyncio.run(_drive(base, token, warm, args.clients, "warm-up"))
            for name, items, unit in (
                ("reads by id", reads, "requests/s"),
                ("patient-compartment searches", searches, "requests/s"),
                (f"transaction bundles of {args.bundle_size}", bundles, "resources/s"),
            ):
                figures = asyncio.run(_drive(base, token, items, args.clients, name))
                print(figures.line(unit))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--extract", type=Path, help="use this input-layer extract folder")
    parser.add_argument("--scope", choices=("pcn", "place", "all"), default="pcn")
    parser.add_argument("--code", help="PCN or place code (default: the default PCN)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--reads", type=int, default=4000)
    parser.add_argument("--searches", type=int, default=2000)
    parser.add_argument("--bundles", type=int, default=20)
    parser.add_argument("--bundle-size", type=int, default=100)
    parser.add_argument("--postgres", default=os.environ.get("ICS_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs; load generator and server share them "
        f"({args.clients} concurrent clients)"
    )
    with tempfile.TemporaryDirectory(prefix="ics-fhir-extract-") as tmp:
        extract = args.extract
        if extract is None:
            from integrated_care.synth.generator import SynthConfig, generate

            extract = Path(tmp) / "extract"
            generate(
                SynthConfig(icb="QK1", out=extract, population=args.people), show_progress=False
            )
        if args.scope == "all":
            scope = Scope("all")
        elif args.scope == "place":
            if not args.code:
                raise SystemExit("--scope place needs --code")
            scope = Scope("place", args.code)
        else:
            scope = Scope("pcn", args.code or default_pcn(extract))
        if not args.no_sqlite:
            with tempfile.TemporaryDirectory() as db_dir:
                bench_backend("SQLite", f"sqlite:///{db_dir}/ics.sqlite", extract, scope, args)
        if args.postgres:
            with scratch_postgres(args.postgres) as url:
                bench_backend("PostgreSQL", url, extract, scope, args)
    print("\nPublished figures of other FHIR servers (different hardware and workloads):")
    for name, figures, hardware in PUBLISHED:
        print(f"- {name}: {figures}\n  hardware: {hardware}")


if __name__ == "__main__":
    main()
