"""Throughput of the shared care record (FHIR R4 server): bulk load, reads, searches, ingest.

    uv run --frozen python benchmarks/fhir_record.py [--people 20000] [--extract DIR]
        [--scope pcn|place|all] [--builders 2] [--load-only] [--clients 8] [--reads 4000]
        [--searches 2000] [--bundles 20] [--bundle-size 100] [--postgres URL]

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

Or, with ``--store URL --data-dir DIR`` (repeatable), steps 2 over a store already loaded, e.g.
the record of a whole ICS (``ics record load --all``). Each kind of request is warmed up with
its first 300 requests before it is measured (steady state, not a fresh worker's first calls).

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
from urllib.parse import quote

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from integrated_care.accounts import services
from integrated_care.record.loader import BUILDERS, Scope, default_pcn, load_record
from integrated_care.record.models import RecordResource, SearchToken
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
        "HAPI FHIR (JPA server, DSTU3; OpenLMIS's comparison with Hearth, 2018)",
        "one user (concurrency 1), 1,000 iterations each: reads and searches of Location under "
        "50 ms at p90 and every response under 200 ms; creates and updates slower than "
        "Hearth's 20 ms. HAPI FHIR's own documentation publishes no throughput figure",
        "one laptop running server, database and load tool (Taurus): Intel Core i7-6700HQ "
        "2.6 GHz x 8 threads, 7.7 GiB; https://openlmis.atlassian.net/wiki/spaces/OP/pages/"
        "437092376/FHIR+servers+performance",
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
def served(data_dir: Path, database_url: str, secret: str, workers: int = 0):  # type: ignore[no-untyped-def]
    """`ics serve` (uvicorn, `workers` processes; 0: one per CPU) over the store, in its own
    process."""
    port = _free_port()
    command = [sys.executable, "-m", "integrated_care", "serve", "--port", str(port)]
    env = {
        **os.environ,
        "ICS_DATA_DIR": str(data_dir),
        "ICS_DATABASE_URL": database_url,
        "ICS_SECRET_KEY": secret,
    }
    if workers:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    _server_pids[base] = process.pid
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


_server_pids: dict[str, int] = {}


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its descendants (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) for child in children)


async def _get_all(base: str, token: str, paths: list[str], clients: int, name: str) -> Figures:
    """GET each of `paths` with `clients` concurrent keep-alive connections.

    A minimal HTTP/1.1 client on asyncio streams: httpx costs about as much CPU per request as
    the server's read does, and the load generator shares the server's cores."""
    host, port = base.removeprefix("http://").split(":")
    queue = list(reversed(paths))
    latencies: list[float] = []
    failures = [0]
    head = (
        f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nAccept: {FHIR_JSON}\r\n\r\n"
    ).encode()

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while queue:
                path = queue.pop()
                started = time.perf_counter()
                writer.write(b"GET " + quote(path, safe="/?=&,:$_-.").encode() + b" HTTP/1.1\r\n")
                writer.write(head)
                status, body = await _response(reader)
                latencies.append(time.perf_counter() - started)
                if status >= 300:
                    failures[0] += 1
                    if failures[0] <= 3:
                        print(f"  GET {path}: {status} {body[:300]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    done = len(latencies)
    return Figures(name, done, failures[0], seconds, latencies, done - failures[0])


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        field, _, value = line.partition(b":")
        if field.lower() == b"content-length":
            length = int(value)
        elif field.lower() == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if not chunked:
        return status, await reader.readexactly(length)
    chunks = []
    while size := int((await reader.readline()).strip() or b"0", 16):
        chunks.append(await reader.readexactly(size + 2))
    await reader.readline()
    return status, b"".join(c[:-2] for c in chunks)


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


def _bulk_load(runtime: Runtime, extract: Path, scope: Scope, builders: int = BUILDERS) -> None:
    """The record of `scope` through the direct bulk path (indexes and audit included), with
    the CPU each side used: this process writes, `builders` worker processes build the rows."""
    before = os.times()
    result = load_record(runtime, extract, scope, builders=builders)
    after = os.times()
    writer = after.user + after.system - before.user - before.system
    builder = (
        after.children_user + after.children_system - before.children_user - before.children_system
    )
    print(
        f"bulk load of {result.scope}: {result.patients:,} patients, "
        f"{result.resources:,} resources, {result.index_rows:,} index rows in "
        f"{result.seconds:.1f} s = {result.per_second:,.0f} resources/s wall clock "
        f"(indexes built at the end: {result.index_seconds:.1f} s)\n"
        f"  CPU: writing process {writer:.1f} s ({result.resources / max(writer, 1e-9):,.0f} "
        f"resources per CPU-second), building processes ({builders}) {builder:.1f} s "
        f"({result.resources / max(builder, 1e-9):,.0f} per CPU-second); the database server's "
        "own CPU (PostgreSQL) is not counted; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def bench_backend(label: str, database_url: str, extract: Path, scope: Scope, args: Any) -> None:
    print(f"\n== {label} ==")
    with tempfile.TemporaryDirectory(prefix="ics-fhir-bench-") as tmp:
        secret = secrets.token_urlsafe(16)
        runtime = Runtime(
            Settings(data_dir=Path(tmp), database_url=database_url, secret_key=secret)
        )
        runtime.engine  # noqa: B018 - migrates
        _bulk_load(runtime, extract, scope, args.builders)
        if args.load_only:
            runtime.engine.dispose()
            return
        practice = _busiest_practice(runtime)
        token = clinician_token(runtime, practice, write=True)
        patients, gets = _reads_and_searches(runtime, practice, args)
        runtime.engine.dispose()
        with served(Path(tmp), database_url, secret, args.workers) as base:
            _drive_reads_and_searches(base, token, gets, args)
            _drive_bundles(base, token, patients, args)


def bench_store(label: str, data_dir: Path, database_url: str, args: Any) -> None:
    """Reads, searches and transaction bundles over a store already loaded (``--store``): e.g.
    the record of a whole ICS, loaded once with ``ics record load --all``. The bundles add
    their Observations to that store (``--bundles 0`` to leave it as it is)."""
    print(f"\n== {label}: {database_url} ==")
    secret = secrets.token_urlsafe(16)
    runtime = Runtime(Settings(data_dir=data_dir, database_url=database_url, secret_key=secret))
    with runtime.transaction() as session:
        stored = session.execute(
            select(RecordResource.resource_type, func.count()).group_by(
                RecordResource.resource_type
            )
        ).all()
    counts = dict(stored)  # type: ignore[arg-type]
    print(
        f"store: {counts.get('Patient', 0):,} patients, {sum(counts.values()):,} resources "
        f"({', '.join(f'{t} {n:,}' for t, n in sorted(counts.items()))})"
    )
    practice = _busiest_practice(runtime)
    token = clinician_token(runtime, practice, write=args.bundles > 0)
    patients, gets = _reads_and_searches(runtime, practice, args)
    runtime.engine.dispose()
    with served(data_dir, database_url, secret, args.workers) as base:
        _drive_reads_and_searches(base, token, gets, args)
        _drive_bundles(base, token, patients, args)


def clinician_token(runtime: Runtime, practice: str, *, write: bool = False) -> str:
    """An API token (record:read, and record:write if `write`) of a new clinician user at
    `practice`."""
    username = f"bench-{secrets.token_hex(4)}"
    scopes = ["record:read", "record:write"] if write else ["record:read"]
    with runtime.transaction() as session:
        services.create_user(
            session, username, "a-long-enough-password", ["clinician"], practice, "Benchmark"
        )
        return services.create_token(session, username, scopes)


def _drive_bundles(base: str, token: str, patients: list[str], args: Any) -> None:
    """`args.bundles` transaction bundles of `args.bundle_size` new Observations each, about
    the clinician's own patients."""
    if not args.bundles:
        return
    rng = random.Random(11)
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
    name = f"transaction bundles of {args.bundle_size}"
    figures = asyncio.run(_drive(base, token, bundles, args.clients, name))
    print(figures.line("resources/s"))


def _reads_and_searches(
    runtime: Runtime, practice: str, args: Any
) -> tuple[list[str], dict[str, list[str]]]:
    """The requests to send, as a GP of `practice` would: reads by id of their patients'
    resources, and searches of their patients' encounters and observations (by code)."""
    patients, resources = _sample(runtime, practice, args.reads)
    with runtime.transaction() as session:
        observed = session.execute(
            select(SearchToken.resource_id, SearchToken.system, SearchToken.code)
            .where(
                SearchToken.resource_type == "Observation",
                SearchToken.param == "code",
                SearchToken.resource_id.in_(
                    select(RecordResource.id).where(
                        RecordResource.resource_type == "Observation",
                        RecordResource.patient_id.in_(patients[:2000]),
                    )
                ),
            )
            .limit(20_000)
        ).all()
        whose = dict(
            session.execute(
                select(RecordResource.id, RecordResource.patient_id).where(
                    RecordResource.resource_type == "Observation",
                    RecordResource.id.in_([r.resource_id for r in observed[:5000]]),
                )
            ).all()
        )
    coded = [
        (whose[r.resource_id], f"{r.system}|{r.code}") for r in observed if r.resource_id in whose
    ]
    rng = random.Random(11)
    gets = {
        "reads by id": [
            f"/fhir/{t}/{i}" for t, i in (rng.choice(resources) for _ in range(args.reads))
        ],
        "Encounter?patient=": [
            f"/fhir/Encounter?patient={rng.choice(patients)}&_count=20"
            for _ in range(args.searches)
        ],
    }
    if coded:
        gets["Observation?patient=&code="] = [
            f"/fhir/Observation?patient={p}&code={c}"
            for p, c in (rng.choice(coded) for _ in range(args.searches))
        ]
    return patients, gets


WARM_UP = 300  # requests of each kind sent before measuring


def _drive_reads_and_searches(base: str, token: str, gets: dict[str, list[str]], args: Any) -> None:
    # Steady state is measured: each kind of request is warmed up first. A fresh worker's
    # first searches compile their SQL and warm its caches while the others queue behind them
    # on its event loop (up to ~250 ms each; with 1,500 searches that was the p99).
    for paths in gets.values():
        warm = paths[: min(WARM_UP, len(paths))]
        asyncio.run(_get_all(base, token, warm, args.clients, "warm-up"))
    server = _server_pids.get(base)
    for name, paths in gets.items():
        server_cpu, own_cpu = _cpu_seconds(server) if server else 0.0, time.process_time()
        figures = asyncio.run(_get_all(base, token, paths, args.clients, name))
        server_cpu = (_cpu_seconds(server) if server else 0.0) - server_cpu
        own_cpu = time.process_time() - own_cpu
        print(
            figures.line("requests/s"),
            f"\n{'':<34} CPU per request: server {1000 * server_cpu / figures.done:.2f} ms, "
            f"load generator {1000 * own_cpu / figures.done:.2f} ms; "
            f"load average {os.getloadavg()[0]:.1f}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--extract", type=Path, help="use this input-layer extract folder")
    parser.add_argument("--scope", choices=("pcn", "place", "all"), default="pcn")
    parser.add_argument("--code", help="PCN or place code (default: the default PCN)")
    parser.add_argument(
        "--builders", type=int, default=BUILDERS, help="record builder processes of the load"
    )
    parser.add_argument("--load-only", action="store_true", help="the bulk load only")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--reads", type=int, default=4000)
    parser.add_argument("--searches", type=int, default=2000)
    parser.add_argument("--bundles", type=int, default=20)
    parser.add_argument("--bundle-size", type=int, default=100)
    parser.add_argument("--postgres", default=os.environ.get("ICS_TEST_POSTGRES_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--store",
        action="append",
        default=[],
        help="measure reads and searches only, over this already-loaded store (a database "
        "URL; repeat for several); --data-dir gives its data directory",
    )
    parser.add_argument("--data-dir", type=Path, default=Path("ics-data"))
    parser.add_argument("--workers", type=int, default=0, help="server processes (0: per CPU)")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs; load generator and server share them "
        f"({args.clients} concurrent clients)"
    )
    if args.store:
        for url in args.store:
            bench_store(make_url(url).get_backend_name(), args.data_dir, url, args)
        _print_published()
        return
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
    _print_published()


def _print_published() -> None:
    print(
        f"\nThis machine: {os.cpu_count()} CPUs shared by the server, the load generator and "
        f"anything else running (load average now {os.getloadavg()[0]:.1f}). The issue's "
        "targets: reads by id >= 1,000/s with p99 < 50 ms; patient-compartment searches "
        ">= 300/s with p99 < 150 ms."
    )
    print("Published figures of other FHIR servers (different hardware and workloads):")
    for name, figures, hardware in PUBLISHED:
        print(f"- {name}: {figures}\n  hardware: {hardware}")


if __name__ == "__main__":
    main()
